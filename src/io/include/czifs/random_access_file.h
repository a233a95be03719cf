// RandomAccessFile: positional reads from one source file, through a
// DescriptorPool shared by the files of one session.
//
// A folder of 10,000 CZIs must not hold 10,000 descriptors: at most the
// pool's max_open descriptors are open at once; the least recently used is
// closed and reopened on demand (through its SourceDir, so beneath its
// source folder and never blocking). The file's identity (device, inode,
// size, mtime, ctime) is recorded at Open(); it is checked before and after
// every read, so a read that meets the file replaced, truncated or modified
// fails with IOError rather than mixing old and new bytes.
//
// A change of the ctime alone (chmod, chown, an ACL, a hard link, touch -a;
// but also a same-size rewrite that put the mtime back) is told apart by the
// file's fingerprint (SetFingerprint): the bytes that stand for its content
// (for a CZI its header, directories and metadata), digested at open and
// again when only the ctime moved. Unchanged: the new ctime is accepted and
// reads go on. A rewrite that keeps size, mtime and those bytes while
// changing others is not noticed (docs/reliability.md).
//
// Thread-safety: all methods may be called concurrently. The pool's mutex
// guards its LRU list; a descriptor in use by a read is pinned by a
// shared_ptr and closed only when no read holds it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "czifs/file_system.h"
#include "czifs/mutex.h"
#include "czifs/source_dir.h"
#include "czifs/status.h"

namespace czifs {

// The open descriptors of the files that share it, least recently used
// closed first once more than max_open are open.
class DescriptorPool {
 public:
  explicit DescriptorPool(size_t max_open = 256) : max_open_(max_open == 0 ? 1 : max_open) {}
  DescriptorPool(const DescriptorPool&) = delete;
  DescriptorPool& operator=(const DescriptorPool&) = delete;

  // Caps the number of descriptors open at once (at least 1).
  void SetMaxOpen(size_t n) EXCLUDES(mu_);
  // Number of descriptors open now.
  size_t OpenCount() const EXCLUDES(mu_);

 private:
  friend class RandomAccessFile;
  uint64_t NewKey() { return next_key_.fetch_add(1); }
  std::shared_ptr<void> Get(uint64_t key) EXCLUDES(mu_);
  void Put(uint64_t key, std::shared_ptr<void> fd) EXCLUDES(mu_);
  void Erase(uint64_t key) EXCLUDES(mu_);

  struct Entry {
    std::shared_ptr<void> fd;
    std::list<uint64_t>::iterator pos;
  };
  mutable Mutex mu_;
  std::unordered_map<uint64_t, Entry> map_ GUARDED_BY(mu_);
  std::list<uint64_t> lru_ GUARDED_BY(mu_);  // front = newest
  size_t max_open_ GUARDED_BY(mu_);
  std::atomic<uint64_t> next_key_{1};
};

// A run of bytes of a file.
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

class RandomAccessFile {
 public:
  // Opens `path` read-only (regular files only, never blocking) and records
  // its identity. Without a pool the file keeps its one descriptor itself;
  // without a file system, the real one.
  static Result<std::unique_ptr<RandomAccessFile>> Open(
      const std::string& path, std::shared_ptr<DescriptorPool> pool = nullptr,
      std::shared_ptr<const FileSystem> fs = nullptr);
  // Opens `rel` beneath `dir` (see SourceDir) and records its identity.
  static Result<std::unique_ptr<RandomAccessFile>> Open(std::shared_ptr<const SourceDir> dir,
                                                        const std::string& rel,
                                                        std::shared_ptr<DescriptorPool> pool);
  ~RandomAccessFile();
  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;

  // Reads exactly `length` bytes at `offset` into `out`; a short read or a
  // changed file is an error.
  Status ReadExact(uint64_t offset, uint64_t length, void* out) const;

  // Reads `rows` runs of `row_bytes` that lie back to back in the file from
  // `offset`, into `out` at `out_stride` apart: one system call (preadv) for
  // up to 1024 rows, one copy. Checked like ReadExact.
  Status ReadRows(uint64_t offset, size_t row_bytes, size_t rows, uint8_t* out,
                  size_t out_stride) const;

  // Returns an IOError (and logs once) if the file is no longer the one opened.
  Status CheckUnchanged() const;

  // Digests `ranges` (clipped to the file) as the file's fingerprint (see
  // above). REQUIRES: called once, before the file is shared.
  Status SetFingerprint(std::vector<ByteRange> ranges);
  // The digest of the fingerprint (0 if none was set).
  uint64_t fingerprint() const { return fingerprint_; }
  // Whether `now` (this file's identity as just seen) is still the version
  // opened: the same, or the same but for its ctime with the fingerprint's
  // bytes unchanged (that ctime is accepted from then on).
  Result<bool> IsSameVersion(const FileIdentity& now) const;

  uint64_t size() const { return identity_.size; }
  const std::string& path() const { return path_; }
  // Who the file was when opened.
  const FileIdentity& identity() const { return identity_; }

 private:
  struct Fd;
  // Opens the file again after its descriptor was closed.
  using Opener = std::function<Result<OpenedFile>()>;
  RandomAccessFile(std::string path, FileIdentity id, Opener opener,
                   std::shared_ptr<DescriptorPool> pool);
  static Result<std::unique_ptr<RandomAccessFile>> OpenWith(std::string path, Opener opener,
                                                            std::shared_ptr<DescriptorPool> pool);
  Result<std::shared_ptr<Fd>> AcquireFd() const;
  Status CheckFd(const Fd& fd) const;
  // Checks [offset, offset + length) lies in the file as indexed, and returns
  // a descriptor of the file checked unchanged.
  Result<std::shared_ptr<Fd>> BeginRead(uint64_t offset, uint64_t length) const;
  // The digest of the fingerprint's ranges as read through `file` now.
  Result<uint64_t> Digest(const SourceFile& file) const;
  // `now` is this version: its ctime is the accepted one, or only the ctime
  // moved and the fingerprint is unchanged (read through `file`).
  Result<bool> Accepts(const FileIdentity& now, const SourceFile& file) const EXCLUDES(verify_mu_);

  // Constant after construction.
  const std::string path_;
  const Opener opener_;
  const FileIdentity identity_;
  const std::shared_ptr<DescriptorPool> pool_;
  const uint64_t pool_key_;
  mutable std::atomic<bool> change_logged_{false};
  // Set by SetFingerprint before the file is shared; constant after.
  std::vector<ByteRange> fingerprint_ranges_;
  uint64_t fingerprint_ = 0;
  // The ctime of the last metadata-only change accepted (ns since the epoch).
  mutable std::atomic<int64_t> accepted_ctime_ns_{0};
  // One verification at a time (the others then find its answer). Lock
  // order: a leaf (MountTree may hold a CZI's refresh_mu, never mu_; it
  // takes no other lock, the descriptor pool's is released before it).
  mutable Mutex verify_mu_;
};

}  // namespace czifs
