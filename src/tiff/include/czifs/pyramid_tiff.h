// A tiled, pyramidal TIFF (the OME-TIFF pyramid convention): each
// full-resolution plane is a top-level directory whose reduced levels are
// its SubIFDs (NewSubfileType 1). For a file of one plane (a slide) the
// reduced levels' directories also follow the first in the main chain, so
// that readers that know no SubIFDs (OpenSlide's generic TIFF, GDAL's
// overviews, vips' pages) see the pyramid too: one set of directories,
// reachable both ways.
//
// The directories are written here, not by libtiff: libtiff cannot make one
// directory both a SubIFD and a member of the main chain, nor put tiles
// where we say. All directories come first, then a gap (TiffPixelStart),
// then the tiles: reading every directory of every level decodes nothing.
// Uncompressed tiles, tile x tile pixels each (edge tiles padded with
// zeros, as TIFF requires); BigTIFF when the file passes 4 GiB.
//
// The pixel stream, one TiffLayout page per tile: plane 0's level 0 tiles
// row by row, then its level 1 tiles, ..., then plane 1's.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "czifs/status.h"
#include "czifs/tiff_layout.h"

namespace czifs {

struct PyramidTiffSpec {
  int32_t pixel_type = 0;  // CZI pixel type (must be supported)
  uint32_t planes = 1;     // full-resolution planes: top-level directories
  struct Level {
    uint32_t width = 0, height = 0;
    uint32_t factor = 1;  // full-resolution pixels per pixel of this level
  };
  std::vector<Level> levels;  // full resolution first, each about half the one before
  uint32_t tile = 512;        // the largest tile side, a multiple of 32 (PyramidTileShape)
  std::string description;    // the first directory's ImageDescription (OME-XML)
  // Full-resolution pixel size (written as pixels per centimetre).
  std::optional<double> um_per_pixel_x, um_per_pixel_y;
  // Reduced levels also in the main chain after the first directory (planes == 1).
  bool levels_in_main_chain = false;
};

// The tiles' width and height, the same at every level: `tile`, or less
// where the smallest level is narrower or lower, in multiples of 32, at
// least 32. Debian's libtiff 4.5, as OpenSlide reads (RGBA, not
// memory-mapped), misreads tiles wider than their image, and uncompressed
// tiles whose size differs from its read buffer's: a multiple of 1 KiB,
// grown by the largest tile read so far.
std::pair<uint32_t, uint32_t> PyramidTileShape(const PyramidTiffSpec& spec);
// Tiles of level `level` (columns x rows).
uint64_t PyramidTileCount(const PyramidTiffSpec& spec, size_t level);
// Tiles of one plane, all levels.
uint64_t PyramidTilesPerPlane(const PyramidTiffSpec& spec);

// The most tiles a pyramidal TIFF may have: 16 bytes of directory each, and
// a described page each when it is read (~150 bytes). 2^20 holds a
// whole-slide scan of 3 channels at 200,000 x 100,000 pixels (~300,000
// tiles of 512^2 with its levels); a deeper stack of mosaics is read as its
// OME-Zarr image (a crafted file asked for 22 million: 4.7 GB).
inline constexpr uint64_t kMaxPyramidTiffTiles = 1u << 20;

// Lays out the file of `spec`: its exact size and its directories, no pixels.
Result<std::shared_ptr<const TiffLayout>> BuildPyramidTiff(const PyramidTiffSpec& spec);

}  // namespace czifs
