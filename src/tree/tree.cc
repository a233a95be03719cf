#include "czifs/tree.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "czifs/mutex.h"
#include "czifs/zarr_json.h"

namespace czifs {
namespace {

namespace fs = std::filesystem;

Result<size_t> ReadFromString(const std::string& s, uint64_t offset, size_t len, uint8_t* out) {
  if (offset >= s.size()) return size_t{0};
  const size_t n = std::min<uint64_t>(len, s.size() - offset);
  std::memcpy(out, s.data() + offset, n);
  return n;
}

// A file whose content is generated once, on first use. Its size is known
// without waiting once generated; `ls -l` never waits behind a generation
// (planetable.csv of a big file reads every subblock header).
class GeneratedFile : public VirtualFile {
 public:
  explicit GeneratedFile(std::function<Result<std::string>()> gen) : gen_(std::move(gen)) {}
  Result<uint64_t> Size() const override {
    CZIFS_ASSIGN_OR_RETURN(const std::string* s, Content());
    return static_cast<uint64_t>(s->size());
  }
  Result<size_t> Read(uint64_t offset, size_t len, uint8_t* out) const override {
    CZIFS_ASSIGN_OR_RETURN(const std::string* s, Content());
    return ReadFromString(*s, offset, len, out);
  }
  std::optional<uint64_t> SizeIfCheap() const override {
    if (!ready_.load(std::memory_order_acquire)) return std::nullopt;
    return content_.size();
  }

 private:
  Result<const std::string*> Content() const EXCLUDES(generate_mu_) {
    if (ready_.load(std::memory_order_acquire)) return &content_;
    MutexLock lock(&generate_mu_);  // one generation at a time; a failed one is tried again
    if (!ready_.load(std::memory_order_relaxed)) {
      CZIFS_ASSIGN_OR_RETURN(content_, gen_());
      ready_.store(true, std::memory_order_release);
    }
    return &content_;
  }
  const std::function<Result<std::string>()> gen_;
  mutable Mutex generate_mu_;
  // Written once, under generate_mu_, before ready_ is set; read-only after.
  mutable std::string content_;
  mutable std::atomic<bool> ready_{false};
};

// A TIFF of the document's catalogue: a plane, a raw tile, a pyramid level
// or a hyperstack.
class TiffFile : public VirtualFile {
 public:
  TiffFile(std::shared_ptr<const CziDocument> doc, uint32_t tiff, DamagedTiles damaged)
      : doc_(std::move(doc)), tiff_(tiff), damaged_(damaged) {}
  Result<uint64_t> Size() const override {
    CZIFS_ASSIGN_OR_RETURN(auto layout, Tiff().layout->Get());
    return layout->size();
  }
  // Planes and pyramid levels are laid out at open, the first few tile
  // shapes too; other tile shapes and hyperstacks on first use.
  std::optional<uint64_t> SizeIfCheap() const override { return Tiff().layout->SizeIfBuilt(); }
  Result<size_t> Read(uint64_t offset, size_t len, uint8_t* out) const override {
    ReadContext ctx;
    ctx.damaged = damaged_;
    return doc_->reader().Read(tiff_, offset, len, out, &ctx);
  }
  Result<size_t> ReadWithContext(uint64_t offset, size_t len, uint8_t* out,
                                 const ReadContext* ctx) const override {
    return doc_->reader().Read(tiff_, offset, len, out, ctx);
  }
  uint64_t GapBytes() const override { return Tiff().layout->GapBytesIfBuilt(); }
  bool IsPlane() const override { return Tiff().kind == TiffKind::kPlane; }

