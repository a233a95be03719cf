// The OME-Zarr images of a CZI: one per scene (and per index of H, I, R, V,
// B, A), arrays of [T, C x samples, Z, Y, X] cut into chunks of one plane's
// rectangle, each chunk a served file of raw little-endian samples. The
// full resolution from the planes, lower ones from the file's own pyramid
// levels where a level covers every plane of the image.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "czifs/catalog.h"
#include "czifs/checked.h"

namespace czifs {
namespace {

uint32_t Position(const ImageIndex& index, const Plane& p, Dim d) {
  return static_cast<uint32_t>(std::max(0, p.Coord(d) - index.bounds(d).start));
}

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

}  // namespace

void Catalog::AddZarr(const CziFile& czi, const ImageIndex& index, const CatalogOptions& options) {
  const uint32_t chunk = options.zarr_chunk;
  max_zarr_chunks_ = options.max_zarr_chunks;
  const auto& planes = index.planes();
  std::map<std::pair<uint32_t, std::string>, std::vector<uint32_t>> groups;
  for (uint32_t i = 0; i < planes.size(); ++i) {
    groups[{planes[i].scene, PlaneSuffix(index, planes[i])}].push_back(i);
  }
  for (const auto& [key, members] : groups) {
    ZarrImage img;
    img.scene = key.first;
    img.name = index.IndexName(Dim::kS, index.scenes()[key.first].index) + key.second + ".ome.zarr";
    img.frames = DimSize(index, Dim::kT);
    img.channels = DimSize(index, Dim::kC);
    img.slices = DimSize(index, Dim::kZ);
    img.pixel_type = planes[members[0]].pixel_type;
    img.unsupported = PlanesProblem(index, members);
    if (!img.unsupported.empty()) {
      zarr_.push_back(std::move(img));
      continue;
    }
    img.samples = static_cast<uint32_t>(SamplesPerPixel(img.pixel_type));
    img.channel_planes.assign(img.channels, members[0]);
    for (auto it = members.rbegin(); it != members.rend(); ++it) {
      img.channel_planes[Position(index, planes[*it], Dim::kC)] = *it;
    }
    const Rect& box = index.scenes()[img.scene].bbox;
    // Each level's canvas of each member plane.
    std::vector<std::vector<Page>> level_pages(1);
    img.levels.push_back(MakeLevel("0", 1, box, chunk, img.slices));
    for (uint32_t m : members) level_pages[0].push_back({PlaneCanvas(index, m), m});
    for (const auto& [level, found] : CompleteLevels(index, members)) {
      const auto& [factor, pps] = found;
      img.levels.push_back(MakeLevel(std::to_string(level), factor, box, chunk, img.slices));
      const ZarrLevel& l = img.levels.back();
      std::vector<Page> pages;
      for (const PyramidPlane* pp : pps) {
        const int32_t type = czi.subblocks()[pp->subblocks.front()].pixel_type;
        if (type != img.pixel_type) break;  // an overview of another type: not this image's
        pages.push_back(
            {Canvas{box.x, box.y, l.width, l.height, factor, type, pp->subblocks}, pp->plane});
      }
      if (pages.size() != pps.size()) {
        img.levels.pop_back();
        continue;
      }
      level_pages.push_back(std::move(pages));
    }
    const size_t first_chunk = tiffs_.size();
    for (size_t l = 0; l < img.levels.size(); ++l) {
      const Status added = AddZarrChunks(czi, index, img, img.levels[l], level_pages[l]);
      if (!added.ok()) {  // the image goes; the file's planes stay
        tiffs_.resize(first_chunk);
        img.unsupported = added.message();
        img.levels.clear();
        break;
      }
    }
    zarr_.push_back(std::move(img));
  }
}

Status Catalog::AddZarrChunks(const CziFile& czi, const ImageIndex& index, const ZarrImage& image,
                              const ZarrLevel& level, const std::vector<Page>& pages) {
  TiffSpec spec;
  spec.raw = true;
  spec.width = static_cast<uint32_t>(level.chunk_width);
  spec.height = static_cast<uint32_t>(level.chunk_height);
  spec.pixel_type = SampleType(image.pixel_type);
  spec.pages = level.chunk_depth;
  auto layout = std::make_shared<SharedLayout>(std::move(spec));
  // The pages of each chunk's (t, c, z / depth), by z; absent planes are
  // pages of zeros, chunks no page touches are left out.
  std::map<std::tuple<uint32_t, uint32_t, uint32_t>, std::map<uint32_t, const Page*>> at;
  for (const Page& p : pages) {
    const Plane& plane = index.planes()[p.plane];
    const uint32_t z = Position(index, plane, Dim::kZ);
    at[{Position(index, plane, Dim::kT), Position(index, plane, Dim::kC), z / level.chunk_depth}]
      [z] = &p;
  }
  // Chunk order: t, c, z, sample, then rows of chunks (read-ahead follows it).
  for (const auto& [tcz, by_z] : at) {
    const auto [t, c, zc] = tcz;
    CZIFS_ASSIGN_OR_RETURN(ChunkSubblocks touched, ChunksTouched(czi, level, by_z));
    zarr_chunks_ += touched.size() * image.samples;  // files
    if (zarr_chunks_ > max_zarr_chunks_) return TooManyChunks();
    for (uint32_t s = 0; s < image.samples; ++s) {
      for (const auto& [rc, of_z] : touched) {
        const auto [cy, cx] = rc;
        ServedTiff f;
        f.kind = TiffKind::kZarrChunk;
        f.path = fmt::format("{}/{}/{}/{}/{}/{}/{}", image.name, level.path, t,
                             c * image.samples + s, zc, cy, cx);
        f.scene = image.scene;
        f.level = static_cast<uint32_t>(&level - image.levels.data());
        const Page& any = *by_z.begin()->second;
        for (uint32_t k = 0; k < level.chunk_depth; ++k) {
          const auto it = by_z.find(zc * level.chunk_depth + k);
          const Page& page = it == by_z.end() ? any : *it->second;
          const Canvas& canvas = page.canvas;
          const auto sbs = of_z.find(zc * level.chunk_depth + k);
          f.pages.push_back(
              {Canvas{canvas.x + cx * level.chunk_width * canvas.downscale,
                      canvas.y + cy * level.chunk_height * canvas.downscale, level.chunk_width,
                      level.chunk_height, canvas.downscale, canvas.pixel_type,
                      sbs == of_z.end() ? std::vector<uint32_t>{} : sbs->second},
               page.plane, image.samples > 1 ? static_cast<int32_t>(s) : -1});
        }
        f.layout = layout;
        tiffs_.push_back(std::move(f));
      }
    }
  }
  return Status::Ok();
}

Status Catalog::TooManyChunks() const {
  return Status::ResourceExhausted(fmt::format(
      "more than {} zarr chunks in the file; a larger --zarr-chunk makes fewer", max_zarr_chunks_));
}

Result<Catalog::ChunkSubblocks> Catalog::ChunksTouched(
    const CziFile& czi, const ZarrLevel& level, const std::map<uint32_t, const Page*>& by_z) {
  const int64_t cw = level.chunk_width, ch = level.chunk_height;
  const int64_t cols = (level.width + cw - 1) / cw, rows = (level.height + ch - 1) / ch;
  // The chunks each subblock touches, from where it lands on the plane:
  // work follows the subblocks, not the (maybe huge, mostly empty) grid.
  ChunkSubblocks touched;
  for (const auto& [z, page] : by_z) {
    for (uint32_t sb : page->canvas.subblocks) {
      const Rect r = Placement(page->canvas, czi.subblocks()[sb]);
      const int64_t x0 = std::max<int64_t>(0, FloorDiv(r.x, cw));
      const int64_t x1 = std::min(cols - 1, FloorDiv(r.x + r.width - 1, cw));
      const int64_t y0 = std::max<int64_t>(0, FloorDiv(r.y, ch));
      const int64_t y1 = std::min(rows - 1, FloorDiv(r.y + r.height - 1, ch));
      if (x0 > x1 || y0 > y1) continue;
      // Checked before the map grows: one bogus subblock may span millions.
      const auto n = CheckedMul<uint64_t>(static_cast<uint64_t>(x1 - x0 + 1),
                                          static_cast<uint64_t>(y1 - y0 + 1));
      if (!n || *n > max_zarr_chunks_) return TooManyChunks();
      for (int64_t cy = y0; cy <= y1; ++cy) {
        for (int64_t cx = x0; cx <= x1; ++cx) touched[{cy, cx}][z].push_back(sb);
      }
      if (zarr_chunks_ + touched.size() > max_zarr_chunks_) return TooManyChunks();
    }
  }
  return touched;
}

}  // namespace czifs
