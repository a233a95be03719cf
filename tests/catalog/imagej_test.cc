// ImageJ's descriptions and private tags, as czifs writes them.
#include "czifs/imagej.h"

#include <gtest/gtest.h>

#include <string>

#include "czifs/tiff_layout.h"

namespace czifs {
namespace {

TEST(ImageJDescriptionTest, ACalibratedStackSaysMicronAndItsSpacing) {
  EXPECT_EQ(ImageJDescription(true, 0.75), "ImageJ=1.11a\nunit=micron\nspacing=0.75\n");
}

TEST(ImageJDescriptionTest, ADisplayRangeStartingAtMinusZeroSaysZero) {
  const std::string d = ImageJDescription(true, std::nullopt, std::make_pair(-0.0, 255.0));
  EXPECT_NE(d.find("min=0\nmax=255\n"), std::string::npos) << d;
}

TEST(ImageJDescriptionTest, TheHyperstackTellsImageJTheFrameInterval) {
  EXPECT_NE(ImageJHyperstackDescription(true, 0.5, 1, 2, 3, true, 33.4).find("finterval=33.4\n"),
            std::string::npos);
  EXPECT_EQ(ImageJHyperstackDescription(true, 0.5, 1, 2, 3, true).find("finterval"),
            std::string::npos);
  EXPECT_EQ(ImageJHyperstackDescription(true, 0.5, 1, 2, 1, true, 33.4).find("finterval"),
            std::string::npos);
}

TEST(ImageJTagsTest, ImageJMetadataHoldsLabelsAsUtf16RangesAndLuts) {
  TiffSpec spec;
  spec.width = 4;
  spec.height = 2;
  spec.pixel_type = 1;  // Gray16
  spec.pages = 2;
  ImageJExtras extras;
  extras.labels = {"DAPI", "\xC2\xB5-Tub \xF0\x9F\x94\xAC\xFF"};  // µ, a U+1F52C, a stray byte
  extras.ranges = {{10, 400}, {0, 4095}};
  extras.colors = {0x0000FF, 0x00FF00};
  ImageJTags tags = EncodeImageJExtras(extras);
  spec.ij_metadata = std::move(tags.bytes);
  spec.ij_metadata_counts = std::move(tags.counts);
  auto layout = TiffLayout::Build(spec);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  auto utf16le = [](std::u16string s) {
    std::string out;
    for (char16_t c : s) out += {static_cast<char>(c & 0xFF), static_cast<char>(c >> 8)};
    return out;
  };
  // "IJIJ" little-endian, then the labels, then the ranges and the LUTs.
  EXPECT_TRUE((*layout)->FindLiteral("JIJIlbal"));
  EXPECT_TRUE((*layout)->FindLiteral(utf16le(u"DAPI")));
  EXPECT_TRUE((*layout)->FindLiteral(utf16le(u"\u00B5-Tub \U0001F52C?")));
  double range[4] = {10, 400, 0, 4095};
  EXPECT_TRUE((*layout)->FindLiteral(std::string(reinterpret_cast<const char*>(range), 32)));
  std::string green_lut(256, '\0');
  for (int i = 0; i < 256; ++i) green_lut[static_cast<size_t>(i)] = static_cast<char>(i);
  EXPECT_TRUE((*layout)->FindLiteral(std::string(256, '\0') + green_lut + std::string(256, '\0')));
}

}  // namespace
}  // namespace czifs
