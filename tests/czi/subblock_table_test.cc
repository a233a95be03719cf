#include "czifs/subblock_table.h"

#include <gtest/gtest.h>

namespace czifs {
namespace {

SubblockEntry Entry(uint32_t index, int32_t pixel_type, int32_t compression) {
  SubblockEntry e;
  e.index = index;
  e.pixel_type = pixel_type;
  e.compression = compression;
  e.file_position = 1000 + 64 * int64_t{index};
  e.x = -5 * static_cast<int32_t>(index);
  e.y = 7;
  e.width = e.stored_width = 32;
  e.height = e.stored_height = 16;
  return e;
}

void ExpectSame(const SubblockEntry& a, const SubblockEntry& b) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.pixel_type, b.pixel_type);
  EXPECT_EQ(a.compression, b.compression);
  EXPECT_EQ(a.file_position, b.file_position);
  EXPECT_EQ(a.file_part, b.file_part);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.y, b.y);
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  EXPECT_EQ(a.stored_width, b.stored_width);
  EXPECT_EQ(a.stored_height, b.stored_height);
  EXPECT_EQ(a.present, b.present);
  EXPECT_EQ(a.size_damaged, b.size_damaged);
  for (int d = 0; d < kDimCount; ++d) EXPECT_EQ(a.Coord(Dim(d)), b.Coord(Dim(d))) << d;
}

TEST(SubblockTableTest, GivesBackEveryEntryAsAppendedWhateverDimensionsEachHas) {
  std::vector<SubblockEntry> in;
  for (uint32_t i = 0; i < 50; ++i) {
    SubblockEntry e = Entry(i, i % 3 == 0 ? 1 : 0, i % 2 == 0 ? 6 : 0);
    e.coord[static_cast<int>(Dim::kC)] = static_cast<int32_t>(i % 4);
    e.present |= 1u << static_cast<int>(Dim::kC);
    if (i >= 20) {  // a dimension that appears part way through the directory
      e.coord[static_cast<int>(Dim::kM)] = static_cast<int32_t>(i) - 30;
      e.present |= 1u << static_cast<int>(Dim::kM);
    }
    if (i == 33) e.file_part = 2;
    if (i % 7 == 0) e.stored_width = 8;  // a pyramid tile
    in.push_back(e);
  }
  SubblockTable t;
  t.Reserve(in.size());
  for (const SubblockEntry& e : in) ASSERT_TRUE(t.Append(e).ok());
  t.MarkSizeDamaged(41);
  in[41].size_damaged = true;
  ASSERT_EQ(t.size(), in.size());
  size_t n = 0;
  for (const SubblockEntry& e : t) ExpectSame(e, in[n++]);
  EXPECT_EQ(n, in.size());
  EXPECT_EQ(t.coord(10, Dim::kM), 0);
  EXPECT_FALSE(t.has(10, Dim::kM));
  EXPECT_EQ(t.coord(25, Dim::kM), -5);
  EXPECT_FALSE(t.is_layer0(14));
  EXPECT_TRUE(t.is_layer0(15));
}

TEST(SubblockTableTest, HoldsAnEntryInFewerBytesThanAnUnpackedOne) {
  SubblockTable t;
  constexpr size_t kCount = 10000;
  t.Reserve(kCount);
  for (uint32_t i = 0; i < kCount; ++i) {
    SubblockEntry e = Entry(i, 1, 6);
    for (Dim d : {Dim::kS, Dim::kC, Dim::kT, Dim::kZ, Dim::kM}) {
      e.coord[static_cast<int>(d)] = static_cast<int32_t>(i);
      e.present |= 1u << static_cast<int>(d);
    }
    ASSERT_TRUE(t.Append(e).ok());
  }
  t.ShrinkToFit();
  // 36 bytes of fields, 5 dimensions of 4 bytes.
  EXPECT_LE(t.MemoryBytes().total(), kCount * (36 + 5 * 4) + 64);
  EXPECT_LT(t.MemoryBytes().total(), kCount * sizeof(SubblockEntry) * 6 / 10);
}

TEST(SubblockTableTest, RefusesADirectoryWithMoreFormatsThanAnyFileHas) {
  SubblockTable t;
  for (uint32_t i = 0; i < SubblockTable::kMaxFormats; ++i) {
    ASSERT_TRUE(t.Append(Entry(i, static_cast<int32_t>(i), 0)).ok());
  }
  const Status st = t.Append(Entry(256, 999, 0));
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("entry 256"), std::string::npos) << st.message();
  EXPECT_EQ(t.size(), SubblockTable::kMaxFormats);
}

}  // namespace
}  // namespace czifs
