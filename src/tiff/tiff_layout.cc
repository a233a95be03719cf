#include "czifs/tiff_layout.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstring>
#include <mutex>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "czifs/checked.h"
#include "czifs/czi_types.h"
#include "czifs/pyramid_tiff.h"

namespace czifs {

// A memory "file" that keeps every byte libtiff writes except the placeholder
// pixel buffer, whose writes are only recorded.
struct LayoutSink {
  const uint8_t* placeholder = nullptr;
  uint64_t pos = 0;
  uint64_t end = 0;
  struct Write {
    uint64_t offset;
    std::vector<uint8_t> bytes;
  };

  std::vector<Write> literal_writes;
  struct PixelWrite {
    uint64_t offset;
    uint64_t length;
  };
  std::vector<PixelWrite> pixel_writes;
  // While set, the "end of file" libtiff sees (it appends each new strip
  // there): where the current page's pixel data goes.
  std::optional<uint64_t> data_end;
  // If set, where libtiff is told the file ends when it writes a directory
  // (no strip being written): the first directory goes there, each next one
  // after the last bytes of tags written (literal_end).
  std::optional<uint64_t> dir_at;
  uint64_t literal_end = 0;
};

namespace {

// Strips of about this size, so readers issue few requests; never more than
// kMaxStrips of them, so the StripOffsets array of a huge plane stays small.
constexpr uint64_t kTargetStripBytes = 1 << 20;
constexpr uint64_t kMaxStrips = 65536;
// Where the pixels of images larger than kInlinePixelBytes start at the
// earliest: past what the kernel reads ahead of a reader of the header
// (16-64 KiB for a small first read()), so reading the tags decodes
// nothing. (An mmap touched cold reads the mount's readahead around the
// page, 1 MiB: a gap that large would double a 1024² plane's copies that
// keep no holes; libtiff reads the header with read() first.)
// Tags longer than the first read (a stack's directories) get room for two
// of the kernel's read-ahead windows after them: a reader walking them has
// the kernel read up to two windows ahead, each window up to 4 x what was
// read before it and at most the mount's readahead (kMaxReadAheadWindow).
// The gap is zeros.
constexpr uint64_t kPixelStart = 128 << 10;
constexpr uint64_t kFirstRead = 16 << 10;
constexpr uint64_t kMinReadAheadReach = 256 << 10;

// Widest row we compose at once.
constexpr uint64_t kMaxRowBytes = 64ull << 20;
// libtiff is handed this address for pixel data; the sink recognises it and
// never dereferences it, so no strip-sized buffer is ever allocated.
const uint8_t kPixelPlaceholder[16] = {};
// Classic TIFF addresses 4 GiB; leave room for the directory.
constexpr uint64_t kClassicTiffLimit = (1ull << 32) - (16ull << 20);

// libtiff reads back what it wrote when it links a new directory to the
// previous one (the directory's entry count at the last directory offset).
// The latest write that covers the whole range is the answer; such reads hit
// recent writes, so the backwards search is short.
tmsize_t SinkRead(thandle_t h, void* buf, tmsize_t size) {
  auto* s = static_cast<LayoutSink*>(h);
  if (size <= 0) return 0;
  const uint64_t n = static_cast<uint64_t>(size);
  for (auto it = s->literal_writes.rbegin(); it != s->literal_writes.rend(); ++it) {
    if (it->offset <= s->pos && s->pos + n <= it->offset + it->bytes.size()) {
      std::memcpy(buf, it->bytes.data() + (s->pos - it->offset), n);
      s->pos += n;
      return size;
    }
  }
  return 0;  // not written in one piece: libtiff reports the failure
}

tmsize_t SinkWrite(thandle_t h, void* buf, tmsize_t size) {
  auto* s = static_cast<LayoutSink*>(h);
  if (size < 0) return -1;
  const auto* p = static_cast<const uint8_t*>(buf);
  if (p == s->placeholder) {
    s->pixel_writes.push_back({s->pos, static_cast<uint64_t>(size)});
    if (s->data_end) *s->data_end = s->pos + static_cast<uint64_t>(size);
  } else {
    s->literal_writes.push_back({s->pos, std::vector<uint8_t>(p, p + size)});
    s->literal_end = std::max(s->literal_end, s->pos + static_cast<uint64_t>(size));
  }
  s->pos += static_cast<uint64_t>(size);
  s->end = std::max(s->end, s->pos);
  return size;
}

toff_t SinkSeek(thandle_t h, toff_t off, int whence) {
  auto* s = static_cast<LayoutSink*>(h);
  switch (whence) {
    case SEEK_SET:
      s->pos = off;
      break;
    case SEEK_CUR:
      s->pos += off;
      break;
    case SEEK_END:
      s->pos = (s->data_end ? *s->data_end
                : s->dir_at ? std::max(*s->dir_at, s->literal_end)
                            : s->end) +
               off;
      break;
    default:
      return static_cast<toff_t>(-1);
  }
  return s->pos;
}

int SinkClose(thandle_t) { return 0; }
toff_t SinkSize(thandle_t h) { return static_cast<LayoutSink*>(h)->end; }
int SinkMap(thandle_t, void**, toff_t*) { return 0; }
void SinkUnmap(thandle_t, void*, toff_t) {}

int OnTiffError(TIFF*, void*, const char* module, const char* fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  spdlog::error("libtiff {}: {}", module ? module : "", msg);
  return 1;
}
int OnTiffWarning(TIFF*, void*, const char* module, const char* fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  spdlog::debug("libtiff {}: {}", module ? module : "", msg);
  return 1;
}

// ImageJ's private tags: the byte counts of the metadata blocks, and the blocks.
constexpr ttag_t kIjMetadataByteCounts = 50838;
constexpr ttag_t kIjMetadata = 50839;

// Teaches libtiff the two tags (once per process, before any layout).
TIFFExtendProc g_parent_extender = nullptr;
void ExtendTags(TIFF* tif) {
  static const TIFFFieldInfo kFields[] = {
      {kIjMetadataByteCounts, TIFF_VARIABLE2, TIFF_VARIABLE2, TIFF_LONG, FIELD_CUSTOM, 1, 1,
       const_cast<char*>("IJMetadataByteCounts")},
      {kIjMetadata, TIFF_VARIABLE2, TIFF_VARIABLE2, TIFF_BYTE, FIELD_CUSTOM, 1, 1,
       const_cast<char*>("IJMetadata")},
  };
  TIFFMergeFieldInfo(tif, kFields, 2);
  if (g_parent_extender) g_parent_extender(tif);
}
void RegisterImageJTags() {
  static std::once_flag once;
  std::call_once(once, [] { g_parent_extender = TIFFSetTagExtender(ExtendTags); });
}

// Writes every page's tags and (placeholder) strips through libtiff into
// `sink`; the pixel data of page k goes at header + k * page_bytes.
bool WritePages(TIFF* tif, const TiffSpec& spec, uint32_t rows_per_strip, uint64_t row_bytes,
                uint64_t page_bytes, uint64_t header, LayoutSink* sink) {
  const int spp = SamplesPerPixel(spec.pixel_type);
  bool ok = true;
  for (uint32_t page = 0; ok && page < spec.pages; ++page) {
    ok =
        TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, spec.width) &&
        TIFFSetField(tif, TIFFTAG_IMAGELENGTH, spec.height) &&
        TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, BytesPerSample(spec.pixel_type) * 8) &&
        TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, spp) &&
        TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT,
                     IsFloatPixelType(spec.pixel_type) ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_UINT) &&
        TIFFSetField(tif, TIFFTAG_PHOTOMETRIC,
                     spp == 1 ? PHOTOMETRIC_MINISBLACK : PHOTOMETRIC_RGB) &&
        TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
        TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_NONE) &&
        TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, rows_per_strip);
    if (ok && spec.pages > 1) ok = TIFFSetField(tif, TIFFTAG_SUBFILETYPE, 0);
    if (ok && spp == 4) {
      const uint16_t extra = EXTRASAMPLE_UNASSALPHA;
      ok = TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, 1, &extra);
    }
    if (ok && page == 0 && !spec.description.empty()) {
      ok = TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, spec.description.c_str());
    }
    if (ok && page == 0 && !spec.ij_metadata.empty()) {
      ok = TIFFSetField(tif, kIjMetadataByteCounts,
                        static_cast<uint32_t>(spec.ij_metadata_counts.size()),
                        spec.ij_metadata_counts.data()) &&
           TIFFSetField(tif, kIjMetadata, static_cast<uint32_t>(spec.ij_metadata.size()),
                        spec.ij_metadata.data());
    }
    if (ok && spec.pixels_per_um_x && spec.pixels_per_um_y) {
      ok = TIFFSetField(tif, TIFFTAG_XRESOLUTION, *spec.pixels_per_um_x) &&
           TIFFSetField(tif, TIFFTAG_YRESOLUTION, *spec.pixels_per_um_y) &&
           TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT, RESUNIT_NONE);
    }
    if (ok) ok = TIFFSetField(tif, TIFFTAG_SOFTWARE, "czifs");
    sink->data_end = header + page * page_bytes;
    const uint32_t strips = ok ? TIFFNumberOfStrips(tif) : 0;
    for (uint32_t s = 0; ok && s < strips; ++s) {
      const uint32_t rows = std::min<uint32_t>(rows_per_strip, spec.height - s * rows_per_strip);
      const tmsize_t n = static_cast<tmsize_t>(row_bytes * rows);
      ok = TIFFWriteRawStrip(tif, s, const_cast<uint8_t*>(kPixelPlaceholder), n) == n;
    }
    sink->data_end.reset();  // directories go after everything
    if (ok && spec.pages > 1) ok = TIFFWriteDirectory(tif) == 1;
  }
  return ok;
}

