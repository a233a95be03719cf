#include "czifs/page_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <thread>
#include <unordered_map>

#include "czifs/mutex.h"
#include "czifs/reduce.h"
#include "czifs/thread_pool.h"

namespace czifs {
namespace {

// How many pages (or TIFFs) past the one being read read-ahead looks at:
// small images (tiles, thumbnails) would put thousands within the byte
// budget, and every read would walk them all.
constexpr size_t kReadAheadPages = 16;

// Adds where() to a failed status; the text is built only on failure (reads
// are a hot path).
template <typename Where>
Status InContext(Status s, const Where& where) {
  return s.ok() ? s : s.WithContext(where());
}

// A tile that does not decode fails the read; say how to read around it.
Status WithDamagedHint(Status s, DamagedTiles damaged) {
  if (s.code() != StatusCode::kDataLoss || damaged != DamagedTiles::kFail) return s;
  return Status::DataLoss(s.message() +
                          "; to read the plane with this tile as zeros, use --damaged=zero");
}

}  // namespace

// Subblocks decoded on the pool for one page of one read, pinned until the
// read is done.
struct PageReader::Pinned {
  mutable Mutex mu;
  CondVar cv;
  size_t remaining GUARDED_BY(mu) = 0;
  std::unordered_map<uint32_t, std::shared_ptr<const Bitmap>> got GUARDED_BY(mu);
  Status error GUARDED_BY(mu);

