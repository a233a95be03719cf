#include "czifs/tree.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>

#include "czifs/mutex.h"
#include "czifs/zarr_json.h"
#include "data_window.h"

namespace czifs {
namespace {

namespace fs = std::filesystem;

// A file whose content is generated once, on first use, in one piece or in
// several (planetable.csv of a big file: about 1 MiB each, so its tens of
// MB are never held twice). Its size is known without waiting once
// generated; `ls -l` never waits behind a generation (planetable.csv reads
// every subblock header).
class GeneratedFile : public VirtualFile {
 public:
  using Sink = std::function<void(std::string)>;
  using Generate = std::function<Status(const Sink&)>;
  GeneratedFile(Generate gen, bool takes_long) : gen_(std::move(gen)), takes_long_(takes_long) {}
  bool SizeTakesLong() const override { return takes_long_; }
  Result<uint64_t> Size() const override {
    CZIFS_RETURN_IF_ERROR(Content());
    return size_;
  }
  Result<size_t> Read(uint64_t offset, size_t len, uint8_t* out) const override {
    CZIFS_RETURN_IF_ERROR(Content());
    if (offset >= size_) return size_t{0};
    len = static_cast<size_t>(std::min<uint64_t>(len, size_ - offset));
    // The piece holding `offset`, then on.
    size_t k = std::upper_bound(starts_.begin(), starts_.end(), offset) - starts_.begin() - 1;
    size_t done = 0;
    for (; done < len; ++k) {
      const uint64_t in = offset + done - starts_[k];
      const size_t n = std::min<size_t>(len - done, chunks_[k].size() - in);
      std::memcpy(out + done, chunks_[k].data() + in, n);
      done += n;
    }
    return done;
  }
  std::optional<uint64_t> SizeIfCheap() const override {
    if (!ready_.load(std::memory_order_acquire)) return std::nullopt;
    return size_;
  }

 private:
  Status Content() const EXCLUDES(generate_mu_) {
    if (ready_.load(std::memory_order_acquire)) return Status::Ok();
    MutexLock lock(&generate_mu_);  // one generation at a time; a failed one is tried again
    if (ready_.load(std::memory_order_relaxed)) return Status::Ok();
    std::vector<std::string> chunks;
    Status st = gen_([&](std::string part) {
      if (!part.empty()) chunks.push_back(std::move(part));
    });
    if (!st.ok()) return st;
    chunks_ = std::move(chunks);
    starts_.clear();
    size_ = 0;
    for (const std::string& c : chunks_) {
      starts_.push_back(size_);
      size_ += c.size();
    }
    ready_.store(true, std::memory_order_release);
    return Status::Ok();
  }
  const Generate gen_;
  const bool takes_long_;
  mutable Mutex generate_mu_;
  // Written once, under generate_mu_, before ready_ is set; read-only after.
  mutable std::vector<std::string> chunks_;
  mutable std::vector<uint64_t> starts_;  // where each chunk starts in the file
  mutable uint64_t size_ = 0;
  mutable std::atomic<bool> ready_{false};
};

// A TIFF of the document's catalogue: a plane, a raw tile, a pyramid level,
// a hyperstack or a zarr chunk. Listing one keeps only its id and layout
// (`ls -lR` of millions of files); its pages are described again on its
// first read and kept while it is in the tree.
class TiffFile : public VirtualFile {
 public:
  TiffFile(std::shared_ptr<const CziDocument> doc, const ServedTiff& tiff, DamagedTiles damaged)
      : doc_(std::move(doc)), id_(tiff.id), layout_(tiff.layout), damaged_(damaged) {}
  Result<uint64_t> Size() const override {
    CZIFS_ASSIGN_OR_RETURN(auto layout, layout_->Get());
    return layout->size();
  }
  // Laid out when listed (one layout per shape), hyperstacks on first use.
  std::optional<uint64_t> SizeIfCheap() const override { return layout_->SizeIfBuilt(); }
  Result<size_t> Read(uint64_t offset, size_t len, uint8_t* out) const override {
    ReadContext ctx;
    ctx.damaged = damaged_;
    return ReadWithContext(offset, len, out, &ctx);
  }
  Result<size_t> ReadWithContext(uint64_t offset, size_t len, uint8_t* out,
                                 const ReadContext* ctx) const override {
    CZIFS_ASSIGN_OR_RETURN(const ServedTiff* tiff, Described());
    return doc_->reader().Read(*tiff, offset, len, out, ctx);
  }
  uint64_t GapBytes() const override { return layout_->GapBytesIfBuilt(); }
  bool IsPlane() const override { return id_.kind == TiffKind::kPlane; }

