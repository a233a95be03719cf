#include "czifs/tree.h"

#include <gtest/gtest.h>
#include <tiffio.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <future>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "../support/document_tree.h"
#include "../support/test_util.h"
#include "czifs/czi_types.h"
#include "czifs/export.h"
#include "czifs/thread_pool.h"
#include "czifs/tiff_layout.h"

namespace czifs {
namespace {

using testing::TempDir;
using testing::WriteOrDie;

std::vector<uint8_t> ReadAll(const VirtualFile& f, size_t chunk) {
  auto size = f.Size();
  EXPECT_TRUE(size.ok());
  std::vector<uint8_t> out(*size);
  for (uint64_t off = 0; off < out.size();) {
    auto n = f.Read(off, std::min<uint64_t>(chunk, out.size() - off), out.data() + off);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (!n.ok() || *n == 0) break;
    off += *n;
  }
  return out;
}

const TreeNode* Walk(const TreeNode& root, const std::string& path) {
  const TreeNode* n = &root;
  std::stringstream ss(path);
  std::string part;
  while (n && std::getline(ss, part, '/')) n = n->Find(part);
  return n;
}

using testing::TiffPixels;

struct Case {
  std::string name;
  synth::Spec spec;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> Cases() {
  std::vector<Case> cases;
  auto base = [] {
    synth::Spec s;
    s.tile_width = 40;
    s.tile_height = 30;
    return s;
  };
  for (int32_t pt : {0, 1, 2, 3, 4, 8, 9}) {
    synth::Spec s = base();
    s.pixel_type = pt;
    s.codec = (pt == 1 || pt == 4) ? synth::Codec::kZstd1HiLo : synth::Codec::kZstd0;
    s.tiles_x = 3;
    s.tiles_y = 2;
    s.overlap = 0.2;
    s.scenes = 2;
    s.origin_x = -50;
    s.origin_y = -20;
    s.sizes = {{'C', 2}, {'Z', 2}};
    cases.push_back({"mosaic_scenes_" + PixelTypeName(pt), s});
  }
  {
    synth::Spec s = base();
    s.pixel_type = 1;
    s.codec = synth::Codec::kJpegXr;
    s.tiles_x = 2;
    s.tiles_y = 2;
    s.pyramid_levels = 2;
    cases.push_back({"jpegxr_mosaic_with_pyramid", s});
  }
  {
    synth::Spec s = base();
    s.pixel_type = 0;
    s.codec = synth::Codec::kUncompressed;
    s.sizes = {{'C', 2}, {'H', 3}, {'T', 2}};
    s.keep_plane = [](const std::map<char, int32_t>& c) {
      return c.at('C') == 0 || c.at('H') == 0;
    };
    cases.push_back({"sparse_airyscan_phases", s});
  }
  {
    synth::Spec s = base();
    s.pixel_type = 1;
    s.codec = synth::Codec::kZstd1;
    s.write_m = false;
    s.tiles_x = 2;
    s.overlap = 0.5;
    cases.push_back({"overlap_without_m_uses_file_order", s});
  }
  return cases;
}

class DocumentTreeTest : public ::testing::TestWithParam<Case> {};

TEST_P(DocumentTreeTest, EveryPlaneHasExactSizeAndPaintedPixels) {
  const synth::Spec& spec = GetParam().spec;
  TempDir dir;
  WriteOrDie(spec, dir.File("a.czi"));
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(256 << 10));
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  EXPECT_TRUE(tree->problems.empty());
  const TreeNode& root = *tree->root;
  ASSERT_NE(root.Find("info.json"), nullptr);
  ASSERT_NE(root.Find("metadata.xml"), nullptr);
  ASSERT_NE(root.Find("planetable.csv"), nullptr);

