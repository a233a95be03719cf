#include "czifs/czi_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "../support/specs.h"
#include "../support/test_util.h"
#include "czifs/metadata.h"
#include "czifs/random_access_file.h"

namespace czifs {
namespace {

using testing::TempDir;
using testing::WriteOrDie;

TEST(CziFileTest, ReadsDirectoryOfWrittenFile) {
  TempDir dir;
  synth::Spec spec;
  spec.pixel_type = 1;
  spec.tiles_x = 2;
  spec.tiles_y = 2;
  spec.tile_width = 32;
  spec.tile_height = 16;
  spec.origin_x = -100;
  spec.origin_y = -50;
  spec.sizes = {{'C', 2}, {'Z', 3}};
  WriteOrDie(spec, dir.File("a.czi"));
  auto czi = CziFile::Open(dir.File("a.czi"));
  ASSERT_TRUE(czi.ok()) << czi.status().ToString();
  const auto& sbs = (*czi)->subblocks();
  ASSERT_EQ(sbs.size(), 2u * 3u * 4u);
  const auto tiles = synth::EnumerateTiles(spec);
  for (size_t i = 0; i < sbs.size(); ++i) {
    EXPECT_EQ(sbs[i].index, i);
    EXPECT_EQ(sbs[i].x, tiles[i].x);
    EXPECT_EQ(sbs[i].y, tiles[i].y);
    EXPECT_EQ(sbs[i].width, 32);
    EXPECT_EQ(sbs[i].stored_height, 16);
    EXPECT_EQ(sbs[i].Coord(Dim::kC), tiles[i].coords.at('C'));
    EXPECT_EQ(sbs[i].Coord(Dim::kZ), tiles[i].coords.at('Z'));
    EXPECT_EQ(sbs[i].Coord(Dim::kM), tiles[i].m);
    EXPECT_TRUE(sbs[i].Has(Dim::kM));
    EXPECT_FALSE(sbs[i].Has(Dim::kT));
    EXPECT_EQ(sbs[i].compression, 6);
  }
  ASSERT_EQ((*czi)->attachments().size(), 1u);
  EXPECT_EQ((*czi)->attachments()[0].name, "Thumbnail");
  auto thumb = (*czi)->ReadAttachment(0);
  ASSERT_TRUE(thumb.ok());
  ASSERT_GE(thumb->size(), 2u);
  EXPECT_EQ((*thumb)[0], 0xFF);
  EXPECT_EQ((*thumb)[1], 0xD8);
}

TEST(CziFileTest, ReadsSubblockExtentAndMetadata) {
  TempDir dir;
  synth::Spec spec;
  spec.codec = synth::Codec::kUncompressed;
  spec.tile_width = 10;
  spec.tile_height = 10;
  WriteOrDie(spec, dir.File("a.czi"));
  auto czi = CziFile::Open(dir.File("a.czi"));
  ASSERT_TRUE(czi.ok());
  auto x = (*czi)->ReadSubblockExtent(0);
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  EXPECT_EQ(x->data_size, 200u);
  auto xml = (*czi)->ReadSubblockMetadata(*x);
  ASSERT_TRUE(xml.ok());
  SubblockTags tags = ParseSubblockTags(*xml);
  ASSERT_TRUE(tags.stage_x_um.has_value());
  EXPECT_DOUBLE_EQ(*tags.stage_x_um, 1000.0);
  ASSERT_TRUE(tags.acquisition_time.has_value());
}

TEST(CziFileTest, RejectsFileThatIsNotACzi) {
  TempDir dir;
  testing::WriteFileBytes(dir.File("x.czi"), std::vector<uint8_t>(1000, 'A'));
  auto czi = CziFile::Open(dir.File("x.czi"));
  ASSERT_FALSE(czi.ok());
  EXPECT_EQ(czi.status().code(), StatusCode::kCorruption);
  EXPECT_NE(czi.status().message().find("ZISRAWFILE"), std::string::npos);
}

TEST(CziFileTest, DamagedSegmentIdIsQuotedPrintably) {
  TempDir dir;
  std::vector<uint8_t> bytes(1000, 'A');
  bytes[0] = 'Z';
  bytes[1] = 0xac;  // not UTF-8: must not reach a log line raw
  bytes[2] = '\n';
  testing::WriteFileBytes(dir.File("x.czi"), bytes);
  auto czi = CziFile::Open(dir.File("x.czi"));
  ASSERT_FALSE(czi.ok());
  const std::string msg = czi.status().message();
  EXPECT_NE(msg.find("not a CZI file (it starts with 'Z\\xac\\x0aAAAAAAA'"), std::string::npos)
      << msg;
  for (const char c : msg) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << msg;
}

TEST(CziFileTest, RejectsEmptyFile) {
  TempDir dir;
  testing::WriteFileBytes(dir.File("x.czi"), {});
  auto czi = CziFile::Open(dir.File("x.czi"));
  ASSERT_FALSE(czi.ok());
}

TEST(CziFileTest, MissingFileIsIOError) {
  auto czi = CziFile::Open("/nonexistent/file.czi");
  ASSERT_FALSE(czi.ok());
  EXPECT_EQ(czi.status().code(), StatusCode::kIOError);
}

TEST(CziFileTest, ImplausibleEntryCountIsCorruptionNotAllocation) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(8, 8);
  WriteOrDie(spec, dir.File("a.czi"));
  auto bytes = testing::ReadFileBytes(dir.File("a.czi"));
  auto czi = CziFile::Open(dir.File("a.czi"));
  ASSERT_TRUE(czi.ok());
  const uint64_t dir_pos = (*czi)->header().directory_position;
  // EntryCount lives right after the 32-byte segment header.
  bytes[dir_pos + 32] = 0xFF;
  bytes[dir_pos + 33] = 0xFF;
  bytes[dir_pos + 34] = 0xFF;
  bytes[dir_pos + 35] = 0x0F;
  testing::WriteFileBytes(dir.File("b.czi"), bytes);
  auto bad = CziFile::Open(dir.File("b.czi"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption);
  EXPECT_NE(bad.status().message().find("subblock directory"), std::string::npos)
      << bad.status().message();
}

TEST(CziFileTest, SubblockPointingPastEndIsCorruption) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(8, 8);
  spec.thumbnail = false;
  WriteOrDie(spec, dir.File("a.czi"));
  auto bytes = testing::ReadFileBytes(dir.File("a.czi"));
  auto czi = CziFile::Open(dir.File("a.czi"));
  ASSERT_TRUE(czi.ok());
  const uint64_t entry = (*czi)->header().directory_position + 32 + 128;
  // FilePosition: after "DV" (2) and PixelType (4).
  for (int i = 0; i < 8; ++i) bytes[entry + 6 + i] = i == 6 ? 0x7F : 0;
  testing::WriteFileBytes(dir.File("b.czi"), bytes);
  auto bad = CziFile::Open(dir.File("b.czi"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("past end of file"), std::string::npos);
}

TEST(CziFileTest, KeepsAtMostTheConfiguredNumberOfDescriptorsOpen) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(8, 8);
  spec.codec = synth::Codec::kUncompressed;
  std::vector<std::shared_ptr<const CziFile>> files;
  auto pool = std::make_shared<DescriptorPool>(4);
  for (int i = 0; i < 20; ++i) {
    spec.seed = static_cast<uint64_t>(i + 1);
    WriteOrDie(spec, dir.File(std::to_string(i) + ".czi"));
    auto file = RandomAccessFile::Open(dir.File(std::to_string(i) + ".czi"), pool);
    ASSERT_TRUE(file.ok());
    auto czi = CziFile::Open(std::move(file).value());
    ASSERT_TRUE(czi.ok());
    files.push_back(*czi);
    EXPECT_LE(pool->OpenCount(), 4u);
  }
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 20; ++i) {
      spec.seed = static_cast<uint64_t>(i + 1);
      auto x = files[i]->ReadSubblockExtent(0);
      ASSERT_TRUE(x.ok()) << x.status().ToString();
      std::vector<uint8_t> px(x->data_size);
      ASSERT_TRUE(files[i]->ReadBytes(x->data_offset, px.size(), px.data()).ok());
      EXPECT_EQ(px, synth::TilePixels(spec, synth::EnumerateTiles(spec)[0])) << i;
      EXPECT_LE(pool->OpenCount(), 4u);
    }
  }
}

