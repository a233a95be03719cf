// The OME-Zarr images of the catalogue: chunk geometry, chunks left out
// where no subblock lies, colour as one zarr channel per sample, levels
// down to a thumbnail (the file's own pyramid where it has one, 2x2 means
// below), and what a chunk file holds.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>

#include "../support/document_tree.h"
#include "../support/specs.h"
#include "../support/test_util.h"
#include "czifs/catalog.h"
#include "czifs/czi_document.h"
#include "czifs/czi_types.h"
#include "czifs/page_reader.h"
#include "czifs/thread_pool.h"
#include "czifs/zarr_json.h"

namespace czifs {
namespace {

using testing::TempDir;
using testing::WriteAndOpen;
using testing::WriteOrDie;

// The served files of one kind, by path.
std::map<std::string, ServedTiff> ByPath(const Catalog& catalog, TiffKind kind) {
  return testing::ServedFiles(catalog, kind);
}

// The served chunk files, by path.
std::map<std::string, ServedTiff> Chunks(const Catalog& catalog) {
  return ByPath(catalog, TiffKind::kZarrChunk);
}

// Served file `kind` `index` as the catalogue describes it.
ServedTiff Described(const CziDocument& doc, TiffKind kind, uint32_t index) {
  auto t = doc.catalog().Describe({kind, index});
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : ServedTiff{};
}

std::vector<uint8_t> ReadWhole(const CziDocument& doc, const ServedTiff& tiff, size_t size) {
  std::vector<uint8_t> out(size);
  auto n = doc.reader().Read(tiff, 0, size, out.data());
  EXPECT_TRUE(n.ok() && *n == size) << (n.ok() ? "" : n.status().ToString());
  return out;
}

TEST(ZarrTest, AMosaicIsCutIntoChunksOf1024AndChunksNoTileTouchesAreLeftOut) {
  TempDir dir;
  synth::Spec spec = testing::Mosaic(1000, 700, 4, 1);
  spec.overlap = 0;
  spec.skip_positions = {1, 2};  // a gap in the mosaic: x 1000..2999
  auto doc = WriteAndOpen(spec, dir, 64 << 20);
  ASSERT_NE(doc, nullptr);
  const auto& images = doc->catalog().zarr_images();
  ASSERT_EQ(images.size(), 1u);
  const ZarrLevel& l0 = images[0].levels.at(0);
  EXPECT_EQ(images[0].name, "S0.ome.zarr");
  EXPECT_EQ(ZarrShape(images[0], l0), (std::vector<int64_t>{1, 1, 1, 700, 4000}));
  EXPECT_EQ(l0.chunk_width, 1024);
  EXPECT_EQ(l0.chunk_height, 700);  // the plane, when smaller than a chunk
  std::vector<std::string> paths;
  for (const auto& [path, i] : Chunks(doc->catalog())) paths.push_back(path);
  // Chunk 1 (x 1024..2047) lies in the gap: left out, zarr reads it as
  // zeros. Levels 1 to 3 (2000, 1000, 500 wide) are computed: their chunks
  // are those the tiles reach at that size (level 1's chunk 1 is x
  // 2048..4095 of the file: tile 3).
  EXPECT_EQ(paths, (std::vector<std::string>{"S0.ome.zarr/0/0/0/0/0/0", "S0.ome.zarr/0/0/0/0/0/2",
                                             "S0.ome.zarr/0/0/0/0/0/3", "S0.ome.zarr/1/0/0/0/0/0",
                                             "S0.ome.zarr/1/0/0/0/0/1", "S0.ome.zarr/2/0/0/0/0/0",
                                             "S0.ome.zarr/3/0/0/0/0/0"}));
}

TEST(ZarrTest, AnEdgeChunkIsFullSizeWithZerosBeyondThePlane) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(1100, 40);
  spec.pixel_type = static_cast<int32_t>(PixelType::kGray16);
  auto doc = WriteAndOpen(spec, dir, 64 << 20);
  ASSERT_NE(doc, nullptr);
  const auto chunks = Chunks(doc->catalog());
  ASSERT_EQ(chunks.size(), 4u);  // 2 of the full resolution, 1 of each computed level
  const ServedTiff& edge = chunks.at("S0.ome.zarr/0/0/0/0/0/1");
  auto layout = edge.layout->Get();
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ((*layout)->size(), 1024u * 40 * 2);  // raw samples, no header
  const auto bytes = ReadWhole(*doc, edge, (*layout)->size());
  // The plane's columns 1024..1099 of row 0, then zeros to 2047.
  const ServedTiff plane = Described(*doc, TiffKind::kPlane, 0);
  auto plane_layout = plane.layout->Get();
  ASSERT_TRUE(plane_layout.ok());
  std::vector<uint8_t> row(1100 * 2);
  ASSERT_TRUE(
      doc->reader().Read(plane, (*plane_layout)->pixel_offset(), row.size(), row.data()).ok());
  EXPECT_EQ(std::memcmp(bytes.data(), row.data() + 1024 * 2, 76 * 2), 0);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + 76 * 2, bytes.begin() + 1024 * 2),
            std::vector<uint8_t>((1024 - 76) * 2, 0));
}

