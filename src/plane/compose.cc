#include "czifs/compose.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "czifs/checked.h"
#include "czifs/reduce.h"

namespace czifs {

Canvas PlaneCanvas(const ImageIndex& index, uint32_t plane_index) {
  const Plane plane = index.planes()[plane_index];
  const Rect& box = index.scenes()[plane.scene].bbox;
  Canvas c;
  c.x = box.x;
  c.y = box.y;
  c.width = box.width;
  c.height = box.height;
  c.pixel_type = plane.pixel_type;
  c.subblocks.assign(plane.subblocks.begin(), plane.subblocks.end());
  return c;
}

Rect Placement(const Canvas& c, const SubblockTable::Geometry& g) {
  const int64_t f = c.downscale;
  return Rect{FloorDiv(int64_t{g.x} - c.x, f), FloorDiv(int64_t{g.y} - c.y, f),
              int64_t{g.stored_width}, int64_t{g.stored_height}};
}

std::vector<uint32_t> SubblocksToDecode(const Canvas& canvas, int64_t row_begin, int64_t row_end,
                                        const SubblockReader& reader) {
  const auto& sbs = reader.czi().subblocks();
  std::vector<uint32_t> out;
  for (uint32_t sb : canvas.subblocks) {
    const Rect at = Placement(canvas, sbs.geometry(sb));
    if (sbs.compression(sb) == Raw(Compression::kUncompressed) || sbs.size_damaged(sb) ||
        at.y >= row_end || at.y + at.height <= row_begin) {
      continue;
    }
    out.push_back(sb);
  }
  return out;
}

std::vector<uint32_t> SubblocksPassed(const Canvas& canvas, int64_t row_begin, int64_t row_end,
                                      const SubblockReader& reader) {
  std::vector<uint32_t> out = SubblocksToDecode(canvas, row_begin, row_end, reader);
  const auto& sbs = reader.czi().subblocks();
  std::erase_if(out, [&](uint32_t sb) {
    const Rect at = Placement(canvas, sbs.geometry(sb));
    return at.y + at.height > row_end || at.x < 0 || at.x + at.width > canvas.width;
  });
  return out;
}

namespace {
// Zeros `bytes` of each of `rows` rows `stride` apart from `dst`.
void ZeroRows(uint8_t* dst, int64_t rows, size_t stride, size_t bytes) {
  for (int64_t r = 0; r < rows; ++r) std::memset(dst + static_cast<size_t>(r) * stride, 0, bytes);
}

// The largest read that serves several rows of an uncompressed tile at once.
constexpr uint64_t kMaxCoalescedRead = 8 << 20;

// Zeros what no subblock of `canvas` covers in `region` (the background), as
// rows of `out`, `stride` bytes apart: band by band between the subblocks'
// top and bottom edges, the gaps between the subblocks spanning the band.
// What a subblock covers is left alone: it is drawn (or zeroed, if damaged)
// after, so the reply is written once, not zeroed first.
void ZeroUncovered(const Canvas& canvas, const SubblockTable& sbs, const Rect& region, uint8_t* out,
                   size_t stride, size_t bpp) {
  thread_local std::vector<Rect> covering;
  thread_local std::vector<int64_t> edges;
  thread_local std::vector<std::pair<int64_t, int64_t>> spans;
  covering.clear();
  edges.assign({region.y, region.y + region.height});
  for (uint32_t sb : canvas.subblocks) {
    const Rect at = Placement(canvas, sbs.geometry(sb));
    const int64_t x0 = std::max(region.x, at.x),
                  x1 = std::min(region.x + region.width, at.x + at.width);
    const int64_t y0 = std::max(region.y, at.y),
                  y1 = std::min(region.y + region.height, at.y + at.height);
    if (x0 >= x1 || y0 >= y1) continue;
    covering.push_back({x0, y0, x1 - x0, y1 - y0});
    edges.push_back(y0);
    edges.push_back(y1);
  }
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  // A sweep down the bands: `active` holds the subblocks spanning the
  // current one (a row of tiles, not all of them: a region of a mosaic of
  // thousands of tiles stays linear).
  std::sort(covering.begin(), covering.end(),
            [](const Rect& a, const Rect& b) { return a.y < b.y; });
  thread_local std::vector<Rect> active;
  active.clear();
  size_t next = 0;
  for (size_t i = 0; i + 1 < edges.size(); ++i) {
    const int64_t ya = edges[i], yb = edges[i + 1];
    std::erase_if(active, [ya](const Rect& r) { return r.y + r.height <= ya; });
    while (next < covering.size() && covering[next].y <= ya) active.push_back(covering[next++]);
    spans.clear();
    for (const Rect& r : active) spans.emplace_back(r.x, r.x + r.width);
    std::sort(spans.begin(), spans.end());
    uint8_t* band = out + static_cast<size_t>(ya - region.y) * stride;
    int64_t x = region.x;
    auto zero_to = [&](int64_t end) {
      if (end <= x) return;
      ZeroRows(band + static_cast<size_t>(x - region.x) * bpp, yb - ya, stride,
               static_cast<size_t>(end - x) * bpp);
    };
    for (const auto& [a, b] : spans) {
      zero_to(a);
      x = std::max(x, b);
    }
    zero_to(region.x + region.width);
  }
}
}  // namespace

Status ComposeRows(const Canvas& canvas, int64_t row_begin, int64_t row_end,
                   const SubblockReader& reader, uint8_t* out, const ComposeOptions& options) {
  return ComposeRegion(canvas, row_begin, row_end, 0, canvas.width, reader, out, options);
}

Status ComposeRegion(const Canvas& canvas, int64_t row_begin, int64_t row_end, int64_t col_begin,
                     int64_t col_end, const SubblockReader& reader, uint8_t* out,
                     const ComposeOptions& options) {
  if (canvas.reduced) {
    return ComposeReducedRegion(canvas, row_begin, row_end, col_begin, col_end, reader, out,
                                options);
  }
  const size_t bpp = static_cast<size_t>(BytesPerPixel(canvas.pixel_type));
  const size_t out_stride = static_cast<size_t>(col_end - col_begin) * bpp;
  const auto& sbs = reader.czi().subblocks();
  ZeroUncovered(canvas, sbs, Rect{col_begin, row_begin, col_end - col_begin, row_end - row_begin},
                out, out_stride, bpp);
  for (uint32_t sb : canvas.subblocks) {
    const Rect at = Placement(canvas, sbs.geometry(sb));
    const int64_t top = at.y;
    const int64_t left = at.x;
    const int64_t y0 = std::max(row_begin, top);
    const int64_t y1 = std::min(row_end, top + at.height);
    const int64_t x0 = std::max(col_begin, left);
    const int64_t x1 = std::min(col_end, left + at.width);
    if (y0 >= y1 || x0 >= x1) continue;
    const SubblockEntry e = sbs[sb];
    const size_t src_row_bytes = static_cast<size_t>(at.width) * bpp;
    const size_t copy_bytes = static_cast<size_t>(x1 - x0) * bpp;
    const size_t src_skip = static_cast<size_t>(x0 - left) * bpp;
    uint8_t* dst = out + static_cast<size_t>(y0 - row_begin) * out_stride +
                   static_cast<size_t>(x0 - col_begin) * bpp;
    if (e.size_damaged) {  // as a tile that does not decode
      const Status why = reader.SizeDamage(sb);
      if (!MaySkip(options.damaged, why)) return why;
      reader.NoteDrawnAsZeros(sb, why);
      ZeroRows(dst, y1 - y0, out_stride, copy_bytes);
      continue;
    }
    if (SubblockReader::ReadsDirectly(e)) {
      CZIFS_ASSIGN_OR_RETURN(const uint64_t data, reader.RawDataOffset(sb));
      const uint64_t src = data + static_cast<uint64_t>(y0 - top) * src_row_bytes + src_skip;
      if (copy_bytes == src_row_bytes && copy_bytes == out_stride) {
        // The tile spans the whole region: one read for all rows.
        CZIFS_RETURN_IF_ERROR(reader.czi()
                                  .ReadBytes(src, static_cast<uint64_t>(y1 - y0) * copy_bytes, dst)
                                  .WithContext(fmt::format("subblock {}", sb)));
      } else {
        // One read for all the rows of this tile the request covers (on slow
        // storage a read per row costs a round trip per row), then a copy per
        // row; only a span far wider than what is wanted is read row by row.
        const uint64_t rows = static_cast<uint64_t>(y1 - y0);
        const uint64_t span = (rows - 1) * src_row_bytes + copy_bytes;
        if (copy_bytes == src_row_bytes) {
          // Whole tile rows: scattered straight into place, one call, one copy.
          CZIFS_RETURN_IF_ERROR(reader.czi()
                                    .ReadRows(src, copy_bytes, rows, dst, out_stride)
                                    .WithContext(fmt::format("subblock {}", sb)));
        } else if (span <= kMaxCoalescedRead && span <= 4 * rows * copy_bytes + (64 << 10)) {
          thread_local std::vector<uint8_t> scratch;
          if (scratch.size() < span) scratch.resize(span);
          CZIFS_RETURN_IF_ERROR(reader.czi()
                                    .ReadBytes(src, span, scratch.data())
                                    .WithContext(fmt::format("subblock {}", sb)));
          for (uint64_t r = 0; r < rows; ++r) {
            std::memcpy(dst + r * out_stride, scratch.data() + r * src_row_bytes, copy_bytes);
          }
        } else {
          for (int64_t y = y0; y < y1; ++y) {
            CZIFS_RETURN_IF_ERROR(
                reader.czi()
                    .ReadBytes(src + static_cast<uint64_t>(y - y0) * src_row_bytes, copy_bytes,
                               dst + static_cast<size_t>(y - y0) * out_stride)
                    .WithContext(fmt::format("subblock {}", sb)));
          }
        }
      }
      continue;
    }
    Result<std::shared_ptr<const Bitmap>> got =
        options.source ? (*options.source)(sb) : reader.Get(sb);
    if (!got.ok() && MaySkip(options.damaged, got.status())) {
      reader.NoteDrawnAsZeros(sb, got.status());
      // A damaged tile drawn as a tile of zeros (later tiles still draw over it).
      ZeroRows(dst, y1 - y0, out_stride, copy_bytes);
      continue;
    }
    CZIFS_ASSIGN_OR_RETURN(std::shared_ptr<const Bitmap> bm, std::move(got));
    for (int64_t y = y0; y < y1; ++y) {
      bm->CopyRow(static_cast<uint32_t>(y - top), static_cast<uint32_t>(x0 - left),
                  static_cast<uint32_t>(x1 - x0), dst + static_cast<size_t>(y - y0) * out_stride);
    }
  }
  return Status::Ok();
}

}  // namespace czifs
