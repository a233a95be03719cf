#include "czifs/readahead.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace czifs {
namespace {

// mountinfo writes space, tab, newline and backslash in paths as \ooo.
std::string UnescapeOctal(const std::string& field) {
  auto is_octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && is_octal(field[i + 1]) &&
        is_octal(field[i + 2]) && is_octal(field[i + 3])) {
      out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                               (field[i + 3] - '0'));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

std::vector<std::string> Fields(const std::string& line) {
  std::vector<std::string> fields;
  std::istringstream in(line);
  for (std::string f; in >> f;) fields.push_back(f);
  return fields;
}

}  // namespace

std::string CheckReadahead(uint64_t bytes) {
  if (bytes == 0 || (bytes >= kMinReadaheadBytes && bytes <= kMaxReadaheadBytes)) return "";
  return fmt::format("--readahead of {} bytes: use {}K to {}M, or 0 to keep the kernel's", bytes,
                     kMinReadaheadBytes >> 10, kMaxReadaheadBytes >> 20);
}

std::string FuseMountDevice(const std::string& mountinfo, const std::string& mountpoint) {
  // Fields: id parent major:minor root mount-point options [optional...] - fstype source ...
  std::string device;
  std::istringstream lines(mountinfo);
  for (std::string line; std::getline(lines, line);) {
    const std::vector<std::string> f = Fields(line);
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash + 1 >= f.size()) continue;
    const std::string& fstype = f[dash + 1];
    if (fstype != "fuse" && fstype.rfind("fuse.", 0) != 0) continue;
    if (UnescapeOctal(f[4]) == mountpoint) device = f[2];
  }
  return device;
}

void SetMountReadahead(const std::string& mountpoint, uint64_t bytes,
                       const std::string& proc_mountinfo, const std::string& sysfs_bdi) {
  if (bytes == 0) return;
  std::ifstream in(proc_mountinfo);
  std::stringstream text;
  text << in.rdbuf();
  const std::string device = FuseMountDevice(text.str(), mountpoint);
  if (device.empty()) {
    spdlog::warn("readahead stays the kernel's: {} not found in {}", mountpoint, proc_mountinfo);
    return;
  }
  const std::string file = sysfs_bdi + "/" + device + "/read_ahead_kb";
  const std::string kb = std::to_string(bytes >> 10) + "\n";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  const bool written =
      fd >= 0 && ::write(fd, kb.data(), kb.size()) == static_cast<ssize_t>(kb.size());
  const int err = errno;
  if (fd >= 0) ::close(fd);
  if (!written) {
    spdlog::info("readahead stays at the kernel's (usually 128 KiB): cannot write {}: {}{}", file,
                 std::strerror(err), err == EACCES ? " (only root may raise it)" : "");
    return;
  }
  spdlog::info("readahead {} KiB (kernel's window for sequential reads of czifs' files)",
               bytes >> 10);
}

}  // namespace czifs
