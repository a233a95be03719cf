// Computed pyramid levels: a plane (or a level of the file's own pyramid)
// halved again and again by 2x2 means, so that every image has levels down
// to a thumbnail whether or not the file has a pyramid.
//
// A computed level is cut into tiles of kReducedTile² pixels, each made on
// demand from the four tiles below it (or, one halving above the drawn
// level, from that level's pixels composed in strips) and kept in the
// session's cache beside the decoded subblocks, so memory stays within the
// cache's budget plus what the threads making tiles hold (per thread, one
// tile of each level between the one asked for and the drawn one, and a
// strip). The four tiles below a tile are made in parallel on the pool.
// The first read of a low level of a plane without a file pyramid decodes
// the whole plane once; nothing but a read of a computed level's pixels
// makes a tile.
//
// Thread-safety: the functions may be called from any number of threads;
// concurrent requests for one tile make it once (the cache's in-flight table).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "czifs/compose.h"

namespace czifs {

// The side of a computed level's tiles, in its pixels.
inline constexpr int64_t kReducedTile = 512;

// Where a computed level's pixels come from: `base`, a canvas drawn from
// the file's subblocks (a whole plane, or a whole level of the file's
// pyramid), halved `halvings` times. Its level is ceil(base.width /
// 2^halvings) x ceil(base.height / 2^halvings) pixels; file pixel
// (base.x + X * f, base.y + Y * f) with f = base.downscale * 2^halvings is
// its pixel (X, Y).
struct Reduction {
  std::shared_ptr<const Canvas> base;
  uint32_t halvings = 1;  // 1 ... kMaxHalvings
  // Which base it is in its file, for the cache: the plane and the file's
  // pyramid level drawn (0: the plane itself).
  uint32_t plane = 0;
  uint32_t base_level = 0;
  static constexpr uint32_t kMaxHalvings = 40;
};

// The canvas of rectangle (col, row, width, height) of `reduction`'s level
// (in its pixels; parts outside the level read as zeros).
Canvas ReducedCanvas(std::shared_ptr<const Reduction> reduction, int64_t col, int64_t row,
                     int64_t width, int64_t height);

// The size of `reduction`'s level in its pixels: ceil(base / 2^halvings).
int64_t ReducedWidth(const Reduction& reduction);
int64_t ReducedHeight(const Reduction& reduction);

// One halving: writes the ceil(w/2) x ceil(h/2) pixels below `src` (w x h
// pixels of `pixel_type`, rows `src_stride` bytes apart) to `dst` (rows
// `dst_stride` apart). Each sample of a pixel is the mean of that sample
// over its 2x2 block of `src` (at the right and bottom edges of an odd
// size, over the 2 or 1 pixels there): integers round half up, (sum + n/2)
// / n; floats are the exact mean (summed in double, rounded once to float).
void HalvePixels(const uint8_t* src, size_t src_stride, int64_t w, int64_t h, int32_t pixel_type,
                 uint8_t* dst, size_t dst_stride);

// Draws rows [row_begin, row_end) x columns [col_begin, col_end) of a
// computed level's canvas (`canvas.reduced` set) into `out` (rows of
// (col_end - col_begin) * BytesPerPixel bytes, CZI sample order), making
// the tiles it needs that are not cached. ComposeRegion calls it for such
// canvases.
Status ComposeReducedRegion(const Canvas& canvas, int64_t row_begin, int64_t row_end,
                            int64_t col_begin, int64_t col_end, const SubblockReader& reader,
                            uint8_t* out, const ComposeOptions& options);

// Makes, in parallel on options.pool, the tiles rows [row_begin, row_end)
// of computed canvas `canvas` need, so that drawing them finds them
// cached (if the cache holds them).
Status PrepareReduced(const Canvas& canvas, int64_t row_begin, int64_t row_end,
                      const SubblockReader& reader, const ComposeOptions& options);

}  // namespace czifs
