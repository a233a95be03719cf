#include "czifs/czi_document.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <cmath>
#include <map>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "czifs/thread_pool.h"

namespace czifs {
namespace {

// Bytes in one row of a canvas.
uint64_t RowBytes(const Canvas& c) {
  return static_cast<uint64_t>(c.width) * static_cast<uint64_t>(BytesPerPixel(c.pixel_type));
}

// Sets `spec`'s size and pixel type to the canvas's.
Status SetSize(const Canvas& c, TiffSpec* spec) {
  if (c.width <= 0 || c.height <= 0 || c.width > UINT32_MAX || c.height > UINT32_MAX) {
    return Status::NotSupported(std::to_string(c.width) + "x" + std::to_string(c.height) +
                                " pixels do not fit one TIFF");
  }
  spec->width = static_cast<uint32_t>(c.width);
  spec->height = static_cast<uint32_t>(c.height);
  spec->pixel_type = c.pixel_type;
  return Status::Ok();
}

// `v` right-aligned in exactly `width` characters ("nan" when unknown or
// when it cannot be written that short).
std::string FixedWidth(std::optional<double> v, size_t width) {
  std::string text = "nan";
  if (v && std::isfinite(*v)) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.6f", *v);
    if (std::strlen(buf) > width) snprintf(buf, sizeof buf, "%.6e", *v);
    if (std::strlen(buf) <= width) text = buf;
  }
  return std::string(width - text.size(), ' ') + text;
}

std::string FixedWidth(const std::string& text, size_t width) {
  return std::string(width - std::min(width, text.size()), ' ') + text.substr(0, width);
}

}  // namespace

Result<std::shared_ptr<const CziDocument>> CziDocument::Open(const std::string& path,
                                                             std::shared_ptr<SubblockCache> cache,
                                                             DamagedTiles damaged) {
  CZIFS_ASSIGN_OR_RETURN(auto file, RandomAccessFile::Open(path));
  return Open(std::move(file), std::move(cache), damaged);
}

Result<std::shared_ptr<const CziDocument>> CziDocument::Open(
    std::unique_ptr<RandomAccessFile> file, std::shared_ptr<SubblockCache> cache,
    DamagedTiles damaged) {
  CZIFS_ASSIGN_OR_RETURN(std::shared_ptr<const CziFile> czi, CziFile::Open(std::move(file)));
  std::shared_ptr<CziDocument> doc(new CziDocument(czi, std::move(cache), damaged));
  CZIFS_ASSIGN_OR_RETURN(doc->index_, ImageIndex::Build(*czi));
  auto xml = czi->ReadMetadataXml();
  if (xml.ok()) {
    doc->metadata_xml_ = std::move(xml).value();
    doc->metadata_ = ParseImageMetadata(doc->metadata_xml_);
  } else {
    // Pixels stay reachable without metadata; the problem shows in info.json.
    doc->metadata_.warning = xml.status().ToString();
  }
  const ImageMetadata& md = doc->metadata_;
  TiffSpec base;
  if (md.scale_x_um && md.scale_y_um) {
    base.pixels_per_um_x = 1.0 / *md.scale_x_um;
    base.pixels_per_um_y = 1.0 / *md.scale_y_um;
  }
  // Calibrated: the pixel size is known, and set as the TIFF resolution above.
  base.description = ImageJDescription(base.pixels_per_um_x.has_value(), md.scale_z_um);
  doc->base_spec_ = base;
  // Planes of one scene, pixel type and channel share a layout.
  std::map<std::tuple<uint32_t, int32_t, int32_t>, std::shared_ptr<const TiffLayout>> shared;
  const auto& planes = doc->index_.planes();
  doc->images_.reserve(planes.size());
  for (uint32_t i = 0; i < planes.size(); ++i) {
    const Plane& p = planes[i];
    Image img;
    img.canvas = PlaneCanvas(doc->index_, i);
    img.path = p.path;
    img.unsupported = p.unsupported;
    img.plane = i;
    if (p.unsupported.empty()) {
      auto key = std::make_tuple(p.scene, p.pixel_type, p.Coord(Dim::kC));
      auto it = shared.find(key);
      if (it == shared.end()) {
        TiffSpec spec = base;
        CZIFS_RETURN_IF_ERROR(SetSize(img.canvas, &spec).WithContext(
            "scene " + std::to_string(doc->index_.scenes()[p.scene].index)));
        spec.description = doc->PlaneDescription(p, p.pixel_type);
        CZIFS_ASSIGN_OR_RETURN(auto layout, TiffLayout::Build(spec));
        it = shared.emplace(key, std::move(layout)).first;
      }
      img.layout = it->second;
    }
    doc->images_.push_back(std::move(img));
  }
  doc->AddTilesAndPyramid();
  doc->BuildStacks(base);
  return std::shared_ptr<const CziDocument>(std::move(doc));
}

