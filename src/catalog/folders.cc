// The catalogue's folders: what the CZI's folder, the scene folders, tiles/
// and pyramid/ hold, worked out when someone lists or looks into one. A
// folder of planes is a run of consecutive planes (they are a grid: scene,
// C, T, Z, ...), so its entries come from the ImageIndex by arithmetic.
#include <fmt/format.h>

#include <algorithm>

#include "czifs/catalog.h"

namespace czifs {
namespace {

// The dimension that names the folders at `depth` of a plane tree (0:
// scenes, 1: channels, 2: time points).
constexpr Dim kRunDims[] = {Dim::kS, Dim::kC, Dim::kT};

// A plane's file name without ".tif": "Z07", "Z07_H1".
std::string PlaneFileStem(const ImageIndex& index, const Plane& p) {
  return index.IndexName(Dim::kZ, p.Coord(Dim::kZ)) + PlaneSuffix(index, p);
}

void SortByName(std::vector<CatalogEntry>* entries) {
  std::sort(entries->begin(), entries->end(),
            [](const CatalogEntry& a, const CatalogEntry& b) { return a.name < b.name; });
}

CatalogEntry Folder(std::string name, FolderKey key) {
  CatalogEntry e;
  e.name = std::move(name);
  e.is_dir = true;
  e.folder = key;
  return e;
}

CatalogEntry File(std::string name, TiffId id) {
  CatalogEntry e;
  e.name = std::move(name);
  e.tiff = id;
  return e;
}

}  // namespace

void Catalog::ScanTiles() {
  const ImageIndex& index = *index_;
  const auto& sbs = czi_->subblocks();
  const auto planes = index.planes();
  // Some tile differs from its plane when a plane has several, or one that
  // is not its scene's box (file order: one pass over the packed entries).
  const auto& plane_of = index.plane_of_subblock();
  const uint64_t per_scene = index.RunLength(0);
  for (uint32_t sb = 0; sb < sbs.size() && !tiles_differ_; ++sb) {
    if (plane_of[sb] < 0) continue;
    const Rect& box = index.scenes()[static_cast<uint64_t>(plane_of[sb]) / per_scene].bbox;
    const SubblockTable::Geometry g = sbs.geometry(sb);
    tiles_differ_ = g.x != box.x || g.y != box.y || g.width != box.width || g.height != box.height;
  }
  tiles_by_m_.assign(planes.size(), false);
  int64_t widest = 0;
  for (uint32_t i = 0; i < planes.size(); ++i) {
    const auto list = planes[i].subblocks;
    tiles_differ_ = tiles_differ_ || list.size() > 1;
    // Named by M when every subblock has a distinct one (drawing order is
    // ascending M, subblocks without M first), else by drawing position.
    bool by_m = true;
    for (size_t k = 0; k < list.size() && by_m; ++k) {
      const int32_t m = sbs.coord(list[k], Dim::kM);
      by_m = (k == 0 ? m >= 0 : m > sbs.coord(list[k - 1], Dim::kM)) &&
             (sbs.every_entry_has(Dim::kM) || sbs.has(list[k], Dim::kM));
    }
    tiles_by_m_[i] = by_m;
    if (!list.empty()) {
      widest = std::max<int64_t>(
          widest, by_m ? sbs.coord(list.back(), Dim::kM) : static_cast<int64_t>(list.size() - 1));
    }
  }
  tile_digits_ = std::to_string(widest).size();
}

std::string Catalog::NoTile(uint32_t sb) const {
  if (!tiles_differ_) return "every tile is exactly its plane";
  if (index_->plane_of_subblock()[sb] < 0) return "the subblock is in no plane";
  return TileProblem(czi_->subblocks()[sb]);
}

int64_t Catalog::TileNumber(uint32_t p, uint32_t sb) const {
  if (tiles_by_m_[p]) return czi_->subblocks().coord(sb, Dim::kM);
  const auto list = index_->planes()[p].subblocks;
  return std::find(list.begin(), list.end(), sb) - list.begin();
}

bool Catalog::HasTiles(uint32_t first, uint32_t end) const {
  if (!tiles_differ_) return false;
  const auto planes = index_->planes();
  for (uint32_t p = first; p < end; ++p) {
    for (uint32_t sb : planes[p].subblocks) {
      if (NoTile(sb).empty()) return true;
    }
  }
  return false;
}

int64_t Catalog::PyramidOf(uint32_t level, uint32_t plane) const {
  const auto& pps = index_->pyramid_planes();
  auto it = std::lower_bound(pps.begin(), pps.end(), std::make_pair(level, plane),
                             [](const PyramidPlane& pp, const std::pair<uint32_t, uint32_t>& key) {
                               return std::make_pair(pp.level, pp.plane) < key;
                             });
  if (it == pps.end() || it->level != level || it->plane != plane) return -1;
  return it - pps.begin();
}

bool Catalog::HasPyramid(uint32_t level, uint32_t first, uint32_t end) const {
  const auto& pps = index_->pyramid_planes();
  auto it = std::lower_bound(pps.begin(), pps.end(), std::make_pair(level, first),
                             [](const PyramidPlane& pp, const std::pair<uint32_t, uint32_t>& key) {
                               return std::make_pair(pp.level, pp.plane) < key;
                             });
  for (; it != pps.end() && it->level == level && it->plane < end; ++it) {
    if (it->unsupported.empty()) return true;
  }
  return false;
}

Result<std::vector<CatalogEntry>> Catalog::List(const FolderKey& folder,
                                                const CatalogOptions& shown) const {
  switch (folder.kind) {
    case FolderKind::kRoot:
      return ListRoot(shown);
    case FolderKind::kPlanes:
    case FolderKind::kTiles:
    case FolderKind::kPyramid:
      return ListPlaneTree(folder, shown);
    default:
      return ListZarr(folder);
  }
}

Result<std::vector<CatalogEntry>> Catalog::ListRoot(const CatalogOptions& shown) const {
  const ImageIndex& index = *index_;
  std::vector<CatalogEntry> out;
  const uint64_t all = index.planes().size();
  const uint64_t per_scene = index.RunLength(0);
  for (uint32_t s = 0; s < index.scenes().size(); ++s) {
    const auto first = static_cast<uint32_t>(s * per_scene);
    const auto end = static_cast<uint32_t>(first + per_scene);
    if (index.ServableIn(first, end) == 0) continue;
    out.push_back(Folder(index.IndexName(Dim::kS, index.scenes()[s].index),
                         {FolderKind::kPlanes, 1, first, end}));
  }
  if (shown.tiles && HasTiles(0, static_cast<uint32_t>(all))) {
    out.push_back(Folder("tiles", {FolderKind::kTiles, 0, 0, static_cast<uint32_t>(all)}));
  }
  if (shown.pyramid && !ServedPyramidLevels().empty()) {
    out.push_back(Folder("pyramid", {FolderKind::kPyramid, 0, 0, static_cast<uint32_t>(all)}));
  }
  for (uint32_t i = 0; i < zarr_.size(); ++i) {
    if (!zarr_[i].unsupported.empty()) continue;  // info.json says why
    if (shown.zarr) {
      FolderKey key{FolderKind::kZarrImage};
      key.image = i;
      out.push_back(Folder(zarr_[i].name, key));
    }
    if (shown.ometiff) {
      CatalogEntry e;
      e.name = OmeTiffName(zarr_[i]);
      e.tiff = {TiffKind::kOmeTiff, i};
      out.push_back(std::move(e));
    }
  }
  SortByName(&out);
  return out;
}

Result<std::vector<CatalogEntry>> Catalog::ListPlaneTree(const FolderKey& folder,
                                                         const CatalogOptions& shown) const {
  const ImageIndex& index = *index_;
  const auto planes = index.planes();
  std::vector<CatalogEntry> out;
  if (folder.kind == FolderKind::kPyramid && folder.depth == 0) {
    for (uint32_t level : ServedPyramidLevels()) {
      out.push_back(Folder(fmt::format("L{}", level),
                           {FolderKind::kPyramid, 1, folder.first, folder.end, level}));
    }
    return out;
  }
  // Depth in the S/C/T/Z tree: 0 lists scenes, 3 lists planes.
  const uint32_t depth = folder.kind == FolderKind::kPyramid ? folder.depth - 1 : folder.depth;
  auto has_content = [&](uint32_t first, uint32_t end) {
    switch (folder.kind) {
      case FolderKind::kTiles:
        return HasTiles(first, end);
      case FolderKind::kPyramid:
        return HasPyramid(folder.level, first, end);
      default:
        return index.ServableIn(first, end) > 0;
    }
  };
  if (depth < 3) {
    const uint64_t run = index.RunLength(static_cast<int>(depth));
    const Dim dim = kRunDims[depth];
    for (uint64_t first = folder.first; first < folder.end; first += run) {
      const auto a = static_cast<uint32_t>(first), b = static_cast<uint32_t>(first + run);
      if (!has_content(a, b)) continue;
      FolderKey child = folder;
      child.depth = folder.depth + 1;
      child.first = a;
      child.end = b;
      out.push_back(Folder(index.IndexName(dim, planes[a].Coord(dim)), child));
    }
    if (folder.kind == FolderKind::kPlanes && depth == 1 && shown.hyperstacks) {
      const uint32_t scene = planes[folder.first].scene;
      CZIFS_ASSIGN_OR_RETURN(ServedTiff stack, DescribeHyperstack(scene));
      if (stack.unsupported.empty()) {
        out.push_back(File("hyperstack.tif", {TiffKind::kHyperstack, scene}));
      }
    }
  } else if (depth == 3) {
    for (uint32_t p = folder.first; p < folder.end; ++p) {
      const std::string stem = PlaneFileStem(index, planes[p]);
      if (folder.kind == FolderKind::kPlanes) {
        if (index.ServableIn(p, p + 1)) out.push_back(File(stem + ".tif", {TiffKind::kPlane, p}));
      } else if (folder.kind == FolderKind::kPyramid) {
        const int64_t pp = PyramidOf(folder.level, p);
        if (pp >= 0 && index.pyramid_planes()[static_cast<size_t>(pp)].unsupported.empty()) {
          out.push_back(File(stem + ".tif", {TiffKind::kPyramid, static_cast<uint32_t>(pp)}));
        }
      } else if (HasTiles(p, p + 1)) {
        out.push_back(Folder(stem, {FolderKind::kTiles, 4, p, p + 1}));
      }
    }
  } else if (folder.kind == FolderKind::kTiles) {
    for (uint32_t sb : planes[folder.first].subblocks) {
      if (!NoTile(sb).empty()) continue;
      out.push_back(File(fmt::format("M{:0{}}.tif", TileNumber(folder.first, sb), tile_digits_),
                         {TiffKind::kTile, sb}));
    }
  }
  SortByName(&out);
  return out;
}

}  // namespace czifs
