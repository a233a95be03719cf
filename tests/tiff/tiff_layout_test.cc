#include "czifs/tiff_layout.h"

#include <gtest/gtest.h>
#include <tiffio.h>

#include <cstring>
#include <tuple>

#include "../support/test_util.h"
#include "czifs/czi_types.h"

namespace czifs {
namespace {

std::vector<uint8_t> Pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 31) ^ (i >> 9));
  return v;
}

// Produces the whole file from a layout and a pixel stream.
std::vector<uint8_t> Materialize(const TiffLayout& layout, const std::vector<uint8_t>& pixels,
                                 size_t chunk) {
  std::vector<uint8_t> out(layout.size());
  for (uint64_t off = 0; off < out.size(); off += chunk) {
    size_t produced = 0;
    Status st = layout.Read(
        off, chunk, out.data() + off,
        [&](uint64_t p, size_t n, uint8_t* dst) {
          std::memcpy(dst, pixels.data() + p, n);
          return Status::Ok();
        },
        &produced);
    EXPECT_TRUE(st.ok());
    EXPECT_EQ(produced, std::min<uint64_t>(chunk, out.size() - off));
  }
  return out;
}

class TiffLayoutTest : public ::testing::TestWithParam<int32_t> {};

TEST_P(TiffLayoutTest, LibtiffReadsBackPixelsAndTagsFromComputedLayout) {
  const int32_t pt = GetParam();
  TiffSpec spec;
  spec.width = 301;
  spec.height = 2000;  // several strips
  spec.pixel_type = pt;
  spec.pixels_per_um_x = 2.5;
  spec.pixels_per_um_y = 2.5;
  spec.description = "ImageJ=1.11a\nunit=micron\nspacing=0.75\n";
  auto layout = TiffLayout::Build(spec);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  const size_t row = spec.width * BytesPerPixel(pt);
  EXPECT_EQ((*layout)->pixel_bytes(), row * spec.height);
  const auto pixels = Pattern(row * spec.height);
  // Odd chunk sizes cross piece boundaries at arbitrary places.
  const auto bytes = Materialize(**layout, pixels, 65537);
  EXPECT_EQ(bytes, Materialize(**layout, pixels, 4096));

  testing::TempDir dir;
  testing::WriteFileBytes(dir.File("p.tif"), bytes);
  TIFF* tif = TIFFOpen(dir.File("p.tif").c_str(), "r");
  ASSERT_NE(tif, nullptr);
  uint32_t w = 0, h = 0;
  uint16_t spp = 0, bps = 0, fmt = 0, comp = 0;
  float xres = 0;
  char* desc = nullptr;
  TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
  TIFFGetField(tif, TIFFTAG_COMPRESSION, &comp);
  TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xres);
  TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &desc);
  EXPECT_EQ(w, spec.width);
  EXPECT_EQ(h, spec.height);
  EXPECT_EQ(spp, SamplesPerPixel(pt));
  EXPECT_EQ(bps, BytesPerSample(pt) * 8);
  EXPECT_EQ(fmt, IsFloatPixelType(pt) ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_UINT);
  EXPECT_EQ(comp, COMPRESSION_NONE);
  EXPECT_FLOAT_EQ(xres, 2.5f);
  ASSERT_NE(desc, nullptr);
  EXPECT_EQ(std::string(desc), "ImageJ=1.11a\nunit=micron\nspacing=0.75\n");
  std::vector<uint8_t> line(TIFFScanlineSize(tif));
  ASSERT_EQ(line.size(), row);
  for (uint32_t y = 0; y < h; ++y) {
    ASSERT_EQ(TIFFReadScanline(tif, line.data(), y), 1);
    ASSERT_EQ(0, std::memcmp(line.data(), pixels.data() + y * row, row)) << "row " << y;
  }
  TIFFClose(tif);
}

INSTANTIATE_TEST_SUITE_P(AllPixelTypes, TiffLayoutTest, ::testing::Values(0, 1, 2, 3, 4, 8, 9));

