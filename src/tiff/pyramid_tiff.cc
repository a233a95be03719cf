#include "czifs/pyramid_tiff.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "czifs/checked.h"
#include "czifs/czi_types.h"

namespace czifs {
namespace {

// TIFF field types.
enum Type : uint16_t {
  kAscii = 2,
  kShort = 3,
  kLong = 4,
  kRational = 5,
  kLong8 = 16,
  kIfd = 13,
  kIfd8 = 18
};

uint64_t TypeBytes(uint16_t type) {
  switch (type) {
    case kAscii:
      return 1;
    case kShort:
      return 2;
    case kLong:
    case kIfd:
      return 4;
    default:
      return 8;
  }
}

// One directory entry: its values, little-endian, as they go in the file.
struct Entry {
  uint16_t tag = 0, type = 0;
  uint64_t count = 0;
  std::vector<uint8_t> data;
};

void Append(std::vector<uint8_t>* out, uint64_t v, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}

Entry Numbers(uint16_t tag, uint16_t type, const std::vector<uint64_t>& values) {
  Entry e{tag, type, values.size(), {}};
  e.data.reserve(values.size() * TypeBytes(type));
  for (uint64_t v : values) Append(&e.data, v, TypeBytes(type));
  return e;
}

Entry Text(uint16_t tag, const std::string& text) {
  Entry e{tag, kAscii, text.size() + 1, std::vector<uint8_t>(text.begin(), text.end())};
  e.data.push_back(0);
  return e;
}

// A rational close to `v` (pixels per centimetre).
Entry Rational(uint16_t tag, double v) {
  const uint64_t denominator = 10000;
  const auto numerator = static_cast<uint64_t>(std::min(v * denominator, 4294967295.0) + 0.5);
  Entry e{tag, kRational, 1, {}};
  Append(&e.data, numerator, 4);
  Append(&e.data, denominator, 4);
  return e;
}

// How big the directories are, and where each goes.
struct Format {
  bool big = false;
  uint64_t head() const { return big ? 16 : 8; }
  uint64_t count_bytes() const { return big ? 8 : 2; }
  uint64_t entry_bytes() const { return big ? 20 : 12; }
  uint64_t offset_bytes() const { return big ? 8 : 4; }
  uint16_t offset_type() const { return big ? kLong8 : kLong; }
  uint16_t ifd_type() const { return big ? kIfd8 : kIfd; }
};

uint64_t Even(uint64_t n) { return (n + 1) & ~uint64_t{1}; }

// Bytes a directory takes with its out-of-line values.
uint64_t DirectoryBytes(const std::vector<Entry>& entries, const Format& f) {
  uint64_t n = f.count_bytes() + entries.size() * f.entry_bytes() + f.offset_bytes();
  for (const Entry& e : entries) {
    if (e.data.size() > f.offset_bytes()) n += Even(e.data.size());
  }
  return n;
}

// Writes directory `entries` at out->size() (== its offset), `next` the next one's offset.
void WriteDirectory(std::vector<Entry> entries, uint64_t next, const Format& f,
                    std::vector<uint8_t>* out) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.tag < b.tag; });
  const uint64_t at = out->size();
  uint64_t extra = at + f.count_bytes() + entries.size() * f.entry_bytes() + f.offset_bytes();
  Append(out, entries.size(), f.count_bytes());
  for (const Entry& e : entries) {
    Append(out, e.tag, 2);
    Append(out, e.type, 2);
    Append(out, e.count, f.offset_bytes());
    if (e.data.size() <= f.offset_bytes()) {
      out->insert(out->end(), e.data.begin(), e.data.end());
      out->insert(out->end(), f.offset_bytes() - e.data.size(), 0);
    } else {
      Append(out, extra, f.offset_bytes());
      extra += Even(e.data.size());
    }
  }
  Append(out, next, f.offset_bytes());
  for (const Entry& e : entries) {
    if (e.data.size() <= f.offset_bytes()) continue;
    out->insert(out->end(), e.data.begin(), e.data.end());
    if (e.data.size() % 2) out->push_back(0);
  }
}

uint32_t TilesAlong(uint32_t n, uint32_t tile) { return (n + tile - 1) / tile; }