  const std::vector<std::map<char, int32_t>> combos = synth::PlaneCombinations(spec);
  int planes = 0;
  for (uint32_t s = 0; s < spec.scenes; ++s) {
    for (const auto& c : combos) {
      auto idx = [&](char k) { return c.count(k) ? c.at(k) : 0; };
      std::string path = "S" + std::to_string(s) + "/C" + std::to_string(idx('C')) + "/T" +
                         std::to_string(idx('T')) + "/Z" + std::to_string(idx('Z'));
      for (char k : std::string("HIRVBA")) {
        if (spec.sizes.count(k) && spec.sizes.at(k) > 1)
          path += "_" + std::string(1, k) + std::to_string(idx(k));
      }
      path += ".tif";
      const TreeNode* node = Walk(root, path);
      ASSERT_NE(node, nullptr) << path;
      ASSERT_FALSE(node->is_dir);
      const auto bytes = ReadAll(*node->file, 100003);
      EXPECT_EQ(bytes.size(), *node->file->Size()) << path;
      uint32_t w = 0, h = 0;
      auto px = TiffPixels(bytes, dir, &w, &h);
      synth::ExpectedPlane e = synth::PaintExpected(spec, s, c);
      ASSERT_EQ(w, e.width) << path;
      ASSERT_EQ(h, e.height) << path;
      ToTiffSampleOrder(spec.pixel_type, e.pixels);
      EXPECT_TRUE(px == e.pixels) << path << " pixels differ";
      ++planes;
    }
  }
  EXPECT_GT(planes, 0);
}

INSTANTIATE_TEST_SUITE_P(Writer, DocumentTreeTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

// The remaining lines of a CSV, split into columns (a trailing comma is an
// empty last column).
std::vector<std::vector<std::string>> CsvRows(std::stringstream& ss) {
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(ss, line);) {
    std::vector<std::string> cols;
    std::stringstream ls(line);
    for (std::string col; std::getline(ls, col, ',');) cols.push_back(col);
    if (!line.empty() && line.back() == ',') cols.push_back("");
    rows.push_back(std::move(cols));
  }
  return rows;
}

TEST(TreeTest, PlaneTableFollowsCzitoolsConventions) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 16;
  spec.tile_height = 16;
  spec.tiles_x = 2;
  spec.tiles_y = 1;
  spec.sizes = {{'C', 2}, {'T', 2}};
  spec.pyramid_levels = 1;
  auto doc = testing::WriteAndOpen(spec, dir);
  ASSERT_NE(doc, nullptr);
  auto csv = PlaneTableCsv(doc->report());
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  std::stringstream ss(*csv);
  std::string line;
  std::getline(ss, line);
  EXPECT_EQ(line,
            "Subblock,S,M,T,C,Z,X[micron],Y[micron],Z[micron],Time[s],xstart,ystart,width,height,"
            "H,I,R,V,B,A,subblock_index,m_index,pixel_type,compression,plane,tile");
  const std::vector<std::vector<std::string>> rows = CsvRows(ss);
  for (const auto& cols : rows) ASSERT_EQ(cols.size(), 26u);
  ASSERT_EQ(rows.size(), 8u);  // layer 0 only: 2 tiles x 2 C x 2 T
  double t_min = 1e9;
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i][0], std::to_string(i));
    t_min = std::min(t_min, std::stod(rows[i][9]));
    if (i > 0) {  // sorted by S, M, T, C, Z
      auto key = [](const auto& r) {
        return std::make_tuple(std::stoi(r[1]), std::stoi(r[2]), std::stoi(r[3]), std::stoi(r[4]),
                               std::stoi(r[5]));
      };
      EXPECT_LE(key(rows[i - 1]), key(rows[i]));
    }
    for (size_t k = 14; k < 20; ++k) EXPECT_EQ(rows[i][k], "") << "H I R V B A: none here";
    EXPECT_EQ(rows[i][20].empty(), false);
    EXPECT_EQ(rows[i][22], "Gray16");
    EXPECT_EQ(rows[i][23], "zstd1");
    EXPECT_EQ(rows[i][24].substr(0, 3), "S0/");
    // The tile file of the row: the plane's folder, then M.
    EXPECT_EQ(rows[i][25].substr(0, rows[i][24].size() - 4 + 7),
              "tiles/" + rows[i][24].substr(0, rows[i][24].size() - 4) + "/");
  }
  EXPECT_EQ(t_min, 0.0);  // times are relative to the earliest
  // T=1 was acquired 2.5 s later in the writer.
  bool saw_late = false;
  for (const auto& r : rows) {
    if (r[3] == "1") {
      EXPECT_GE(std::stod(r[9]), 2.4);  // 2.5 s later, less the writer's per-tile millisecond
      saw_late = true;
    }
  }
  EXPECT_TRUE(saw_late);
}