TEST(ZarrTest, PlanesSmallerThanAChunkAreStackedAlongZWithZerosPastTheLastPlane) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 300;
  spec.tile_height = 200;  // 1024 * 1024 / (300 * 200): 17 planes per chunk
  spec.pixel_type = static_cast<int32_t>(PixelType::kGray16);
  spec.codec = synth::Codec::kZstd1;
  spec.sizes = {{'C', 2}, {'Z', 20}};
  auto doc = WriteAndOpen(spec, dir, 64 << 20);
  ASSERT_NE(doc, nullptr);
  const ZarrLevel& level = doc->catalog().zarr_images().at(0).levels.at(0);
  EXPECT_EQ(level.chunk_depth, 17u);
  EXPECT_EQ(ZarrChunks(level), (std::vector<int64_t>{1, 1, 17, 200, 300}));
  const auto chunks = Chunks(doc->catalog());
  ASSERT_EQ(chunks.size(), 4u);  // 2 channels x 2 chunks along Z
  const auto planes = ByPath(doc->catalog(), TiffKind::kPlane);
  const uint64_t plane_bytes = 300 * 200 * 2;
  const auto second = ReadWhole(*doc, chunks.at("S0.ome.zarr/0/0/1/1/0/0"), 17 * plane_bytes);
  for (uint32_t k = 0; k < 17; ++k) {  // C1, Z17..Z19, then zeros
    std::vector<uint8_t> expected(plane_bytes, 0);
    if (17 + k < 20) {
      const ServedTiff& plane = planes.at(fmt::format("S0/C1/T0/Z{}.tif", 17 + k));
      auto layout = plane.layout->Get();
      ASSERT_TRUE(layout.ok());
      ASSERT_TRUE(
          doc->reader().Read(plane, (*layout)->pixel_offset(), plane_bytes, expected.data()).ok());
    }
    EXPECT_EQ(std::memcmp(second.data() + k * plane_bytes, expected.data(), plane_bytes), 0)
        << "page " << k;
  }
}

