// Session: what the files served together share — one mount, or one export.
// It owns the cache of decoded subblocks, the pool of open descriptors, the
// JPEG-XR helper processes, the decode thread pool and the counters that
// .czifs-stats reports. Nothing of this is process-wide: two sessions in one
// process (as in the tests) share nothing.
//
// Thread-safety: every member may be used from any thread, except that
// StartDecodePool and StopDecodePool must not run while reads are served
// (the FUSE layer calls them before the first request and after the last).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "czifs/codec.h"
#include "czifs/file_system.h"
#include "czifs/lru_cache.h"
#include "czifs/random_access_file.h"
#include "czifs/thread_pool.h"

namespace czifs {

// Which subblock of which open file: files get a session-unique id. The
// tiles of computed pyramid levels (reduce.h) share the cache: `index` is
// their plane, `tile` (never 0 for them) says which tile of which level.
struct SubblockKey {
  uint64_t file_id;
  uint32_t index;
  uint64_t tile = 0;
  bool operator==(const SubblockKey&) const = default;
};
struct SubblockKeyHash {
  size_t operator()(const SubblockKey& k) const {
    return std::hash<uint64_t>()((k.file_id * 0x9E3779B97F4A7C15ull ^ k.index) * 31 + k.tile);
  }
};
using SubblockCache = LruCache<SubblockKey, Bitmap, SubblockKeyHash>;

class Session {
 public:
  // A session whose cache holds at most `cache_bytes` of decoded pixels and
  // which keeps at most `max_open_files` source descriptors open, reading
  // its sources from `fs` (null: the real file system).
  static std::shared_ptr<Session> Create(uint64_t cache_bytes, size_t max_open_files = 256,
                                         std::shared_ptr<const FileSystem> fs = nullptr);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  SubblockCache& cache() const { return *cache_; }
  const std::shared_ptr<DescriptorPool>& descriptors() const { return descriptors_; }
  // Where the sources are read from (the io seam).
  const std::shared_ptr<const FileSystem>& fs() const { return fs_; }
  JxrHelpers* jxr_helpers() const { return jxr_helpers_.get(); }

  // Starts `threads` decode workers. Call after fuse_daemonize(): fork()
  // keeps no threads.
  void StartDecodePool(size_t threads);
  // The decode workers; null before StartDecodePool and after StopDecodePool.
  ThreadPool* decode_pool() const { return decode_pool_.get(); }
  // Drops queued decodes and joins the workers (queued tasks hold readers,
  // which hold this session).
  void StopDecodePool();

  // A new id for an opened file's subblocks in the cache.
  uint64_t NewFileId() { return next_file_id_.fetch_add(1, std::memory_order_relaxed); }

  // Counters for .czifs-stats and the tests.
  std::atomic<uint64_t> decoded{0};         // subblocks decoded (not cache hits)
  std::atomic<uint64_t> failed{0};          // decodes that failed (not retried)
  std::atomic<uint64_t> reduced{0};         // tiles of computed pyramid levels made
  std::atomic<uint64_t> parsed{0};          // CZI files parsed (CziDocument::Open)
  std::atomic<int> readahead_in_flight{0};  // read-ahead tasks queued or running

 private:
  Session(uint64_t cache_bytes, size_t max_open_files, std::shared_ptr<const FileSystem> fs);

  const std::unique_ptr<SubblockCache> cache_;
  const std::shared_ptr<DescriptorPool> descriptors_;
  const std::shared_ptr<const FileSystem> fs_;
  const std::unique_ptr<JxrHelpers> jxr_helpers_;
  std::unique_ptr<ThreadPool> decode_pool_;
  std::atomic<uint64_t> next_file_id_{1};
};

}  // namespace czifs