// Whether `spec` can be laid out: a known pixel type, a size that fits.
Status CheckSpec(const TiffSpec& spec) {
  const int bpp = BytesPerPixel(spec.pixel_type);
  if (bpp == 0) {
    return Status::NotSupported("pixel type " + PixelTypeName(spec.pixel_type) +
                                " has no TIFF representation in czifs");
  }
  if (spec.width == 0 || spec.height == 0) {
    return Status::InvalidArgument(fmt::format("empty plane ({}x{})", spec.width, spec.height));
  }
  if (spec.pages == 0) return Status::InvalidArgument("a TIFF of zero pages");
  const uint64_t row_bytes = uint64_t{spec.width} * static_cast<uint64_t>(bpp);
  auto page_bytes = CheckedMul<uint64_t>(row_bytes, spec.height);
  auto total = page_bytes ? CheckedMul<uint64_t>(*page_bytes, spec.pages) : std::nullopt;
  if (!total || *total > (1ull << 46)) {
    return Status::ResourceExhausted(
        fmt::format("plane of {}x{} is too large", spec.width, spec.height));
  }
  if (row_bytes > kMaxRowBytes) {
    return Status::ResourceExhausted(fmt::format("plane rows of {} bytes are too wide", row_bytes));
  }
  return Status::Ok();
}

}  // namespace

