#include "czifs/timing.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace czifs {
namespace {

// The mean step of a series of times, if it has two and they advance.
std::optional<double> MeanStep(const std::vector<double>& times) {
  if (times.size() < 2) return std::nullopt;
  const double step = (times.back() - times.front()) / static_cast<double>(times.size() - 1);
  if (!std::isfinite(step) || step <= 0) return std::nullopt;
  return step;
}

std::optional<double> FromTimeStampsAttachment(const CziFile& czi) {
  const auto& attachments = czi.attachments();
  for (uint32_t a = 0; a < attachments.size(); ++a) {
    if (attachments[a].name != "TimeStamps") continue;
    auto data = czi.ReadAttachment(a);
    if (!data.ok()) return std::nullopt;
    auto times = ParseTimeStamps(*data);
    return times ? MeanStep(*times) : std::nullopt;
  }
  return std::nullopt;
}

// The acquisition time of the first subblock of the first plane at time
// point `t`, if its metadata has one.
std::optional<double> AcquisitionTimeAt(const CziFile& czi, const ImageIndex& index, int32_t t) {
  for (const Plane& p : index.planes()) {
    if (p.Coord(Dim::kT) != t || p.subblocks.empty()) continue;
    std::string xml;
    if (!czi.ReadSubblockHead(p.subblocks[0], &xml).ok()) return std::nullopt;
    return ParseSubblockTags(xml).acquisition_time;
  }
  return std::nullopt;
}

std::optional<double> FromAcquisitionTimes(const CziFile& czi, const ImageIndex& index) {
  const DimBounds& t = index.bounds(Dim::kT);
  auto first = AcquisitionTimeAt(czi, index, t.start);
  auto last = AcquisitionTimeAt(czi, index, t.start + t.size - 1);
  if (!first || !last) return std::nullopt;
  const double span = *last - *first;
  if (!std::isfinite(span) || span <= 0) return std::nullopt;
  return span / static_cast<double>(t.size - 1);
}

}  // namespace

std::optional<std::vector<double>> ParseTimeStamps(const std::vector<uint8_t>& data) {
  if (data.size() < 8) return std::nullopt;
  int32_t size = 0, count = 0;
  std::memcpy(&size, data.data(), 4);
  std::memcpy(&count, data.data() + 4, 4);
  if (count < 0 || static_cast<uint64_t>(count) > (data.size() - 8) / 8) return std::nullopt;
  std::vector<double> times(static_cast<size_t>(count));
  for (size_t i = 0; i < times.size(); ++i) {
    std::memcpy(&times[i], data.data() + 8 + 8 * i, 8);
    if (!std::isfinite(times[i])) return std::nullopt;
  }
  return times;
}

FrameTiming FindFrameTiming(const CziFile& czi, const ImageIndex& index,
                            const ImageMetadata& metadata) {
  FrameTiming timing;
  const DimBounds& t = index.bounds(Dim::kT);
  timing.frames = static_cast<uint32_t>(std::max(1, t.size));
  if (timing.frames < 2) {
    timing.source = "one time point";
    return timing;
  }
  if (metadata.frame_interval_s) {
    timing.interval_s = metadata.frame_interval_s;
    timing.source = "ZEN's time series interval";
  } else if (auto v = FromTimeStampsAttachment(czi)) {
    timing.interval_s = v;
    timing.source = "the TimeStamps attachment";
  } else if (auto w = MeanStep(metadata.frame_offsets_s)) {
    timing.interval_s = w;
    timing.source = "the T dimension's offsets";
  } else if (auto x = FromAcquisitionTimes(czi, index)) {
    timing.interval_s = x;
    timing.source = "the subblocks' acquisition times";
  } else {
    timing.source = "no timing recorded";
  }
  return timing;
}

}  // namespace czifs