// Bytes of one tile.
uint64_t TileBytes(const PyramidTiffSpec& spec) {
  const auto [w, h] = PyramidTileShape(spec);
  return uint64_t{w} * h * static_cast<uint64_t>(BytesPerPixel(spec.pixel_type));
}

// The directory of level `l` of a plane whose tiles start at `first_tile`
// of the stream; `sub_ifds`: the reduced levels' offsets (level 0 only).
std::vector<Entry> LevelEntries(const PyramidTiffSpec& spec, size_t l, const Format& f,
                                uint64_t pixel_start, uint64_t first_tile, bool first_directory,
                                const std::vector<uint64_t>& sub_ifds) {
  const PyramidTiffSpec::Level& level = spec.levels[l];
  const int spp = SamplesPerPixel(spec.pixel_type);
  const uint64_t bits = static_cast<uint64_t>(BytesPerSample(spec.pixel_type)) * 8;
  const uint64_t tile_bytes = TileBytes(spec);
  const auto [tile_w, tile_h] = PyramidTileShape(spec);
  const uint64_t tiles = PyramidTileCount(spec, l);
  std::vector<uint64_t> offsets(tiles), counts(tiles, tile_bytes);
  for (uint64_t k = 0; k < tiles; ++k) offsets[k] = pixel_start + (first_tile + k) * tile_bytes;
  const uint64_t sample_format = IsFloatPixelType(spec.pixel_type) ? 3 : 1;
  std::vector<Entry> e = {
      Numbers(254, kLong, {l == 0 ? 0u : 1u}),
      Numbers(256, kLong, {level.width}),
      Numbers(257, kLong, {level.height}),
      Numbers(258, kShort, std::vector<uint64_t>(static_cast<size_t>(spp), bits)),
      Numbers(259, kShort, {1}),
      Numbers(262, kShort, {spp == 1 ? 1u : 2u}),
      Numbers(277, kShort, {static_cast<uint64_t>(spp)}),
      Numbers(284, kShort, {1}),
      Text(305, "czifs"),
      Numbers(322, kLong, {tile_w}),
      Numbers(323, kLong, {tile_h}),
      Numbers(324, f.offset_type(), offsets),
      Numbers(325, f.offset_type(), counts),
      Numbers(339, kShort, std::vector<uint64_t>(static_cast<size_t>(spp), sample_format)),
  };
  if (first_directory && !spec.description.empty()) e.push_back(Text(270, spec.description));
  if (spp == 4) e.push_back(Numbers(338, kShort, {2}));  // unassociated alpha
  if (spec.um_per_pixel_x && spec.um_per_pixel_y) {
    const double f_level = level.factor;
    e.push_back(Rational(282, 1e4 / (*spec.um_per_pixel_x * f_level)));
    e.push_back(Rational(283, 1e4 / (*spec.um_per_pixel_y * f_level)));
    e.push_back(Numbers(296, kShort, {3}));  // centimetre
  }
  if (!sub_ifds.empty()) e.push_back(Numbers(330, f.ifd_type(), sub_ifds));
  return e;
}

Status CheckSpec(const PyramidTiffSpec& spec) {
  if (BytesPerPixel(spec.pixel_type) == 0) {
    return Status::NotSupported("pixel type " + PixelTypeName(spec.pixel_type) +
                                " has no TIFF representation in czifs");
  }
  if (spec.levels.empty() || spec.planes == 0 || spec.tile == 0 || spec.tile % 32 != 0) {
    return Status::InvalidArgument("a pyramidal TIFF needs planes, levels and a tile of 32k");
  }
  for (const auto& l : spec.levels) {
    if (l.width == 0 || l.height == 0) return Status::InvalidArgument("an empty pyramid level");
  }
  return Status::Ok();
}

