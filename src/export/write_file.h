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

// Each exported file carries the extended attribute user.czifs.export, the
// version of its CZI (NodeAttr::version): an earlier export is recognised by
// it, and a file without it is someone else's. On a file system without user
// extended attributes nothing is marked, and a file of the same size and
// mtime counts as complete, as before markers.
inline constexpr const char* kExportMarker = "user.czifs.export";

enum class Existing {
  kNone,          // nothing there: write it
  kComplete,      // an earlier export of this version: keep it
  kOtherVersion,  // an earlier export of another version (or unfinished): write it again
  kNotOurs,       // something czifs export did not make: leave it (unless --overwrite)
};
// What is at `path` now, for a file the mount shows with `attr`.
Existing WhatIsThere(const std::string& path, const NodeAttr& attr);

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
