#include "czifs/checked.h"

#include <gtest/gtest.h>

#include <limits>

namespace czifs {
namespace {

TEST(CheckedTest, AddDetectsOverflow) {
  EXPECT_EQ(CheckedAdd<uint64_t>(1, 2), 3u);
  EXPECT_FALSE(CheckedAdd<uint64_t>(std::numeric_limits<uint64_t>::max(), 1));
  EXPECT_FALSE(CheckedAdd<int32_t>(INT32_MAX, 1));
}

TEST(CheckedTest, MulDetectsOverflow) {
  EXPECT_EQ(CheckedMul<uint64_t>(1 << 20, 1 << 20), 1ull << 40);
  EXPECT_FALSE(CheckedMul<uint64_t>(1ull << 40, 1ull << 40));
  EXPECT_FALSE(CheckedMul3<uint64_t>(100000, 100000, 1ull << 50));
}

TEST(CheckedTest, RangeWithinRejectsRangesPastTheLimit) {
  EXPECT_TRUE(RangeWithin(0, 10, 10));
  EXPECT_FALSE(RangeWithin(1, 10, 10));
  EXPECT_FALSE(RangeWithin(11, 0, 10));
  EXPECT_FALSE(RangeWithin(5, std::numeric_limits<uint64_t>::max(), 10));
}

TEST(CheckedTest, FloorDivRoundsTowardsMinusInfinity) {
  EXPECT_EQ(FloorDiv(7, 2), 3);
  EXPECT_EQ(FloorDiv(-7, 2), -4);
  EXPECT_EQ(FloorDiv(-8, 2), -4);
  EXPECT_EQ(FloorDiv(-1, 1024), -1);
  EXPECT_EQ(FloorDiv(0, 3), 0);
}

}  // namespace
}  // namespace czifs
