// The OME-Zarr images of a CZI: one per scene (and per index of H, I, R, V,
// B, A), arrays of [T, C x samples, Z, Y, X] cut into chunks of one plane's
// rectangle, each chunk a served file of raw little-endian samples. Levels
// by factors of 2 down to a thumbnail: the full resolution from the planes,
// a level the file's own pyramid has (covering every plane of the image,
// at that factor) from its subblocks, every other one computed (reduce.h)
// from the level above.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <map>
#include <tuple>

#include "czifs/catalog.h"
#include "czifs/checked.h"

namespace czifs {
namespace {

// The last level position (factor 2^30: a canvas's downscale is 32 bits).
constexpr uint32_t kMaxZarrLevel = 30;

// The gray pixel type of one sample of `pixel_type` (the array's dtype).
int32_t SampleType(int32_t pixel_type) {
  if (SamplesPerPixel(pixel_type) == 1) return pixel_type;
  const bool real = IsFloatPixelType(pixel_type);
  switch (BytesPerSample(pixel_type)) {
    case 1:
      return static_cast<int32_t>(PixelType::kGray8);
    case 2:
      return static_cast<int32_t>(PixelType::kGray16);
    case 4:
      return static_cast<int32_t>(real ? PixelType::kGray32Float : PixelType::kGray32);
    default:
      return static_cast<int32_t>(PixelType::kGray64Float);
  }
}

// The pyramid levels that cover every plane of `members` at one factor:
// level number → (factor, the pyramid plane of each member, in order).
std::map<uint32_t, std::pair<uint32_t, std::vector<const PyramidPlane*>>> CompleteLevels(
    const ImageIndex& index, const std::vector<uint32_t>& members) {
  std::map<uint32_t, std::map<uint32_t, const PyramidPlane*>> by_level;  // level → plane → pp
  for (const PyramidPlane& pp : index.pyramid_planes()) {
    if (pp.unsupported.empty()) by_level[pp.level][pp.plane] = &pp;
  }
  std::map<uint32_t, std::pair<uint32_t, std::vector<const PyramidPlane*>>> out;
  for (const auto& [level, of_plane] : by_level) {
    std::vector<const PyramidPlane*> list;
    for (uint32_t m : members) {
      auto it = of_plane.find(m);
      if (it == of_plane.end() || it->second->factor != of_plane.begin()->second->factor) break;
      list.push_back(it->second);
    }
    if (list.size() == members.size()) out[level] = {list.front()->factor, std::move(list)};
  }
  return out;
}

ZarrLevel MakeLevel(std::string path, uint32_t factor, const Rect& box, int64_t chunk,
                    uint32_t slices) {
  ZarrLevel l;
  l.path = std::move(path);
  l.factor = factor;
  l.width = (box.width + factor - 1) / factor;
  l.height = (box.height + factor - 1) / factor;
  l.chunk_width = std::min(chunk, l.width);
  l.chunk_height = std::min(chunk, l.height);
  const int64_t planes_per_chunk =
      chunk * chunk / std::max<int64_t>(1, l.chunk_width * l.chunk_height);  // 0 x 0: damaged
  l.chunk_depth = static_cast<uint32_t>(std::clamp<int64_t>(planes_per_chunk, 1, slices));
  return l;
}

// The chunk grid of `level`: columns and rows.
std::pair<int64_t, int64_t> Grid(const ZarrLevel& level) {
  return {(level.width + level.chunk_width - 1) / level.chunk_width,
          (level.height + level.chunk_height - 1) / level.chunk_height};
}

// The chunks [x0, x1] x [y0, y1] that subblock `e` touches on `canvas`
// (empty when x0 > x1 or y0 > y1).
struct Cells {
  int64_t x0, x1, y0, y1;
  bool empty() const { return x0 > x1 || y0 > y1; }
  uint64_t count() const {
    return empty() ? 0 : static_cast<uint64_t>(x1 - x0 + 1) * static_cast<uint64_t>(y1 - y0 + 1);
  }
};
// The subblocks whose pixels `canvas` shows: its own, or for a computed
// level those of the level it is computed from.
const std::vector<uint32_t>& DrawnSubblocks(const Canvas& canvas) {
  return canvas.reduced ? canvas.reduced->base->subblocks : canvas.subblocks;
}

// Where subblock `g` lands on `canvas` (Placement); on a computed level,
// the level pixels its pixels reach.
Rect PlaceOn(const Canvas& canvas, const SubblockTable::Geometry& g) {
  if (!canvas.reduced) return Placement(canvas, g);
  const Canvas& base = *canvas.reduced->base;
  const Rect at = Placement(base, g);
  const int64_t f = int64_t{1} << canvas.reduced->halvings;
  const int64_t ox = FloorDiv(canvas.x - base.x, canvas.downscale);
  const int64_t oy = FloorDiv(canvas.y - base.y, canvas.downscale);
  const int64_t x0 = FloorDiv(at.x, f), x1 = FloorDiv(at.x + at.width + f - 1, f);
  const int64_t y0 = FloorDiv(at.y, f), y1 = FloorDiv(at.y + at.height + f - 1, f);
  return Rect{x0 - ox, y0 - oy, x1 - x0, y1 - y0};
}

Cells CellsOf(const ZarrLevel& level, const Canvas& canvas, const SubblockTable::Geometry& g) {
  const int64_t cw = level.chunk_width, ch = level.chunk_height;
  const auto [cols, rows] = Grid(level);
  const Rect r = PlaceOn(canvas, g);
  return {std::max<int64_t>(0, FloorDiv(r.x, cw)),
          std::min(cols - 1, FloorDiv(r.x + r.width - 1, cw)),
          std::max<int64_t>(0, FloorDiv(r.y, ch)),
          std::min(rows - 1, FloorDiv(r.y + r.height - 1, ch))};
}

uint32_t ZGroups(const ZarrImage& image, const ZarrLevel& level) {
  return (image.slices + level.chunk_depth - 1) / level.chunk_depth;
}

}  // namespace

void Catalog::AddZarr() {
  const ImageIndex& index = *index_;
  const auto planes = index.planes();
  if (planes.empty()) return;
  const uint64_t combinations = index.RunLength(3);
  for (uint32_t s = 0; s < index.scenes().size(); ++s) {
    for (uint64_t k = 0; k < combinations; ++k) {
      ZarrImage img;
      img.scene = s;
      img.suffix = k;
      img.name = index.IndexName(Dim::kS, index.scenes()[s].index) +
                 PlaneSuffix(index, planes[index.PlaneAt(s, 0, 0, 0, k)]) + ".ome.zarr";
      img.frames = DimSize(index, Dim::kT);
      img.channels = DimSize(index, Dim::kC);
      img.slices = DimSize(index, Dim::kZ);
      std::vector<uint32_t> members;  // C, then T, then Z: plane order
      for (uint32_t c = 0; c < img.channels; ++c) {
        for (uint32_t t = 0; t < img.frames; ++t) {
          for (uint32_t z = 0; z < img.slices; ++z) {
            members.push_back(static_cast<uint32_t>(index.PlaneAt(s, c, t, z, k)));
          }
        }
      }
      img.pixel_type = planes[members[0]].pixel_type;
      img.unsupported = PlanesProblem(index, members);
      if (!img.unsupported.empty()) {
        zarr_.push_back(std::move(img));
        continue;
      }
      img.samples = static_cast<uint32_t>(SamplesPerPixel(img.pixel_type));
      for (uint32_t c = 0; c < img.channels; ++c) {
        img.channel_planes.push_back(static_cast<uint32_t>(index.PlaneAt(s, c, 0, 0, k)));
      }
      AddLevels(&img, members);
      if (Status fits = CheckChunkCount(img); !fits.ok()) {  // the image goes; the planes stay
        img.unsupported = fits.message();
        img.levels.clear();
      }
      zarr_.push_back(std::move(img));
    }
  }
}

void Catalog::AddLevels(ZarrImage* img, const std::vector<uint32_t>& members) const {
  const Rect& box = index_->scenes()[img->scene].bbox;
  const int64_t chunk = options_.zarr_chunk;
  // The file's levels at a power of 2: factor → level number.
  std::map<uint32_t, uint32_t> drawn;
  for (const auto& [level, found] : CompleteLevels(*index_, members)) {
    const auto& [factor, pps] = found;
    const bool same_type = std::all_of(pps.begin(), pps.end(), [&](const PyramidPlane* pp) {
      return czi_->subblocks().pixel_type(pp->subblocks.front()) == img->pixel_type;
    });
    // An overview of another type is not this image's.
    if (same_type && std::has_single_bit(factor)) drawn.emplace(factor, level);
  }
  img->levels.push_back(MakeLevel("0", 1, box, chunk, img->slices));
  const int64_t thumbnail = std::min<int64_t>(CatalogOptions::kThumbnailSide, chunk);
  for (uint32_t i = 1; i <= kMaxZarrLevel; ++i) {
    const ZarrLevel& above = img->levels.back();
    if (std::max(above.width, above.height) <= thumbnail) break;
    const uint32_t factor = uint32_t{1} << i;
    ZarrLevel l = MakeLevel(std::to_string(i), factor, box, chunk, img->slices);
    if (auto it = drawn.find(factor); it != drawn.end()) {
      l.pyramid = it->second;
    } else {
      l.pyramid = above.pyramid;
      l.halvings = above.halvings + 1;
    }
    img->levels.push_back(std::move(l));
  }
}

std::optional<Page> Catalog::LevelPage(const ZarrImage& image, uint32_t level, uint32_t t,
                                       uint32_t c, uint32_t z) const {
  const ZarrLevel& l = image.levels[level];
  const auto plane = static_cast<uint32_t>(index_->PlaneAt(image.scene, c, t, z, image.suffix));
  Canvas drawn;
  if (l.pyramid == 0) {
    drawn = PlaneCanvas(*index_, plane);
  } else {
    const int64_t pp = PyramidOf(l.pyramid, plane);
    if (pp < 0) return std::nullopt;
    const PyramidPlane& p = index_->pyramid_planes()[static_cast<size_t>(pp)];
    const Rect& box = index_->scenes()[image.scene].bbox;
    const uint32_t f = l.factor >> l.halvings;
    drawn = Canvas{
        box.x,       box.y,  (box.width + f - 1) / f, (box.height + f - 1) / f, f, image.pixel_type,
        p.subblocks, nullptr};
  }
  if (l.halvings == 0) return Page{std::move(drawn), plane};
  auto reduction = std::make_shared<Reduction>();
  reduction->base = std::make_shared<const Canvas>(std::move(drawn));
  reduction->halvings = l.halvings;
  reduction->plane = plane;
  reduction->base_level = l.pyramid;
  return Page{ReducedCanvas(std::move(reduction), 0, 0, l.width, l.height), plane};
}

std::vector<Page> Catalog::GroupPages(const ZarrImage& image, uint32_t level, uint32_t t,
                                      uint32_t c, uint32_t zc) const {
  // The pages of one chunk's depth of planes; past the last Z, pages of
  // zeros (the first page's canvas without subblocks).
  const uint32_t depth = image.levels[level].chunk_depth;
  std::vector<Page> pages;
  for (uint32_t k = 0; k < depth; ++k) {
    const uint32_t z = zc * depth + k;
    std::optional<Page> page;
    if (z < image.slices) page = LevelPage(image, level, t, c, z);
    if (!page && !pages.empty()) {
      page = pages.front();
      page->canvas.subblocks.clear();
      page->canvas.reduced = nullptr;
    }
    if (!page) return {};  // no first plane: nothing here
    pages.push_back(std::move(*page));
  }
  return pages;
}

std::vector<std::pair<uint32_t, uint32_t>> Catalog::ChunksTouched(
    const ZarrLevel& level, const std::vector<Page>& pages) const {
  // Work follows the subblocks, not the (maybe huge, mostly empty) grid.
  std::vector<std::pair<uint32_t, uint32_t>> cells;  // (row, column)
  for (const Page& page : pages) {
    for (uint32_t sb : DrawnSubblocks(page.canvas)) {
      const Cells c = CellsOf(level, page.canvas, czi_->subblocks().geometry(sb));
      for (int64_t y = c.y0; y <= c.y1; ++y) {
        for (int64_t x = c.x0; x <= c.x1; ++x) {
          cells.emplace_back(static_cast<uint32_t>(y), static_cast<uint32_t>(x));
        }
      }
    }
  }
  std::sort(cells.begin(), cells.end());
  cells.erase(std::unique(cells.begin(), cells.end()), cells.end());
  return cells;
}

Status Catalog::CheckChunkCount(const ZarrImage& image) const {
  // Upper bounds first: the whole grid (nothing read), then each
  // subblock's cells (no memory); only past both the exact count, group by group.
  const uint64_t limit = options_.max_zarr_chunks;
  uint64_t grid = 0;
  for (const ZarrLevel& l : image.levels) {
    const auto [cols, rows] = Grid(l);
    const auto n = CheckedMul<uint64_t>(
        static_cast<uint64_t>(cols) * static_cast<uint64_t>(rows),
        uint64_t{image.frames} * image.channels * ZGroups(image, l) * image.samples);
    grid = n ? grid + *n : UINT64_MAX;
    if (grid > limit) break;
  }
  if (grid <= limit) return Status::Ok();
  uint64_t bound = 0;
  for (uint32_t l = 0; l < image.levels.size() && bound <= limit; ++l) {
    for (uint32_t t = 0; t < image.frames; ++t) {
      for (uint32_t c = 0; c < image.channels; ++c) {
        for (uint32_t z = 0; z < image.slices; ++z) {
          const auto page = LevelPage(image, l, t, c, z);
          if (!page) continue;
          for (uint32_t sb : DrawnSubblocks(page->canvas)) {
            const Cells cells =
                CellsOf(image.levels[l], page->canvas, czi_->subblocks().geometry(sb));
            bound += cells.count() * image.samples;
            if (cells.count() > limit) return TooManyChunks();
          }
        }
      }
    }
  }
  if (bound <= limit) return Status::Ok();
  uint64_t n = 0;
  for (uint32_t l = 0; l < image.levels.size(); ++l) {
    for (uint32_t t = 0; t < image.frames; ++t) {
      for (uint32_t c = 0; c < image.channels; ++c) {
        for (uint32_t zc = 0; zc < ZGroups(image, image.levels[l]); ++zc) {
          n +=
              ChunksTouched(image.levels[l], GroupPages(image, l, t, c, zc)).size() * image.samples;
          if (n > limit) return TooManyChunks();
        }
      }
    }
  }
  return Status::Ok();
}

Status Catalog::TooManyChunks() const {
  return Status::ResourceExhausted(
      fmt::format("more than {} zarr chunks in the image; a larger --zarr-chunk makes fewer",
                  options_.max_zarr_chunks));
}

Result<ServedTiff> Catalog::DescribeChunk(const TiffId& id) const {
  const ZarrImage& image = zarr_[id.index];
  if (id.level >= image.levels.size() || id.t >= image.frames ||
      id.c >= image.channels * image.samples) {
    return Status::NotFound(
        fmt::format("no chunk {}/{}/{} in {}", id.level, id.t, id.c, image.name));
  }
  const ZarrLevel& level = image.levels[id.level];
  const uint32_t c = id.c / image.samples, sample = id.c % image.samples;
  ServedTiff f;
  f.id = id;
  f.kind = TiffKind::kZarrChunk;
  f.path =
      fmt::format("{}/{}/{}/{}/{}/{}/{}", image.name, level.path, id.t, id.c, id.z, id.y, id.x);
  f.scene = image.scene;
  f.level = id.level;
  for (const Page& page : GroupPages(image, id.level, id.t, c, id.z)) {
    const Canvas& canvas = page.canvas;
    const int32_t one_sample = image.samples > 1 ? static_cast<int32_t>(sample) : -1;
    if (canvas.reduced) {  // a computed level: the chunk's rectangle of it
      f.pages.push_back(
          {ReducedCanvas(canvas.reduced, int64_t{id.x} * level.chunk_width,
                         int64_t{id.y} * level.chunk_height, level.chunk_width, level.chunk_height),
           page.plane, one_sample});
      continue;
    }
    Canvas chunk{canvas.x + int64_t{id.x} * level.chunk_width * canvas.downscale,
                 canvas.y + int64_t{id.y} * level.chunk_height * canvas.downscale,
                 level.chunk_width,
                 level.chunk_height,
                 canvas.downscale,
                 canvas.pixel_type,
                 {},
                 nullptr};
    for (uint32_t sb : canvas.subblocks) {
      const Cells cells = CellsOf(level, canvas, czi_->subblocks().geometry(sb));
      if (!cells.empty() && id.x >= cells.x0 && id.x <= cells.x1 && id.y >= cells.y0 &&
          id.y <= cells.y1) {
        chunk.subblocks.push_back(sb);
      }
    }
    f.pages.push_back({std::move(chunk), page.plane, one_sample});
  }
  if (f.pages.empty()) return Status::NotFound(f.path + ": no such chunk");
  CZIFS_ASSIGN_OR_RETURN(f.layout,
                         LayoutOf({4, id.index, id.level, 0, 0}, [&]() -> Result<TiffSpec> {
                           TiffSpec spec;
                           spec.raw = true;
                           spec.width = static_cast<uint32_t>(level.chunk_width);
                           spec.height = static_cast<uint32_t>(level.chunk_height);
                           spec.pixel_type = SampleType(image.pixel_type);
                           spec.pages = level.chunk_depth;
                           return spec;
                         }));
  CZIFS_RETURN_IF_ERROR(f.layout->Get().status());
  return f;
}

Result<std::vector<CatalogEntry>> Catalog::ListZarr(const FolderKey& key) const {
  if (key.image >= zarr_.size()) return Status::NotFound("no such OME-Zarr image");
  const ZarrImage& image = zarr_[key.image];
  std::vector<CatalogEntry> out;
  auto folder = [&](uint32_t number, FolderKind kind, auto set) {
    FolderKey child = key;
    child.kind = kind;
    set(&child);
    CatalogEntry e;
    e.name = std::to_string(number);
    e.is_dir = true;
    e.folder = child;
    out.push_back(std::move(e));
  };
  // Whether group (t, c, zc) of the key's level has a chunk: at full
  // resolution any subblock does (planes lie in their scene's box).
  auto group_has_chunks = [&](uint32_t t, uint32_t c, uint32_t zc) {
    const auto pages = GroupPages(image, key.level, t, c, zc);
    if (image.levels[key.level].pyramid == 0 && image.levels[key.level].halvings == 0) {
      return std::any_of(pages.begin(), pages.end(),
                         [](const Page& p) { return !p.canvas.subblocks.empty(); });
    }
    return !ChunksTouched(image.levels[key.level], pages).empty();
  };
  if (key.kind != FolderKind::kZarrImage && key.level >= image.levels.size()) {
    return Status::NotFound("no such OME-Zarr level");
  }
  switch (key.kind) {
    case FolderKind::kZarrImage:
      for (uint32_t l = 0; l < image.levels.size(); ++l) {
        FolderKey child = key;
        child.kind = FolderKind::kZarrLevel;
        child.level = l;
        CatalogEntry e;
        e.name = image.levels[l].path;
        e.is_dir = true;
        e.folder = child;
        out.push_back(std::move(e));
      }
      break;
    case FolderKind::kZarrLevel:
      for (uint32_t t = 0; t < image.frames; ++t) {
        bool any = false;
        for (uint32_t c = 0; c < image.channels && !any; ++c) {
          for (uint32_t zc = 0; zc < ZGroups(image, image.levels[key.level]) && !any; ++zc) {
            any = group_has_chunks(t, c, zc);
          }
        }
        if (any) folder(t, FolderKind::kZarrT, [t](FolderKey* k) { k->t = t; });
      }
      break;
    case FolderKind::kZarrT:
      for (uint32_t c = 0; c < image.channels; ++c) {
        bool any = false;
        for (uint32_t zc = 0; zc < ZGroups(image, image.levels[key.level]) && !any; ++zc) {
          any = group_has_chunks(key.t, c, zc);
        }
        for (uint32_t s = 0; any && s < image.samples; ++s) {
          const uint32_t cs = c * image.samples + s;
          folder(cs, FolderKind::kZarrC, [cs](FolderKey* k) { k->c = cs; });
        }
      }
      break;
    case FolderKind::kZarrC:
      for (uint32_t zc = 0; zc < ZGroups(image, image.levels[key.level]); ++zc) {
        if (group_has_chunks(key.t, key.c / image.samples, zc)) {
          folder(zc, FolderKind::kZarrZ, [zc](FolderKey* k) { k->z = zc; });
        }
      }
      break;
    case FolderKind::kZarrZ:
    case FolderKind::kZarrY: {
      const auto cells =
          ChunksTouched(image.levels[key.level],
                        GroupPages(image, key.level, key.t, key.c / image.samples, key.z));
      uint32_t last_row = UINT32_MAX;
      for (const auto& [y, x] : cells) {
        if (key.kind == FolderKind::kZarrZ && y != last_row) {
          folder(y, FolderKind::kZarrY, [y = y](FolderKey* k) { k->y = y; });
          last_row = y;
        } else if (key.kind == FolderKind::kZarrY && y == key.y) {
          CatalogEntry e;
          e.name = std::to_string(x);
          e.tiff = {TiffKind::kZarrChunk, key.image, key.level, key.t, key.c, key.z, y, x};
          out.push_back(std::move(e));
        }
      }
      break;
    }
    default:
      return Status::NotFound("not an OME-Zarr folder");
  }
  std::sort(out.begin(), out.end(),
            [](const CatalogEntry& a, const CatalogEntry& b) { return a.name < b.name; });
  return out;
}

}  // namespace czifs
