// SubblockReader: a file's subblocks decoded through the session's cache,
// as composition draws them; failures remembered.
#include "czifs/subblock_reader.h"

#include <gtest/gtest.h>

#include <cmath>

#include "../support/test_util.h"
#include "czifs/czi_types.h"

namespace czifs {
namespace {

// Round trips through the writer's encoders and the file-level decode path.
struct CodecCase {
  int32_t pixel_type;
  synth::Codec codec;
  bool exact;
};

void PrintTo(const CodecCase& c, std::ostream* os) {
  *os << PixelTypeName(c.pixel_type) << "/codec" << static_cast<int>(c.codec);
}

class WriterRoundTripTest : public ::testing::TestWithParam<CodecCase> {};

TEST_P(WriterRoundTripTest, DecodedSubblockEqualsWrittenPixels) {
  const CodecCase c = GetParam();
  testing::TempDir dir;
  synth::Spec spec;
  spec.pixel_type = c.pixel_type;
  spec.codec = c.codec;
  spec.tile_width = 67;  // odd sizes: no macroblock alignment
  spec.tile_height = 45;
  testing::WriteOrDie(spec, dir.File("a.czi"));
  auto czi = CziFile::Open(dir.File("a.czi"));
  ASSERT_TRUE(czi.ok()) << czi.status().ToString();
  SubblockReader reader(*czi, Session::Create(1 << 20));
  auto bm = reader.Get(0);
  ASSERT_TRUE(bm.ok()) << bm.status().ToString();
  const auto expected = synth::TilePixels(spec, synth::EnumerateTiles(spec)[0]);
  ASSERT_EQ((*bm)->pixels.size(), expected.size());
  // As composition draws it: row by row (a hi/lo tile stays planar).
  std::vector<uint8_t> got(expected.size());
  for (uint32_t y = 0; y < (*bm)->height; ++y) {
    (*bm)->CopyRow(y, 0, (*bm)->width, got.data() + y * (*bm)->stride());
  }
  if (c.exact) {
    EXPECT_EQ(got, expected);
  } else {
    double err = 0;
    for (size_t i = 0; i < expected.size(); ++i) err += std::abs(int(got[i]) - int(expected[i]));
    EXPECT_LT(err / expected.size(), 3.0);  // JPEG quality 95
  }
}

TEST(SubblockReaderTest, DamagedSubblockIsDecodedOnceAndItsErrorRemembered) {
  testing::TempDir dir;
  synth::Spec spec;
  spec.codec = synth::Codec::kZstd1;
  spec.thumbnail = false;
  testing::WriteOrDie(spec, dir.File("a.czi"));
  auto bytes = testing::ReadFileBytes(dir.File("a.czi"));
  auto intact = CziFile::Open(dir.File("a.czi"));
  ASSERT_TRUE(intact.ok());
  auto extent = (*intact)->ReadSubblockExtent(0);
  ASSERT_TRUE(extent.ok());
  // Damage the zstd frame's magic number.
  bytes[extent->data_offset + 3] ^= 0xff;
  testing::WriteFileBytes(dir.File("b.czi"), bytes);
  auto czi = CziFile::Open(dir.File("b.czi"));
  ASSERT_TRUE(czi.ok());
  auto session = Session::Create(1 << 20);
  SubblockReader reader(*czi, session);
  auto first = reader.Get(0);
  auto second = reader.Get(0);
  ASSERT_FALSE(first.ok());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(first.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(second.status().ToString(), first.status().ToString());
  EXPECT_NE(first.status().message().find("subblock 0"), std::string::npos);
  EXPECT_EQ(session->failed.load(), 1u);
  EXPECT_EQ(session->decoded.load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    AllCodecs, WriterRoundTripTest,
    ::testing::Values(
        CodecCase{0, synth::Codec::kUncompressed, true}, CodecCase{1, synth::Codec::kZstd0, true},
        CodecCase{1, synth::Codec::kZstd1, true}, CodecCase{1, synth::Codec::kZstd1HiLo, true},
        CodecCase{4, synth::Codec::kZstd1HiLo, true}, CodecCase{2, synth::Codec::kZstd0, true},
        CodecCase{8, synth::Codec::kZstd1, true}, CodecCase{9, synth::Codec::kUncompressed, true},
        CodecCase{0, synth::Codec::kJpegXr, true}, CodecCase{1, synth::Codec::kJpegXr, true},
        CodecCase{3, synth::Codec::kJpegXr, true},
        CodecCase{1, synth::Codec::kRawLabelledJpegXr, true},
        CodecCase{0, synth::Codec::kJpg, false}, CodecCase{3, synth::Codec::kJpg, false}));

}  // namespace
}  // namespace czifs
