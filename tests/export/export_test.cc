#include "czifs/export.h"

#include <gtest/gtest.h>
#include <tiffio.h>

#include <algorithm>
#include <atomic>

#include "../support/document_tree.h"
#include "../support/specs.h"
#include "../support/test_util.h"
#include "czifs/czi_types.h"
#include "czifs/export.h"

namespace czifs {
namespace {

using testing::TempDir;
using testing::WriteOrDie;

using testing::ReadAll;
using testing::Walk;

TEST(ExportTest, WritesEveryFileWithItsComputedSize) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(50, 40);
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
  synth::Spec spec = testing::Tiles(8, 8);
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
  synth::Spec spec = testing::Tiles(8, 8);
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
  synth::Spec spec = testing::Tiles(8, 8);
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
