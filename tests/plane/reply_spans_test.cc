// Replies that point at decoded tiles (ReplySpans): what the pieces add up to
// is the image composition copies, whatever the buffer held where a span
// stands, however many spans fit, and never more pieces than writev takes.
#include "czifs/reply_spans.h"

#include <gtest/gtest.h>

#include "../support/test_util.h"
#include "czifs/compose.h"
#include "czifs/czi_file.h"
#include "czifs/image_index.h"

namespace czifs {
namespace {

using testing::TempDir;
using testing::WriteOrDie;

// The bytes a reply of `used` bytes sends.
std::vector<uint8_t> Sent(ReplySpans* spans, size_t used) {
  std::vector<uint8_t> out;
  for (const ReplySpans::Piece& p : spans->Pieces(used))
    out.insert(out.end(), p.data, p.data + p.n);
  return out;
}

struct Mosaic {
  std::shared_ptr<const CziFile> czi;
  ImageIndex index;
  std::unique_ptr<SubblockReader> reader;
};

// A Gray16 zstd mosaic of 3 x 2 overlapping tiles with a hole (pixels
// decoded for real, through the cache).
Mosaic OpenMosaic(const TempDir& dir) {
  synth::Spec spec;
  spec.pixel_type = Raw(PixelType::kGray16);
  spec.codec = synth::Codec::kZstd1;
  spec.tile_width = 40;
  spec.tile_height = 24;
  spec.tiles_x = 3;
  spec.tiles_y = 2;
  spec.overlap = 0.25;
  WriteOrDie(spec, dir.File("m.czi"));
  Mosaic m;
  m.czi = CziFile::Open(dir.File("m.czi")).value();
  m.index = ImageIndex::Build(*m.czi).value();
  m.reader = std::make_unique<SubblockReader>(m.czi, Session::Create(64 << 20));
  return m;
}

std::vector<uint8_t> Copied(const Mosaic& m, const Canvas& c, int64_t r0, int64_t r1) {
  std::vector<uint8_t> out(static_cast<size_t>(RowBytes(c) * (r1 - r0)));
  EXPECT_TRUE(ComposeRows(c, r0, r1, *m.reader, out.data()).ok());
  return out;
}

TEST(ReplySpansTest, WhatTheReplySendsIsTheImageCompositionCopies) {
  TempDir dir;
  const Mosaic m = OpenMosaic(dir);
  const Canvas c = PlaneCanvas(m.index, 0);
  for (const auto& [r0, r1] : {std::pair<int64_t, int64_t>{0, c.height}, {5, 30}, {20, 21}}) {
    const std::vector<uint8_t> want = Copied(m, c, r0, r1);
    std::vector<uint8_t> buf(want.size(), 0xEE);
    ReplySpans spans;
    spans.Reset(buf.data(), buf.size());
    ComposeOptions options;
    options.spans = &spans;
    ASSERT_TRUE(ComposeRows(c, r0, r1, *m.reader, buf.data(), options).ok());
    EXPECT_FALSE(spans.spans.empty());
    EXPECT_FALSE(spans.keep.empty());
    EXPECT_NE(buf, want);  // the spans' bytes were not copied
    EXPECT_EQ(Sent(&spans, buf.size()), want) << "rows " << r0 << ".." << r1;
  }
}

TEST(ReplySpansTest, PastItsLimitTheRestOfTheTilesIsCopied) {
  TempDir dir;
  const Mosaic m = OpenMosaic(dir);
  const Canvas c = PlaneCanvas(m.index, 0);
  const std::vector<uint8_t> want = Copied(m, c, 0, c.height);
  for (size_t limit : {size_t{0}, size_t{1}, size_t{7}}) {
    std::vector<uint8_t> buf(want.size(), 0xEE);
    ReplySpans spans;
    spans.Reset(buf.data(), buf.size());
    spans.max_spans = limit;
    ComposeOptions options;
    options.spans = &spans;
    ASSERT_TRUE(ComposeRows(c, 0, c.height, *m.reader, buf.data(), options).ok());
    EXPECT_EQ(spans.spans.size(), limit);
    EXPECT_EQ(Sent(&spans, buf.size()), want) << limit;
  }
}

TEST(ReplySpansTest, OutputOutsideTheReplyBufferIsCopied) {
  TempDir dir;
  const Mosaic m = OpenMosaic(dir);
  const Canvas c = PlaneCanvas(m.index, 0);
  const std::vector<uint8_t> want = Copied(m, c, 0, c.height);
  std::vector<uint8_t> reply(16), elsewhere(want.size(), 0xEE);
  ReplySpans spans;
  spans.Reset(reply.data(), reply.size());
  ComposeOptions options;
  options.spans = &spans;
  ASSERT_TRUE(ComposeRows(c, 0, c.height, *m.reader, elsewhere.data(), options).ok());
  EXPECT_TRUE(spans.spans.empty());
  EXPECT_EQ(elsewhere, want);
}

TEST(ReplySpansTest, SpansWithGapsBetweenThemNeverMakeMorePiecesThanWritevTakes) {
  std::vector<uint8_t> buf(4 * ReplySpans::kMaxSpans), tile(buf.size());
  for (size_t i = 0; i < buf.size(); ++i) {
    buf[i] = static_cast<uint8_t>(i);
    tile[i] = static_cast<uint8_t>(i * 7 + 1);
  }
  std::vector<uint8_t> want = buf;
  auto bm = std::make_shared<const Bitmap>();
  ReplySpans spans;
  spans.Reset(buf.data(), buf.size());
  // Spans of 2 bytes every 4 (from the end, as order must not matter): a
  // buffer part between each two.
  for (size_t k = ReplySpans::kMaxSpans; k-- > 0;) {
    const size_t at = 4 * k + 1;
    ASSERT_TRUE(spans.Stand(buf.data() + at, tile.data() + at, 2, bm));
    want[at] = tile[at];
    want[at + 1] = tile[at + 1];
  }
  EXPECT_FALSE(spans.Stand(buf.data(), tile.data(), 1, bm));  // full
  const std::vector<ReplySpans::Piece> pieces = spans.Pieces(buf.size());
  EXPECT_LE(pieces.size(), ReplySpans::kMaxPieces);
  std::vector<uint8_t> sent;
  for (const auto& p : pieces) sent.insert(sent.end(), p.data, p.data + p.n);
  EXPECT_EQ(sent, want);
}

}  // namespace
}  // namespace czifs
