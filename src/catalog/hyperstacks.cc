// The ImageJ hyperstack of each scene: all its C, Z, T planes as pages of
// one TIFF (C fastest, then Z, then T), or why the scene has none.
#include <fmt/format.h>

#include <algorithm>
#include <tuple>

#include "czifs/catalog.h"
#include "czifs/imagej.h"

namespace czifs {
namespace {

// ImageJ opens classic TIFFs only: a hyperstack, directories included, must fit.
constexpr uint64_t kClassicTiffBytes = 4ull << 30;
constexpr uint64_t kDirectoryAllowance = 65536;  // per page

// The planes of scene `s` in ImageJ's order: channel fastest, then slice
// (Z), then frame (T). A scene's planes are consecutive.
std::vector<uint32_t> ScenePlanes(const ImageIndex& index, uint32_t s) {
  const auto planes = index.planes();
  const uint64_t run = index.RunLength(0);
  std::vector<std::tuple<int32_t, int32_t, int32_t, uint32_t>> order;  // T, Z, C, plane
  order.reserve(run);
  for (uint64_t i = s * run; i < (s + 1) * run; ++i) {
    const Plane p = planes[i];
    order.emplace_back(p.Coord(Dim::kT), p.Coord(Dim::kZ), p.Coord(Dim::kC),
                       static_cast<uint32_t>(i));
  }
  std::sort(order.begin(), order.end());
  std::vector<uint32_t> members;
  members.reserve(order.size());
  for (const auto& o : order) members.push_back(std::get<3>(o));
  return members;
}

// Why `stack` (its pages and counts set) cannot be a hyperstack, or "".
std::string StackProblem(const ImageIndex& index, const ServedTiff& stack) {
  for (Dim d : kSuffixDims) {
    if (index.bounds(d).size > 1) {
      return fmt::format(
          "the file has a {} dimension, which an ImageJ hyperstack (C, Z, T) cannot hold",
          DimLetter(d));
    }
  }
  std::vector<uint32_t> members;
  for (const Page& page : stack.pages) members.push_back(page.plane);
  if (std::string problem = PlanesProblem(index, members); !problem.empty()) return problem;
  if (uint64_t{stack.channels} * stack.slices * stack.frames != stack.pages.size()) {
    return "its planes do not form a full C x Z x T grid";
  }
  const Canvas& c = stack.pages[0].canvas;
  const uint64_t bytes = RowBytes(c) * static_cast<uint64_t>(c.height) * stack.pages.size();
  if (bytes + stack.pages.size() * kDirectoryAllowance > kClassicTiffBytes) {
    return fmt::format(
        "the scene ({} MiB) is larger than a classic TIFF (4 GiB), which ImageJ needs; "
        "open the planes instead",
        bytes >> 20);
  }
  return "";
}

// What ImageJ shows with the stack: each channel's display range and
// colour, when ZEN set them for every one, and each page's channel name.
ImageJExtras StackExtras(const ImageIndex& index, const ImageMetadata& md,
                         const ServedTiff& stack) {
  const int32_t pixel_type = stack.pages[0].canvas.pixel_type;
  ImageJExtras x;
  for (uint32_t c = 0; c < stack.channels; ++c) {
    const ChannelInfo* ch = ChannelOf(index, md, index.planes()[stack.pages[c].plane]);
    const auto range = ch ? DisplayRange(*ch, pixel_type) : std::nullopt;
    const auto color = ch ? ParseColor(ch->color) : std::nullopt;
    if (range) x.ranges.push_back(*range);
    if (color) x.colors.push_back(*color);
  }
  if (x.ranges.size() != stack.channels) x.ranges.clear();
  // Colours are LUTs, which ImageJ applies to gray composites only.
  if (x.colors.size() != stack.channels || SamplesPerPixel(pixel_type) != 1) x.colors.clear();
  for (const Page& page : stack.pages) {
    const ChannelInfo* ch = ChannelOf(index, md, index.planes()[page.plane]);
    if (ch && !ch->name.empty()) x.labels.push_back(ch->name);
  }
  if (x.labels.size() != stack.pages.size()) x.labels.clear();
  return x;
}

}  // namespace

Result<ServedTiff> Catalog::DescribeHyperstack(uint32_t s) const {
  const ImageIndex& index = *index_;
  const auto& scenes = index.scenes();
  ServedTiff t;
  t.id = {TiffKind::kHyperstack, s};
  t.kind = TiffKind::kHyperstack;
  t.path = index.IndexName(Dim::kS, scenes[s].index) + "/hyperstack.tif";
  t.scene = s;
  for (uint32_t i : ScenePlanes(index, s)) t.pages.push_back({PlaneCanvas(index, i), i});
  t.channels = DimSize(index, Dim::kC);
  t.slices = DimSize(index, Dim::kZ);
  t.frames = DimSize(index, Dim::kT);
  t.unsupported =
      t.pages.empty() ? "its planes do not form a full C x Z x T grid" : StackProblem(index, t);
  if (!t.unsupported.empty()) return t;
  // Laid out on first use (a stack of 10,000 pages takes a moment).
  auto layout = LayoutOf({3, s, 0, 0, 0}, [&]() -> Result<TiffSpec> {
    TiffSpec spec = base_;
    const Rect& box = scenes[s].bbox;
    spec.width = static_cast<uint32_t>(box.width);
    spec.height = static_cast<uint32_t>(box.height);
    spec.pixel_type = t.pages[0].canvas.pixel_type;
    spec.pages = static_cast<uint32_t>(t.pages.size());
    spec.description = ImageJHyperstackDescription(
        base_.pixels_per_um_x.has_value(), metadata_->scale_z_um, t.channels, t.slices, t.frames,
        SamplesPerPixel(spec.pixel_type) == 1, frame_timing_.interval_s);
    ImageJExtras extras = StackExtras(index, *metadata_, t);
    if (!extras.empty()) {
      ImageJTags tags = EncodeImageJExtras(extras);
      spec.ij_metadata = std::move(tags.bytes);
      spec.ij_metadata_counts = std::move(tags.counts);
    }
    return spec;
  });
  if (layout.ok()) {
    t.layout = std::move(layout).value();
  } else {
    t.unsupported = layout.status().message();
  }
  return t;
}

}  // namespace czifs
