#include "czifs/codec.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <cmath>

#include "../support/test_util.h"
#include "czifs/czi_types.h"

namespace czifs {
namespace {

std::vector<uint8_t> Bytes(const PixelBuffer& p) {
  return std::vector<uint8_t>(p.begin(), p.end());
}

std::vector<uint8_t> Ramp(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + (i >> 8));
  return v;
}

std::vector<uint8_t> Zstd(const std::vector<uint8_t>& raw) {
  std::vector<uint8_t> out(ZSTD_compressBound(raw.size()));
  out.resize(ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 3));
  return out;
}

// A zstd1 subblock of 16-bit samples `raw` with hi/lo packing: the 3-byte
// header (chunk type 1, packed), then the frame of all low bytes, then all
// high bytes.
std::vector<uint8_t> Zstd1HiLo(const std::vector<uint8_t>& raw) {
  std::vector<uint8_t> packed(raw.size());
  const size_t half = raw.size() / 2;
  for (size_t k = 0; k < half; ++k) {
    packed[k] = raw[2 * k];
    packed[half + k] = raw[2 * k + 1];
  }
  std::vector<uint8_t> data = {3, 1, 1};
  const auto z = Zstd(packed);
  data.insert(data.end(), z.begin(), z.end());
  return data;
}

TEST(CodecTest, InterleaveHiLoJoinsLowAndHighHalves) {
  std::vector<uint8_t> buf = {1, 2, 3, 0xA, 0xB, 0xC};  // lo: 1 2 3, hi: A B C
  std::vector<uint8_t> out(buf.size());
  InterleaveHiLo(buf.data(), buf.data() + 3, 3, out.data());
  EXPECT_EQ(out, (std::vector<uint8_t>{1, 0xA, 2, 0xB, 3, 0xC}));
}

TEST(CodecTest, DecodesUncompressed) {
  auto raw = Ramp(4 * 3 * 2);
  DecodeRequest req{1, 0, 4, 3, raw};
  auto bm = DecodeSubblock(req);
  ASSERT_TRUE(bm.ok());
  EXPECT_EQ(Bytes(bm->pixels), raw);
}

TEST(CodecTest, ShortUncompressedDataIsCorruption) {
  auto raw = Ramp(10);
  auto bm = DecodeSubblock(DecodeRequest{1, 0, 4, 3, raw});
  ASSERT_FALSE(bm.ok());
  EXPECT_EQ(bm.status().code(), StatusCode::kCorruption);
}

TEST(CodecTest, DecodesZstd0) {
  auto raw = Ramp(64 * 64 * 2);
  auto z = Zstd(raw);
  auto bm = DecodeSubblock(DecodeRequest{1, 5, 64, 64, z});
  ASSERT_TRUE(bm.ok()) << bm.status().ToString();
  EXPECT_EQ(Bytes(bm->pixels), raw);
}

TEST(CodecTest, DecodesZstd1WithHiLoPackingOverTheWholeBuffer) {
  // Bgr48: 3 samples per pixel, so the packing spans 3 x width samples per row.
  const uint32_t w = 5, h = 3;
  auto raw = Ramp(w * h * 6);
  const std::vector<uint8_t> data = Zstd1HiLo(raw);
  auto bm = DecodeSubblock(DecodeRequest{4, 6, w, h, data});
  ASSERT_TRUE(bm.ok()) << bm.status().ToString();
  EXPECT_EQ(Bytes(bm->pixels), raw);
}

