// The virtual tree of one CZI: its folders and files with exact sizes and a
// Read(offset, len). MountTree (live/) puts these under the sources' folders;
// the mount serves that tree and `czifs export` writes it, so they agree
// byte for byte. No FUSE here.
//
// Layout per CZI: info.json, metadata.xml, planetable.csv,
// S<s>/C<c>/T<t>/Z<z>[_H<h>...].tif, S<s>/hyperstack.tif, attachments/,
// tiles/<plane folder>/M<m>.tif and pyramid/L<n>/<plane path>.
//
// Thread-safety: a built tree is immutable; Size() and Read() of its files
// may be called concurrently.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "czifs/compose.h"
#include "czifs/czi_document.h"
#include "czifs/page_reader.h"
#include "czifs/status.h"

namespace czifs {

class VirtualFile {
 public:
  virtual ~VirtualFile() = default;
  // Returns the exact size in bytes.
  virtual Result<uint64_t> Size() const = 0;
  // Returns the size if it is known without work (no I/O, no generation).
  virtual std::optional<uint64_t> SizeIfCheap() const { return std::nullopt; }
  // True if Size() may take long (planetable.csv reads every subblock
  // header); false if it needs at most a layout or a small text made from the
  // parsed document (what a tree let go computes before it goes).
  virtual bool SizeTakesLong() const { return false; }
  // Reads up to `len` bytes at `offset` into `out`; returns the count (0 at end).
  virtual Result<size_t> Read(uint64_t offset, size_t len, uint8_t* out) const = 0;
  // Reads with helpers (a decode pool, a cancel flag, read-ahead); files that
  // need none ignore them.
  virtual Result<size_t> ReadWithContext(uint64_t offset, size_t len, uint8_t* out,
                                         const ReadContext* ctx) const {
    return Read(offset, len, out);
  }
  // Bytes known to be a gap of zeros (a TIFF's, before its pixels), once the
  // size is known; 0 if none or not known yet. No work.
  virtual uint64_t GapBytes() const { return 0; }
  // True for TIFF planes (used for progress reporting).
  virtual bool IsPlane() const { return false; }
};

// What each CZI's folder shows besides info.json, metadata.xml,
// planetable.csv, the planes and attachments/, and what plane reads do with
// damaged tiles. The mount and `czifs export` take the same options.
struct TreeOptions {
  DamagedTiles damaged = DamagedTiles::kFail;  // --damaged
  CatalogOptions shown;                        // --without: tiles/, pyramid/, hyperstacks
};

struct TreeNode {
  std::string name;
  bool is_dir = false;
  std::vector<std::shared_ptr<TreeNode>> children;  // sorted by name; folders only
  std::shared_ptr<VirtualFile> file;                // files only

  // Returns the child called `child_name`, or nullptr.
  const TreeNode* Find(const std::string& child_name) const;
};

// A problem met while building: a file that did not open, a plane that cannot
// be served. `where` is the source path, plus the plane's path when there is one.
struct TreeProblem {
  std::string where;  // empty if the message names the place itself
  std::string message;
  std::string ToString() const { return where.empty() ? message : where + ": " + message; }
};

// Returns true for names ending in ".czi" (any case).
bool IsCziFileName(const std::string& name);

// A file whose content `generate` makes on first use (info.json,
// planetable.csv, ...). Its size is cheap once generated; until then,
// SizeIfCheap() says so at once, never waiting behind a generation. A failed
// generation is tried again on the next use.
std::shared_ptr<VirtualFile> MakeGeneratedFile(std::function<Result<std::string>()> generate);
// The same, for content made in pieces (each handed to the sink as made).
std::shared_ptr<VirtualFile> MakeChunkedGeneratedFile(
    std::function<Status(const std::function<void(std::string)>&)> generate);

// One entry of a folder of a CZI's tree: a folder (its key) or a file.
struct TreeEntry {
  std::string name;
  bool is_dir = false;
  FolderKey folder;                   // folders
  std::shared_ptr<VirtualFile> file;  // files
};

// The tree of one CZI, folder by folder: what each folder holds is worked
// out when it is listed (the catalogue's served files plus info.json,
// metadata.xml, planetable.csv, the OME-Zarr JSON and attachments/), so
// opening a file of a million subblocks makes nothing per served file.
class DocumentTree {
 public:
  DocumentTree(std::shared_ptr<const CziDocument> doc, const TreeOptions& options);
  // The entries of `folder` (FolderKey{} = the CZI's own folder), sorted by
  // name. Served files that cannot be served are left out.
  Result<std::vector<TreeEntry>> List(const FolderKey& folder) const;
  // What to say once when the tree is first shown: directory entries with
  // sizes the file cannot hold, planes and pyramid levels that cannot be
  // served (each with its path).
  std::vector<TreeProblem> Problems() const;
  const CziDocument& doc() const { return *doc_; }
  const std::shared_ptr<const CziDocument>& shared_doc() const { return doc_; }

 private:
  void AddGenerated(const FolderKey& folder, std::vector<TreeEntry>* out) const;
  // plate.ome.zarr/ and its rows and wells (the images are the catalogue's).
  void AddPlateFolder(const FolderKey& folder, std::vector<TreeEntry>* out) const;
  const std::shared_ptr<const CziDocument> doc_;
  const TreeOptions options_;
};

// Returns the whole tree of one document at once (tests and tools; the
// mount lists folder by folder). Unsupported planes are left out and
// reported in `problems`.
std::shared_ptr<TreeNode> BuildDocumentTree(std::shared_ptr<const CziDocument> doc,
                                            std::vector<TreeProblem>* problems,
                                            const TreeOptions& options = {});

}  // namespace czifs
