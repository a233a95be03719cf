#include <fmt/format.h>
#include <zstd.h>

#include <memory>

#include "codec_internal.h"
#include "czifs/czi_types.h"

namespace czifs {
namespace {

struct DctxDeleter {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

// One context per thread: ZSTD_DCtx is not thread-safe, and creating one per
// call costs more than decoding a small tile.
ZSTD_DCtx* ThreadContext() {
  thread_local std::unique_ptr<ZSTD_DCtx, DctxDeleter> ctx(ZSTD_createDCtx());
  return ctx.get();
}

// Decompression target for hi/lo packed frames, reused per thread; never
// initialized (zstd overwrites every byte it reports).
struct Scratch {
  std::unique_ptr<uint8_t[]> data;
  size_t size = 0;
  uint8_t* Get(size_t n) {
    if (n > size) {
      data.reset(new uint8_t[n]);
      size = n;
    }
    return data.get();
  }
};
thread_local Scratch t_scratch;

}  // namespace

Result<Bitmap> DecodeZstd(const DecodeRequest& req, uint64_t expected, bool has_header) {
  std::span<const uint8_t> frame = req.data;
  bool hilo = false;
  if (has_header) {
    if (frame.empty()) return Status::Corruption("zstd1 data is empty");
    const uint8_t header_size = frame[0];
    if (header_size == 1) {
      // no chunks
    } else if (header_size == 3) {
      if (frame.size() < 3) return Status::Corruption("zstd1 header is truncated");
      if (frame[1] != 1) {
        return Status::NotSupported(
            fmt::format("zstd1 header has unknown chunk type {}", frame[1]));
      }
      hilo = (frame[2] & 1) != 0;
    } else {
      return Status::Corruption(
          fmt::format("zstd1 header size {} is neither 1 nor 3", header_size));
    }
    frame = frame.subspan(header_size);
  }
  const unsigned long long content = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (content == ZSTD_CONTENTSIZE_ERROR) {
    return Status::Corruption("data is not a zstd frame");
  }
  if (content != ZSTD_CONTENTSIZE_UNKNOWN && content != expected) {
    return Status::Corruption(fmt::format("zstd frame holds {} bytes, {} expected for {}x{} {}",
                                          content, expected, req.width, req.height,
                                          PixelTypeName(req.pixel_type)));
  }
  if (hilo && BytesPerSample(req.pixel_type) != 2) {
    return Status::NotSupported("hi/lo byte packing on " + PixelTypeName(req.pixel_type) +
                                " (only 16-bit samples can be packed)");
  }
  Bitmap bm{req.pixel_type, req.width, req.height, {}};
  bm.pixels.resize(expected);
  ZSTD_DCtx* ctx = ThreadContext();
  if (ctx == nullptr) return Status::ResourceExhausted("cannot create a zstd context");
  // Packed frames decompress into scratch and interleave into the bitmap in
  // one pass, or stay planar where the caller draws through CopyRow; plain
  // frames decompress straight into it.
  const bool interleave = hilo && !req.planar_hilo;
  bm.planar_hilo = hilo && req.planar_hilo;
  uint8_t* target = interleave ? t_scratch.Get(expected) : bm.pixels.data();
  const size_t n = ZSTD_decompressDCtx(ctx, target, expected, frame.data(), frame.size());
  if (ZSTD_isError(n)) {
    return Status::Corruption(std::string("zstd: ") + ZSTD_getErrorName(n));
  }
  if (n != expected) {
    return Status::Corruption(
        fmt::format("zstd frame decoded to {} bytes, {} expected", n, expected));
  }
  if (interleave) InterleaveHiLo(target, target + expected / 2, expected / 2, bm.pixels.data());
  return bm;
}

}  // namespace czifs
