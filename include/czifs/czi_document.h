// CziDocument: everything czifs serves for one CZI file, built from its
// directory without decoding pixels: the ImageIndex, parsed metadata, the
// TIFF layout of every plane, and generators for info.json, planetable.csv
// and metadata.xml.
//
// Thread-safety: immutable after Open() except for the lazily generated
// planetable (computed once under planetable_mu_), the tile layouts (built
// once per shape under tile_mu_) and the hyperstack layouts (std::call_once).
// All methods are safe to call concurrently.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "czifs/compose.h"
#include "czifs/czi_file.h"
#include "czifs/image_index.h"
#include "czifs/metadata.h"
#include "czifs/tiff_layout.h"

namespace czifs {

class ThreadPool;

// How a read may use helpers: a pool to decode the subblocks it needs in
// parallel and to read ahead, and a flag that says the requester gave up.
struct ReadContext {
  ThreadPool* pool = nullptr;
  // Returns true once the requester gave up; may be called from pool threads
  // after the read returned, so it must own what it looks at.
  std::function<bool()> cancelled;
  // Decode the subblocks of this many bytes past the read, in the background.
  uint64_t readahead_bytes = 0;
};

// One TIFF czifs serves from the file's pixels: a plane, one raw tile
// (tiles/S<s>/C<c>/T<t>/Z<z>/M<m>.tif) or a pyramid level of a plane
// (pyramid/L<n>/S<s>/C<c>/T<t>/Z<z>.tif).
struct Image {
  enum class Kind { kPlane, kTile, kPyramid };
  Kind kind = Kind::kPlane;
  Canvas canvas;
  std::string path;         // in the document's tree
  std::string unsupported;  // why czifs cannot serve it, or ""
  uint32_t plane = 0;       // the full-resolution plane it belongs to
  uint32_t subblock = 0;    // tiles: the subblock shown
  uint32_t level = 0;       // pyramid levels: 1, 2, ...
  // Planes and pyramid levels: laid out at Open (null if unsupported).
  // Tiles: null; tiles of one shape share a layout built on first use.
  std::shared_ptr<const TiffLayout> layout;
};

// The ImageJ hyperstack of one scene: all its C, Z, T planes as pages of
// one TIFF (C fastest, then Z, then T), laid out on first use.
struct SceneStack {
  std::vector<uint32_t> planes;  // plane indices in page order
  uint32_t channels = 0, slices = 0, frames = 0;
  std::string unavailable;       // why the scene has no hyperstack, or ""
  TiffSpec spec;
  mutable std::once_flag once;
  mutable std::shared_ptr<const TiffLayout> layout;  // written once under `once`
  mutable Status layout_status;                      // written once under `once`
};

class CziDocument : public std::enable_shared_from_this<CziDocument> {
 public:
  // Parses `path` and lays out every plane's TIFF. Decodes nothing.
  // `damaged` says what plane reads do with tiles that do not decode.
  static Result<std::shared_ptr<const CziDocument>> Open(
      const std::string& path, std::shared_ptr<SubblockCache> cache,
      DamagedTiles damaged = DamagedTiles::kFail);
  // The same for a file already opened (e.g. beneath a source folder).
  static Result<std::shared_ptr<const CziDocument>> Open(
      std::unique_ptr<RandomAccessFile> file, std::shared_ptr<SubblockCache> cache,
      DamagedTiles damaged = DamagedTiles::kFail);

  const CziFile& czi() const { return *czi_; }
  const ImageIndex& index() const { return index_; }
  const ImageMetadata& metadata() const { return metadata_; }
  const std::string& metadata_xml() const { return metadata_xml_; }
  const SubblockReader& reader() const { return reader_; }
  // Every image served from the file's pixels: the planes first (image i is
  // plane i of index() for i < index().planes().size()), then the raw tiles
  // in plane and drawing order, then the pyramid levels.
  const std::vector<Image>& images() const { return images_; }
  // The TIFF layout of plane `i`, or nullptr if the plane is unsupported.
  const std::shared_ptr<const TiffLayout>& layout(uint32_t i) const { return images_.at(i).layout; }
  // The TIFF layout of image `i` (a tile's is built on first use).
  Result<std::shared_ptr<const TiffLayout>> ImageLayout(uint32_t i) const;
  // Image `i`'s file size if it is known without work (its layout exists).
  std::optional<uint64_t> ImageSizeIfKnown(uint32_t i) const;
  // The image showing layer-0 subblock `sb` alone (its tile), or -1 (also
  // when the file has no tiles/: every tile is exactly its plane).
  int64_t TileOf(uint32_t sb) const { return tile_of_subblock_.at(sb); }