// Subblocks decoded on the pool for one read, pinned until the read is done.
struct CziDocument::Prefetch {
  mutable std::mutex mu;
  std::condition_variable cv;
  size_t remaining = 0;                                             // guarded by mu
  std::unordered_map<uint32_t, std::shared_ptr<const Bitmap>> got;  // guarded by mu
  Status error;                                                     // guarded by mu
};

namespace {

// Background read-ahead tasks queued at once, across all reads; more would
// only delay the decodes that readers wait for.
std::atomic<int> g_readahead_in_flight{0};

// How many images past the one being read read-ahead looks at.
constexpr size_t kReadAheadImages = 16;

// Tile shapes laid out when a file is opened; more are laid out on first use.
constexpr size_t kEagerTileShapes = 16;

// Adds where() to a failed status; the text is built only on failure (plane
// reads are a hot path).
template <typename Where>
Status InContext(Status s, const Where& where) {
  return s.ok() ? s : s.WithContext(where());
}

}  // namespace


Status CziDocument::Prepare(uint32_t i, uint64_t p0, uint64_t p1, const ReadContext* ctx,
                            const std::shared_ptr<Prefetch>& prefetch,
                            std::span<const uint32_t> then) const {
  if (!ctx || !ctx->pool || p1 <= p0) return Status::Ok();
  const Canvas& canvas = images_[i].canvas;
  const uint64_t row_bytes = RowBytes(canvas);
  const int64_t first_row = static_cast<int64_t>(p0 / row_bytes);
  const int64_t end_row = static_cast<int64_t>((p1 + row_bytes - 1) / row_bytes);
  std::vector<uint32_t> need = SubblocksToDecode(canvas, first_row, end_row, reader_);
  std::erase_if(need, [&](uint32_t sb) { return reader_.IsCached(sb); });
  if (need.size() > 1) {
    // Concurrent reads of the same rows (the kernel's read-ahead sends
    // several at once) start at different places in the list, so they
    // decode different tiles instead of waiting on each other's.
    const size_t start = std::hash<std::thread::id>()(std::this_thread::get_id()) % need.size();
    std::rotate(need.begin(), need.begin() + static_cast<ptrdiff_t>(start), need.end());
    // Pool workers and this thread all take subblocks from one list, so the
    // reading thread decodes too instead of only waiting.
    {
      std::lock_guard<std::mutex> lock(prefetch->mu);
      prefetch->remaining = need.size();
    }
    auto list = std::make_shared<const std::vector<uint32_t>>(std::move(need));
    auto next = std::make_shared<std::atomic<size_t>>(0);
    // Helpers may run after an interrupted read returned and after the
    // document left the tree (its source changed): they own what they use.
    auto work = [self = shared_from_this(), list, next, prefetch, cancelled = ctx->cancelled] {
      for (size_t k; (k = next->fetch_add(1)) < list->size();) {
        Result<std::shared_ptr<const Bitmap>> r = Status::Cancelled("read interrupted");
        if (!cancelled || !cancelled()) r = self->reader_.Get((*list)[k]);
        std::lock_guard<std::mutex> lock(prefetch->mu);
        if (r.ok()) {
          prefetch->got[(*list)[k]] = std::move(r).value();
        } else if (prefetch->error.ok() && !self->reader_.MaySkip(r.status())) {
          prefetch->error = r.status();
        }
        if (--prefetch->remaining == 0) prefetch->cv.notify_all();
      }
    };
    const size_t helpers = std::min(ctx->pool->size(), list->size() - 1);
    for (size_t h = 0; h < helpers; ++h) ctx->pool->Submit(work);
    work();
    std::unique_lock<std::mutex> lock(prefetch->mu);
    while (prefetch->remaining > 0) {
      prefetch->cv.wait_for(lock, std::chrono::milliseconds(20));
      if (ctx->cancelled && ctx->cancelled()) return Status::Cancelled("read interrupted");
    }
    if (!prefetch->error.ok()) return prefetch->error;
  }
  if (ctx->readahead_bytes > 0) ReadAhead(i, end_row, ctx, then);
  return Status::Ok();
}

