// Composition on its own: the file gives only the geometry (where each
// subblock lies, its stored size); the pixels are handed to ComposeRows by a
// BitmapSource, each subblock a flat tile of its own value, and the expected
// image is worked out here from the geometry alone (not by the writer's
// painter, which the tree tests compare against).
#include "czifs/compose.h"

#include <gtest/gtest.h>

#include <array>
#include <map>

#include "../support/test_util.h"
#include "czifs/czi_file.h"
#include "czifs/image_index.h"

namespace czifs {
namespace {

using testing::TempDir;
using testing::WriteOrDie;

struct Fixture {
  std::shared_ptr<const CziFile> czi;
  ImageIndex index;
  std::unique_ptr<SubblockReader> reader;
};

// A Gray8 zstd mosaic of 3 x 2 overlapping 10 x 8 tiles (shuffled file order),
// with one pyramid level.
Fixture OpenMosaic(const TempDir& dir) {
  synth::Spec spec;
  spec.pixel_type = Raw(PixelType::kGray8);
  spec.codec = synth::Codec::kZstd1;
  spec.tile_width = 10;
  spec.tile_height = 8;
  spec.tiles_x = 3;
  spec.tiles_y = 2;
  spec.overlap = 0.3;
  spec.origin_x = -7;
  spec.origin_y = 5;
  spec.pyramid_levels = 1;
  WriteOrDie(spec, dir.File("m.czi"));
  Fixture f;
  f.czi = CziFile::Open(dir.File("m.czi")).value();
  f.index = ImageIndex::Build(*f.czi).value();
  f.reader = std::make_unique<SubblockReader>(f.czi, Session::Create(1 << 20));
  return f;
}

// Subblock `sb` as a flat tile of value sb + 1 at its stored size.
std::shared_ptr<const Bitmap> FlatTile(const SubblockEntry& e) {
  auto b = std::make_shared<Bitmap>();
  b->pixel_type = e.pixel_type;
  b->width = static_cast<uint32_t>(e.stored_width);
  b->height = static_cast<uint32_t>(e.stored_height);
  b->pixels.assign(b->width * b->height, static_cast<uint8_t>(e.index + 1));
  return b;
}

// The canvas drawn by hand: zeros, then each subblock's value over its
// rectangle (logical position / downscale, stored size), in drawing order.
std::vector<uint8_t> Expected(const CziFile& czi, const Canvas& c) {
  std::vector<uint8_t> px(static_cast<size_t>(c.width * c.height), 0);
  const int64_t f = c.downscale;
  for (uint32_t sb : c.subblocks) {
    const SubblockEntry& e = czi.subblocks()[sb];
    const int64_t x0 = (e.x - c.x) / f, y0 = (e.y - c.y) / f;
    for (int64_t y = std::max<int64_t>(0, y0); y < std::min(c.height, y0 + e.stored_height); ++y) {
      for (int64_t x = std::max<int64_t>(0, x0); x < std::min(c.width, x0 + e.stored_width); ++x) {
        px[static_cast<size_t>(y * c.width + x)] = static_cast<uint8_t>(sb + 1);
      }
    }
  }
  return px;
}

BitmapSource FlatTiles(const CziFile& czi) {
  return [&czi](uint32_t sb) -> Result<std::shared_ptr<const Bitmap>> {
    return FlatTile(czi.subblocks()[sb]);
  };
}

// Composes rows [r0, r1) and columns [c0, c1) of `c` into a buffer of 0xEE
// and checks every pixel against `whole`, the canvas drawn by hand.
::testing::AssertionResult RegionMatches(const Fixture& f, const Canvas& c,
                                         const BitmapSource& source,
                                         const std::vector<uint8_t>& whole, int64_t r0, int64_t r1,
                                         int64_t c0, int64_t c1) {
  std::vector<uint8_t> out(static_cast<size_t>((r1 - r0) * (c1 - c0)), 0xEE);
  const Status st = ComposeRegion(c, r0, r1, c0, c1, *f.reader, out.data(), {&source});
  if (!st.ok()) return ::testing::AssertionFailure() << st.ToString();
  for (int64_t y = r0; y < r1; ++y) {
    for (int64_t x = c0; x < c1; ++x) {
      const uint8_t got = out[static_cast<size_t>((y - r0) * (c1 - c0) + (x - c0))];
      const uint8_t want = whole[static_cast<size_t>(y * c.width + x)];
      if (got != want) {
        return ::testing::AssertionFailure()
               << "rows " << r0 << ".." << r1 << " columns " << c0 << ".." << c1 << " at " << x
               << "," << y << ": " << int{got} << ", want " << int{want};
      }
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(ComposeTest, LaterSubblocksDrawOverEarlierOnesWhereTilesOverlap) {
  TempDir dir;
  Fixture f = OpenMosaic(dir);
  const Canvas c = PlaneCanvas(f.index, 0);
  ASSERT_EQ(c.subblocks.size(), 6u);
  const BitmapSource source = FlatTiles(*f.czi);
  std::vector<uint8_t> out(static_cast<size_t>(c.width * c.height), 0xEE);
  ASSERT_TRUE(ComposeRows(c, 0, c.height, *f.reader, out.data(), {&source}).ok());
  const std::vector<uint8_t> want = Expected(*f.czi, c);
  EXPECT_EQ(out, want);
  // The overlaps are real: some pixel shows a tile drawn over another.
  std::map<uint8_t, int> shown;
  for (uint8_t v : out) ++shown[v];
  EXPECT_EQ(shown.size(), 6u);  // every tile visible somewhere, no background
}

TEST(ComposeTest, WhatNoSubblockCoversIsZerosWhateverTheBufferHeld) {
  TempDir dir;
  Fixture f = OpenMosaic(dir);
  const BitmapSource source = FlatTiles(*f.czi);
  // Holes of every shape: a corner tile, a middle one, all but one.
  for (const std::vector<size_t>& keep :
       {std::vector<size_t>{0, 1, 2, 3, 4}, std::vector<size_t>{0, 2, 3, 5}, std::vector<size_t>{4},
        std::vector<size_t>{}}) {
    Canvas c = PlaneCanvas(f.index, 0);
    std::vector<uint32_t> kept;
    for (size_t k : keep) kept.push_back(c.subblocks[k]);
    c.subblocks = kept;
    const std::vector<uint8_t> want = Expected(*f.czi, c);
    std::vector<uint8_t> out(static_cast<size_t>(c.width * c.height), 0xEE);
    ASSERT_TRUE(ComposeRows(c, 0, c.height, *f.reader, out.data(), {&source}).ok());
    EXPECT_EQ(out, want) << keep.size() << " tiles kept";
    for (const auto& [r0, r1, c0, c1] :
         {std::array<int64_t, 4>{3, 9, 4, 17}, std::array<int64_t, 4>{0, c.height, 1, 2}}) {
      EXPECT_TRUE(RegionMatches(f, c, source, want, r0, r1, c0, c1))
          << keep.size() << " tiles kept";
    }
  }
}

TEST(ComposeTest, RowAndColumnWindowsAreClippedOutOfTheSameImage) {
  TempDir dir;
  Fixture f = OpenMosaic(dir);
  const Canvas c = PlaneCanvas(f.index, 0);
  const BitmapSource source = FlatTiles(*f.czi);
  const std::vector<uint8_t> whole = Expected(*f.czi, c);
  for (const auto& [r0, r1, c0, c1] :
       {std::array<int64_t, 4>{0, 1, 0, 1}, std::array<int64_t, 4>{3, 9, 4, 17},
        std::array<int64_t, 4>{c.height - 1, c.height, 0, c.width},
        std::array<int64_t, 4>{2, 3, c.width - 3, c.width}}) {
    EXPECT_TRUE(RegionMatches(f, c, source, whole, r0, r1, c0, c1));
  }
}

TEST(ComposeTest, PyramidCanvasPlacesSubblocksAtPositionOverFactorAtStoredSize) {
  TempDir dir;
  Fixture f = OpenMosaic(dir);
  ASSERT_FALSE(f.index.pyramid_planes().empty());
  const PyramidPlane& pp = f.index.pyramid_planes()[0];
  const Rect& box = f.index.scenes()[0].bbox;
  const int64_t k = pp.factor;
  const Canvas c{box.x,
                 box.y,
                 (box.width + k - 1) / k,
                 (box.height + k - 1) / k,
                 pp.factor,
                 f.czi->subblocks()[pp.subblocks[0]].pixel_type,
                 pp.subblocks,
                 nullptr};
  const BitmapSource source = FlatTiles(*f.czi);
  std::vector<uint8_t> out(static_cast<size_t>(c.width * c.height), 0xEE);
  ASSERT_TRUE(ComposeRows(c, 0, c.height, *f.reader, out.data(), {&source}).ok());
  EXPECT_EQ(out, Expected(*f.czi, c));
}

TEST(ComposeTest, DamagedTileFailsTheReadOrIsZerosUnderLaterTilesAsThePolicySays) {
  TempDir dir;
  Fixture f = OpenMosaic(dir);
  const Canvas c = PlaneCanvas(f.index, 0);
  const uint32_t bad = c.subblocks[2];
  const BitmapSource source = [&](uint32_t sb) -> Result<std::shared_ptr<const Bitmap>> {
    if (sb == bad) return Status::DataLoss("tile does not decode");
    return FlatTile(f.czi->subblocks()[sb]);
  };
  std::vector<uint8_t> out(static_cast<size_t>(c.width * c.height), 0xEE);
  const Status failed = ComposeRows(c, 0, c.height, *f.reader, out.data(), {&source});
  EXPECT_EQ(failed.code(), StatusCode::kDataLoss) << failed.ToString();

  ASSERT_TRUE(
      ComposeRows(c, 0, c.height, *f.reader, out.data(), {&source, DamagedTiles::kZero}).ok());
  // Expected: the bad tile drawn as zeros, then the tiles after it as usual.
  Canvas zeros = c;
  std::vector<uint8_t> want = Expected(*f.czi, c);
  const SubblockEntry& e = f.czi->subblocks()[bad];
  std::vector<uint8_t> mask(want.size(), 0);
  for (int64_t y = e.y - c.y; y < e.y - c.y + e.stored_height; ++y) {
    for (int64_t x = e.x - c.x; x < e.x - c.x + e.stored_width; ++x) {
      mask[static_cast<size_t>(y * c.width + x)] = 1;
    }
  }
  zeros.subblocks.assign(c.subblocks.begin() + 3, c.subblocks.end());
  const std::vector<uint8_t> later = Expected(*f.czi, zeros);
  for (size_t i = 0; i < want.size(); ++i) {
    if (mask[i]) want[i] = later[i];  // 0 where no later tile covers it
  }
  EXPECT_EQ(out, want);
  EXPECT_NE(std::count(out.begin(), out.end(), 0), 0);  // the hole is visible
}

}  // namespace
}  // namespace czifs
