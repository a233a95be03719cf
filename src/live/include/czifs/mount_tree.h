// MountTree: the virtual tree as the mount sees it — inode numbers, folder
// listings, attributes and reads — kept in step with sources that change,
// with no FUSE in it.
//
// Sources: one CZI file → the root is its tree. One folder → the root mirrors
// it (each subfolder a folder, each name.czi a folder). Several sources →
// each appears at the root under its own last name ("a/" and "a/." are "a");
// sources with one name are told apart in command-line order: name,
// name~2, name~3, ... A source folder is listed on
// first access; a CZI's own tree is built on first access inside it, so a
// folder of thousands of files mounts at once.
//
// Owners and modes follow the sources: a mirrored folder shows its own
// owner, group and mode; a CZI's folder and everything in it show the CZI
// file's (folders gain x where r is set; files lose x).
//
// Live: a source folder is listed again, and a CZI file checked again, when
// the watcher (inotify, StartWatching) reports a change in its folder, or,
// where there is no watcher (network file systems, --watch=ttl, or no
// StartWatching), on first use after `ttl_seconds`. A CZI whose identity
// (device, inode, size, mtime, ctime) changed gets a new tree (new inode
// numbers below its folder) on next use; a change of the ctime alone (chmod,
// chown, an ACL, a hard link, touch -a) whose CZI fingerprint is unchanged
// keeps the version (its tree, numbers, open files) and shows the new owner,
// mode and ACL; the old nodes of a new version are dropped at once
// (their inode numbers answer Stale) and the kernel is told to forget them
// through the InvalidationSink. An open file keeps reading the version it
// opened (the old bytes, or EIO once those are gone). A CZI that failed to
// parse is tried again once it changed or `ttl_seconds` passed.
//
// Thread-safety: all methods may be called concurrently.
// Lock order: Node::refresh_mu of a folder, then of a CZI below it (never
// upwards), then mu_; another CZI's refresh_mu only by try_lock;
// expanded_mu_, watch_mu_ and the sink's mutex are never held with another;
// a CZI's refresh_mu may be held while its file checks a moved ctime
// (RandomAccessFile's verify_mu_, a leaf), never mu_.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "czifs/compose.h"
#include "czifs/czi_document.h"
#include "czifs/enum_names.h"
#include "czifs/mutex.h"
#include "czifs/source_dir.h"
#include "czifs/status.h"
#include "czifs/tree.h"

namespace czifs {

struct NodeAttr {
  uint64_t ino = 0;
  bool is_dir = false;
  uint64_t size = 0;
  uint64_t gap = 0;   // bytes of it that are a gap of zeros (VirtualFile::GapBytes)
  uint32_t mode = 0;  // permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  timespec mtime{};
  timespec ctime{};
  uint32_t nlink = 1;
  double timeout = 0;  // how long the kernel may keep entry and attributes
  // Inside a CZI's tree: a tag of the CZI's version (its fingerprint, size
  // and mtime; see RandomAccessFile), unchanged by a chmod; else 0.
  uint64_t version = 0;
};

struct DirEntry {
  std::string name;
  uint64_t ino;
  bool is_dir;
};

// Something the kernel may hold that is no longer true: the attributes and
// cached data of inode `ino` (name empty), or the entry `name` in folder `ino`.
struct Invalidation {
  uint64_t ino = 0;
  std::string name;
  // With `name` empty: the attributes (and ACL) only; the cached data stays
  // true (the file's owner, mode or ACL changed, not its content).
  bool attributes_only = false;
};
// Receives invalidations; called from request and watcher threads, so it
// must only queue them (telling the kernel from inside a request deadlocks).
using InvalidationSink = std::function<void(std::vector<Invalidation>)>;

struct LiveOptions {
  enum class Watch {
    kAuto,     // inotify, except for sources on network file systems (TTL)
    kInotify,  // inotify wherever it can be set up
    kTtl,      // never inotify: look again after ttl_seconds
  };
  static constexpr EnumNames<Watch, 3> kWatchNames = {
      {{"auto", Watch::kAuto}, {"inotify", Watch::kInotify}, {"ttl", Watch::kTtl}}};
  Watch watch = Watch::kAuto;
  double ttl_seconds = 2.0;
  // Parsed CZIs kept at once; the least recently used beyond this are let go
  // (their trees are built again on next use), so memory stays bounded in a
  // folder of any size.
  size_t max_documents = 256;
  // Bytes parsed CZIs may hold at once (each counts its directory, index,
  // catalogue, metadata and the nodes of its folders listed so far); past
  // it the least recently used not in use are let go too. A single file
  // larger than this still works (it is let go first). 0: a quarter of the
  // memory this process may use, at most 1 GiB (DefaultDocumentBytes).
  uint64_t max_document_bytes = 0;
  // Where problems met in the sources go (a CZI that does not parse, a plane
  // that cannot be served, a folder that cannot be listed): the log when
  // empty; `czifs export` collects them. Called from any thread.
  std::function<void(const TreeProblem&)> problem_sink;
};

// Returns the name of the network file system `folder` is on ("nfs",
// "lustre", ...), where inotify does not see other machines' changes, or "".
std::string NetworkFileSystemOf(const std::string& folder);

class MountTree {
 public:
  static constexpr uint64_t kRootIno = 1;
  // How long the kernel keeps what the watcher will tell it to forget.
  static constexpr double kWatchedTimeout = 86400;