// One 8x8 tile: the smallest file the tests of a changing file need.
synth::Spec TinySpec(uint64_t seed = 1) {
  synth::Spec spec = testing::Tiles(8, 8);
  spec.seed = seed;
  return spec;
}

TEST(CziFileTest, ReadOfAFileChangedSinceOpenFails) {
  TempDir dir;
  synth::Spec spec = TinySpec();
  WriteOrDie(spec, dir.File("a.czi"));
  auto czi = CziFile::Open(dir.File("a.czi"));
  ASSERT_TRUE(czi.ok());
  spec.tile_width = 9;  // a different size: the file's length changes
  WriteOrDie(spec, dir.File("a.czi"));
  auto x = (*czi)->ReadSubblockExtent(0);
  ASSERT_FALSE(x.ok());
  EXPECT_NE(x.status().message().find("changed"), std::string::npos) << x.status().ToString();
}

// Writes `bytes` over `path` in place and puts its mtime back: a same-size
// rewrite only the ctime betrays.
void RewriteKeepingMtime(const std::string& path, const std::vector<uint8_t>& bytes) {
  struct stat before;
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  FILE* f = std::fopen(path.c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  std::fclose(f);
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

TEST(CziFileTest, AChangeOfModeOwnerOrLinksAloneKeepsTheFileReadable) {
  TempDir dir;
  WriteOrDie(TinySpec(), dir.File("a.czi"));
  auto czi = CziFile::Open(dir.File("a.czi"));
  ASSERT_TRUE(czi.ok());
  EXPECT_NE((*czi)->fingerprint(), 0u);
  ASSERT_EQ(::chmod(dir.File("a.czi").c_str(), 0600), 0);
  ASSERT_EQ(::link(dir.File("a.czi").c_str(), dir.File("b.czi").c_str()), 0);
  // The same bytes written again with the mtime put back: the same content.
  RewriteKeepingMtime(dir.File("a.czi"), testing::ReadFileBytes(dir.File("a.czi")));
  auto x = (*czi)->ReadSubblockExtent(0);
  EXPECT_TRUE(x.ok()) << x.status().ToString();
  auto now = StatIdentity(dir.File("a.czi"));
  ASSERT_TRUE(now.ok());
  EXPECT_FALSE(now->SameContent((*czi)->identity()));  // the ctime moved...
  EXPECT_TRUE(*(*czi)->IsSameVersion(*now));           // ...the version did not
}

TEST(CziFileTest, ASameSizeRewriteWithTheMtimePutBackIsAnotherVersion) {
  TempDir dir;
  WriteOrDie(TinySpec(1), dir.File("a.czi"));
  WriteOrDie(TinySpec(2), dir.File("b.czi"));  // another acquisition: another file GUID
  const auto b = testing::ReadFileBytes(dir.File("b.czi"));
  ASSERT_EQ(testing::ReadFileBytes(dir.File("a.czi")).size(), b.size());
  auto czi = CziFile::Open(dir.File("a.czi"));
  ASSERT_TRUE(czi.ok());
  RewriteKeepingMtime(dir.File("a.czi"), b);
  auto x = (*czi)->ReadSubblockExtent(0);
  ASSERT_FALSE(x.ok());
  EXPECT_NE(x.status().message().find("changed"), std::string::npos) << x.status().ToString();
  EXPECT_FALSE(*(*czi)->IsSameVersion(*StatIdentity(dir.File("a.czi"))));
}

TEST(MetadataTest, ChannelNamesFallBackToDisplaySettings) {
  const std::string xml =
      "<ImageDocument><Metadata><Information><Image><Dimensions><Channels>"
      "<Channel Id=\"Channel:0\"/><Channel Id=\"Channel:1\"/></Channels></Dimensions></Image>"
      "</Information><DisplaySetting><Channels>"
      "<Channel Name=\"DAPI\"><Color>#FF0000FF</Color></Channel>"
      "<Channel><ShortName>GFP</ShortName></Channel>"
      "</Channels></DisplaySetting></Metadata></ImageDocument>";
  ImageMetadata md = ParseImageMetadata(xml);
  ASSERT_EQ(md.channels.size(), 2u);
  EXPECT_EQ(md.channels[0].name, "DAPI");
  EXPECT_EQ(md.channels[0].color, "#FF0000FF");
  EXPECT_EQ(md.channels[1].name, "GFP");
}

TEST(MetadataTest, ParsesScalingChannelsAndColours) {
  const std::string xml =
      "<ImageDocument><Metadata><Scaling><Items>"
      "<Distance Id=\"X\"><Value>1.6e-06</Value></Distance>"
      "<Distance Id=\"Y\"><Value>1.6e-06</Value></Distance>"
      "<Distance Id=\"Z\"><Value>5E-07</Value></Distance></Items></Scaling>"
      "<Information><Image><Dimensions><Channels>"
      "<Channel Name=\"DAPI\"/><Channel Name=\"GFP\"/></Channels></Dimensions></Image>"
      "</Information><DisplaySetting><Channels><Channel><Color>#FF0000FF</Color></Channel>"
      "</Channels></DisplaySetting></Metadata></ImageDocument>";
  ImageMetadata md = ParseImageMetadata(xml);
  EXPECT_EQ(md.scale_x_um, 1.6);
  EXPECT_EQ(md.scale_z_um, 0.5);
  ASSERT_EQ(md.channels.size(), 2u);
  EXPECT_EQ(md.channels[1].name, "GFP");
  EXPECT_EQ(md.channels[0].color, "#FF0000FF");
  EXPECT_TRUE(md.warning.empty());
}

TEST(MetadataTest, DisplayRangeIsZensLowAndHighInPixelValues) {
  const std::string xml =
      "<ImageDocument><Metadata><Information><Image><Dimensions><Channels>"
      "<Channel Name=\"A\"/><Channel Name=\"B\"/><Channel Name=\"C\"/></Channels>"
      "</Dimensions></Image></Information><DisplaySetting><Channels>"
      "<Channel><Low>0.0050153747</Low><High>0.0269867277</High><Color>#FFFF00FF</Color></Channel>"
      "<Channel><High>0.0625</High></Channel>"
      "<Channel><Color>#00FF5B</Color></Channel>"
      "</Channels></DisplaySetting></Metadata></ImageDocument>";
  ImageMetadata md = ParseImageMetadata(xml);
  ASSERT_EQ(md.channels.size(), 3u);
  const int32_t gray8 = 0, gray16 = 1, bgr24 = 3;
  // Fractions of the full range: LLS7's channel 1 and a 12-bit camera in 16 bits.
  EXPECT_EQ(DisplayRange(md.channels[0], gray16), std::make_pair(329.0, 1769.0));
  EXPECT_EQ(DisplayRange(md.channels[1], gray16), std::make_pair(0.0, 4096.0));
  EXPECT_EQ(DisplayRange(md.channels[1], gray8), std::make_pair(0.0, 16.0));
  EXPECT_EQ(DisplayRange(md.channels[2], gray16), std::nullopt);  // ZEN set none
  EXPECT_EQ(DisplayRange(md.channels[0], bgr24), std::nullopt);   // colour: no single range
  EXPECT_EQ(ParseColor(md.channels[0].color), 0xFF00FFu);
  EXPECT_EQ(ParseColor(md.channels[2].color), 0x00FF5Bu);
  EXPECT_EQ(ParseColor("red"), std::nullopt);
  EXPECT_EQ(ParseColor("#FF00GG00"), std::nullopt);
}

TEST(MetadataTest, BrokenXmlDegradesToWarning) {
  ImageMetadata md = ParseImageMetadata("<ImageDocument><Metadata>");
  EXPECT_FALSE(md.scale_x_um.has_value());
  EXPECT_FALSE(md.warning.empty());
}

TEST(MetadataTest, EntityDeclarationsAreNotExpanded) {
  const std::string xml =
      "<!DOCTYPE d [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
      "<ImageDocument><Metadata><Information><Image><Dimensions><Channels>"
      "<Channel Name=\"&e;\"/></Channels></Dimensions></Image></Information></Metadata>"
      "</ImageDocument>";
  ImageMetadata md = ParseImageMetadata(xml);
  for (const auto& c : md.channels) EXPECT_EQ(c.name.find("root"), std::string::npos);
}

TEST(MetadataTest, ParsesIsoTimesWithFractionsAndOffsets) {
  auto a = ParseIsoTime("1970-01-01T00:00:01.5Z");
  ASSERT_TRUE(a);
  EXPECT_DOUBLE_EQ(*a, 1.5);
  auto b = ParseIsoTime("2021-05-03T10:11:12.1234567Z");
  auto c = ParseIsoTime("2021-05-03T12:11:12.1234567+02:00");
  ASSERT_TRUE(b && c);
  EXPECT_DOUBLE_EQ(*b, *c);
  EXPECT_FALSE(ParseIsoTime("yesterday"));
}

}  // namespace
}  // namespace czifs

namespace czifs {
namespace {

TEST(CziFileTest, AFileThatIsNotACziSaysSo) {
  testing::TempDir dir;
  testing::WriteFileBytes(dir.File("notes.czi"), {'h', 'e', 'l', 'l', 'o', '\n'});
  testing::WriteFileBytes(dir.File("empty.czi"), {});
  auto text = CziFile::Open(dir.File("notes.czi"));
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.status().message().find("not a CZI file (it starts with 'hello\\x0a'"),
            std::string::npos)
      << text.status().ToString();
  auto empty = CziFile::Open(dir.File("empty.czi"));
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("not a CZI file (it is empty)"), std::string::npos);
}

}  // namespace
}  // namespace czifs