TEST(ZarrTest, ColourBecomesOneZarrChannelPerSampleInRgbOrder) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(30, 20);
  spec.pixel_type = static_cast<int32_t>(PixelType::kBgr24);
  spec.codec = synth::Codec::kZstd1;
  spec.sizes = {{'C', 2}};
  auto doc = WriteAndOpen(spec, dir, 64 << 20);
  ASSERT_NE(doc, nullptr);
  const ZarrImage& image = doc->catalog().zarr_images().at(0);
  EXPECT_EQ(ZarrShape(image, image.levels[0]), (std::vector<int64_t>{1, 6, 1, 20, 30}));
  EXPECT_NE(ZarrArrayJson(image, image.levels[0]).find("\"|u1\""), std::string::npos);
  // Channel 1's plane in TIFF order (R,G,B per pixel) against its three chunks.
  const auto chunks = Chunks(doc->catalog());
  const ServedTiff plane = ByPath(doc->catalog(), TiffKind::kPlane).at("S0/C1/T0/Z0.tif");
  auto layout = plane.layout->Get();
  ASSERT_TRUE(layout.ok());
  std::vector<uint8_t> rgb(30 * 20 * 3);
  auto n = doc->reader().Read(plane, (*layout)->pixel_offset(), rgb.size(), rgb.data());
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  for (int s = 0; s < 3; ++s) {
    const auto got =
        ReadWhole(*doc, chunks.at("S0.ome.zarr/0/0/" + std::to_string(3 + s) + "/0/0/0"), 30 * 20);
    for (size_t p = 0; p < got.size(); ++p) ASSERT_EQ(got[p], rgb[p * 3 + s]) << s << " " << p;
  }
}

TEST(ZarrTest, LevelsHalveDownToTheChunkSideDrawnWhereTheFileHasThemComputedBelow) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(400, 300);
  spec.tiles_x = 4;
  spec.overlap = 0;
  spec.pyramid_levels = 2;  // the file's own factors 2 and 4
  WriteOrDie(spec, dir.File("a.czi"));
  CatalogOptions options;
  options.zarr_chunk = 64;  // the last level: at most 64 a side
  auto doc = CziDocument::Open(dir.File("a.czi"), Session::Create(64 << 20), options);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  const ZarrImage& image = (*doc)->catalog().zarr_images().at(0);
  // 1600 x 300, 800, 400, 200, 100, 50 x 10.
  ASSERT_EQ(image.levels.size(), 6u);
  for (uint32_t i = 0; i < image.levels.size(); ++i) {
    const ZarrLevel& l = image.levels[i];
    EXPECT_EQ(l.path, std::to_string(i));
    EXPECT_EQ(l.factor, 1u << i);
    EXPECT_EQ(l.width, (1600 + l.factor - 1) / l.factor);
    EXPECT_EQ(l.pyramid, std::min(i, 2u)) << i;  // drawn from the file's level 2 below it
    EXPECT_EQ(l.halvings, i > 2 ? i - 2 : 0) << i;
  }
  EXPECT_EQ(image.levels.back().width, 50);
}

TEST(ZarrTest, AComputedLevelIsThe2x2MeanOfTheLevelAboveRoundedHalfUp) {
  TempDir dir;
  synth::Spec spec = testing::Mosaic(300, 170, 3, 2);
  spec.pixel_type = static_cast<int32_t>(PixelType::kGray16);
  spec.codec = synth::Codec::kZstd1;
  WriteOrDie(spec, dir.File("a.czi"));
  CatalogOptions options;
  options.zarr_chunk = 64;
  auto doc = CziDocument::Open(dir.File("a.czi"), Session::Create(64 << 20), options);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  const ZarrImage& image = (*doc)->catalog().zarr_images().at(0);
  ASSERT_GE(image.levels.size(), 4u);
  ThreadPool pool(2);
  ReadContext ctx;
  ctx.pool = &pool;
  // Each level read whole, chunk by chunk, then halved here the slow way.
  auto level_pixels = [&](uint32_t l) {
    const ZarrLevel& level = image.levels[l];
    std::vector<uint16_t> px(static_cast<size_t>(level.width * level.height));
    for (const auto& [path, chunk] : Chunks((*doc)->catalog())) {
      if (chunk.level != l) continue;
      const size_t bytes = static_cast<size_t>(level.chunk_width * level.chunk_height * 2);
      std::vector<uint16_t> got(bytes / 2);
      auto n = (*doc)->reader().Read(chunk, 0, bytes, reinterpret_cast<uint8_t*>(got.data()), &ctx);
      EXPECT_TRUE(n.ok() && *n == bytes) << path;
      for (int64_t y = 0; y < level.chunk_height; ++y) {
        for (int64_t x = 0; x < level.chunk_width; ++x) {
          const int64_t gy = chunk.id.y * level.chunk_height + y,
                        gx = chunk.id.x * level.chunk_width + x;
          if (gy < level.height && gx < level.width) {
            px[static_cast<size_t>(gy * level.width + gx)] =
                got[static_cast<size_t>(y * level.chunk_width + x)];
          }
        }
      }
    }
    return px;
  };
  std::vector<uint16_t> above = level_pixels(0);
  for (uint32_t l = 1; l < image.levels.size(); ++l) {
    const ZarrLevel& up = image.levels[l - 1];
    const ZarrLevel& level = image.levels[l];
    const std::vector<uint16_t> got = level_pixels(l);
    for (int64_t y = 0; y < level.height; ++y) {
      for (int64_t x = 0; x < level.width; ++x) {
        const int64_t x1 = std::min(2 * x + 1, up.width - 1),
                      y1 = std::min(2 * y + 1, up.height - 1);
        auto at = [&](int64_t yy, int64_t xx) {
          return uint32_t{above[static_cast<size_t>(yy * up.width + xx)]};
        };
        const uint32_t sum = at(2 * y, 2 * x) + at(2 * y, x1) + at(y1, 2 * x) + at(y1, x1);
        ASSERT_EQ(got[static_cast<size_t>(y * level.width + x)], (sum + 2) / 4)
            << "level " << l << " at " << x << "," << y;
      }
    }
    above = got;
  }
  EXPECT_GT((*doc)->reader().subblocks().session().reduced.load(), 0u);
}

