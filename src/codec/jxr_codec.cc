// JPEG-XR through jxrlib (Debian libjxr).
//
// jxrlib is not robust against damaged streams: a flipped bit can make it
// write out of bounds or crash (seen in our corruption tests). A daemon must
// survive that, so every decode runs in a short-lived child process: the
// child decodes into a shared anonymous mapping and reports through a pipe;
// a crash or a hang in the child becomes a Corruption status in the parent.
// After fork() the child only calls jxrlib, malloc (fork-safe in glibc),
// write(2) and _exit(2).
//
// jxrlib's headers define min/max macros, so they are included last.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "codec_internal.h"
#include "czifs/czi_types.h"

#include <JXRGlue.h>
#undef min
#undef max

namespace czifs {
namespace {

// A decode taking longer than this is treated as a hang of the decoder.
constexpr int kDecodeTimeoutMs = 30'000;

struct FormatMap {
  const GUID* guid;
  int32_t pixel_type;
  int bytes_per_pixel;
  bool swap_rb;  // jxrlib delivers R,G,B; the CZI wants B,G,R
};

const FormatMap kFormats[] = {
    {&GUID_PKPixelFormat8bppGray, 0, 1, false},
    {&GUID_PKPixelFormat16bppGray, 1, 2, false},
    {&GUID_PKPixelFormat32bppGrayFloat, 2, 4, false},
    {&GUID_PKPixelFormat24bppBGR, 3, 3, false},
    {&GUID_PKPixelFormat24bppRGB, 3, 3, true},
    {&GUID_PKPixelFormat48bppRGB, 4, 6, true},
    {&GUID_PKPixelFormat32bppBGRA, 9, 4, false},
    {&GUID_PKPixelFormat96bppRGBFloat, 8, 12, true},
};

enum ChildCode : int32_t {
  kOk = 0,
  kNoStream,
  kNoDecoder,
  kBadHeader,
  kNoFormat,
  kSizeMismatch,
  kUnknownFormat,
  kTypeMismatch,
  kDecodeFailed,
};

struct ChildReport {
  int32_t code = kDecodeFailed;
  int32_t width = 0, height = 0;
  int32_t pixel_type = -1;
  int32_t swap_rb = 0;
};

// Runs in the child: decodes into `out` (stride * padded rows bytes).
ChildReport DecodeInChild(const DecodeRequest& req, uint8_t* out, size_t stride) {
  ChildReport rep;
  WMPStream* stream = nullptr;
  PKImageDecode* dec = nullptr;
  // jxrlib reads but takes a non-const pointer.
  if (CreateWS_Memory(&stream, const_cast<uint8_t*>(req.data.data()), req.data.size()) < 0) {
    rep.code = kNoStream;
    return rep;
  }
  if (PKImageDecode_Create_WMP(&dec) < 0) {
    rep.code = kNoDecoder;
    return rep;
  }
  if (dec->Initialize(dec, stream) < 0) {
    rep.code = kBadHeader;
    return rep;
  }
  PKPixelFormatGUID fmt;
  if (dec->GetPixelFormat(dec, &fmt) < 0) {
    rep.code = kNoFormat;
    return rep;
  }
  I32 w = 0, h = 0;
  dec->GetSize(dec, &w, &h);
  rep.width = w;
  rep.height = h;
  if (w <= 0 || h <= 0 || static_cast<uint32_t>(w) != req.width ||
      static_cast<uint32_t>(h) != req.height) {
    rep.code = kSizeMismatch;
    return rep;
  }
  const FormatMap* map = nullptr;
  for (const auto& f : kFormats) {
    if (IsEqualGUID(*f.guid, fmt)) map = &f;
  }
  if (map == nullptr) {
    rep.code = kUnknownFormat;
    return rep;
  }
  rep.pixel_type = map->pixel_type;
  rep.swap_rb = map->swap_rb;
  if (map->pixel_type != req.pixel_type) {
    rep.code = kTypeMismatch;
    return rep;
  }
  PKRect rect = {0, 0, w, h};
  if (dec->Copy(dec, &rect, out, static_cast<U32>(stride)) < 0) {
    rep.code = kDecodeFailed;
    return rep;
  }
  rep.code = kOk;
  return rep;  // the process exits: no cleanup needed
}

void SwapRb(uint8_t* p, size_t pixels, int bytes_per_sample, int bytes_per_pixel) {
  for (size_t i = 0; i < pixels; ++i, p += bytes_per_pixel) {
    for (int b = 0; b < bytes_per_sample; ++b) std::swap(p[b], p[2 * bytes_per_sample + b]);
  }
}

class Mapping {
 public:
  explicit Mapping(size_t n) : size_(n) {
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    addr_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
  }
  ~Mapping() {
    if (addr_) munmap(addr_, size_);
  }
  uint8_t* get() const { return addr_; }