Status CziDocument::FillPixels(uint32_t i, uint64_t pixel_offset, size_t n, uint8_t* dst,
                               const Prefetch& prefetch) const {
  const Canvas& canvas = images_[i].canvas;
  const uint64_t bpp = static_cast<uint64_t>(BytesPerPixel(canvas.pixel_type));
  const uint64_t row_bytes = RowBytes(canvas);
  BitmapSource pinned = [&](uint32_t sb) -> Result<std::shared_ptr<const Bitmap>> {
    {
      std::lock_guard<std::mutex> lock(prefetch.mu);
      auto it = prefetch.got.find(sb);
      if (it != prefetch.got.end()) return it->second;
    }
    return reader_.Get(sb);
  };
  // Whole rows are composed straight into the reply; only a partial first or
  // last row goes through a one-row scratch buffer.
  thread_local std::vector<uint8_t> row;
  uint64_t pos = pixel_offset;
  while (n > 0) {
    const uint64_t r = pos / row_bytes;
    const uint64_t in_row = pos - r * row_bytes;
    if (in_row == 0 && n >= row_bytes) {
      const uint64_t full = n / row_bytes;
      CZIFS_RETURN_IF_ERROR(ComposeRows(canvas, static_cast<int64_t>(r),
                                        static_cast<int64_t>(r + full), reader_, dst, &pinned));
      ToTiffSampleOrder(canvas.pixel_type, std::span<uint8_t>(dst, full * row_bytes));
      pos += full * row_bytes;
      dst += full * row_bytes;
      n -= static_cast<size_t>(full * row_bytes);
      continue;
    }
    // Part of one row: compose just the pixels it covers (a row of a huge
    // mosaic can be tens of MB; a 4 KiB read must not compose all of it).
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n, row_bytes - in_row));
    const uint64_t c0 = in_row / bpp, c1 = (in_row + k + bpp - 1) / bpp;
    row.resize(static_cast<size_t>((c1 - c0) * bpp));
    CZIFS_RETURN_IF_ERROR(ComposeRegion(canvas, static_cast<int64_t>(r),
                                        static_cast<int64_t>(r) + 1, static_cast<int64_t>(c0),
                                        static_cast<int64_t>(c1), reader_, row.data(), &pinned));
    ToTiffSampleOrder(canvas.pixel_type, row);
    std::memcpy(dst, row.data() + (in_row - c0 * bpp), k);
    pos += k;
    dst += k;
    n -= k;
  }
  return Status::Ok();
}

