#include "czifs/mount_tree.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

namespace czifs {
namespace {

namespace fs = std::filesystem;

}  // namespace

MountTree::Node* MountTree::Get(uint64_t ino) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (ino == 0 || ino > nodes_.size()) return nullptr;
  return nodes_[ino - 1].get();
}

MountTree::Node* MountTree::NewNode(std::string name, uint64_t parent, bool is_dir,
                                    const FileIdentity& owner) {
  auto node = std::make_unique<Node>();
  node->name = std::move(name);
  node->is_dir = is_dir;
  node->owner = owner;
  std::unique_lock<std::shared_mutex> lock(mu_);
  node->ino = nodes_.size() + 1;
  nodes_.push_back(std::move(node));
  Node* n = nodes_.back().get();
  if (parent != 0) nodes_[parent - 1]->children.push_back(n->ino);
  return n;
}

void MountTree::SortChildren(Node* dir) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  std::sort(dir->children.begin(), dir->children.end(),
            [&](uint64_t a, uint64_t b) { return nodes_[a - 1]->name < nodes_[b - 1]->name; });
}

void MountTree::Graft(Node* dir, const TreeNode& tree) {
  for (const auto& child : tree.children) {
    Node* n = NewNode(child->name, dir->ino, child->is_dir, dir->owner);
    if (child->is_dir) {
      Graft(n, *child);
    } else {
      n->file = child->file;
    }
  }
  SortChildren(dir);
}

Status MountTree::Expand(Node* dir) {
  if (dir->czi_path.empty()) return Status::Ok();
  std::call_once(dir->expand_once, [&] {
    auto doc = CziDocument::Open(dir->czi_path, cache_, options_.damaged);
    if (!doc.ok()) {
      dir->expand_status = doc.status().WithContext(dir->czi_path);
      spdlog::error("{}", dir->expand_status.ToString());
      return;
    }
    std::vector<TreeProblem> problems;
    auto tree = BuildDocumentTree(*doc, &problems, options_);
    for (const auto& p : problems) spdlog::warn("{}: {}", p.where, p.message);
    Graft(dir, *tree);
  });
  return dir->expand_status;
}

Status MountTree::AddFolder(Node* at, const std::string& folder) {
  // Which files and how symlinks are treated: FindCziFiles (shared with export).
  CZIFS_ASSIGN_OR_RETURN(const std::vector<SourceFile> files, FindCziFiles(folder));
  std::map<std::string, Node*> dirs = {{"", at}};  // by relative path
  std::vector<Node*> touched = {at};
  for (const SourceFile& f : files) {
    // Create the folders on the way (only folders that hold a CZI appear).
    Node* dir = at;
    std::string rel_dir;
    size_t start = 0;
    bool reachable = true;
    for (size_t slash; (slash = f.relative.find('/', start)) != std::string::npos;
         start = slash + 1) {
      const std::string name = f.relative.substr(start, slash - start);
      rel_dir = rel_dir.empty() ? name : rel_dir + "/" + name;
      auto it = dirs.find(rel_dir);
      if (it == dirs.end()) {
        auto id = StatIdentity(folder + "/" + rel_dir);
        if (!id.ok()) {
          reachable = false;  // vanished while we looked
          break;
        }
        it = dirs.emplace(rel_dir, NewNode(name, dir->ino, true, *id)).first;
        touched.push_back(it->second);
      }
      dir = it->second;
    }
    auto id = StatIdentity(f.path);
    if (!reachable || !id.ok()) continue;
    Node* n = NewNode(f.relative.substr(start), dir->ino, true, *id);
    n->czi_path = f.path;
  }
  for (Node* d : touched) SortChildren(d);
  return Status::Ok();
}

Status MountTree::AddSource(Node* at, const std::string& source, bool is_root) {
  CZIFS_ASSIGN_OR_RETURN(FileIdentity id, StatIdentity(source));
  std::error_code ec;
  const fs::path p(source);
  if (fs::is_directory(p, ec)) {
    Node* dir = at;
    if (!is_root) dir = NewNode(p.filename().string(), at->ino, true, id);
    if (is_root) dir->owner = id;
    return AddFolder(dir, source);
  }
  if (!fs::is_regular_file(p, ec)) return Status::InvalidArgument(source + ": not a file or folder");
  if (is_root) {
    // A single CZI: parse it now so a bad file is reported at mount time.
    at->owner = id;
    at->czi_path = source;
    return Expand(at);
  }
  Node* n = NewNode(p.filename().string(), at->ino, true, id);
  n->czi_path = source;
  return Status::Ok();
}

