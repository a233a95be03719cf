#include "czifs/catalog.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "czifs/imagej.h"

namespace czifs {
namespace {

// `base` with the canvas's size and pixel type.
Result<TiffSpec> SpecOf(const TiffSpec& base, const Canvas& c) {
  if (c.width <= 0 || c.height <= 0 || c.width > UINT32_MAX || c.height > UINT32_MAX) {
    return Status::NotSupported(fmt::format("{}x{} pixels do not fit one TIFF", c.width, c.height));
  }
  TiffSpec spec = base;
  spec.width = static_cast<uint32_t>(c.width);
  spec.height = static_cast<uint32_t>(c.height);
  spec.pixel_type = c.pixel_type;
  return spec;
}

// The ImageJ description of plane `p` (or of a pyramid level of it) drawn
// as `pixel_type`: calibration and its channel's display range, as ZEN
// shows it. (Its colour would be a LUT, which ImageJ applies to composite
// images only: see AddHyperstacks.)
std::string PlaneDescription(const ImageIndex& index, const ImageMetadata& md, bool calibrated,
                             const Plane& p, int32_t pixel_type) {
  const ChannelInfo* ch = ChannelOf(index, md, p);
  return ImageJDescription(calibrated, md.scale_z_um,
                           ch ? DisplayRange(*ch, pixel_type) : std::nullopt);
}

}  // namespace

std::string TileProblem(const SubblockEntry& e) {
  if (e.size_damaged) return "its directory entry claims a size the file cannot hold";
  if (auto fits = SpecOf({}, Canvas{e.x, e.y, e.width, e.height, 1, e.pixel_type, {}, nullptr});
      !fits.ok()) {
    return fits.status().message();
  }
  if (!IsSupportedPixelType(e.pixel_type)) {
    return "pixel type " + PixelTypeName(e.pixel_type) + " is not supported";
  }
  if (!IsSupportedCompression(e.compression)) {
    return "compression " + CompressionName(e.compression) + " is not supported";
  }
  return "";
}

const ChannelInfo* ChannelOf(const ImageIndex& index, const ImageMetadata& md, const Plane& p) {
  const int64_t c = int64_t{p.Coord(Dim::kC)} - index.bounds(Dim::kC).start;
  if (c < 0 || c >= static_cast<int64_t>(md.channels.size())) return nullptr;
  return &md.channels[static_cast<size_t>(c)];
}

bool ParseWithout(const std::string& list, CatalogOptions* opts, std::string* error) {
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find_first_of(",:", start), list.size());
    const std::string name = list.substr(start, comma - start);
    if (name == "tiles") {
      opts->tiles = false;
    } else if (name == "pyramid") {
      opts->pyramid = false;
    } else if (name == "hyperstacks" || name == "hyperstack") {
      opts->hyperstacks = false;
    } else if (name == "zarr") {
      opts->zarr = false;
    } else if (name == "ometiff") {
      opts->ometiff = false;
    } else if (!name.empty()) {
      *error = "unknown name '" + name + "' (use tiles, pyramid, hyperstacks, zarr, ometiff)";
      return false;
    }
    start = comma + 1;
  }
  return true;
}

std::string PlaneSuffix(const ImageIndex& index, const Plane& p) {
  std::string s;
  for (Dim d : kSuffixDims) {
    if (index.bounds(d).present && index.bounds(d).size > 1)
      s += "_" + index.IndexName(d, p.Coord(d));
  }
  return s;
}

uint32_t DimSize(const ImageIndex& index, Dim d) {
  return static_cast<uint32_t>(std::max(1, index.bounds(d).size));
}

std::string PlanesProblem(const ImageIndex& index, const std::vector<uint32_t>& members) {
  const auto& planes = index.planes();
  const auto& unsupported = index.unsupported_planes();
  const int32_t type = members.empty() ? 0 : planes[members[0]].pixel_type;
  for (uint32_t m : members) {
    if (unsupported.count(m)) return PlanePath(index, planes[m]) + " cannot be served";
    if (planes[m].pixel_type != type) return "its planes have different pixel types";
  }
  return "";
}

std::string PlanePath(const ImageIndex& index, const Plane& p) {
  return fmt::format("{}/{}/{}/{}{}.tif", index.IndexName(Dim::kS, p.Coord(Dim::kS)),
                     index.IndexName(Dim::kC, p.Coord(Dim::kC)),
                     index.IndexName(Dim::kT, p.Coord(Dim::kT)),
                     index.IndexName(Dim::kZ, p.Coord(Dim::kZ)), PlaneSuffix(index, p));
}