TEST(TiffLayoutTest, PlanesOver4GiBUseBigTiffWithoutMaterializingPixels) {
  TiffSpec spec;
  spec.width = 40000;
  spec.height = 40000;
  spec.pixel_type = 2;  // 6.4 GB
  auto layout = TiffLayout::Build(spec);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  EXPECT_TRUE((*layout)->big_tiff());
  EXPECT_GT((*layout)->size(), 6'400'000'000ull);
  uint8_t head[4];
  size_t produced;
  ASSERT_TRUE((*layout)->Read(0, 4, head, nullptr, &produced).ok());
  EXPECT_EQ(head[0], 'I');
  EXPECT_EQ(head[2], 43);  // BigTIFF magic
}

// Where the pixel stream starts: the first file byte that is a pixel byte.
uint64_t FirstPixelByte(const TiffLayout& layout) {
  for (uint64_t at = 0; at < layout.size(); ++at) {
    if (layout.PixelRange(at, 1).second > 0) return at;
  }
  return layout.size();
}

TEST(TiffLayoutTest, OneImageHasHeaderDirectoryAndTagsBeforeItsPixels) {
  for (const uint32_t side : {10u, 3000u, 40000u}) {  // one strip, many strips, BigTIFF
    TiffSpec spec;
    spec.width = side;
    spec.height = side;
    spec.pixel_type = side == 40000u ? 2 : 1;
    spec.description = std::string(3000, 'd');
    auto layout = TiffLayout::Build(spec);
    ASSERT_TRUE(layout.ok()) << layout.status().ToString();
    const uint64_t first = FirstPixelByte(**layout);
    // Everything after the first pixel byte is pixels: no tag lives there.
    EXPECT_EQ((*layout)->size() - first, (*layout)->pixel_bytes()) << side;
    EXPECT_TRUE((*layout)->FindLiteral(spec.description).value_or(UINT64_MAX) < first) << side;
  }
}

TEST(TiffLayoutTest, AStackHasItsDirectoriesFirstAndItsPagesContiguous) {
  TiffSpec spec;
  spec.width = 20;
  spec.height = 10;
  spec.pixel_type = 1;
  spec.pages = 3;
  spec.description = "ImageJ=1.11a\nimages=3\n";
  auto layout = TiffLayout::Build(spec);
  ASSERT_TRUE(layout.ok());
  const TiffLayout& l = **layout;
  const uint64_t first = FirstPixelByte(l);
  // ImageJ reads page k at first + k * page size: one run of pixels to the end.
  EXPECT_EQ(l.size() - first, l.pixel_bytes());
  EXPECT_EQ(l.PixelRange(first, l.pixel_bytes()).second, l.pixel_bytes());
  EXPECT_LT(l.FindLiteral(spec.description).value_or(UINT64_MAX), first);
  // Every page reads back through libtiff.
  const std::vector<uint8_t> pixels = Pattern(l.pixel_bytes());
  testing::TempDir dir;
  testing::WriteFileBytes(dir.File("s.tif"), Materialize(l, pixels, 4096));
  TIFF* tif = TIFFOpen(dir.File("s.tif").c_str(), "r");
  ASSERT_NE(tif, nullptr);
  EXPECT_EQ(TIFFNumberOfDirectories(tif), 3);
  const size_t page = 20 * 10 * 2;  // Gray16
  std::vector<uint8_t> got(page);
  ASSERT_EQ(TIFFSetDirectory(tif, 2), 1);
  ASSERT_EQ(TIFFReadEncodedStrip(tif, 0, got.data(), static_cast<tmsize_t>(page)),
            static_cast<tmsize_t>(page));
  EXPECT_EQ(got, std::vector<uint8_t>(pixels.begin() + 2 * page, pixels.end()));
  TIFFClose(tif);
}

TEST(TiffLayoutTest, ReadingTheTagsAsTheKernelDoesTouchesNoPixel) {
  // The kernel reads 128 KiB around a reader of the header (mmap), and up
  // to two read-ahead windows past a reader walking a stack's directories.
  // (Images above kInlinePixelBytes: 256 x 256 Gray16 pages.)
  for (const uint32_t pages : {1u, 3u, 2000u}) {
    TiffSpec spec;
    spec.width = 256;
    spec.height = 256;
    spec.pixel_type = 1;
    spec.pages = pages;
    spec.description = std::string(500, 'd');
    auto layout = TiffLayout::Build(spec);
    ASSERT_TRUE(layout.ok()) << layout.status().ToString();
    const uint64_t first = FirstPixelByte(**layout);
    EXPECT_EQ((*layout)->pixel_offset(), first);
    EXPECT_EQ((*layout)->PixelRange(0, 128 << 10).second, 0u) << pages;
    // Where the tags end: the last byte before the pixels that is not zero.
    std::vector<uint8_t> head(first);
    size_t produced = 0;
    ASSERT_TRUE((*layout)->Read(0, first, head.data(), nullptr, &produced).ok());
    uint64_t tags_end = first;
    while (tags_end > 0 && head[tags_end - 1] == 0) --tags_end;
    // Long tags: room for two of the kernel's largest read-ahead windows.
    EXPECT_GE(first, tags_end + (pages > 100 ? 2 * kMaxReadAheadWindow : 0u)) << pages;
  }
}

TEST(TiffLayoutTest, ImagesOfAtMost64KiBHaveTheirPixelsRightAfterTheTags) {
  // 64 x 64 Gray16 (8 KiB), 128 x 256 Gray16 (64 KiB: the limit), and one
  // row more, which gets the gap.
  for (const auto& [width, height, inline_pixels] :
       {std::tuple{64u, 64u, true}, {128u, 256u, true}, {128u, 257u, false}}) {
    TiffSpec spec;
    spec.width = width;
    spec.height = height;
    spec.pixel_type = 1;
    spec.description = std::string(500, 'd');
    auto layout = TiffLayout::Build(spec);
    ASSERT_TRUE(layout.ok()) << layout.status().ToString();
    const uint64_t pixels = uint64_t{width} * height * 2;
    EXPECT_EQ((*layout)->pixel_bytes(), pixels);
    if (inline_pixels) {
      EXPECT_LT((*layout)->pixel_offset(), 4096u) << height;
      EXPECT_LT((*layout)->gap_bytes(), 16u + 2u) << height;
      EXPECT_EQ((*layout)->size(), (*layout)->pixel_offset() + pixels);
    } else {
      EXPECT_GE((*layout)->pixel_offset(), 128u << 10) << height;
    }
  }
}

TEST(TiffLayoutTest, SmallPlanesUseClassicTiff) {
  TiffSpec spec;
  spec.width = 10;
  spec.height = 10;
  spec.pixel_type = 1;
  auto layout = TiffLayout::Build(spec);
  ASSERT_TRUE(layout.ok());
  EXPECT_FALSE((*layout)->big_tiff());
}

TEST(TiffLayoutTest, UnsupportedPixelTypeIsRefused) {
  TiffSpec spec;
  spec.width = 10;
  spec.height = 10;
  spec.pixel_type = 10;
  auto layout = TiffLayout::Build(spec);
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.status().code(), StatusCode::kNotSupported);
}

