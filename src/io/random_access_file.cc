#include "czifs/random_access_file.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/uio.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "czifs/mutex.h"

namespace czifs {

// What the pool holds for one file: its open SourceFile.
struct RandomAccessFile::Fd {
  explicit Fd(std::unique_ptr<SourceFile> f) : file(std::move(f)) {}
  const std::unique_ptr<SourceFile> file;
};

std::shared_ptr<void> DescriptorPool::Get(uint64_t key) {
  MutexLock lock(&mu_);
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.pos);
  return it->second.fd;
}

void DescriptorPool::Put(uint64_t key, std::shared_ptr<void> fd) {
  MutexLock lock(&mu_);
  auto it = map_.find(key);
  if (it != map_.end()) {
    lru_.erase(it->second.pos);
    map_.erase(it);
  }
  lru_.push_front(key);
  map_.emplace(key, Entry{std::move(fd), lru_.begin()});
  while (map_.size() > max_open_ && !lru_.empty()) {
    map_.erase(lru_.back());  // closed once the last reader lets go
    lru_.pop_back();
  }
}

void DescriptorPool::Erase(uint64_t key) {
  MutexLock lock(&mu_);
  auto it = map_.find(key);
  if (it == map_.end()) return;
  lru_.erase(it->second.pos);
  map_.erase(it);
}

void DescriptorPool::SetMaxOpen(size_t n) {
  MutexLock lock(&mu_);
  max_open_ = n == 0 ? 1 : n;
}

size_t DescriptorPool::OpenCount() const {
  MutexLock lock(&mu_);
  return map_.size();
}

namespace {

// Tests of slow storage (NFS, Lustre) set CZIFS_TEST_READ_DELAY_MS: every
// read of a source waits that long first.
long delay_ms() {
  static const long ms = [] {
    const char* v = std::getenv("CZIFS_TEST_READ_DELAY_MS");
    return v ? std::strtol(v, nullptr, 10) : 0L;
  }();
  return ms;
}

}  // namespace