 private:
  Result<const ServedTiff*> Described() const {
    std::call_once(once_, [this] {
      auto t = doc_->catalog().Describe(id_);
      if (t.ok()) {
        tiff_ = std::make_unique<const ServedTiff>(std::move(t).value());
      } else {
        status_ = t.status();
      }
    });
    if (!tiff_) return status_;
    return tiff_.get();
  }
  const std::shared_ptr<const CziDocument> doc_;
  const TiffId id_;
  const std::shared_ptr<const SharedLayout> layout_;
  const DamagedTiles damaged_;  // for reads without a context (tests, tools)
  mutable std::once_flag once_;
  mutable std::unique_ptr<const ServedTiff> tiff_;  // written once under once_
  mutable Status status_;                           // written once under once_
};

// A file name from an attachment's name and content type, both read from the
// file: only letters, digits, '-' and '_' survive, so a name can never be
// "..", hidden, or contain a '/'. "Thumbnail" + "JPG" -> "Thumbnail.jpg".
std::string AttachmentFileName(const AttachmentEntry& a) {
  auto clean = [](const std::string& in, size_t max) {
    std::string out;
    for (const char c : in) {
      if (out.size() == max) break;
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
      out += ok ? c : '_';
    }
    return out;
  };
  std::string name = clean(a.name, 64);
  if (name.empty() || name.find_first_not_of('_') == std::string::npos) name = "attachment";
  std::string ext = clean(a.content_type, 16);
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext.empty() ? name : name + "." + ext;
}

void AddFile(std::vector<TreeEntry>* out, std::string name, std::shared_ptr<VirtualFile> file) {
  TreeEntry e;
  e.name = std::move(name);
  e.file = std::move(file);
  out->push_back(std::move(e));
}

void AddFolder(std::vector<TreeEntry>* out, std::string name, const FolderKey& key) {
  TreeEntry e;
  e.name = std::move(name);
  e.is_dir = true;
  e.folder = key;
  out->push_back(std::move(e));
}

// Fills `node` with the tree below `folder`, folder by folder.
void BuildNode(const DocumentTree& tree, const FolderKey& folder, TreeNode* node) {
  auto entries = tree.List(folder);
  if (!entries.ok()) return;
  for (TreeEntry& e : *entries) {
    auto child = std::make_shared<TreeNode>();
    child->name = std::move(e.name);
    child->is_dir = e.is_dir;
    child->file = std::move(e.file);
    if (child->is_dir) BuildNode(tree, e.folder, child.get());
    node->children.push_back(std::move(child));
  }
}

}  // namespace

std::shared_ptr<VirtualFile> MakeGeneratedFile(std::function<Result<std::string>()> generate) {
  return std::make_shared<GeneratedFile>(
      [generate = std::move(generate)](const GeneratedFile::Sink& sink) -> Status {
        CZIFS_ASSIGN_OR_RETURN(std::string text, generate());
        sink(std::move(text));
        return Status::Ok();
      },
      /*takes_long=*/false);
}

std::shared_ptr<VirtualFile> MakeChunkedGeneratedFile(
    std::function<Status(const std::function<void(std::string)>&)> generate) {
  return std::make_shared<GeneratedFile>(std::move(generate), /*takes_long=*/true);
}

bool IsCziFileName(const std::string& name) {
  std::string ext = fs::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".czi";
}

const TreeNode* TreeNode::Find(const std::string& child_name) const {
  auto it = std::lower_bound(children.begin(), children.end(), child_name,
                             [](const auto& c, const std::string& n) { return c->name < n; });
  if (it != children.end() && (*it)->name == child_name) return it->get();
  return nullptr;
}

DocumentTree::DocumentTree(std::shared_ptr<const CziDocument> doc, const TreeOptions& options)
    : doc_(std::move(doc)), options_(options) {}

std::vector<TreeProblem> DocumentTree::Problems() const {
  std::vector<TreeProblem> problems;
  // Directory entries claiming sizes the file cannot hold: at most the
  // first 20, then how many more.
  const auto& bad = doc_->czi().size_problems();
  size_t n = 0;
  for (const auto& [index, what] : bad) {
    if (++n > 20) {
      problems.push_back({doc_->czi().path(),
                          fmt::format("{} more such entries (damaged tiles)", bad.size() - 20)});
      break;
    }
    problems.push_back({doc_->czi().path(), what + " (read as a damaged tile)"});
  }
  // A plane's problem is said once, not again for each of its tiles; a
  // scene without a hyperstack says why in info.json.
  const ImageIndex& index = doc_->index();
  for (const auto& [plane, why] : index.unsupported_planes()) {
    problems.push_back({doc_->czi().path() + ": " + doc_->catalog().PlanePathOf(plane), why});
  }
  if (options_.shown.pyramid) {
    for (const PyramidPlane& pp : index.pyramid_planes()) {
      if (pp.unsupported.empty()) continue;
      problems.push_back({fmt::format("{}: pyramid/L{}/{}", doc_->czi().path(), pp.level,
                                      doc_->catalog().PlanePathOf(pp.plane)),
                          pp.unsupported});
    }
  }
  return problems;
}

void DocumentTree::AddGenerated(const FolderKey& folder, std::vector<TreeEntry>* out) const {
  auto doc = doc_;
  switch (folder.kind) {
    case FolderKind::kRoot:
      AddFile(out, "info.json", MakeGeneratedFile([doc]() -> Result<std::string> {
                return InfoJson(doc->report());
              }));
      AddFile(out, "metadata.xml",
              MakeGeneratedFile([doc]() -> Result<std::string> { return doc->metadata_xml(); }));
      AddFile(out, "planetable.csv",
              MakeChunkedGeneratedFile([doc](const std::function<void(std::string)>& sink) {
                return WritePlaneTableCsv(doc->report(), sink);
              }));
      if (!doc->czi().attachments().empty()) {
        TreeEntry e;
        e.name = "attachments";
        e.is_dir = true;
        e.folder.kind = FolderKind::kAttachments;
        out->push_back(std::move(e));
      }
      if (options_.shown.zarr && !SeriesImages(doc->catalog()).empty()) {
        // The bioformats2raw layout: the CZI's folder is the images' zarr root.
        AddFile(out, ".zgroup",
                MakeGeneratedFile([] { return Result<std::string>(ZarrGroupJson()); }));
        AddFile(out, ".zattrs",
                MakeGeneratedFile([] { return Result<std::string>(Bioformats2RawAttrsJson()); }));
        TreeEntry e;
        e.name = "OME";
        e.is_dir = true;
        e.folder.kind = FolderKind::kOme;
        out->push_back(std::move(e));
        if (FindPlate(doc->report())) AddFolder(out, "plate.ome.zarr", {FolderKind::kPlate});
      }
      break;
    case FolderKind::kPlate:
    case FolderKind::kPlateRow:
    case FolderKind::kWell:
      AddPlateFolder(folder, out);
      break;
    case FolderKind::kOme:
      AddFile(out, ".zgroup",
              MakeGeneratedFile([] { return Result<std::string>(ZarrGroupJson()); }));
      AddFile(out, ".zattrs", MakeGeneratedFile([doc]() -> Result<std::string> {
                return OmeSeriesJson(doc->report());
              }));
      AddFile(out, "METADATA.ome.xml", MakeGeneratedFile([doc]() -> Result<std::string> {
                return OmeMetadataXml(doc->report());
              }));
      break;
    case FolderKind::kZarrImage: {
      const ZarrImage* img = &doc->catalog().zarr_images()[folder.image];
      AddFile(out, ".zgroup",
              MakeGeneratedFile([] { return Result<std::string>(ZarrGroupJson()); }));
      if (WindowFromData(*img)) {  // float: windows from the data, read when it is
        AddFile(out, ".zattrs", MakeDataWindowAttrs(doc, folder.image));
        break;
      }
      AddFile(out, ".zattrs", MakeGeneratedFile([doc, img]() -> Result<std::string> {
                return ZarrAttrsJson(doc->report(), *img);
              }));
      break;
    }
    case FolderKind::kZarrLevel: {
      const ZarrImage* img = &doc->catalog().zarr_images()[folder.image];
      const ZarrLevel* level = &img->levels[folder.level];
      AddFile(out, ".zarray", MakeGeneratedFile([doc, img, level]() -> Result<std::string> {
                return ZarrArrayJson(*img, *level);
              }));
      break;
    }
    case FolderKind::kAttachments: {
      // Each attachment as a file (Thumbnail.jpg opens anywhere).
      const auto& attachments = doc->czi().attachments();
      std::set<std::string> used;
      for (uint32_t a = 0; a < attachments.size(); ++a) {
        std::string name = AttachmentFileName(attachments[a]);
        const std::string base = name;
        for (int k = 2; !used.insert(name).second; ++k) {
          const size_t dot = base.find('.');
          name = fmt::format("{}_{}{}", base.substr(0, dot), k,
                             dot == std::string::npos ? "" : base.substr(dot));
        }
        AddFile(out, name, MakeGeneratedFile([doc, a]() -> Result<std::string> {
                  CZIFS_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, doc->czi().ReadAttachment(a));
                  return std::string(bytes.begin(), bytes.end());
                }));
      }
      break;
    }
    default:
      break;
  }
}

