// POSIX ACLs as Linux keeps them: the extended attributes
// system.posix_acl_access (who may do what to a file or folder) and
// system.posix_acl_default (what new entries of a folder inherit), in the
// kernel's binary form: a 4-byte version (2), then 8-byte entries
// {u16 tag, u16 permissions, u32 user or group id}, little-endian.
//
// czifs serves these bytes to the kernel (FUSE_CAP_POSIX_ACL), which then
// checks every access through the mount against them, as the source's file
// system does. libacl has no public call for this form (its acl_copy_ext is
// another format), and the form is eight bytes an entry: it is read here,
// checked field by field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "czifs/status.h"

namespace czifs {

enum class AclKind { kAccess, kDefault };

// "system.posix_acl_access" or "system.posix_acl_default".
const char* AclXattrName(AclKind kind);

// The ACL of the file or folder behind descriptor `fd` (O_PATH is fine), in
// the kernel's form; "" when it has none or its file system has no ACLs.
// `where` names it in errors.
Result<std::string> ReadAcl(int fd, AclKind kind, std::string_view where);

// Checks the form: version 2, whole entries, known tags and permission bits.
Status CheckAcl(std::string_view xattr);

// The same ACL as a CZI's tree shows it on its files: each entry without x
// (the files are images, never programs)...
Result<std::string> AclForImages(std::string_view xattr);
// ...and on its folders: each entry with x exactly where it has r (whoever
// may read the CZI may enter the folders of its tree, nobody else). The
// mode bits are shown the same way, so ACL and mode agree.
//
// One exception keeps the kernel's check the source's: the kernel consults
// an ACL only while the mode's group bits (the mask) are not all clear, so
// a mask of x alone, which these rules would clear, keeps its x (it grants
// no reading: every entry is limited to x).
Result<std::string> AclForFolders(std::string_view xattr);
// The group bits (mask) to show for a source mode whose shown mode (images'
// or folders' rule) has group bits `shown_mode & 070`: those, or the
// source's x alone when the rule would clear them all (see above).
uint32_t ShownGroupBits(uint32_t source_mode, uint32_t shown_mode);

}  // namespace czifs
