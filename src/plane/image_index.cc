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
  CZIFS_ASSIGN_OR_RETURN(idx.axes_, idx.PlaneAxes());
  idx.planes_per_scene_ = PlanesPerScene(idx.axes_);
  idx.plane_count_ = idx.planes_per_scene_ * idx.scenes_.size();
  idx.MakePlanes(czi);
  CZIFS_ASSIGN_OR_RETURN(auto levels, idx.AssignSubblocks(czi));
  idx.ListPlaneSubblocks();
  idx.SetDrawingOrder(czi, std::move(levels));
  return idx;
}

size_t PlaneTable::size() const { return static_cast<size_t>(index_->plane_count_); }

Plane PlaneTable::operator[](size_t i) const { return index_->MakePlane(i); }

Plane ImageIndex::MakePlane(size_t i) const {
  Plane p;
  p.scene = static_cast<uint32_t>(i / planes_per_scene_);
  p.coord[static_cast<int>(Dim::kS)] = scenes_[p.scene].index;
  uint64_t rest = i % planes_per_scene_;
  for (size_t a = axes_.size(); a-- > 0;) {
    const auto size = static_cast<uint64_t>(axes_[a].size);
    p.coord[static_cast<int>(axes_[a].dim)] = axes_[a].start + static_cast<int32_t>(rest % size);
    rest /= size;
  }
  p.pixel_type = plane_pixel_type_[i];
  p.subblocks = std::span<const uint32_t>(plane_subblocks_.data() + plane_first_[i],
                                          plane_first_[i + 1] - plane_first_[i]);
  if (auto it = plane_unsupported_.find(static_cast<uint32_t>(i)); it != plane_unsupported_.end()) {
    p.unsupported = it->second;
  }
  return p;
}

uint64_t ImageIndex::RunLength(int depth) const {
  uint64_t n = planes_per_scene_;
  for (int d = 0; d < depth && d < 3; ++d) n /= static_cast<uint64_t>(axes_[d].size);
  return n;
}

uint64_t ImageIndex::PlaneAt(uint32_t s, uint32_t c, uint32_t t, uint32_t z, uint64_t k) const {
  // axes_ starts with C, T, Z (always there), then the other dimensions.
  const uint64_t ct = uint64_t{c} * static_cast<uint64_t>(axes_[1].size) + t;
  const uint64_t ctz = ct * static_cast<uint64_t>(axes_[2].size) + z;
  return s * planes_per_scene_ + ctz * RunLength(3) + k;
}

uint64_t ImageIndex::ServableIn(uint64_t first, uint64_t end) const {
  const auto a = plane_unsupported_.lower_bound(static_cast<uint32_t>(first));
  const auto b = plane_unsupported_.lower_bound(static_cast<uint32_t>(end));
  return end - first - static_cast<uint64_t>(std::distance(a, b));
}

