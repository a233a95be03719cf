#include "czifs/reduce.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "czifs/checked.h"
#include "czifs/thread_pool.h"

namespace czifs {
namespace {

// Rows of the drawn level composed at once while halving it: the buffer is
// this many rows of twice a tile's width.
constexpr int64_t kStripRows = 64;

int64_t Halved(int64_t n, uint32_t halvings) {
  return (n + (int64_t{1} << halvings) - 1) >> halvings;
}

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// HalvePixels for samples of type T. At an odd edge the missing column or
// row repeats the one present, which gives the mean of what is there: (2a
// + 2c + 2) / 4 = (a + c + 1) / 2 and (4a + 2) / 4 = a for integers, and
// exact halves for floats.
template <typename T>
void HalveTyped(const uint8_t* src, size_t src_stride, int64_t w, int64_t h, int spp, uint8_t* dst,
                size_t dst_stride) {
  constexpr size_t kBytes = sizeof(T);
  const size_t pixel = kBytes * static_cast<size_t>(spp);
  const int64_t out_w = (w + 1) / 2, out_h = (h + 1) / 2;
  for (int64_t y = 0; y < out_h; ++y) {
    const uint8_t* top = src + static_cast<size_t>(2 * y) * src_stride;
    const uint8_t* bottom = 2 * y + 1 < h ? top + src_stride : top;
    uint8_t* out = dst + static_cast<size_t>(y) * dst_stride;
    for (int64_t x = 0; x < out_w; ++x) {
      const size_t left = static_cast<size_t>(2 * x) * pixel;
      const size_t right = 2 * x + 1 < w ? left + pixel : left;
      for (size_t s = 0; s < static_cast<size_t>(spp); ++s) {
        const size_t k = s * kBytes;
        T mean;
        if constexpr (std::is_floating_point_v<T>) {
          const double sum = double{Load<T>(top + left + k)} + double{Load<T>(top + right + k)} +
                             double{Load<T>(bottom + left + k)} +
                             double{Load<T>(bottom + right + k)};
          mean = static_cast<T>(sum / 4);
        } else {
          const uint64_t sum = uint64_t{Load<T>(top + left + k)} + Load<T>(top + right + k) +
                               Load<T>(bottom + left + k) + Load<T>(bottom + right + k);
          mean = static_cast<T>((sum + 2) / 4);
        }
        std::memcpy(out + static_cast<size_t>(x) * pixel + k, &mean, kBytes);
      }
    }
  }
}

bool Interrupted(const ComposeOptions& options) {
  return options.interrupt && options.interrupt->raised();
}

// The cache key of tile (ty, tx) of the level `halvings` below `r`'s base.
Result<SubblockKey> TileKey(const SubblockReader& reader, const Reduction& r, uint32_t halvings,
                            int64_t ty, int64_t tx) {
  constexpr int64_t kMaxTiles = int64_t{1} << 24;
  if (ty < 0 || tx < 0 || ty >= kMaxTiles || tx >= kMaxTiles || r.base_level > 0xFF ||
      halvings > 0x3F) {
    return Status::InvalidArgument(
        fmt::format("computed level tile ({}, {}) of level {} is out of range", tx, ty, halvings));
  }
  const uint64_t tile = (uint64_t{1} << 63) | (uint64_t{r.base_level} << 54) |
                        (uint64_t{halvings} << 48) | (static_cast<uint64_t>(ty) << 24) |
                        static_cast<uint64_t>(tx);
  return SubblockKey{reader.file_id(), r.plane, tile};
}

Result<std::shared_ptr<const Bitmap>> GetTile(const SubblockReader& reader, const Reduction& r,
                                              uint32_t halvings, int64_t ty, int64_t tx,
                                              const ComposeOptions& options);

// Halves the drawn level into `tile` (tile (ty, tx) of the first computed
// level), composing it a strip of rows at a time.
Status HalveFromBase(const SubblockReader& reader, const Reduction& r, int64_t ty, int64_t tx,
                     const ComposeOptions& options, Bitmap* tile) {
  const Canvas& base = *r.base;
  const size_t bpp = static_cast<size_t>(BytesPerPixel(base.pixel_type));
  const int64_t c0 = 2 * tx * kReducedTile,
                c1 = std::min(c0 + 2 * int64_t{tile->width}, base.width);
  const int64_t r0 = 2 * ty * kReducedTile,
                r1 = std::min(r0 + 2 * int64_t{tile->height}, base.height);
  const size_t in_stride = static_cast<size_t>(c1 - c0) * bpp;
  std::vector<uint8_t> strip(in_stride * static_cast<size_t>(kStripRows));
  ComposeOptions drawn = options;
  drawn.source = nullptr;  // the read's pinned subblocks are another canvas's
  for (int64_t y = r0; y < r1; y += kStripRows) {
    if (Interrupted(options)) return Status::Cancelled("read interrupted");
    const int64_t end = std::min(y + kStripRows, r1);
    CZIFS_RETURN_IF_ERROR(ComposeRegion(base, y, end, c0, c1, reader, strip.data(), drawn));
    HalvePixels(strip.data(), in_stride, c1 - c0, end - y, base.pixel_type,
                tile->pixels.data() + static_cast<size_t>((y - r0) / 2) * tile->stride(),
                tile->stride());
  }
  return Status::Ok();
}

// Halves the (up to) four tiles of the level above into `tile`, made in parallel.
Status HalveFromTiles(const SubblockReader& reader, const Reduction& r, uint32_t halvings,
                      int64_t ty, int64_t tx, const ComposeOptions& options, Bitmap* tile) {
  const int64_t above_w = Halved(r.base->width, halvings - 1);
  const int64_t above_h = Halved(r.base->height, halvings - 1);
  std::vector<std::pair<int64_t, int64_t>> quads;  // (dy, dx)
  for (int64_t dy = 0; dy < 2; ++dy) {
    for (int64_t dx = 0; dx < 2; ++dx) {
      if ((2 * ty + dy) * kReducedTile < above_h && (2 * tx + dx) * kReducedTile < above_w) {
        quads.emplace_back(dy, dx);
      }
    }
  }
  const size_t bpp = static_cast<size_t>(BytesPerPixel(r.base->pixel_type));
  return ShareWork(options.pool, quads.size(), [&](size_t k) -> Status {
    const auto [dy, dx] = quads[k];
    CZIFS_ASSIGN_OR_RETURN(auto above,
                           GetTile(reader, r, halvings - 1, 2 * ty + dy, 2 * tx + dx, options));
    const int64_t half = kReducedTile / 2;
    HalvePixels(above->pixels.data(), above->stride(), above->width, above->height,
                r.base->pixel_type,
                tile->pixels.data() + static_cast<size_t>(dy * half) * tile->stride() +
                    static_cast<size_t>(dx * half) * bpp,
                tile->stride());
    return Status::Ok();
  });
}

// Whether any subblock of the drawn level reaches tile (ty, tx) of the level
// `halvings` below it (else the tile is zeros: nothing to compose).
bool AnySubblockReaches(const SubblockReader& reader, const Reduction& r, uint32_t halvings,
                        int64_t ty, int64_t tx) {
  const int64_t side = kReducedTile << halvings;  // the tile's side in drawn pixels
  const Rect tile{tx * side, ty * side, side, side};
  const auto& sbs = reader.czi().subblocks();
  for (uint32_t sb : r.base->subblocks) {
    const Rect at = Placement(*r.base, sbs.geometry(sb));
    if (at.x < tile.x + tile.width && tile.x < at.x + at.width && at.y < tile.y + tile.height &&
        tile.y < at.y + at.height) {
      return true;
    }
  }
  return false;
}

Result<std::shared_ptr<const Bitmap>> MakeTile(const SubblockReader& reader, const Reduction& r,
                                               uint32_t halvings, int64_t ty, int64_t tx,
                                               const ComposeOptions& options) {
  const int64_t w = Halved(r.base->width, halvings), h = Halved(r.base->height, halvings);
  const int64_t x0 = tx * kReducedTile, y0 = ty * kReducedTile;
  if (x0 >= w || y0 >= h) return Status::InvalidArgument("computed level tile outside its level");
  auto tile = std::make_shared<Bitmap>();
  tile->pixel_type = r.base->pixel_type;
  tile->width = static_cast<uint32_t>(std::min(kReducedTile, w - x0));
  tile->height = static_cast<uint32_t>(std::min(kReducedTile, h - y0));
  tile->pixels.resize(tile->stride() * tile->height);
  if (!AnySubblockReaches(reader, r, halvings, ty, tx)) {  // background: zeros
    std::memset(tile->pixels.data(), 0, tile->pixels.size());
    return std::shared_ptr<const Bitmap>(std::move(tile));
  }
  CZIFS_RETURN_IF_ERROR(halvings == 1
                            ? HalveFromBase(reader, r, ty, tx, options, tile.get())
                            : HalveFromTiles(reader, r, halvings, ty, tx, options, tile.get()));
  reader.session().reduced.fetch_add(1, std::memory_order_relaxed);
  return std::shared_ptr<const Bitmap>(std::move(tile));
}

Result<std::shared_ptr<const Bitmap>> GetTile(const SubblockReader& reader, const Reduction& r,
                                              uint32_t halvings, int64_t ty, int64_t tx,
                                              const ComposeOptions& options) {
  CZIFS_ASSIGN_OR_RETURN(const SubblockKey key, TileKey(reader, r, halvings, ty, tx));
  for (int attempt = 0;; ++attempt) {
    if (Interrupted(options)) return Status::Cancelled("read interrupted");
    auto got = reader.session().cache().GetOrCompute(
        key, [&] { return MakeTile(reader, r, halvings, ty, tx, options); });
    // The read that was making it gave up: this one makes it instead.
    if (!got.ok() && got.status().code() == StatusCode::kCancelled && !Interrupted(options) &&
        attempt < 3) {
      continue;
    }
    return got;
  }
}

// The level pixel of a computed canvas's pixel (0, 0).
std::pair<int64_t, int64_t> LevelOrigin(const Canvas& canvas) {
  const Canvas& base = *canvas.reduced->base;
  const int64_t f = canvas.downscale;
  return {FloorDiv(canvas.x - base.x, f), FloorDiv(canvas.y - base.y, f)};
}

}  // namespace

int64_t ReducedWidth(const Reduction& r) { return Halved(r.base->width, r.halvings); }
int64_t ReducedHeight(const Reduction& r) { return Halved(r.base->height, r.halvings); }

Canvas ReducedCanvas(std::shared_ptr<const Reduction> reduction, int64_t col, int64_t row,
                     int64_t width, int64_t height) {
  const Canvas& base = *reduction->base;
  const uint32_t f = base.downscale << reduction->halvings;
  Canvas c;
  c.x = base.x + col * f;
  c.y = base.y + row * f;
  c.width = width;
  c.height = height;
  c.downscale = f;
  c.pixel_type = base.pixel_type;
  c.reduced = std::move(reduction);
  return c;
}

void HalvePixels(const uint8_t* src, size_t src_stride, int64_t w, int64_t h, int32_t pixel_type,
                 uint8_t* dst, size_t dst_stride) {
  const int spp = SamplesPerPixel(pixel_type);
  switch (BytesPerSample(pixel_type)) {
    case 1:
      return HalveTyped<uint8_t>(src, src_stride, w, h, spp, dst, dst_stride);
    case 2:
      return HalveTyped<uint16_t>(src, src_stride, w, h, spp, dst, dst_stride);
    case 4:
      if (IsFloatPixelType(pixel_type)) {
        return HalveTyped<float>(src, src_stride, w, h, spp, dst, dst_stride);
      }
      return HalveTyped<uint32_t>(src, src_stride, w, h, spp, dst, dst_stride);
    default:
      return HalveTyped<double>(src, src_stride, w, h, spp, dst, dst_stride);
  }
}

Status ComposeReducedRegion(const Canvas& canvas, int64_t row_begin, int64_t row_end,
                            int64_t col_begin, int64_t col_end, const SubblockReader& reader,
                            uint8_t* out, const ComposeOptions& options) {
  const Reduction& r = *canvas.reduced;
  const size_t bpp = static_cast<size_t>(BytesPerPixel(canvas.pixel_type));
  const size_t out_stride = static_cast<size_t>(col_end - col_begin) * bpp;
  const auto [origin_x, origin_y] = LevelOrigin(canvas);
  // The request in level pixels, and its part inside the level.
  const int64_t ax = origin_x + col_begin, bx = origin_x + col_end;
  const int64_t ay = origin_y + row_begin, by = origin_y + row_end;
  const int64_t x0 = std::max<int64_t>(ax, 0), x1 = std::min(bx, ReducedWidth(r));
  const int64_t y0 = std::max<int64_t>(ay, 0), y1 = std::min(by, ReducedHeight(r));
  if (x0 != ax || x1 != bx || y0 != ay || y1 != by) {
    std::memset(out, 0, out_stride * static_cast<size_t>(row_end - row_begin));
  }
  if (x0 >= x1 || y0 >= y1) return Status::Ok();
  for (int64_t ty = y0 / kReducedTile; ty * kReducedTile < y1; ++ty) {
    for (int64_t tx = x0 / kReducedTile; tx * kReducedTile < x1; ++tx) {
      CZIFS_ASSIGN_OR_RETURN(auto tile, GetTile(reader, r, r.halvings, ty, tx, options));
      const int64_t cy0 = std::max(y0, ty * kReducedTile),
                    cy1 = std::min(y1, (ty + 1) * kReducedTile);
      const int64_t cx0 = std::max(x0, tx * kReducedTile),
                    cx1 = std::min(x1, (tx + 1) * kReducedTile);
      for (int64_t y = cy0; y < cy1; ++y) {
        std::memcpy(
            out + static_cast<size_t>(y - ay) * out_stride + static_cast<size_t>(cx0 - ax) * bpp,
            tile->pixels.data() + static_cast<size_t>(y - ty * kReducedTile) * tile->stride() +
                static_cast<size_t>(cx0 - tx * kReducedTile) * bpp,
            static_cast<size_t>(cx1 - cx0) * bpp);
      }
    }
  }
  return Status::Ok();
}

Status PrepareReduced(const Canvas& canvas, int64_t row_begin, int64_t row_end,
                      const SubblockReader& reader, const ComposeOptions& options) {
  const Reduction& r = *canvas.reduced;
  const auto [origin_x, origin_y] = LevelOrigin(canvas);
  const int64_t x0 = std::max<int64_t>(origin_x, 0);
  const int64_t x1 = std::min(origin_x + canvas.width, ReducedWidth(r));
  const int64_t y0 = std::max<int64_t>(origin_y + row_begin, 0);
  const int64_t y1 = std::min(origin_y + row_end, ReducedHeight(r));
  std::vector<std::pair<int64_t, int64_t>> missing;  // (ty, tx)
  for (int64_t ty = y0 / kReducedTile; y0 < y1 && ty * kReducedTile < y1; ++ty) {
    for (int64_t tx = x0 / kReducedTile; x0 < x1 && tx * kReducedTile < x1; ++tx) {
      CZIFS_ASSIGN_OR_RETURN(const SubblockKey key, TileKey(reader, r, r.halvings, ty, tx));
      if (!reader.session().cache().Lookup(key)) missing.emplace_back(ty, tx);
    }
  }
  return ShareWork(options.pool, missing.size(), [&](size_t k) {
    return GetTile(reader, r, r.halvings, missing[k].first, missing[k].second, options).status();
  });
}

}  // namespace czifs
