// SubblockReader: one file's subblocks as decoded bitmaps, through the
// session's cache. Reads a subblock's compressed data, decodes it (JPEG-XR
// in the session's helpers), and keeps it in the cache under the file's id;
// concurrent requests for one subblock decode it once (LruCache).
//
// A subblock that fails to decode because its data is damaged or unsupported
// fails the same way every time (the file cannot change under us: the fd pool
// turns any change into EIO), so the failure is remembered and later reads
// get it at once instead of decoding again (a damaged JPEG-XR tile can spin
// the decoder until its time limit).
//
// Uncompressed subblocks are never decoded or cached: composition reads the
// rows it needs straight from the file (RawDataOffset).
//
// Thread-safety: safe to use from any number of threads; its mutable state
// is the memo of raw data offsets (atomics), the memo of failures (guarded
// by failed_mu_) and the once-per-file log flag. The cache it shares is
// thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "czifs/codec.h"
#include "czifs/czi_file.h"
#include "czifs/mutex.h"
#include "czifs/session.h"

namespace czifs {

class SubblockReader {
 public:
  SubblockReader(std::shared_ptr<const CziFile> czi, std::shared_ptr<Session> session);

  // Returns the decoded bitmap of subblock `index` (from the cache if present).
  Result<std::shared_ptr<const Bitmap>> Get(uint32_t index) const;
  // Returns true if subblock `index` is decoded and cached now.
  bool IsCached(uint32_t index) const;
  // Says a reader is done with subblock `index`: it is among the first to
  // leave the cache (LruCache::Retire).
  void Retire(uint32_t index) const;
  // Returns true if ComposeRows reads this subblock's rows straight from the file.
  static bool ReadsDirectly(const SubblockEntry& e) {
    return e.compression == Raw(Compression::kUncompressed);
  }
  // Returns the file offset of an uncompressed subblock's pixels (memoized),
  // after checking the data holds width x height pixels.
  Result<uint64_t> RawDataOffset(uint32_t index) const;

  const CziFile& czi() const { return *czi_; }
  // This file's id in the session's cache.
  uint64_t file_id() const { return file_id_; }
  // The DataLoss a subblock whose stored size the file cannot hold reads as.
  Status SizeDamage(uint32_t index) const;
  // Logs, once per subblock, that `sb` (failed with `why`) is drawn as zeros.
  void NoteDrawnAsZeros(uint32_t sb, const Status& why) const;
  Session& session() const { return *session_; }

 private:
  Result<std::shared_ptr<const Bitmap>> Decode(uint32_t index) const;

  // Constant after construction.
  const std::shared_ptr<const CziFile> czi_;
  const std::shared_ptr<Session> session_;
  const uint64_t file_id_;
  // Raw data offset per subblock, -1 until first needed.
  const std::unique_ptr<std::atomic<int64_t>[]> raw_offsets_;
  // Subblocks whose decode failed with Corruption or NotSupported, and why.
  mutable Mutex failed_mu_;
  mutable std::unordered_map<uint32_t, Status> failed_ GUARDED_BY(failed_mu_);
  mutable std::unordered_set<uint32_t> zeroed_ GUARDED_BY(failed_mu_);
  // Set the first time a quirk is logged, so each is logged once per file.
  mutable std::atomic<bool> logged_raw_in_compressed_{false};
};

}  // namespace czifs
