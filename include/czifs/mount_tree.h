// MountTree: the virtual tree as the mount sees it — inode numbers, folder
// listings, attributes and reads — with no FUSE in it.
//
// Sources: one CZI file → the root is its tree. One folder → the root mirrors
// it (each name.czi a folder). Several sources → each appears at the root
// under its own name. A CZI's own tree is built on first access (lookup or
// listing inside it), so a folder of thousands of files mounts at once.
//
// Inode numbers are assigned once and stay valid for the life of the tree.
// Attributes: folders 0555, files 0444, owner and times from the source file.
//
// Thread-safety: all methods may be called concurrently. mu_ guards the
// inode table (append-only); each lazy folder expands once under its own
// mutex. Nodes never move or die before the tree does.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "czifs/compose.h"
#include "czifs/czi_document.h"
#include "czifs/status.h"
#include "czifs/tree.h"

namespace czifs {

struct NodeAttr {
  uint64_t ino = 0;
  bool is_dir = false;
  uint64_t size = 0;
  uint32_t mode = 0;  // permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  timespec mtime{};
  uint32_t nlink = 1;
};

struct DirEntry {
  std::string name;
  uint64_t ino;
  bool is_dir;
};

class MountTree {
 public:
  static constexpr uint64_t kRootIno = 1;

  // Scans the sources (folders are listed, CZIs are not parsed except a single
  // CZI source, whose errors are reported here).
  static Result<std::unique_ptr<MountTree>> Create(
      const std::vector<std::string>& sources, std::shared_ptr<SubblockCache> cache,
      const TreeOptions& options = {});

  // Returns the inode of `name` in folder `parent`.
  Result<uint64_t> Lookup(uint64_t parent, std::string_view name);
  // Returns the attributes of `ino`. With `cheap_only`, a file whose size would
  // need generating (planetable.csv before first use) gives NotSupported.
  Result<NodeAttr> GetAttr(uint64_t ino, bool cheap_only = false);
  // Lists a folder (without "." and "..").
  Result<std::vector<DirEntry>> ReadDir(uint64_t ino);
  // Reads a file; returns bytes produced (0 at end).
  Result<size_t> Read(uint64_t ino, uint64_t offset, size_t len, uint8_t* out,
                      const ReadContext* ctx = nullptr);
  // Returns Ok if `ino` is a file that can be opened.
  Status CheckFile(uint64_t ino);

 private:
  struct Node {
    std::string name;
    uint64_t ino = 0;
    bool is_dir = false;
    FileIdentity owner;  // uid, gid, mtime of the source
    std::vector<uint64_t> children;  // sorted by name once complete
    std::shared_ptr<VirtualFile> file;
    // Lazy CZI folder: the source path, expanded once on first access.
    std::string czi_path;
    std::once_flag expand_once;
    Status expand_status;  // written once inside expand_once
  };

  MountTree(std::shared_ptr<SubblockCache> cache, const TreeOptions& options)
      : cache_(std::move(cache)), options_(options) {}
  Node* Get(uint64_t ino) const;
  Node* NewNode(std::string name, uint64_t parent, bool is_dir, const FileIdentity& owner);
  void SortChildren(Node* dir);
  Status Expand(Node* dir);
  void Graft(Node* dir, const TreeNode& tree);
  Status AddSource(Node* at, const std::string& source, bool is_root);
  Status AddFolder(Node* at, const std::string& folder);

  const std::shared_ptr<SubblockCache> cache_;
  const TreeOptions options_;
  mutable std::shared_mutex mu_;
  std::deque<std::unique_ptr<Node>> nodes_;  // guarded by mu_; nodes_[ino - 1]
};

}  // namespace czifs
