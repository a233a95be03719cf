#include "czifs/catalog.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "czifs/imagej.h"

namespace czifs {
namespace {

// Tile shapes laid out when a file is opened (a mosaic has one or a
// handful), so listings know tile sizes without a round trip per tile;
// others are laid out on first use.
constexpr size_t kEagerTileShapes = 16;

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

// True if some tile differs from its plane. A file whose every plane is one
// subblock covering the scene (a plain Z stack, a time series) would get a
// second copy of each plane, and scripts globbing *.tif twice the work.
bool TilesDiffer(const CziFile& czi, const ImageIndex& index) {
  for (const Plane& p : index.planes()) {
    const Rect& box = index.scenes()[p.scene].bbox;
    for (uint32_t sb : p.subblocks) {
      const SubblockEntry& e = czi.subblocks()[sb];
      if (p.subblocks.size() > 1 || e.x != box.x || e.y != box.y || e.width != box.width ||
          e.height != box.height) {
        return true;
      }
    }
  }
  return false;
}

// Why a lone subblock cannot be a TIFF, or "".
std::string TileProblem(const SubblockEntry& e) {
  if (e.size_damaged) return "its directory entry claims a size the file cannot hold";
  if (auto fits = SpecOf({}, Canvas{e.x, e.y, e.width, e.height, 1, e.pixel_type, {}});
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

}  // namespace

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
    } else if (!name.empty()) {
      *error = "unknown name '" + name + "' (use tiles, pyramid, hyperstacks, zarr)";
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
  for (uint32_t m : members) {
    const Plane& p = planes[m];
    if (!p.unsupported.empty()) return PlanePath(index, p) + " cannot be served";
    if (p.pixel_type != planes[members[0]].pixel_type) {
      return "its planes have different pixel types";
    }
  }
  return "";
}

std::string PlanePath(const ImageIndex& index, const Plane& p) {
  return fmt::format("{}/{}/{}/{}{}.tif", index.IndexName(Dim::kS, p.Coord(Dim::kS)),
                     index.IndexName(Dim::kC, p.Coord(Dim::kC)),
                     index.IndexName(Dim::kT, p.Coord(Dim::kT)),
                     index.IndexName(Dim::kZ, p.Coord(Dim::kZ)), PlaneSuffix(index, p));
}

bool Shows(const CatalogOptions& options, const ServedTiff& tiff) {
  switch (tiff.kind) {
    case TiffKind::kPlane:
      return true;
    case TiffKind::kTile:
      return options.tiles;
    case TiffKind::kPyramid:
      return options.pyramid;
    case TiffKind::kHyperstack:
      return options.hyperstacks;
    case TiffKind::kZarrChunk:
      return options.zarr;
  }
  return false;
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

Result<std::shared_ptr<const Catalog>> Catalog::Build(const CziFile& czi, const ImageIndex& index,
                                                      const ImageMetadata& metadata,
                                                      const CatalogOptions& options) {
  std::shared_ptr<Catalog> cat(new Catalog());
  if (metadata.scale_x_um && metadata.scale_y_um) {
    cat->base_.pixels_per_um_x = 1.0 / *metadata.scale_x_um;
    cat->base_.pixels_per_um_y = 1.0 / *metadata.scale_y_um;
  }
  CZIFS_RETURN_IF_ERROR(cat->AddPlanes(index, metadata));
  cat->AddTiles(czi, index);
  cat->AddPyramid(czi, index, metadata);
  cat->frame_timing_ = FindFrameTiming(czi, index, metadata);
  cat->AddHyperstacks(index, metadata);
  cat->AddZarr(czi, index, options);
  return std::shared_ptr<const Catalog>(std::move(cat));
}

Status Catalog::AddPlanes(const ImageIndex& index, const ImageMetadata& metadata) {
  const bool calibrated = base_.pixels_per_um_x.has_value();
  // Planes of one scene, pixel type and channel share a layout.
  std::map<std::tuple<uint32_t, int32_t, int32_t>, std::shared_ptr<const SharedLayout>> shared;
  const auto& planes = index.planes();
  tiffs_.reserve(planes.size());
  for (uint32_t i = 0; i < planes.size(); ++i) {
    const Plane& p = planes[i];
    ServedTiff t;
    t.path = PlanePath(index, p);
    t.unsupported = p.unsupported;
    t.scene = p.scene;
    t.pages.push_back({PlaneCanvas(index, i), i});
    if (p.unsupported.empty()) {
      auto key = std::make_tuple(p.scene, p.pixel_type, p.Coord(Dim::kC));
      auto it = shared.find(key);
      if (it == shared.end()) {
        auto spec = SpecOf(base_, t.pages[0].canvas);
        if (!spec.ok()) {
          return spec.status().WithContext(fmt::format("scene {}", index.scenes()[p.scene].index));
        }
        spec->description = PlaneDescription(index, metadata, calibrated, p, p.pixel_type);
        auto layout = std::make_shared<SharedLayout>(std::move(spec).value());
        auto laid_out = layout->Get();  // planes are laid out at open
        if (!laid_out.ok()) return laid_out.status();
        it = shared.emplace(key, std::move(layout)).first;
      }
      t.layout = it->second;
    }
    tiffs_.push_back(std::move(t));
  }
  return Status::Ok();
}

void Catalog::AddTiles(const CziFile& czi, const ImageIndex& index) {
  const auto& sbs = czi.subblocks();
  const auto& planes = index.planes();
  tile_of_subblock_.assign(sbs.size(), -1);
  if (!TilesDiffer(czi, index)) return;
  // Each layer-0 subblock alone, named by its M index when the plane's
  // subblocks have distinct ones, else by its drawing position.
  struct Tile {
    uint32_t subblock, plane;
    int64_t number;
  };
  std::vector<Tile> tiles;
  int64_t widest = 0;
  for (uint32_t i = 0; i < planes.size(); ++i) {
    const auto& list = planes[i].subblocks;
    std::set<int32_t> ms;
    for (uint32_t sb : list) {
      if (sbs[sb].Has(Dim::kM)) ms.insert(sbs[sb].Coord(Dim::kM));
    }
    const bool by_m = ms.size() == list.size() && (ms.empty() || *ms.begin() >= 0);
    for (size_t k = 0; k < list.size(); ++k) {
      const int64_t number = by_m ? sbs[list[k]].Coord(Dim::kM) : static_cast<int64_t>(k);
      widest = std::max(widest, number);
      tiles.push_back({list[k], i, number});
    }
  }
  const size_t digits = std::to_string(widest).size();
  // Tiles of one shape share a layout; the description is the same length
  // for all of them, and each read puts the tile's own text in place.
  std::map<std::tuple<int64_t, int64_t, int32_t>, std::shared_ptr<const SharedLayout>> shapes;
  for (const Tile& tile : tiles) {
    const SubblockEntry& e = sbs[tile.subblock];
    const Plane& p = planes[tile.plane];
    ServedTiff t;
    t.kind = TiffKind::kTile;
    t.pages.push_back(
        {Canvas{e.x, e.y, e.width, e.height, 1, e.pixel_type, {tile.subblock}}, tile.plane});
    const std::string& plane_path = tiffs_[tile.plane].path;
    t.path = fmt::format("tiles/{}/M{:0{}}.tif", plane_path.substr(0, plane_path.size() - 4),
                         tile.number, digits);
    t.unsupported = TileProblem(e);
    t.scene = p.scene;
    t.subblock = tile.subblock;
    if (t.unsupported.empty()) {
      auto key = std::make_tuple(e.width, e.height, e.pixel_type);
      auto it = shapes.find(key);
      if (it == shapes.end()) {
        TiffSpec spec = SpecOf(base_, t.pages[0].canvas).value();
        // Placeholders ('#') where the stage position goes: unique in the
        // file, so the layout can find the description.
        spec.description = TileDescription(e, nullptr);
        auto layout = std::make_shared<SharedLayout>(std::move(spec), true);
        if (shapes.size() < kEagerTileShapes) (void)layout->Get();
        it = shapes.emplace(key, std::move(layout)).first;
      }
      t.layout = it->second;
    }
    tile_of_subblock_[tile.subblock] = static_cast<int64_t>(tiffs_.size());
    tiffs_.push_back(std::move(t));
  }
}

void Catalog::AddPyramid(const CziFile& czi, const ImageIndex& index,
                         const ImageMetadata& metadata) {
  const auto& sbs = czi.subblocks();
  const bool calibrated = base_.pixels_per_um_x.has_value();
  std::map<std::tuple<uint32_t, uint32_t, int32_t, int32_t>, std::shared_ptr<const SharedLayout>>
      shared;
  // Canvas = the scene's box at 1/factor, pixel size x factor.
  for (const PyramidPlane& pp : index.pyramid_planes()) {
    const Plane& p = index.planes()[pp.plane];
    const Rect& box = index.scenes()[p.scene].bbox;
    const int64_t f = pp.factor;
    ServedTiff t;
    t.kind = TiffKind::kPyramid;
    t.pages.push_back({Canvas{box.x, box.y, (box.width + f - 1) / f, (box.height + f - 1) / f,
                              pp.factor, sbs[pp.subblocks.front()].pixel_type, pp.subblocks},
                       pp.plane});
    t.path = fmt::format("pyramid/L{}/{}", pp.level, tiffs_[pp.plane].path);
    t.unsupported = pp.unsupported;
    t.scene = p.scene;
    t.level = pp.level;
    const Canvas& canvas = t.pages[0].canvas;
    if (t.unsupported.empty()) {
      auto key = std::make_tuple(p.scene, pp.level, canvas.pixel_type, p.Coord(Dim::kC));
      auto it = shared.find(key);
      if (it == shared.end()) {
        auto spec = SpecOf(base_, canvas);
        if (spec.ok()) {
          if (spec->pixels_per_um_x) *spec->pixels_per_um_x /= static_cast<double>(f);
          if (spec->pixels_per_um_y) *spec->pixels_per_um_y /= static_cast<double>(f);
          spec->description = PlaneDescription(index, metadata, calibrated, p, canvas.pixel_type);
        }
        auto layout = spec.ok() ? std::make_shared<SharedLayout>(std::move(spec).value()) : nullptr;
        // An overview that cannot be laid out is left out; the planes stay.
        auto laid_out =
            layout ? layout->Get() : Result<std::shared_ptr<const TiffLayout>>(spec.status());
        if (!laid_out.ok()) {
          t.unsupported = laid_out.status().message();
          tiffs_.push_back(std::move(t));
          continue;
        }
        it = shared.emplace(key, std::move(layout)).first;
      }
      t.layout = it->second;
    }
    tiffs_.push_back(std::move(t));
  }
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