namespace {

// Reads until `length` bytes are in; end of file before that is an error.
Status PreadFully(const SourceFile& file, uint8_t* dst, uint64_t length, uint64_t offset) {
  for (uint64_t done = 0; done < length;) {
    CZIFS_ASSIGN_OR_RETURN(size_t n, file.ReadAt(offset + done, dst + done, length - done));
    if (n == 0) {
      return Status::IOError(fmt::format(
          "unexpected end of file at offset {} (file shrank while open?)", offset + done));
    }
    done += n;
  }
  return Status::Ok();
}

int64_t Nanoseconds(const timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

}  // namespace

RandomAccessFile::RandomAccessFile(std::string path, FileIdentity id, Opener opener,
                                   std::shared_ptr<DescriptorPool> pool)
    : path_(std::move(path)),
      opener_(std::move(opener)),
      identity_(id),
      pool_(pool ? std::move(pool) : std::make_shared<DescriptorPool>(1)),
      pool_key_(pool_->NewKey()),
      accepted_ctime_ns_(Nanoseconds(id.ctime)) {}

RandomAccessFile::~RandomAccessFile() { pool_->Erase(pool_key_); }

Result<std::unique_ptr<RandomAccessFile>> RandomAccessFile::OpenWith(
    std::string path, Opener opener, std::shared_ptr<DescriptorPool> pool) {
  CZIFS_ASSIGN_OR_RETURN(OpenedFile opened, opener());
  std::unique_ptr<RandomAccessFile> f(
      new RandomAccessFile(std::move(path), opened.id, std::move(opener), std::move(pool)));
  f->pool_->Put(f->pool_key_, std::make_shared<Fd>(std::move(opened.file)));
  return f;
}

Result<std::unique_ptr<RandomAccessFile>> RandomAccessFile::Open(
    const std::string& path, std::shared_ptr<DescriptorPool> pool,
    std::shared_ptr<const FileSystem> fs) {
  if (!fs) fs = PosixFileSystem();
  return OpenWith(
      path, [path, fs = std::move(fs)] { return fs->OpenFile(path); }, std::move(pool));
}

Result<std::unique_ptr<RandomAccessFile>> RandomAccessFile::Open(
    std::shared_ptr<const SourceDir> dir, const std::string& rel,
    std::shared_ptr<DescriptorPool> pool) {
  std::string path = dir->Describe(rel);
  return OpenWith(
      std::move(path), [dir = std::move(dir), rel] { return dir->OpenFile(rel); }, std::move(pool));
}

Result<std::shared_ptr<RandomAccessFile::Fd>> RandomAccessFile::AcquireFd() const {
  if (auto fd = std::static_pointer_cast<Fd>(pool_->Get(pool_key_))) return fd;
  auto opened = opener_();
  if (!opened.ok()) {
    // Out of descriptors or memory is not the file's fault: said as it is.
    if (opened.status().code() == StatusCode::kResourceExhausted) {
      return opened.status().WithContext("cannot reopen");
    }
    return Status::IOError("cannot reopen (was it deleted while mounted?): " +
                           opened.status().message());
  }
  auto fd = std::make_shared<Fd>(std::move(opened->file));
  pool_->Put(pool_key_, fd);
  return fd;
}

Result<uint64_t> RandomAccessFile::Digest(const SourceFile& file) const {
  XXH3_state_t* state = XXH3_createState();
  if (state == nullptr) return Status::ResourceExhausted("no memory for a digest");
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> owned(state, XXH3_freeState);
  XXH3_64bits_reset(state);
  std::vector<uint8_t> buf(1 << 20);
  for (const ByteRange& r : fingerprint_ranges_) {
    for (uint64_t done = 0; done < r.length;) {
      const uint64_t n = std::min<uint64_t>(buf.size(), r.length - done);
      CZIFS_RETURN_IF_ERROR(PreadFully(file, buf.data(), n, r.offset + done));
      XXH3_64bits_update(state, buf.data(), n);
      done += n;
    }
  }
  return XXH3_64bits_digest(state);
}

Status RandomAccessFile::SetFingerprint(std::vector<ByteRange> ranges) {
  for (ByteRange& r : ranges) {
    r.offset = std::min(r.offset, identity_.size);
    r.length = std::min(r.length, identity_.size - r.offset);
  }
  fingerprint_ranges_ = std::move(ranges);
  CZIFS_ASSIGN_OR_RETURN(std::shared_ptr<Fd> fd, AcquireFd());
  CZIFS_RETURN_IF_ERROR(CheckFd(*fd));
  CZIFS_ASSIGN_OR_RETURN(fingerprint_, Digest(*fd->file));
  return CheckFd(*fd);  // bytes from one version only
}

Result<bool> RandomAccessFile::Accepts(const FileIdentity& now, const SourceFile& file) const {
  if (!now.SameButCtime(identity_)) return false;
  if (Nanoseconds(now.ctime) == accepted_ctime_ns_.load()) return true;
  if (fingerprint_ranges_.empty()) return false;
  MutexLock lock(&verify_mu_);
  // The file as it is now (a chmod storm may move the ctime while we digest:
  // then digest again).
  constexpr int kTries = 8;
  for (int i = 0; i < kTries; ++i) {
    CZIFS_ASSIGN_OR_RETURN(const FileIdentity was, file.Identity());
    if (!was.SameButCtime(identity_)) return false;
    if (Nanoseconds(was.ctime) == accepted_ctime_ns_.load()) return true;  // verified meanwhile
    CZIFS_ASSIGN_OR_RETURN(uint64_t digest, Digest(file));
    CZIFS_ASSIGN_OR_RETURN(const FileIdentity is, file.Identity());
    if (!is.SameButCtime(identity_)) return false;
    if (Nanoseconds(is.ctime) != Nanoseconds(was.ctime)) continue;  // moved meanwhile
    if (digest != fingerprint_) return false;
    accepted_ctime_ns_.store(Nanoseconds(is.ctime));
    spdlog::debug("{}: only its attributes changed (same size, mtime and fingerprint): kept",
                  path_);
    return true;
  }
  return Status::IOError("its status kept changing while its fingerprint was checked");
}

Result<bool> RandomAccessFile::IsSameVersion(const FileIdentity& now) const {
  if (!now.SameButCtime(identity_)) return false;
  if (Nanoseconds(now.ctime) == accepted_ctime_ns_.load()) return true;
  CZIFS_ASSIGN_OR_RETURN(std::shared_ptr<Fd> fd, AcquireFd());
  return Accepts(now, *fd->file);
}

Status RandomAccessFile::CheckFd(const Fd& fd) const {
  // The file must still be the one we indexed: same inode, size, mtime, and
  // ctime, or a ctime that moved without changing the fingerprint.
  CZIFS_ASSIGN_OR_RETURN(const FileIdentity now, fd.file->Identity());
  auto same = Accepts(now, *fd.file);
  if (!same.ok()) return same.status();
  if (!*same) {
    if (!change_logged_.exchange(true)) {
      spdlog::warn(
          "{}: the file changed since czifs indexed it (size {} -> {}); what was read "
          "from the old version fails with EIO, the new version is indexed on next use",
          path_, identity_.size, now.size);
    }
    pool_->Erase(pool_key_);
    return Status::IOError("the source file changed since it was indexed");
  }
  return Status::Ok();
}

Status RandomAccessFile::CheckUnchanged() const {
  CZIFS_ASSIGN_OR_RETURN(std::shared_ptr<Fd> fd, AcquireFd());
  return CheckFd(*fd);
}

Result<std::shared_ptr<RandomAccessFile::Fd>> RandomAccessFile::BeginRead(uint64_t offset,
                                                                          uint64_t length) const {
  if (offset > identity_.size || length > identity_.size - offset) {
    return Status::Corruption(
        fmt::format("read of {} bytes at offset {} extends past end of file (size {})", length,
                    offset, identity_.size));
  }
  CZIFS_ASSIGN_OR_RETURN(std::shared_ptr<Fd> fd, AcquireFd());
  CZIFS_RETURN_IF_ERROR(CheckFd(*fd));
  if (delay_ms() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms()));
  return fd;
}

