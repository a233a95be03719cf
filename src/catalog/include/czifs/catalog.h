// Catalog: for one CZI, the TIFFs czifs serves from its pixels, each a
// path, a layout and a list of pages, described on demand. A plane, a raw
// tile and a pyramid level have one page; a scene's hyperstack has one per
// plane. Paths are made here (from the coordinates and the padded index
// names of ImageIndex::IndexName): planes
// S<s>/C<c>/T<t>/Z<z>[_H<h>...].tif, tiles/<plane>/M<m>.tif,
// pyramid/L<n>/<plane>.tif, S<s>/hyperstack.tif, and the OME-Zarr chunks
// S<s>.ome.zarr/<level>/<t>/<c>/<z>/<y>/<x> (zarr.cc).
//
// Nothing is kept per served file: a file is a TiffId (a few numbers), a
// folder a FolderKey; List() names a folder's entries and Describe() a
// file's pages and layout when someone looks (folders.cc), from the
// ImageIndex by arithmetic. A file of a million subblocks costs the same
// to open whatever it serves.
//
// One class over six files, one per kind of served file (each group of
// methods below names its file): they share the catalogue's immutable
// index, metadata and layouts, and nothing else.
//
// Thread-safety: immutable after Build() except the layouts, each built
// once on first use (SharedLayout) and kept by shape (layouts_mu_); all
// methods may be called concurrently.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "czifs/compose.h"
#include "czifs/czi_file.h"
#include "czifs/image_index.h"
#include "czifs/metadata.h"
#include "czifs/mutex.h"
#include "czifs/reduce.h"
#include "czifs/tiff_layout.h"
#include "czifs/timing.h"

namespace pugi {
class xml_node;
}

namespace czifs {

// Which of the optional served files are shown (--without): a filter over
// the catalogue, the same for the mount and `czifs export`.
struct CatalogOptions {
  bool tiles = true;        // tiles/
  bool pyramid = true;      // pyramid/
  bool hyperstacks = true;  // S<s>/hyperstack.tif
  bool zarr = true;         // S<s>.ome.zarr/
  bool ometiff = true;      // S<s>.ome.tif
  // Side of a zarr chunk in pixels (--zarr-chunk); planes smaller than a
  // chunk are stacked along Z up to about as many pixels.
  uint32_t zarr_chunk = kDefaultZarrChunk;
  static constexpr uint32_t kDefaultZarrChunk = 1024, kMinZarrChunk = 64, kMaxZarrChunk = 8192;
  // Zarr levels go down until the larger side is at most this (or the chunk side).
  static constexpr int64_t kThumbnailSide = 512;
  // Zarr chunks one image may have (a bogus scene size must not make
  // folders of millions of chunk files); past it the image is left out,
  // the planes stay. No option sets it; tests lower it.
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
  // TiffLayout::memory_bytes() if the layout exists already, else 0.
  size_t MemoryBytesIfBuilt() const;
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
// kOmeTiff: a scene's pyramidal OME-TIFF (pyramid_tiff.h), a page per tile.
enum class TiffKind { kPlane, kTile, kPyramid, kHyperstack, kZarrChunk, kOmeTiff };

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
  uint32_t factor = 1;   // file pixels per array pixel: 2^position
  uint32_t pyramid = 0;  // the file's pyramid level it is drawn from (0: the planes)
  // 0: drawn from the file's subblocks; else computed (reduce.h): the
  // level drawn from `pyramid` halved this many times.
  uint32_t halvings = 0;
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
  uint64_t suffix = 0;      // which combination of H, I, R, V, B, A (ImageIndex::PlaneAt)
  int32_t pixel_type = 0;   // of its planes (a sample's type is the dtype)
  uint32_t frames = 1, channels = 1, slices = 1, samples = 1;  // T, C, Z; samples per pixel
  std::vector<uint32_t> channel_planes;  // a plane of each channel (its metadata)
  std::vector<ZarrLevel> levels;         // full resolution first
};

// One served file, by numbers (Catalog::Describe makes the rest).
struct TiffId {
  TiffKind kind = TiffKind::kPlane;
  // kPlane: the plane; kTile: the subblock; kPyramid: the position in
  // ImageIndex::pyramid_planes(); kHyperstack: the scene; kZarrChunk,
  // kOmeTiff: the (OME-Zarr) image.
  uint32_t index = 0;
  // kZarrChunk: level position, t, channel x samples + sample, z / depth,
  // chunk row and column.
  uint32_t level = 0, t = 0, c = 0, z = 0, y = 0, x = 0;
  bool operator==(const TiffId&) const = default;
};

// A folder of a CZI's tree, by numbers.
enum class FolderKind : uint8_t {
  kRoot,       // the CZI's folder: scenes, tiles/, pyramid/, the OME-Zarr images
  kPlanes,     // S<s>/ (depth 1: C folders and hyperstack.tif), S<s>/C<c>/ (2), S<s>/C<c>/T<t>/ (3)
  kTiles,      // tiles/ (0), then as kPlanes, depth 4 = a plane's tile files
  kPyramid,    // pyramid/ (depth 0: L<n>/), pyramid/L<n>/ (1: scenes) ... (4: plane files)
  kZarrImage,  // S<s>.ome.zarr/: its levels
  kZarrLevel,  // <level>/: t
  kZarrT,      // <t>/: channels x samples
  kZarrC,      // <c>/: z / depth
  kZarrZ,      // <z>/: chunk rows
  kZarrY,      // <y>/: chunk files
  kAttachments,  // attachments/ (the tree's own: the catalogue has nothing in it)
  kOme,          // OME/ of the bioformats2raw layout (the tree's own, as attachments/)
  // plate.ome.zarr/ (an NGFF plate), its row folders (`y`: the row) and
  // wells (`y`, `x`: row and column); the tree's own. A well's fields are
  // kZarrImage folders of the scenes' images.
  kPlate,
  kPlateRow,
  kWell,
};
struct FolderKey {
  FolderKind kind = FolderKind::kRoot;
  uint32_t depth = 0;
  // Plane trees: the planes below this folder, [first, end); pyramid: its
  // level number; zarr: the level's position in its image.
  uint32_t first = 0, end = 0, level = 0;
  // Zarr: the image and the indices above this folder (as TiffId).
  uint32_t image = 0, t = 0, c = 0, z = 0, y = 0;
  uint32_t x = 0;  // kWell: the column
  bool operator==(const FolderKey&) const = default;
};

// One entry of a folder: a folder (`folder`) or a served file (`tiff`).
struct CatalogEntry {
  std::string name;
  bool is_dir = false;
  FolderKey folder;
  TiffId tiff;
};

struct ServedTiff {
  TiffKind kind = TiffKind::kPlane;
  TiffId id;
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

// The name of `image`'s OME-TIFF ("S0.ome.tif" for "S0.ome.zarr").
std::string OmeTiffName(const ZarrImage& image);

// Why subblock `e` alone cannot be a TIFF (a tile), or "".
std::string TileProblem(const SubblockEntry& e);

class Catalog {
 public:
  // Reads no pixels and describes no served file: the OME-Zarr images,
  // the frame timing and what every served file of a kind has in common.
  static Result<std::shared_ptr<const Catalog>> Build(std::shared_ptr<const CziFile> czi,
                                                      std::shared_ptr<const ImageIndex> index,
                                                      std::shared_ptr<const ImageMetadata> metadata,
                                                      const CatalogOptions& options = {});

