#include "czifs/tree.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

namespace czifs {
namespace {

namespace fs = std::filesystem;

Result<size_t> ReadFromString(const std::string& s, uint64_t offset, size_t len, uint8_t* out) {
  if (offset >= s.size()) return size_t{0};
  const size_t n = std::min<uint64_t>(len, s.size() - offset);
  std::memcpy(out, s.data() + offset, n);
  return n;
}

// A file whose content is generated once, on first use.
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
    std::lock_guard<std::mutex> lock(mu_);
    if (!content_) return std::nullopt;
    return content_->size();
  }

 private:
  Result<const std::string*> Content() const {
    std::lock_guard<std::mutex> lock(mu_);
    if (!content_) {
      CZIFS_ASSIGN_OR_RETURN(std::string s, gen_());
      content_ = std::move(s);
    }
    return &*content_;
  }
  const std::function<Result<std::string>()> gen_;
  mutable std::mutex mu_;
  mutable std::optional<std::string> content_;  // guarded by mu_
};

// A plane, a raw tile or a pyramid level: one image of the document.
class ImageFile : public VirtualFile {
 public:
  ImageFile(std::shared_ptr<const CziDocument> doc, uint32_t image)
      : doc_(std::move(doc)), image_(image) {}
  Result<uint64_t> Size() const override {
    CZIFS_ASSIGN_OR_RETURN(auto layout, doc_->ImageLayout(image_));
    return layout->size();
  }
  // Planes and pyramid levels are laid out at open; tiles by shape (the
  // first few shapes at open, others on first use).
  std::optional<uint64_t> SizeIfCheap() const override { return doc_->ImageSizeIfKnown(image_); }
  Result<size_t> Read(uint64_t offset, size_t len, uint8_t* out) const override {
    return doc_->ReadImage(image_, offset, len, out);
  }
  Result<size_t> ReadWithContext(uint64_t offset, size_t len, uint8_t* out,
                                 const ReadContext* ctx) const override {
    return doc_->ReadImage(image_, offset, len, out, ctx);
  }
  bool IsPlane() const override { return doc_->images()[image_].kind == Image::Kind::kPlane; }

 private:
  const std::shared_ptr<const CziDocument> doc_;
  const uint32_t image_;
};

// S<s>/hyperstack.tif: all C, Z, T planes of a scene as one ImageJ hyperstack.
class StackFile : public VirtualFile {
 public:
  StackFile(std::shared_ptr<const CziDocument> doc, uint32_t scene)
      : doc_(std::move(doc)), scene_(scene) {}
  Result<uint64_t> Size() const override {
    CZIFS_ASSIGN_OR_RETURN(auto layout, doc_->StackLayout(scene_));
    return layout->size();
  }
  // Laid out on first use (a stack of 10,000 pages takes a moment).
  std::optional<uint64_t> SizeIfCheap() const override { return std::nullopt; }
  Result<size_t> Read(uint64_t offset, size_t len, uint8_t* out) const override {
    return doc_->ReadStack(scene_, offset, len, out);
  }
  Result<size_t> ReadWithContext(uint64_t offset, size_t len, uint8_t* out,
                                 const ReadContext* ctx) const override {
    return doc_->ReadStack(scene_, offset, len, out, ctx);
  }

 private:
  const std::shared_ptr<const CziDocument> doc_;
  const uint32_t scene_;
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

bool ParseWithout(const std::string& list, TreeOptions* opts, std::string* error) {
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find_first_of(",:", start), list.size());
    const std::string name = list.substr(start, comma - start);
    if (name == "tiles") {
      opts->tiles = false;
    } else if (name == "pyramid") {
      opts->pyramid = false;
    } else if (name == "hyperstacks" || name == "hyperstack") {
      opts->hyperstacks = false;
    } else if (!name.empty()) {
      *error = "unknown name '" + name + "' (use tiles, pyramid, hyperstacks)";
      return false;
    }
    start = comma + 1;
  }
  return true;
}

std::shared_ptr<TreeNode> BuildDocumentTree(std::shared_ptr<const CziDocument> doc,
                                            std::vector<TreeProblem>* problems,
                                            const TreeOptions& options) {
  auto root = std::make_shared<TreeNode>();
  root->is_dir = true;
  AddFile(root.get(), "info.json",
          std::make_shared<GeneratedFile>([doc]() -> Result<std::string> { return doc->InfoJson(); }));
  AddFile(root.get(), "metadata.xml", std::make_shared<GeneratedFile>([doc]() -> Result<std::string> {
            return doc->metadata_xml();
          }));
  AddFile(root.get(), "planetable.csv",
          std::make_shared<GeneratedFile>([doc] { return doc->PlaneTableCsv(); }));
  // Planes, tiles/ and pyramid/: paths like "S0/C1/T0/Z07.tif".
  const auto& images = doc->images();
  for (uint32_t i = 0; i < images.size(); ++i) {
    const Image& img = images[i];
    if ((img.kind == Image::Kind::kTile && !options.tiles) ||
        (img.kind == Image::Kind::kPyramid && !options.pyramid)) {
      continue;
    }
    if (!img.unsupported.empty()) {
      // A plane's problem is reported once, not again for each of its tiles.
      if (problems && img.kind != Image::Kind::kTile) {
        problems->push_back({doc->czi().path() + ": " + img.path, img.unsupported});
      }
      continue;
    }
    TreeNode* dir = root.get();
    std::string rest = img.path;
    for (size_t slash; (slash = rest.find('/')) != std::string::npos;) {
      dir = ChildDir(dir, rest.substr(0, slash));
      rest.erase(0, slash + 1);
    }
    AddFile(dir, rest, std::make_shared<ImageFile>(doc, i));
  }
  // attachments/: each attachment as a file (Thumbnail.jpg opens anywhere).
  const auto& attachments = doc->czi().attachments();
  std::set<std::string> used;
  for (uint32_t a = 0; a < attachments.size(); ++a) {
    std::string name = AttachmentFileName(attachments[a]);
    const std::string base = name;
    for (int k = 2; !used.insert(name).second; ++k) {
      const size_t dot = base.find('.');
      name = base.substr(0, dot) + "_" + std::to_string(k) +
             (dot == std::string::npos ? "" : base.substr(dot));
    }
    AddFile(ChildDir(root.get(), "attachments"), name,
            std::make_shared<GeneratedFile>([doc, a]() -> Result<std::string> {
              CZIFS_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, doc->czi().ReadAttachment(a));
              return std::string(bytes.begin(), bytes.end());
            }));
  }
  const auto& scenes = doc->index().scenes();
  for (uint32_t s = 0; options.hyperstacks && s < scenes.size(); ++s) {
    if (!doc->stack(s).unavailable.empty()) continue;
    const std::string name = doc->index().IndexName(Dim::kS, scenes[s].index);
    AddFile(ChildDir(root.get(), name), "hyperstack.tif", std::make_shared<StackFile>(doc, s));
  }
  SortTree(root.get());
  return root;
}

