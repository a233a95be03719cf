// Catalog: for one CZI, the immutable list of TIFFs czifs serves from its
// pixels, each a path, a layout and a list of pages. A plane, a raw tile
// and a pyramid level have one page; a scene's hyperstack has one per plane.
// Naming lives here (ImageIndex gives coordinates only): planes
// S<s>/C<c>/T<t>/Z<z>[_H<h>...].tif, tiles/<plane>/M<m>.tif,
// pyramid/L<n>/<plane>.tif, S<s>/hyperstack.tif, and the OME-Zarr chunks
// S<s>.ome.zarr/<level>/<t>/<c>/<z>/<y>/<x> (zarr.cc).
//
// Thread-safety: immutable after Build() except the layouts, each built
// once on first use (SharedLayout); all methods may be called concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "czifs/compose.h"
#include "czifs/czi_file.h"
#include "czifs/image_index.h"
#include "czifs/metadata.h"
#include "czifs/tiff_layout.h"
#include "czifs/timing.h"

namespace czifs {

// Which of the optional served files are shown (--without): a filter over
// the catalogue, the same for the mount and `czifs export`.
struct CatalogOptions {
  bool tiles = true;        // tiles/
  bool pyramid = true;      // pyramid/
  bool hyperstacks = true;  // S<s>/hyperstack.tif
  bool zarr = true;         // S<s>.ome.zarr/
  // Side of a zarr chunk in pixels (--zarr-chunk); planes smaller than a
  // chunk are stacked along Z up to about as many pixels.
  uint32_t zarr_chunk = kDefaultZarrChunk;
  static constexpr uint32_t kDefaultZarrChunk = 1024, kMinZarrChunk = 64, kMaxZarrChunk = 8192;
  // Zarr chunks one file may have (a bogus scene size must not fill
  // memory: ~250 bytes each); past it its images are left out, the planes
  // stay. No option sets it; tests lower it.
  uint64_t max_zarr_chunks = 4u << 20;
};

// Applies a --without list: "tiles", "pyramid", "hyperstacks", separated by
// ',' or ':', any subset; "" leaves everything in. Returns false with
// `error` set on an unknown name.
bool ParseWithout(const std::string& list, CatalogOptions* opts, std::string* error);

// A TIFF layout laid out once, on first use, and shared by every served
// file of one shape (size, pixel type, description).
class SharedLayout {
 public:
  // `locate_description`: also find where the description's text lies in
  // the file (a tile's is replaced by its own text of the same length).
  explicit SharedLayout(TiffSpec spec, bool locate_description = false)
      : spec_(std::move(spec)), locate_description_(locate_description) {}
  Result<std::shared_ptr<const TiffLayout>> Get() const;
  // The file size if the layout exists already (no work).
  std::optional<uint64_t> SizeIfBuilt() const;
  // TiffLayout::gap_bytes() if the layout exists already, else 0.
  uint64_t GapBytesIfBuilt() const;
  // Where the description's text starts (REQUIRES: Get() succeeded, locate_description).
  uint64_t description_offset() const { return description_offset_; }
  const TiffSpec& spec() const { return spec_; }

