// TiffLayout: the byte layout of an uncompressed TIFF holding one plane (or
// a stack of same-sized planes, one per page),
// computed by letting libtiff write the file into memory with placeholder
// pixel data. The result says, for every byte of the file, whether it is a
// fixed byte (header, directory, tags) or byte k of the pixel stream — so the
// exact size is known without decoding anything, and any byte range can be
// produced by composing only the rows it covers.
//
// The pixel stream is the plane's rows, packed, little-endian, in TIFF sample
// order (R,G,B[,A]); see ToTiffSampleOrder.
//
// Thread-safety: immutable after Build(); safe to share. Build() may run
// concurrently (each call uses its own libtiff handle).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "czifs/status.h"

namespace czifs {

struct LayoutSink;       // tiff_layout.cc: what libtiff wrote
struct PyramidTiffSpec;  // pyramid_tiff.h

struct TiffSpec {
  uint32_t width = 0;
  uint32_t height = 0;
  int32_t pixel_type = 0;                 // CZI pixel type (must be supported)
  std::optional<double> pixels_per_um_x;  // XResolution, when the pixel size is known
  std::optional<double> pixels_per_um_y;
  std::string description;  // ImageDescription ("ImageJ=..."), may be empty
  // ImageJ's private tags on the first page (see imagej.h): 50839 holds
  // `ij_metadata`, 50838 `ij_metadata_counts`. Empty: none.
  std::vector<uint8_t> ij_metadata;
  std::vector<uint32_t> ij_metadata_counts;
  // Number of images (TIFF pages) of this size and type, one after the
  // other; the description goes on the first. The pixel stream is page 0's
  // rows, then page 1's, ...
  uint32_t pages = 1;
  // No TIFF at all: the file is the pixel stream alone (a zarr chunk).
  bool raw = false;
  // A tiled pyramidal TIFF instead (the fields above but pixel_type unused).
  std::shared_ptr<const PyramidTiffSpec> pyramid;
};

class TiffLayout {
 public:
  // Lays out the TIFF for `spec` with libtiff.
  static Result<std::shared_ptr<const TiffLayout>> Build(const TiffSpec& spec);
  // The layout of a TIFF whose header and directories the caller wrote
  // (`head`), then zeros up to `pixel_start`, then the pixel stream: pages
  // of `page_bytes` each, one after the other (pyramid_tiff.h).
  static Result<std::shared_ptr<const TiffLayout>> FromHead(std::vector<uint8_t> head,
                                                            uint64_t pixel_start,
                                                            const std::vector<uint64_t>& page_bytes,
                                                            bool big);

  uint64_t size() const { return size_; }
  uint32_t pages() const { return pages_; }
  uint64_t pixel_bytes() const { return pixel_bytes_; }
  // Where page `k` (<= pages()) starts in the pixel stream (pages() gives
  // its end), and the page holding pixel-stream byte `offset`. Pages are of
  // equal size unless the layout was made FromHead with pages that differ.
  uint64_t PageStart(uint64_t k) const {
    return page_starts_.empty() ? k * (pixel_bytes_ / pages_) : page_starts_[k];
  }
  uint64_t PageOf(uint64_t offset) const;
  // The file offset of the first pixel byte (bytes before it are tags and zeros).
  uint64_t pixel_offset() const;
  // Bytes of the gap of zeros between the tags and the pixels.
  uint64_t gap_bytes() const { return gap_bytes_; }
  bool big_tiff() const { return big_tiff_; }
  // Bytes it holds: its fixed bytes and its tables.
  size_t memory_bytes() const {
    return sizeof(*this) + literal_.capacity() + pieces_.capacity() * sizeof(Piece) +
           page_starts_.capacity() * sizeof(uint64_t);
  }

  // Fills `len` bytes of the pixel stream starting at `pixel_offset` into `out`.
  using PixelFill = std::function<Status(uint64_t pixel_offset, size_t len, uint8_t* out)>;

  // Returns the pixel-stream range [first, last) that file bytes
  // [offset, offset+len) touch; first == last if they touch no pixels.
  std::pair<uint64_t, uint64_t> PixelRange(uint64_t offset, size_t len) const;

  // Returns the file offset where `text` appears among the fixed bytes
  // (e.g. a description to be replaced by one of the same length), if it does.
  std::optional<uint64_t> FindLiteral(std::string_view text) const;

  // Produces bytes [offset, offset+len) of the file (clipped to its size) into
  // `out`; returns the number of bytes produced via `produced`.
  Status Read(uint64_t offset, size_t len, uint8_t* out, const PixelFill& fill,
              size_t* produced) const;

 private:
  enum class PieceKind { kLiteral, kPixels, kZeros };
  struct Piece {
    uint64_t offset;  // in the file
    uint64_t length;
    PieceKind kind;
    uint64_t source;  // pixel-stream offset, or offset into literal_ (kZeros: unused)
  };
  // The layout of what libtiff wrote into `sink`; bytes [zeros_from, the
  // first pixel) are padding that libtiff never writes.
  static Result<std::shared_ptr<const TiffLayout>> FromSink(LayoutSink sink, bool big,
                                                            uint32_t pages, uint64_t total,
                                                            uint64_t zeros_from = UINT64_MAX);
  // The piece holding file offset `offset` (< size_).
  std::vector<Piece>::const_iterator PieceAt(uint64_t offset) const;

  std::vector<Piece> pieces_;          // sorted, contiguous, covering [0, size_)
  std::vector<uint64_t> page_starts_;  // pages + 1 entries, or empty: equal pages
  std::vector<uint8_t> literal_;
  uint64_t size_ = 0;
  uint64_t pixel_bytes_ = 0;
  uint64_t gap_bytes_ = 0;
  bool big_tiff_ = false;
  uint32_t pages_ = 1;
};

// Images of at most this many pixel bytes have their pixels right after the
// tags: a reader of the tags may then read (and czifs decode) them, but that
// costs less than the gap — 128 KiB of zeros that every copy which does not
// keep holes (rsync without -S, tar without --sparse, zip, uploads) writes
// out, 16-32 x the size of a 64 x 64 plane (docs/performance.md, "Small planes").
inline constexpr uint64_t kInlinePixelBytes = 64 << 10;

// The largest read-ahead window the kernel uses for czifs' files by default
// (the mount's readahead, fuse/readahead.h): a reader walking a stack's tags
// must not reach its pixels (with a larger --readahead it may, and decode).
inline constexpr uint64_t kMaxReadAheadWindow = 1 << 20;

// Where the pixels of a TIFF whose tags end at `tags_end` start: for one of
// more than kInlinePixelBytes of pixels, past what the kernel reads around a
// reader of the tags (so reading them decodes nothing); else right after
// the tags (at a multiple of 16).
uint64_t TiffPixelStart(uint64_t tags_end, uint64_t pixel_bytes);

// Reorders samples of packed CZI pixels in place into TIFF order: B,G,R → R,G,B
// (and B,G,R,A → R,G,B,A). Gray types are unchanged.
void ToTiffSampleOrder(int32_t pixel_type, std::span<uint8_t> pixels);

// libtiff's version line ("LIBTIFF, Version 4.5.0").
std::string TiffLibraryVersion();

}  // namespace czifs
