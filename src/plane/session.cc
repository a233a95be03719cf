#include "czifs/session.h"

#include <algorithm>

namespace czifs {
namespace {

// Tiles a sequential reader went past (SubblockReader::Retire) kept for a
// reader that comes back: a band of a wide mosaic's tiles. More only delays
// the reuse of their memory; the kernel keeps what was served.
constexpr uint64_t kRetiredBytes = 16ull << 20;

}  // namespace

std::shared_ptr<Session> Session::Create(uint64_t cache_bytes, size_t max_open_files) {
  return std::shared_ptr<Session>(new Session(cache_bytes, max_open_files));
}

Session::Session(uint64_t cache_bytes, size_t max_open_files)
    : cache_(std::make_unique<SubblockCache>(
          cache_bytes, [](const Bitmap& b) { return static_cast<uint64_t>(b.pixels.size()) + 64; },
          std::min(kRetiredBytes, cache_bytes / 4))),
      descriptors_(std::make_shared<DescriptorPool>(max_open_files)),
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
