// Plane composition: reads and decodes a file's subblocks through the shared
// cache, and draws them into any range of rows of a plane.
//
// Thread-safety: SubblockReader is immutable after construction and safe to
// use from any number of threads; the cache it shares is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "czifs/codec.h"
#include "czifs/czi_file.h"
#include "czifs/image_index.h"
#include "czifs/lru_cache.h"

namespace czifs {

struct SubblockKey {
  uint64_t file_id;
  uint32_t index;
  bool operator==(const SubblockKey&) const = default;
};
struct SubblockKeyHash {
  size_t operator()(const SubblockKey& k) const {
    return std::hash<uint64_t>()(k.file_id * 0x9E3779B97F4A7C15ull ^ k.index);
  }
};
using SubblockCache = LruCache<SubblockKey, Bitmap, SubblockKeyHash>;

// Creates a cache of decoded subblocks holding at most `capacity_bytes` of pixels.
std::shared_ptr<SubblockCache> MakeSubblockCache(uint64_t capacity_bytes);

class SubblockReader {
 public:
  SubblockReader(std::shared_ptr<const CziFile> czi, std::shared_ptr<SubblockCache> cache);

  // Returns the decoded layer-0 bitmap of subblock `index` (from the cache if present).
  Result<std::shared_ptr<const Bitmap>> Get(uint32_t index) const;

  const CziFile& czi() const { return *czi_; }
  // Number of subblocks decoded by all readers in this process (not cache hits).
  static uint64_t TotalDecoded();

 private:
  Result<std::shared_ptr<const Bitmap>> Decode(uint32_t index) const;

  // Constant after construction.
  const std::shared_ptr<const CziFile> czi_;
  const std::shared_ptr<SubblockCache> cache_;
  const uint64_t file_id_;
  // Set once the first time a quirk is logged, so each is logged once per file.
  mutable std::atomic<bool> logged_raw_in_compressed_{false};
};

// Draws rows [row_begin, row_end) of `plane` (relative to its scene's bounding
// box) into `out`: packed rows of width * BytesPerPixel bytes in CZI sample
// order, zeros where no subblock covers.
// REQUIRES: 0 <= row_begin <= row_end <= scene height; `out` holds the rows.
Status ComposeRows(const ImageIndex& index, uint32_t plane, int64_t row_begin, int64_t row_end,
                   const SubblockReader& reader, uint8_t* out);

}  // namespace czifs