 private:
  const ServedTiff& Tiff() const { return doc_->catalog().tiffs()[tiff_]; }
  const std::shared_ptr<const CziDocument> doc_;
  const uint32_t tiff_;
  const DamagedTiles damaged_;  // for reads without a context (tests, tools)
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

TreeNode* ChildDir(TreeNode* parent, const std::string& name) {
  for (auto& c : parent->children) {
    if (c->name == name && c->is_dir) return c.get();
  }
  auto node = std::make_shared<TreeNode>();
  node->name = name;
  node->is_dir = true;
  parent->children.push_back(node);
  return node.get();
}

void SortTree(TreeNode* n) {
  std::sort(n->children.begin(), n->children.end(),
            [](const auto& a, const auto& b) { return a->name < b->name; });
  for (auto& c : n->children) {
    if (c->is_dir) SortTree(c.get());
  }
}

void AddFile(TreeNode* dir, std::string name, std::shared_ptr<VirtualFile> file) {
  auto node = std::make_shared<TreeNode>();
  node->name = std::move(name);
  node->file = std::move(file);
  dir->children.push_back(std::move(node));
}

}  // namespace

std::shared_ptr<VirtualFile> MakeGeneratedFile(std::function<Result<std::string>()> generate) {
  return std::make_shared<GeneratedFile>(std::move(generate));
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

std::shared_ptr<TreeNode> BuildDocumentTree(std::shared_ptr<const CziDocument> doc,
                                            std::vector<TreeProblem>* problems,
                                            const TreeOptions& options) {
  auto root = std::make_shared<TreeNode>();
  root->is_dir = true;
  AddFile(root.get(), "info.json",
          MakeGeneratedFile([doc]() -> Result<std::string> { return InfoJson(doc->report()); }));
  AddFile(root.get(), "metadata.xml",
          MakeGeneratedFile([doc]() -> Result<std::string> { return doc->metadata_xml(); }));
  AddFile(root.get(), "planetable.csv",
          MakeGeneratedFile([doc] { return PlaneTableCsv(doc->report()); }));
  // Directory entries claiming sizes the file cannot hold: said once per
  // entry when the tree is built (at most the first 20, then how many more).
  if (problems) {
    const auto& bad = doc->czi().size_problems();
    size_t n = 0;
    for (const auto& [index, what] : bad) {
      if (++n > 20) {
        problems->push_back({doc->czi().path(),
                             fmt::format("{} more such entries (damaged tiles)", bad.size() - 20)});
        break;
      }
      problems->push_back({doc->czi().path(), what + " (read as a damaged tile)"});
    }
  }
  // The catalogue's TIFFs: paths like "S0/C1/T0/Z07.tif", "tiles/...".
  const auto& tiffs = doc->catalog().tiffs();
  const CatalogOptions& shown = options.shown;
  for (uint32_t i = 0; i < tiffs.size(); ++i) {
    const ServedTiff& t = tiffs[i];
    if (!Shows(shown, t)) continue;
    if (!t.unsupported.empty()) {
      // A plane's problem is reported once, not again for each of its tiles;
      // a scene without a hyperstack says why in info.json.
      if (problems && (t.kind == TiffKind::kPlane || t.kind == TiffKind::kPyramid)) {
        problems->push_back({doc->czi().path() + ": " + t.path, t.unsupported});
      }
      continue;
    }
    TreeNode* dir = root.get();
    std::string rest = t.path;
    for (size_t slash; (slash = rest.find('/')) != std::string::npos;) {
      dir = ChildDir(dir, rest.substr(0, slash));
      rest.erase(0, slash + 1);
    }
    AddFile(dir, rest, std::make_shared<TiffFile>(doc, i, options.damaged));
  }
  // Each OME-Zarr image's JSON (its chunks are among the catalogue's files).
  if (shown.zarr) {
    for (const ZarrImage& img : doc->catalog().zarr_images()) {
      if (!img.unsupported.empty()) continue;  // info.json says why
      TreeNode* dir = ChildDir(root.get(), img.name);
      AddFile(dir, ".zgroup",
              MakeGeneratedFile([] { return Result<std::string>(ZarrGroupJson()); }));
      AddFile(dir, ".zattrs", MakeGeneratedFile([doc, &img]() -> Result<std::string> {
                return ZarrAttrsJson(doc->report(), img);
              }));
      for (const ZarrLevel& level : img.levels) {
        AddFile(ChildDir(dir, level.path), ".zarray",
                MakeGeneratedFile([&img, &level, doc]() -> Result<std::string> {
                  return ZarrArrayJson(img, level);
                }));
      }
    }
  }
  // attachments/: each attachment as a file (Thumbnail.jpg opens anywhere).
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
    AddFile(ChildDir(root.get(), "attachments"), name,
            MakeGeneratedFile([doc, a]() -> Result<std::string> {
              CZIFS_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, doc->czi().ReadAttachment(a));
              return std::string(bytes.begin(), bytes.end());
            }));
  }
  SortTree(root.get());
  return root;
}

}  // namespace czifs
