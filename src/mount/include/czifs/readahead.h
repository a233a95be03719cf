// The kernel's readahead for czifs' own mount. FUSE starts every mount at
// 128 KiB, which cuts a sequential read of a plane into 128 KiB requests:
// one round trip, one composition setup and one wake-up each. A larger
// window lets the kernel ask for up to 1 MiB at a time (measured: a 7478²
// uncompressed plane 0.104 → 0.070 s). Only root may change it, through the
// mount's backing device in /sys/class/bdi (as mergerfs and DAOS' dfuse do).
#pragma once

#include <cstdint>
#include <string>

namespace czifs {

// The readahead a mount gets unless told (--readahead, -o readahead=), and
// the range it may be set in; 0 leaves the kernel's.
inline constexpr uint64_t kDefaultReadaheadBytes = 1ull << 20;
inline constexpr uint64_t kMinReadaheadBytes = 4ull << 10;
inline constexpr uint64_t kMaxReadaheadBytes = 64ull << 20;

// "" if `bytes` is a readahead czifs accepts, else why not (one line).
std::string CheckReadahead(uint64_t bytes);

// The device ("major:minor") of the FUSE mount on `mountpoint` (absolute,
// symlinks resolved) in /proc/self/mountinfo's `text`; the last such mount,
// as it is the one on top. "" if there is none.
std::string FuseMountDevice(const std::string& mountinfo, const std::string& mountpoint);

// Sets the readahead of the FUSE mount on `mountpoint` to `bytes`, through
// `sysfs_bdi` (/sys/class/bdi), reading `proc_mountinfo`. Best effort: logs
// what it did, or why it could not (not root), and never fails the mount.
// Must not touch the mount itself: its requests are not served yet.
void SetMountReadahead(const std::string& mountpoint, uint64_t bytes,
                       const std::string& proc_mountinfo = "/proc/self/mountinfo",
                       const std::string& sysfs_bdi = "/sys/class/bdi");

}  // namespace czifs