  // The entries of `folder` that `shown` shows (its tiles, pyramid,
  // hyperstacks, zarr), sorted by name; a folder only when something is in
  // it. Served files that cannot be served are left out (except pyramid
  // levels whose layout fails: Describe says so).
  Result<std::vector<CatalogEntry>> List(const FolderKey& folder,
                                         const CatalogOptions& shown) const;
  // What served file `id` draws, and its layout (built now if first of its
  // shape). `pages` false: the layout only (a listing; OME-TIFFs have a
  // page per tile).
  Result<ServedTiff> Describe(const TiffId& id, bool pages = true) const;
  // The file a reader going file after file reads after `id` (read-ahead): the
  // next plane, tile, pyramid plane or chunk, if any.
  std::optional<TiffId> Next(const TiffId& id) const;
  // The path of plane `p` (PlanePath), of the tile showing subblock `sb`
  // ("" when it has none: every tile is its plane, or it cannot be served).
  std::string PlanePathOf(uint32_t p) const;
  std::string TilePathOf(uint32_t sb) const;
  // Raw tiles served, and pyramid levels with a plane that can be served (info.json).
  uint64_t TileCount() const;
  std::vector<uint32_t> ServedPyramidLevels() const;

  // The OME-Zarr images (their chunks are TiffIds of kind kZarrChunk).
  const std::vector<ZarrImage>& zarr_images() const { return zarr_; }
  // The OME-XML (schema 2016-06) of the OME-Zarr images `images` (positions
  // in zarr_images()): with a TiffData per plane (the OME-TIFF's
  // directories) or MetadataOnly.
  std::string OmeXml(const std::vector<uint32_t>& images, bool tiff_data) const;
  // An image's name for viewers: the image ("S0"), and ZEN's scene name if it has one.
  std::string OmeName(const ZarrImage& image) const;
  // The time between the file's time points (hyperstacks carry it).
  const FrameTiming& frame_timing() const { return frame_timing_; }
  // A tile's description with its subblock's values (`tags` null:
  // placeholders); every tile of one shape gets one of the same length.
  std::string TileDescription(const SubblockEntry& e, const SubblockTags* tags) const;
  // Bytes it holds beyond the index (images, layouts built so far).
  size_t MemoryBytes() const;