TEST(ZarrTest, AnInterruptedReadOfAComputedLevelStopsAndTheNextReadMakesIt) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(700, 600);
  spec.codec = synth::Codec::kZstd1;
  auto doc = WriteAndOpen(spec, dir, 64 << 20);
  ASSERT_NE(doc, nullptr);
  const auto chunks = Chunks(doc->catalog());
  const ServedTiff& thumb = chunks.at("S0.ome.zarr/1/0/0/0/0/0");  // 350 x 300: computed
  ASSERT_NE(thumb.pages.at(0).canvas.reduced, nullptr);
  std::vector<uint8_t> buf(350 * 300);
  ReadContext gone;
  gone.interrupt = std::make_shared<Interrupt>();
  gone.interrupt->Raise();
  auto n = doc->reader().Read(thumb, 0, buf.size(), buf.data(), &gone);
  EXPECT_EQ(n.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(doc->reader().subblocks().session().reduced.load(), 0u);
  n = doc->reader().Read(thumb, 0, buf.size(), buf.data());
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(doc->reader().subblocks().session().reduced.load(), 1u);
}

TEST(ZarrTest, ReadingAChunkReadsAheadTheNextChunkAlongX) {
  TempDir dir;
  synth::Spec spec;
  spec.tile_width = 1024;
  spec.tile_height = 1024;  // a full chunk: one plane deep
  spec.tiles_x = 3;
  spec.overlap = 0;
  spec.codec = synth::Codec::kZstd1;
  spec.sizes = {{'Z', 2}};
  auto doc = WriteAndOpen(spec, dir, 64 << 20);
  ASSERT_NE(doc, nullptr);
  const auto chunks = Chunks(doc->catalog());
  const ServedTiff& first = chunks.at("S0.ome.zarr/0/0/0/0/0/0");
  const uint32_t next_x = chunks.at("S0.ome.zarr/0/0/0/0/0/1").pages[0].canvas.subblocks[0];
  const uint32_t next_z = chunks.at("S0.ome.zarr/0/0/0/1/0/0").pages[0].canvas.subblocks[0];
  ThreadPool pool(2);
  ReadContext ctx;
  ctx.pool = &pool;
  ctx.readahead_bytes = 1024 * 1024 * 2;  // one chunk's worth
  std::vector<uint8_t> buf(1024 * 1024 * 2);
  ASSERT_TRUE(doc->reader().Read(first, 0, buf.size(), buf.data(), &ctx).ok());
  pool.Wait();
  EXPECT_TRUE(doc->reader().subblocks().IsCached(next_x));
  EXPECT_FALSE(doc->reader().subblocks().IsCached(next_z));
}