// Writes header and all directories for pixels at `pixel_start`.
std::vector<uint8_t> WriteHead(const PyramidTiffSpec& spec, const Format& f, uint64_t pixel_start) {
  // Sizes first (they do not depend on offsets), then each directory's place.
  const size_t levels = spec.levels.size();
  const uint64_t per_plane = PyramidTilesPerPlane(spec);
  std::vector<std::vector<uint64_t>> at(spec.planes, std::vector<uint64_t>(levels));
  uint64_t cursor = f.head();
  for (uint32_t p = 0; p < spec.planes; ++p) {
    uint64_t first_tile = p * per_plane;
    for (size_t l = 0; l < levels; ++l) {
      const std::vector<uint64_t> subs(l == 0 ? levels - 1 : 0, 0);
      at[p][l] = cursor;
      cursor += DirectoryBytes(LevelEntries(spec, l, f, 0, first_tile, p == 0 && l == 0, subs), f);
      first_tile += PyramidTileCount(spec, l);
    }
  }
  std::vector<uint8_t> out;
  out.reserve(cursor);
  out.push_back('I');
  out.push_back('I');
  Append(&out, f.big ? 43 : 42, 2);
  if (f.big) Append(&out, 8, 2), Append(&out, 0, 2);
  Append(&out, at[0][0], f.offset_bytes());
  for (uint32_t p = 0; p < spec.planes; ++p) {
    uint64_t first_tile = p * per_plane;
    const uint64_t next_plane = p + 1 < spec.planes ? at[p + 1][0] : 0;
    for (size_t l = 0; l < levels; ++l) {
      std::vector<uint64_t> subs;
      if (l == 0) subs.assign(at[p].begin() + 1, at[p].end());
      uint64_t next = 0;  // a SubIFD ends its chain, unless levels are in the main chain
      if (l == 0) next = spec.levels_in_main_chain && levels > 1 ? at[p][1] : next_plane;
      if (l > 0 && spec.levels_in_main_chain) next = l + 1 < levels ? at[p][l + 1] : next_plane;
      WriteDirectory(LevelEntries(spec, l, f, pixel_start, first_tile, p == 0 && l == 0, subs),
                     next, f, &out);
      first_tile += PyramidTileCount(spec, l);
    }
  }
  return out;
}

}  // namespace

std::pair<uint32_t, uint32_t> PyramidTileShape(const PyramidTiffSpec& spec) {
  auto fit = [&](uint32_t n) { return std::min(spec.tile, std::max<uint32_t>(32, n / 32 * 32)); };
  return {fit(spec.levels.back().width), fit(spec.levels.back().height)};
}

uint64_t PyramidTileCount(const PyramidTiffSpec& spec, size_t level) {
  const auto& l = spec.levels[level];
  const auto [w, h] = PyramidTileShape(spec);
  return uint64_t{TilesAlong(l.width, w)} * TilesAlong(l.height, h);
}

uint64_t PyramidTilesPerPlane(const PyramidTiffSpec& spec) {
  uint64_t n = 0;
  for (size_t l = 0; l < spec.levels.size(); ++l) n += PyramidTileCount(spec, l);
  return n;
}

Result<std::shared_ptr<const TiffLayout>> BuildPyramidTiff(const PyramidTiffSpec& spec) {
  CZIFS_RETURN_IF_ERROR(CheckSpec(spec));
  const uint64_t tile_bytes = TileBytes(spec);
  const auto tiles = CheckedMul<uint64_t>(PyramidTilesPerPlane(spec), spec.planes);
  const auto pixels = tiles ? CheckedMul<uint64_t>(*tiles, tile_bytes) : std::nullopt;
  if (!pixels || *pixels > (1ull << 46) || *tiles > kMaxPyramidTiffTiles) {
    return Status::ResourceExhausted(fmt::format(
        "a pyramidal TIFF of {} planes of {}x{} would have {} tiles (at most {}: its "
        "directories alone would take hundreds of MB); the OME-Zarr image holds the same pixels",
        spec.planes, spec.levels[0].width, spec.levels[0].height,
        tiles ? std::to_string(*tiles) : std::string("too many"), kMaxPyramidTiffTiles));
  }
  // Directories take about 2 x 8 bytes a tile: BigTIFF once past 4 GiB.
  Format f;
  f.big = *pixels + *tiles * 16 + (16u << 20) > (1ull << 32);
  const uint64_t head_bytes = WriteHead(spec, f, 0).size();
  const uint64_t pixel_start = TiffPixelStart(head_bytes, *pixels);
  std::vector<uint8_t> head = WriteHead(spec, f, pixel_start);
  if (head.size() != head_bytes) return Status::IOError("pyramidal TIFF directories changed size");
  return TiffLayout::FromHead(std::move(head), pixel_start,
                              std::vector<uint64_t>(static_cast<size_t>(*tiles), tile_bytes),
                              f.big);
}

}  // namespace czifs
