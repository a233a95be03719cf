// ImageIndex: the logical image structure of one CZI, derived from the
// subblock directory alone (no pixel data is read): dimension bounds, scenes
// with their bounding boxes, and every plane with the layer-0 subblocks that
// are drawn into it, in drawing order.
//
// Rules (what libCZI's single-channel tile accessor does):
// - layer 0 = subblocks whose stored size equals their logical size;
// - scene bounding box = union of that scene's layer-0 rectangles;
// - a plane is every combination of C, T, Z and each other dimension with
//   more than one index (H, I, R, V, B, A), within each scene; planes without
//   subblocks exist and are all zeros;
// - drawing order: ascending M, subblocks without M first, then file order;
// - pyramid subblocks (stored size smaller than logical) of one downscale
//   factor form a pyramid level of the plane they belong to.
//
// Thread-safety: immutable after Build(); safe to share.
#pragma once

#include <array>
#include <cstdint>
#include <iterator>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "czifs/czi_file.h"
#include "czifs/index_iterator.h"
#include "czifs/status.h"

namespace czifs {

struct Rect {
  int64_t x = 0, y = 0, width = 0, height = 0;
};

struct DimBounds {
  bool present = false;
  int32_t start = 0;
  int32_t size = 0;  // number of indices, max - start + 1
};

struct Scene {
  int32_t index = 0;  // the CZI's S index
  Rect bbox;
};

// One plane, as ImageIndex::planes() hands it out: a value made on access
// from the index's packed arrays (its spans point into the index).
struct Plane {
  uint32_t scene = 0;                      // position in ImageIndex::scenes()
  std::array<int32_t, kDimCount> coord{};  // indices for S, C, T, Z and suffix dims (M unused)
  int32_t pixel_type = 0;
  std::span<const uint32_t> subblocks;  // layer-0 subblock indices in drawing order
  std::string_view unsupported;         // why czifs cannot serve it, or "" (names no path)

  int32_t Coord(Dim d) const { return coord[static_cast<int>(d)]; }
};

// One pyramid level of one plane: the plane's pyramid subblocks of one
// downscale factor, drawn like layer 0 at 1/factor of the size.
struct PyramidPlane {
  uint32_t level = 0;               // 1 for the smallest factor in the file, 2 for the next, ...
  uint32_t factor = 0;              // file pixels per pixel (2, 4, ...)
  uint32_t plane = 0;               // the full-resolution plane it shows (position in planes())
  std::vector<uint32_t> subblocks;  // drawing order
  std::string unsupported;          // why czifs cannot serve it, or "" (names no path)
};

class ImageIndex;

// The planes of an ImageIndex, by position: a view (valid while the index
// lives) that makes each Plane on access. Planes are the grid scene x C x T
// x Z x (each other dimension with more than one index), so a plane's
// coordinates are arithmetic on its position; its subblocks are a slice of
// one array for all planes.
class PlaneTable {
 public:
  explicit PlaneTable(const ImageIndex* index) : index_(index) {}
  size_t size() const;
  bool empty() const { return size() == 0; }
  Plane operator[](size_t i) const;
  using Iterator = IndexIterator<PlaneTable, Plane>;
  Iterator begin() const { return {this, 0}; }
  Iterator end() const { return {this, size()}; }

 private:
  const ImageIndex* index_;
};

class ImageIndex {
 public:
  // Derives the structure from `czi`'s directory.
  static Result<ImageIndex> Build(const CziFile& czi);

  const DimBounds& bounds(Dim d) const { return bounds_[static_cast<int>(d)]; }
  const std::vector<Scene>& scenes() const { return scenes_; }
  // Every plane (a view: bind it to `const auto&` or keep the index alive).
  PlaneTable planes() const { return PlaneTable(this); }
  // The plane grid, for folders of planes: how many planes in a row share
  // their scene (depth 0), also their C (1), also T (2), also Z (3; the
  // number of combinations of the other dimensions).
  uint64_t RunLength(int depth) const;
  // The plane of scene position `s`, positions `c`, `t`, `z` (from each
  // dimension's start) and combination `k` of the other dimensions.
  uint64_t PlaneAt(uint32_t s, uint32_t c, uint32_t t, uint32_t z, uint64_t k) const;
  // How many planes of [first, end) can be served.
  uint64_t ServableIn(uint64_t first, uint64_t end) const;
  // The planes that cannot be served, and why.
  const std::map<uint32_t, std::string>& unsupported_planes() const { return plane_unsupported_; }
  // Bytes the index holds (planes, their subblock lists, the subblock map).
  size_t MemoryBytes() const;
  // Distinct pixel types of layer-0 subblocks, by name, in order of first use.
  const std::vector<int32_t>& pixel_types() const { return pixel_types_; }
  // Count of subblocks per compression value (all layers).
  const std::map<int32_t, uint32_t>& compression_counts() const { return compression_counts_; }
  uint32_t layer0_subblock_count() const { return layer0_count_; }
  // Distinct downscale factors of pyramid subblocks (e.g. {2, 4, 8}); level
  // n has factor pyramid_factors()[n - 1].
  const std::vector<uint32_t>& pyramid_factors() const { return pyramid_factors_; }
  // Every (level, plane) that has pyramid subblocks, by level, then plane.
  const std::vector<PyramidPlane>& pyramid_planes() const { return pyramid_planes_; }
  // For each subblock: the plane it is drawn into, or -1 (pyramid / unsupported).
  const std::vector<int32_t>& plane_of_subblock() const { return plane_of_subblock_; }

  // Returns the zero-padded name of index `i` of `d` ("Z07").
  std::string IndexName(Dim d, int32_t i) const;

 private:
  friend class PlaneTable;
  struct Axis {
    Dim dim;
    int32_t start;
    int32_t size;
  };
  void ScanDirectory(const CziFile& czi);
  Result<std::vector<Axis>> PlaneAxes() const;
  static uint64_t PlanesPerScene(const std::vector<Axis>& axes);
  void MakePlanes(const CziFile& czi);
  Result<std::map<std::pair<uint32_t, uint32_t>, PyramidPlane>> AssignSubblocks(const CziFile& czi);
  void ListPlaneSubblocks();
  void SetDrawingOrder(const CziFile& czi,
                       std::map<std::pair<uint32_t, uint32_t>, PyramidPlane> levels);
  Plane MakePlane(size_t i) const;

  std::array<DimBounds, kDimCount> bounds_{};
  std::array<int, kDimCount> digits_{};
  std::vector<Scene> scenes_;
  // The plane grid: planes_per_scene_ planes per scene over axes_ (last fastest).
  std::vector<Axis> axes_;
  uint64_t planes_per_scene_ = 0;
  uint64_t plane_count_ = 0;
  // Plane i's subblocks are plane_subblocks_[plane_first_[i] .. plane_first_[i + 1]).
  std::vector<uint32_t> plane_first_;
  std::vector<uint32_t> plane_subblocks_;
  std::vector<int32_t> plane_pixel_type_;
  std::map<uint32_t, std::string> plane_unsupported_;  // planes czifs cannot serve, and why
  std::vector<int32_t> pixel_types_;
  std::map<int32_t, uint32_t> compression_counts_;
  uint32_t layer0_count_ = 0;
  std::vector<uint32_t> pyramid_factors_;
  std::vector<PyramidPlane> pyramid_planes_;
  std::vector<int32_t> plane_of_subblock_;
};

}  // namespace czifs
