// One halving of a computed level (HalvePixels): 2x2 means per sample,
// integers rounded half up, floats exact, odd edges the mean of what is there.
#include "czifs/reduce.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "czifs/czi_types.h"

namespace czifs {
namespace {

template <typename T>
std::vector<T> Halve(const std::vector<T>& src, int64_t w, int64_t h, PixelType type) {
  const int spp = SamplesPerPixel(static_cast<int32_t>(type));
  const int64_t ow = (w + 1) / 2, oh = (h + 1) / 2;
  std::vector<T> out(static_cast<size_t>(ow * oh * spp));
  HalvePixels(reinterpret_cast<const uint8_t*>(src.data()),
              static_cast<size_t>(w * spp) * sizeof(T), w, h, static_cast<int32_t>(type),
              reinterpret_cast<uint8_t*>(out.data()), static_cast<size_t>(ow * spp) * sizeof(T));
  return out;
}

TEST(HalvePixelsTest, IntegersAreTheMeanRoundedHalfUp) {
  // Blocks summing to 5 (1.25), 6 (1.5), 7 (1.75) and 1020 (255).
  const std::vector<uint8_t> src = {1, 1, 1, 1, 1, 2, 255, 255,  //
                                    1, 2, 2, 2, 2, 2, 255, 255};
  EXPECT_EQ(Halve(src, 8, 2, PixelType::kGray8), (std::vector<uint8_t>{1, 2, 2, 255}));
}

TEST(HalvePixelsTest, SixteenBitSumsDoNotOverflow) {
  const std::vector<uint16_t> src = {65535, 65535, 65535, 65534};
  EXPECT_EQ(Halve(src, 2, 2, PixelType::kGray16), (std::vector<uint16_t>{65535}));
}

TEST(HalvePixelsTest, AnOddEdgeIsTheMeanOfThePixelsThere) {
  // 3 x 3: the last column's blocks hold 2 pixels, the corner 1.
  const std::vector<uint16_t> src = {10, 20, 31,  //
                                     30, 40, 60,  //
                                     7,  8,  9};
  EXPECT_EQ(Halve(src, 3, 3, PixelType::kGray16),
            (std::vector<uint16_t>{25, 46,   // (100+2)/4, (91+1)/2
                                   8, 9}));  // (15+1)/2, 9
}

TEST(HalvePixelsTest, FloatsAreTheExactMean) {
  const std::vector<float> src = {0.1f, 0.2f, -3.5f, 1e-8f, 0.3f, 0.4f, 2.0f, 7.0f};
  const std::vector<float> got = Halve(src, 4, 2, PixelType::kGray32Float);
  EXPECT_EQ(got[0], static_cast<float>((double{0.1f} + 0.2f + 0.3f + 0.4f) / 4));
  EXPECT_EQ(got[1], static_cast<float>((-3.5 + double{1e-8f} + 2.0 + 7.0) / 4));
}

TEST(HalvePixelsTest, ColourIsHalvedPerSample) {
  // Two BGR pixels side by side, one row: each sample its own mean.
  const std::vector<uint8_t> src = {0, 100, 255, 1, 101, 250};
  EXPECT_EQ(Halve(src, 2, 1, PixelType::kBgr24), (std::vector<uint8_t>{1, 101, 253}));
  const std::vector<uint16_t> wide = {0, 1000, 65535, 3, 1001, 65535};
  EXPECT_EQ(Halve(wide, 2, 1, PixelType::kBgr48), (std::vector<uint16_t>{2, 1001, 65535}));
}

}  // namespace
}  // namespace czifs