namespace {

// How the pages' strips are cut, and where things go.
struct Geometry {
  bool big = false;
  uint32_t rows_per_strip = 0;
  uint64_t row_bytes = 0, page_bytes = 0, total = 0;
  uint64_t header = 0;             // 8 (classic) or 16 (BigTIFF)
  uint64_t pixel_start = 0;        // file offset of page 0's first pixel byte
  std::optional<uint64_t> dir_at;  // where the (single) directory goes, if not after the pixels
};

// Lets libtiff write the TIFF of `spec` into a sink laid out as `g` says.
Result<LayoutSink> RunLibtiff(const TiffSpec& spec, const Geometry& g) {
  RegisterImageJTags();
  LayoutSink sink;
  sink.placeholder = kPixelPlaceholder;
  sink.end = g.pixel_start + g.total;
  sink.dir_at = g.dir_at;
  TIFFOpenOptions* opts = TIFFOpenOptionsAlloc();
  TIFFOpenOptionsSetErrorHandlerExtR(opts, OnTiffError, nullptr);
  TIFFOpenOptionsSetWarningHandlerExtR(opts, OnTiffWarning, nullptr);
  TIFF* tif = TIFFClientOpenExt("czifs-layout", g.big ? "wl8" : "wl", &sink, SinkRead, SinkWrite,
                                SinkSeek, SinkClose, SinkSize, SinkMap, SinkUnmap, opts);
  TIFFOpenOptionsFree(opts);
  if (tif == nullptr) return Status::IOError("libtiff could not start a layout");
  const bool ok =
      WritePages(tif, spec, g.rows_per_strip, g.row_bytes, g.page_bytes, g.pixel_start, &sink);
  TIFFClose(tif);
  if (!ok) {
    return Status::IOError(fmt::format("libtiff failed to lay out a {}x{} {} image of {} page(s)",
                                       spec.width, spec.height, PixelTypeName(spec.pixel_type),
                                       spec.pages));
  }
  return sink;
}

Geometry PlanGeometry(const TiffSpec& spec) {
  Geometry g;
  g.row_bytes = uint64_t{spec.width} * static_cast<uint64_t>(BytesPerPixel(spec.pixel_type));
  g.page_bytes = uint64_t{spec.height} * g.row_bytes;
  g.total = g.page_bytes * spec.pages;  // checked by CheckSpec
  // Directories and tags take far less than 64 KiB per page.
  g.big = g.total + uint64_t{spec.pages} * 65536 > kClassicTiffLimit;
  const uint64_t min_rows = (spec.height + kMaxStrips - 1) / kMaxStrips;
  g.rows_per_strip = static_cast<uint32_t>(
      std::clamp<uint64_t>(std::max(kTargetStripBytes / g.row_bytes, min_rows), 1, spec.height));
  g.header = g.big ? 16 : 8;
  g.pixel_start = g.header;
  return g;
}

}  // namespace

