// JPEG-XR through jxrlib (Debian libjxr).
//
// jxrlib is not robust against damaged streams: a flipped bit can make it
// write out of bounds, crash or spin (seen in our corruption tests). A daemon
// must survive that, so czifs never runs jxrlib in its own process: every
// decode is done by a helper process, `czifs-jxr-helper`, started with
// posix_spawn (safe from a multi-threaded process, unlike a bare fork) and
// fed through a socket and a pipe. A crash of the helper, or a decode that
// exceeds its CPU-time limit (JxrCpuLimitSeconds) or the wall-clock backstop,
// becomes a Corruption status here. The helper runs DecodeJpegXrInProcess below.
//
// jxrlib's headers define min/max macros, so they are included last.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "codec_internal.h"
#include "jxr_helper_protocol.h"
#include "czifs/czi_types.h"

#include <JXRGlue.h>
#undef min
#undef max

namespace czifs {
namespace {

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

// JxrReport::code values.
enum JxrCode : int32_t {
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


// Decodes with jxrlib into `out` (stride * padded rows bytes). Runs only in
// czifs-jxr-helper.
JxrReport DecodeWithJxrlib(const DecodeRequest& req, uint8_t* out, size_t stride) {
  JxrReport rep;
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

std::string Describe(const JxrReport& rep, const DecodeRequest& req) {
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

Result<std::string> JxrHelperPath() {
  static const Result<std::string> path = []() -> Result<std::string> {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("CZIFS_JXR_HELPER")) candidates.push_back(env);
    char exe[4096];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
      exe[n] = '\0';
      std::string dir(exe);
      dir = dir.substr(0, dir.rfind('/'));
      candidates.push_back(dir + "/czifs-jxr-helper");
      candidates.push_back(dir + "/../czifs-jxr-helper");
      candidates.push_back(dir + "/../libexec/czifs/czifs-jxr-helper");
    }
#ifdef CZIFS_JXR_HELPER_BUILD_PATH
    candidates.push_back(CZIFS_JXR_HELPER_BUILD_PATH);
#endif
    for (const auto& c : candidates) {
      if (access(c.c_str(), X_OK) == 0) return c;
    }
    std::string looked;
    for (const auto& c : candidates) looked += " " + c;
    return Status::NotSupported("JPEG-XR needs czifs-jxr-helper, not found (looked at" + looked +
                                "; set CZIFS_JXR_HELPER)");
  }();
  return path;
}

namespace {

// Sends on a socket without SIGPIPE if the helper died.
bool WriteFully(int fd, const void* p, size_t n) {
  const auto* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads exactly n bytes or fails; gives up when `deadline_ms` passes.
enum class ReadResult { kOk, kEof, kTimeout };
ReadResult ReadFully(int fd, void* p, size_t n, int64_t deadline_ms) {
  auto* c = static_cast<char*>(p);
  while (n > 0) {
    const int64_t left =
        deadline_ms - std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
    if (left <= 0) return ReadResult::kTimeout;
    pollfd pfd{fd, POLLIN, 0};
    const int r = poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left, INT32_MAX)));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return ReadResult::kTimeout;
    const ssize_t got = read(fd, c, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return ReadResult::kEof;
    c += got;
    n -= static_cast<size_t>(got);
  }
  return ReadResult::kOk;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

JxrReport DecodeJpegXrInProcess(const DecodeRequest& req, uint8_t* out, size_t stride) {
  return DecodeWithJxrlib(req, out, stride);
}

Result<Bitmap> DecodeJpegXr(const DecodeRequest& req, uint64_t expected) {
  CZIFS_ASSIGN_OR_RETURN(const std::string helper, JxrHelperPath());
  int in[2], out[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) {
    return Status::ResourceExhausted("JPEG-XR: socketpair failed");
  }
  Fd in_r{in[0]}, in_w{in[1]};
  if (pipe2(out, O_CLOEXEC) != 0) return Status::ResourceExhausted("JPEG-XR: pipe failed");
  Fd out_r{out[0]}, out_w{out[1]};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
  char arg0[] = "czifs-jxr-helper";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, helper.c_str(), &actions, nullptr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return Status::ResourceExhausted("JPEG-XR: cannot start " + helper + ": " + std::strerror(rc));
  }
  close(in_r.fd);
  in_r.fd = -1;
  close(out_w.fd);
  out_w.fd = -1;
  // Request: a fixed header, then the stream. The helper reads it all before
  // it writes, so writing first and reading after cannot deadlock.
  const JxrRequestHeader head{kJxrHelperMagic, req.pixel_type, req.width, req.height,
                              static_cast<uint64_t>(req.data.size())};
  const bool sent = WriteFully(in_w.fd, &head, sizeof head) &&
                    WriteFully(in_w.fd, req.data.data(), req.data.size());
  close(in_w.fd);
  in_w.fd = -1;
  const int64_t deadline =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count() +
      kJxrWallTimeoutMs;
  JxrReport rep;
  Bitmap bm{req.pixel_type, req.width, req.height, {}};
  ReadResult got = sent ? ReadFully(out_r.fd, &rep, sizeof rep, deadline) : ReadResult::kEof;
  if (got == ReadResult::kOk && rep.code == kOk) {
    bm.pixels.resize(expected);
    got = ReadFully(out_r.fd, bm.pixels.data(), expected, deadline);
  }
  if (got == ReadResult::kTimeout) kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (got == ReadResult::kTimeout) {
    return Status::Corruption("JPEG-XR decoder did not finish within " +
                              std::to_string(kJxrWallTimeoutMs / 1000) + " s on this data");
  }
  if (got == ReadResult::kEof) {
    if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGXCPU) {
      return Status::Corruption("JPEG-XR decoder spun on this data (stopped at its CPU-time limit)");
    }
    if (WIFSIGNALED(wstatus)) {
      return Status::Corruption("JPEG-XR decoder crashed on this data (signal " +
                                std::to_string(WTERMSIG(wstatus)) + ")");
    }
    return Status::Corruption("JPEG-XR decoder exited without a result (status " +
                              std::to_string(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1) + ")");
  }
  if (rep.code != kOk) {
    if (rep.code == kUnknownFormat) return Status::NotSupported(Describe(rep, req));
    return Status::Corruption(Describe(rep, req));
  }
  if (rep.swap_rb) {
    SwapRb(bm.pixels.data(), static_cast<size_t>(req.width) * req.height,
           BytesPerSample(req.pixel_type), BytesPerPixel(req.pixel_type));
  }
  return bm;
}

}  // namespace czifs