Status RandomAccessFile::ReadRows(uint64_t offset, size_t row_bytes, size_t rows, uint8_t* out,
                                  size_t out_stride) const {
  if (rows == 0 || row_bytes == 0) return Status::Ok();
  const uint64_t length = static_cast<uint64_t>(row_bytes) * rows;
  if (length / rows != row_bytes) return Status::Corruption("row read size overflows");
  CZIFS_ASSIGN_OR_RETURN(std::shared_ptr<Fd> fd, BeginRead(offset, length));
  constexpr size_t kMaxIov = 1024;  // IOV_MAX on Linux
  iovec iov[kMaxIov];
  for (size_t first = 0; first < rows;) {
    const size_t n = std::min(kMaxIov, rows - first);
    for (size_t r = 0; r < n; ++r) iov[r] = {out + (first + r) * out_stride, row_bytes};
    const uint64_t at = offset + first * row_bytes;
    CZIFS_ASSIGN_OR_RETURN(const size_t got, fd->file->ReadvAt(at, iov, static_cast<int>(n)));
    const size_t whole = got / row_bytes;
    if (whole < n) {
      // A short read: finish the row it stopped in, and go on from the next.
      const size_t done = got % row_bytes;
      CZIFS_RETURN_IF_ERROR(PreadFully(*fd->file, out + (first + whole) * out_stride + done,
                                       row_bytes - done, at + whole * row_bytes + done));
      first += whole + 1;
      continue;
    }
    first += n;
  }
  return CheckFd(*fd);
}

Status RandomAccessFile::ReadExact(uint64_t offset, uint64_t length, void* out) const {
  CZIFS_ASSIGN_OR_RETURN(std::shared_ptr<Fd> fd, BeginRead(offset, length));
  CZIFS_RETURN_IF_ERROR(PreadFully(*fd->file, static_cast<uint8_t*>(out), length, offset));
  // A write that landed while we read moved the ctime: those bytes may be
  // half old, half new, so they are not used.
  return CheckFd(*fd);
}

}  // namespace czifs