void SharedLayout::Build() const {
  auto layout = TiffLayout::Build(spec_);
  if (!layout.ok()) {
    status_ = layout.status();
    return;
  }
  if (locate_description_) {
    const std::optional<uint64_t> at = (*layout)->FindLiteral(spec_.description);
    if (!at) {
      status_ = Status::IOError("description not found in its TIFF layout");
      return;
    }
    description_offset_ = *at;
  }
  layout_ = std::move(layout).value();
  built_.store(true, std::memory_order_release);
}

size_t SharedLayout::MemoryBytesIfBuilt() const {
  return built_.load(std::memory_order_acquire) ? layout_->memory_bytes() : 0;
}

Result<std::shared_ptr<const TiffLayout>> SharedLayout::Get() const {
  std::call_once(once_, [this] { Build(); });
  if (!layout_) return status_;
  return layout_;
}

std::optional<uint64_t> SharedLayout::SizeIfBuilt() const {
  if (!built_.load(std::memory_order_acquire)) return std::nullopt;
  return layout_->size();
}

uint64_t SharedLayout::GapBytesIfBuilt() const {
  return built_.load(std::memory_order_acquire) ? layout_->gap_bytes() : 0;
}

Result<std::shared_ptr<const Catalog>> Catalog::Build(std::shared_ptr<const CziFile> czi,
                                                      std::shared_ptr<const ImageIndex> index,
                                                      std::shared_ptr<const ImageMetadata> metadata,
                                                      const CatalogOptions& options) {
  std::shared_ptr<Catalog> cat(new Catalog());
  cat->czi_ = std::move(czi);
  cat->index_ = std::move(index);
  cat->metadata_ = std::move(metadata);
  cat->options_ = options;
  if (cat->metadata_->scale_x_um && cat->metadata_->scale_y_um) {
    cat->base_.pixels_per_um_x = 1.0 / *cat->metadata_->scale_x_um;
    cat->base_.pixels_per_um_y = 1.0 / *cat->metadata_->scale_y_um;
  }
  // A scene too large for one TIFF cannot be served at all.
  for (const Scene& s : cat->index_->scenes()) {
    auto spec =
        SpecOf({}, Canvas{s.bbox.x, s.bbox.y, s.bbox.width, s.bbox.height, 1, 0, {}, nullptr});
    if (!spec.ok()) return spec.status().WithContext(fmt::format("scene {}", s.index));
  }
  cat->ScanTiles();
  cat->frame_timing_ = FindFrameTiming(*cat->czi_, *cat->index_, *cat->metadata_);
  cat->AddZarr();
  return std::shared_ptr<const Catalog>(std::move(cat));
}

Result<std::shared_ptr<const SharedLayout>> Catalog::LayoutOf(
    const LayoutKey& key, const std::function<Result<TiffSpec>()>& spec,
    bool locate_description) const {
  MutexLock lock(&layouts_mu_);
  auto it = layouts_.find(key);
  if (it != layouts_.end()) return it->second;
  CZIFS_ASSIGN_OR_RETURN(TiffSpec made, spec());
  auto layout = std::make_shared<const SharedLayout>(std::move(made), locate_description);
  layouts_.emplace(key, layout);
  return layout;
}

Result<std::shared_ptr<const SharedLayout>> Catalog::BuiltLayoutOf(
    const LayoutKey& key, const std::function<Result<TiffSpec>()>& spec,
    bool locate_description) const {
  CZIFS_ASSIGN_OR_RETURN(auto layout, LayoutOf(key, spec, locate_description));
  CZIFS_RETURN_IF_ERROR(layout->Get().status());  // laid out now: its size is known
  return layout;
}

Result<ServedTiff> Catalog::Describe(const TiffId& id, bool pages) const {
  switch (id.kind) {
    case TiffKind::kPlane:
      if (id.index >= index_->planes().size()) break;
      return DescribePlane(id.index);
    case TiffKind::kTile:
      if (id.index >= czi_->subblocks().size()) break;
      return DescribeTile(id.index);
    case TiffKind::kPyramid:
      if (id.index >= index_->pyramid_planes().size()) break;
      return DescribePyramid(id.index);
    case TiffKind::kHyperstack:
      if (id.index >= index_->scenes().size()) break;
      return DescribeHyperstack(id.index);
    case TiffKind::kZarrChunk:
      if (id.index >= zarr_.size()) break;
      return DescribeChunk(id);
    case TiffKind::kOmeTiff:
      if (id.index >= zarr_.size()) break;
      return DescribeOmeTiff(id.index, pages);
  }
  return Status::NotFound(
      fmt::format("no served file {} of kind {}", id.index, static_cast<int>(id.kind)));
}

