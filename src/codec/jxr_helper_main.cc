// czifs-jxr-helper: decodes JPEG-XR streams that czifs puts in shared
// memory (fd 3) and asks for on stdin, answering on stdout (see
// jxr_helper_protocol.h), one request at a time, so that jxrlib, which can
// crash on damaged data, never runs inside czifs.
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

#include "czifs/czi_types.h"
#include "jxr_helper_protocol.h"

namespace {

bool ReadAll(void* p, size_t n) {
  auto* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = read(0, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool WriteAll(const void* p, size_t n) {
  const auto* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = write(1, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

// jxrlib leaks on some error paths, after which czifs stops the helper; a
// leak report from it (in sanitizer builds) is noise, not a finding.
extern "C" int __lsan_is_turned_off() { return 1; }

// Serves requests until its input ends. Each decode gets kJxrCpuLimit
// seconds of CPU beyond what the helper has used so far: the kernel stops a
// decoder spinning on damaged data with SIGXCPU.
int main() {
  czifs::JxrRequestHeader head;
  uint8_t* shm = nullptr;  // fd 3, mapped; mapped again when it grew
  uint64_t mapped = 0;
  for (;;) {
    if (!ReadAll(&head, sizeof head)) return 0;  // czifs closed the socket
    if (head.magic != czifs::kJxrHelperMagic) return 2;
    const int bpp = czifs::BytesPerPixel(head.pixel_type);
    auto bytes = czifs::BitmapBytes(head.pixel_type, head.width, head.height);
    if (bpp == 0 || !bytes.ok() || head.data_size > (1ull << 31) ||
        head.data_size > head.out_offset || head.shm_size > (8ull << 30) ||
        head.out_offset > head.shm_size ||
        czifs::JxrOutputBytes(head.width, head.height, static_cast<uint64_t>(bpp)) >
            head.shm_size - head.out_offset) {
      return 2;
    }
    if (head.shm_size != mapped) {
      if (shm != nullptr) munmap(shm, mapped);
      void* m = mmap(nullptr, head.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                     czifs::kJxrSharedMemoryFd, 0);
      if (m == MAP_FAILED) return 2;
      shm = static_cast<uint8_t*>(m);
      mapped = head.shm_size;
    }
    const size_t stride = static_cast<size_t>(head.width) * static_cast<size_t>(bpp);
    rusage used{};
    getrusage(RUSAGE_SELF, &used);
    const rlim_t cpu = static_cast<rlim_t>(used.ru_utime.tv_sec + used.ru_stime.tv_sec + 1) +
                       czifs::JxrCpuLimitSeconds(*bytes);
    const rlimit limit{cpu, RLIM_INFINITY};
    setrlimit(RLIMIT_CPU, &limit);
    czifs::DecodeRequest req{head.pixel_type, 4, head.width, head.height,
                             std::span<const uint8_t>(shm, head.data_size)};
    const czifs::JxrReport rep = czifs::DecodeJpegXrInProcess(req, shm + head.out_offset, stride);
    if (!WriteAll(&rep, sizeof rep)) return 1;
  }
}
