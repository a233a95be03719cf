// PageReader: the one read path. Serves any byte range of any TIFF in a
// Catalog: the TIFF's fixed bytes from its layout, its pixels page by page,
// composed from decoded subblocks. Per page a read prepares (decodes the
// subblocks the range needs, in parallel on the pool, pinning them until
// the read is done), fills (composes rows straight into the reply), and
// queues read-ahead for what a sequential reader asks next.
//
// Thread-safety: immutable; Read may be called from any number of threads.
// Pool tasks hold shared ownership of the reader, so they may outlive the
// read that queued them and the document that owns the reader.
#pragma once

#include <functional>
#include <memory>
#include <span>

#include "czifs/catalog.h"
#include "czifs/compose.h"
#include "czifs/interrupt.h"

namespace czifs {

class ThreadPool;

// How one read runs: helpers, a cancel flag, read-ahead, and what it does
// with tiles that do not decode.
struct ReadContext {
  ThreadPool* pool = nullptr;  // decodes a read's subblocks in parallel; null: this thread only
  // Raised once the requester gave up (null: never); waiting for decodes
  // subscribes to it, so a raise wakes the read at once. Pool threads may
  // look at it after the read returned: shared.
  std::shared_ptr<Interrupt> interrupt;
  bool cancelled() const { return interrupt && interrupt->raised(); }
  // Decode the subblocks of this many bytes past the read, in the background.
  uint64_t readahead_bytes = 0;
  DamagedTiles damaged = DamagedTiles::kFail;
};

class PageReader : public std::enable_shared_from_this<PageReader> {
 public:
  static std::shared_ptr<const PageReader> Create(std::shared_ptr<const CziFile> czi,
                                                  std::shared_ptr<const Catalog> catalog,
                                                  std::shared_ptr<Session> session);

  // Produces bytes [offset, offset + len) of served TIFF `tiff` (one the
  // catalogue described; clipped to its size) into `out`; returns the count (0 at end).
  Result<size_t> Read(const ServedTiff& tiff, uint64_t offset, size_t len, uint8_t* out,
                      const ReadContext* ctx = nullptr) const;

  const SubblockReader& subblocks() const { return subblocks_; }
  const Catalog& catalog() const { return *catalog_; }

 private:
  struct Pinned;
  PageReader(std::shared_ptr<const CziFile> czi, std::shared_ptr<const Catalog> catalog,
             std::shared_ptr<Session> session);
  // Decodes the subblocks that pixel bytes [p0, p1) of `page` need (in
  // parallel on ctx's pool) and pins them in `pinned`.
  Status Prepare(const Page& page, uint64_t p0, uint64_t p1, const ReadContext& ctx,
                 const std::shared_ptr<Pinned>& pinned) const;
  // Produces pixel bytes [pixel_offset, pixel_offset + n) of `page` (TIFF
  // sample order), using what Prepare pinned.
  Status Fill(const Page& page, uint64_t pixel_offset, size_t n, uint8_t* dst, const Pinned& pinned,
              const ReadContext& ctx) const;
  // Fill for a page of one sample per pixel (colour zarr chunks).
  Status FillSample(const Page& page, uint64_t pixel_offset, size_t n, uint8_t* dst,
                    const ComposeOptions& compose) const;
  // Queues background decodes for ctx's read-ahead bytes from row `from_row`
  // of page `page` of `tiff` on: its later pages, then (single-page TIFFs)
  // the TIFFs of its kind that follow it (cp goes file after file).
  void ReadAhead(const ServedTiff& tiff, size_t page, int64_t from_row,
                 const ReadContext& ctx) const;
  // Retires in the cache the subblocks of `page` a reader that read its
  // pixel bytes [span.first, span.second) went past (SubblocksPassed): a
  // sequential reader's tiles are the first to make room (the kernel keeps
  // what it was served).
  void RetirePassed(const Page& page, std::pair<uint64_t, uint64_t> span) const;
  // Puts a tile's own description over its shape's placeholders, where
  // bytes [offset, offset + n) in `out` cover it.
  Status PatchTileDescription(const ServedTiff& tile, uint64_t offset, size_t n,
                              uint8_t* out) const;

  const std::shared_ptr<const CziFile> czi_;
  const std::shared_ptr<const Catalog> catalog_;
  const SubblockReader subblocks_;
};

}  // namespace czifs
