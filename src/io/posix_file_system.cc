// The real side of the io seam: a SourceFile over a descriptor, and the
// FileSystem of POSIX calls (PosixSourceDir is in source_dir.cc).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "czifs/file_system.h"

namespace czifs {
namespace {

class PosixFile final : public SourceFile {
 public:
  explicit PosixFile(UniqueFd fd) : fd_(std::move(fd)) {}

  Result<FileIdentity> Identity() const override {
    struct stat st;
    if (::fstat(fd_.get(), &st) != 0) {
      return Status::IOError(std::string("cannot stat: ") + std::strerror(errno));
    }
    return IdentityOf(st);
  }

  Result<size_t> ReadAt(uint64_t offset, uint8_t* out, size_t length) const override {
    for (;;) {
      const ssize_t n = ::pread(fd_.get(), out, length, static_cast<off_t>(offset));
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return ReadError(offset);
    }
  }

  Result<size_t> ReadvAt(uint64_t offset, const iovec* iov, int count) const override {
    for (;;) {
      const ssize_t n = ::preadv(fd_.get(), iov, count, static_cast<off_t>(offset));
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return ReadError(offset);
    }
  }

 private:
  static Status ReadError(uint64_t offset) {
    const int err = errno;
    Status st = Status::IOError(fmt::format("read at offset {}: {}", offset, std::strerror(err)));
    return err == ENOMEM ? st.WithErrno(err) : st;
  }

  const UniqueFd fd_;
};

class Posix final : public FileSystem {
 public:
  Result<FileIdentity> Stat(const std::string& path) const override { return StatIdentity(path); }

  Status CheckReadable(const std::string& path, bool is_dir) const override {
    if (::faccessat(AT_FDCWD, path.c_str(), is_dir ? (R_OK | X_OK) : R_OK, AT_EACCESS) == 0) {
      return Status::Ok();
    }
    return Status::InvalidArgument(fmt::format("{}: cannot be {} by this user ({})", path,
                                               is_dir ? "listed" : "read", std::strerror(errno)));
  }

  Result<std::string> Canonical(const std::string& path) const override {
    std::error_code ec;
    const std::filesystem::path real = std::filesystem::canonical(path, ec);
    if (ec) return Status::NotFound(path + ": " + ec.message());
    return real.string();
  }

  Result<std::shared_ptr<const SourceDir>> OpenDir(const std::string& path) const override {
    return PosixSourceDir::Open(path);
  }

  Result<OpenedFile> OpenFile(const std::string& path) const override {
    // O_NONBLOCK: opening a FIFO must not hang the thread; it is refused below.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (fd.get() < 0) return Status::IOError(path + ": cannot open: " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) {
      return Status::IOError(path + ": cannot stat: " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
    return OpenedFile{MakePosixFile(std::move(fd)), IdentityOf(st)};
  }
};

}  // namespace

std::unique_ptr<SourceFile> MakePosixFile(UniqueFd fd) {
  return std::make_unique<PosixFile>(std::move(fd));
}

const std::shared_ptr<const FileSystem>& PosixFileSystem() {
  static const std::shared_ptr<const FileSystem> fs = std::make_shared<Posix>();
  return fs;
}

}  // namespace czifs
