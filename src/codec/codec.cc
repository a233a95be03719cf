#include "czifs/codec.h"

#include <fmt/format.h>
#include <zstd.h>

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "codec_internal.h"
#include "czifs/checked.h"
#include "czifs/czi_types.h"

namespace czifs {

size_t Bitmap::stride() const { return static_cast<size_t>(width) * BytesPerPixel(pixel_type); }

void Bitmap::CopyRow(uint32_t y, uint32_t x, uint32_t count, uint8_t* out) const {
  const size_t bpp = static_cast<size_t>(BytesPerPixel(pixel_type));
  const size_t at = (static_cast<size_t>(y) * width + x) * bpp;
  if (!planar_hilo) {
    std::memcpy(out, pixels.data() + at, count * bpp);
    return;
  }
  // Sample k of the bitmap: low byte at k, high byte at k + samples.
  const size_t samples = pixels.size() / 2;
  InterleaveHiLo(pixels.data() + at / 2, pixels.data() + samples + at / 2, count * bpp / 2, out);
}

Result<uint64_t> BitmapBytes(int32_t pixel_type, uint64_t width, uint64_t height) {
  const int bpp = BytesPerPixel(pixel_type);
  if (bpp == 0) {
    return Status::NotSupported("pixel type " + PixelTypeName(pixel_type) + " is not supported");
  }
  auto bytes = CheckedMul3<uint64_t>(width, height, static_cast<uint64_t>(bpp));
  if (!bytes || *bytes > kMaxDecodedSubblockBytes) {
    return Status::ResourceExhausted(
        fmt::format("a {}x{} {} subblock exceeds the decode limit of {} MiB", width, height,
                    PixelTypeName(pixel_type), kMaxDecodedSubblockBytes >> 20));
  }
  return *bytes;
}

void InterleaveHiLo(const uint8_t* lo, const uint8_t* hi, size_t samples, uint8_t* out) {
  size_t k = 0;
#if defined(__SSE2__)
  for (; k + 16 <= samples; k += 16) {
    const __m128i l = _mm_loadu_si128(reinterpret_cast<const __m128i*>(lo + k));
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hi + k));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * k), _mm_unpacklo_epi8(l, h));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * k + 16), _mm_unpackhi_epi8(l, h));
  }
#endif
  for (; k < samples; ++k) {
    out[2 * k] = lo[k];
    out[2 * k + 1] = hi[k];
  }
}

namespace {

bool HasJpegXrSignature(std::span<const uint8_t> d) {
  return d.size() >= 4 && d[0] == 'I' && d[1] == 'I' && d[2] == 0xBC && d[3] == 0x01;
}
bool HasJpgSignature(std::span<const uint8_t> d) {
  return d.size() >= 2 && d[0] == 0xFF && d[1] == 0xD8;
}

Result<Bitmap> CopyUncompressed(const DecodeRequest& req, uint64_t expected) {
  if (req.data.size() < expected) {
    return Status::Corruption(
        fmt::format("uncompressed data holds {} bytes, {} expected for {}x{} {}", req.data.size(),
                    expected, req.width, req.height, PixelTypeName(req.pixel_type)));
  }
  Bitmap bm{req.pixel_type, req.width, req.height, {}};
  bm.pixels.assign(req.data.begin(), req.data.begin() + static_cast<ptrdiff_t>(expected));
  return bm;
}

}  // namespace

Result<Bitmap> DecodeSubblock(const DecodeRequest& req, DecodeNotes* notes) {
  if (!IsSupportedPixelType(req.pixel_type)) {
    return Status::NotSupported("pixel type " + PixelTypeName(req.pixel_type) +
                                " is not supported");
  }
  CZIFS_ASSIGN_OR_RETURN(const uint64_t expected,
                         BitmapBytes(req.pixel_type, req.width, req.height));
  switch (req.compression) {
    case Raw(Compression::kUncompressed):
      return CopyUncompressed(req, expected);
    case Raw(Compression::kZstd0):
      return DecodeZstd(req, expected, /*has_header=*/false);
    case Raw(Compression::kZstd1):
      return DecodeZstd(req, expected, /*has_header=*/true);
    case Raw(Compression::kJpegXr):
    case Raw(Compression::kJpg): {
      const bool jxr = req.compression == Raw(Compression::kJpegXr);
      const bool signed_ok = jxr ? HasJpegXrSignature(req.data) : HasJpgSignature(req.data);
      if (!signed_ok && req.data.size() == expected) {
        // ZEN tolerates this: the label says compressed, the bytes are raw pixels.
        if (notes) notes->raw_data_in_compressed_label = true;
        return CopyUncompressed(req, expected);
      }
      if (!signed_ok) {
        return Status::Corruption(fmt::format("{} data lacks the format signature ({} bytes)",
                                              jxr ? "JPEG-XR" : "JPG", req.data.size()));
      }
      return jxr ? DecodeJpegXr(req, expected) : DecodeJpg(req, expected);
    }
    default:
      return Status::NotSupported("compression " + CompressionName(req.compression) +
                                  " is not supported");
  }
}

std::string CodecLibraryVersions() {
  return std::string("zstd ") + ZSTD_versionString() + "\nlibjxr " CZIFS_JXR_VERSION "\n";
}

}  // namespace czifs