 private:
  void Build() const;
  const TiffSpec spec_;
  const bool locate_description_;
  mutable std::once_flag once_;
  mutable std::atomic<bool> built_{false};            // set once the fields below are
  mutable std::shared_ptr<const TiffLayout> layout_;  // written once under once_
  mutable Status status_;                             // written once under once_
  mutable uint64_t description_offset_ = 0;           // written once under once_
};

// kZarrChunk: not a TIFF but one chunk of an OME-Zarr array, its raw bytes.
enum class TiffKind { kPlane, kTile, kPyramid, kHyperstack, kZarrChunk };

// One page of a served TIFF: what it draws and the plane it shows.
struct Page {
  Canvas canvas;
  uint32_t plane = 0;  // position in ImageIndex::planes()
  // Colour zarr chunks: only this sample of each pixel (0, 1, 2, 3 for R,
  // G, B, A); -1: whole pixels.
  int32_t sample = -1;
};

// Bytes in one row of `page`'s pixel stream.
inline uint64_t PageRowBytes(const Page& page) {
  if (page.sample < 0) return RowBytes(page.canvas);
  return static_cast<uint64_t>(page.canvas.width) *
         static_cast<uint64_t>(BytesPerSample(page.canvas.pixel_type));
}

// One resolution of an OME-Zarr image: array `path` ("0", "1", ...) of
// shape [T, C x samples, Z, height, width], in chunks of [1, 1, 1, chunk, chunk].
struct ZarrLevel {
  std::string path;
  uint32_t factor = 1;  // file pixels per array pixel
  int64_t width = 0, height = 0;
  int64_t chunk_width = 0, chunk_height = 0;
  // Z planes per chunk: planes smaller than a chunk are stacked along Z
  // until a chunk holds about as many pixels as a full one (a folder
  // walk then meets far fewer chunk folders, a reader far fewer files).
  uint32_t chunk_depth = 1;
};

// One OME-Zarr image: a scene, and one index of each of H, I, R, V, B, A.
struct ZarrImage {
  std::string name;         // "S0.ome.zarr", "S0_H03.ome.zarr"
  std::string unsupported;  // why the scene has none, or ""
  uint32_t scene = 0;       // position in ImageIndex::scenes()
  int32_t pixel_type = 0;   // of its planes (a sample's type is the dtype)
  uint32_t frames = 1, channels = 1, slices = 1, samples = 1;  // T, C, Z; samples per pixel
  std::vector<uint32_t> channel_planes;  // a plane of each channel (its metadata)
  std::vector<ZarrLevel> levels;         // full resolution first
};

struct ServedTiff {
  TiffKind kind = TiffKind::kPlane;
  std::string path;                            // in the CZI's folder
  std::string unsupported;                     // why czifs cannot serve it, or ""
  std::vector<Page> pages;                     // pixel stream: page 0's rows, then page 1's, ...
  std::shared_ptr<const SharedLayout> layout;  // null when unsupported
  uint32_t scene = 0;                          // position in ImageIndex::scenes()
  uint32_t subblock = 0;                       // tiles: the subblock shown
  // Pyramid levels: 1, 2, ...; zarr chunks: the position in their image's levels.
  uint32_t level = 0;
  uint32_t channels = 1, slices = 1, frames = 1;  // hyperstacks: C x Z x T = pages
};

// The path of plane `p`: S<s>/C<c>/T<t>/Z<z>.tif, with _H<h>... for each
// other dimension that has more than one index ("S0/C1/T0/Z07.tif").
std::string PlanePath(const ImageIndex& index, const Plane& p);
// "" or "_H03_I1": plane `p`'s indices of the suffix dimensions that vary
// (the end of its file name, and of its OME-Zarr image's name).
std::string PlaneSuffix(const ImageIndex& index, const Plane& p);

// How many indices dimension `d` has in the file (1 when it has none).
uint32_t DimSize(const ImageIndex& index, Dim d);
// Why the planes `members` cannot be served as one image (a hyperstack, an
// OME-Zarr array): one of them cannot be served, or their pixel types
// differ; "" when they can.
std::string PlanesProblem(const ImageIndex& index, const std::vector<uint32_t>& members);

// The metadata of plane `p`'s channel, or nullptr when the metadata has none.
const ChannelInfo* ChannelOf(const ImageIndex& index, const ImageMetadata& md, const Plane& p);

// True if `options` shows `tiff`.
bool Shows(const CatalogOptions& options, const ServedTiff& tiff);

class Catalog {
 public:
  // Names and lays out what `czi` serves; reads no pixels.
  static Result<std::shared_ptr<const Catalog>> Build(const CziFile& czi, const ImageIndex& index,
                                                      const ImageMetadata& metadata,
                                                      const CatalogOptions& options = {});

  // The planes first (tiffs()[i] is plane i of the index), then the raw
  // tiles in plane and drawing order, the pyramid levels, and one
  // hyperstack per scene (unsupported, with the reason, where it has none).
  const std::vector<ServedTiff>& tiffs() const { return tiffs_; }
  // The hyperstack of scene `s`.
  const ServedTiff& hyperstack(uint32_t s) const { return tiffs_.at(first_stack_ + s); }
  // The tile showing layer-0 subblock `sb` alone, or -1 (also when the file
  // has no tiles/: every tile is exactly its plane).
  int64_t TileOf(uint32_t sb) const { return tile_of_subblock_.at(sb); }
  // The OME-Zarr images (their chunks are tiffs() of kind kZarrChunk).
  const std::vector<ZarrImage>& zarr_images() const { return zarr_; }
  // The time between the file's time points (hyperstacks carry it).
  const FrameTiming& frame_timing() const { return frame_timing_; }
  // A tile's description with its subblock's values (`tags` null:
  // placeholders); every tile of one shape gets one of the same length.
  std::string TileDescription(const SubblockEntry& e, const SubblockTags* tags) const;

 private:
  Catalog() = default;
  Status AddPlanes(const ImageIndex& index, const ImageMetadata& metadata);
  void AddTiles(const CziFile& czi, const ImageIndex& index);
  void AddPyramid(const CziFile& czi, const ImageIndex& index, const ImageMetadata& metadata);
  void AddHyperstacks(const ImageIndex& index, const ImageMetadata& metadata);
  void AddZarr(const CziFile& czi, const ImageIndex& index, const CatalogOptions& options);
  // (chunk row, chunk column) → z → the subblocks of that plane it touches.
  using ChunkSubblocks =
      std::map<std::pair<int64_t, int64_t>, std::map<uint32_t, std::vector<uint32_t>>>;
  // The chunks of `level` the pages `by_z` (one chunk's depth of planes)
  // touch. Both are ResourceExhausted past max_zarr_chunks_ chunk files in
  // the file (the map never holds more than twice that).
  Result<ChunkSubblocks> ChunksTouched(const CziFile& czi, const ZarrLevel& level,
                                       const std::map<uint32_t, const Page*>& by_z);
  Status AddZarrChunks(const CziFile& czi, const ImageIndex& index, const ZarrImage& image,
                       const ZarrLevel& level, const std::vector<Page>& pages);
  Status TooManyChunks() const;
  uint64_t max_zarr_chunks_ = 0;
  uint64_t zarr_chunks_ = 0;

  std::vector<ServedTiff> tiffs_;
  std::vector<ZarrImage> zarr_;
  std::vector<int64_t> tile_of_subblock_;  // tiff per subblock, or -1
  size_t first_stack_ = 0;
  FrameTiming frame_timing_;
  TiffSpec base_;  // what every TIFF has in common (calibration, ...)
};

}  // namespace czifs
