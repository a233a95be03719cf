#include "czifs/random_access_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace czifs {

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
  return std::unique_ptr<RandomAccessFile>(
      new RandomAccessFile(fd, static_cast<uint64_t>(st.st_size), path));
}

RandomAccessFile::~RandomAccessFile() { ::close(fd_); }

Status RandomAccessFile::ReadExact(uint64_t offset, uint64_t length, void* out) const {
  if (offset > size_ || length > size_ - offset) {
    return Status::Corruption("read of " + std::to_string(length) + " bytes at offset " +
                              std::to_string(offset) + " extends past end of file (size " +
                              std::to_string(size_) + ")");
  }
  auto* dst = static_cast<char*>(out);
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd_, dst + done, length - done, static_cast<off_t>(offset + done));
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
