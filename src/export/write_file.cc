#include "write_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace czifs {
namespace {

namespace fs = std::filesystem;
constexpr size_t kChunkBytes = 4 << 20;
constexpr size_t kHoleBlock = 4096;  // a multiple of every file system's block

Status Errno(const std::string& what, const std::string& path) {
  return Status::IOError(fmt::format("{}: {}: {}", path, what, std::strerror(errno)));
}

Status WriteAll(int fd, const uint8_t* p, size_t n, uint64_t at, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(at));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Errno("write failed", path);
    }
    p += w;
    at += static_cast<uint64_t>(w);
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

bool AllZero(const uint8_t* p, size_t n) {
  return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0);
}

// Writes `n` bytes that belong at file offset `at`, leaving holes where
// whole blocks are zeros (the gap before a TIFF's pixels, empty mosaic
// areas), as `cp --sparse` would.
Status WriteSparse(int fd, const uint8_t* p, size_t n, uint64_t at, const std::string& path) {
  size_t run = 0;  // bytes of data waiting to be written, ending at `i`
  size_t i = 0;
  while (i < n) {
    const size_t block = std::min(kHoleBlock, n - i);
    if (block == kHoleBlock && AllZero(p + i, block)) {
      CZIFS_RETURN_IF_ERROR(WriteAll(fd, p + i - run, run, at + i - run, path));
      run = 0;
    } else {
      run += block;
    }
    i += block;
  }
  return WriteAll(fd, p + n - run, run, at + n - run, path);
}

// Copies `file` into `fd`; Cancelled once `*stop` is set.
Result<uint64_t> CopyInto(const VirtualFile& file, int fd, const std::string& path,
                          const std::atomic<bool>* stop, std::atomic<uint64_t>* progress_bytes) {
  CZIFS_ASSIGN_OR_RETURN(const uint64_t size, file.Size());
  thread_local std::vector<uint8_t> buf;
  buf.resize(kChunkBytes);
  uint64_t off = 0;
  while (off < size) {
    if (stop && stop->load()) return Status::Cancelled("export interrupted");
    CZIFS_ASSIGN_OR_RETURN(const size_t n,
                           file.Read(off, std::min<uint64_t>(kChunkBytes, size - off), buf.data()));
    if (n == 0) return Status::IOError(fmt::format("file ended at {} of {} bytes", off, size));
    CZIFS_RETURN_IF_ERROR(WriteSparse(fd, buf.data(), n, off, path));
    off += n;
    progress_bytes->fetch_add(n, std::memory_order_relaxed);
  }
  // The size, also where the file ends in a hole.
  if (::ftruncate(fd, static_cast<off_t>(off)) != 0) return Errno("cannot set the size", path);
  return off;
}

std::string MarkerValue(const NodeAttr& attr) { return fmt::format("v1 {:016x}", attr.version); }

// Marks open file `fd` as this export's (best effort: a file system
// without user extended attributes cannot hold the mark).
void Mark(int fd, const NodeAttr& attr) {
  const std::string value = MarkerValue(attr);
  (void)::fsetxattr(fd, kExportMarker, value.data(), value.size(), 0);
}

// The mode, owner (as root) and times of `attr`, on open file `fd`.
Status ApplyAttributes(int fd, const NodeAttr& attr, const std::string& path) {
  if (::geteuid() == 0 && ::fchown(fd, attr.uid, attr.gid) != 0) return Errno("chown", path);
  if (::fchmod(fd, attr.mode & 07777) != 0) return Errno("chmod", path);
  const timespec times[2] = {attr.mtime, attr.mtime};
  if (::futimens(fd, times) != 0) return Errno("set times", path);
  return Status::Ok();
}

}  // namespace

std::string PartialName(const std::string& path) {
  const fs::path p(path);
  return (p.parent_path() / ("." + p.filename().string() + ".czifs-partial")).string();
}

Existing WhatIsThere(const std::string& path, const NodeAttr& attr) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0)
    return errno == ENOENT ? Existing::kNone : Existing::kNotOurs;
  if (!S_ISREG(st.st_mode)) return Existing::kNotOurs;
  const bool same_size_and_time = static_cast<uint64_t>(st.st_size) == attr.size &&
                                  st.st_mtim.tv_sec == attr.mtime.tv_sec &&
                                  st.st_mtim.tv_nsec == attr.mtime.tv_nsec;
  char value[64];
  const ssize_t n = ::lgetxattr(path.c_str(), kExportMarker, value, sizeof value);
  if (n < 0) {
    if (errno == ENOTSUP || errno == ENOSYS) {  // nothing here can be marked
      return same_size_and_time ? Existing::kComplete : Existing::kOtherVersion;
    }
    return Existing::kNotOurs;
  }
  const bool same_version = std::string_view(value, static_cast<size_t>(n)) == MarkerValue(attr);
  return same_version && same_size_and_time ? Existing::kComplete : Existing::kOtherVersion;
}

Result<uint64_t> WriteFileAtomically(const VirtualFile& file, const std::string& path,
                                     const NodeAttr& attr, const std::atomic<bool>* stop,
                                     std::atomic<uint64_t>* progress_bytes) {
  const std::string partial = PartialName(path);
  const int fd =
      ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Errno("cannot create", partial);
  Result<uint64_t> written = CopyInto(file, fd, path, stop, progress_bytes);
  Status st = written.status();
  if (st.ok()) Mark(fd, attr);
  if (st.ok()) st = ApplyAttributes(fd, attr, path);
  if (::close(fd) != 0 && st.ok()) st = Errno("close failed", partial);
  if (st.ok() && ::rename(partial.c_str(), path.c_str()) != 0) st = Errno("cannot rename", partial);
  if (!st.ok()) {
    ::unlink(partial.c_str());
    return st;
  }
  return written;
}

Status PrepareFolder(const std::string& path, const NodeAttr& attr) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return Status::IOError(fmt::format("{}: cannot create folder: {}", path, ec.message()));
  if (::chmod(path.c_str(), (attr.mode & 07777) | S_IRWXU) != 0) return Errno("chmod", path);
  return Status::Ok();
}

Status FinishFolder(const std::string& path, const NodeAttr& attr) {
  if (::geteuid() == 0 && ::lchown(path.c_str(), attr.uid, attr.gid) != 0) {
    return Errno("chown", path);
  }
  if (::chmod(path.c_str(), attr.mode & 07777) != 0) return Errno("chmod", path);
  const timespec times[2] = {attr.mtime, attr.mtime};
  if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return Errno("set times", path);
  }
  return Status::Ok();
}

}  // namespace czifs
