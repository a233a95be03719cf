// czifs-jxr-helper: decodes JPEG-XR streams read from stdin and writes the
// results to stdout (see jxr_helper_protocol.h), one request at a time, so
// that jxrlib, which can crash on damaged data, never runs inside czifs.
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

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
  for (;;) {
    if (!ReadAll(&head, sizeof head)) return 0;  // czifs closed the socket
    if (head.magic != czifs::kJxrHelperMagic) return 2;
    const int bpp = czifs::BytesPerPixel(head.pixel_type);
    auto bytes = czifs::BitmapBytes(head.pixel_type, head.width, head.height);
    if (bpp == 0 || !bytes.ok() || head.data_size > (1ull << 31)) return 2;
    std::vector<uint8_t> data(head.data_size);
    if (!ReadAll(data.data(), data.size())) return 2;
    const size_t stride = static_cast<size_t>(head.width) * static_cast<size_t>(bpp);
    const size_t rows = (static_cast<size_t>(head.height) + 15) / 16 * 16;
    std::vector<uint8_t> out(stride * rows + 4096);
    rusage used{};
    getrusage(RUSAGE_SELF, &used);
    const rlim_t cpu = static_cast<rlim_t>(used.ru_utime.tv_sec + used.ru_stime.tv_sec + 1) +
                       czifs::JxrCpuLimitSeconds(*bytes);
    const rlimit limit{cpu, RLIM_INFINITY};
    setrlimit(RLIMIT_CPU, &limit);
    czifs::DecodeRequest req{head.pixel_type, 4, head.width, head.height, data};
    const czifs::JxrReport rep = czifs::DecodeJpegXrInProcess(req, out.data(), stride);
    if (!WriteAll(&rep, sizeof rep)) return 1;
    if (rep.code == 0 && !WriteAll(out.data(), *bytes)) return 1;
  }
}