  // Opens the sources (a single CZI source is parsed now, so a bad file is
  // reported here; folders are listed on first access).
  static Result<std::unique_ptr<MountTree>> Create(const std::vector<std::string>& sources,
                                                   std::shared_ptr<Session> session,
                                                   const TreeOptions& options = {},
                                                   const LiveOptions& live = {});
  ~MountTree();

  // Sends invalidations to `sink` from now on, and starts the inotify
  // watcher unless the options or the sources' file systems say TTL. Call
  // after daemonizing (it starts a thread).
  void StartWatching(InvalidationSink sink);
  // Stops the watcher thread (and sends nothing more).
  void StopWatching();
  // True while changes are found by inotify rather than by TTL.
  bool watching() const { return !polling_.load(); }

  // Returns the inode of `name` in folder `parent`.
  Result<uint64_t> Lookup(uint64_t parent, std::string_view name);
  // Returns the attributes of `ino`. With `cheap_only`, a file whose size would
  // need generating (planetable.csv before first use) gives NotSupported.
  Result<NodeAttr> GetAttr(uint64_t ino, bool cheap_only = false);
  // Lists a folder (without "." and "..").
  Result<std::vector<DirEntry>> ReadDir(uint64_t ino);
  // Returns the file behind `ino` for reading; it stays that version's file
  // however the source changes later.
  Result<std::shared_ptr<VirtualFile>> OpenFile(uint64_t ino);
  // The ACL the kernel checks each access to `ino` against ("" = none; the
  // kernel's form, see acl.h): a mirrored folder's own (access and default);
  // in a CZI's tree the CZI file's access ACL, as its mode is shown (files
  // without x, folders with x where r is set); czifs' own folders have none.
  // Read from the source at each call: the kernel keeps it until the
  // attributes time out or are invalidated.
  Result<std::string> Acl(uint64_t ino, AclKind kind);
  // What the tree serves now: the bytes of every file whose size is known
  // without work (the CZIs opened so far), and the number of files.
  struct Usage {
    uint64_t bytes = 0;
    uint64_t files = 0;
  };
  Usage ServedUsage() const;
  // Reads a file; returns bytes produced (0 at end).
  Result<size_t> Read(uint64_t ino, uint64_t offset, size_t len, uint8_t* out,
                      const ReadContext* ctx = nullptr);

 private:
  enum class Kind {
    kFolder,        // a folder made by czifs: several sources' root, or inside a CZI's tree
    kSourceFolder,  // mirrors a folder below a source
    kCzi,           // a CZI file's folder
    kFile,          // inside a CZI's tree
  };
  struct Node {
    // Constant after creation.
    uint64_t ino = 0;
    Kind kind = Kind::kFolder;
    std::string name;
    uint64_t parent = 0;                      // 0 for the root
    uint64_t czi = 0;                         // inside a CZI's tree: the CZI's node
    std::shared_ptr<VirtualFile> file;        // kFile
    std::shared_ptr<const SourceDir> source;  // kSourceFolder, kCzi
    std::string rel;                          // path below `source`

    // Guarded by MountTree::mu_.
    FileIdentity id;                 // owner, group, mode, times shown
    std::vector<uint64_t> children;  // sorted by name
    bool attached = true;            // false once dropped from the tree
    bool gone = false;               // dropped because its source is gone

    std::atomic<int> wd{-1};  // kSourceFolder: its inotify watch, or -1

