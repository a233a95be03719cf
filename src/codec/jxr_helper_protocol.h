// The protocol between czifs and czifs-jxr-helper. Its stdin and stdout are
// one socket, fd 3 a shared memory file (memfd) czifs sized for the request;
// requests one after another, until czifs closes the socket.
// Request: JxrRequestHeader on the socket; the JPEG-XR stream is in the
// shared memory at 0 (data_size bytes). The helper decodes into the shared
// memory at out_offset (JxrOutputBytes: rows padded to 16, as jxrlib writes
// them), then replies JxrReport on the socket; if code == 0 the pixels are
// there, width * BytesPerPixel bytes a row (jxrlib's sample order; swap_rb
// says whether R and B must be swapped for the CZI's B,G,R). The pixels and
// the stream never cross the socket: no copies through the kernel.
#pragma once

#include <cstddef>
#include <cstdint>

#include "czifs/codec.h"
#include "czifs/status.h"

namespace czifs {

inline constexpr uint32_t kJxrHelperMagic = 0x32584A43;  // "CJX2"
inline constexpr int kJxrSharedMemoryFd = 3;

struct JxrRequestHeader {
  uint32_t magic;
  int32_t pixel_type;
  uint32_t width;
  uint32_t height;
  uint64_t data_size;
  uint64_t out_offset;  // where the pixels go in the shared memory
  uint64_t shm_size;    // the shared memory's size now (it only grows)
};

// Bytes the helper writes at out_offset for a width x height image of `bpp`
// bytes a pixel: jxrlib writes rows padded to a multiple of 16, and a little
// past them.
inline uint64_t JxrOutputBytes(uint64_t width, uint64_t height, uint64_t bpp) {
  return width * bpp * ((height + 15) / 16 * 16) + 4096;
}

// CPU seconds a helper may spend on one decode before the kernel stops it
// (SIGXCPU): jxrlib decodes well over 20 MB/s, so this is generous for valid
// data and bounds a decoder spinning on damaged data whatever the machine's
// load. The caller's wall-clock timeout (kJxrWallTimeoutMs) is a backstop.
inline uint64_t JxrCpuLimitSeconds(uint64_t output_bytes) { return 5 + output_bytes / (16u << 20); }
inline constexpr int kJxrWallTimeoutMs = 120'000;

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

struct JxrReport {
  int32_t code = -1;  // 0 = decoded
  int32_t width = 0, height = 0;
  int32_t pixel_type = -1;
  int32_t swap_rb = 0;
};

// Decodes with jxrlib in this process into `out` (stride * 16-row-padded
// height bytes). Only czifs-jxr-helper calls this.
JxrReport DecodeJpegXrInProcess(const DecodeRequest& req, uint8_t* out, size_t stride);

// Returns the path of czifs-jxr-helper: $CZIFS_JXR_HELPER, next to the
// running executable (or one folder up, or ../libexec/czifs), or the build tree.
Result<std::string> JxrHelperPath();

}  // namespace czifs
