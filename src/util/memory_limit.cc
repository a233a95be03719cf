#include "czifs/memory_limit.h"

#include <fmt/format.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace czifs {
namespace {

// A cgroup limit file's value, or 0 for none ("max", or v1's huge "unlimited").
uint64_t ReadLimitFile(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return 0;
  try {
    const unsigned long long v = std::stoull(text);
    return v >= (1ull << 60) ? 0 : v;
  } catch (...) {
    return 0;
  }
}

// The smallest limit in `file` along the cgroup path `cg` and its parents.
void Walk(const std::string& mount, std::string cg, const std::string& file, MemoryLimit* best) {
  for (;;) {
    const std::string path = mount + (cg == "/" ? "" : cg) + "/" + file;
    const uint64_t v = ReadLimitFile(path);
    if (v != 0 && v < best->bytes) {
      best->bytes = v;
      best->source = "cgroup " + file + " (" + path + ")";
    }
    if (cg.empty() || cg == "/") return;
    const size_t slash = cg.rfind('/');
    cg = slash == 0 ? "/" : cg.substr(0, slash);
  }
}

}  // namespace

MemoryLimit ReadMemoryLimit(const std::string& proc_cgroup, const std::string& sysfs) {
  MemoryLimit best;
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  best.bytes = pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : (4ull << 30);
  best.source = "RAM";
  std::istringstream lines(proc_cgroup);
  for (std::string line; std::getline(lines, line);) {
    // "0::/path" (v2) or "4:memory:/path" (v1)
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string cg = line.substr(b + 1);
    if (controllers.empty()) {
      Walk(sysfs, cg, "memory.max", &best);
      Walk(sysfs + "/unified", cg, "memory.max", &best);
    } else if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      Walk(sysfs + "/memory", cg, "memory.limit_in_bytes", &best);
    }
  }
  rlimit rl{};
  if (::getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur < best.bytes) {
    best.bytes = rl.rlim_cur;
    best.source = "RLIMIT_AS (ulimit -v)";
  }
  return best;
}

MemoryLimit ReadMemoryLimit() {
  std::ifstream in("/proc/self/cgroup");
  std::stringstream text;
  text << in.rdbuf();
  return ReadMemoryLimit(text.str(), "/sys/fs/cgroup");
}

uint64_t CheckedCacheBytes(uint64_t requested, std::string* note) {
  note->clear();
  if (requested < kMinCacheBytes) {
    *note = fmt::format("--cache-size {} bytes is below the least czifs runs with: using {} MiB",
                        requested, kMinCacheBytes >> 20);
    return kMinCacheBytes;
  }
  if (requested < kSmallCacheBytes) {
    *note = fmt::format(
        "--cache-size {} KiB holds few tiles: readers may decode the same tiles again and "
        "again (the default is min(1 GiB, RAM/4))",
        requested >> 10);
  }
  return requested;
}

uint64_t DefaultCacheBytes(const MemoryLimit& limit) {
  return std::min<uint64_t>(1ull << 30, limit.bytes / 4);
}

uint64_t DefaultDocumentBytes(const MemoryLimit& limit) {
  return std::min<uint64_t>(1ull << 30, limit.bytes / 4);
}

void TuneAllocator() {
  // Decoded tiles are megabytes each. By default glibc maps every such block
  // fresh from the kernel and unmaps it on free, so each decode pays a page
  // fault and a kernel zeroing per 4 KiB. Keeping them on the heap lets freed
  // tiles be reused. The trim threshold and two arenas (instead of eight per
  // core, one per thread) bound what stays unreturned: W3 streams within the
  // cache budget + 100 MiB (docs/performance.md).
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 16 << 20);
  mallopt(M_ARENA_MAX, 2);
}

bool ParseByteSize(const std::string& text, uint64_t* out) {
  if (text.empty() || !isdigit(static_cast<unsigned char>(text[0]))) return false;
  size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &pos);
  } catch (...) {
    return false;
  }
  const std::string unit = text.substr(pos);
  uint64_t mul;
  if (unit.empty() || unit == "B")
    mul = 1;
  else if (unit == "K" || unit == "k" || unit == "KiB")
    mul = 1ull << 10;
  else if (unit == "M" || unit == "MiB")
    mul = 1ull << 20;
  else if (unit == "G" || unit == "GiB")
    mul = 1ull << 30;
  else
    return false;
  if (v > (UINT64_MAX / mul)) return false;
  *out = v * mul;
  return true;
}

}  // namespace czifs