Result<std::shared_ptr<const TiffLayout>> TiffLayout::Build(const TiffSpec& spec) {
  if (spec.pyramid) return BuildPyramidTiff(*spec.pyramid);
  CZIFS_RETURN_IF_ERROR(CheckSpec(spec));
  Geometry g = PlanGeometry(spec);
  if (spec.raw) {
    auto layout = std::shared_ptr<TiffLayout>(new TiffLayout());
    layout->size_ = layout->pixel_bytes_ = g.total;
    layout->pages_ = spec.pages;
    layout->pieces_.push_back({0, g.total, PieceKind::kPixels, 0});
    return std::shared_ptr<const TiffLayout>(std::move(layout));
  }
  // The first run measures the directories (libtiff puts them after the
  // pixels); the second puts them right after the header and the pixels
  // after a gap (PixelStartAfter), so a reader of the tags reads the
  // file's first bytes only. A stack's pixels stay contiguous, page after
  // page, as ImageJ reads them (first offset + k * page size).
  CZIFS_ASSIGN_OR_RETURN(LayoutSink sink, RunLibtiff(spec, g));
  const uint64_t directories = sink.end - (g.pixel_start + g.total);
  Geometry first = g;
  first.dir_at = g.header;
  // Each directory may move by a byte (libtiff starts them at even offsets).
  first.pixel_start = TiffPixelStart(g.header + directories + 2ull * spec.pages, g.total);
  auto laid = RunLibtiff(spec, first);
  if (laid.ok() && laid->end == first.pixel_start + first.total &&
      laid->literal_end <= first.pixel_start) {
    const uint64_t tags_end = laid->literal_end;
    auto layout = FromSink(std::move(laid).value(), g.big, spec.pages, g.total, tags_end);
    if (layout.ok()) return layout;
  }
  spdlog::debug(
      "directory-first layout of a {}x{} image of {} page(s) failed; directories after "
      "the pixels",
      spec.width, spec.height, spec.pages);
  return FromSink(std::move(sink), g.big, spec.pages, g.total);
}