    // Guarded by MountTree::mu_. Folders of a CZI's tree (kCzi, and kFolder
    // with czi != 0): what it is (the catalogue's key) and whether its
    // entries are nodes yet (Materialize); they are made when it is first
    // listed or looked into.
    FolderKey key;
    bool materialized = false;
    std::atomic<uint64_t> version{0};  // kCzi: NodeAttr::version of its tree
    // kSourceFolder and kCzi only (null for every other node: the folders
    // and files of CZI trees, most of the nodes, stay small).
    struct Source {
      // Guarded by refresh_mu (kSourceFolder, kCzi).
      Mutex refresh_mu;
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
      // kSourceFolder, kCzi, guarded by MountTree::mu_: the source's ACLs
      // (access, default) as read while the node showed ctime `ctime`.
      struct AclCache {
        bool valid = false;
        timespec ctime{};
        std::string value;
      };
      AclCache acl[2];

      // kCzi, guarded by MountTree::mu_: the tree of `doc` folder by folder
      // (null while let go or not built); the blocks of inode numbers its
      // folders' entries got (starts, in blocks_), and which folder got which,
      // kept while the tree is let go so it is built again under the same
      // numbers; and, while let go, the version those numbers are of.
      std::shared_ptr<const DocumentTree> tree;
      std::vector<uint64_t> blocks;
      std::unordered_map<uint64_t, uint64_t> folder_block;  // folder ino -> block start
      struct Released {
        FileIdentity version;
        uint64_t fingerprint = 0;
      };
      std::optional<Released> released;
    };
    std::unique_ptr<Source> src;
    // kCzi: requests working inside its tree now (Acquire); a tree in use
    // is never let go.
    std::atomic<int> users{0};

    std::atomic<bool> dirty{false};      // the watcher saw a change; look again
    std::atomic<uint64_t> last_used{0};  // kCzi: MountTree::tick_ at its last use
    std::atomic<uint64_t> bytes{0};      // kCzi: what its parsed tree holds (document_bytes_)
    // Listed (a folder) or expanded (a CZI) and nothing reported since: with
    // a watcher, requests need not take refresh_mu at all.
    std::atomic<bool> ready{false};
    std::atomic<bool> exposed{false};  // the kernel was given this inode
  };
  using NodePtr = std::shared_ptr<Node>;

  MountTree(std::shared_ptr<Session> session, const TreeOptions& options, const LiveOptions& live);

  // The node of `ino`: NotFound if never issued or its source is gone, Stale
  // if dropped since for another reason.
  Result<NodePtr> Get(uint64_t ino) const;
  // A node a request works on, with its CZI's tree held in use (never let
  // go) until the request ends.
  struct InUse {
    NodePtr node;
    NodePtr czi;  // the CZI whose tree holds `node`, if any
    InUse() = default;
    InUse(InUse&& o) noexcept : node(std::move(o.node)), czi(std::move(o.czi)) {}
    InUse& operator=(InUse&&) = delete;
    ~InUse() {
      if (czi) czi->users.fetch_sub(1);
    }
  };
  // Get, for a request: a number of a tree that was let go (not changed)
  // builds that tree again, under the same numbers, so an inode the kernel
  // holds stays answerable however small --parsed-files is.
  Result<InUse> Acquire(uint64_t ino);
  // The CZI node whose tree numbered `ino` (live or let go), or 0.
  uint64_t ReleasedOwner(uint64_t ino) const;
  // The first number of the block holding `ino` (blocks_), or 0 if none.
  uint64_t BlockStartOf(uint64_t ino) const REQUIRES_SHARED(mu_);
  // Makes the node of `ino` again (a number of a tree built again, whose
  // folder has not been listed since): its folders are materialized, from
  // the nearest one that exists down.
  Status Rematerialize(uint64_t ino);
  // Makes the entries of folder `dir` of a CZI's tree into nodes, numbered
  // in one block (the same block as before for a tree built again). Stale
  // if the tree was let go or dropped meanwhile.
  Status Materialize(const NodePtr& dir);
  // `ino` = 0: the next free number.
  NodePtr NewNode(Kind kind, std::string name, const NodePtr& parent, const FileIdentity& id,
                  uint64_t ino = 0) REQUIRES(mu_);
  void SortChildren(Node* dir) REQUIRES(mu_);
  // Adds `source` as the root itself, or under the root as `name`.
  Status AddSource(const NodePtr& root, const std::string& source, bool is_root,
                   const std::string& name);