  // Waits until every subblock is in, or the requester gave up (the
  // interrupt wakes this thread).
  Status Await(const ReadContext& ctx) EXCLUDES(mu) {
    Interrupt::Subscription woken;  // destroyed after `lock` is released
    if (ctx.interrupt) {
      woken = ctx.interrupt->OnRaise([this] {
        MutexLock lock(&mu);
        cv.SignalAll();
      });
    }
    MutexLock lock(&mu);
    while (remaining > 0) {
      if (ctx.cancelled()) return Status::Cancelled("read interrupted");
      cv.Wait(&mu);
    }
    return error;
  }
};

PageReader::PageReader(std::shared_ptr<const CziFile> czi, std::shared_ptr<const Catalog> catalog,
                       std::shared_ptr<Session> session)
    : czi_(czi), catalog_(std::move(catalog)), subblocks_(czi, std::move(session)) {}

std::shared_ptr<const PageReader> PageReader::Create(std::shared_ptr<const CziFile> czi,
                                                     std::shared_ptr<const Catalog> catalog,
                                                     std::shared_ptr<Session> session) {
  return std::shared_ptr<const PageReader>(
      new PageReader(std::move(czi), std::move(catalog), std::move(session)));
}

namespace {

// The rows [first, end) of `page`'s canvas that its pixel bytes [p0, p1) touch.
struct RowRange {
  int64_t first = 0, end = 0;
};
RowRange RowsOf(const Page& page, uint64_t p0, uint64_t p1) {
  const uint64_t row_bytes = PageRowBytes(page);
  return {static_cast<int64_t>(p0 / row_bytes),
          static_cast<int64_t>((p1 + row_bytes - 1) / row_bytes)};
}

}  // namespace

Result<size_t> PageReader::Read(const ServedTiff& t, uint64_t offset, size_t len, uint8_t* out,
                                const ReadContext* given) const {
  static const ReadContext kAlone;
  const ReadContext& ctx = given ? *given : kAlone;
  auto where = [&] { return czi_->path() + ": " + t.path; };
  if (!t.unsupported.empty()) return Status::NotSupported(t.unsupported).WithContext(where());
  auto laid_out = t.layout->Get();
  if (!laid_out.ok()) return laid_out.status().WithContext(where());
  const TiffLayout& layout = **laid_out;
  // Decoded tiles may be cached, but a changed source must not be served from them.
  CZIFS_RETURN_IF_ERROR(InContext(czi_->CheckUnchanged(), where));
  const auto [p0, p1] = layout.PixelRange(offset, len);
  const uint64_t first_page = p1 > p0 ? layout.PageOf(p0) : 0;
  if (layout.pages() != t.pages.size()) {
    return Status::IOError(
               fmt::format("{} pages described for a layout of {}", t.pages.size(), layout.pages()))
        .WithContext(where());
  }
  auto page_where = [&](uint64_t k) {
    return [&, k] {
      return t.pages.size() > 1 ? where() + " (" + catalog_->PlanePathOf(t.pages[k].plane) + ")"
                                : where();
    };
  };
  // Each page the read touches, prepared in turn (its subblocks decoded in parallel).
  std::vector<std::shared_ptr<Pinned>> pins;
  std::vector<std::pair<uint64_t, uint64_t>> spans;  // pixel bytes [a, b) of each page read
  int64_t end_row = 0;
  for (uint64_t k = first_page; p1 > p0 && k < layout.pages() && layout.PageStart(k) < p1; ++k) {
    const uint64_t start = layout.PageStart(k);
    const uint64_t a = std::max(p0, start) - start;
    const uint64_t b = std::min(p1, layout.PageStart(k + 1)) - start;
    auto pin = std::make_shared<Pinned>();
    const Status prepared = Prepare(t.pages[k], a, b, ctx, pin);
    CZIFS_RETURN_IF_ERROR(InContext(WithDamagedHint(prepared, ctx.damaged), page_where(k)));
    pins.push_back(std::move(pin));
    spans.emplace_back(a, b);
    end_row = RowsOf(t.pages[k], a, b).end;
  }
  // Read-ahead follows reads of pixel data, not reads that start in the
  // header or directory (a reader after the tags, whose buffered read also
  // takes in the first rows, must not set off decoding the whole image).
  const bool starts_in_pixels = layout.PixelRange(offset, 1).second > 0;
  if (!pins.empty() && starts_in_pixels && ctx.pool && ctx.readahead_bytes > 0) {
    ReadAhead(t, first_page + pins.size() - 1, end_row, ctx);
  }
  // The layout asks for pixels in [p0, p1) only: always a pinned page.
  auto fill = [&](uint64_t pixel_offset, size_t n, uint8_t* dst) -> Status {
    while (n > 0) {
      const uint64_t k = layout.PageOf(pixel_offset);
      const uint64_t in_page = pixel_offset - layout.PageStart(k);
      const size_t m =
          static_cast<size_t>(std::min<uint64_t>(n, layout.PageStart(k + 1) - pixel_offset));
      const Status filled = Fill(t.pages[k], in_page, m, dst, *pins.at(k - first_page), ctx);
      CZIFS_RETURN_IF_ERROR(InContext(WithDamagedHint(filled, ctx.damaged), page_where(k)));
      pixel_offset += m;
      dst += m;
      n -= m;
    }
    return Status::Ok();
  };
  size_t produced = 0;
  const Status read = layout.Read(offset, len, out, fill, &produced);
  if (!read.ok()) return read;  // in context already
  for (size_t i = 0; i < spans.size(); ++i) RetirePassed(t.pages[first_page + i], spans[i]);
  if (t.kind == TiffKind::kTile) {
    CZIFS_RETURN_IF_ERROR(InContext(PatchTileDescription(t, offset, produced, out), where));
  }
  return produced;
}

void PageReader::RetirePassed(const Page& page, std::pair<uint64_t, uint64_t> span) const {
  if (page.canvas.reduced) return;  // its tiles are made from finer ones, not decoded
  const uint64_t row_bytes = PageRowBytes(page);
  const auto first = static_cast<int64_t>(span.first / row_bytes);
  const auto done = static_cast<int64_t>(span.second / row_bytes);  // rows read to their end
  if (done <= first) return;
  for (uint32_t sb : SubblocksPassed(page.canvas, first, done, subblocks_)) subblocks_.Retire(sb);
}

Status PageReader::PatchTileDescription(const ServedTiff& tile, uint64_t offset, size_t n,
                                        uint8_t* out) const {
  const uint64_t d0 = tile.layout->description_offset();
  const uint64_t d1 = d0 + tile.layout->spec().description.size();
  const uint64_t a = std::max(offset, d0), b = std::min<uint64_t>(offset + n, d1);
  if (a >= b) return Status::Ok();
  std::string xml;
  CZIFS_RETURN_IF_ERROR(czi_->ReadSubblockHead(tile.subblock, &xml).status());
  const SubblockTags tags = ParseSubblockTags(xml);
  const std::string text = catalog_->TileDescription(czi_->subblocks()[tile.subblock], &tags);
  if (text.size() != d1 - d0) return Status::IOError("tile description changed length");
  std::memcpy(out + (a - offset), text.data() + (a - d0), b - a);
  return Status::Ok();
}

Status PageReader::Prepare(const Page& page, uint64_t p0, uint64_t p1, const ReadContext& ctx,
                           const std::shared_ptr<Pinned>& pinned) const {
  if (!ctx.pool || p1 <= p0) return Status::Ok();
  const RowRange rows = RowsOf(page, p0, p1);
  if (page.canvas.reduced) {  // a computed level: its tiles, made in parallel
    const ComposeOptions compose{nullptr, ctx.damaged, ctx.pool, ctx.interrupt.get()};
    return PrepareReduced(page.canvas, rows.first, rows.end, subblocks_, compose);
  }
  std::vector<uint32_t> need = SubblocksToDecode(page.canvas, rows.first, rows.end, subblocks_);
  std::erase_if(need, [&](uint32_t sb) { return subblocks_.IsCached(sb); });
  if (need.size() <= 1) return Status::Ok();  // this thread decodes it while filling
  // Concurrent reads of the same rows (the kernel's read-ahead sends several
  // at once) start at different places in the list, so they decode
  // different tiles instead of waiting on each other's.
  const size_t start = std::hash<std::thread::id>()(std::this_thread::get_id()) % need.size();
  std::rotate(need.begin(), need.begin() + static_cast<ptrdiff_t>(start), need.end());
  {
    MutexLock lock(&pinned->mu);
    pinned->remaining = need.size();
  }
  // Pool workers and this thread all take subblocks from one list, so the
  // reading thread decodes too instead of only waiting. Helpers may run
  // after an interrupted read returned and after the document left the
  // tree (its source changed): they own what they use.
  auto list = std::make_shared<const std::vector<uint32_t>>(std::move(need));
  auto next = std::make_shared<std::atomic<size_t>>(0);
  auto work = [self = shared_from_this(), list, next, pinned, interrupt = ctx.interrupt,
               damaged = ctx.damaged] {
    for (size_t k; (k = next->fetch_add(1)) < list->size();) {
      Result<std::shared_ptr<const Bitmap>> r = Status::Cancelled("read interrupted");
      if (!interrupt || !interrupt->raised()) r = self->subblocks_.Get((*list)[k]);
      MutexLock lock(&pinned->mu);
      if (r.ok()) {
        pinned->got[(*list)[k]] = std::move(r).value();
      } else if (pinned->error.ok() && !MaySkip(damaged, r.status())) {
        pinned->error = r.status();
      }
      if (--pinned->remaining == 0) pinned->cv.SignalAll();
    }
  };
  const size_t helpers = std::min(ctx.pool->size(), list->size() - 1);
  for (size_t h = 0; h < helpers; ++h) ctx.pool->Submit(work);
  work();
  return pinned->Await(ctx);
}

Status PageReader::Fill(const Page& page, uint64_t pixel_offset, size_t n, uint8_t* dst,
                        const Pinned& pinned, const ReadContext& ctx) const {
  const Canvas& canvas = page.canvas;
  const uint64_t bpp = static_cast<uint64_t>(BytesPerPixel(canvas.pixel_type));
  const uint64_t row_bytes = RowBytes(canvas);
  BitmapSource source = [&](uint32_t sb) -> Result<std::shared_ptr<const Bitmap>> {
    {
      MutexLock lock(&pinned.mu);
      auto it = pinned.got.find(sb);
      if (it != pinned.got.end()) return it->second;
    }
    return subblocks_.Get(sb);
  };
  const ComposeOptions compose{&source, ctx.damaged, ctx.pool, ctx.interrupt.get()};
  if (page.sample >= 0) return FillSample(page, pixel_offset, n, dst, compose);
  // Whole rows are composed straight into the reply; only a partial first or
  // last row goes through a one-row scratch buffer.
  thread_local std::vector<uint8_t> row;
  uint64_t pos = pixel_offset;
  while (n > 0) {
    const uint64_t r = pos / row_bytes;
    const uint64_t in_row = pos - r * row_bytes;
    if (in_row == 0 && n >= row_bytes) {
      const uint64_t full = n / row_bytes;
      CZIFS_RETURN_IF_ERROR(ComposeRows(canvas, static_cast<int64_t>(r),
                                        static_cast<int64_t>(r + full), subblocks_, dst, compose));
      ToTiffSampleOrder(canvas.pixel_type, std::span<uint8_t>(dst, full * row_bytes));
      pos += full * row_bytes;
      dst += full * row_bytes;
      n -= static_cast<size_t>(full * row_bytes);
      continue;
    }
    // Part of one row: compose just the pixels it covers (a row of a huge
    // mosaic can be tens of MB; a 4 KiB read must not compose all of it).
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n, row_bytes - in_row));
    const uint64_t c0 = in_row / bpp, c1 = (in_row + k + bpp - 1) / bpp;
    row.resize(static_cast<size_t>((c1 - c0) * bpp));
    CZIFS_RETURN_IF_ERROR(ComposeRegion(canvas, static_cast<int64_t>(r),
                                        static_cast<int64_t>(r) + 1, static_cast<int64_t>(c0),
                                        static_cast<int64_t>(c1), subblocks_, row.data(), compose));
    ToTiffSampleOrder(canvas.pixel_type, row);
    std::memcpy(dst, row.data() + (in_row - c0 * bpp), k);
    pos += k;
    dst += k;
    n -= k;
  }
  return Status::Ok();
}

