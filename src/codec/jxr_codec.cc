// JPEG-XR through jxrlib (Debian libjxr). jxrlib's headers define many
// Windows-style macros, so they stay confined to this file.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "codec_internal.h"
#include "czifs/czi_types.h"

// Last: it defines min/max macros.
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

class Decoder {
 public:
  ~Decoder() {
    if (decoder_) decoder_->Release(&decoder_);
    if (stream_) stream_->Close(&stream_);
  }
  PKImageDecode* decoder_ = nullptr;
  WMPStream* stream_ = nullptr;
};

void SwapRb(uint8_t* p, size_t pixels, int bytes_per_sample, int bytes_per_pixel) {
  for (size_t i = 0; i < pixels; ++i, p += bytes_per_pixel) {
    for (int b = 0; b < bytes_per_sample; ++b) std::swap(p[b], p[2 * bytes_per_sample + b]);
  }
}

}  // namespace

Result<Bitmap> DecodeJpegXr(const DecodeRequest& req, uint64_t expected) {
  Decoder d;
  // jxrlib reads but takes a non-const pointer.
  if (CreateWS_Memory(&d.stream_, const_cast<uint8_t*>(req.data.data()), req.data.size()) < 0) {
    return Status::ResourceExhausted("JPEG-XR: cannot create a memory stream");
  }
  if (PKImageDecode_Create_WMP(&d.decoder_) < 0) {
    return Status::ResourceExhausted("JPEG-XR: cannot create a decoder");
  }
  if (d.decoder_->Initialize(d.decoder_, d.stream_) < 0) {
    return Status::Corruption("JPEG-XR: the stream header does not parse");
  }
  PKPixelFormatGUID fmt;
  if (d.decoder_->GetPixelFormat(d.decoder_, &fmt) < 0) {
    return Status::Corruption("JPEG-XR: no pixel format");
  }
  I32 w = 0, h = 0;
  d.decoder_->GetSize(d.decoder_, &w, &h);
  if (w <= 0 || h <= 0 || static_cast<uint32_t>(w) != req.width ||
      static_cast<uint32_t>(h) != req.height) {
    return Status::Corruption("JPEG-XR image is " + std::to_string(w) + "x" + std::to_string(h) +
                              ", the subblock says " + std::to_string(req.width) + "x" +
                              std::to_string(req.height));
  }
  const FormatMap* map = nullptr;
  for (const auto& f : kFormats) {
    if (IsEqualGUID(*f.guid, fmt)) map = &f;
  }
  if (map == nullptr) return Status::NotSupported("JPEG-XR pixel format is not supported");
  if (map->pixel_type != req.pixel_type) {
    return Status::Corruption("JPEG-XR stream holds " + PixelTypeName(map->pixel_type) +
                              ", the subblock says " + PixelTypeName(req.pixel_type));
  }
  Bitmap bm{req.pixel_type, req.width, req.height, {}};
  const size_t stride = static_cast<size_t>(req.width) * map->bytes_per_pixel;
  // jxrlib writes whole 16-row macroblock rows; give it room and trim after.
  const size_t padded_rows = (static_cast<size_t>(req.height) + 15) / 16 * 16;
  bm.pixels.resize(stride * padded_rows);
  PKRect rect = {0, 0, w, h};
  if (d.decoder_->Copy(d.decoder_, &rect, bm.pixels.data(), static_cast<U32>(stride)) < 0) {
    return Status::Corruption("JPEG-XR: the stream does not decode");
  }
  bm.pixels.resize(expected);
  if (map->swap_rb) {
    SwapRb(bm.pixels.data(), static_cast<size_t>(req.width) * req.height,
           BytesPerSample(req.pixel_type), map->bytes_per_pixel);
  }
  return bm;
}

}  // namespace czifs