Result<ServedTiff> Catalog::DescribePlane(uint32_t i) const {
  const ImageIndex& index = *index_;
  const Plane p = index.planes()[i];
  ServedTiff t;
  t.id = {TiffKind::kPlane, i};
  t.path = PlanePath(index, p);
  t.unsupported = p.unsupported;
  t.scene = p.scene;
  t.pages.push_back({PlaneCanvas(index, i), i});
  if (!t.unsupported.empty()) return t;
  // Planes of one scene, pixel type and channel share a layout.
  const bool calibrated = base_.pixels_per_um_x.has_value();
  CZIFS_ASSIGN_OR_RETURN(
      t.layout,
      BuiltLayoutOf({0, p.scene, p.pixel_type, p.Coord(Dim::kC), 0}, [&]() -> Result<TiffSpec> {
        CZIFS_ASSIGN_OR_RETURN(TiffSpec spec, SpecOf(base_, t.pages[0].canvas));
        spec.description = PlaneDescription(index, *metadata_, calibrated, p, p.pixel_type);
        return spec;
      }));
  return t;
}

Result<ServedTiff> Catalog::DescribeTile(uint32_t sb) const {
  const SubblockEntry e = czi_->subblocks()[sb];
  const int32_t plane = index_->plane_of_subblock()[sb];
  ServedTiff t;
  t.id = {TiffKind::kTile, sb};
  t.kind = TiffKind::kTile;
  t.subblock = sb;
  t.unsupported = NoTile(sb);
  if (plane < 0) return t;  // no plane: unsupported says so
  t.scene = index_->planes()[static_cast<uint32_t>(plane)].scene;
  t.pages.push_back({Canvas{e.x, e.y, e.width, e.height, 1, e.pixel_type, {sb}, nullptr},
                     static_cast<uint32_t>(plane)});
  t.path = TilePathOf(sb);
  if (!t.unsupported.empty()) return t;
  // Tiles of one shape share a layout; the description is the same length
  // for all of them, and each read puts the tile's own text in place.
  CZIFS_ASSIGN_OR_RETURN(t.layout, BuiltLayoutOf(
                                       {1, e.width, e.height, e.pixel_type, 0},
                                       [&]() -> Result<TiffSpec> {
                                         CZIFS_ASSIGN_OR_RETURN(TiffSpec spec,
                                                                SpecOf(base_, t.pages[0].canvas));
                                         // Placeholders ('#') where the stage position goes:
                                         // unique in the file, so the layout can find it.
                                         spec.description = TileDescription(e, nullptr);
                                         return spec;
                                       },
                                       /*locate_description=*/true));
  return t;
}

Result<ServedTiff> Catalog::DescribePyramid(uint32_t i) const {
  const ImageIndex& index = *index_;
  const PyramidPlane& pp = index.pyramid_planes()[i];
  const Plane p = index.planes()[pp.plane];
  const Rect& box = index.scenes()[p.scene].bbox;
  const int64_t f = pp.factor;
  ServedTiff t;
  t.id = {TiffKind::kPyramid, i};
  t.kind = TiffKind::kPyramid;
  // Canvas = the scene's box at 1/factor, pixel size x factor.
  t.pages.push_back(
      {Canvas{box.x, box.y, (box.width + f - 1) / f, (box.height + f - 1) / f, pp.factor,
              czi_->subblocks().pixel_type(pp.subblocks.front()), pp.subblocks, nullptr},
       pp.plane});
  t.path = fmt::format("pyramid/L{}/{}", pp.level, PlanePath(index, p));
  t.unsupported = pp.unsupported;
  t.scene = p.scene;
  t.level = pp.level;
  if (!t.unsupported.empty()) return t;
  const Canvas& canvas = t.pages[0].canvas;
  const bool calibrated = base_.pixels_per_um_x.has_value();
  auto layout = BuiltLayoutOf(
      {2, p.scene, pp.level, canvas.pixel_type, p.Coord(Dim::kC)}, [&]() -> Result<TiffSpec> {
        CZIFS_ASSIGN_OR_RETURN(TiffSpec spec, SpecOf(base_, canvas));
        if (spec.pixels_per_um_x) *spec.pixels_per_um_x /= static_cast<double>(f);
        if (spec.pixels_per_um_y) *spec.pixels_per_um_y /= static_cast<double>(f);
        spec.description = PlaneDescription(index, *metadata_, calibrated, p, canvas.pixel_type);
        return spec;
      });
  // An overview that cannot be laid out is left out; the planes stay.
  if (!layout.ok()) {
    t.unsupported = layout.status().message();
  } else {
    t.layout = std::move(layout).value();
  }
  return t;
}

