// Plane names: S/C/T/Z folders and file, padded indices, extra dimensions.
#include <gtest/gtest.h>

#include <set>

#include "../support/indexed_file.h"
#include "../support/specs.h"
#include "czifs/catalog.h"

namespace czifs {
namespace {

using testing::IndexOf;
using testing::TempDir;

std::set<std::string> Paths(const ImageIndex& idx) {
  std::set<std::string> p;
  for (const Plane& pl : idx.planes()) p.insert(PlanePath(idx, pl));
  return p;
}

TEST(PlanePathTest, PadsIndicesToTheWidthOfTheLargest) {
  TempDir dir;
  synth::Spec s = testing::UncompressedTiles(8, 8);
  s.sizes = {{'C', 1}, {'T', 1}, {'Z', 12}};
  ImageIndex idx = IndexOf(s, dir);
  auto p = Paths(idx);
  EXPECT_EQ(p.size(), 12u);
  EXPECT_TRUE(p.count("S0/C0/T0/Z00.tif"));
  EXPECT_TRUE(p.count("S0/C0/T0/Z11.tif"));
}

TEST(PlanePathTest, TenPlanesNeedOneDigit) {
  TempDir dir;
  synth::Spec s = testing::UncompressedTiles(8, 8);
  s.sizes = {{'Z', 10}};
  auto p = Paths(IndexOf(s, dir));
  EXPECT_TRUE(p.count("S0/C0/T0/Z0.tif"));
  EXPECT_TRUE(p.count("S0/C0/T0/Z9.tif"));
}

TEST(PlanePathTest, ExtraDimensionsBecomeSuffixesInFixedOrder) {
  TempDir dir;
  synth::Spec s = testing::UncompressedTiles(8, 8);
  s.sizes = {{'C', 2}, {'H', 11}, {'V', 2}, {'B', 1}};
  ImageIndex idx = IndexOf(s, dir);
  auto p = Paths(idx);
  EXPECT_EQ(p.size(), 2u * 11u * 2u);
  EXPECT_TRUE(p.count("S0/C1/T0/Z0_H07_V1.tif")) << *p.begin();
  // B has a single index: no suffix.
  for (const auto& path : p) EXPECT_EQ(path.find("_B"), std::string::npos);
}

}  // namespace
}  // namespace czifs