TEST(TreeTest, PlaneTableHasAColumnPerDimensionEmptyWhereTheFileHasNone) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 16;
  spec.tile_height = 16;
  spec.sizes = {{'C', 1}, {'H', 3}, {'V', 2}};
  auto doc = testing::WriteAndOpen(spec, dir);
  ASSERT_NE(doc, nullptr);
  auto csv = PlaneTableCsv(doc->report());
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  std::stringstream ss(*csv);
  std::string line;
  std::getline(ss, line);
  std::set<std::string> hv;
  for (const auto& cols : CsvRows(ss)) {
    ASSERT_EQ(cols.size(), 26u);
    hv.insert(cols[14] + "/" + cols[17]);                      // H and V
    for (size_t k : {15, 16, 18, 19}) EXPECT_EQ(cols[k], "");  // I, R, B, A
  }
  EXPECT_EQ(hv, (std::set<std::string>{"0/0", "0/1", "1/0", "1/1", "2/0", "2/1"}));
}

TEST(TreeTest, InfoJsonNamesDimensionsScenesAndCalibration) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 16;
  spec.tile_height = 16;
  spec.scenes = 2;
  spec.sizes = {{'C', 2}, {'Z', 3}};
  spec.channel_names = {"DAPI", "GFP"};
  auto doc = testing::WriteAndOpen(spec, dir);
  ASSERT_NE(doc, nullptr);
  const std::string j = InfoJson(doc->report());
  EXPECT_NE(j.find("\"Z\": {\n      \"start\": 0,\n      \"size\": 3"), std::string::npos) << j;
  EXPECT_NE(j.find("\"name\": \"GFP\""), std::string::npos);
  EXPECT_NE(j.find("\"x\": 0.1"), std::string::npos);
  EXPECT_NE(j.find("\"planes\": 12"), std::string::npos);
  EXPECT_NE(j.find("\"Thumbnail\""), std::string::npos);
  const std::string t = InfoText(doc->report());
  EXPECT_NE(t.find("C=2 Z=3"), std::string::npos) << t;
}

TEST(TreeTest, UnsupportedPlanesAreLeftOutAndReported) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 8;
  spec.tile_height = 8;
  spec.codec = synth::Codec::kSystemRaw;
  WriteOrDie(spec, dir.File("a.czi"));
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(Walk(*tree->root, "S0/C0/T0/Z0.tif"), nullptr);
  ASSERT_EQ(tree->problems.size(), 1u);
  EXPECT_NE(tree->problems[0].message.find("System-RAW(1001)"), std::string::npos);
  EXPECT_NE(tree->root->Find("info.json"), nullptr);
}

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
  synth::Spec spec;
  spec.tile_width = 20;
  spec.tile_height = 12;
  spec.tiles_x = 3;
  spec.tiles_y = 2;
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
  synth::Spec spec;
  spec.tile_width = 24;
  spec.tile_height = 16;
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
  synth::Spec spec;
  spec.tile_width = 8;
  spec.tile_height = 8;
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
  synth::Spec spec;
  spec.tile_width = 30;
  spec.tile_height = 10;
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
  synth::Spec spec;
  spec.tile_width = 8;
  spec.tile_height = 8;
  WriteOrDie(spec, dir.File("a.czi"));
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(tree->root->Find("pyramid"), nullptr);
}