uint64_t TiffPixelStart(uint64_t tags_end, uint64_t pixel_bytes) {
  if (pixel_bytes <= kInlinePixelBytes) return (tags_end + 15) / 16 * 16;
  if (tags_end <= kFirstRead) return kPixelStart;
  const uint64_t reach =
      std::clamp(8 * tags_end, kMinReadAheadReach, 2 * kMaxReadAheadWindow);  // 2 windows
  return (tags_end + 4095) / 4096 * 4096 + reach;
}

Result<std::shared_ptr<const TiffLayout>> TiffLayout::FromHead(
    std::vector<uint8_t> head, uint64_t pixel_start, const std::vector<uint64_t>& page_bytes,
    bool big) {
  if (head.size() > pixel_start || page_bytes.empty() || page_bytes.size() > UINT32_MAX) {
    return Status::InvalidArgument("TIFF head overlaps its pixels, or no pages");
  }
  auto layout = std::shared_ptr<TiffLayout>(new TiffLayout());
  uint64_t pixel_bytes = 0;
  layout->page_starts_.reserve(page_bytes.size() + 1);
  for (uint64_t n : page_bytes) {
    layout->page_starts_.push_back(pixel_bytes);
    pixel_bytes += n;
  }
  layout->page_starts_.push_back(pixel_bytes);
  if (std::all_of(page_bytes.begin(), page_bytes.end(),
                  [&](uint64_t n) { return n == page_bytes[0]; })) {
    layout->page_starts_.clear();  // equal pages: PageStart by arithmetic
  }
  const auto pages = static_cast<uint32_t>(page_bytes.size());
  layout->pieces_.push_back({0, head.size(), PieceKind::kLiteral, 0});
  if (pixel_start > head.size()) {
    layout->pieces_.push_back({head.size(), pixel_start - head.size(), PieceKind::kZeros, 0});
  }
  layout->pieces_.push_back({pixel_start, pixel_bytes, PieceKind::kPixels, 0});
  layout->gap_bytes_ = pixel_start - head.size();
  layout->literal_ = std::move(head);
  layout->size_ = pixel_start + pixel_bytes;
  layout->pixel_bytes_ = pixel_bytes;
  layout->pages_ = pages;
  layout->big_tiff_ = big;
  return std::shared_ptr<const TiffLayout>(std::move(layout));
}

