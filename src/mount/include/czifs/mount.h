// Mounting: sets up the FUSE session for a MountTree and serves it until
// unmounted or signalled.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "czifs/compose.h"
#include "czifs/mount_options.h"
#include "czifs/mount_tree.h"
#include "czifs/tree.h"

namespace czifs {

// Exit codes of the mount command.
inline constexpr int kMountOk = 0;
inline constexpr int kMountBadSource = 1;
inline constexpr int kMountUsage = 2;
inline constexpr int kMountFailed = 3;

// Returns "" if `mountpoint` can be mounted on now, else one line saying why
// and what to run: it is already a FUSE mount (live: unmount it first; its
// daemon died: clear it with fusermount3 -u).
std::string CheckMountPointIsFree(const std::string& mountpoint);

// Mounts and serves; returns an exit code. In the background (default) the
// calling process returns only once the mount is ready or has failed.
int RunMount(MountOptions options);

// How many descriptors the daemon may use, and how many of them hold source
// files open (the rest: FUSE, inotify, logs, helpers, paths being resolved).
struct DescriptorBudget {
  uint64_t limit = 0;  // RLIMIT_NOFILE after raising the soft limit to the hard one
  size_t pool = 0;     // the session's DescriptorPool::SetMaxOpen
};
// Raises the soft RLIMIT_NOFILE to the hard limit and plans from it.
DescriptorBudget PlanDescriptors(unsigned request_threads);

// Returns "" if mounting on `mountpoint` leaves the sources reachable, else
// why not: a source at or below the mount point would be hidden by it (and
// czifs would read through itself), a mount point inside a source folder
// would be listed by czifs as part of its own source.
std::string CheckMountPointAgainstSources(const std::string& mountpoint,
                                          const std::vector<std::string>& sources);

// "libfuse <version>\n".
std::string FuseLibraryVersion();

}  // namespace czifs