Result<size_t> CziDocument::ReadImage(uint32_t i, uint64_t offset, size_t len, uint8_t* out,
                                      const ReadContext* ctx) const {
  const Image& img = images_.at(i);
  auto where = [&] { return czi_->path() + ": " + img.path; };
  if (!img.unsupported.empty()) return Status::NotSupported(img.unsupported).WithContext(where());
  std::shared_ptr<const TiffLayout> layout = img.layout;
  std::optional<TileShape> shape;
  if (img.kind == Image::Kind::kTile) {
    auto got = TileShapeOf(img);
    if (!got.ok()) return got.status().WithContext(where());
    shape = std::move(got).value();
    layout = shape->layout;
  }
  // Decoded tiles may be cached, but a changed source must not be served from them.
  CZIFS_RETURN_IF_ERROR(InContext(czi_->CheckUnchanged(), where));
  const auto [p0, p1] = layout->PixelRange(offset, len);
  auto pinned = std::make_shared<Prefetch>();
  CZIFS_RETURN_IF_ERROR(InContext(Prepare(i, p0, p1, ctx, pinned), where));
  auto fill = [&](uint64_t pixel_offset, size_t n, uint8_t* dst) {
    return FillPixels(i, pixel_offset, n, dst, *pinned);
  };
  size_t produced = 0;
  CZIFS_RETURN_IF_ERROR(InContext(layout->Read(offset, len, out, fill, &produced), where));
  if (shape) {
    // The tile's own description over the shape's, where the read covers it.
    const uint64_t d0 = shape->description_offset, d1 = d0 + shape->description_size;
    const uint64_t a = std::max(offset, d0), b = std::min<uint64_t>(offset + produced, d1);
    if (a < b) {
      std::string xml;
      auto head = czi_->ReadSubblockHead(img.subblock, &xml);
      if (!head.ok()) return head.status().WithContext(where());
      const SubblockTags tags = ParseSubblockTags(xml);
      const std::string text = TileDescription(img, &tags);
      if (text.size() != shape->description_size) {
        return Status::IOError("tile description changed length").WithContext(where());
      }
      std::memcpy(out + (a - offset), text.data() + (a - d0), b - a);
    }
  }
  return produced;
}

std::string CziDocument::PlaneDescription(const Plane& p, int32_t pixel_type) const {
  // The channel's display range, as ZEN shows it. (Its colour would be a
  // LUT, which ImageJ applies to composite images only: see BuildStacks.)
  const ChannelInfo* ch = ChannelOf(p);
  return ImageJDescription(base_spec_.pixels_per_um_x.has_value(), metadata_.scale_z_um,
                           ch ? DisplayRange(*ch, pixel_type) : std::nullopt);
}

const ChannelInfo* CziDocument::ChannelOf(const Plane& p) const {
  const int64_t c = int64_t{p.Coord(Dim::kC)} - index_.bounds(Dim::kC).start;
  if (c < 0 || c >= static_cast<int64_t>(metadata_.channels.size())) return nullptr;
  return &metadata_.channels[static_cast<size_t>(c)];
}