TEST(TreeTest, WithoutLeavesOutTheNamedViewsAndKeepsThePlanes) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 16;
  spec.tile_height = 16;
  spec.tiles_x = 2;
  spec.pyramid_levels = 1;
  WriteOrDie(spec, dir.File("a.czi"));
  TreeOptions opts;
  std::string why;
  ASSERT_TRUE(ParseWithout("tiles,pyramid,hyperstacks", &opts.shown, &why)) << why;
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20), opts);
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(tree->root->Find("tiles"), nullptr);
  EXPECT_EQ(tree->root->Find("pyramid"), nullptr);
  EXPECT_EQ(Walk(*tree->root, "S0/hyperstack.tif"), nullptr);
  EXPECT_NE(Walk(*tree->root, "S0/C0/T0/Z0.tif"), nullptr);
  auto all = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(all.ok());
  EXPECT_NE(all->root->Find("tiles"), nullptr);
  EXPECT_NE(all->root->Find("pyramid"), nullptr);
  EXPECT_NE(Walk(*all->root, "S0/hyperstack.tif"), nullptr);
  CatalogOptions none;
  EXPECT_TRUE(ParseWithout("", &none, &why));
  EXPECT_TRUE(none.tiles && none.pyramid && none.hyperstacks);
  EXPECT_FALSE(ParseWithout("tiles,thumbnails", &none, &why));
  EXPECT_NE(why.find("'thumbnails'"), std::string::npos);
}

TEST(GeneratedFileTest, ItsCheapSizeNeverWaitsBehindAGeneration) {
  std::promise<void> started, release;
  std::shared_future<void> go = release.get_future().share();
  std::atomic<int> generations{0};
  auto file = MakeGeneratedFile([&]() -> Result<std::string> {
    if (generations.fetch_add(1) == 0) {
      started.set_value();
      go.wait();  // the first generation is slow
    }
    return std::string("a,b\n");
  });
  EXPECT_FALSE(file->SizeIfCheap().has_value());
  std::thread reader([&] { EXPECT_EQ(*file->Size(), 4u); });
  started.get_future().wait();
  // While it generates: no size yet, and no waiting (waiting here would
  // never end: the generation goes on only after this line).
  EXPECT_FALSE(file->SizeIfCheap().has_value());
  release.set_value();
  reader.join();
  EXPECT_EQ(file->SizeIfCheap(), std::optional<uint64_t>(4));
  EXPECT_EQ(generations.load(), 1);
}

TEST(GeneratedFileTest, AFailedGenerationIsTriedAgain) {
  int calls = 0;
  auto file = MakeGeneratedFile([&]() -> Result<std::string> {
    if (++calls == 1) return Status::IOError("storage hiccup");
    return std::string("ok");
  });
  EXPECT_FALSE(file->Size().ok());
  EXPECT_EQ(*file->Size(), 2u);
  EXPECT_EQ(calls, 2);
}

TEST(ExportTest, WritesEveryFileWithItsComputedSize) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 50;
  spec.tile_height = 40;
  spec.tiles_x = 2;
  spec.sizes = {{'C', 2}, {'Z', 3}};
  WriteOrDie(spec, dir.File("a.czi"));
  ExportOptions opts;
  opts.threads = 3;
  auto report =
      ExportSources({dir.File("a.czi")}, Session::Create(1 << 20), {}, dir.File("out"), opts);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->problems.empty());
  EXPECT_EQ(report->planes_written, 6u);
  // 6 planes, 12 tiles, hyperstack, thumbnail, 3 metadata files; the
  // OME-Zarr image: .zgroup, .zattrs, 0/.zarray and a chunk per channel
  // (its 3 small planes stacked along Z); the OME-TIFF; the bioformats2raw
  // root's .zgroup, .zattrs and OME/ (.zgroup, .zattrs, METADATA.ome.xml).
  EXPECT_EQ(report->files_written, 34u);
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok());
  const TreeNode* plane = Walk(*tree->root, "S0/C1/T0/Z2.tif");
  ASSERT_NE(plane, nullptr);
  EXPECT_EQ(std::filesystem::file_size(dir.File("out/S0/C1/T0/Z2.tif")), *plane->file->Size());
  EXPECT_EQ(testing::ReadFileBytes(dir.File("out/S0/C1/T0/Z2.tif")),
            ReadAll(*plane->file, 1 << 20));
}

