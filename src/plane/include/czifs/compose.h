// Plane composition: draws any range of rows of a canvas (a plane, a tile,
// a pyramid level) from a file's subblocks, decoded through the cache by
// SubblockReader (subblock_reader.h).
//
// Uncompressed subblocks are never decoded or cached: the rows a request
// covers are read straight from the file into the output (the kernel's page
// cache already holds them).
//
// Thread-safety: the functions here keep no state; the SubblockReader and
// cache they use are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "czifs/enum_names.h"
#include "czifs/image_index.h"
#include "czifs/interrupt.h"
#include "czifs/subblock_reader.h"

namespace czifs {

// What a plane read does with a tile whose compressed data does not decode
// (a DataLoss status; structural damage is always an error).
enum class DamagedTiles {
  kFail,  // the read fails, naming the tile (default)
  kZero,  // the tile is left out: its pixels stay zero (logged once per tile)
};
// The option values (--damaged, -o damaged=).
inline constexpr EnumNames<DamagedTiles, 2> kDamagedTilesNames = {
    {{"fail", DamagedTiles::kFail}, {"zero", DamagedTiles::kZero}}};

// True if a read with policy `damaged` draws a subblock that failed with `st` as zeros.
inline bool MaySkip(DamagedTiles damaged, const Status& st) {
  return damaged == DamagedTiles::kZero && st.code() == StatusCode::kDataLoss;
}

// Supplies decoded subblocks to ComposeRows; lets a caller hand over bitmaps
// it decoded (and pins) itself. Default: SubblockReader::Get.
using BitmapSource = std::function<Result<std::shared_ptr<const Bitmap>>(uint32_t)>;

struct Reduction;  // reduce.h

// What one served image draws: a rectangle of the file's pixel coordinates,
// possibly downscaled (a pyramid level), and the subblocks drawn into it in
// order. A plane's canvas is its scene's bounding box; a raw tile's is the
// tile itself. A canvas of a computed level (`reduced` set) draws no
// subblocks: its pixels are means of a finer level's (reduce.h).
struct Canvas {
  int64_t x = 0, y = 0;           // file pixel coordinates of canvas pixel (0, 0)
  int64_t width = 0, height = 0;  // in canvas pixels
  uint32_t downscale = 1;         // file pixels per canvas pixel (>= 1)
  int32_t pixel_type = 0;
  std::vector<uint32_t> subblocks;  // drawing order: later ones overwrite earlier ones
  std::shared_ptr<const Reduction> reduced;
};

// Bytes in one packed row of `c`.
inline uint64_t RowBytes(const Canvas& c) {
  return static_cast<uint64_t>(c.width) * static_cast<uint64_t>(BytesPerPixel(c.pixel_type));
}

// The canvas of plane `plane` of `index` (REQUIRES: plane < index.planes().size()).
Canvas PlaneCanvas(const ImageIndex& index, uint32_t plane);

// Where subblock `e` lands on `c`, in canvas pixels: its logical position
// divided by the downscale (rounded down), at its stored size.
Rect Placement(const Canvas& c, const SubblockTable::Geometry& g);
inline Rect Placement(const Canvas& c, const SubblockEntry& e) {
  return Placement(
      c, SubblockTable::Geometry{e.x, e.y, e.width, e.height, e.stored_width, e.stored_height});
}

// Draws rows [row_begin, row_end) of `canvas` into `out`: packed rows of
// width * BytesPerPixel bytes in CZI sample order, zeros where no subblock
// covers.
// REQUIRES: 0 <= row_begin <= row_end <= canvas.height; `out` holds the rows.
// How to compose: where decoded subblocks come from (null: reader.Get) and
// what to do with tiles that do not decode.
struct ComposeOptions {
  const BitmapSource* source = nullptr;
  DamagedTiles damaged = DamagedTiles::kFail;
  // Computed levels: where a tile's four finer tiles are made in parallel
  // (null: this thread), and the read's give-up flag (null: never).
  ThreadPool* pool = nullptr;
  const Interrupt* interrupt = nullptr;
};
Status ComposeRows(const Canvas& canvas, int64_t row_begin, int64_t row_end,
                   const SubblockReader& reader, uint8_t* out, const ComposeOptions& options = {});

// Like ComposeRows, for columns [col_begin, col_end) only: `out` holds rows
// of (col_end - col_begin) * BytesPerPixel bytes.
// REQUIRES: 0 <= col_begin < col_end <= canvas.width.
Status ComposeRegion(const Canvas& canvas, int64_t row_begin, int64_t row_end, int64_t col_begin,
                     int64_t col_end, const SubblockReader& reader, uint8_t* out,
                     const ComposeOptions& options = {});

// Returns the subblocks of `canvas` that ComposeRows must decode (not read
// directly) to draw rows [row_begin, row_end).
std::vector<uint32_t> SubblocksToDecode(const Canvas& canvas, int64_t row_begin, int64_t row_end,
                                        const SubblockReader& reader);

// Returns the decoded subblocks of `canvas` drawn in rows [row_begin,
// row_end) that end on or above row_end and lie within the canvas' columns:
// a reader going down the canvas that has read up to row_end is done with
// them (PageReader retires them from the cache).
std::vector<uint32_t> SubblocksPassed(const Canvas& canvas, int64_t row_begin, int64_t row_end,
                                      const SubblockReader& reader);

}  // namespace czifs