void CziDocument::AddTilesAndPyramid() {
  const TiffSpec& base = base_spec_;
  const auto& sbs = czi_->subblocks();
  const auto& planes = index_.planes();
  tile_of_subblock_.assign(sbs.size(), -1);
  // Tiles: each layer-0 subblock alone, named by its M index when the
  // plane's subblocks have distinct ones, else by its drawing position.
  // Only where a tile differs from its plane: a file whose every plane is
  // one subblock covering the scene (a plain Z stack, a time series) would
  // get a second copy of each plane, and scripts globbing *.tif twice the work.
  bool tiles_differ = false;
  for (const Plane& p : planes) {
    const Rect& box = index_.scenes()[p.scene].bbox;
    for (uint32_t sb : p.subblocks) {
      const SubblockEntry& e = sbs[sb];
      tiles_differ |= p.subblocks.size() > 1 || e.x != box.x || e.y != box.y ||
                      e.width != box.width || e.height != box.height;
    }
  }
  std::vector<std::pair<uint32_t, int64_t>> tiles;  // (subblock, number)
  std::vector<uint32_t> tile_plane;
  int64_t widest = 0;
  for (uint32_t i = 0; tiles_differ && i < planes.size(); ++i) {
    const auto& list = planes[i].subblocks;
    std::set<int32_t> ms;
    for (uint32_t sb : list) {
      if (sbs[sb].Has(Dim::kM)) ms.insert(sbs[sb].Coord(Dim::kM));
    }
    const bool by_m = ms.size() == list.size() && (ms.empty() || *ms.begin() >= 0);
    for (size_t k = 0; k < list.size(); ++k) {
      const int64_t number = by_m ? sbs[list[k]].Coord(Dim::kM) : static_cast<int64_t>(k);
      widest = std::max(widest, number);
      tiles.emplace_back(list[k], number);
      tile_plane.push_back(i);
    }
  }
  const size_t digits = std::to_string(widest).size();
  for (size_t t = 0; t < tiles.size(); ++t) {
    const auto [sb, number] = tiles[t];
    const SubblockEntry& e = sbs[sb];
    const Plane& p = planes[tile_plane[t]];
    Image img;
    img.kind = Image::Kind::kTile;
    img.canvas = Canvas{e.x, e.y, e.width, e.height, 1, e.pixel_type, {sb}};
    std::string name = std::to_string(number);
    name.insert(0, digits - name.size(), '0');
    img.path = "tiles/" + p.path.substr(0, p.path.size() - 4) + "/M" + name + ".tif";
    TiffSpec probe;
    if (Status fits = SetSize(img.canvas, &probe); !fits.ok()) {
      img.unsupported = fits.message();
    } else if (!IsSupportedPixelType(e.pixel_type)) {
      img.unsupported = "pixel type " + PixelTypeName(e.pixel_type) + " is not supported";
    } else if (!IsSupportedCompression(e.compression)) {
      img.unsupported = "compression " + CompressionName(e.compression) + " is not supported";
    }
    img.plane = tile_plane[t];
    img.subblock = sb;
    tile_of_subblock_[sb] = static_cast<int64_t>(images_.size());
    images_.push_back(std::move(img));
    // Lay out the first few shapes now (a mosaic has one or a handful), so
    // listings know tile sizes without a round trip per tile.
    const bool few_shapes = [&] {
      std::lock_guard<std::mutex> lock(tile_mu_);
      return tile_shapes_.size() < kEagerTileShapes;
    }();
    if (few_shapes && images_.back().unsupported.empty()) (void)TileShapeOf(images_.back());
  }
  // Pyramid levels: canvas = the scene's box at 1/factor, pixel size x factor.
  std::map<std::tuple<uint32_t, uint32_t, int32_t, int32_t>, std::shared_ptr<const TiffLayout>>
      shared;
  for (const PyramidPlane& pp : index_.pyramid_planes()) {
    const Plane& p = planes[pp.plane];
    const Rect& box = index_.scenes()[p.scene].bbox;
    const int64_t f = pp.factor;
    Image img;
    img.kind = Image::Kind::kPyramid;
    img.canvas = Canvas{box.x, box.y, (box.width + f - 1) / f, (box.height + f - 1) / f,
                        pp.factor, sbs[pp.subblocks.front()].pixel_type, pp.subblocks};
    img.path = "pyramid/L" + std::to_string(pp.level) + "/" + p.path;
    img.unsupported = pp.unsupported;
    img.plane = pp.plane;
    img.level = pp.level;
    if (img.unsupported.empty()) {
      auto key = std::make_tuple(p.scene, pp.level, img.canvas.pixel_type, p.Coord(Dim::kC));
      auto it = shared.find(key);
      if (it == shared.end()) {
        TiffSpec spec = base;
        if (spec.pixels_per_um_x) *spec.pixels_per_um_x /= static_cast<double>(f);
        if (spec.pixels_per_um_y) *spec.pixels_per_um_y /= static_cast<double>(f);
        spec.description = PlaneDescription(p, img.canvas.pixel_type);
        // An overview that cannot be laid out is left out; the planes stay.
        Status fits = SetSize(img.canvas, &spec);
        auto layout = fits.ok() ? TiffLayout::Build(spec) : Result<std::shared_ptr<const TiffLayout>>(fits);
        if (!layout.ok()) {
          img.unsupported = layout.status().message();
          images_.push_back(std::move(img));
          continue;
        }
        it = shared.emplace(key, std::move(layout).value()).first;
      }
      img.layout = it->second;
    }
    images_.push_back(std::move(img));
  }
}