TEST(ExportTest, AFolderIsWrittenAsTheMountShowsItAndBrokenFilesAreReported) {
  TempDir dir;
  namespace fs = std::filesystem;
  fs::create_directories(dir.File("src/day1"));
  fs::create_directories(dir.File("outside"));
  synth::Spec spec;
  spec.tile_width = 8;
  spec.tile_height = 8;
  WriteOrDie(spec, dir.File("src/a.czi"));
  WriteOrDie(spec, dir.File("src/day1/b.czi"));
  WriteOrDie(spec, dir.File("outside/secret.czi"));
  testing::WriteFileBytes(dir.File("src/day1/broken.czi"), std::vector<uint8_t>(100, 1));
  testing::WriteFileBytes(dir.File("src/notes.txt"), std::vector<uint8_t>(10, 'x'));
  fs::create_symlink(dir.File("src/day1/b.czi"), dir.File("src/link_in.czi"));
  fs::create_symlink(dir.File("outside/secret.czi"), dir.File("src/link_out.czi"));
  fs::create_symlink(dir.File("outside"), dir.File("src/dir_out"));
  fs::create_symlink(dir.File("src"), dir.File("src/day1/loop"));  // a cycle
  auto report = ExportSources({dir.File("src")}, Session::Create(1 << 20), {}, dir.File("out"),
                              ExportOptions{});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  std::vector<std::string> top, day1;
  for (const auto& e : fs::directory_iterator(dir.File("out"))) top.push_back(e.path().filename());
  for (const auto& e : fs::directory_iterator(dir.File("out/day1"))) {
    day1.push_back(e.path().filename());
  }
  std::sort(top.begin(), top.end());
  std::sort(day1.begin(), day1.end());
  EXPECT_EQ(top, (std::vector<std::string>{"a.czi", "day1", "link_in.czi"}));
  EXPECT_EQ(day1, (std::vector<std::string>{"b.czi"}));
  EXPECT_EQ(testing::ReadFileBytes(dir.File("out/link_in.czi/S0/C0/T0/Z0.tif")),
            testing::ReadFileBytes(dir.File("out/day1/b.czi/S0/C0/T0/Z0.tif")));
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_NE(report->problems[0].ToString().find("broken.czi"), std::string::npos);
}

TEST(ExportTest, ASingleFileThatDoesNotParseFailsBeforeWritingAnything) {
  TempDir dir;
  testing::WriteFileBytes(dir.File("broken.czi"), std::vector<uint8_t>(100, 1));
  auto report = ExportSources({dir.File("broken.czi")}, Session::Create(1 << 20), {},
                              dir.File("out"), ExportOptions{});
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().ToString().find("broken.czi"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.File("out")));
}

TEST(ExportTest, AnOutputFolderInsideTheSourceFolderIsRefusedBeforeAnythingIsWritten) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 8;
  spec.tile_height = 8;
  std::filesystem::create_directories(dir.File("src"));
  WriteOrDie(spec, dir.File("src/a.czi"));
  for (const char* out : {"src/out", "src", "src/./deeper/out"}) {
    auto report = ExportSources({dir.File("src")}, Session::Create(1 << 20), {}, dir.File(out),
                                ExportOptions{});
    ASSERT_FALSE(report.ok()) << out;
    EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(report.status().ToString().find("inside the source folder"), std::string::npos);
  }
  EXPECT_FALSE(std::filesystem::exists(dir.File("src/out")));
  // A sibling whose name starts the same is outside.
  EXPECT_TRUE(ExportSources({dir.File("src")}, Session::Create(1 << 20), {}, dir.File("src2"),
                            ExportOptions{})
                  .ok());
}

TEST(ExportTest, StoppedWhileLookingAtTheSourceItMakesAndWritesNothing) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 8;
  spec.tile_height = 8;
  WriteOrDie(spec, dir.File("a.czi"));
  std::atomic<bool> stop{true};
  ExportOptions opts;
  opts.stop = &stop;
  auto report =
      ExportSources({dir.File("a.czi")}, Session::Create(1 << 20), {}, dir.File("out"), opts);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->stopped);
  EXPECT_EQ(report->files_written, 0u);
  EXPECT_FALSE(std::filesystem::exists(dir.File("out")));
}

}  // namespace
}  // namespace czifs

