// The pyramidal TIFF's layout, read back by libtiff: tiles where the
// directories say, SubIFDs for the reduced levels, a slide's levels in the
// main chain too, BigTIFF past 4 GiB, directories before every pixel.
#include "czifs/pyramid_tiff.h"

#include <gtest/gtest.h>
#include <tiffio.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "../support/test_util.h"
#include "czifs/czi_types.h"

namespace czifs {
namespace {

// The whole file, the pixel stream byte k being (k * 7) ^ (k >> 11).
std::vector<uint8_t> Materialize(const TiffLayout& layout) {
  std::vector<uint8_t> out(layout.size());
  size_t produced = 0;
  const Status st = layout.Read(
      0, out.size(), out.data(),
      [](uint64_t p, size_t n, uint8_t* dst) {
        for (size_t i = 0; i < n; ++i) {
          dst[i] = static_cast<uint8_t>(((p + i) * 7) ^ ((p + i) >> 11));
        }
        return Status::Ok();
      },
      &produced);
  EXPECT_TRUE(st.ok() && produced == out.size());
  return out;
}

PyramidTiffSpec ThreeLevels(int32_t pixel_type, uint32_t planes) {
  PyramidTiffSpec spec;
  spec.pixel_type = pixel_type;
  spec.planes = planes;
  spec.tile = 128;
  spec.levels = {{700, 300, 1}, {350, 150, 2}, {175, 75, 4}};
  spec.description = "<OME/>";
  spec.um_per_pixel_x = spec.um_per_pixel_y = 0.5;
  return spec;
}

// Checks the directory libtiff is at: its size, and each tile's bytes from
// pixel-stream byte `first` on. Returns the bytes of its tiles.
uint64_t ExpectLevel(TIFF* tif, const PyramidTiffSpec& spec, size_t level, uint64_t first,
                     const std::vector<uint8_t>& file, uint64_t pixel_start) {
  uint32_t w = 0, h = 0, tw = 0, th = 0;
  TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
  TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
  TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
  EXPECT_EQ(w, spec.levels[level].width);
  EXPECT_EQ(h, spec.levels[level].height);
  EXPECT_EQ(std::make_pair(tw, th), PyramidTileShape(spec));
  EXPECT_TRUE(tw <= std::max(w, 32u) && th <= std::max(h, 32u)) << "a tile larger than its image";
  EXPECT_EQ(tw % 32 + th % 32, 0u);  // so a tile is a whole number of KiB
  EXPECT_EQ(tw * th % 1024, 0u);
  EXPECT_TRUE(TIFFIsTiled(tif));
  const tmsize_t tile_bytes = TIFFTileSize(tif);
  EXPECT_EQ(static_cast<uint64_t>(tile_bytes), uint64_t{tw} * th * BytesPerPixel(spec.pixel_type));
  EXPECT_EQ(TIFFNumberOfTiles(tif), PyramidTileCount(spec, level));
  std::vector<uint8_t> got(static_cast<size_t>(tile_bytes));
  for (uint32_t k = 0; k < TIFFNumberOfTiles(tif); ++k) {
    EXPECT_EQ(TIFFReadEncodedTile(tif, k, got.data(), tile_bytes), tile_bytes);
    const uint64_t at = pixel_start + first + k * static_cast<uint64_t>(tile_bytes);
    EXPECT_EQ(std::memcmp(got.data(), file.data() + at, got.size()), 0) << "tile " << k;
  }
  return TIFFNumberOfTiles(tif) * static_cast<uint64_t>(tile_bytes);
}

TEST(PyramidTiffTest, EveryPlaneIsADirectoryWithItsReducedLevelsAsSubIfds) {
  for (int32_t pt : {0, 1, 2, 3, 4, 9}) {
    const PyramidTiffSpec spec = ThreeLevels(pt, 2);
    auto layout = BuildPyramidTiff(spec);
    ASSERT_TRUE(layout.ok()) << layout.status().ToString();
    // Tiles of 128 x 64 everywhere: the smallest level is 175 x 75.
    EXPECT_EQ(PyramidTileShape(spec), std::make_pair(128u, 64u));
    const uint64_t tiles = PyramidTilesPerPlane(spec);
    EXPECT_EQ(tiles, 6u * 5 + 3u * 3 + 2u * 2);
    EXPECT_EQ((*layout)->pages(), 2 * tiles);
    const uint64_t plane_bytes = (*layout)->pixel_bytes() / 2;
    const auto file = Materialize(**layout);
    testing::TempDir dir;
    testing::WriteFileBytes(dir.File("p.tif"), file);
    TIFF* tif = TIFFOpen(dir.File("p.tif").c_str(), "r");
    ASSERT_NE(tif, nullptr);
    EXPECT_EQ(TIFFNumberOfDirectories(tif), 2);  // the planes; levels only as SubIFDs
    char* desc = nullptr;
    ASSERT_TRUE(TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &desc));
    EXPECT_STREQ(desc, "<OME/>");
    for (uint16_t plane = 0; plane < 2; ++plane) {
      ASSERT_TRUE(TIFFSetDirectory(tif, plane));
      uint64_t first = plane * plane_bytes;
      first += ExpectLevel(tif, spec, 0, first, file, (*layout)->pixel_offset());
      uint16_t n = 0;
      uint64_t* subs = nullptr;
      ASSERT_TRUE(TIFFGetField(tif, TIFFTAG_SUBIFD, &n, &subs));
      ASSERT_EQ(n, 2);
      const std::vector<uint64_t> offsets(subs, subs + n);
      for (size_t l = 1; l < 3; ++l) {
        ASSERT_TRUE(TIFFSetSubDirectory(tif, offsets[l - 1]));
        uint32_t kind = 0;
        TIFFGetField(tif, TIFFTAG_SUBFILETYPE, &kind);
        EXPECT_EQ(kind, static_cast<uint32_t>(FILETYPE_REDUCEDIMAGE));
        first += ExpectLevel(tif, spec, l, first, file, (*layout)->pixel_offset());
      }
    }
    TIFFClose(tif);
  }
}

TEST(PyramidTiffTest, ASlidesLevelsFollowItsFirstDirectoryInTheMainChainToo) {
  PyramidTiffSpec spec = ThreeLevels(static_cast<int32_t>(PixelType::kBgr24), 1);
  spec.levels_in_main_chain = true;
  auto layout = BuildPyramidTiff(spec);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  const auto file = Materialize(**layout);
  testing::TempDir dir;
  testing::WriteFileBytes(dir.File("s.tif"), file);
  TIFF* tif = TIFFOpen(dir.File("s.tif").c_str(), "r");
  ASSERT_NE(tif, nullptr);
  EXPECT_EQ(TIFFNumberOfDirectories(tif), 3);
  uint16_t n = 0;
  uint64_t* subs = nullptr;
  ASSERT_TRUE(TIFFGetField(tif, TIFFTAG_SUBIFD, &n, &subs));
  const std::vector<uint64_t> offsets(subs, subs + n);
  uint64_t first = ExpectLevel(tif, spec, 0, 0, file, (*layout)->pixel_offset());
  for (uint16_t l = 1; l < 3; ++l) {  // the same directories both ways
    ASSERT_TRUE(TIFFSetDirectory(tif, l));
    EXPECT_EQ(TIFFCurrentDirOffset(tif), offsets[l - 1]);
    first += ExpectLevel(tif, spec, l, first, file, (*layout)->pixel_offset());
  }
  TIFFClose(tif);
}

TEST(PyramidTiffTest, AHugeSlideIsBigTiffWithEveryDirectoryBeforeThePixels) {
  PyramidTiffSpec spec;
  spec.pixel_type = static_cast<int32_t>(PixelType::kBgr24);
  spec.levels_in_main_chain = true;
  for (uint32_t f = 1, w = 100000, h = 60000; f <= 256; f *= 2) {
    spec.levels.push_back({(w + f - 1) / f, (h + f - 1) / f, f});
  }
  auto layout = BuildPyramidTiff(spec);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  EXPECT_TRUE((*layout)->big_tiff());
  EXPECT_GT((*layout)->size(), 18'000'000'000ull);
  // Every byte before the first pixel is tags or the gap: nothing to decode.
  EXPECT_EQ((*layout)->PixelRange(0, static_cast<size_t>((*layout)->pixel_offset())).second, 0u);
  EXPECT_GE((*layout)->gap_bytes(), 128u << 10);
  uint8_t head[4];
  size_t produced = 0;
  ASSERT_TRUE((*layout)->Read(0, 4, head, nullptr, &produced).ok());
  EXPECT_EQ(head[2], 43);  // BigTIFF
}

TEST(PyramidTiffTest, MoreTilesThanTheLimitAreRefusedBeforeAnythingIsBuilt) {
  // 26 tiles a plane: 50,000 planes are 1.3 million tiles. A crafted file
  // asked for 22 million, and its directories and pages took 4.7 GB.
  const PyramidTiffSpec spec = ThreeLevels(static_cast<int32_t>(PixelType::kGray16), 50000);
  ASSERT_GT(PyramidTilesPerPlane(spec) * spec.planes, kMaxPyramidTiffTiles);
  auto layout = BuildPyramidTiff(spec);
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(layout.status().message().find("OME-Zarr"), std::string::npos)
      << layout.status().message();
}

}  // namespace
}  // namespace czifs
