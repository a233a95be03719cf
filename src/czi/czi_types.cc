#include "czifs/czi_types.h"

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
    case 0:
      return "Gray8";
    case 1:
      return "Gray16";
    case 2:
      return "Gray32Float";
    case 3:
      return "Bgr24";
    case 4:
      return "Bgr48";
    case 8:
      return "Bgr96Float";
    case 9:
      return "Bgra32";
    case 10:
      return "Gray64ComplexFloat";
    case 11:
      return "Bgr192ComplexFloat";
    case 12:
      return "Gray32";
    case 13:
      return "Gray64Float";
    default:
      return "PixelType(" + std::to_string(raw) + ")";
  }
}

int BytesPerPixel(int32_t raw) {
  switch (raw) {
    case 0:
      return 1;
    case 1:
      return 2;
    case 2:
      return 4;
    case 3:
      return 3;
    case 4:
      return 6;
    case 8:
      return 12;
    case 9:
      return 4;
    default:
      return 0;
  }
}

bool IsSupportedPixelType(int32_t raw) { return BytesPerPixel(raw) != 0; }

int SamplesPerPixel(int32_t raw) {
  switch (raw) {
    case 3:
    case 4:
    case 8:
      return 3;
    case 9:
      return 4;
    default:
      return 1;
  }
}

int BytesPerSample(int32_t raw) {
  int spp = SamplesPerPixel(raw);
  return BytesPerPixel(raw) / spp;
}

bool IsFloatPixelType(int32_t raw) { return raw == 2 || raw == 8; }

std::string CompressionName(int32_t raw) {
  switch (raw) {
    case 0:
      return "uncompressed";
    case 1:
      return "JPG";
    case 2:
      return "LZW";
    case 4:
      return "JPEG-XR";
    case 5:
      return "zstd0";
    case 6:
      return "zstd1";
    default:
      if (raw >= 1000) return "System-RAW(" + std::to_string(raw) + ")";
      if (raw >= 100) return "camera-RAW(" + std::to_string(raw) + ")";
      return "Compression(" + std::to_string(raw) + ")";
  }
}

bool IsSupportedCompression(int32_t raw) {
  return raw == 0 || raw == 1 || raw == 4 || raw == 5 || raw == 6;
}

}  // namespace czifs
