// A synthetic CZI writer for tests, the demo and benchmarks.
//
// Writes files of any size, pixel type and compression (uncompressed, zstd0,
// zstd1 with or without hi/lo packing, lossless JPEG-XR, JPG), mosaics of
// overlapping tiles stored in shuffled M order, several scenes at different
// positions, negative origins, extra dimensions (H, I, R, V, B, A), sparse
// planes, pyramid subblocks, subblock XML with stage positions and times, and
// deliberate quirks (raw pixels labelled JPEG-XR, System-RAW compression).
//
// It also paints the expected composed planes with its own simple painter,
// independent of czifs' ComposeRows, so tests can compare pixel for pixel.
//
// Thread-safety: functions are pure except WriteSyntheticCzi's file output.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "czifs/status.h"

namespace czifs::synth {

enum class Codec {
  kUncompressed,
  kZstd0,
  kZstd1,              // zstd1 header without hi/lo packing
  kZstd1HiLo,          // zstd1 with hi/lo byte packing (16-bit samples only)
  kJpegXr,             // lossless JPEG-XR
  kJpg,                // JPEG quality 95 (Gray8 / Bgr24 only; lossy)
  kRawLabelledJpegXr,  // uncompressed bytes with compression = JPEG-XR (a ZEN quirk)
  kSystemRaw,          // compression value 1001: unsupported by design
};

// Parses "uncompressed", "zstd0", "zstd1", "zstd1-hilo", "jxr", "jpg",
// "raw-as-jxr", "system-raw".
bool ParseCodec(const std::string& name, Codec* out);

struct Spec {
  int32_t pixel_type = 1;  // CZI PixelType value
  // Channels (C index) of another pixel type than `pixel_type`.
  std::map<int32_t, int32_t> channel_pixel_types;
  Codec codec = Codec::kZstd1HiLo;
  uint32_t tile_width = 256, tile_height = 256;
  uint32_t tiles_x = 1, tiles_y = 1;  // mosaic grid per scene
  double overlap = 0.1;               // fraction of a tile shared with its neighbour
  int32_t origin_x = 0, origin_y = 0;
  uint32_t scenes = 1;
  bool write_s = false;  // write an S dimension even with one scene
  bool write_m = true;   // write M (mosaic index) on tiles
  bool shuffle = true;   // file order differs from M order
  // Sizes of plane dimensions, by letter: C, T, Z, H, I, R, V, B, A (missing = not written).
  std::map<char, int32_t> sizes = {{'C', 1}, {'T', 1}, {'Z', 1}};
  // Grid positions (row * tiles_x + column) left without a tile: a mosaic with a gap.
  std::set<uint32_t> skip_positions;
  int pyramid_levels = 0;  // extra downscaled subblocks per tile (factors 2, 4, ...)
  // Plane filter: return false to write no subblocks for a plane (sparse files).
  std::function<bool(const std::map<char, int32_t>&)> keep_plane;
  uint64_t seed = 1;
  std::optional<double> scale_xy_um = 0.1;
  std::optional<double> scale_z_um = 0.5;
  std::vector<std::string> channel_names;
  bool subblock_metadata = true;  // stage position / time XML per subblock
  bool thumbnail = true;          // a JPG "Thumbnail" attachment
  // Seconds of each time point: a "TimeStamps" attachment (CZTIMS) if not empty.
  std::vector<double> time_stamps_s;
};

// One layer-0 tile as written.
struct Tile {
  uint32_t scene = 0;
  std::map<char, int32_t> coords;  // plane dimensions (C, T, Z, ...)
  int32_t m = 0;
  int32_t x = 0, y = 0;
  uint32_t width = 0, height = 0;
};

// Returns every combination of the spec's plane dimensions (C, T, Z, ...).
std::vector<std::map<char, int32_t>> PlaneCombinations(const Spec& spec);

// Returns the layer-0 tiles in file order.
std::vector<Tile> EnumerateTiles(const Spec& spec);
// Returns a tile's pixels: packed rows, CZI sample order, little-endian.
std::vector<uint8_t> TilePixels(const Spec& spec, const Tile& tile);
// Returns bytes per pixel of a pixel type the writer knows (including complex types).
int WriterBytesPerPixel(int32_t pixel_type);

struct ExpectedPlane {
  int64_t x = 0, y = 0, width = 0, height = 0;  // the scene's bounding box
  std::vector<uint8_t> pixels;                  // packed, CZI sample order
};
// Paints the expected plane (scene `scene`, plane `coords`) with a simple painter.
ExpectedPlane PaintExpected(const Spec& spec, uint32_t scene,
                            const std::map<char, int32_t>& coords);

// Writes the file. Streams subblocks: memory use is one tile, not the file.
Status WriteSyntheticCzi(const Spec& spec, const std::string& path);

}  // namespace czifs::synth
