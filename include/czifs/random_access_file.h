// RandomAccessFile: positional reads from one source file, through a
// process-wide pool of open descriptors.
//
// A folder of 10,000 CZIs must not hold 10,000 descriptors: at most
// SetMaxOpenFiles() descriptors are open at once; the least recently used is
// closed and reopened on demand. The file's identity (device, inode, size,
// modification time) is recorded at Open(); a read that finds the file
// replaced, truncated or modified fails with IOError rather than mixing old
// and new bytes.
//
// Thread-safety: all methods may be called concurrently. The pool's mutex
// guards its LRU list; a descriptor in use by a read is pinned by a
// shared_ptr and closed only when no read holds it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>

#include "czifs/status.h"

namespace czifs {

struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  uint64_t size = 0;
  timespec mtime{};
  uid_t uid = 0;
  gid_t gid = 0;
};

// Returns the identity (device, inode, size, mtime, owner) of `path`.
Result<FileIdentity> StatIdentity(const std::string& path);

class RandomAccessFile {
 public:
  // Opens `path` read-only and records its identity.
  static Result<std::unique_ptr<RandomAccessFile>> Open(const std::string& path);
  ~RandomAccessFile();
  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;

  // Reads exactly `length` bytes at `offset` into `out`; a short read or a
  // changed file is an error.
  Status ReadExact(uint64_t offset, uint64_t length, void* out) const;

  // Returns an IOError (and logs once) if the file is no longer the one opened.
  Status CheckUnchanged() const;

  uint64_t size() const { return identity_.size; }
  const std::string& path() const { return path_; }
  const FileIdentity& identity() const { return identity_; }

  // Caps the number of descriptors open at once across all files (default 256).
  static void SetMaxOpenFiles(size_t n);
  // Number of descriptors currently open (for tests).
  static size_t OpenFileCount();

 private:
  struct Fd;
  RandomAccessFile(std::string path, FileIdentity id);
  Result<std::shared_ptr<Fd>> AcquireFd() const;
  Status CheckFd(const Fd& fd) const;

  // Constant after construction.
  const std::string path_;
  const FileIdentity identity_;
  const uint64_t pool_key_;
  mutable std::atomic<bool> change_logged_{false};
};

}  // namespace czifs
