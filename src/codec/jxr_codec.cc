// JPEG-XR through jxrlib (Debian libjxr).
//
// jxrlib is not robust against damaged streams: a flipped bit can make it
// write out of bounds, crash or spin (seen in our corruption tests). A daemon
// must survive that, so czifs never runs jxrlib in its own process: decodes
// are done by helper processes, `czifs-jxr-helper`, started with posix_spawn
// (safe from a multi-threaded process, unlike a bare fork) and talked to over
// a socket. A helper serves one request at a time and is kept for the next
// (starting one costs milliseconds, a tile's decode about as much); after any
// failure it is stopped, never reused. A crash of the helper, or a decode that
// exceeds its CPU-time limit (JxrCpuLimitSeconds) or the wall-clock backstop,
// becomes a Corruption status here. The helper runs DecodeJpegXrInProcess (jxr_decode.cc), the only
// code that links jxrlib.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "codec_internal.h"
#include "czifs/czi_types.h"
#include "czifs/mutex.h"
#include "jxr_helper_protocol.h"

namespace czifs {
namespace {

void SwapRb(uint8_t* p, size_t pixels, int bytes_per_sample, int bytes_per_pixel) {
  for (size_t i = 0; i < pixels; ++i, p += bytes_per_pixel) {
    for (int b = 0; b < bytes_per_sample; ++b) std::swap(p[b], p[2 * bytes_per_sample + b]);
  }
}

std::string Describe(const JxrReport& rep, const DecodeRequest& req) {
  switch (rep.code) {
    case kNoStream:
      return "JPEG-XR: cannot create a memory stream";
    case kNoDecoder:
      return "JPEG-XR: cannot create a decoder";
    case kBadHeader:
      return "JPEG-XR: the stream header does not parse";
    case kNoFormat:
      return "JPEG-XR: no pixel format";
    case kSizeMismatch:
      return fmt::format("JPEG-XR image is {}x{}, the subblock says {}x{}", rep.width, rep.height,
                         req.width, req.height);
    case kUnknownFormat:
      return "JPEG-XR pixel format is not supported";
    case kTypeMismatch:
      return "JPEG-XR stream holds " + PixelTypeName(rep.pixel_type) + ", the subblock says " +
             PixelTypeName(req.pixel_type);
    default:
      return "JPEG-XR: the stream does not decode";
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

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Reads exactly n bytes or fails; gives up when `deadline_ms` passes.
enum class ReadResult { kOk, kEof, kTimeout };
ReadResult ReadFully(int fd, void* p, size_t n, int64_t deadline_ms) {
  auto* c = static_cast<char*>(p);
  while (n > 0) {
    const int64_t left = deadline_ms - NowMs();
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

// One running czifs-jxr-helper: its pid, our end of its socket, and the
// shared memory it decodes in (its fd 3), mapped here too.
struct Helper {
  pid_t pid = -1;
  int fd = -1;
  int shm = -1;
  uint8_t* map = nullptr;
  uint64_t map_size = 0;
  int decodes = 0;
};

// A helper whose shared memory grew past this (a huge tile) is not kept idle.
constexpr uint64_t kMaxIdleSharedMemory = 16ull << 20;

// Grows `h`'s shared memory to hold `bytes` (in steps of 1 MiB).
bool EnsureSharedMemory(Helper& h, uint64_t bytes) {
  if (bytes <= h.map_size) return true;
  const uint64_t size = (bytes + (1u << 20) - 1) & ~uint64_t{(1u << 20) - 1};
  if (ftruncate(h.shm, static_cast<off_t>(size)) != 0) return false;
  void* m = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, h.shm, 0);
  if (m == MAP_FAILED) return false;
  if (h.map != nullptr) munmap(h.map, h.map_size);
  h.map = static_cast<uint8_t*>(m);
  h.map_size = size;
  return true;
}

void CloseHelperFiles(Helper& h) {
  close(h.fd);
  if (h.map != nullptr) munmap(h.map, h.map_size);
  if (h.shm >= 0) close(h.shm);
  h.map = nullptr;
  h.map_size = 0;
}

// A helper serves this many decodes, then is replaced (bounds what a
// damaged stream that decoded "successfully" could have left behind).
constexpr int kMaxDecodesPerHelper = 1000;
// Idle helpers kept for reuse; more are stopped when returned.
constexpr size_t kMaxIdleHelpers = 16;

Result<Helper> SpawnHelper() {
  CZIFS_ASSIGN_OR_RETURN(const std::string path, JxrHelperPath());
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return Status::ResourceExhausted(std::string("JPEG-XR: socketpair failed: ") +
                                     std::strerror(errno));
  }
  // Sealed against shrinking (and further seals) before the helper sees it:
  // a helper taken over by a damaged stream could otherwise truncate it
  // under our mapping, and our next access would kill czifs with SIGBUS.
  const int shm = memfd_create("czifs-jxr", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (shm < 0 || fcntl(shm, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    const int err = errno;
    const char* what = shm < 0 ? "memfd_create failed" : "cannot seal shared memory";
    if (shm >= 0) close(shm);
    close(sv[0]);
    close(sv[1]);
    return Status::ResourceExhausted(std::string("JPEG-XR: ") + what + ": " + std::strerror(err));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, sv[1], 0);
  posix_spawn_file_actions_adddup2(&actions, sv[1], 1);
  posix_spawn_file_actions_adddup2(&actions, shm, kJxrSharedMemoryFd);
  char arg0[] = "czifs-jxr-helper";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  Helper h;
  const int rc = posix_spawn(&h.pid, path.c_str(), &actions, nullptr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    close(shm);
    return Status::ResourceExhausted("JPEG-XR: cannot start " + path + ": " + std::strerror(rc));
  }
  h.fd = sv[0];
  h.shm = shm;
  return h;
}

// Waits for a helper that is ending; returns its wait status.
int Reap(const Helper& h) {
  int wstatus = 0;
  while (waitpid(h.pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  return wstatus;
}

// Stops a helper for good and reaps it; returns its wait status.
int StopHelper(Helper& h) {
  CloseHelperFiles(h);
  kill(h.pid, SIGKILL);
  return Reap(h);
}

// Lets a helper end by itself (end of input) and reaps it.
void EndHelper(Helper h) {
  CloseHelperFiles(h);
  Reap(h);
}

}  // namespace

// Idle helpers, ready for a request. A helper is taken out while it works,
// so each is used by one thread at a time.
struct JxrHelpers::Idle {
  Mutex mu;
  std::vector<Helper> helpers GUARDED_BY(mu);
};

JxrHelpers::JxrHelpers() : idle_(std::make_unique<Idle>()) {}

JxrHelpers::~JxrHelpers() {
  MutexLock lock(&idle_->mu);
  for (Helper& h : idle_->helpers) EndHelper(h);
}

namespace {

Result<Helper> TakeHelper(JxrHelpers* helpers) {
  if (helpers != nullptr) {
    MutexLock lock(&helpers->idle().mu);
    auto& idle = helpers->idle().helpers;
    if (!idle.empty()) {
      Helper h = idle.back();
      idle.pop_back();
      return h;
    }
  }
  return SpawnHelper();
}

void ReturnHelper(JxrHelpers* helpers, Helper h) {
  if (helpers != nullptr && ++h.decodes < kMaxDecodesPerHelper &&
      h.map_size <= kMaxIdleSharedMemory) {
    MutexLock lock(&helpers->idle().mu);
    auto& idle = helpers->idle().helpers;
    if (idle.size() < kMaxIdleHelpers) {
      idle.push_back(h);
      return;
    }
  }
  EndHelper(h);
}

}  // namespace

Result<Bitmap> DecodeJpegXr(const DecodeRequest& req, uint64_t expected) {
  const uint64_t bpp = static_cast<uint64_t>(BytesPerPixel(req.pixel_type));
  // The stream at 0, the pixels after it on a page boundary.
  const uint64_t out_offset = (req.data.size() + 4095) & ~uint64_t{4095};
  const uint64_t need = out_offset + JxrOutputBytes(req.width, req.height, bpp);
  // An idle helper may have died since its last request (killed from
  // outside): then the request cannot be sent and a fresh one is tried.
  Helper h;
  bool sent = false;
  for (int attempt = 0; attempt < 2 && !sent; ++attempt) {
    CZIFS_ASSIGN_OR_RETURN(h, TakeHelper(req.jxr_helpers));
    if (!EnsureSharedMemory(h, need)) {
      StopHelper(h);
      return Status::ResourceExhausted(
          fmt::format("JPEG-XR: no shared memory of {} bytes for the decoder", need));
    }
    std::memcpy(h.map, req.data.data(), req.data.size());
    const JxrRequestHeader head{kJxrHelperMagic, req.pixel_type, req.width, req.height,
                                req.data.size(), out_offset,     h.map_size};
    sent = WriteFully(h.fd, &head, sizeof head);
    if (!sent) StopHelper(h);
  }
  if (!sent) return Status::Corruption("JPEG-XR decoder does not accept requests");
  const int64_t deadline = NowMs() + kJxrWallTimeoutMs;
  JxrReport rep;
  Bitmap bm{req.pixel_type, req.width, req.height, {}};
  const ReadResult got = ReadFully(h.fd, &rep, sizeof rep, deadline);
  if (got == ReadResult::kOk && rep.code == kOk) {
    // The helper is done with it: it writes nothing until it is asked again.
    bm.pixels.resize(expected);
    std::memcpy(bm.pixels.data(), h.map + out_offset, expected);
  }
  if (got == ReadResult::kTimeout) {
    StopHelper(h);
    return Status::Corruption(fmt::format("JPEG-XR decoder did not finish within {} s on this data",
                                          kJxrWallTimeoutMs / 1000));
  }
  if (got == ReadResult::kEof) {
    const int wstatus = StopHelper(h);
    if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGXCPU) {
      return Status::Corruption(
          "JPEG-XR decoder spun on this data (stopped at its CPU-time limit)");
    }
    if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) != SIGKILL) {
      return Status::Corruption(
          fmt::format("JPEG-XR decoder crashed on this data (signal {})", WTERMSIG(wstatus)));
    }
    return Status::Corruption(fmt::format("JPEG-XR decoder exited without a result (status {})",
                                          WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1));
  }
  if (rep.code != kOk) {
    // The helper survived, but jxrlib failed on damaged data: do not reuse it.
    StopHelper(h);
    if (rep.code == kUnknownFormat) return Status::NotSupported(Describe(rep, req));
    return Status::Corruption(Describe(rep, req));
  }
  ReturnHelper(req.jxr_helpers, h);
  if (rep.swap_rb) {
    SwapRb(bm.pixels.data(), static_cast<size_t>(req.width) * req.height,
           BytesPerSample(req.pixel_type), BytesPerPixel(req.pixel_type));
  }
  return bm;
}

}  // namespace czifs