Result<std::shared_ptr<const TiffLayout>> TiffLayout::FromSink(LayoutSink sink, bool big,
                                                               uint32_t pages, uint64_t total,
                                                               uint64_t zeros_from) {
  // Turn the write log into pieces: pixel writes are kept as references into
  // the pixel stream, everything between them becomes literal bytes.
  auto layout = std::shared_ptr<TiffLayout>(new TiffLayout());
  layout->size_ = sink.end;
  layout->big_tiff_ = big;
  layout->pages_ = pages;
  std::sort(sink.pixel_writes.begin(), sink.pixel_writes.end(),
            [](const auto& a, const auto& b) { return a.offset < b.offset; });
  // Pieces: pixel writes in file order, the gaps between them literal.
  uint64_t cursor = 0;
  uint64_t pixel_pos = 0;
  uint64_t literal_bytes = 0;
  auto add_literal = [&](uint64_t from, uint64_t to) {
    if (from >= to) return;
    if (zeros_from < to) {  // the padding before the pixels: no bytes kept
      if (from < zeros_from) {
        layout->pieces_.push_back({from, zeros_from - from, PieceKind::kLiteral, literal_bytes});
        literal_bytes += zeros_from - from;
      }
      const uint64_t z = std::max(from, zeros_from);
      layout->pieces_.push_back({z, to - z, PieceKind::kZeros, 0});
      layout->gap_bytes_ += to - z;
      zeros_from = UINT64_MAX;  // one run of padding, before the first pixel
      return;
    }
    layout->pieces_.push_back({from, to - from, PieceKind::kLiteral, literal_bytes});
    literal_bytes += to - from;
  };
  for (const auto& pw : sink.pixel_writes) {
    if (pw.offset < cursor) return Status::IOError("libtiff wrote overlapping strips");
    add_literal(cursor, pw.offset);
    layout->pieces_.push_back({pw.offset, pw.length, PieceKind::kPixels, pixel_pos});
    pixel_pos += pw.length;
    cursor = pw.offset + pw.length;
  }
  add_literal(cursor, sink.end);
  // Literal bytes: replay the writes in order (later ones win, as on disk:
  // libtiff rewrites the header and links directories in place). Each write
  // must land in literal pieces only.
  layout->literal_.assign(literal_bytes, 0);
  for (const auto& w : sink.literal_writes) {
    uint64_t at = w.offset;
    const uint64_t end = w.offset + w.bytes.size();
    if (end > layout->size_) return Status::IOError("libtiff wrote past the end of the file");
    auto it = layout->PieceAt(at);
    while (at < end) {
      if (it == layout->pieces_.end() || it->kind != PieceKind::kLiteral) {
        return Status::IOError("libtiff wrote tag data over pixel data or padding");
      }
      const uint64_t n = std::min(end, it->offset + it->length) - at;
      std::memcpy(layout->literal_.data() + it->source + (at - it->offset),
                  w.bytes.data() + (at - w.offset), n);
      at += n;
      ++it;
    }
  }
  if (pixel_pos != total) {
    return Status::IOError(
        fmt::format("TIFF layout holds {} pixel bytes, expected {}", pixel_pos, total));
  }
  layout->pixel_bytes_ = pixel_pos;
  return std::shared_ptr<const TiffLayout>(std::move(layout));
}

uint64_t TiffLayout::PageOf(uint64_t offset) const {
  if (page_starts_.empty()) return offset / (pixel_bytes_ / pages_);
  const auto it = std::upper_bound(page_starts_.begin(), page_starts_.end(), offset);
  return static_cast<uint64_t>(it - page_starts_.begin()) - 1;
}

uint64_t TiffLayout::pixel_offset() const {
  for (const Piece& p : pieces_) {
    if (p.kind == PieceKind::kPixels) return p.offset;
  }
  return size_;
}

std::vector<TiffLayout::Piece>::const_iterator TiffLayout::PieceAt(uint64_t offset) const {
  auto it = std::upper_bound(pieces_.begin(), pieces_.end(), offset,
                             [](uint64_t off, const Piece& p) { return off < p.offset; });
  return std::prev(it);  // pieces_ starts at offset 0
}

Status TiffLayout::Read(uint64_t offset, size_t len, uint8_t* out, const PixelFill& fill,
                        size_t* produced) const {
  *produced = 0;
  if (offset >= size_) return Status::Ok();
  const uint64_t end = std::min<uint64_t>(size_, offset + len);
  auto it = PieceAt(offset);
  uint64_t pos = offset;
  while (pos < end) {
    const uint64_t in_piece = pos - it->offset;
    const uint64_t n = std::min(end, it->offset + it->length) - pos;
    uint8_t* dst = out + (pos - offset);
    switch (it->kind) {
      case PieceKind::kPixels:
        CZIFS_RETURN_IF_ERROR(fill(it->source + in_piece, static_cast<size_t>(n), dst));
        break;
      case PieceKind::kLiteral:
        std::memcpy(dst, literal_.data() + it->source + in_piece, n);
        break;
      case PieceKind::kZeros:
        std::memset(dst, 0, n);
        break;
    }
    pos += n;
    ++it;
  }
  *produced = static_cast<size_t>(end - offset);
  return Status::Ok();
}

