#include <gtest/gtest.h>
#include <tiffio.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "../support/document_tree.h"
#include "../support/specs.h"
#include "../support/test_util.h"
#include "czifs/czi_types.h"
#include "czifs/tree.h"

namespace czifs {
namespace {

using testing::TempDir;
using testing::WriteOrDie;

using testing::ReadAll;
using testing::TiffPixels;
using testing::Walk;

// The ImageJ description of a TIFF, read back with libtiff.
std::string TiffDescription(const std::vector<uint8_t>& bytes, const TempDir& dir) {
  testing::WriteFileBytes(dir.File("d.tif"), bytes);
  TIFF* tif = TIFFOpen(dir.File("d.tif").c_str(), "r");
  if (!tif) return "";
  char* text = nullptr;
  std::string out;
  if (TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &text) == 1 && text) out = text;
  TIFFClose(tif);
  return out;
}

// The number after "key=" in an ImageJ description (padding allowed).
std::optional<double> DescriptionValue(const std::string& d, const std::string& key) {
  const size_t at = d.find("\n" + key + "=");
  if (at == std::string::npos) return std::nullopt;
  const std::string v = d.substr(at + key.size() + 2, d.find('\n', at + 1) - at - key.size() - 2);
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (end == v.c_str()) return std::nullopt;
  return x;
}

TEST(TileTest, EveryLayer0SubblockIsATiffOfItsOwnWithItsStagePosition) {
  TempDir dir;
  synth::Spec spec = testing::Mosaic(20, 12, 3, 2);
  spec.sizes = {{'C', 2}, {'Z', 2}};
  spec.pyramid_levels = 1;  // pyramid subblocks are not tiles
  WriteOrDie(spec, dir.File("a.czi"));
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok());
  const auto tiles = synth::EnumerateTiles(spec);
  ASSERT_EQ(tiles.size(), 24u);
  for (const synth::Tile& t : tiles) {
    const std::string path = "tiles/S0/C" + std::to_string(t.coords.at('C')) + "/T0/Z" +
                             std::to_string(t.coords.at('Z')) + "/M" + std::to_string(t.m) + ".tif";
    const TreeNode* node = Walk(*tree->root, path);
    ASSERT_NE(node, nullptr) << path;
    const auto bytes = ReadAll(*node->file, 999);
    ASSERT_EQ(bytes.size(), *node->file->Size()) << path;
    uint32_t w = 0, h = 0;
    EXPECT_EQ(TiffPixels(bytes, dir, &w, &h), synth::TilePixels(spec, t)) << path;
    EXPECT_EQ(w, t.width);
    EXPECT_EQ(h, t.height);
    // The writer puts tile (x, y) at stage 1000 + 0.1 x, 2000 + 0.1 y µm.
    const std::string d = TiffDescription(bytes, dir);
    EXPECT_EQ(d.rfind("ImageJ=", 0), 0u) << d;
    EXPECT_NE(d.find("\nunit=micron\n"), std::string::npos) << d;
    EXPECT_NEAR(DescriptionValue(d, "stage_x_um").value_or(-1), 1000.0 + t.x * 0.1, 1e-6) << d;
    EXPECT_NEAR(DescriptionValue(d, "stage_y_um").value_or(-1), 2000.0 + t.y * 0.1, 1e-6) << d;
    EXPECT_NEAR(DescriptionValue(d, "focus_um").value_or(-1), t.coords.at('Z') * 0.5, 1e-6) << d;
    EXPECT_EQ(DescriptionValue(d, "x_px"), t.x) << d;
    EXPECT_EQ(DescriptionValue(d, "y_px"), t.y) << d;
    EXPECT_EQ(DescriptionValue(d, "czi_m"), t.m) << d;
  }
  EXPECT_EQ(Walk(*tree->root, "tiles/S0/C0/T0/Z0/M6.tif"), nullptr);
}

TEST(TileTest, FilesWhosePlanesAreEachOneWholeTileHaveNoTilesFolder) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(24, 16);
  spec.sizes = {{'C', 2}, {'Z', 3}};
  auto doc = testing::WriteAndOpen(spec, dir);
  ASSERT_NE(doc, nullptr);
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok());
  // Each tile would be a byte-for-byte copy of its plane's pixels.
  EXPECT_EQ(tree->root->Find("tiles"), nullptr);
  for (uint32_t sb = 0; sb < doc->czi().subblocks().size(); ++sb) {
    EXPECT_EQ(doc->catalog().TilePathOf(sb), "");
  }
  auto csv = PlaneTableCsv(doc->report());
  ASSERT_TRUE(csv.ok());
  EXPECT_NE(csv->find(",S0/C1/T0/Z2.tif,\n"), std::string::npos) << *csv;  // empty tile column
}

TEST(TileTest, TilesWithoutMAreNumberedInDrawingOrderAndUnknownStageIsNan) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(8, 8);
  spec.tiles_x = 2;
  spec.write_m = false;
  spec.subblock_metadata = false;
  WriteOrDie(spec, dir.File("a.czi"));
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok());
  for (const char* path : {"tiles/S0/C0/T0/Z0/M0.tif", "tiles/S0/C0/T0/Z0/M1.tif"}) {
    const TreeNode* node = Walk(*tree->root, path);
    ASSERT_NE(node, nullptr) << path;
    const std::string d = TiffDescription(ReadAll(*node->file, 1 << 20), dir);
    EXPECT_NE(d.find("stage_x_um="), std::string::npos) << d;
    EXPECT_TRUE(std::isnan(DescriptionValue(d, "stage_x_um").value_or(0))) << d;
  }
}