namespace czifs {
namespace {

TEST(ConcurrencyTest, ParallelReadsWithPoolReadAheadAndATinyCacheEqualSequentialReads) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 96;
  spec.tile_height = 64;
  spec.tiles_x = 3;
  spec.tiles_y = 2;
  spec.sizes = {{'C', 2}, {'Z', 3}};
  WriteOrDie(spec, dir.File("a.czi"));
  auto ref_doc = CziDocument::Open(dir.File("a.czi"), Session::Create(64 << 20));
  // A cache of a few tiles: entries are evicted while other threads use them.
  auto doc = CziDocument::Open(dir.File("a.czi"), Session::Create(40 << 10));
  ASSERT_TRUE(ref_doc.ok() && doc.ok());
  const uint32_t planes = static_cast<uint32_t>((*doc)->index().planes().size());
  std::vector<std::vector<uint8_t>> ref(planes);
  std::vector<ServedTiff> tiffs(planes);
  for (uint32_t p = 0; p < planes; ++p) {
    auto tiff = (*doc)->catalog().Describe({TiffKind::kPlane, p});
    ASSERT_TRUE(tiff.ok());
    tiffs[p] = *tiff;
    ref[p].resize(*tiffs[p].layout->SizeIfBuilt());
    auto n = (*ref_doc)->reader().Read(tiffs[p], 0, ref[p].size(), ref[p].data());
    ASSERT_TRUE(n.ok() && *n == ref[p].size());
  }
  ThreadPool pool(3);
  ReadContext ctx;
  ctx.pool = &pool;
  ctx.readahead_bytes = 64 << 10;
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<uint8_t> buf;
      for (int i = 0; i < 200; ++i) {
        const uint32_t p = rng() % planes;
        const uint64_t off = rng() % ref[p].size();
        const size_t len = std::min<uint64_t>(1 + rng() % 40000, ref[p].size() - off);
        buf.assign(len, 0xAB);
        auto n = (*doc)->reader().Read(tiffs[p], off, len, buf.data(), &ctx);
        if (!n.ok() || *n != len) {
          failures.fetch_add(1);
        } else if (!std::equal(buf.begin(), buf.end(), ref[p].begin() + off)) {
          mismatches.fetch_add(1);
        }
      }
    });
  }
  for (auto& r : readers) r.join();
  pool.Wait();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace czifs

namespace czifs {
namespace {}  // namespace
}  // namespace czifs

namespace czifs {
namespace {

TEST(HyperstackTest, SceneStackHoldsEveryPlaneInImageJOrderWithItsDimensions) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 30;
  spec.tile_height = 20;
  spec.tiles_x = 2;
  spec.sizes = {{'C', 2}, {'Z', 3}, {'T', 2}};
  WriteOrDie(spec, dir.File("a.czi"));
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok());
  const TreeNode* stack = Walk(*tree->root, "S0/hyperstack.tif");
  ASSERT_NE(stack, nullptr);
  // Read in odd-sized pieces: reads cross page and strip boundaries.
  const auto bytes = ReadAll(*stack->file, 777);
  ASSERT_EQ(bytes.size(), *stack->file->Size());
  testing::WriteFileBytes(dir.File("stack.tif"), bytes);
  TIFF* tif = TIFFOpen(dir.File("stack.tif").c_str(), "r");
  ASSERT_NE(tif, nullptr);
  char* desc = nullptr;
  ASSERT_TRUE(TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &desc));
  const std::string d(desc);
  for (const char* want : {"images=12\n", "channels=2\n", "slices=3\n", "frames=2\n",
                           "hyperstack=true\n", "unit=micron\n", "spacing=0.5\n"}) {
    EXPECT_NE(d.find(want), std::string::npos) << want << " in " << d;
  }
  int page = 0;
  do {
    const int c = page % 2, z = (page / 2) % 3, t = page / 6;
    const TreeNode* plane =
        Walk(*tree->root, "S0/C" + std::to_string(c) + "/T" + std::to_string(t) + "/Z" +
                              std::to_string(z) + ".tif");
    ASSERT_NE(plane, nullptr);
    uint32_t w = 0, h = 0;
    const auto expected = TiffPixels(ReadAll(*plane->file, 1 << 20), dir, &w, &h);
    uint32_t sw = 0, sh = 0;
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &sw);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &sh);
    ASSERT_EQ(sw, w);
    ASSERT_EQ(sh, h);
    const size_t row = TIFFScanlineSize(tif);
    std::vector<uint8_t> px(row * sh);
    for (uint32_t y = 0; y < sh; ++y) TIFFReadScanline(tif, px.data() + y * row, y);
    EXPECT_TRUE(px == expected) << "page " << page;
    ++page;
  } while (TIFFReadDirectory(tif));
  TIFFClose(tif);
  EXPECT_EQ(page, 12);
}