TEST(CodecTest, APlanarHiLoBitmapGivesTheSameRowsThroughCopyRow) {
  // Bgr48, rows of 37 pixels (111 samples: the SSE2 loop and its tail), any
  // column window.
  const uint32_t w = 37, h = 4;
  auto raw = Ramp(w * h * 6);
  const std::vector<uint8_t> data = Zstd1HiLo(raw);
  DecodeRequest req{4, 6, w, h, data};
  req.planar_hilo = true;
  auto bm = DecodeSubblock(req);
  ASSERT_TRUE(bm.ok()) << bm.status().ToString();
  EXPECT_TRUE(bm->planar_hilo);
  for (uint32_t y = 0; y < h; ++y) {
    for (const auto& [x, n] : {std::pair<uint32_t, uint32_t>{0, w}, {1, 35}, {36, 1}, {5, 20}}) {
      std::vector<uint8_t> row(n * 6);
      bm->CopyRow(y, x, n, row.data());
      const auto want =
          std::vector<uint8_t>(raw.begin() + (y * w + x) * 6, raw.begin() + (y * w + x + n) * 6);
      EXPECT_EQ(row, want) << "row " << y << " from " << x << ", " << n << " pixels";
    }
  }
}

TEST(CodecTest, DecodesZstd1WithOneByteHeader) {
  auto raw = Ramp(16 * 16);
  std::vector<uint8_t> data = {1};
  auto z = Zstd(raw);
  data.insert(data.end(), z.begin(), z.end());
  auto bm = DecodeSubblock(DecodeRequest{0, 6, 16, 16, data});
  ASSERT_TRUE(bm.ok()) << bm.status().ToString();
  EXPECT_EQ(Bytes(bm->pixels), raw);
}

TEST(CodecTest, ZstdFrameOfWrongSizeIsCorruption) {
  auto z = Zstd(Ramp(100));
  auto bm = DecodeSubblock(DecodeRequest{0, 5, 16, 16, z});
  ASSERT_FALSE(bm.ok());
  EXPECT_EQ(bm.status().code(), StatusCode::kCorruption);
  EXPECT_NE(bm.status().message().find("256 expected"), std::string::npos) << bm.status().message();
}

TEST(CodecTest, GarbageZstdIsCorruption) {
  std::vector<uint8_t> junk(300, 0x55);
  auto bm = DecodeSubblock(DecodeRequest{0, 5, 16, 16, junk});
  ASSERT_FALSE(bm.ok());
  EXPECT_EQ(bm.status().code(), StatusCode::kCorruption);
}

TEST(CodecTest, RawPixelsLabelledJpegXrAreReadAsUncompressed) {
  auto raw = Ramp(8 * 8 * 2);
  DecodeNotes notes;
  auto bm = DecodeSubblock(DecodeRequest{1, 4, 8, 8, raw}, &notes);
  ASSERT_TRUE(bm.ok()) << bm.status().ToString();
  EXPECT_EQ(Bytes(bm->pixels), raw);
  EXPECT_TRUE(notes.raw_data_in_compressed_label);
}

TEST(CodecTest, JpegXrWithoutSignatureAndWrongSizeIsCorruption) {
  auto raw = Ramp(100);
  auto bm = DecodeSubblock(DecodeRequest{1, 4, 8, 8, raw});
  ASSERT_FALSE(bm.ok());
  EXPECT_NE(bm.status().message().find("signature"), std::string::npos);
}

TEST(CodecTest, CameraRawCompressionIsUnsupportedAndNamed) {
  auto raw = Ramp(64);
  auto bm = DecodeSubblock(DecodeRequest{0, 1001, 8, 8, raw});
  ASSERT_FALSE(bm.ok());
  EXPECT_EQ(bm.status().code(), StatusCode::kNotSupported);
  EXPECT_NE(bm.status().message().find("1001"), std::string::npos);
}

TEST(CodecTest, ComplexPixelTypeIsUnsupported) {
  auto raw = Ramp(8 * 8 * 8);
  auto bm = DecodeSubblock(DecodeRequest{10, 0, 8, 8, raw});
  ASSERT_FALSE(bm.ok());
  EXPECT_EQ(bm.status().code(), StatusCode::kNotSupported);
}

TEST(CodecTest, HugeClaimedSizeIsRefusedBeforeAllocating) {
  std::vector<uint8_t> tiny(16);
  auto bm = DecodeSubblock(DecodeRequest{1, 5, 100000, 100000, tiny});
  ASSERT_FALSE(bm.ok());
  EXPECT_EQ(bm.status().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace czifs