void DocumentTree::AddPlateFolder(const FolderKey& folder, std::vector<TreeEntry>* out) const {
  auto doc = doc_;
  const std::optional<PlateLayout> found = FindPlate(doc->report());
  if (!found) return;
  auto plate = std::make_shared<const PlateLayout>(*found);
  AddFile(out, ".zgroup", MakeGeneratedFile([] { return Result<std::string>(ZarrGroupJson()); }));
  if (folder.kind == FolderKind::kPlate) {
    AddFile(out, ".zattrs", MakeGeneratedFile([doc, plate]() -> Result<std::string> {
              return PlateAttrsJson(doc->report(), *plate);
            }));
  }
  for (const PlateWell& w : plate->wells) {
    if (folder.kind == FolderKind::kPlate && (out->back().name != plate->rows[w.row])) {
      FolderKey row{FolderKind::kPlateRow};
      row.y = w.row;
      AddFolder(out, plate->rows[w.row], row);
    } else if (folder.kind == FolderKind::kPlateRow && w.row == folder.y) {
      FolderKey well{FolderKind::kWell};
      well.y = w.row;
      well.x = w.column;
      AddFolder(out, plate->columns[w.column], well);
    } else if (folder.kind == FolderKind::kWell && w.row == folder.y && w.column == folder.x) {
      AddFile(out, ".zattrs",
              MakeGeneratedFile([w]() -> Result<std::string> { return WellAttrsJson(w); }));
      for (size_t f = 0; f < w.images.size(); ++f) {  // each field: its scene's image
        FolderKey image{FolderKind::kZarrImage};
        image.image = w.images[f];
        AddFolder(out, std::to_string(f), image);
      }
    }
  }
}

