// planetable.csv of a file read by several threads: the same text as one
// thread makes, whatever the split.
#include <gtest/gtest.h>

#include <algorithm>

#include "../support/catalog_of.h"
#include "../support/specs.h"
#include "czifs/report.h"

namespace czifs {
namespace {

TEST(PlaneTableTest, ReadBySeveralThreadsItIsTheTextOneThreadMakes) {
  testing::TempDir dir;
  synth::Spec spec = testing::Mosaic(8, 8, 3, 2);
  spec.scenes = 2;
  spec.sizes = {{'C', 2}, {'T', 3}, {'Z', 2}};  // 144 subblocks, in shuffled file order
  const testing::CatalogOf f = testing::WriteAndCatalog(spec, dir);
  ASSERT_NE(f.catalog, nullptr);
  const ReportInput in{*f.czi, *f.index, *f.metadata, *f.catalog};
  auto one = PlaneTableCsv(in, /*rows_per_thread=*/1u << 30);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  for (uint32_t per_thread : {1u, 7u, 40u, 72u}) {
    auto split = PlaneTableCsv(in, per_thread);
    ASSERT_TRUE(split.ok()) << split.status().ToString();
    EXPECT_EQ(*split, *one) << per_thread << " rows per thread";
  }
  // Rows of every subblock: the header and 144 lines.
  EXPECT_EQ(std::count(one->begin(), one->end(), '\n'), 145);
}

}  // namespace
}  // namespace czifs
