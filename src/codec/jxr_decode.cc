// jxrlib's side of JPEG-XR decoding: runs only in czifs-jxr-helper (see
// jxr_codec.cc for why), the only program that links jxrlib.
#include <cstring>

#include "czifs/czi_types.h"
#include "jxr_helper_protocol.h"

// jxrlib's headers define min/max macros, so they are included last.
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

// Releases jxrlib's decoder and stream: a helper decodes many tiles.
struct JxrObjects {
  WMPStream* stream = nullptr;
  PKImageDecode* dec = nullptr;
  ~JxrObjects() {
    if (dec) dec->Release(&dec);
    if (stream) CloseWS_Memory(&stream);
  }
};

// Decodes with jxrlib into `out` (stride * padded rows bytes). Runs only in
// czifs-jxr-helper.
}  // namespace

JxrReport DecodeJpegXrInProcess(const DecodeRequest& req, uint8_t* out, size_t stride) {
  JxrReport rep;
  JxrObjects o;
  // jxrlib reads but takes a non-const pointer.
  if (CreateWS_Memory(&o.stream, const_cast<uint8_t*>(req.data.data()), req.data.size()) < 0) {
    rep.code = kNoStream;
    return rep;
  }
  if (PKImageDecode_Create_WMP(&o.dec) < 0) {
    rep.code = kNoDecoder;
    return rep;
  }
  PKImageDecode* dec = o.dec;
  if (dec->Initialize(dec, o.stream) < 0) {
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
  return rep;
}

}  // namespace czifs