std::string CziDocument::TileDescription(const Image& tile, const SubblockTags* tags) const {
  const SubblockEntry& e = czi_->subblocks()[tile.subblock];
  // No Z spacing: a tile is one image.
  std::string d = ImageJDescription(base_spec_.pixels_per_um_x.has_value(), std::nullopt);
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

Result<CziDocument::TileShape> CziDocument::TileShapeOf(const Image& tile) const {
  const TileShapeKey key = ShapeOf(tile);
  std::lock_guard<std::mutex> lock(tile_mu_);
  auto it = tile_shapes_.find(key);
  if (it != tile_shapes_.end()) return it->second;
  TiffSpec spec = base_spec_;
  CZIFS_RETURN_IF_ERROR(SetSize(tile.canvas, &spec));
  // Placeholders ('#') where the stage position goes: unique in the file, so
  // it can be found; each read puts its tile's own text there.
  spec.description = TileDescription(tile, nullptr);
  CZIFS_ASSIGN_OR_RETURN(auto layout, TiffLayout::Build(spec));
  const std::optional<uint64_t> at = layout->FindLiteral(spec.description);
  if (!at) return Status::IOError("tile description not found in its TIFF layout");
  return tile_shapes_.emplace(key, TileShape{std::move(layout), *at, spec.description.size()})
      .first->second;
}

std::optional<uint64_t> CziDocument::ImageSizeIfKnown(uint32_t i) const {
  const Image& img = images_.at(i);
  if (img.kind != Image::Kind::kTile) {
    return img.layout ? std::optional<uint64_t>(img.layout->size()) : std::nullopt;
  }
  std::lock_guard<std::mutex> lock(tile_mu_);
  auto it = tile_shapes_.find(ShapeOf(img));
  if (it == tile_shapes_.end()) return std::nullopt;
  return it->second.layout->size();
}

Result<std::shared_ptr<const TiffLayout>> CziDocument::ImageLayout(uint32_t i) const {
  const Image& img = images_.at(i);
  if (!img.unsupported.empty()) return Status::NotSupported(img.unsupported);
  if (img.kind != Image::Kind::kTile) return img.layout;
  CZIFS_ASSIGN_OR_RETURN(TileShape shape, TileShapeOf(img));
  return shape.layout;
}

void CziDocument::BuildStacks(const TiffSpec& base) {
  const auto& scenes = index_.scenes();
  const auto& planes = index_.planes();
  for (uint32_t s = 0; s < scenes.size(); ++s) {
    auto st = std::make_unique<SceneStack>();
    for (Dim d : kSuffixDims) {
      if (index_.bounds(d).size > 1) {
        st->unavailable = std::string("the file has a ") + DimLetter(d) +
                          " dimension, which an ImageJ hyperstack (C, Z, T) cannot hold";
      }
    }
    std::vector<uint32_t> members;
    for (uint32_t i = 0; i < planes.size(); ++i) {
      if (planes[i].scene == s) members.push_back(i);
    }
    for (uint32_t i : members) {
      if (st->unavailable.empty() && !planes[i].unsupported.empty()) {
        st->unavailable = planes[i].path + " cannot be served";
      }
      if (st->unavailable.empty() && planes[i].pixel_type != planes[members[0]].pixel_type) {
        st->unavailable = "its planes have different pixel types";
      }
    }
    // ImageJ's order: channel fastest, then slice (Z), then frame (T).
    std::sort(members.begin(), members.end(), [&](uint32_t a, uint32_t b) {
      const Plane& x = planes[a];
      const Plane& y = planes[b];
      return std::make_tuple(x.Coord(Dim::kT), x.Coord(Dim::kZ), x.Coord(Dim::kC)) <
             std::make_tuple(y.Coord(Dim::kT), y.Coord(Dim::kZ), y.Coord(Dim::kC));
    });
    auto count = [&](Dim d) {
      return static_cast<uint32_t>(std::max(1, index_.bounds(d).size));
    };
    st->channels = count(Dim::kC);
    st->slices = count(Dim::kZ);
    st->frames = count(Dim::kT);
    if (st->unavailable.empty() &&
        uint64_t{st->channels} * st->slices * st->frames != members.size()) {
      st->unavailable = "its planes do not form a full C x Z x T grid";
    }
    if (st->unavailable.empty()) {
      const uint64_t bytes = RowBytes(images_[members[0]].canvas) *
                             static_cast<uint64_t>(scenes[s].bbox.height) * members.size();
      // ImageJ opens classic TIFFs only; leave room for the directories.
      if (bytes + members.size() * 65536ull > (4ull << 30)) {
        st->unavailable = "the scene (" + std::to_string(bytes >> 20) +
                          " MiB) is larger than a classic TIFF (4 GiB), which ImageJ needs; "
                          "open the planes instead";
      }
    }
    if (st->unavailable.empty()) {
      st->planes = std::move(members);
      st->spec = base;
      const Rect& box = scenes[s].bbox;
      st->spec.width = static_cast<uint32_t>(box.width);
      st->spec.height = static_cast<uint32_t>(box.height);
      st->spec.pixel_type = planes[st->planes[0]].pixel_type;
      st->spec.pages = static_cast<uint32_t>(st->planes.size());
      st->spec.description = ImageJHyperstackDescription(
          base.pixels_per_um_x.has_value(), metadata_.scale_z_um, st->channels, st->slices,
          st->frames,
          SamplesPerPixel(st->spec.pixel_type) == 1);
      // Display ranges and colours of all channels, when ZEN set them for every one.
      std::vector<std::pair<double, double>> ranges;
      std::vector<uint32_t> colors;
      for (uint32_t c = 0; c < st->channels; ++c) {
        const ChannelInfo* ch = ChannelOf(planes[st->planes[c]]);
        const auto range = ch ? DisplayRange(*ch, st->spec.pixel_type) : std::nullopt;
        const auto color = ch ? ParseColor(ch->color) : std::nullopt;
        if (range) ranges.push_back(*range);
        if (color) colors.push_back(*color);
      }
      if (ranges.size() == st->channels) st->spec.ij_ranges = std::move(ranges);
      // Each page labelled with its channel's name, which ImageJ shows with it.
      std::vector<std::string> names;
      for (uint32_t page : st->planes) {
        const ChannelInfo* ch = ChannelOf(planes[page]);
        if (ch && !ch->name.empty()) names.push_back(ch->name);
      }
      if (names.size() == st->planes.size()) st->spec.ij_labels = std::move(names);
      if (colors.size() == st->channels && SamplesPerPixel(st->spec.pixel_type) == 1) {
        st->spec.ij_colors = std::move(colors);
      }
    }
    stacks_.push_back(std::move(st));
  }
}

Result<std::shared_ptr<const TiffLayout>> CziDocument::StackLayout(uint32_t s) const {
  const SceneStack& st = *stacks_.at(s);
  if (!st.unavailable.empty()) return Status::NotSupported(st.unavailable);
  std::call_once(st.once, [&] {
    auto layout = TiffLayout::Build(st.spec);
    if (layout.ok()) {
      st.layout = std::move(layout).value();
    } else {
      st.layout_status = layout.status();
    }
  });
  if (!st.layout) return st.layout_status;
  return st.layout;
}

Result<size_t> CziDocument::ReadStack(uint32_t s, uint64_t offset, size_t len, uint8_t* out,
                                      const ReadContext* ctx) const {
  CZIFS_ASSIGN_OR_RETURN(const std::shared_ptr<const TiffLayout> layout, StackLayout(s));
  const SceneStack& st = *stacks_[s];
  auto where = [&] {
    return czi_->path() + ": " + index_.IndexName(Dim::kS, index_.scenes()[s].index) +
           "/hyperstack.tif";
  };
  CZIFS_RETURN_IF_ERROR(InContext(czi_->CheckUnchanged(), where));
  const uint64_t page_bytes = layout->pixel_bytes() / layout->pages();
  const auto [p0, p1] = layout->PixelRange(offset, len);
  // Pages this read touches, each prepared (decoded in parallel) in turn.
  // The layout asks `fill` only for pixels in [p0, p1): always a pinned page.
  std::vector<std::shared_ptr<Prefetch>> pins;
  const uint64_t first_page = p0 / page_bytes;
  auto page_where = [&](uint64_t k) {
    return [&, k] { return where() + " (" + index_.planes()[st.planes[k]].path + ")"; };
  };
  for (uint64_t k = first_page; p1 > p0 && k * page_bytes < p1; ++k) {
    auto pin = std::make_shared<Prefetch>();
    const uint64_t a = std::max(p0, k * page_bytes) - k * page_bytes;
    const uint64_t b = std::min(p1, (k + 1) * page_bytes) - k * page_bytes;
    const auto next_pages = std::span<const uint32_t>(st.planes).subspan(k);
    CZIFS_RETURN_IF_ERROR(
        InContext(Prepare(st.planes[k], a, b, ctx, pin, next_pages), page_where(k)));
    pins.push_back(std::move(pin));
  }
  auto fill = [&](uint64_t pixel_offset, size_t n, uint8_t* dst) -> Status {
    while (n > 0) {
      const uint64_t k = pixel_offset / page_bytes;
      const uint64_t in_page = pixel_offset - k * page_bytes;
      const size_t m = static_cast<size_t>(std::min<uint64_t>(n, page_bytes - in_page));
      CZIFS_RETURN_IF_ERROR(InContext(
          FillPixels(st.planes[k], in_page, m, dst, *pins.at(k - first_page)), [&] {
            return index_.planes()[st.planes[k]].path;
          }));
      pixel_offset += m;
      dst += m;
      n -= m;
    }
    return Status::Ok();
  };
  size_t produced = 0;
  CZIFS_RETURN_IF_ERROR(InContext(layout->Read(offset, len, out, fill, &produced), where));
  return produced;
}

void CziDocument::ReadAhead(uint32_t image, int64_t from_row, const ReadContext* ctx,
                            std::span<const uint32_t> then) const {
  uint64_t budget = ctx->readahead_bytes;
  const Image::Kind kind = images_[image].kind;
  // The k-th image a sequential reader reads after `image`, or -1.
  auto nth = [&](size_t k) -> int64_t {
    if (!then.empty()) return k < then.size() ? int64_t{then[k]} : -1;
    const size_t p = image + k;
    return p < images_.size() && images_[p].kind == kind ? static_cast<int64_t>(p) : -1;
  };
  // Small images (tiles, thumbnails of planes) would put thousands within
  // the byte budget, and every read would walk them all: look a few ahead.
  for (size_t k = 0; budget > 0 && k <= kReadAheadImages; ++k, from_row = 0) {
    const int64_t p = nth(k);
    if (p < 0) break;
    const Image& img = images_[static_cast<size_t>(p)];
    if (!img.unsupported.empty()) continue;
    const Canvas& canvas = img.canvas;
    const uint64_t row_bytes = RowBytes(canvas);
    if (from_row >= canvas.height) continue;
    const int64_t rows = static_cast<int64_t>(std::max<uint64_t>(1, budget / row_bytes));
    const int64_t end = std::min<int64_t>(canvas.height, from_row + rows);
    budget -= std::min<uint64_t>(budget, static_cast<uint64_t>(end - from_row) * row_bytes);
    for (uint32_t sb : SubblocksToDecode(canvas, from_row, end, reader_)) {
      if (reader_.IsCached(sb)) continue;
      if (g_readahead_in_flight.load() >= static_cast<int>(ctx->pool->size() * 2)) return;
      g_readahead_in_flight.fetch_add(1);
      // The task keeps the document: it may leave the tree (a changed source) first.
      ctx->pool->Submit([self = shared_from_this(), sb] {
        (void)self->reader_.Get(sb);
        g_readahead_in_flight.fetch_sub(1);
      });
    }
  }
}

Result<std::string> CziDocument::PlaneTableCsv() const {
  std::lock_guard<std::mutex> lock(planetable_mu_);
  if (!planetable_) {
    CZIFS_ASSIGN_OR_RETURN(std::string csv, BuildPlaneTable());
    planetable_ = std::move(csv);
  }
  return *planetable_;
}

}  // namespace czifs