namespace {

bool IsInside(const fs::path& real, const fs::path& root) {
  auto r = real.begin();
  for (auto it = root.begin(); it != root.end(); ++it, ++r) {
    if (r == real.end() || *r != *it) return false;
  }
  return true;
}

void FindIn(const fs::path& root, const fs::path& dir, const std::string& prefix,
            std::set<fs::path>* seen, std::vector<SourceFile>* out) {
  std::error_code ec;
  const fs::path real_dir = fs::canonical(dir, ec);
  if (ec || !seen->insert(real_dir).second) return;
  std::vector<fs::directory_entry> entries;
  for (const auto& e : fs::directory_iterator(dir, fs::directory_options::skip_permission_denied, ec)) {
    entries.push_back(e);
  }
  // Real entries before links, so a folder also reached through a link keeps
  // its own name; each group by name.
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    std::error_code x, y;
    const bool la = a.is_symlink(x), lb = b.is_symlink(y);
    return la != lb ? lb : a.path() < b.path();
  });
  for (const auto& e : entries) {
    std::error_code eec;
    if (e.is_symlink(eec)) {
      const fs::path target = fs::canonical(e.path(), eec);
      if (eec || !IsInside(target, root)) continue;  // dangling, or leads outside
    }
    const std::string name = e.path().filename().string();
    const std::string rel = prefix.empty() ? name : prefix + "/" + name;
    if (e.is_directory(eec)) {
      FindIn(root, e.path(), rel, seen, out);
    } else if (e.is_regular_file(eec) && IsCziFileName(name)) {
      out->push_back({rel, e.path().string()});
    }
  }
}

}  // namespace

Result<std::vector<SourceFile>> FindCziFiles(const std::string& folder) {
  std::error_code ec;
  const fs::path root = fs::canonical(folder, ec);
  if (ec) return Status::IOError(folder + ": " + ec.message());
  fs::directory_iterator probe(folder, ec);
  if (ec) return Status::IOError(folder + ": cannot list: " + ec.message());
  std::set<fs::path> seen;
  std::vector<SourceFile> files;
  FindIn(root, fs::path(folder), "", &seen, &files);
  std::sort(files.begin(), files.end(),
            [](const SourceFile& a, const SourceFile& b) { return a.relative < b.relative; });
  return files;
}

Result<SourceTree> BuildSourceTree(const std::string& source,
                                   std::shared_ptr<SubblockCache> cache,
                                   const TreeOptions& options) {
  SourceTree tree;
  std::error_code ec;
  const fs::path src(source);
  const auto status = fs::status(src, ec);
  if (ec || !fs::exists(status)) return Status::NotFound(source + ": no such file or folder");
  if (fs::is_regular_file(status)) {
    auto doc = CziDocument::Open(source, cache, options.damaged);
    if (!doc.ok()) return doc.status().WithContext(source);
    tree.root = BuildDocumentTree(std::move(doc).value(), &tree.problems, options);
    return tree;
  }
  if (!fs::is_directory(status)) return Status::InvalidArgument(source + ": not a file or folder");
  tree.root = std::make_shared<TreeNode>();
  tree.root->is_dir = true;
  CZIFS_ASSIGN_OR_RETURN(const std::vector<SourceFile> files, FindCziFiles(source));
  for (const SourceFile& f : files) {
    auto doc = CziDocument::Open(f.path, cache, options.damaged);
    if (!doc.ok()) {
      tree.problems.push_back({f.path, doc.status().ToString()});
      continue;
    }
    TreeNode* dir = tree.root.get();
    const fs::path rel(f.relative);
    for (auto part = rel.begin(); part != rel.end(); ++part) {
      if (std::next(part) == rel.end()) break;
      dir = ChildDir(dir, part->string());
    }
    auto node = BuildDocumentTree(std::move(doc).value(), &tree.problems, options);
    node->name = rel.filename().string();
    dir->children.push_back(std::move(node));
  }
  SortTree(tree.root.get());
  return tree;
}

}  // namespace czifs
