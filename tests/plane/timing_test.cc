#include "czifs/timing.h"

#include <gtest/gtest.h>

#include <cstring>

#include "../support/indexed_file.h"
#include "../support/specs.h"

namespace czifs {
namespace {

using testing::TempDir;

FrameTiming TimingOf(const synth::Spec& spec) {
  TempDir dir;
  const testing::IndexedFile f = testing::WriteAndIndex(spec, dir);
  return f.czi ? FindFrameTiming(*f.czi, *f.index, *f.metadata) : FrameTiming{};
}

synth::Spec TimeSeries(int32_t frames) {
  synth::Spec spec = testing::Tiles(16, 16);
  spec.sizes = {{'C', 1}, {'T', frames}, {'Z', 2}};
  return spec;
}

TEST(FrameTimingTest, TheTimeStampsAttachmentGivesTheMeanStep) {
  synth::Spec spec = TimeSeries(3);
  spec.time_stamps_s = {100.0, 133.4, 166.8};
  const FrameTiming t = TimingOf(spec);
  EXPECT_EQ(t.frames, 3u);
  ASSERT_TRUE(t.interval_s.has_value());
  EXPECT_NEAR(*t.interval_s, 33.4, 1e-9);
  EXPECT_EQ(t.source, "the TimeStamps attachment");
}

TEST(FrameTimingTest, WithoutAttachmentTheSubblocksAcquisitionTimesAreUsed) {
  // The writer stamps time point t at 2.5 t seconds (plus a millisecond per tile).
  const FrameTiming t = TimingOf(TimeSeries(3));
  ASSERT_TRUE(t.interval_s.has_value());
  EXPECT_NEAR(*t.interval_s, 2.5, 0.01);
  EXPECT_EQ(t.source, "the subblocks' acquisition times");
}

TEST(FrameTimingTest, AFileWithoutTimingOrWithOneTimePointSaysSoAndInventsNothing) {
  synth::Spec untimed = TimeSeries(3);
  untimed.subblock_metadata = false;
  const FrameTiming none = TimingOf(untimed);
  EXPECT_EQ(none.frames, 3u);
  EXPECT_FALSE(none.interval_s.has_value());
  EXPECT_EQ(none.source, "no timing recorded");
  synth::Spec single = TimeSeries(1);
  single.time_stamps_s = {5.0};
  const FrameTiming one = TimingOf(single);
  EXPECT_EQ(one.frames, 1u);
  EXPECT_FALSE(one.interval_s.has_value());
  EXPECT_EQ(one.source, "one time point");
}

TEST(FrameTimingTest, ZensIntervalComesFirstAndZeroMeansNone) {
  ImageMetadata md = ParseImageMetadata(
      "<ImageDocument><Metadata><Experiment><ExperimentBlocks><AcquisitionBlock>"
      "<SubDimensionSetups><TimeSeriesSetup><Interval><TimeSpan><Value>0</Value>"
      "</TimeSpan></Interval></TimeSeriesSetup></SubDimensionSetups></AcquisitionBlock>"
      "<AcquisitionBlock><SubDimensionSetups><TimeSeriesSetup><Interval><TimeSpan>"
      "<Value>90</Value><DefaultUnitFormat>min</DefaultUnitFormat></TimeSpan></Interval>"
      "</TimeSeriesSetup></SubDimensionSetups></AcquisitionBlock></ExperimentBlocks>"
      "</Experiment></Metadata></ImageDocument>");
  EXPECT_EQ(md.frame_interval_s,
            std::optional<double>(90.0));  // seconds, whatever the display unit
  ImageMetadata listed = ParseImageMetadata(
      "<ImageDocument><Metadata><Information><Image><Dimensions><T><Positions><List>"
      "<Offsets>0 60.075 120.151</Offsets></List></Positions></T></Dimensions></Image>"
      "</Information></Metadata></ImageDocument>");
  EXPECT_FALSE(listed.frame_interval_s.has_value());
  EXPECT_EQ(listed.frame_offsets_s, (std::vector<double>{0, 60.075, 120.151}));
  ImageMetadata increment = ParseImageMetadata(
      "<ImageDocument><Metadata><Information><Image><Dimensions><T><Positions><Interval>"
      "<Start>0</Start><Increment>30.0</Increment></Interval></Positions></T></Dimensions>"
      "</Image></Information></Metadata></ImageDocument>");
  EXPECT_EQ(increment.frame_interval_s, std::optional<double>(30.0));
}

TEST(FrameTimingTest, DamagedTimeStampsAreIgnored) {
  EXPECT_FALSE(ParseTimeStamps({1, 2, 3}).has_value());
  std::vector<uint8_t> claims_many(16, 0);
  claims_many[4] = 100;  // 100 stamps in 8 bytes
  EXPECT_FALSE(ParseTimeStamps(claims_many).has_value());
  std::vector<uint8_t> two(24, 0);
  two[4] = 2;
  const double stamps[2] = {1.5, 4.0};
  std::memcpy(two.data() + 8, stamps, 16);
  EXPECT_EQ(ParseTimeStamps(two), (std::vector<double>{1.5, 4.0}));
}

}  // namespace
}  // namespace czifs