Status PageReader::FillSample(const Page& page, uint64_t pixel_offset, size_t n, uint8_t* dst,
                              const ComposeOptions& compose) const {
  // Rows of whole pixels into scratch, in TIFF sample order; then one
  // sample of each pixel out.
  const Canvas& canvas = page.canvas;
  const uint64_t out_row = PageRowBytes(page);
  const size_t bps = static_cast<size_t>(BytesPerSample(canvas.pixel_type));
  const size_t bpp = static_cast<size_t>(BytesPerPixel(canvas.pixel_type));
  const size_t skip = static_cast<size_t>(page.sample) * bps;
  thread_local std::vector<uint8_t> rows;
  const int64_t first = static_cast<int64_t>(pixel_offset / out_row);
  const int64_t end = static_cast<int64_t>((pixel_offset + n + out_row - 1) / out_row);
  rows.resize(static_cast<size_t>(end - first) * RowBytes(canvas));
  CZIFS_RETURN_IF_ERROR(ComposeRows(canvas, first, end, subblocks_, rows.data(), compose));
  ToTiffSampleOrder(canvas.pixel_type, rows);
  const uint64_t base = static_cast<uint64_t>(first) * out_row;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t at = pixel_offset + i - base;  // in the sample stream of these rows
    dst[i] = rows[static_cast<size_t>(at / bps) * bpp + skip + static_cast<size_t>(at % bps)];
  }
  return Status::Ok();
}