TEST(ZarrTest, PastTheChunkLimitTheImagesAreLeftOutTheirReasonShownAndThePlanesStay) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(100, 100);
  spec.tiles_x = 4;
  spec.overlap = 0;
  spec.codec = synth::Codec::kZstd1;
  spec.sizes = {{'C', 2}};
  WriteOrDie(spec, dir.File("a.czi"));
  CatalogOptions options;
  // A 400 x 100 plane: levels of 7 x 2, 4, 2 and 1 chunks, 42 for the file.
  options.zarr_chunk = 64;
  options.max_zarr_chunks = 20;
  auto doc = CziDocument::Open(dir.File("a.czi"), Session::Create(1 << 20), options);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  const ZarrImage& image = (*doc)->catalog().zarr_images().at(0);
  EXPECT_NE(image.unsupported.find("more than 20 zarr chunks"), std::string::npos)
      << image.unsupported;
  EXPECT_TRUE(image.levels.empty());
  EXPECT_TRUE(Chunks((*doc)->catalog()).empty());  // none of the first channel's stay either
  EXPECT_NE(InfoJson((*doc)->report()).find("more than 20 zarr chunks"), std::string::npos);
  std::vector<uint8_t> head(8);
  EXPECT_TRUE((*doc)
                  ->reader()
                  .Read(Described(**doc, TiffKind::kPlane, 0), 0, head.size(), head.data())
                  .ok());        // a plane
  options.max_zarr_chunks = 42;  // exactly enough
  auto enough = CziDocument::Open(dir.File("a.czi"), Session::Create(1 << 20), options);
  ASSERT_TRUE(enough.ok());
  EXPECT_EQ(Chunks((*enough)->catalog()).size(), 42u);
}

TEST(ZarrTest, AScenesPlanesOfDifferentPixelTypesGetNoImageAndInfoJsonSaysWhy) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(16, 16);
  spec.codec = synth::Codec::kZstd1;
  spec.sizes = {{'C', 2}};
  spec.channel_pixel_types = {{1, static_cast<int32_t>(PixelType::kGray8)}};
  auto doc = WriteAndOpen(spec, dir, 64 << 20);
  ASSERT_NE(doc, nullptr);
  const ZarrImage& image = doc->catalog().zarr_images().at(0);
  EXPECT_EQ(image.unsupported, "its planes have different pixel types");
  EXPECT_TRUE(Chunks(doc->catalog()).empty());
  const std::string info = InfoJson(doc->report());
  EXPECT_NE(info.find("\"unavailable\": \"its planes have different pixel types\""),
            std::string::npos)
      << info;
}

TEST(ZarrTest, EachIndexOfAnotherDimensionIsAnImageOfItsOwnNamedAsThePlanes) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(16, 16);
  spec.codec = synth::Codec::kZstd1;
  spec.sizes = {{'C', 2}, {'Z', 2}, {'H', 3}};
  auto doc = WriteAndOpen(spec, dir, 64 << 20);
  ASSERT_NE(doc, nullptr);
  std::vector<std::string> names;
  for (const ZarrImage& img : doc->catalog().zarr_images()) {
    EXPECT_EQ(img.unsupported, "");
    EXPECT_EQ(ZarrShape(img, img.levels[0]), (std::vector<int64_t>{1, 2, 2, 16, 16}));
    names.push_back(img.name);
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"S0_H0.ome.zarr", "S0_H1.ome.zarr", "S0_H2.ome.zarr"}));
  // Image H1's chunk (c 1, z 0) shows plane S0/C1/T0/Z0_H1.tif.
  const ServedTiff chunk = Chunks(doc->catalog()).at("S0_H1.ome.zarr/0/0/1/0/0/0");
  EXPECT_EQ(doc->catalog().PlanePathOf(chunk.pages[0].plane), "S0/C1/T0/Z0_H1.tif");
}

}  // namespace
}  // namespace czifs
