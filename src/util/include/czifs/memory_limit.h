// How much memory this process may use: the smallest of physical RAM, its
// cgroup's limit (v2 memory.max, v1 memory.limit_in_bytes, on its own cgroup
// and every parent) and RLIMIT_AS. Used to size the default cache.
//
// Thread-safety: plain functions over files; safe anywhere.
#pragma once

#include <cstdint>
#include <string>

namespace czifs {

struct MemoryLimit {
  uint64_t bytes = 0;
  std::string source;  // "RAM", "cgroup memory.max (/sys/fs/cgroup/...)", "RLIMIT_AS"
};

// Reads the limit for this process. `proc_cgroup` is /proc/self/cgroup's
// text and `sysfs` the folder cgroup file systems are mounted under (tests
// pass their own); RAM and RLIMIT_AS are read from the system.
MemoryLimit ReadMemoryLimit(const std::string& proc_cgroup, const std::string& sysfs);
MemoryLimit ReadMemoryLimit();

// The cache czifs uses by default: a quarter of what the process may use,
// at most 1 GiB.
// The least cache czifs runs with (smaller requests are raised to it),
// and the size below which it says that readers may decode tiles again and
// again (a 1024x1024 16-bit tile is 2 MiB; a row of a mosaic's tiles must fit).
inline constexpr uint64_t kMinCacheBytes = 1ull << 20;
inline constexpr uint64_t kSmallCacheBytes = 64ull << 20;
// The cache to use for a request of `requested` bytes, and in `note` the one
// line to say about it ("" if none).
uint64_t CheckedCacheBytes(uint64_t requested, std::string* note);
uint64_t DefaultCacheBytes(const MemoryLimit& limit);
// The memory parsed CZIs may hold by default (--parsed-memory): as much
// again as the cache, a quarter of what the process may use, at most 1 GiB.
uint64_t DefaultDocumentBytes(const MemoryLimit& limit);

// Makes glibc keep large freed blocks (decoded tiles) for reuse instead of
// returning them to the kernel on every free. Called by mount and export.
void TuneAllocator();

// Parses "512M", "2G", "1048576" into bytes.
bool ParseByteSize(const std::string& text, uint64_t* out);

}  // namespace czifs
