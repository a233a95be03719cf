#include "czifs/image_index.h"

#include <gtest/gtest.h>

#include "../support/indexed_file.h"
#include "../support/specs.h"

namespace czifs {
namespace {

using testing::IndexOf;
using testing::TempDir;

TEST(ImageIndexTest, SparseFilesStillHaveEveryCombinationAsAPlane) {
  TempDir dir;
  synth::Spec s = testing::UncompressedTiles(8, 8);
  s.sizes = {{'C', 3}, {'H', 4}};
  s.keep_plane = [](const std::map<char, int32_t>& c) { return c.at('C') == 0 || c.at('H') < 2; };
  ImageIndex idx = IndexOf(s, dir);
  ASSERT_EQ(idx.planes().size(), 12u);
  int empty = 0;
  for (const Plane& pl : idx.planes()) {
    if (pl.subblocks.empty()) {
      ++empty;
      EXPECT_EQ(pl.pixel_type, s.pixel_type);
      EXPECT_TRUE(pl.unsupported.empty());
    }
  }
  EXPECT_EQ(empty, 4);
}

TEST(ImageIndexTest, DrawsSubblocksInAscendingMNotFileOrder) {
  TempDir dir;
  synth::Spec s = testing::UncompressedTiles(8, 8);
  s.tiles_x = 4;
  s.tiles_y = 3;
  ImageIndex idx = IndexOf(s, dir);
  auto czi = CziFile::Open(dir.File("a.czi"));
  ASSERT_EQ(idx.planes().size(), 1u);
  const auto& order = idx.planes()[0].subblocks;
  ASSERT_EQ(order.size(), 12u);
  bool file_order = true;
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ((*czi)->subblocks()[order[i]].Coord(Dim::kM), static_cast<int32_t>(i));
    if (order[i] != i) file_order = false;
  }
  EXPECT_FALSE(file_order) << "the writer should shuffle";
}

TEST(ImageIndexTest, SceneBoxesAreUnionsOfLayer0TilesAndIgnorePyramids) {
  TempDir dir;
  synth::Spec s = testing::UncompressedTiles(8, 8);
  s.tiles_x = 3;
  s.tiles_y = 2;
  s.overlap = 0.25;
  s.scenes = 2;
  s.origin_x = -1000;
  s.origin_y = -7;
  s.pyramid_levels = 2;
  ImageIndex idx = IndexOf(s, dir);
  ASSERT_EQ(idx.scenes().size(), 2u);
  EXPECT_EQ(idx.scenes()[0].bbox.x, -1000);
  EXPECT_EQ(idx.scenes()[0].bbox.y, -7);
  EXPECT_EQ(idx.scenes()[0].bbox.width, 6 * 2 + 8);
  EXPECT_EQ(idx.scenes()[0].bbox.height, 6 + 8);
  EXPECT_EQ(idx.layer0_subblock_count(), 12u);
  EXPECT_EQ(idx.pyramid_factors(), (std::vector<uint32_t>{2, 4}));
  for (const Plane& p : idx.planes()) EXPECT_EQ(p.subblocks.size(), 6u);
  EXPECT_EQ(idx.planes()[idx.planes().size() - 1].scene, 1u);
}

TEST(ImageIndexTest, UnsupportedCompressionMarksThePlane) {
  TempDir dir;
  synth::Spec s = testing::UncompressedTiles(8, 8);
  s.codec = synth::Codec::kSystemRaw;
  ImageIndex idx = IndexOf(s, dir);
  ASSERT_EQ(idx.planes().size(), 1u);
  EXPECT_NE(idx.planes()[0].unsupported.find("System-RAW(1001)"), std::string::npos)
      << idx.planes()[0].unsupported;
}

TEST(ImageIndexTest, ComplexPixelTypeMarksThePlane) {
  TempDir dir;
  synth::Spec s = testing::UncompressedTiles(8, 8);
  s.pixel_type = 10;
  ImageIndex idx = IndexOf(s, dir);
  ASSERT_EQ(idx.planes().size(), 1u);
  EXPECT_NE(idx.planes()[0].unsupported.find("Gray64ComplexFloat"), std::string::npos);
}

}  // namespace
}  // namespace czifs
