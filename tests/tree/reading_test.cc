#include <gtest/gtest.h>
#include <tiffio.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

#include "../support/document_tree.h"
#include "../support/specs.h"
#include "../support/test_util.h"
#include "czifs/czi_types.h"
#include "czifs/page_reader.h"
#include "czifs/thread_pool.h"

namespace czifs {
namespace {

using testing::TempDir;
using testing::WriteOrDie;

using testing::ReadAll;
using testing::TiffPixels;
using testing::Walk;

TEST(ConcurrencyTest, ParallelReadsWithPoolReadAheadAndATinyCacheEqualSequentialReads) {
  TempDir dir;
  synth::Spec spec = testing::Mosaic(96, 64, 3, 2);
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

TEST(HyperstackTest, SceneStackHoldsEveryPlaneInImageJOrderWithItsDimensions) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(30, 20);
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
  synth::Spec spec = testing::Tiles(32, 32);
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
  synth::Spec spec = testing::Tiles(32, 32);
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
  synth::Spec spec = testing::Mosaic(64, 64, 3, 4);
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
  synth::Spec spec = testing::Tiles(16, 16);
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
