#include "czifs/subblock_reader.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "czifs/checked.h"

namespace czifs {
namespace {

// "M=3 at x=1024 y=0, JPEG-XR 1024x1024": how a user finds the tile.
std::string DescribeTile(const SubblockEntry& e) {
  std::string s;
  if (e.Has(Dim::kM)) s += fmt::format("M={} ", e.Coord(Dim::kM));
  s += fmt::format("at x={} y={}, {} {}x{}", e.x, e.y, CompressionName(e.compression),
                   e.stored_width, e.stored_height);
  return s;
}

}  // namespace

SubblockReader::SubblockReader(std::shared_ptr<const CziFile> czi, std::shared_ptr<Session> session)
    : czi_(std::move(czi)),
      session_(std::move(session)),
      file_id_(session_->NewFileId()),
      raw_offsets_(new std::atomic<int64_t>[czi_->subblocks().size()]) {
  for (size_t i = 0; i < czi_->subblocks().size(); ++i) raw_offsets_[i].store(-1);
}

bool SubblockReader::IsCached(uint32_t index) const {
  return session_->cache().Lookup(SubblockKey{file_id_, index}) != nullptr;
}

void SubblockReader::Retire(uint32_t index) const {
  session_->cache().Retire(SubblockKey{file_id_, index});
}

Result<uint64_t> SubblockReader::RawDataOffset(uint32_t index) const {
  const int64_t known = raw_offsets_[index].load(std::memory_order_relaxed);
  if (known >= 0) return static_cast<uint64_t>(known);
  const SubblockEntry& e = czi_->subblocks().at(index);
  const std::string where = fmt::format("subblock {}", index);
  CZIFS_ASSIGN_OR_RETURN(const uint64_t expected,
                         BitmapBytes(e.pixel_type, static_cast<uint64_t>(e.stored_width),
                                     static_cast<uint64_t>(e.stored_height)));
  auto extent = czi_->ReadSubblockExtent(index);
  if (!extent.ok()) return extent.status();
  if (extent->data_size < expected) {
    return Status::Corruption(fmt::format(
        "{}: uncompressed data holds {} bytes, {} expected for {}x{} {}", where, extent->data_size,
        expected, e.stored_width, e.stored_height, PixelTypeName(e.pixel_type)));
  }
  raw_offsets_[index].store(static_cast<int64_t>(extent->data_offset), std::memory_order_relaxed);
  return extent->data_offset;
}

void SubblockReader::NoteDrawnAsZeros(uint32_t sb, const Status& why) const {
  MutexLock lock(&failed_mu_);
  if (zeroed_.insert(sb).second) {
    spdlog::warn("{}: {}; served as zeros", czi_->path(), why.message());
  }
}

Result<std::shared_ptr<const Bitmap>> SubblockReader::Get(uint32_t index) const {
  // The failure memo is consulted on a cache miss only: hits never take its lock.
  return session_->cache().GetOrCompute(
      SubblockKey{file_id_, index}, [&]() -> Result<std::shared_ptr<const Bitmap>> {
        {
          MutexLock lock(&failed_mu_);
          auto it = failed_.find(index);
          if (it != failed_.end()) return it->second;
        }
        auto got = Decode(index);
        if (!got.ok() && (got.status().code() == StatusCode::kCorruption ||
                          got.status().code() == StatusCode::kDataLoss ||
                          got.status().code() == StatusCode::kNotSupported)) {
          session_->failed.fetch_add(1, std::memory_order_relaxed);
          MutexLock lock(&failed_mu_);
          failed_.emplace(index, got.status());
        }
        return got;
      });
}

Status SubblockReader::SizeDamage(uint32_t index) const {
  auto it = czi_->size_problems().find(index);
  return Status::DataLoss(it == czi_->size_problems().end() ? "a damaged entry" : it->second);
}

Result<std::shared_ptr<const Bitmap>> SubblockReader::Decode(uint32_t index) const {
  const std::string where = fmt::format("subblock {}", index);
  const SubblockEntry& e = czi_->subblocks().at(index);
  if (e.size_damaged) return SizeDamage(index);
  CZIFS_ASSIGN_OR_RETURN(const uint64_t expected,
                         BitmapBytes(e.pixel_type, static_cast<uint64_t>(e.stored_width),
                                     static_cast<uint64_t>(e.stored_height)));
  auto extent = czi_->ReadSubblockExtent(index);
  if (!extent.ok()) return extent.status();
  // Compressed data larger than a generous bound on the raw size is corrupt.
  if (extent->data_size > expected * 2 + (1u << 20)) {
    return Status::Corruption(fmt::format("{}: {} bytes of data for a {}-byte bitmap", where,
                                          extent->data_size, expected));
  }
  PixelBuffer data(extent->data_size);  // not zeroed: the read fills it
  CZIFS_RETURN_IF_ERROR(
      czi_->ReadBytes(extent->data_offset, data.size(), data.data()).WithContext(where));
  DecodeRequest req;
  req.pixel_type = e.pixel_type;
  req.compression = e.compression;
  req.width = static_cast<uint32_t>(e.stored_width);
  req.height = static_cast<uint32_t>(e.stored_height);
  req.data = data;
  req.jxr_helpers = session_->jxr_helpers();
  req.planar_hilo = true;  // drawn through Bitmap::CopyRow (ComposeRegion)
  DecodeNotes notes;
  auto bm = DecodeSubblock(req, &notes);
  if (!bm.ok()) {
    const std::string tile = where + " (" + DescribeTile(e) + ")";
    if (bm.status().code() == StatusCode::kCorruption) {
      // The directory and the subblock header agree; only the compressed
      // stream is bad: a damaged tile, which --damaged=zero may leave out.
      return Status::DataLoss(tile + ": " + bm.status().message());
    }
    return bm.status().WithContext(tile);
  }
  const uint64_t total = session_->decoded.fetch_add(1, std::memory_order_relaxed) + 1;
  spdlog::debug("decoded {} {} of {} ({} decoded in all)", where, CompressionName(e.compression),
                czi_->path(), total);
  if (notes.raw_data_in_compressed_label && !logged_raw_in_compressed_.exchange(true)) {
    spdlog::warn(
        "{}: {} is labelled {} but holds uncompressed pixels; reading them as such "
        "(logged once per file)",
        czi_->path(), where, CompressionName(e.compression));
  }
  return std::make_shared<const Bitmap>(std::move(bm).value());
}

}  // namespace czifs