  double Now() const;
  double Timeout() const;
  // Brings `n` (or the CZI/folder it belongs to) up to date as far as its use
  // needs: folders listed, a CZI's tree built if `expand`. Stale if `n` was dropped.
  Status Prepare(const NodePtr& n, bool expand);
  // Prepare for listing or looking up in folder `dir`.
  Status PrepareFolder(const NodePtr& dir);
  // Lists a source folder again if due (or `force`); `names` limits the work
  // to those entries (watcher events), empty = all.
  Status RefreshFolder(const NodePtr& dir, bool force, const std::set<std::string>& names = {});
  // Without a watcher: checks a source folder's own attributes if due; a
  // new mtime (an entry came or went) makes its next listing look again.
  void RefreshFolderAttributes(const NodePtr& dir);
  // Checks a CZI's source if due (or `force`); a new version drops the old
  // tree. With `expand`, builds the tree if there is none.
  Status RefreshCzi(const NodePtr& czi, bool force, bool expand);
  // Updates `dir`'s children from `entries` (only names in `scope` if not empty).
  // REQUIRES: dir->refresh_mu held. Returns the CZI nodes to check again.
  std::vector<NodePtr> Reconcile(const NodePtr& dir, const std::vector<SourceEntry>& entries,
                                 const std::set<std::string>& scope,
                                 std::vector<Invalidation>* inval);
  // Builds a CZI's tree under `czi`. REQUIRES: czi->refresh_mu held.
  Status Expand(const NodePtr& czi);
  // Why nodes leave the table: their source changed (their inode numbers
  // answer Stale, and the kernel looks the path up again), or is gone (they
  // answer NotFound, as a removed file's would).
  enum class Fate { kChanged, kGone };
  // Drops `czi`'s tree (its nodes leave the table, the kernel is told) so it
  // is built again on next use; shows `id` from now on if given.
  // REQUIRES: czi->refresh_mu held.
  void ForgetTree(const NodePtr& czi, const FileIdentity* id, Fate fate,
                  std::vector<Invalidation>* inval);
  // Lets go of the least recently used parsed CZIs beyond max_documents or
  // max_document_bytes (never `keep`, never one in use). Takes their
  // refresh_mu only if free.
  void ReleaseDocuments(uint64_t keep);
  // `czi` holds no parsed document from now on (its tree was let go or
  // dropped): parsed again on next use. REQUIRES: czi->refresh_mu held.
  void ForgetDocument(Node* czi);
  // Sets what `czi`'s parsed tree holds (0 once let go), or adds to it.
  void SetDocumentBytes(Node* czi, uint64_t bytes);
  void AddDocumentBytes(Node* czi, uint64_t bytes);
  // What one node of a CZI's tree costs (the node, its name, its file and
  // what the catalogue described for it), about.
  static constexpr uint64_t kNodeBytes = 384;
  // Lets go of `czi`'s tree, keeping its inode numbers (its blocks, Node::Source::released)
  // for when it is built again; false if it is in use.
  // REQUIRES: czi->refresh_mu held.
  bool ReleaseTree(const NodePtr& czi);
  // Forgets the numbers of `czi`'s tree (its blocks): another version is
  // there now; the kernel is told to drop what it held of those that were
  // let go (they answer Stale; live ones were dropped already).
  void DropReleased(Node* czi, std::vector<Invalidation>* inval) REQUIRES(mu_);
  struct Block;  // below, with blocks_
  // Records the shadow of block `b` (whose nodes are still in the table) if
  // the shadows' budget allows; ClearShadow forgets it.
  void MakeShadow(uint64_t start, Block* b) REQUIRES(mu_);
  void ClearShadow(Block* b) REQUIRES(mu_);
  // A let-go tree's answers from its shadow (mount_tree_shadow.cc): nullopt
  // where there is none (live, never listed, or no shadow kept), and the
  // caller takes the usual way, which builds the tree again.
  struct ShadowBlock {
    NodePtr czi;
    uint64_t start = 0;  // the block's first number
  };
  // The let-go, shadowed block holding number `ino` (not a live node).
  std::optional<ShadowBlock> FindShadowEntry(uint64_t ino) const REQUIRES_SHARED(mu_);
  // The shadowed block of folder `ino`'s entries, after checking its CZI is unchanged.
  std::optional<ShadowBlock> FindShadowFolder(uint64_t ino);
  std::optional<Result<uint64_t>> ShadowLookup(uint64_t parent, std::string_view name);
  // With `cheap_only`, a file whose size the shadow does not hold answers
  // NotSupported (as a live one would) instead of building the tree again.
  std::optional<Result<NodeAttr>> ShadowAttr(uint64_t ino, bool cheap_only);
  std::optional<std::vector<DirEntry>> ShadowReadDir(uint64_t ino);
  std::optional<Result<std::string>> ShadowAcl(uint64_t ino, AclKind kind);
  // The mode a CZI's folder (`is_dir`) or file shows for the CZI's `mode`.
  static uint32_t ShownMode(bool is_dir, mode_t mode);
  // Shows a CZI's new owner, mode and ctime (its content is the same):
  // the kernel is told to ask for the attributes of its tree again.
  void ShowNewAttributes(Node* czi, const FileIdentity& id, std::vector<Invalidation>* inval)
      REQUIRES(mu_);
  // The ACL of kind `kind` of `n`'s source (a folder or a CZI file), read
  // once per ctime the node shows.
  Result<std::string> SourceAcl(const NodePtr& n, AclKind kind);
  // Drops `ino`'s children from the table.
  void DropChildren(Node* n, Fate fate, std::vector<Invalidation>* inval) REQUIRES(mu_);
  // Drops `n` and everything below it.
  void Drop(Node* n, Fate fate, std::vector<Invalidation>* inval) REQUIRES(mu_);
  void Send(std::vector<Invalidation> inval);
  // Hands `p` to the problem sink, or logs it (as an error or a warning).
  void Report(const TreeProblem& p, bool error) const;
  bool IsAncestorFolder(const Node& dir, const FileIdentity& id) const REQUIRES_SHARED(mu_);