 private:
  uint8_t* addr_;
  size_t size_;
};

std::string Describe(const ChildReport& rep, const DecodeRequest& req) {
  switch (rep.code) {
    case kNoStream: return "JPEG-XR: cannot create a memory stream";
    case kNoDecoder: return "JPEG-XR: cannot create a decoder";
    case kBadHeader: return "JPEG-XR: the stream header does not parse";
    case kNoFormat: return "JPEG-XR: no pixel format";
    case kSizeMismatch:
      return "JPEG-XR image is " + std::to_string(rep.width) + "x" + std::to_string(rep.height) +
             ", the subblock says " + std::to_string(req.width) + "x" + std::to_string(req.height);
    case kUnknownFormat: return "JPEG-XR pixel format is not supported";
    case kTypeMismatch:
      return "JPEG-XR stream holds " + PixelTypeName(rep.pixel_type) + ", the subblock says " +
             PixelTypeName(req.pixel_type);
    default: return "JPEG-XR: the stream does not decode";
  }
}

}  // namespace

Result<Bitmap> DecodeJpegXr(const DecodeRequest& req, uint64_t expected) {
  const size_t bpp = static_cast<size_t>(BytesPerPixel(req.pixel_type));
  const size_t stride = static_cast<size_t>(req.width) * bpp;
  // jxrlib writes whole 16-row macroblock rows; give it room.
  const size_t padded_rows = (static_cast<size_t>(req.height) + 15) / 16 * 16;
  Mapping out(stride * padded_rows + 4096);
  if (!out.get()) return Status::ResourceExhausted("JPEG-XR: cannot map an output buffer");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return Status::ResourceExhausted(std::string("JPEG-XR: pipe: ") + std::strerror(errno));
  }
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return Status::ResourceExhausted(std::string("JPEG-XR: fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    close(fds[0]);
    ChildReport rep = DecodeInChild(req, out.get(), stride);
    ssize_t ignored = write(fds[1], &rep, sizeof rep);
    (void)ignored;
    _exit(0);
  }
  close(fds[1]);
  ChildReport rep;
  size_t got = 0;
  bool timed_out = false;
  while (got < sizeof rep) {
    pollfd p{fds[0], POLLIN, 0};
    const int r = poll(&p, 1, kDecodeTimeoutMs);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      timed_out = true;
      break;
    }
    const ssize_t n = read(fds[0], reinterpret_cast<char*>(&rep) + got, sizeof rep - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the child died before reporting
    got += static_cast<size_t>(n);
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Status::Corruption("JPEG-XR decoder did not finish within " +
                              std::to_string(kDecodeTimeoutMs / 1000) + " s on this data");
  }
  if (got != sizeof rep) {
    if (WIFSIGNALED(wstatus)) {
      return Status::Corruption("JPEG-XR decoder crashed on this data (signal " +
                                std::to_string(WTERMSIG(wstatus)) + ")");
    }
    return Status::Corruption("JPEG-XR decoder exited without a result");
  }
  if (rep.code != kOk) {
    if (rep.code == kUnknownFormat) return Status::NotSupported(Describe(rep, req));
    return Status::Corruption(Describe(rep, req));
  }
  Bitmap bm{req.pixel_type, req.width, req.height, {}};
  bm.pixels.assign(out.get(), out.get() + expected);
  if (rep.swap_rb) {
    SwapRb(bm.pixels.data(), static_cast<size_t>(req.width) * req.height,
           BytesPerSample(req.pixel_type), static_cast<int>(bpp));
  }
  return bm;
}

}  // namespace czifs
