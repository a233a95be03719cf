// InodeTable: the inode numbers of a mount — every node by number, the
// numbers whose source is gone, the blocks of numbers the folders of CZI
// trees got, the next free number — and each node's state that changes with
// the table (Node::Linked). Everything in it is guarded by mu(), and only
// reachable while it is held (Of, View): Clang's analysis checks every use.
// MountTree decides what goes in and out; the table only keeps it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "czifs/czi_document.h"
#include "czifs/mutex.h"
#include "czifs/source_dir.h"
#include "czifs/status.h"
#include "czifs/tree.h"

namespace czifs {

// Something the kernel may hold that is no longer true: the attributes and
// cached data of inode `ino` (name empty), or the entry `name` in folder `ino`.
struct Invalidation {
  uint64_t ino = 0;
  std::string name;
  // With `name` empty: the attributes (and ACL) only; the cached data stays
  // true (the file's owner, mode or ACL changed, not its content).
  bool attributes_only = false;
};

// One inode of the mount.
struct Node {
  enum class Kind {
    kFolder,        // a folder made by czifs: several sources' root, or inside a CZI's tree
    kSourceFolder,  // mirrors a folder below a source
    kCzi,           // a CZI file's folder
    kFile,          // inside a CZI's tree
  };
  // What a source folder's or a CZI's node knows of its source, guarded by
  // the node's Source::refresh_mu (one thread lists, stats or parses it).
  struct Refreshed {
    bool listed = false;         // kSourceFolder: children reflect a listing
    double checked_at = 0;       // monotonic seconds of the last listing or stat
    double self_checked_at = 0;  // kSourceFolder: of the last stat of the folder itself
    bool expanded = false;       // kCzi: children are the tree of `indexed`
    FileIdentity indexed;        // kCzi: the version the tree (or the failure) is for
    bool attempted = false;      // kCzi: a parse was tried for `indexed`
    Status expand_status;        // kCzi: its outcome
    double attempted_at = 0;
    bool failure_logged = false;             // kCzi: a failed parse was logged at error level
    std::shared_ptr<const CziDocument> doc;  // kCzi: the version its tree shows, while expanded
  };
  // kSourceFolder and kCzi only (null for every other node: the folders and
  // files of CZI trees, most of the nodes, stay small).
  struct Source {
    explicit Source(double checked_at) { state.checked_at = checked_at; }
    // Lock order: a folder's, then a CZI's below it (never upwards), then
    // InodeTable::mu(); another CZI's only by TryLock. May be held while the
    // CZI's file checks a moved ctime (RandomAccessFile's verify_mu_, a leaf).
    Mutex refresh_mu;
    Refreshed state GUARDED_BY(refresh_mu);
  };
  // What a source folder's or CZI's node keeps in the table (Linked::src).
  struct SourceLinked {
    // The source's ACLs (access, default) as read while the node showed
    // ctime `ctime`.
    struct AclCache {
      bool valid = false;
      timespec ctime{};
      std::string value;
    };
    AclCache acl[2];
    // kCzi: the tree of its document folder by folder (null while let go
    // or not built); the blocks of inode numbers its folders' entries got
    // (their starts), and which folder got which, kept while the tree is
    // let go so it is built again under the same numbers; and, while let
    // go, the version those numbers are of.
    std::shared_ptr<const DocumentTree> tree;
    std::vector<uint64_t> blocks;
    std::unordered_map<uint64_t, uint64_t> folder_block;  // folder ino -> block start
    struct Released {
      FileIdentity version;
      uint64_t fingerprint = 0;
    };
    std::optional<Released> released;
  };
  // The node's state guarded by InodeTable::mu() (InodeTable::Of, View).
  struct Linked {
    FileIdentity id;                 // owner, group, mode, times shown
    std::vector<uint64_t> children;  // sorted by name
    bool attached = true;            // false once dropped from the tree
    bool gone = false;               // dropped because its source is gone
    // Folders of a CZI's tree (kCzi, and kFolder with czi != 0): what it
    // is (the catalogue's key) and whether its entries are nodes yet
    // (MountTree::Materialize, on first listing or lookup).
    FolderKey key;
    bool materialized = false;
    std::unique_ptr<SourceLinked> src;  // kSourceFolder, kCzi
  };

  // Constant once the node is in the table.
  uint64_t ino = 0;
  Kind kind = Kind::kFolder;
  std::string name;
  uint64_t parent = 0;                      // 0 for the root
  uint64_t czi = 0;                         // inside a CZI's tree: the CZI's node
  std::shared_ptr<VirtualFile> file;        // kFile
  std::shared_ptr<const SourceDir> source;  // kSourceFolder, kCzi
  std::string rel;                          // path below `source`
  std::unique_ptr<Source> src;              // kSourceFolder, kCzi

