// Plane names: S/C/T/Z folders and file, padded indices, extra dimensions.
#include <gtest/gtest.h>

#include <set>

#include "../support/specs.h"
#include "../support/test_util.h"
#include "czifs/catalog.h"

namespace czifs {
namespace {

using testing::TempDir;
using testing::WriteOrDie;

ImageIndex IndexOf(const synth::Spec& spec, const TempDir& dir) {
  WriteOrDie(spec, dir.File("a.czi"));
  auto czi = CziFile::Open(dir.File("a.czi"));
  EXPECT_TRUE(czi.ok()) << czi.status().ToString();
  auto idx = ImageIndex::Build(**czi);
  EXPECT_TRUE(idx.ok()) << idx.status().ToString();
  return std::move(idx).value();
}

synth::Spec Small() {
  synth::Spec s = testing::Tiles(8, 8);
  s.codec = synth::Codec::kUncompressed;
  return s;
}

std::set<std::string> Paths(const ImageIndex& idx) {
  std::set<std::string> p;
  for (const Plane& pl : idx.planes()) p.insert(PlanePath(idx, pl));
  return p;
}

TEST(PlanePathTest, PadsIndicesToTheWidthOfTheLargest) {
  TempDir dir;
  synth::Spec s = Small();
  s.sizes = {{'C', 1}, {'T', 1}, {'Z', 12}};
  ImageIndex idx = IndexOf(s, dir);
  auto p = Paths(idx);
  EXPECT_EQ(p.size(), 12u);
  EXPECT_TRUE(p.count("S0/C0/T0/Z00.tif"));
  EXPECT_TRUE(p.count("S0/C0/T0/Z11.tif"));
}

TEST(PlanePathTest, TenPlanesNeedOneDigit) {
  TempDir dir;
  synth::Spec s = Small();
  s.sizes = {{'Z', 10}};
  auto p = Paths(IndexOf(s, dir));
  EXPECT_TRUE(p.count("S0/C0/T0/Z0.tif"));
  EXPECT_TRUE(p.count("S0/C0/T0/Z9.tif"));
}

TEST(PlanePathTest, ExtraDimensionsBecomeSuffixesInFixedOrder) {
  TempDir dir;
  synth::Spec s = Small();
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