size_t ImageIndex::MemoryBytes() const {
  size_t n = sizeof(*this) + plane_first_.capacity() * sizeof(uint32_t) +
             plane_subblocks_.capacity() * sizeof(uint32_t) +
             plane_pixel_type_.capacity() * sizeof(int32_t) +
             plane_of_subblock_.capacity() * sizeof(int32_t) + scenes_.capacity() * sizeof(Scene);
  for (const auto& [plane, why] : plane_unsupported_) n += 64 + why.capacity();
  for (const PyramidPlane& pp : pyramid_planes_) {
    n += sizeof(pp) + pp.subblocks.capacity() * sizeof(uint32_t) + pp.unsupported.capacity();
  }
  return n;
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

// The default pixel type of every plane (its channel's; SetDrawingOrder
// takes its first subblock's where it has one).
void ImageIndex::MakePlanes(const CziFile& czi) {
  const auto& sbs = czi.subblocks();
  // Default pixel type per channel, for planes without subblocks.
  std::map<int32_t, int32_t> channel_type;
  for (size_t i = 0; i < sbs.size(); ++i) {
    if (sbs.is_layer0(i)) channel_type.try_emplace(sbs.coord(i, Dim::kC), sbs.pixel_type(i));
  }
  plane_pixel_type_.assign(plane_count_, pixel_types_.front());
  int64_t c_axis = -1;
  uint64_t c_stride = 1;  // planes between two C indices within a scene
  for (size_t a = axes_.size(); a-- > 0;) {
    if (axes_[a].dim == Dim::kC) {
      c_axis = static_cast<int64_t>(a);
      break;
    }
    c_stride *= static_cast<uint64_t>(axes_[a].size);
  }
  if (c_axis < 0) return;
  const Axis& c = axes_[static_cast<size_t>(c_axis)];
  for (uint64_t i = 0; i < plane_count_; ++i) {
    const int32_t ci =
        c.start + static_cast<int32_t>((i / c_stride) % static_cast<uint64_t>(c.size));
    auto ct = channel_type.find(ci);
    if (ct != channel_type.end()) plane_pixel_type_[i] = ct->second;
  }
}

// Layer-0 subblocks go to their planes (plane_of_subblock_), pyramid
// subblocks to their planes' levels (returned by (level, plane)).
Result<std::map<std::pair<uint32_t, uint32_t>, PyramidPlane>> ImageIndex::AssignSubblocks(
    const CziFile& czi) {
  const auto& sbs = czi.subblocks();
  std::map<int32_t, uint32_t> scene_pos;
  for (uint32_t s = 0; s < scenes_.size(); ++s) scene_pos[scenes_[s].index] = s;
  auto plane_of = [&](const SubblockEntry& e) -> Result<int64_t> {
    auto scene = scene_pos.find(e.Coord(Dim::kS));
    if (scene == scene_pos.end()) return int64_t{-1};  // a scene without layer 0
    uint64_t k = 0;
    for (const Axis& a : axes_) {
      const int64_t off = int64_t{e.Coord(a.dim)} - a.start;
      if (off < 0 || off >= a.size) {  // cannot happen with the bounds above; never index blindly
        return Status::Corruption(
            fmt::format("subblock {}: index {} of dimension {} is outside its bounds", e.index,
                        e.Coord(a.dim), DimLetter(a.dim)));
      }
      k = k * static_cast<uint64_t>(a.size) + static_cast<uint64_t>(off);
    }
    return static_cast<int64_t>(scene->second * planes_per_scene_ + k);
  };
  std::map<std::pair<uint32_t, uint32_t>, PyramidPlane> levels;  // (level, plane)
  for (const SubblockEntry& e : sbs) {
    const uint32_t factor = PyramidFactor(e);
    if (!e.IsLayer0() && factor == 0) continue;
    CZIFS_ASSIGN_OR_RETURN(const int64_t pi, plane_of(e));
    if (pi < 0) continue;
    if (e.IsLayer0()) {
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

// Every plane's layer-0 subblocks in file order, in one array (counted
// first, so it is allocated once at its size).
void ImageIndex::ListPlaneSubblocks() {
  plane_first_.assign(plane_count_ + 1, 0);
  for (const int32_t p : plane_of_subblock_) {
    if (p >= 0) ++plane_first_[static_cast<size_t>(p) + 1];
  }
  for (size_t i = 1; i < plane_first_.size(); ++i) plane_first_[i] += plane_first_[i - 1];
  plane_subblocks_.resize(plane_first_.back());
  std::vector<uint32_t> next(plane_first_.begin(), plane_first_.end() - 1);
  for (uint32_t sb = 0; sb < plane_of_subblock_.size(); ++sb) {
    const int32_t p = plane_of_subblock_[sb];
    if (p >= 0) plane_subblocks_[next[static_cast<size_t>(p)]++] = sb;
  }
}

// Sorts every plane's and level's subblocks into drawing order and says
// which cannot be served.
void ImageIndex::SetDrawingOrder(const CziFile& czi,
                                 std::map<std::pair<uint32_t, uint32_t>, PyramidPlane> levels) {
  const auto& sbs = czi.subblocks();
  // Drawing order: no M first, then ascending M; ties keep file order.
  const bool all_m = sbs.every_entry_has(Dim::kM);  // the M column alone decides
  auto before = [&](uint32_t a, uint32_t b) {
    if (!all_m && sbs.has(a, Dim::kM) != sbs.has(b, Dim::kM)) return !sbs.has(a, Dim::kM);
    return sbs.coord(a, Dim::kM) < sbs.coord(b, Dim::kM);
  };
  auto drawing_order = [&](std::span<uint32_t> list) {
    if (!std::is_sorted(list.begin(), list.end(), before)) {
      std::stable_sort(list.begin(), list.end(), before);
    }
  };
  // Why a list of subblocks cannot be drawn as one image of `pixel_type`, or "".
  auto unsupported = [&](std::span<const uint32_t> list, int32_t pixel_type) -> std::string {
    if (!IsSupportedPixelType(pixel_type)) {
      return "pixel type " + PixelTypeName(pixel_type) + " is not supported";
    }
    for (uint32_t sb : list) {
      if (sbs.pixel_type(sb) != pixel_type) {
        return fmt::format(
            "subblock {} has pixel type {}, others {} (mixed pixel types in one plane)", sb,
            PixelTypeName(sbs.pixel_type(sb)), PixelTypeName(pixel_type));
      }
      if (!IsSupportedCompression(sbs.compression(sb))) {
        return fmt::format("subblock {}: compression {} is not supported", sb,
                           CompressionName(sbs.compression(sb)));
      }
    }
    return "";
  };
  // One pixel type in the file and every compression known (nearly every
  // file): no plane can mix types, so no plane's list needs looking at.
  const auto& formats = sbs.formats();
  const bool uniform =
      !formats.empty() && std::all_of(formats.begin(), formats.end(), [&](const auto& f) {
        return f.first == formats.front().first && IsSupportedCompression(f.second);
      });
  for (uint64_t i = 0; i < plane_count_; ++i) {
    const std::span<uint32_t> list(plane_subblocks_.data() + plane_first_[i],
                                   plane_first_[i + 1] - plane_first_[i]);
    drawing_order(list);
    if (!list.empty())
      plane_pixel_type_[i] = uniform ? formats.front().first : sbs.pixel_type(list.front());
    std::string why = uniform && IsSupportedPixelType(plane_pixel_type_[i])
                          ? std::string()
                          : unsupported(list, plane_pixel_type_[i]);
    if (!why.empty()) plane_unsupported_.emplace(static_cast<uint32_t>(i), std::move(why));
  }
  for (auto& [key, pp] : levels) {
    drawing_order(pp.subblocks);
    pp.unsupported = unsupported(pp.subblocks, sbs.pixel_type(pp.subblocks.front()));
    pyramid_planes_.push_back(std::move(pp));
  }
}

}  // namespace czifs
