#include "czifs/czi_types.h"

#include <fmt/format.h>

namespace czifs {

char DimLetter(Dim d) {
  static constexpr char kLetters[kDimCount] = {'S', 'C', 'T', 'Z', 'M', 'H',
                                               'I', 'R', 'V', 'B', 'A'};
  return kLetters[static_cast<int>(d)];
}

std::optional<Dim> DimFromLetter(char c) {
  for (int i = 0; i < kDimCount; ++i) {
    if (DimLetter(static_cast<Dim>(i)) == c) return static_cast<Dim>(i);
  }
  return std::nullopt;
}

std::string PixelTypeName(int32_t raw) {
  switch (raw) {
    case Raw(PixelType::kGray8):
      return "Gray8";
    case Raw(PixelType::kGray16):
      return "Gray16";
    case Raw(PixelType::kGray32Float):
      return "Gray32Float";
    case Raw(PixelType::kBgr24):
      return "Bgr24";
    case Raw(PixelType::kBgr48):
      return "Bgr48";
    case Raw(PixelType::kBgr96Float):
      return "Bgr96Float";
    case Raw(PixelType::kBgra32):
      return "Bgra32";
    case Raw(PixelType::kGray64ComplexFloat):
      return "Gray64ComplexFloat";
    case Raw(PixelType::kBgr192ComplexFloat):
      return "Bgr192ComplexFloat";
    case Raw(PixelType::kGray32):
      return "Gray32";
    case Raw(PixelType::kGray64Float):
      return "Gray64Float";
    default:
      return fmt::format("PixelType({})", raw);
  }
}

int BytesPerPixel(int32_t raw) {
  switch (raw) {
    case Raw(PixelType::kGray8):
      return 1;
    case Raw(PixelType::kGray16):
      return 2;
    case Raw(PixelType::kGray32Float):
      return 4;
    case Raw(PixelType::kBgr24):
      return 3;
    case Raw(PixelType::kBgr48):
      return 6;
    case Raw(PixelType::kBgr96Float):
      return 12;
    case Raw(PixelType::kBgra32):
      return 4;
    default:
      return 0;
  }
}

bool IsSupportedPixelType(int32_t raw) { return BytesPerPixel(raw) != 0; }

int SamplesPerPixel(int32_t raw) {
  switch (raw) {
    case Raw(PixelType::kBgr24):
    case Raw(PixelType::kBgr48):
    case Raw(PixelType::kBgr96Float):
      return 3;
    case Raw(PixelType::kBgra32):
      return 4;
    default:
      return 1;
  }
}

int BytesPerSample(int32_t raw) {
  int spp = SamplesPerPixel(raw);
  return BytesPerPixel(raw) / spp;
}

bool IsFloatPixelType(int32_t raw) {
  return raw == Raw(PixelType::kGray32Float) || raw == Raw(PixelType::kBgr96Float);
}

std::string CompressionName(int32_t raw) {
  switch (raw) {
    case Raw(Compression::kUncompressed):
      return "uncompressed";
    case Raw(Compression::kJpg):
      return "JPG";
    case Raw(Compression::kLzw):
      return "LZW";
    case Raw(Compression::kJpegXr):
      return "JPEG-XR";
    case Raw(Compression::kZstd0):
      return "zstd0";
    case Raw(Compression::kZstd1):
      return "zstd1";
    default:
      if (raw >= 1000) return fmt::format("System-RAW({})", raw);
      if (raw >= 100) return fmt::format("camera-RAW({})", raw);
      return fmt::format("Compression({})", raw);
  }
}

bool IsSupportedCompression(int32_t raw) {
  switch (raw) {
    case Raw(Compression::kUncompressed):
    case Raw(Compression::kJpg):
    case Raw(Compression::kJpegXr):
    case Raw(Compression::kZstd0):
    case Raw(Compression::kZstd1):
      return true;
    default:
      return false;
  }
}

}  // namespace czifs
