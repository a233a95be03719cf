#include "czifs/subblock_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace czifs {

SubblockEntry SubblockTable::operator[](size_t i) const {
  const Packed& p = packed_[i];
  SubblockEntry e;
  e.index = static_cast<uint32_t>(i);
  e.pixel_type = formats_[p.format].first;
  e.compression = formats_[p.format].second;
  e.file_position = p.file_position;
  e.file_part = file_parts_.empty() ? 0 : file_parts_[i];
  e.x = p.x;
  e.y = p.y;
  e.width = p.width;
  e.height = p.height;
  e.stored_width = p.stored_width;
  e.stored_height = p.stored_height;
  e.present = p.present;
  e.size_damaged = (p.flags & kSizeDamaged) != 0;
  for (unsigned bits = p.present; bits != 0; bits &= bits - 1) {
    const int d = __builtin_ctz(bits);
    e.coord[d] = coords_[d][i];
  }
  return e;
}

SubblockEntry SubblockTable::at(size_t i) const {
  if (i >= packed_.size()) {
    throw std::out_of_range(fmt::format("subblock {} of {}", i, packed_.size()));
  }
  return (*this)[i];
}

void SubblockTable::Reserve(size_t count) {
  packed_.reserve(count);
  reserved_ = count;
}

Status SubblockTable::Append(const SubblockEntry& e) {
  const size_t i = packed_.size();
  const std::pair<int32_t, int32_t> format{e.pixel_type, e.compression};
  auto f = std::find(formats_.begin(), formats_.end(), format);
  if (f == formats_.end()) {
    if (formats_.size() == kMaxFormats) {
      return Status::Corruption(fmt::format(
          "subblock directory: entry {} brings a {}th pair of pixel type and compression", i,
          kMaxFormats + 1));
    }
    f = formats_.insert(formats_.end(), format);
  }
  for (int d = 0; d < kDimCount; ++d) {
    std::vector<int32_t>& column = coords_[d];
    const bool has = (e.present >> d) & 1;
    if (column.empty() && !has) continue;
    if (column.empty()) {
      column.reserve(std::max(reserved_, i + 1));
      column.resize(i, 0);
    }
    column.push_back(has ? e.coord[d] : 0);
    with_dim_[d] += has;
  }
  if (e.file_part != 0 && file_parts_.empty()) {
    file_parts_.reserve(std::max(reserved_, i + 1));
    file_parts_.resize(i, 0);
  }
  if (!file_parts_.empty()) file_parts_.push_back(e.file_part);
  packed_.push_back(Packed{e.file_position, e.x, e.y, e.width, e.height, e.stored_width,
                           e.stored_height, e.present, static_cast<uint8_t>(f - formats_.begin()),
                           static_cast<uint8_t>(e.size_damaged ? kSizeDamaged : 0)});
  return Status::Ok();
}

void SubblockTable::ShrinkToFit() {
  packed_.shrink_to_fit();
  for (auto& column : coords_) column.shrink_to_fit();
  file_parts_.shrink_to_fit();
}

SubblockTable::Bytes SubblockTable::MemoryBytes() const {
  Bytes b;
  b.entries = packed_.capacity() * sizeof(Packed);
  for (const auto& column : coords_) b.coordinates += column.capacity() * sizeof(int32_t);
  b.other = file_parts_.capacity() * sizeof(int32_t) +
            formats_.capacity() * sizeof(std::pair<int32_t, int32_t>);
  return b;
}

}  // namespace czifs