TEST(TiffLayoutTest, ReadPastEndProducesNothing) {
  TiffSpec spec;
  spec.width = 10;
  spec.height = 10;
  spec.pixel_type = 0;
  auto layout = TiffLayout::Build(spec);
  ASSERT_TRUE(layout.ok());
  uint8_t buf[16];
  size_t produced = 99;
  ASSERT_TRUE((*layout)->Read((*layout)->size(), 16, buf, nullptr, &produced).ok());
  EXPECT_EQ(produced, 0u);
}

TEST(TiffSampleOrderTest, LongRowsOfEveryColourTypeSwapAsPixelByPixel) {
  // Long enough for the 16-byte steps, with tails of every length.
  for (int32_t type : {3, 4, 8, 9}) {
    const size_t bpp = static_cast<size_t>(BytesPerPixel(type));
    const size_t bps = static_cast<size_t>(BytesPerSample(type));
    for (size_t pixels : {1u, 5u, 6u, 17u, 1000u, 1001u}) {
      std::vector<uint8_t> px(pixels * bpp);
      for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 7 + 3);
      std::vector<uint8_t> want = px;
      for (size_t p = 0; p < pixels; ++p) {
        for (size_t b = 0; b < bps; ++b) std::swap(want[p * bpp + b], want[p * bpp + 2 * bps + b]);
      }
      ToTiffSampleOrder(type, px);
      EXPECT_EQ(px, want) << PixelTypeName(type) << ", " << pixels << " pixels";
    }
  }
}

TEST(TiffSampleOrderTest, SwapsBlueAndRedOfEveryPixel) {
  std::vector<uint8_t> bgr = {1, 2, 3, 4, 5, 6};
  ToTiffSampleOrder(3, bgr);
  EXPECT_EQ(bgr, (std::vector<uint8_t>{3, 2, 1, 6, 5, 4}));
  std::vector<uint8_t> bgr48 = {1, 2, 3, 4, 5, 6};
  ToTiffSampleOrder(4, bgr48);
  EXPECT_EQ(bgr48, (std::vector<uint8_t>{5, 6, 3, 4, 1, 2}));
  std::vector<uint8_t> bgra = {1, 2, 3, 4};
  ToTiffSampleOrder(9, bgra);
  EXPECT_EQ(bgra, (std::vector<uint8_t>{3, 2, 1, 4}));
  std::vector<uint8_t> gray = {1, 2, 3};
  ToTiffSampleOrder(0, gray);
  EXPECT_EQ(gray, (std::vector<uint8_t>{1, 2, 3}));
}

}  // namespace
}  // namespace czifs

namespace czifs {
namespace {

TEST(TiffLayoutTest, PagesOfDifferentSizesAreFoundByOffset) {
  auto layout = TiffLayout::FromHead(std::vector<uint8_t>(100, 7), 4096, {10, 30, 5}, false);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  EXPECT_EQ((*layout)->size(), 4096u + 45);
  EXPECT_EQ((*layout)->gap_bytes(), 4096u - 100);
  EXPECT_EQ((*layout)->PageStart(1), 10u);
  EXPECT_EQ((*layout)->PageStart(3), 45u);
  EXPECT_EQ((*layout)->PageOf(9), 0u);
  EXPECT_EQ((*layout)->PageOf(10), 1u);
  EXPECT_EQ((*layout)->PageOf(44), 2u);
  auto equal = TiffLayout::FromHead({}, 8, {6, 6, 6}, false);
  ASSERT_TRUE(equal.ok());
  EXPECT_EQ((*equal)->PageOf(13), 2u);
  EXPECT_EQ((*equal)->PageStart(2), 12u);
}

}  // namespace
}  // namespace czifs
