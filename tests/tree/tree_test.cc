#include "czifs/tree.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "../support/document_tree.h"
#include "../support/specs.h"
#include "../support/test_util.h"
#include "czifs/czi_types.h"

namespace czifs {
namespace {

using testing::TempDir;
using testing::WriteOrDie;

using testing::ReadAll;
using testing::TiffPixels;
using testing::Walk;

struct Case {
  std::string name;
  synth::Spec spec;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> Cases() {
  std::vector<Case> cases;
  auto base = [] {
    synth::Spec s = testing::Tiles(40, 30);
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
  synth::Spec spec = testing::Mosaic(16, 16, 2, 1);
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
  synth::Spec spec = testing::Tiles(16, 16);
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
  synth::Spec spec = testing::Tiles(16, 16);
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
  synth::Spec spec = testing::Tiles(8, 8);
  spec.codec = synth::Codec::kSystemRaw;
  WriteOrDie(spec, dir.File("a.czi"));
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(Walk(*tree->root, "S0/C0/T0/Z0.tif"), nullptr);
  ASSERT_EQ(tree->problems.size(), 1u);
  EXPECT_NE(tree->problems[0].message.find("System-RAW(1001)"), std::string::npos);
  EXPECT_NE(tree->root->Find("info.json"), nullptr);
}

TEST(TreeTest, WithoutLeavesOutTheNamedViewsAndKeepsThePlanes) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(16, 16);
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

}  // namespace
}  // namespace czifs

namespace czifs {
namespace {

TEST(AttachmentsTest, EachAttachmentIsAFileUnderAttachmentsWithASafeName) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(16, 16);
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
