// SourceDir: the files below one source folder, as czifs reads them — the
// io seam's folder (file_system.h has the rest). PosixSourceDir is the real
// one; tests run the core on a file system in memory that injects faults
// (tests/support/memory_fs.h).
//
// PosixSourceDir: safe access to the files below one source folder.
//
// A source folder is opened once (at mount time) and every later access
// resolves its path beneath that descriptor, at the moment of access, one
// component at a time with O_NOFOLLOW: a file or folder swapped for a
// symbolic link that leads outside the folder, or for a FIFO, device or
// socket, is an error for that entry, never a blocked thread and never a
// file from elsewhere. Symbolic links are followed only where their target
// stays inside the folder (relative ones, and absolute ones that name a path
// inside it); ".." never climbs above it. Regular files are opened
// non-blocking and checked with fstat before use.
//
// Because the folder is held by descriptor, renaming or covering the
// folder's path (even by our own mount) does not change what is served.
//
// Thread-safety: immutable after Open(); all methods may be called
// concurrently.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "czifs/acl.h"
#include "czifs/status.h"

namespace czifs {

// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  // Gives up ownership.
  int Release() { return std::exchange(fd_, -1); }
  void Reset();

 private:
  int fd_ = -1;
};

// Who a source file is: a change of any of device, inode, size,
// modification or status-change time makes it another file (a same-size
// rewrite with its mtime restored still moves the ctime). Owner, group and
// mode are what the mount shows for it.
struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  uint64_t size = 0;
  timespec mtime{};
  timespec ctime{};
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0;  // st_mode: type and permission bits

  // True if both describe the same content (device, inode, size, mtime, ctime).
  bool SameContent(const FileIdentity& o) const;
  // True if both may be one version: device, inode, size and mtime equal
  // (a moved ctime alone is for the file's fingerprint to settle; see
  // RandomAccessFile).
  bool SameButCtime(const FileIdentity& o) const;
  // True if owner, group and mode are equal too.
  bool SameAttributes(const FileIdentity& o) const;
};

FileIdentity IdentityOf(const struct stat& st);

bool SameTime(const timespec& a, const timespec& b);

// The status of a system call on `what` that failed with `err`. A path that
// names nothing (NotFound) is not the same as a system that could not look
// (ResourceExhausted carrying EMFILE/ENFILE/ENOMEM, or IOError): the first
// makes an entry disappear, the others must never.
Status PathError(const std::string& what, int err);

// Returns the identity of `path` (symbolic links followed).
Result<FileIdentity> StatIdentity(const std::string& path);

// One entry of a source folder that czifs shows: a folder or a file the
// caller asked for (by name).
struct SourceEntry {
  std::string name;
  bool is_dir = false;
  bool via_link = false;  // reached through a symbolic link
  FileIdentity id;        // of the target, for links
};

// An open source file: positional reads and who it is now. Thread-safe.
class SourceFile {
 public:
  virtual ~SourceFile() = default;
  // Who the file is now (fstat).
  virtual Result<FileIdentity> Identity() const = 0;
  // Reads up to `length` bytes at `offset` into `out` (pread): how many were
  // read, 0 at the end of the file. IOError naming the offset on failure.
  virtual Result<size_t> ReadAt(uint64_t offset, uint8_t* out, size_t length) const = 0;
  // Reads into the `count` buffers of `iov` from `offset`, in order (preadv):
  // how many bytes were read.
  virtual Result<size_t> ReadvAt(uint64_t offset, const struct iovec* iov, int count) const = 0;
};

// An opened source file and who it was when opened.
struct OpenedFile {
  std::unique_ptr<SourceFile> file;
  FileIdentity id;
};

// `fd` (open for reading) as a SourceFile.
std::unique_ptr<SourceFile> MakePosixFile(UniqueFd fd);

class SourceDir {
 public:
  virtual ~SourceDir() = default;

  // The folder as given, and its canonical path when opened.
  const std::string& path() const { return path_; }
  const std::string& real_path() const { return real_path_; }
  // `rel` joined to path(), for messages.
  std::string Describe(std::string_view rel) const;

  // Opens regular file `rel` for reading (never blocks; a FIFO, device,
  // socket or folder is an IOError). Returns the file and its identity.
  virtual Result<OpenedFile> OpenFile(const std::string& rel) const = 0;
  // Returns the identity of `rel` ("" = the folder itself), resolved beneath.
  virtual Result<FileIdentity> Stat(const std::string& rel) const = 0;
  // Lists folder `rel`: its subfolders and the regular files whose name
  // `want_file` accepts, each resolved beneath the folder (links leading
  // outside, dangling links and other file types are left out), sorted by name.
  // Errors: NotFound only when a path names nothing usable; running out of
  // descriptors or memory is ResourceExhausted, storage trouble IOError (and
  // then no partial listing is returned).
  virtual Result<std::vector<SourceEntry>> List(
      const std::string& rel, const std::function<bool(std::string_view)>& want_file) const = 0;
  // The ACL of `rel` ("" = the folder itself) as the kernel stores it, ""
  // if none (see acl.h), resolved beneath.
  virtual Result<std::string> Acl(const std::string& rel, AclKind kind) const = 0;
  // Resolves `rel` beneath the folder to an O_PATH descriptor of what it
  // names (what inotify watches); NotSupported where storage has none.
  virtual Result<UniqueFd> Resolve(const std::string& rel) const = 0;
  // Looks at one name in folder `rel` as List would; NotFound if List would
  // leave it out.
  virtual Result<SourceEntry> Entry(
      const std::string& rel, const std::string& name,
      const std::function<bool(std::string_view)>& want_file) const = 0;

 protected:
  SourceDir(std::string path, std::string real_path)
      : path_(std::move(path)), real_path_(std::move(real_path)) {}

 private:
  const std::string path_;
  const std::string real_path_;
};

// The source folder on a real file system (see the top of this file).
class PosixSourceDir final : public SourceDir {
 public:
  // Opens `folder`. REQUIRES: it is a folder.
  static Result<std::shared_ptr<const SourceDir>> Open(const std::string& folder);

  Result<OpenedFile> OpenFile(const std::string& rel) const override;
  Result<FileIdentity> Stat(const std::string& rel) const override;
  Result<std::vector<SourceEntry>> List(
      const std::string& rel,
      const std::function<bool(std::string_view)>& want_file) const override;
  Result<std::string> Acl(const std::string& rel, AclKind kind) const override;
  Result<UniqueFd> Resolve(const std::string& rel) const override;
  Result<SourceEntry> Entry(const std::string& rel, const std::string& name,
                            const std::function<bool(std::string_view)>& want_file) const override;

 private:
  PosixSourceDir(std::string path, std::string real_path, UniqueFd fd)
      : SourceDir(std::move(path), std::move(real_path)), fd_(std::move(fd)) {}
  // Entry() for `name` in folder `rel`, already resolved to `dir`.
  Result<SourceEntry> EntryAt(int dir, const std::string& rel, const std::string& name,
                              const std::function<bool(std::string_view)>& want_file) const;

  const UniqueFd fd_;  // O_PATH | O_DIRECTORY
};

// Joins a relative path and a name ("" + "a" = "a", "d" + "a" = "d/a").
std::string JoinRelative(std::string_view dir, std::string_view name);

}  // namespace czifs