Result<std::vector<TreeEntry>> DocumentTree::List(const FolderKey& folder) const {
  std::vector<TreeEntry> out;
  AddGenerated(folder, &out);
  const bool own = folder.kind == FolderKind::kAttachments || folder.kind == FolderKind::kOme ||
                   folder.kind == FolderKind::kPlate || folder.kind == FolderKind::kPlateRow ||
                   folder.kind == FolderKind::kWell;
  if (!own) {
    CZIFS_ASSIGN_OR_RETURN(std::vector<CatalogEntry> entries,
                           doc_->catalog().List(folder, options_.shown));
    for (CatalogEntry& e : entries) {
      TreeEntry t;
      t.name = std::move(e.name);
      t.is_dir = e.is_dir;
      t.folder = e.folder;
      if (!e.is_dir) {
        CZIFS_ASSIGN_OR_RETURN(ServedTiff tiff, doc_->catalog().Describe(e.tiff, false));
        if (!tiff.unsupported.empty()) continue;  // said once (Problems) or in info.json
        t.file = std::make_shared<TiffFile>(doc_, tiff, options_.damaged);
      }
      out.push_back(std::move(t));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const TreeEntry& a, const TreeEntry& b) { return a.name < b.name; });
  return out;
}

std::shared_ptr<TreeNode> BuildDocumentTree(std::shared_ptr<const CziDocument> doc,
                                            std::vector<TreeProblem>* problems,
                                            const TreeOptions& options) {
  DocumentTree tree(std::move(doc), options);
  if (problems) {
    for (TreeProblem& p : tree.Problems()) problems->push_back(std::move(p));
  }
  auto root = std::make_shared<TreeNode>();
  root->is_dir = true;
  BuildNode(tree, FolderKey{}, root.get());
  return root;
}

}  // namespace czifs