std::optional<TiffId> Catalog::Next(const TiffId& id) const {
  TiffId next = id;
  switch (id.kind) {
    case TiffKind::kPlane:
      if (id.index + 1 >= index_->planes().size()) return std::nullopt;
      ++next.index;
      return next;
    case TiffKind::kTile: {
      // The next subblock of its plane in drawing order, then the next plane's first.
      const int32_t p = index_->plane_of_subblock()[id.index];
      if (p < 0) return std::nullopt;
      const auto planes = index_->planes();
      for (uint32_t q = static_cast<uint32_t>(p); q < planes.size(); ++q) {
        const auto list = planes[q].subblocks;
        auto it = list.begin();
        if (q == static_cast<uint32_t>(p)) {
          it = std::find(list.begin(), list.end(), id.index);
          if (it != list.end()) ++it;
        }
        if (it != list.end()) return TiffId{TiffKind::kTile, *it};
        if (q > static_cast<uint32_t>(p) + 16) break;  // read-ahead goes no further anyway
      }
      return std::nullopt;
    }
    case TiffKind::kPyramid:
      if (id.index + 1 >= index_->pyramid_planes().size()) return std::nullopt;
      ++next.index;
      return next;
    case TiffKind::kHyperstack:
    case TiffKind::kOmeTiff:  // many pages: read-ahead stays inside it
      return std::nullopt;
    case TiffKind::kZarrChunk: {
      // Along the row of chunks, then the next row.
      const ZarrLevel& l = zarr_[id.index].levels[id.level];
      const auto cols = static_cast<uint32_t>((l.width + l.chunk_width - 1) / l.chunk_width);
      const auto rows = static_cast<uint32_t>((l.height + l.chunk_height - 1) / l.chunk_height);
      if (++next.x < cols) return next;
      next.x = 0;
      if (++next.y < rows) return next;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::string Catalog::PlanePathOf(uint32_t p) const {
  return PlanePath(*index_, index_->planes()[p]);
}

std::string Catalog::TilePathOf(uint32_t sb) const {
  const int32_t p = index_->plane_of_subblock()[sb];
  if (p < 0 || !tiles_differ_) return "";
  const std::string plane = PlanePathOf(static_cast<uint32_t>(p));
  return fmt::format("tiles/{}/M{:0{}}.tif", plane.substr(0, plane.size() - 4),
                     TileNumber(static_cast<uint32_t>(p), sb), tile_digits_);
}

uint64_t Catalog::TileCount() const {
  uint64_t n = 0;
  if (!tiles_differ_) return 0;
  for (uint32_t sb = 0; sb < czi_->subblocks().size(); ++sb) n += NoTile(sb).empty();
  return n;
}

std::vector<uint32_t> Catalog::ServedPyramidLevels() const {
  std::set<uint32_t> levels;
  for (const PyramidPlane& pp : index_->pyramid_planes()) {
    if (pp.unsupported.empty()) levels.insert(pp.level);
  }
  return {levels.begin(), levels.end()};
}

size_t Catalog::MemoryBytes() const {
  size_t n = sizeof(*this) + tiles_by_m_.capacity() / 8;
  for (const ZarrImage& img : zarr_) {
    n += sizeof(img) + img.levels.capacity() * sizeof(ZarrLevel) +
         img.channel_planes.capacity() * sizeof(uint32_t) + img.unsupported.capacity();
  }
  MutexLock lock(&layouts_mu_);
  for (const auto& [key, layout] : layouts_) {
    // A layout's header and directories (an OME-TIFF's list every tile).
    n += std::max<size_t>(4096, layout->MemoryBytesIfBuilt());
  }
  return n;
}

std::string Catalog::TileDescription(const SubblockEntry& e, const SubblockTags* tags) const {
  // No Z spacing: a tile is one image.
  std::string d = ImageJDescription(base_.pixels_per_um_x.has_value(), std::nullopt);
  // Every value has a fixed width: tiles of one shape share one layout.
  d += "czi_subblock=" + FixedWidth(std::to_string(e.index), 10) + "\n";
  d += "czi_m=" + FixedWidth(e.Has(Dim::kM) ? std::to_string(e.Coord(Dim::kM)) : "", 11) + "\n";
  d += "x_px=" + FixedWidth(std::to_string(e.x), 11) + "\n";
  d += "y_px=" + FixedWidth(std::to_string(e.y), 11) + "\n";
  const auto value = [&](std::optional<double> SubblockTags::*field) {
    return tags ? FixedWidth(tags->*field, 24) : std::string(24, '#');
  };
  d += "stage_x_um=" + value(&SubblockTags::stage_x_um) + "\n";
  d += "stage_y_um=" + value(&SubblockTags::stage_y_um) + "\n";
  d += "focus_um=" + value(&SubblockTags::focus_um) + "\n";
  return d;
}

}  // namespace czifs
