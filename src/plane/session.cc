#include "czifs/session.h"

namespace czifs {

std::shared_ptr<Session> Session::Create(uint64_t cache_bytes, size_t max_open_files,
                                         std::shared_ptr<const FileSystem> fs) {
  return std::shared_ptr<Session>(new Session(cache_bytes, max_open_files, std::move(fs)));
}

Session::Session(uint64_t cache_bytes, size_t max_open_files, std::shared_ptr<const FileSystem> fs)
    : cache_(std::make_unique<SubblockCache>(
          cache_bytes, [](const Bitmap& b) { return static_cast<uint64_t>(b.pixels.size()) + 64; },
          // Tiles a sequential reader went past (SubblockReader::Retire) go
          // first, but only once the cache is full: the reader's next file
          // may be another view of the same tiles (cp -r, an export: the
          // hyperstack, the OME-TIFF, the zarr chunks after the planes).
          /*retired_capacity_bytes=*/cache_bytes)),
      descriptors_(std::make_shared<DescriptorPool>(max_open_files)),
      fs_(fs ? std::move(fs) : PosixFileSystem()),
      jxr_helpers_(std::make_unique<JxrHelpers>()) {}

Session::~Session() { StopDecodePool(); }

void Session::StartDecodePool(size_t threads) {
  if (!decode_pool_) decode_pool_ = std::make_unique<ThreadPool>(threads);
}

void Session::StopDecodePool() {
  if (!decode_pool_) return;
  decode_pool_->CancelPending();
  decode_pool_.reset();
}

}  // namespace czifs