void PageReader::ReadAhead(const ServedTiff& t, size_t page, int64_t from_row,
                           const ReadContext& ctx) const {
  uint64_t budget = ctx.readahead_bytes;
  std::optional<TiffId> id = t.id;
  ServedTiff described;  // the file after t, for single-page ones
  for (size_t k = 0; budget > 0 && k <= kReadAheadPages; ++k, from_row = 0) {
    // The k-th page a sequential reader reads after this one.
    const Page* next = nullptr;
    if (t.pages.size() > 1) {
      if (page + k >= t.pages.size()) break;
      next = &t.pages[page + k];
    } else if (k == 0) {
      next = &t.pages[0];
    } else {
      id = catalog_->Next(*id);
      if (!id) break;
      auto d = catalog_->Describe(*id);
      if (!d.ok() || !d->unsupported.empty() || d->pages.empty()) continue;
      described = std::move(d).value();
      next = &described.pages[0];
    }
    const Canvas& canvas = next->canvas;
    const uint64_t row_bytes = PageRowBytes(*next);
    if (from_row >= canvas.height) continue;
    const int64_t rows = static_cast<int64_t>(std::max<uint64_t>(1, budget / row_bytes));
    const int64_t end = std::min<int64_t>(canvas.height, from_row + rows);
    budget -= std::min<uint64_t>(budget, static_cast<uint64_t>(end - from_row) * row_bytes);
    std::atomic<int>& in_flight = subblocks_.session().readahead_in_flight;
    for (uint32_t sb : SubblocksToDecode(canvas, from_row, end, subblocks_)) {
      if (subblocks_.IsCached(sb)) continue;
      // At most 2 x pool size read-ahead tasks queued at once, across all
      // reads; more would only delay the decodes that readers wait for.
      if (in_flight.load() >= static_cast<int>(ctx.pool->size() * 2)) return;
      in_flight.fetch_add(1);
      // The task keeps the reader: its document may leave the tree first.
      ctx.pool->Submit([self = shared_from_this(), sb] {
        (void)self->subblocks_.Get(sb);
        self->subblocks_.session().readahead_in_flight.fetch_sub(1);
      });
    }
  }
}

}  // namespace czifs
