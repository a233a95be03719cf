// One pyramidal, tiled OME-TIFF per OME-Zarr image (S0.ome.tif beside S0/):
// every C/Z/T plane a top-level directory (XYCZT order), its levels (the
// zarr image's: drawn where the file has them, computed below) as
// SubIFDs, the OME-XML in the first directory. Each page of the served
// file is one tile of one level of one plane.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "czifs/catalog.h"
#include "czifs/checked.h"
#include "czifs/pyramid_tiff.h"

namespace czifs {
namespace {

constexpr uint32_t kOmeTiffTile = 512;  // the largest tile side

// The tiles (tw x th) of `level` (a drawn canvas) in row-major order, each
// with the subblocks that reach it (drawing order kept).
std::vector<Canvas> DrawnTiles(const Canvas& level, int64_t tw, int64_t th,
                               const SubblockTable& sbs) {
  const int64_t cols = (level.width + tw - 1) / tw, rows = (level.height + th - 1) / th;
  std::vector<Canvas> tiles(static_cast<size_t>(cols * rows));
  for (int64_t ty = 0; ty < rows; ++ty) {
    for (int64_t tx = 0; tx < cols; ++tx) {
      tiles[static_cast<size_t>(ty * cols + tx)] = Canvas{level.x + tx * tw * level.downscale,
                                                          level.y + ty * th * level.downscale,
                                                          tw,
                                                          th,
                                                          level.downscale,
                                                          level.pixel_type,
                                                          {},
                                                          nullptr};
    }
  }
  for (uint32_t sb : level.subblocks) {
    const Rect r = Placement(level, sbs.geometry(sb));
    const int64_t x0 = std::max<int64_t>(0, FloorDiv(r.x, tw));
    const int64_t x1 = std::min(cols - 1, FloorDiv(r.x + r.width - 1, tw));
    const int64_t y0 = std::max<int64_t>(0, FloorDiv(r.y, th));
    const int64_t y1 = std::min(rows - 1, FloorDiv(r.y + r.height - 1, th));
    for (int64_t y = y0; y <= y1; ++y) {
      for (int64_t x = x0; x <= x1; ++x) {
        tiles[static_cast<size_t>(y * cols + x)].subblocks.push_back(sb);
      }
    }
  }
  return tiles;
}

}  // namespace

std::string OmeTiffName(const ZarrImage& image) {
  return image.name.substr(0, image.name.size() - std::string(".ome.zarr").size()) + ".ome.tif";
}

Result<TiffSpec> Catalog::OmeTiffSpec(const ZarrImage& image, uint32_t i) const {
  auto spec = std::make_shared<PyramidTiffSpec>();
  spec->pixel_type = image.pixel_type;
  spec->planes = image.channels * image.slices * image.frames;
  spec->tile = kOmeTiffTile;
  for (const ZarrLevel& l : image.levels) {
    if (l.width > UINT32_MAX || l.height > UINT32_MAX) {
      return Status::ResourceExhausted("a scene too large for one TIFF");
    }
    spec->levels.push_back(
        {static_cast<uint32_t>(l.width), static_cast<uint32_t>(l.height), l.factor});
  }
  spec->description = OmeXml({i}, /*tiff_data=*/true);
  spec->um_per_pixel_x = metadata_->scale_x_um;
  spec->um_per_pixel_y = metadata_->scale_y_um;
  spec->levels_in_main_chain = spec->planes == 1;
  TiffSpec t;
  t.pixel_type = image.pixel_type;
  t.pyramid = std::move(spec);
  return t;
}

Result<ServedTiff> Catalog::DescribeOmeTiff(uint32_t i, bool pages) const {
  const ZarrImage& image = zarr_[i];
  ServedTiff f;
  f.id = {TiffKind::kOmeTiff, i};
  f.kind = TiffKind::kOmeTiff;
  f.path = OmeTiffName(image);
  f.scene = image.scene;
  if (!image.unsupported.empty() || image.levels.empty()) {
    f.unsupported = image.unsupported.empty() ? "no levels" : image.unsupported;
    return f;
  }
  // Its planes, tiled: only where a plane can be a TIFF (a bogus size is
  // refused there: rows, total bytes).
  // (Never an error: the CZI's folder lists this file; it must not fail.)
  auto plane = DescribePlane(image.channel_planes[0]);
  if (!plane.ok() || !plane->unsupported.empty()) {
    f.unsupported = plane.ok() ? plane->unsupported : plane.status().message();
    return f;
  }
  auto layout = BuiltLayoutOf({5, i, 0, 0, 0}, [&] { return OmeTiffSpec(image, i); });
  if (!layout.ok()) {
    f.unsupported = layout.status().message();
    return f;
  }
  f.layout = std::move(layout).value();
  if (!pages) return f;
  const PyramidTiffSpec& spec = *f.layout->spec().pyramid;
  // XYCZT: directory k is channel k % C, Z (k / C) % Z, T k / (C Z).
  const auto& sbs = czi_->subblocks();
  for (uint32_t t = 0; t < image.frames; ++t) {
    for (uint32_t z = 0; z < image.slices; ++z) {
      for (uint32_t c = 0; c < image.channels; ++c) {
        for (uint32_t l = 0; l < image.levels.size(); ++l) {
          const auto [tw, th] = PyramidTileShape(spec);
          AddOmeTiffLevel(image, l, {t, c, z}, {tw, th}, sbs, &f.pages);
        }
      }
    }
  }
  return f;
}

void Catalog::AddOmeTiffLevel(const ZarrImage& image, uint32_t l, std::array<uint32_t, 3> tcz,
                              std::pair<int64_t, int64_t> tile, const SubblockTable& sbs,
                              std::vector<Page>* pages) const {
  const auto [t, c, z] = tcz;
  const auto [tw, th] = tile;
  const ZarrLevel& level = image.levels[l];
  const int64_t cols = (level.width + tw - 1) / tw, rows = (level.height + th - 1) / th;
  std::optional<Page> page = LevelPage(image, l, t, c, z);
  if (!page) {  // no such plane at this level: zeros
    const auto plane = static_cast<uint32_t>(index_->PlaneAt(image.scene, c, t, z, image.suffix));
    for (int64_t k = 0; k < cols * rows; ++k) {
      pages->push_back({Canvas{0, 0, tw, th, 1, image.pixel_type, {}, nullptr}, plane});
    }
    return;
  }
  if (page->canvas.reduced) {
    for (int64_t ty = 0; ty < rows; ++ty) {
      for (int64_t tx = 0; tx < cols; ++tx) {
        pages->push_back(
            {ReducedCanvas(page->canvas.reduced, tx * tw, ty * th, tw, th), page->plane});
      }
    }
    return;
  }
  for (Canvas& canvas : DrawnTiles(page->canvas, tw, th, sbs)) {
    pages->push_back({std::move(canvas), page->plane});
  }
}

}  // namespace czifs
