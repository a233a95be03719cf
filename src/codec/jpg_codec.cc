#include <fmt/format.h>
#include <turbojpeg.h>

#include "codec_internal.h"
#include "czifs/czi_types.h"

namespace czifs {
namespace {

struct TjHandle {
  tjhandle h = tjInitDecompress();
  ~TjHandle() {
    if (h) tjDestroy(h);
  }
};

}  // namespace

Result<Bitmap> DecodeJpg(const DecodeRequest& req, uint64_t expected) {
  if (req.pixel_type != Raw(PixelType::kGray8) && req.pixel_type != Raw(PixelType::kBgr24)) {
    return Status::NotSupported("JPG subblocks of " + PixelTypeName(req.pixel_type) +
                                " are not supported (only Gray8 and Bgr24)");
  }
  TjHandle tj;  // one per call: handles are not shared between threads
  if (!tj.h) return Status::ResourceExhausted("JPG: cannot create a decoder");
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  auto* src = const_cast<unsigned char*>(req.data.data());
  if (tjDecompressHeader3(tj.h, src, req.data.size(), &w, &h, &subsamp, &colorspace) != 0) {
    return Status::Corruption(std::string("JPG header: ") + tjGetErrorStr2(tj.h));
  }
  if (w <= 0 || h <= 0 || static_cast<uint32_t>(w) != req.width ||
      static_cast<uint32_t>(h) != req.height) {
    return Status::Corruption(
        fmt::format("JPG image is {}x{}, the subblock says {}x{}", w, h, req.width, req.height));
  }
  Bitmap bm{req.pixel_type, req.width, req.height, {}};
  bm.pixels.resize(expected);
  const int format = req.pixel_type == Raw(PixelType::kGray8) ? TJPF_GRAY : TJPF_BGR;
  if (tjDecompress2(tj.h, src, req.data.size(), bm.pixels.data(), w, 0, h, format,
                    TJFLAG_ACCURATEDCT) != 0) {
    if (tjGetErrorCode(tj.h) == TJERR_FATAL) {
      return Status::Corruption(std::string("JPG: ") + tjGetErrorStr2(tj.h));
    }
  }
  return bm;
}

}  // namespace czifs