TEST(TileTest, TileSizeIsKnownBeforeAnyPixelOrSubblockHeaderIsRead) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(30, 10);
  spec.tiles_x = 2;
  WriteOrDie(spec, dir.File("a.czi"));
  auto intact = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(intact.ok());
  const TreeNode* good = Walk(*intact->root, "tiles/S0/C0/T0/Z0/M1.tif");
  ASSERT_NE(good, nullptr);
  const size_t good_size = ReadAll(*good->file, 1 << 20).size();
  // Zero every subblock segment (header, XML, pixels), keep the directory:
  // the size still comes out right, from the directory alone.
  auto bytes = testing::ReadFileBytes(dir.File("a.czi"));
  const std::string magic = "ZISRAWDIRECTORY";
  const auto at = std::search(bytes.begin() + 544, bytes.end(), magic.begin(), magic.end());
  ASSERT_NE(at, bytes.end());
  std::fill(bytes.begin() + 544, at, 0);
  testing::WriteFileBytes(dir.File("b.czi"), bytes);
  auto tree = testing::OpenDocumentTree(dir.File("b.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  const TreeNode* node = Walk(*tree->root, "tiles/S0/C0/T0/Z0/M1.tif");
  ASSERT_NE(node, nullptr);
  auto size = node->file->Size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, good_size);
  // Reading it needs the subblock, and fails with an error, not garbage.
  std::vector<uint8_t> buf(*size);
  EXPECT_FALSE(node->file->Read(0, buf.size(), buf.data()).ok());
}

// Level `f` of a mosaic drawn independently of czifs: each tile's pyramid
// pixels (the writer keeps every f-th pixel) at its position / f, in M order.
std::vector<uint8_t> PaintLevel(const synth::Spec& spec, uint32_t f, int64_t* w, int64_t* h) {
  const auto tiles = synth::EnumerateTiles(spec);
  int64_t x0 = INT64_MAX, y0 = INT64_MAX, x1 = INT64_MIN, y1 = INT64_MIN;
  for (const auto& t : tiles) {
    x0 = std::min<int64_t>(x0, t.x);
    y0 = std::min<int64_t>(y0, t.y);
    x1 = std::max<int64_t>(x1, t.x + t.width);
    y1 = std::max<int64_t>(y1, t.y + t.height);
  }
  *w = (x1 - x0 + f - 1) / f;
  *h = (y1 - y0 + f - 1) / f;
  std::vector<uint8_t> out(static_cast<size_t>(*w * *h * 2), 0);
  std::vector<synth::Tile> order(tiles.begin(), tiles.end());
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.m < b.m; });
  for (const auto& t : order) {
    const auto px = synth::TilePixels(spec, t);
    const int64_t sw = t.width / f, sh = t.height / f;
    const int64_t ox = (t.x - x0) / f, oy = (t.y - y0) / f;
    for (int64_t j = 0; j < sh && oy + j < *h; ++j) {
      for (int64_t i = 0; i < sw && ox + i < *w; ++i) {
        std::memcpy(&out[static_cast<size_t>(((oy + j) * *w + ox + i) * 2)],
                    &px[static_cast<size_t>((j * f * t.width + i * f) * 2)], 2);
      }
    }
  }
  return out;
}

TEST(PyramidTest, EachLevelIsComposedFromItsOwnSubblocksAtItsScale) {
  TempDir dir;
  synth::Spec spec;
  spec.pixel_type = 1;  // Gray16
  spec.tile_width = 64;
  spec.tile_height = 48;
  spec.tiles_x = 3;
  spec.tiles_y = 2;
  spec.origin_x = -30;  // positions not divisible by the factors
  spec.origin_y = 7;
  spec.pyramid_levels = 2;
  WriteOrDie(spec, dir.File("a.czi"));
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok());
  EXPECT_TRUE(tree->problems.empty());
  for (uint32_t level = 1; level <= 2; ++level) {
    const uint32_t f = 1u << level;
    const std::string path = "pyramid/L" + std::to_string(level) + "/S0/C0/T0/Z0.tif";
    const TreeNode* node = Walk(*tree->root, path);
    ASSERT_NE(node, nullptr) << path;
    const auto bytes = ReadAll(*node->file, 777);
    ASSERT_EQ(bytes.size(), *node->file->Size());
    int64_t w = 0, h = 0;
    const auto expected = PaintLevel(spec, f, &w, &h);
    uint32_t tw = 0, th = 0;
    EXPECT_EQ(TiffPixels(bytes, dir, &tw, &th), expected) << path;
    EXPECT_EQ(tw, w);
    EXPECT_EQ(th, h);
    // Calibrated at the level's pixel size: 0.1 µm x f.
    testing::WriteFileBytes(dir.File("p.tif"), bytes);
    TIFF* tif = TIFFOpen(dir.File("p.tif").c_str(), "r");
    ASSERT_NE(tif, nullptr);
    float xres = 0;
    TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xres);
    TIFFClose(tif);
    EXPECT_NEAR(xres, 10.0 / f, 1e-4);
  }
  EXPECT_EQ(Walk(*tree->root, "pyramid/L3"), nullptr);
}

TEST(PyramidTest, FilesWithoutPyramidSubblocksHaveNoPyramidFolder) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(8, 8);
  WriteOrDie(spec, dir.File("a.czi"));
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(tree->root->Find("pyramid"), nullptr);
}

}  // namespace
}  // namespace czifs
