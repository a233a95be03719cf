// MemoryFileSystem: the io seam's test side — a file system in memory the
// core runs on (Session::Create(..., fs)), with faults on demand: errors
// (EIO, EMFILE, ENOMEM, ...) for chosen operations on chosen paths or byte
// ranges, short reads, a hook before every call (to block it like slow
// storage, or to change files between two calls), and changes with times
// from a logical clock, so tests of changing sources need no sleeps.
// Files are shared inodes: an open file sees a rewrite in place, keeps a
// removed file's bytes, and does not see a file replaced under its name.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "czifs/file_system.h"
#include "czifs/mutex.h"

namespace czifs::testing {

class MemoryFileSystem final : public FileSystem,
                               public std::enable_shared_from_this<MemoryFileSystem> {
 public:
  enum class Op { kStat, kOpen, kRead, kList };
  // A fault: the `skip`+1-th matching call fails (and the `times`-1 after
  // it; -1: every one from then on) with `err`, or for kRead with
  // `short_read` > 0, returns at most that many bytes instead.
  struct Fault {
    Op op = Op::kRead;
    std::string path;     // calls on paths containing this ("" = every path)
    uint64_t offset = 0;  // kRead: reads touching [offset, offset + length) ...
    uint64_t length = UINT64_MAX;
    int err = 5;  // EIO
    int skip = 0;
    int times = -1;
    size_t short_read = 0;
    int matched = 0;  // matching calls so far (kept by the file system)
  };
  using Hook = std::function<void(Op op, const std::string& path)>;

  static std::shared_ptr<MemoryFileSystem> Create() {
    return std::shared_ptr<MemoryFileSystem>(new MemoryFileSystem());
  }

  // Writes `bytes` to `path` (folders made as needed): a new file, or the
  // same file rewritten in place; its mtime and ctime move.
  void Write(const std::string& path, std::vector<uint8_t> bytes) EXCLUDES(mu_);
  // Puts a new file under `path` (another inode), as `mv new path` does.
  void Replace(const std::string& path, std::vector<uint8_t> bytes) EXCLUDES(mu_);
  // Sets the mtime of `path` (its ctime moves, as utimensat's does).
  void SetMtime(const std::string& path, timespec mtime) EXCLUDES(mu_);
  // Changes the mode (its ctime moves).
  void Chmod(const std::string& path, mode_t mode) EXCLUDES(mu_);
  void Remove(const std::string& path) EXCLUDES(mu_);
  void MakeFolder(const std::string& path) EXCLUDES(mu_);
  FileIdentity IdentityOf(const std::string& path) const EXCLUDES(mu_);

  void Inject(Fault fault) EXCLUDES(mu_);
  void ClearFaults() EXCLUDES(mu_);
  // Runs `hook` before every call (outside the file system's lock).
  void SetHook(Hook hook) EXCLUDES(mu_);
  // Calls of `op` so far.
  uint64_t calls(Op op) const { return calls_[static_cast<int>(op)].load(); }

  // FileSystem.
  Result<FileIdentity> Stat(const std::string& path) const override;
  Status CheckReadable(const std::string& path, bool is_dir) const override;
  Result<std::string> Canonical(const std::string& path) const override;
  Result<std::shared_ptr<const SourceDir>> OpenDir(const std::string& path) const override;
  Result<OpenedFile> OpenFile(const std::string& path) const override;

  // What MemorySourceDir and the open files use.
  struct Inode {
    FileIdentity id;
    std::vector<uint8_t> bytes;
  };
  Result<OpenedFile> OpenPath(const std::string& path) const EXCLUDES(mu_);
  Result<FileIdentity> StatPath(const std::string& path) const EXCLUDES(mu_);
  // The entries of folder `path`, sorted by name: (name, identity).
  Result<std::vector<std::pair<std::string, FileIdentity>>> ListPath(const std::string& path) const
      EXCLUDES(mu_);
  Result<FileIdentity> IdentityOfInode(const std::shared_ptr<Inode>& inode) const EXCLUDES(mu_);
  Result<size_t> ReadInode(const std::shared_ptr<Inode>& inode, const std::string& path,
                           uint64_t offset, uint8_t* out, size_t length) const EXCLUDES(mu_);

 private:
  MemoryFileSystem() = default;
  // Counts the call, runs the hook, and returns the fault it meets, if any.
  Status Enter(Op op, const std::string& path, uint64_t offset = 0, uint64_t length = 0,
               size_t* short_read = nullptr) const EXCLUDES(mu_);
  std::shared_ptr<Inode> NewInode(mode_t mode) REQUIRES(mu_);
  timespec Tick() REQUIRES(mu_);
  void MakeFolders(const std::string& path) REQUIRES(mu_);

  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<Inode>> paths_ GUARDED_BY(mu_);  // files and folders
  mutable std::vector<Fault> faults_ GUARDED_BY(mu_);
  Hook hook_ GUARDED_BY(mu_);
  int64_t clock_ GUARDED_BY(mu_) = 1'700'000'000;  // seconds; each change one more
  uint64_t next_ino_ GUARDED_BY(mu_) = 100;
  mutable std::atomic<uint64_t> calls_[4] = {};
};

}  // namespace czifs::testing
