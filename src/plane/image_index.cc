#include "czifs/image_index.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "czifs/checked.h"

namespace czifs {
namespace {

// More planes than this means a corrupt index, not a real acquisition.
constexpr uint64_t kMaxPlanes = 20'000'000;
// Planes without subblocks are normal (sparse acquisitions), but not by the
// million: a grid this much larger than the subblock count means a corrupt index.
constexpr uint64_t kMinPlaneAllowance = 4096;
constexpr uint64_t kPlanesPerSubblock = 16;

// The dimensions that select a plane within a scene, in path order.
constexpr std::array<Dim, 9> kPlaneDims = {Dim::kC, Dim::kT, Dim::kZ, Dim::kH, Dim::kI,
                                           Dim::kR, Dim::kV, Dim::kB, Dim::kA};

int DigitsOf(int64_t v) {
  v = std::llabs(v);
  int n = 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}

// The downscale factor of a pyramid subblock (2, 4, ...), or 0 for layer 0
// and for subblocks stored larger than they are.
uint32_t PyramidFactor(const SubblockEntry& e) {
  if (e.IsLayer0() || e.stored_width <= 0 || e.stored_height <= 0) return 0;
  const double f = std::max(static_cast<double>(e.width) / e.stored_width,
                            static_cast<double>(e.height) / e.stored_height);
  const long r = std::lround(std::min(f, 1e9));
  return r >= 2 ? static_cast<uint32_t>(r) : 0;
}

bool IsSuffixDim(Dim d) {
  return std::find(kSuffixDims.begin(), kSuffixDims.end(), d) != kSuffixDims.end();
}

}  // namespace

std::string ImageIndex::IndexName(Dim d, int32_t i) const {
  std::string digits = std::to_string(std::llabs(static_cast<int64_t>(i)));
  const int width = digits_[static_cast<int>(d)];
  if (static_cast<int>(digits.size()) < width) {
    digits.insert(0, static_cast<size_t>(width) - digits.size(), '0');
  }
  return std::string(1, DimLetter(d)) + (i < 0 ? "-" : "") + digits;
}

Result<ImageIndex> ImageIndex::Build(const CziFile& czi) {
  ImageIndex idx;
  idx.plane_of_subblock_.assign(czi.subblocks().size(), -1);
  idx.ScanDirectory(czi);
  if (idx.scenes_.empty()) return idx;
  CZIFS_ASSIGN_OR_RETURN(const std::vector<Axis> axes, idx.PlaneAxes());
  const uint64_t per_scene = PlanesPerScene(axes);
  idx.MakePlanes(czi, axes, per_scene);
  CZIFS_ASSIGN_OR_RETURN(auto levels, idx.AssignSubblocks(czi, axes, per_scene));
  idx.SetDrawingOrder(czi, std::move(levels));
  return idx;
}

namespace {

// Makes `r` the smallest rectangle holding `r` and `add`.
void Grow(Rect* r, const Rect& add) {
  const int64_t x1 = std::max(r->x + r->width, add.x + add.width);
  const int64_t y1 = std::max(r->y + r->height, add.y + add.height);
  r->x = std::min(r->x, add.x);
  r->y = std::min(r->y, add.y);
  r->width = x1 - r->x;
  r->height = y1 - r->y;
}

}  // namespace

// Dimension bounds over all subblocks; scene boxes over layer 0; pixel
// types, compressions and pyramid factors.
void ImageIndex::ScanDirectory(const CziFile& czi) {
  const auto& sbs = czi.subblocks();
  std::array<int32_t, kDimCount> lo{}, hi{};
  std::map<int32_t, Rect> scene_boxes, damaged_boxes;
  std::set<uint32_t> factors;
  std::array<bool, kDimCount> missing_somewhere{};
  for (const SubblockEntry& e : sbs) {
    for (int d = 0; d < kDimCount; ++d) {
      if (!e.Has(static_cast<Dim>(d))) {
        missing_somewhere[d] = true;
        continue;
      }
      const int32_t v = e.coord[d];
      if (!bounds_[d].present) {
        bounds_[d].present = true;
        lo[d] = hi[d] = v;
      } else {
        lo[d] = std::min(lo[d], v);
        hi[d] = std::max(hi[d], v);
      }
    }
    ++compression_counts_[e.compression];
    if (!e.IsLayer0()) {
      if (const uint32_t f = PyramidFactor(e)) factors.insert(f);
      continue;
    }
    ++layer0_count_;
    if (std::find(pixel_types_.begin(), pixel_types_.end(), e.pixel_type) == pixel_types_.end()) {
      pixel_types_.push_back(e.pixel_type);
    }
    // A size the file cannot hold does not stretch the scene: only its
    // corner counts, so its plane still exists (and reads fail, or are zeros).
    const Rect rect = e.size_damaged ? Rect{e.x, e.y, 1, 1} : Rect{e.x, e.y, e.width, e.height};
    auto& boxes = e.size_damaged ? damaged_boxes : scene_boxes;
    auto [it, inserted] = boxes.try_emplace(e.Coord(Dim::kS), rect);
    if (!inserted) Grow(&it->second, rect);
  }
  for (const auto& [s, box] : damaged_boxes) {
    auto [it, inserted] = scene_boxes.try_emplace(s, box);
    if (!inserted) Grow(&it->second, box);
  }
  pyramid_factors_.assign(factors.begin(), factors.end());
  for (int d = 0; d < kDimCount; ++d) {
    // A subblock without the dimension has index 0 in it.
    if (bounds_[d].present && missing_somewhere[d]) {
      lo[d] = std::min(lo[d], 0);
      hi[d] = std::max(hi[d], 0);
    }
    if (bounds_[d].present) {
      bounds_[d].start = lo[d];
      bounds_[d].size =
          static_cast<int32_t>(std::min<int64_t>(int64_t{hi[d]} - lo[d] + 1, INT32_MAX));
      digits_[d] = std::max(DigitsOf(lo[d]), DigitsOf(hi[d]));
    } else {
      digits_[d] = 1;
    }
  }
  for (const auto& [s, box] : scene_boxes) scenes_.push_back(Scene{s, box});
}

uint64_t ImageIndex::PlanesPerScene(const std::vector<Axis>& axes) {
  uint64_t n = 1;
  for (const Axis& a : axes) n *= static_cast<uint64_t>(a.size);  // checked by PlaneAxes
  return n;
}

// The plane grid: mixed-radix over the plane dimensions. C, T, Z always take
// part (a missing one has the single index 0); suffix dimensions only when
// they have more than one index. Corruption if it makes implausibly many planes.
Result<std::vector<ImageIndex::Axis>> ImageIndex::PlaneAxes() const {
  std::vector<Axis> axes;
  for (Dim d : kPlaneDims) {
    const DimBounds& b = bounds(d);
    if (IsSuffixDim(d) && (!b.present || b.size <= 1)) continue;
    axes.push_back(b.present ? Axis{d, b.start, b.size} : Axis{d, 0, 1});
  }
  uint64_t per_scene = 1;
  for (const Axis& a : axes) {
    auto m = CheckedMul<uint64_t>(per_scene, static_cast<uint64_t>(a.size));
    if (!m || *m > kMaxPlanes) {
      return Status::Corruption(fmt::format(
          "dimension {} spans {} indices: implausible plane count", DimLetter(a.dim), a.size));
    }
    per_scene = *m;
  }
  const uint64_t total = per_scene * scenes_.size();
  const uint64_t allowance =
      std::max<uint64_t>(kMinPlaneAllowance, kPlanesPerSubblock * layer0_count_);
  if (total > kMaxPlanes || total > allowance) {
    std::string spans;
    for (const Axis& a : axes) {
      if (a.size > 1) spans += fmt::format(" {}={}", DimLetter(a.dim), a.size);
    }
    return Status::Corruption(
        fmt::format("the dimension indices ({}, {} scene(s)) make {} planes for only {} subblocks: "
                    "the directory is corrupt",
                    spans.substr(spans.empty() ? 0 : 1), scenes_.size(), total, layer0_count_));
  }

  return axes;
}

// Every plane of the grid, with its coordinates, path and pixel type.
void ImageIndex::MakePlanes(const CziFile& czi, const std::vector<Axis>& axes, uint64_t per_scene) {
  const auto& sbs = czi.subblocks();
  const uint64_t total = per_scene * scenes_.size();
  // Default pixel type per channel, for planes without subblocks.
  std::map<int32_t, int32_t> channel_type;
  for (const SubblockEntry& e : sbs) {
    if (e.IsLayer0()) channel_type.try_emplace(e.Coord(Dim::kC), e.pixel_type);
  }

  planes_.resize(total);
  for (uint32_t s = 0; s < scenes_.size(); ++s) {
    for (uint64_t k = 0; k < per_scene; ++k) {
      Plane& p = planes_[s * per_scene + k];
      p.scene = s;
      p.coord[static_cast<int>(Dim::kS)] = scenes_[s].index;
      uint64_t rest = k;
      for (size_t a = axes.size(); a-- > 0;) {
        p.coord[static_cast<int>(axes[a].dim)] =
            axes[a].start + static_cast<int32_t>(rest % static_cast<uint64_t>(axes[a].size));
        rest /= static_cast<uint64_t>(axes[a].size);
      }
      auto ct = channel_type.find(p.Coord(Dim::kC));
      p.pixel_type = ct != channel_type.end() ? ct->second : pixel_types_.front();
    }
  }
}

// Layer-0 subblocks go to their planes, pyramid subblocks to their planes'
// levels (returned by (level, plane)).
Result<std::map<std::pair<uint32_t, uint32_t>, PyramidPlane>> ImageIndex::AssignSubblocks(
    const CziFile& czi, const std::vector<Axis>& axes, uint64_t per_scene) {
  const auto& sbs = czi.subblocks();
  std::map<int32_t, uint32_t> scene_pos;
  for (uint32_t s = 0; s < scenes_.size(); ++s) scene_pos[scenes_[s].index] = s;
  auto plane_of = [&](const SubblockEntry& e) -> Result<int64_t> {
    auto scene = scene_pos.find(e.Coord(Dim::kS));
    if (scene == scene_pos.end()) return int64_t{-1};  // a scene without layer 0
    uint64_t k = 0;
    for (const Axis& a : axes) {
      const int64_t off = int64_t{e.Coord(a.dim)} - a.start;
      if (off < 0 || off >= a.size) {  // cannot happen with the bounds above; never index blindly
        return Status::Corruption(
            fmt::format("subblock {}: index {} of dimension {} is outside its bounds", e.index,
                        e.Coord(a.dim), DimLetter(a.dim)));
      }
      k = k * static_cast<uint64_t>(a.size) + static_cast<uint64_t>(off);
    }
    return static_cast<int64_t>(scene->second * per_scene + k);
  };
  std::map<std::pair<uint32_t, uint32_t>, PyramidPlane> levels;  // (level, plane)
  for (const SubblockEntry& e : sbs) {
    const uint32_t factor = PyramidFactor(e);
    if (!e.IsLayer0() && factor == 0) continue;
    CZIFS_ASSIGN_OR_RETURN(const int64_t pi, plane_of(e));
    if (pi < 0) continue;
    if (e.IsLayer0()) {
      planes_[static_cast<size_t>(pi)].subblocks.push_back(e.index);
      plane_of_subblock_[e.index] = static_cast<int32_t>(pi);
      continue;
    }
    const auto level = static_cast<uint32_t>(
        std::lower_bound(pyramid_factors_.begin(), pyramid_factors_.end(), factor) -
        pyramid_factors_.begin() + 1);
    PyramidPlane& pp = levels[{level, static_cast<uint32_t>(pi)}];
    pp.level = level;
    pp.factor = factor;
    pp.plane = static_cast<uint32_t>(pi);
    pp.subblocks.push_back(e.index);
  }
  return levels;
}

// Sorts every plane's and level's subblocks into drawing order and says
// which cannot be served.
void ImageIndex::SetDrawingOrder(const CziFile& czi,
                                 std::map<std::pair<uint32_t, uint32_t>, PyramidPlane> levels) {
  const auto& sbs = czi.subblocks();
  // Drawing order: no M first, then ascending M; ties keep file order.
  auto drawing_order = [&](std::vector<uint32_t>& list) {
    std::stable_sort(list.begin(), list.end(), [&](uint32_t a, uint32_t b) {
      const SubblockEntry& ea = sbs[a];
      const SubblockEntry& eb = sbs[b];
      if (ea.Has(Dim::kM) != eb.Has(Dim::kM)) return !ea.Has(Dim::kM);
      return ea.Coord(Dim::kM) < eb.Coord(Dim::kM);
    });
  };
  // Why a list of subblocks cannot be drawn as one image of `pixel_type`, or "".
  auto unsupported = [&](const std::vector<uint32_t>& list, int32_t pixel_type) -> std::string {
    if (!IsSupportedPixelType(pixel_type)) {
      return "pixel type " + PixelTypeName(pixel_type) + " is not supported";
    }
    for (uint32_t sb : list) {
      if (sbs[sb].pixel_type != pixel_type) {
        return fmt::format(
            "subblock {} has pixel type {}, others {} (mixed pixel types in one plane)", sb,
            PixelTypeName(sbs[sb].pixel_type), PixelTypeName(pixel_type));
      }
      if (!IsSupportedCompression(sbs[sb].compression)) {
        return fmt::format("subblock {}: compression {} is not supported", sb,
                           CompressionName(sbs[sb].compression));
      }
    }
    return "";
  };
  for (Plane& p : planes_) {
    drawing_order(p.subblocks);
    if (!p.subblocks.empty()) p.pixel_type = sbs[p.subblocks.front()].pixel_type;
    p.unsupported = unsupported(p.subblocks, p.pixel_type);
  }
  for (auto& [key, pp] : levels) {
    drawing_order(pp.subblocks);
    pp.unsupported = unsupported(pp.subblocks, sbs[pp.subblocks.front()].pixel_type);
    pyramid_planes_.push_back(std::move(pp));
  }
}

}  // namespace czifs
