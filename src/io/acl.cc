#include "czifs/acl.h"

#include <fmt/format.h>
#include <sys/xattr.h>

#include <cerrno>
#include <vector>

#include "czifs/source_dir.h"

namespace czifs {
namespace {

constexpr uint32_t kVersion = 2;
constexpr size_t kHeader = 4;
constexpr size_t kEntry = 8;
// ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER.
constexpr uint16_t kKnownTags = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x20;
constexpr uint16_t kRead = 4, kExecute = 1;

uint32_t Le32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint16_t Le16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | (static_cast<uint8_t>(p[1]) << 8));
}

constexpr uint16_t kMask = 0x10;

// Rewrites each entry's permissions with `f`; a mask that `f` would empty
// keeps its x (see ShownGroupBits).
template <typename F>
Result<std::string> MapPermissions(std::string_view xattr, F f) {
  CZIFS_RETURN_IF_ERROR(CheckAcl(xattr));
  std::string out(xattr);
  for (size_t at = kHeader; at < out.size(); at += kEntry) {
    const uint16_t was = Le16(out.data() + at + 2);
    uint16_t perm = f(was);
    if (Le16(out.data() + at) == kMask && perm == 0 && was != 0) perm = was & kExecute;
    out[at + 2] = static_cast<char>(perm & 0xff);
    out[at + 3] = static_cast<char>(perm >> 8);
  }
  return out;
}

}  // namespace

const char* AclXattrName(AclKind kind) {
  return kind == AclKind::kAccess ? "system.posix_acl_access" : "system.posix_acl_default";
}

Result<std::string> ReadAcl(int fd, AclKind kind, std::string_view where) {
  // getxattr through /proc follows the descriptor to its inode, O_PATH included.
  const std::string proc = fmt::format("/proc/self/fd/{}", fd);
  std::vector<char> buf(256);
  for (int attempt = 0; attempt < 4; ++attempt) {
    const ssize_t n = ::getxattr(proc.c_str(), AclXattrName(kind), buf.data(), buf.size());
    if (n >= 0) {
      std::string acl(buf.data(), static_cast<size_t>(n));
      if (Status st = CheckAcl(acl); !st.ok()) return st.WithContext(std::string(where));
      return acl;
    }
    if (errno == ENODATA || errno == ENOTSUP || errno == ENOSYS) return std::string();
    if (errno != ERANGE) return PathError(fmt::format("{}: cannot read its ACL", where), errno);
    const ssize_t size = ::getxattr(proc.c_str(), AclXattrName(kind), nullptr, 0);
    if (size < 0) continue;  // changed in between: try again
    buf.resize(static_cast<size_t>(size) + kEntry);
  }
  return Status::IOError(fmt::format("{}: its ACL kept changing while read", where));
}

Status CheckAcl(std::string_view xattr) {
  if (xattr.size() < kHeader || (xattr.size() - kHeader) % kEntry != 0) {
    return Status::Corruption(
        fmt::format("ACL of {} bytes is not a header and whole entries", xattr.size()));
  }
  if (const uint32_t v = Le32(xattr.data()); v != kVersion) {
    return Status::Corruption(fmt::format("ACL version {} (expected {})", v, kVersion));
  }
  for (size_t at = kHeader; at < xattr.size(); at += kEntry) {
    const uint16_t tag = Le16(xattr.data() + at);
    const uint16_t perm = Le16(xattr.data() + at + 2);
    // Exactly one known tag bit per entry.
    if ((tag & kKnownTags) != tag || tag == 0 || (tag & (tag - 1)) != 0 || perm > 7) {
      return Status::Corruption(fmt::format("ACL entry {} has tag {:#x}, permissions {:#o}",
                                            (at - kHeader) / kEntry, tag, perm));
    }
  }
  return Status::Ok();
}

Result<std::string> AclForImages(std::string_view xattr) {
  return MapPermissions(xattr, [](uint16_t p) { return static_cast<uint16_t>(p & ~kExecute); });
}

Result<std::string> AclForFolders(std::string_view xattr) {
  return MapPermissions(xattr, [](uint16_t p) {
    return static_cast<uint16_t>((p & ~kExecute) | ((p & kRead) ? kExecute : 0));
  });
}

uint32_t ShownGroupBits(uint32_t source_mode, uint32_t shown_mode) {
  const uint32_t group = shown_mode & 070;
  if (group == 0 && (source_mode & 070) != 0) return source_mode & 010;
  return group;
}

}  // namespace czifs