std::optional<uint64_t> TiffLayout::FindLiteral(std::string_view text) const {
  for (const Piece& p : pieces_) {
    if (p.kind != PieceKind::kLiteral) continue;
    const auto* begin = reinterpret_cast<const char*>(literal_.data() + p.source);
    const std::string_view piece(begin, static_cast<size_t>(p.length));
    const size_t at = piece.find(text);
    if (at != std::string_view::npos) return p.offset + at;
  }
  return std::nullopt;
}

std::pair<uint64_t, uint64_t> TiffLayout::PixelRange(uint64_t offset, size_t len) const {
  const uint64_t end = std::min<uint64_t>(size_, offset + len);
  uint64_t first = UINT64_MAX, last = 0;
  if (offset >= size_) return {0, 0};
  for (auto it = PieceAt(offset); it != pieces_.end() && it->offset < end; ++it) {
    const Piece& p = *it;
    if (p.kind != PieceKind::kPixels) continue;
    const uint64_t a = std::max(offset, p.offset), b = std::min(end, p.offset + p.length);
    first = std::min(first, p.source + (a - p.offset));
    last = std::max(last, p.source + (b - p.offset));
  }
  if (first == UINT64_MAX) return {0, 0};
  return {first, last};
}

namespace {

// Swaps the first and third sample of every pixel (B,G,R -> R,G,B) of `n`
// bytes of pixels of `bpp` bytes and `bps` bytes per sample, 16 bytes at a
// time with one byte shuffle (SSSE3): as many whole pixels as fit in 16
// bytes per step; the bytes of a step past its last whole pixel are shuffled
// onto themselves. Returns the bytes done; the rest is for the scalar loop.
#if defined(__x86_64__)
__attribute__((target("ssse3"))) size_t SwapFirstAndThirdSsse3(uint8_t* p, size_t n, size_t bpp,
                                                               size_t bps) {
  const size_t step = 16 / bpp * bpp;
  alignas(16) uint8_t order[16];
  for (size_t i = 0; i < 16; ++i) order[i] = static_cast<uint8_t>(i);
  for (size_t px = 0; px + bpp <= step; px += bpp) {
    for (size_t b = 0; b < bps; ++b) std::swap(order[px + b], order[px + 2 * bps + b]);
  }
  const __m128i mask = _mm_load_si128(reinterpret_cast<const __m128i*>(order));
  if (n < 16) return 0;
  // Each step's 16 bytes overlap the next step's first: the next is loaded
  // before this one is stored (a load of bytes just stored stalls), which is
  // right because the overlap is shuffled onto itself.
  size_t done = 0;
  __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  for (; done + step + 16 <= n; done += step) {
    const __m128i next = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + done + step));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p + done), _mm_shuffle_epi8(v, mask));
    v = next;
  }
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p + done), _mm_shuffle_epi8(v, mask));
  return done + step;
}
#endif

}  // namespace

void ToTiffSampleOrder(int32_t pixel_type, std::span<uint8_t> px) {
  const int spp = SamplesPerPixel(pixel_type);
  if (spp == 1) return;
  const size_t bps = static_cast<size_t>(BytesPerSample(pixel_type));
  const size_t bpp = bps * static_cast<size_t>(spp);
  size_t done = 0;
#if defined(__x86_64__)
  static const bool ssse3 = __builtin_cpu_supports("ssse3");
  if (ssse3 && bpp <= 16) done = SwapFirstAndThirdSsse3(px.data(), px.size(), bpp, bps);
#endif
  uint8_t* p = px.data() + done;
  const size_t n = (px.size() - done) / bpp;
  for (size_t i = 0; i < n; ++i, p += bpp) {
    for (size_t b = 0; b < bps; ++b) std::swap(p[b], p[2 * bps + b]);
  }
}

std::string TiffLibraryVersion() {
  const std::string v = TIFFGetVersion();
  return v.substr(0, v.find('\n')) + "\n";
}

}  // namespace czifs
