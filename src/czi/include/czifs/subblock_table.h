// SubblockEntry and SubblockTable: the subblock directory of one CZI,
// packed. A plate screen or a long time-lapse has millions of entries, so
// each is held in 36 bytes (position, rectangle, stored size, which
// dimensions it has, a format number, flags) plus 4 bytes for each
// dimension the file uses at all (one column per dimension, absent ones
// cost nothing), instead of a 96-byte SubblockEntry. Entries are unpacked
// into a SubblockEntry value on access.
//
// Thread-safety: immutable once CziFile::Open returns; share it freely.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <utility>
#include <vector>

#include "czifs/czi_types.h"
#include "czifs/index_iterator.h"
#include "czifs/status.h"

namespace czifs {

// One entry of the subblock directory, unpacked.
struct SubblockEntry {
  uint32_t index = 0;  // position in the directory
  int32_t pixel_type = 0;
  int32_t compression = 0;
  int64_t file_position = 0;  // offset of the subblock segment header
  int32_t file_part = 0;
  int32_t x = 0, y = 0;           // logical position (pixels), may be negative
  int32_t width = 0, height = 0;  // logical size
  int32_t stored_width = 0, stored_height = 0;
  std::array<int32_t, kDimCount> coord{};
  uint16_t present = 0;  // bit i set: Dim(i) present in the entry
  // Its stored size needs more bytes than the file has for it (see
  // CziFile::CheckSizesAgainstRoom): a damaged tile, never a size to trust.
  bool size_damaged = false;

  bool Has(Dim d) const { return (present >> static_cast<int>(d)) & 1; }
  int32_t Coord(Dim d) const { return Has(d) ? coord[static_cast<int>(d)] : 0; }
  // Layer 0 = full resolution: the stored bitmap is the logical size.
  bool IsLayer0() const { return width == stored_width && height == stored_height; }
};

class SubblockTable {
 public:
  // Distinct (pixel type, compression) pairs one file may use; a directory
  // with more is corrupt (real files have one to a handful).
  static constexpr size_t kMaxFormats = 256;

  size_t size() const { return packed_.size(); }
  bool empty() const { return packed_.empty(); }
  // Entry `i`, unpacked (REQUIRES: i < size()).
  SubblockEntry operator[](size_t i) const;
  // Entry `i`, unpacked; throws std::out_of_range past the end (callers check first).
  SubblockEntry at(size_t i) const;
  // Single fields without unpacking (REQUIRES: i < size()).
  int64_t file_position(size_t i) const { return packed_[i].file_position; }
  int32_t pixel_type(size_t i) const { return formats_[packed_[i].format].first; }
  int32_t compression(size_t i) const { return formats_[packed_[i].format].second; }
  int32_t file_part(size_t i) const { return file_parts_.empty() ? 0 : file_parts_[i]; }
  // The distinct (pixel type, compression) pairs of the entries.
  const std::vector<std::pair<int32_t, int32_t>>& formats() const { return formats_; }
  // 0 where the entry lacks `d` (its column holds 0 there).
  int32_t coord(size_t i, Dim d) const {
    const std::vector<int32_t>& column = coords_[static_cast<int>(d)];
    return column.empty() ? 0 : column[i];
  }
  bool has(size_t i, Dim d) const { return (packed_[i].present >> static_cast<int>(d)) & 1; }
  // True if every entry has dimension `d` (then has() need not be asked).
  bool every_entry_has(Dim d) const { return with_dim_[static_cast<int>(d)] == packed_.size(); }
  // Where entry `i` lies (logical position and size) and its stored size:
  // one packed record read, no coordinate columns.
  struct Geometry {
    int32_t x, y, width, height, stored_width, stored_height;
  };
  Geometry geometry(size_t i) const {
    const Packed& p = packed_[i];
    return {p.x, p.y, p.width, p.height, p.stored_width, p.stored_height};
  }
  bool size_damaged(size_t i) const { return (packed_[i].flags & kSizeDamaged) != 0; }
  bool is_layer0(size_t i) const {
    const Packed& p = packed_[i];
    return p.width == p.stored_width && p.height == p.stored_height;
  }

  // Bytes this table holds (capacity included), and its parts.
  struct Bytes {
    size_t entries = 0;      // position, rectangle, stored size, present bits, format, flags
    size_t coordinates = 0;  // one column per dimension used
    size_t other = 0;        // file parts, formats
    size_t total() const { return entries + coordinates + other; }
  };
  Bytes MemoryBytes() const;

  using Iterator = IndexIterator<SubblockTable, SubblockEntry>;
  Iterator begin() const { return {this, 0}; }
  Iterator end() const { return {this, size()}; }

  // Building (CziFile only): room for `count` entries; appends `e` (its
  // index must be size()): Corruption past kMaxFormats formats.
  void Reserve(size_t count);
  Status Append(const SubblockEntry& e);
  void MarkSizeDamaged(size_t i) { packed_[i].flags |= kSizeDamaged; }
  // Gives back capacity the directory did not need.
  void ShrinkToFit();

 private:
  static constexpr uint8_t kSizeDamaged = 1;
#pragma pack(push, 4)
  struct Packed {
    int64_t file_position;
    int32_t x, y, width, height, stored_width, stored_height;
    uint16_t present;
    uint8_t format;  // in formats_
    uint8_t flags;
  };
#pragma pack(pop)
  static_assert(sizeof(Packed) == 36);

  std::vector<Packed> packed_;
  // Dimension d's index of every entry, or empty if no entry has d.
  std::array<std::vector<int32_t>, kDimCount> coords_;
  std::array<size_t, kDimCount> with_dim_{};          // entries that have each dimension
  std::vector<int32_t> file_parts_;                   // empty while every entry is in part 0
  std::vector<std::pair<int32_t, int32_t>> formats_;  // (pixel type, compression)
  size_t reserved_ = 0;
};

}  // namespace czifs