 private:
  Catalog() = default;
  // Planes (folders.cc).
  Result<ServedTiff> DescribePlane(uint32_t p) const;
  Result<ServedTiff> DescribeTile(uint32_t sb) const;
  Result<ServedTiff> DescribePyramid(uint32_t pp) const;
  Result<ServedTiff> DescribeHyperstack(uint32_t s) const;  // hyperstacks.cc
  // Why subblock `sb` has no tile file, or "" when it has one.
  std::string NoTile(uint32_t sb) const;
  // The tile number of subblock `sb` of plane `p` (its M, or its drawing position).
  int64_t TileNumber(uint32_t p, uint32_t sb) const;
  bool HasTiles(uint32_t first, uint32_t end) const;
  bool HasPyramid(uint32_t level, uint32_t first, uint32_t end) const;
  // The position in pyramid_planes() of (level, plane), or -1.
  int64_t PyramidOf(uint32_t level, uint32_t plane) const;
  Result<std::vector<CatalogEntry>> ListPlaneTree(const FolderKey& folder,
                                                  const CatalogOptions& shown) const;
  Result<std::vector<CatalogEntry>> ListRoot(const CatalogOptions& shown) const;
  void ScanTiles();
  // The layout shared by every file of one shape, made once (not laid out
  // yet); why not when `spec` fails. BuiltLayoutOf also lays it out.
  using LayoutKey = std::tuple<int, int64_t, int64_t, int64_t, int64_t>;
  Result<std::shared_ptr<const SharedLayout>> LayoutOf(
      const LayoutKey& key, const std::function<Result<TiffSpec>()>& spec,
      bool locate_description = false) const;
  Result<std::shared_ptr<const SharedLayout>> BuiltLayoutOf(
      const LayoutKey& key, const std::function<Result<TiffSpec>()>& spec,
      bool locate_description = false) const;

  // OME-TIFF (ome_tiff.cc) and OME-XML (ome_xml.cc).
  Result<ServedTiff> DescribeOmeTiff(uint32_t image, bool pages) const;
  Result<TiffSpec> OmeTiffSpec(const ZarrImage& image, uint32_t i) const;
  // The pages of level `l` of plane (t, c, z) of `image`: its tiles (w x h).
  void AddOmeTiffLevel(const ZarrImage& image, uint32_t l, std::array<uint32_t, 3> tcz,
                       std::pair<int64_t, int64_t> tile, const SubblockTable& sbs,
                       std::vector<Page>* pages) const;
  void AppendOmeImage(const ZarrImage& image, uint32_t n, bool tiff_data, bool objective,
                      pugi::xml_node* ome) const;
  void AppendOmeChannel(const ZarrImage& image, uint32_t n, uint32_t c, pugi::xml_node* px) const;

  // Zarr (zarr.cc).
  void AddZarr();
  // The levels of `img` (whose planes are `members`): factors of 2 down to
  // a thumbnail, drawn where the file has the level, computed otherwise.
  void AddLevels(ZarrImage* img, const std::vector<uint32_t>& members) const;
  Status CheckChunkCount(const ZarrImage& image) const;
  Status TooManyChunks() const;
  // The pages of chunk `id` (one per plane it stacks), with the subblocks touching it.
  Result<ServedTiff> DescribeChunk(const TiffId& id) const;
  Result<std::vector<CatalogEntry>> ListZarr(const FolderKey& folder) const;
  // The pages (a canvas per plane) of level `level` of `image` at (t, c, z), or nullopt.
  std::optional<Page> LevelPage(const ZarrImage& image, uint32_t level, uint32_t t, uint32_t c,
                                uint32_t z) const;
  // The chunks (row, column) the subblocks of `pages` touch.
  std::vector<std::pair<uint32_t, uint32_t>> ChunksTouched(const ZarrLevel& level,
                                                           const std::vector<Page>& pages) const;
  std::vector<Page> GroupPages(const ZarrImage& image, uint32_t level, uint32_t t, uint32_t c,
                               uint32_t zc) const;

  std::shared_ptr<const CziFile> czi_;
  std::shared_ptr<const ImageIndex> index_;
  std::shared_ptr<const ImageMetadata> metadata_;
  CatalogOptions options_;
  std::vector<ZarrImage> zarr_;
  FrameTiming frame_timing_;
  TiffSpec base_;  // what every TIFF has in common (calibration, ...)
  // Tiles: whether any tile differs from its plane (else there are none),
  // the width of their numbers, and which planes number them by M.
  bool tiles_differ_ = false;
  size_t tile_digits_ = 1;
  std::vector<bool> tiles_by_m_;
  mutable Mutex layouts_mu_;
  mutable std::map<LayoutKey, std::shared_ptr<const SharedLayout>> layouts_ GUARDED_BY(layouts_mu_);
};

}  // namespace czifs