  // Watching (inotify).
  void AddWatch(const NodePtr& dir);
  void WatchLoop();
  void HandleEvents(const std::map<uint64_t, std::set<std::string>>& pending, bool overflow);

  // Constant after construction.
  const std::shared_ptr<Session> session_;
  const TreeOptions options_;
  const LiveOptions live_;

  mutable SharedMutex mu_;
  std::unordered_map<uint64_t, NodePtr> nodes_ GUARDED_BY(mu_);
  // Inode numbers of the last kMaxGone nodes whose source is gone (older
  // ones answer Stale).
  static constexpr size_t kMaxGone = 1 << 16;
  std::unordered_set<uint64_t> gone_ GUARDED_BY(mu_);
  std::deque<uint64_t> gone_order_ GUARDED_BY(mu_);
  uint64_t next_ino_ GUARDED_BY(mu_) = 1;
  // Every block of inode numbers given to the entries of one folder of a
  // CZI's tree, by its first number: the CZI, the folder, how many, and
  // (once the tree is let go) which of them the kernel was given. Kept
  // while the tree is let go, so a number of it can build it again.
  //
  // While the tree is let go, a block may also keep its entries' shadow:
  // names, kinds and sizes as they were, in block order, and that order
  // sorted by name — enough to list the folder, look names up and show
  // attributes (and ACLs) without parsing the CZI again, so a second walk
  // (find, ls -lR) over more files than --parsed-files parses nothing. Only
  // reading a file builds the tree again. Shadows hold at most
  // max_document_bytes_ / 4 in all (shadow_bytes_); past it, let-go trees
  // keep none and are built again as before.
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
  std::map<uint64_t, Block> blocks_ GUARDED_BY(mu_);
  std::atomic<uint64_t> shadow_bytes_{0};  // what all blocks' shadows hold, about

  std::atomic<bool> polling_{true};          // no watcher: TTL decides when to look again
  std::atomic<bool> creating_{false};        // in Create: failures are returned, not logged too
  std::atomic<uint64_t> tick_{0};            // use counter for Node::last_used
  std::atomic<uint64_t> document_bytes_{0};  // sum of the expanded CZIs' Node::bytes
  uint64_t max_document_bytes_ = 0;          // live_.max_document_bytes, or its default

  Mutex expanded_mu_;
  std::set<uint64_t> expanded_ GUARDED_BY(expanded_mu_);  // CZI nodes with a tree (may be stale)

  Mutex sink_mu_;
  InvalidationSink sink_ GUARDED_BY(sink_mu_);

  Mutex watch_mu_;
  // inotify watch -> the folder nodes it serves, each
  // with the one name it cares about ("" = all: a mirrored folder).
  std::unordered_map<int, std::vector<std::pair<uint64_t, std::string>>> watches_
      GUARDED_BY(watch_mu_);
  std::atomic<int> inotify_fd_{-1};  // set before the watcher starts, closed after it ends
  int stop_fd_ = -1;                 // eventfd that ends the watcher (Start/StopWatching only)
  std::thread watcher_;
};

}  // namespace czifs
