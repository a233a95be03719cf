#include "czifs/random_access_file.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>

namespace czifs {

struct RandomAccessFile::Fd {
  explicit Fd(int f) : fd(f) {}
  ~Fd() { ::close(fd); }
  const int fd;
};

namespace {

bool SameTime(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

FileIdentity IdentityOf(const struct stat& st) {
  FileIdentity id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime = st.st_mtim;
  id.uid = st.st_uid;
  id.gid = st.st_gid;
  return id;
}

// Process-wide LRU of open descriptors. mu guards everything in it.
class FdPool {
 public:
  template <typename FdT>
  std::shared_ptr<FdT> Get(uint64_t key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second.pos);
    return std::static_pointer_cast<FdT>(it->second.fd);
  }
  void Put(uint64_t key, std::shared_ptr<void> fd) {
    std::lock_guard<std::mutex> lock(mu_);
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
  void Erase(uint64_t key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return;
    lru_.erase(it->second.pos);
    map_.erase(it);
  }
  void SetMax(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    max_open_ = n == 0 ? 1 : n;
  }
  size_t Size() {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.size();
  }

 private:
  struct Entry {
    std::shared_ptr<void> fd;
    std::list<uint64_t>::iterator pos;
  };
  std::mutex mu_;
  std::unordered_map<uint64_t, Entry> map_;  // guarded by mu_
  std::list<uint64_t> lru_;                  // guarded by mu_; front = newest
  size_t max_open_ = 256;                    // guarded by mu_
};

}  // namespace

Result<FileIdentity> StatIdentity(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return Status::NotFound(path + ": " + std::strerror(errno));
  }
  return IdentityOf(st);
}

namespace {

FdPool& Pool() {
  static FdPool* pool = new FdPool();  // never destroyed: used until exit
  return *pool;
}

std::atomic<uint64_t> g_next_key{1};

}  // namespace

void RandomAccessFile::SetMaxOpenFiles(size_t n) { Pool().SetMax(n); }
size_t RandomAccessFile::OpenFileCount() { return Pool().Size(); }

RandomAccessFile::RandomAccessFile(std::string path, FileIdentity id)
    : path_(std::move(path)), identity_(id), pool_key_(g_next_key.fetch_add(1)) {}

RandomAccessFile::~RandomAccessFile() { Pool().Erase(pool_key_); }

Result<std::unique_ptr<RandomAccessFile>> RandomAccessFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::IOError(path + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + ": not a regular file");
  }
  std::unique_ptr<RandomAccessFile> f(new RandomAccessFile(path, IdentityOf(st)));
  Pool().Put(f->pool_key_, std::make_shared<Fd>(fd));
  return f;
}

Result<std::shared_ptr<RandomAccessFile::Fd>> RandomAccessFile::AcquireFd() const {
  if (auto fd = Pool().Get<Fd>(pool_key_)) return fd;
  int raw = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    return Status::IOError("cannot reopen: " + std::string(std::strerror(errno)) +
                           " (was it deleted while mounted?)");
  }
  auto fd = std::make_shared<Fd>(raw);
  Pool().Put(pool_key_, fd);
  return fd;
}

Status RandomAccessFile::CheckFd(const Fd& fd) const {
  // The file must still be the one we indexed: same inode, size and mtime.
  struct stat st;
  if (::fstat(fd.fd, &st) != 0) {
    return Status::IOError(std::string("cannot stat: ") + std::strerror(errno));
  }
  const FileIdentity now = IdentityOf(st);
  if (now.dev != identity_.dev || now.ino != identity_.ino || now.size != identity_.size ||
      !SameTime(now.mtime, identity_.mtime)) {
    if (!change_logged_.exchange(true)) {
      spdlog::error("{}: the file changed since czifs indexed it (size {} -> {}); its planes "
                    "fail with EIO until czifs is restarted",
                    path_, identity_.size, now.size);
    }
    Pool().Erase(pool_key_);
    return Status::IOError("the source file changed since it was indexed");
  }
  return Status::Ok();
}

Status RandomAccessFile::CheckUnchanged() const {
  CZIFS_ASSIGN_OR_RETURN(std::shared_ptr<Fd> fd, AcquireFd());
  return CheckFd(*fd);
}

Status RandomAccessFile::ReadExact(uint64_t offset, uint64_t length, void* out) const {
  if (offset > identity_.size || length > identity_.size - offset) {
    return Status::Corruption("read of " + std::to_string(length) + " bytes at offset " +
                              std::to_string(offset) + " extends past end of file (size " +
                              std::to_string(identity_.size) + ")");
  }
  CZIFS_ASSIGN_OR_RETURN(std::shared_ptr<Fd> fd, AcquireFd());
  CZIFS_RETURN_IF_ERROR(CheckFd(*fd));
  auto* dst = static_cast<char*>(out);
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd->fd, dst + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("read at offset " + std::to_string(offset + done) + ": " +
                             std::strerror(errno));
    }
    if (n == 0) {
      return Status::IOError("unexpected end of file at offset " + std::to_string(offset + done) +
                             " (file shrank while open?)");
    }
    done += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

}  // namespace czifs