  std::atomic<int> wd{-1};           // kSourceFolder: its inotify watch, or -1
  std::atomic<uint64_t> version{0};  // kCzi: NodeAttr::version of its tree
  // kCzi: requests working inside its tree now (MountTree::Acquire); a
  // tree in use is never let go.
  std::atomic<int> users{0};
  std::atomic<bool> dirty{false};      // the watcher saw a change; look again
  std::atomic<uint64_t> last_used{0};  // kCzi: use tick at its last use
  std::atomic<uint64_t> bytes{0};      // kCzi: what its parsed tree holds
  // Listed (a folder) or expanded (a CZI) and nothing reported since: with
  // a watcher, requests need not take refresh_mu at all.
  std::atomic<bool> ready{false};
  std::atomic<bool> exposed{false};  // the kernel was given this inode

 private:
  friend class InodeTable;
  Linked linked_;
};
using NodePtr = std::shared_ptr<Node>;

// Every block of inode numbers given to the entries of one folder of a CZI's
// tree: the CZI, the folder, how many, and (once the tree is let go) which
// of them the kernel was given. Kept while the tree is let go, so a number
// of it can build it again.
//
// While the tree is let go, a block may also keep its entries' shadow:
// names, kinds and sizes as they were, in block order, and that order
// sorted by name — enough to list the folder, look names up and show
// attributes (and ACLs) without parsing the CZI again (mount_tree_shadow.cc).
struct Shadow {
  std::string name;
  bool is_dir = false;
  bool sized = false;  // a file whose size was known without work
  uint64_t size = 0;
  uint64_t gap = 0;
  uint64_t cost() const { return sizeof(Shadow) + sizeof(uint32_t) + name.capacity(); }
};
struct Block {
  uint64_t czi = 0;
  uint64_t folder = 0;
  uint64_t count = 0;
  std::vector<bool> exposed;
  std::vector<Shadow> shadow;     // empty while the tree is live
  std::vector<uint32_t> by_name;  // shadow positions sorted by name
};

// Why nodes leave the table: their source changed (their inode numbers
// answer Stale, and the kernel looks the path up again), or is gone (they
// answer NotFound, as a removed file's would).
enum class Fate { kChanged, kGone };

class InodeTable {
 public:
  static constexpr uint64_t kRootIno = 1;
  // Numbers of the last kMaxGone nodes whose source is gone answer NotFound
  // (older ones Stale).
  static constexpr size_t kMaxGone = 1 << 16;

  SharedMutex& mu() const LOCK_RETURNED(mu_) { return mu_; }
  Node::Linked& Of(Node& n) REQUIRES(mu_) { return n.linked_; }
  const Node::Linked& View(const Node& n) const REQUIRES_SHARED(mu_) { return n.linked_; }

  // The node of `ino`: NotFound if never issued or its source is gone,
  // Stale if dropped since for another reason.
  Result<NodePtr> Get(uint64_t ino) const EXCLUDES(mu_);
  // The node of `ino`, or null.
  NodePtr Find(uint64_t ino) const REQUIRES_SHARED(mu_);
  // The node of `ino`, which the table holds (a folder's children are);
  // std::out_of_range if not, a broken invariant the request fails on.
  const NodePtr& At(uint64_t ino) const REQUIRES_SHARED(mu_) { return nodes_.at(ino); }
  const std::unordered_map<uint64_t, NodePtr>& nodes() const REQUIRES_SHARED(mu_) { return nodes_; }

  // Makes a node under `parent` (null: the root), numbered `ino` or the
  // next free number; a kSourceFolder or kCzi gets its Source, looked at
  // `checked_at`.
  NodePtr NewNode(Node::Kind kind, std::string name, const NodePtr& parent, const FileIdentity& id,
                  uint64_t ino = 0, double checked_at = 0) REQUIRES(mu_);
  void SortChildren(Node& dir) REQUIRES(mu_);
  // Drops `n` and everything below it; what the kernel was given of them
  // goes to `inval`.
  void Drop(Node& n, Fate fate, std::vector<Invalidation>* inval) REQUIRES(mu_);
  // Drops `n`'s children.
  void DropChildren(Node& n, Fate fate, std::vector<Invalidation>* inval) REQUIRES(mu_);

  // Numbers `count` entries of `folder` of CZI `czi`'s tree in a new block;
  // returns its first number.
  uint64_t NewBlock(uint64_t czi, uint64_t folder, uint64_t count) REQUIRES(mu_);
  Block* FindBlock(uint64_t start) REQUIRES(mu_);
  const Block* ViewBlock(uint64_t start) const REQUIRES_SHARED(mu_);
  // Forgets the block starting at `start`.
  void EraseBlock(uint64_t start) REQUIRES(mu_) { blocks_.erase(start); }
  // The first number of the block holding `ino`, or 0 if none.
  uint64_t BlockStartOf(uint64_t ino) const REQUIRES_SHARED(mu_);

 private:
  mutable SharedMutex mu_;
  std::unordered_map<uint64_t, NodePtr> nodes_ GUARDED_BY(mu_);
  std::unordered_set<uint64_t> gone_ GUARDED_BY(mu_);
  std::deque<uint64_t> gone_order_ GUARDED_BY(mu_);
  uint64_t next_ino_ GUARDED_BY(mu_) = kRootIno;
  std::map<uint64_t, Block> blocks_ GUARDED_BY(mu_);
};

}  // namespace czifs
