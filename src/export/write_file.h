// Writing one exported file so that an export cannot lie: the bytes go to a
// temporary name beside the file, which becomes the final name only once
// complete, with the mode and modification time the mount shows (and its
// owner when run as root, as cp -a would).
//
// Thread-safety: free functions; different paths may be written at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "czifs/mount_tree.h"
#include "czifs/status.h"
#include "czifs/tree.h"

namespace czifs {

// The temporary name `path` is written under until complete.
std::string PartialName(const std::string& path);

// True if `path` is a regular file of `attr`'s size and modification time:
// what a finished export of this version of the file left.
bool IsComplete(const std::string& path, const NodeAttr& attr);

// Writes `file` as `path`; returns the bytes written. Cancelled (and no
// file left behind) once `*stop` is true; any error removes the partial data.
Result<uint64_t> WriteFileAtomically(const VirtualFile& file, const std::string& path,
                                     const NodeAttr& attr, const std::atomic<bool>* stop,
                                     std::atomic<uint64_t>* progress_bytes);

// Makes folder `path` writable for the export (its final mode may not be).
Status PrepareFolder(const std::string& path, const NodeAttr& attr);
// Gives folder `path` the mode, times (and as root owner) the mount shows;
// call once everything inside it is written.
Status FinishFolder(const std::string& path, const NodeAttr& attr);

}  // namespace czifs