TEST(HyperstackTest, ReadAheadFollowsPageOrderNotPlaneOrder) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 32;
  spec.tile_height = 32;
  spec.sizes = {{'C', 2}, {'Z', 2}};
  auto doc = testing::WriteAndOpen(spec, dir);
  ASSERT_NE(doc, nullptr);
  auto stack = doc->catalog().Describe({TiffKind::kHyperstack, 0});
  ASSERT_TRUE(stack.ok());
  const ServedTiff& st = *stack;
  ASSERT_EQ(st.pages.size(), 4u);
  // Pages: C0Z0, C1Z0, C0Z1, C1Z1; planes in index order: C0Z0, C0Z1, C1Z0, C1Z1.
  const auto& planes = doc->index().planes();
  ASSERT_FALSE(planes[st.pages[1].plane].subblocks.empty());
  ASSERT_FALSE(planes[st.pages[0].plane + 1].subblocks.empty());
  const uint32_t next_page = planes[st.pages[1].plane].subblocks[0];
  const uint32_t next_plane = planes[st.pages[0].plane + 1].subblocks[0];
  ASSERT_NE(next_page, next_plane);
  auto layout = st.layout->Get();
  ASSERT_TRUE(layout.ok());
  const uint64_t page_bytes = (*layout)->pixel_bytes() / 4;
  ThreadPool pool(2);
  ReadContext ctx;
  ctx.pool = &pool;
  ctx.readahead_bytes = page_bytes;  // exactly the next page
  // Read the first page's pixels.
  std::vector<uint8_t> buf(page_bytes);
  ASSERT_TRUE(
      (doc)->reader().Read(st, (*layout)->pixel_offset(), buf.size(), buf.data(), &ctx).ok());
  pool.Wait();
  EXPECT_TRUE(doc->reader().subblocks().IsCached(next_page));
  EXPECT_FALSE(doc->reader().subblocks().IsCached(next_plane));
}

TEST(ReadAheadTest, AReadThatStartsInTheHeaderSetsOffNoReadAhead) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 32;
  spec.tile_height = 32;
  spec.sizes = {{'C', 1}, {'Z', 3}};
  WriteOrDie(spec, dir.File("a.czi"));
  auto session = Session::Create(1 << 20);
  auto doc = CziDocument::Open(dir.File("a.czi"), session);
  ASSERT_TRUE(doc.ok());
  ThreadPool pool(2);
  ReadContext ctx;
  ctx.pool = &pool;
  ctx.readahead_bytes = 16 << 20;
  auto plane = (*doc)->catalog().Describe({TiffKind::kPlane, 0});
  ASSERT_TRUE(plane.ok());
  auto layout = plane->layout->Get();
  ASSERT_TRUE(layout.ok());
  // The header and tags alone: nothing decoded.
  std::vector<uint8_t> buf((*layout)->pixel_offset() + (64 << 10));
  ASSERT_TRUE((*doc)->reader().Read(*plane, 0, (*layout)->pixel_offset(), buf.data(), &ctx).ok());
  pool.Wait();
  EXPECT_EQ(session->decoded.load(), 0u);
  // A read from 0 that takes in the first rows too: only plane 0's own tile
  // is decoded, not the next planes'.
  ASSERT_TRUE((*doc)->reader().Read(*plane, 0, buf.size(), buf.data(), &ctx).ok());
  pool.Wait();
  EXPECT_EQ(session->decoded.load(), 1u);
  // A read of pixel data (a plane's last bytes) does read ahead: the next planes' tiles.
  const uint64_t last = (*layout)->size() - 16;
  ASSERT_GT((*layout)->PixelRange(last, 16).second, 0u);
  ASSERT_TRUE((*doc)->reader().Read(*plane, last, 16, buf.data(), &ctx).ok());
  pool.Wait();
  EXPECT_GT(session->decoded.load(), 1u);
}