Result<std::unique_ptr<MountTree>> MountTree::Create(const std::vector<std::string>& sources,
                                                     std::shared_ptr<SubblockCache> cache,
                                                     const TreeOptions& options) {
  if (sources.empty()) return Status::InvalidArgument("no source given");
  std::unique_ptr<MountTree> tree(new MountTree(std::move(cache), options));
  Node* root = tree->NewNode("", 0, true, FileIdentity{});
  if (sources.size() == 1) {
    CZIFS_RETURN_IF_ERROR(tree->AddSource(root, sources[0], /*is_root=*/true));
  } else {
    root->owner.uid = ::getuid();
    root->owner.gid = ::getgid();
    ::clock_gettime(CLOCK_REALTIME, &root->owner.mtime);
    for (const auto& s : sources) CZIFS_RETURN_IF_ERROR(tree->AddSource(root, s, false));
    tree->SortChildren(root);
    // Two sources with one name: the later ones are renamed name~2, name~3, ...
    std::unique_lock<std::shared_mutex> lock(tree->mu_);
    for (size_t i = 1; i < root->children.size(); ++i) {
      Node* a = tree->nodes_[root->children[i - 1] - 1].get();
      Node* b = tree->nodes_[root->children[i] - 1].get();
      if (a->name == b->name) b->name += "~" + std::to_string(i + 1);
    }
  }
  return tree;
}

Result<uint64_t> MountTree::Lookup(uint64_t parent, std::string_view name) {
  Node* dir = Get(parent);
  if (!dir) return Status::NotFound("no inode " + std::to_string(parent));
  if (!dir->is_dir) return Status::InvalidArgument("not a folder");
  CZIFS_RETURN_IF_ERROR(Expand(dir));
  std::shared_lock<std::shared_mutex> lock(mu_);
  const auto& c = dir->children;  // sorted by name
  auto it = std::lower_bound(c.begin(), c.end(), name, [&](uint64_t ino, std::string_view n) {
    return nodes_[ino - 1]->name < n;
  });
  if (it != c.end() && nodes_[*it - 1]->name == name) return *it;
  return Status::NotFound(std::string(name));
}

Result<NodeAttr> MountTree::GetAttr(uint64_t ino, bool cheap_only) {
  Node* n = Get(ino);
  if (!n) return Status::NotFound("no inode " + std::to_string(ino));
  NodeAttr a;
  a.ino = ino;
  a.is_dir = n->is_dir;
  a.mode = n->is_dir ? 0555 : 0444;
  a.uid = n->owner.uid;
  a.gid = n->owner.gid;
  a.mtime = n->owner.mtime;
  if (n->is_dir) {
    a.nlink = 2;
  } else if (cheap_only) {
    auto size = n->file->SizeIfCheap();
    if (!size) return Status::NotSupported("size not known yet");
    a.size = *size;
  } else {
    CZIFS_ASSIGN_OR_RETURN(a.size, n->file->Size());
  }
  return a;
}

Result<std::vector<DirEntry>> MountTree::ReadDir(uint64_t ino) {
  Node* dir = Get(ino);
  if (!dir) return Status::NotFound("no inode " + std::to_string(ino));
  if (!dir->is_dir) return Status::InvalidArgument("not a folder");
  CZIFS_RETURN_IF_ERROR(Expand(dir));
  std::vector<DirEntry> out;
  std::shared_lock<std::shared_mutex> lock(mu_);
  out.reserve(dir->children.size());
  for (uint64_t c : dir->children) {
    const Node& n = *nodes_[c - 1];
    out.push_back({n.name, n.ino, n.is_dir});
  }
  return out;
}

Status MountTree::CheckFile(uint64_t ino) {
  Node* n = Get(ino);
  if (!n) return Status::NotFound("no inode " + std::to_string(ino));
  if (n->is_dir) return Status::InvalidArgument("is a folder");
  return Status::Ok();
}

Result<size_t> MountTree::Read(uint64_t ino, uint64_t offset, size_t len, uint8_t* out,
                               const ReadContext* ctx) {
  Node* n = Get(ino);
  if (!n) return Status::NotFound("no inode " + std::to_string(ino));
  if (n->is_dir) return Status::InvalidArgument("is a folder");
  if (ctx) return n->file->ReadWithContext(offset, len, out, ctx);
  return n->file->Read(offset, len, out);
}

}  // namespace czifs
