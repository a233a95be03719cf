// Vocabulary of the CZI format: dimensions, pixel types, compressions.
// Plain values and pure functions: thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace czifs {

// Non-spatial dimensions czifs understands. X and Y are kept apart as the
// subblock rectangle. Order matters: kS..kT name the tree's folders, kH..kA
// the plane-name suffixes in this order.
enum class Dim : uint8_t { kS, kC, kT, kZ, kM, kH, kI, kR, kV, kB, kA };
inline constexpr int kDimCount = 11;
inline constexpr std::array<Dim, 6> kSuffixDims = {Dim::kH, Dim::kI, Dim::kR,
                                                   Dim::kV, Dim::kB, Dim::kA};

char DimLetter(Dim d);
// Returns the dimension for a letter of the directory ("C", "Z", ...), or nullopt.
std::optional<Dim> DimFromLetter(char c);

enum class PixelType : int32_t {
  kGray8 = 0,
  kGray16 = 1,
  kGray32Float = 2,
  kBgr24 = 3,
  kBgr48 = 4,
  kBgr96Float = 8,
  kBgra32 = 9,
  kGray64ComplexFloat = 10,
  kBgr192ComplexFloat = 11,
  kGray32 = 12,
  kGray64Float = 13,
};

// Returns the libCZI name ("Gray16"), or "PixelType(<n>)" for unknown values.
std::string PixelTypeName(int32_t raw);
// Returns bytes per pixel for pixel types czifs can serve, or 0.
int BytesPerPixel(int32_t raw);
// Returns true if czifs can decode, compose and write this pixel type.
bool IsSupportedPixelType(int32_t raw);
// Samples per pixel (1, 3 or 4) and bytes per sample for a supported type.
int SamplesPerPixel(int32_t raw);
int BytesPerSample(int32_t raw);
bool IsFloatPixelType(int32_t raw);

enum class Compression : int32_t {
  kUncompressed = 0,
  kJpg = 1,
  kLzw = 2,
  kJpegXr = 4,
  kZstd0 = 5,
  kZstd1 = 6,
};

// The raw value of an enum as stored in the file (directory entries keep
// raw values: a file may hold ones czifs does not know).
constexpr int32_t Raw(PixelType t) { return static_cast<int32_t>(t); }
constexpr int32_t Raw(Compression c) { return static_cast<int32_t>(c); }

// Returns "zstd1", "JPEG-XR", ... or "Compression(<n>)" / "System-RAW(<n>)".
std::string CompressionName(int32_t raw);
bool IsSupportedCompression(int32_t raw);

}  // namespace czifs