// Reads pixel bytes [from, to) of `tiff` in chunks of `chunk`, as cp does.
void ReadPixels(const CziDocument& doc, const ServedTiff& tiff, uint64_t from, uint64_t to,
                uint64_t chunk, const ReadContext& ctx) {
  std::vector<uint8_t> buf(chunk);
  for (uint64_t at = from; at < to; at += chunk) {
    const size_t n = static_cast<size_t>(std::min(chunk, to - at));
    ASSERT_TRUE(doc.reader().Read(tiff, at, n, buf.data(), &ctx).ok());
  }
}

TEST(CacheTest, ASequentialReaderRetiresTheTilesItWentPastAndOnlyThose) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 64;
  spec.tile_height = 64;
  spec.tiles_x = 3;
  spec.tiles_y = 4;
  WriteOrDie(spec, dir.File("a.czi"));
  auto session = Session::Create(64 << 20);
  auto doc = CziDocument::Open(dir.File("a.czi"), session);
  ASSERT_TRUE(doc.ok());
  ThreadPool pool(2);
  ReadContext ctx;
  ctx.pool = &pool;
  auto plane = (*doc)->catalog().Describe({TiffKind::kPlane, 0});
  ASSERT_TRUE(plane.ok());
  auto layout = plane->layout->Get();
  ASSERT_TRUE(layout.ok());
  const uint64_t begin = (*layout)->pixel_offset();
  const uint64_t end = begin + (*layout)->pixel_bytes();
  SubblockCache& cache = session->cache();
  // The top half: the first band of tiles is done with, the second is not.
  ReadPixels(**doc, *plane, begin, begin + (end - begin) / 2, 1000, ctx);
  EXPECT_GT(cache.retired_usage(), 0u);
  EXPECT_LT(cache.retired_usage(), cache.usage());
  // To the end: every tile drawn is done with, and still there for a
  // reader that comes back (a hit makes it an ordinary entry again).
  ReadPixels(**doc, *plane, begin + (end - begin) / 2, end, 1000, ctx);
  pool.Wait();
  EXPECT_EQ(cache.retired_usage(), cache.usage());
  const uint64_t decoded = session->decoded.load();
  EXPECT_EQ(decoded, 12u);
  ReadPixels(**doc, *plane, begin, begin + 1000, 1000, ctx);
  EXPECT_EQ(session->decoded.load(), decoded);
  EXPECT_LT(cache.retired_usage(), cache.usage());
}

TEST(HyperstackTest, FilesWithExtraDimensionsSayWhyTheyHaveNoHyperstack) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 16;
  spec.tile_height = 16;
  spec.sizes = {{'C', 1}, {'H', 3}};
  auto doc = testing::WriteAndOpen(spec, dir);
  ASSERT_NE(doc, nullptr);
  auto stack = doc->catalog().Describe({TiffKind::kHyperstack, 0});
  ASSERT_TRUE(stack.ok());
  EXPECT_NE(stack->unsupported.find("H dimension"), std::string::npos);
  EXPECT_NE(InfoJson(doc->report()).find("\"unavailable\": \"the file has a H dimension"),
            std::string::npos);
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(Walk(*tree->root, "S0/hyperstack.tif"), nullptr);
}

}  // namespace
}  // namespace czifs

namespace czifs {
namespace {

TEST(AttachmentsTest, EachAttachmentIsAFileUnderAttachmentsWithASafeName) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 16;
  spec.tile_height = 16;
  spec.thumbnail = true;
  WriteOrDie(spec, dir.File("a.czi"));
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok());
  const TreeNode* thumb = Walk(*tree->root, "attachments/Thumbnail.jpg");
  ASSERT_NE(thumb, nullptr);
  const auto bytes = ReadAll(*thumb->file, 1000);
  ASSERT_GT(bytes.size(), 4u);
  EXPECT_EQ(bytes[0], 0xFF);
  EXPECT_EQ(bytes[1], 0xD8);  // a JPEG
  auto czi = CziFile::Open(dir.File("a.czi"));
  ASSERT_TRUE(czi.ok());
  auto raw = (*czi)->ReadAttachment(0);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(bytes, *raw);
}

}  // namespace
}  // namespace czifs
