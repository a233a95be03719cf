// Synthetic CZI specs the unit tests share: the writer's defaults (one
// 256 x 256 zstd1 hi/lo tile per plane, C = T = Z = 1) with only what a test
// is about changed, so a test reads as its difference.
#pragma once

#include <cstdint>
#include <map>

#include "czi_writer.h"

namespace czifs::testing {

// Planes of one `width` x `height` tile each.
inline synth::Spec Tiles(uint32_t width, uint32_t height) {
  synth::Spec spec;
  spec.tile_width = width;
  spec.tile_height = height;
  return spec;
}

// The same, stored uncompressed.
inline synth::Spec UncompressedTiles(uint32_t width, uint32_t height) {
  synth::Spec spec = Tiles(width, height);
  spec.codec = synth::Codec::kUncompressed;
  return spec;
}

// Planes of `width` x `height` tiles in a `tiles_x` x `tiles_y` mosaic.
inline synth::Spec Mosaic(uint32_t width, uint32_t height, uint32_t tiles_x, uint32_t tiles_y) {
  synth::Spec spec = Tiles(width, height);
  spec.tiles_x = tiles_x;
  spec.tiles_y = tiles_y;
  return spec;
}

// A small stack (24 x 16, two Z planes) whose pixels follow `seed`: files
// that differ in content and not in shape.
inline synth::Spec SmallStack(uint64_t seed) {
  synth::Spec spec = Tiles(24, 16);
  spec.sizes = {{'Z', 2}};
  spec.seed = seed;
  return spec;
}

}  // namespace czifs::testing