  // Produces bytes of the TIFF of image `i`. Returns bytes produced (0 at end).
  Result<size_t> ReadImage(uint32_t i, uint64_t offset, size_t len, uint8_t* out,
                           const ReadContext* ctx = nullptr) const;

  // The hyperstack of scene `s` (position in index().scenes()).
  const SceneStack& stack(uint32_t s) const { return *stacks_.at(s); }
  // Its TIFF layout (built on first call).
  Result<std::shared_ptr<const TiffLayout>> StackLayout(uint32_t s) const;
  // Produces bytes of scene `s`'s hyperstack TIFF. Returns bytes produced.
  Result<size_t> ReadStack(uint32_t s, uint64_t offset, size_t len, uint8_t* out,
                           const ReadContext* ctx = nullptr) const;

  // info.json: the summary `czifs inspect --json` prints.
  std::string InfoJson() const;
  // The same as readable text, for `czifs inspect`.
  std::string InfoText() const;
  // planetable.csv; reads every subblock's header (not its pixels) once.
  Result<std::string> PlaneTableCsv() const;

 private:
  CziDocument(std::shared_ptr<const CziFile> czi, std::shared_ptr<SubblockCache> cache,
              DamagedTiles damaged)
      : czi_(czi), reader_(czi, std::move(cache), damaged) {}
  Result<std::string> BuildPlaneTable() const;
  // The metadata of plane `p`'s channel, or nullptr.
  const ChannelInfo* ChannelOf(const Plane& p) const;
  // The ImageJ description of plane `p` (or of a pyramid level of it) drawn
  // as `pixel_type`: calibration and its channel's display range.
  std::string PlaneDescription(const Plane& p, int32_t pixel_type) const;
  // Adds the tile and pyramid images after the planes.
  void AddTilesAndPyramid();
  // The ImageJ description of a tile: fixed-width fields, so all tiles of
  // one shape share a layout. `tags` null: placeholders.
  std::string TileDescription(const Image& tile, const SubblockTags* tags) const;
  struct TileShape {
    std::shared_ptr<const TiffLayout> layout;
    uint64_t description_offset = 0;  // where the description's text starts in the file
    uint64_t description_size = 0;    // its length, the same for every tile
  };
  Result<TileShape> TileShapeOf(const Image& tile) const;
  using TileShapeKey = std::tuple<int64_t, int64_t, int32_t>;  // width, height, pixel type
  static TileShapeKey ShapeOf(const Image& tile) {
    return {tile.canvas.width, tile.canvas.height, tile.canvas.pixel_type};
  }
  // Decides, per scene, whether it has a hyperstack and which planes it holds.
  void BuildStacks(const TiffSpec& base);
  struct Prefetch;
  // Decodes the subblocks that pixel-stream bytes [p0, p1) of image `i` need
  // (in parallel on ctx's pool) and pins them in `pinned`; queues read-ahead
  // (see ReadAhead for `then`).
  Status Prepare(uint32_t i, uint64_t p0, uint64_t p1, const ReadContext* ctx,
                 const std::shared_ptr<Prefetch>& pinned,
                 std::span<const uint32_t> then = {}) const;
  // Produces pixel-stream bytes [pixel_offset, pixel_offset + n) of image `i`
  // (TIFF sample order), using what Prepare pinned.
  Status FillPixels(uint32_t i, uint64_t pixel_offset, size_t n, uint8_t* dst,
                    const Prefetch& pinned) const;
  // Queues background decodes for the readahead_bytes after row `from_row`
  // of image `image`, continuing into the images a reader gets next: `then`
  // (a hyperstack's pages from `image` on: then[0] == image), or if empty
  // the images that follow `image` in images() and are of its kind (cp goes
  // file after file).
  void ReadAhead(uint32_t image, int64_t from_row, const ReadContext* ctx,
                 std::span<const uint32_t> then) const;

  // Constant after Open().
  std::shared_ptr<const CziFile> czi_;
  SubblockReader reader_;
  ImageIndex index_;
  ImageMetadata metadata_;
  std::string metadata_xml_;
  std::vector<Image> images_;
  std::vector<int64_t> tile_of_subblock_;  // image index per subblock, or -1
  TiffSpec base_spec_;  // what every image's TIFF has in common (calibration, ...)
  std::vector<std::unique_ptr<SceneStack>> stacks_;  // one per scene

  mutable std::mutex tile_mu_;
  // Shared layouts of tiles by (width, height, pixel type); guarded by tile_mu_.
  mutable std::map<TileShapeKey, TileShape> tile_shapes_;

  mutable std::mutex planetable_mu_;
  mutable std::optional<std::string> planetable_;  // guarded by planetable_mu_
};

}  // namespace czifs
