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
// Lock order: Node::Source::refresh_mu of a folder, then of a CZI below it
// (never upwards), then the table's mu(); another CZI's refresh_mu only by
// TryLock; watcher_mu_ only before the watcher's own mutex (a leaf);
// expanded_mu_ and the sink's mutex are never held with another; a CZI's refresh_mu may be held
// while its file checks a moved ctime (RandomAccessFile's verify_mu_, a
// leaf), never the table's.
//
// Three classes, three jobs: InodeTable keeps the numbers and the nodes'
// shared state (inode_table.h), SourceWatcher reports changed names
// (source_watcher.h), and MountTree decides when to look again, what a
// change drops and what to parse or let go. MountTree's methods are spread
// over five files by concern (each file's first lines say which): they are
// one class because they share one lock discipline over one table.
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
#include "czifs/inode_table.h"
#include "czifs/mutex.h"
#include "czifs/source_dir.h"
#include "czifs/source_watcher.h"
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
  using Kind = Node::Kind;

  MountTree(std::shared_ptr<Session> session, const TreeOptions& options, const LiveOptions& live);

  // The node of `ino` (InodeTable::Get).
  Result<NodePtr> Get(uint64_t ino) const { return table_.Get(ino); }
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

  // mount_tree.cc: the requests, and what they need ready.
  double Now() const;
  double Timeout() const;
  // Brings `n` (or the CZI/folder it belongs to) up to date as far as its use
  // needs: folders listed, a CZI's tree built if `expand`. Stale if `n` was dropped.
  Status Prepare(const NodePtr& n, bool expand);
  // Prepare for listing or looking up in folder `dir`.
  Status PrepareFolder(const NodePtr& dir);
  // Checks a CZI's source if due (or `force`); a new version drops the old
  // tree. With `expand`, builds the tree if there is none.
  Status RefreshCzi(const NodePtr& czi, bool force, bool expand);
  // RefreshCzi's work once the CZI's refresh_mu is held.
  Status RefreshCziHeld(const NodePtr& czi, bool force, bool expand,
                        std::vector<Invalidation>* inval) REQUIRES(czi->src->refresh_mu);
  // Builds a CZI's tree under `czi`.
  Status Expand(const NodePtr& czi) REQUIRES(czi->src->refresh_mu);
  // Remembers why `czi` did not parse; returns that status.
  Status ExpandFailed(const NodePtr& czi, const Status& st) REQUIRES(czi->src->refresh_mu);
  // Makes the entries of folder `dir` of a CZI's tree into nodes, numbered
  // in one block (the same block as before for a tree built again). Stale
  // if the tree was let go or dropped meanwhile.
  Status Materialize(const NodePtr& dir);
  // Makes `entries` (of folder `dir` of `czi`'s tree) into nodes, numbered
  // in the folder's old block if it had one, else in a new one.
  void AddEntries(const NodePtr& dir, const NodePtr& czi, std::vector<TreeEntry> entries)
      REQUIRES(table_.mu());
  // Drops `czi`'s tree (its nodes leave the table, the kernel is told) so it
  // is built again on next use; shows `id` from now on if given.
  void ForgetTree(const NodePtr& czi, const FileIdentity* id, Fate fate,
                  std::vector<Invalidation>* inval) REQUIRES(czi->src->refresh_mu);
  // The ACL of kind `kind` of `n`'s source (a folder or a CZI file), read
  // once per ctime the node shows.
  Result<std::string> SourceAcl(const NodePtr& n, AclKind kind);
  // The mode a CZI's folder (`is_dir`) or file shows for the CZI's `mode`.
  static uint32_t ShownMode(bool is_dir, mode_t mode);
  void Send(std::vector<Invalidation> inval);
  // Hands `p` to the problem sink, or logs it (as an error or a warning).
  void Report(const TreeProblem& p, bool error) const;

  // mount_tree_folders.cc: sources added at start, source folders listed.
  // Adds `source` as the root itself, or under the root as `name`.
  Status AddSource(const NodePtr& root, const std::string& source, bool is_root,
                   const std::string& name);
  // Lists a source folder again if due (or `force`); `names` limits the work
  // to those entries (watcher events), empty = all.
  Status RefreshFolder(const NodePtr& dir, bool force, const std::set<std::string>& names = {});
  // Without a watcher: checks a source folder's own attributes if due; a
  // new mtime (an entry came or went) makes its next listing look again.
  void RefreshFolderAttributes(const NodePtr& dir);
  void CheckFolderAttributesHeld(const NodePtr& dir) REQUIRES(dir->src->refresh_mu);
  // Updates `dir`'s children from `entries` (only names in `scope` if not
  // empty). Returns the CZI nodes to check again.
  std::vector<NodePtr> Reconcile(const NodePtr& dir, const std::vector<SourceEntry>& entries,
                                 const std::set<std::string>& scope,
                                 std::vector<Invalidation>* inval) REQUIRES(dir->src->refresh_mu);
  bool IsAncestorFolder(const Node& dir, const FileIdentity& id) const REQUIRES_SHARED(table_.mu());

  // mount_tree_documents.cc: parsed trees let go beyond the budgets and
  // built again under the same numbers.
  // Get, for a request: a number of a tree that was let go (not changed)
  // builds that tree again, under the same numbers, so an inode the kernel
  // holds stays answerable however small --parsed-files is.
  Result<InUse> Acquire(uint64_t ino);
  // The CZI node whose tree numbered `ino` (live or let go), or 0.
  uint64_t ReleasedOwner(uint64_t ino) const;
  // Makes the node of `ino` again (a number of a tree built again, whose
  // folder has not been listed since): its folders are materialized, from
  // the nearest one that exists down.
  Status Rematerialize(uint64_t ino);
  // Lets go of the least recently used parsed CZIs beyond max_documents or
  // max_document_bytes (never `keep`, never one in use). Takes their
  // refresh_mu only if free.
  void ReleaseDocuments(uint64_t keep);
  // Lets go of `czi`'s tree, keeping its inode numbers (its blocks,
  // SourceLinked::released) for when it is built again; false if it is in use.
  bool ReleaseTree(const NodePtr& czi) REQUIRES(czi->src->refresh_mu);
  // `czi` holds no parsed document from now on (its tree was let go or
  // dropped): parsed again on next use.
  void ForgetDocument(Node* czi) REQUIRES(czi->src->refresh_mu);
  // Sets what `czi`'s parsed tree holds (0 once let go), or adds to it.
  void SetDocumentBytes(Node* czi, uint64_t bytes);
  void AddDocumentBytes(Node* czi, uint64_t bytes);
  // What one node of a CZI's tree costs (the node, its name, its file and
  // what the catalogue described for it), about.
  static constexpr uint64_t kNodeBytes = 384;
  // Forgets the numbers of `czi`'s tree (its blocks): another version is
  // there now; the kernel is told to drop what it held of those that were
  // let go (they answer Stale; live ones were dropped already).
  void DropReleased(Node* czi, std::vector<Invalidation>* inval) REQUIRES(table_.mu());
  // Shows a CZI's new owner, mode and ctime (its content is the same):
  // the kernel is told to ask for the attributes of its tree again.
  void ShowNewAttributes(Node* czi, const FileIdentity& id, std::vector<Invalidation>* inval)
      REQUIRES(table_.mu());

  // mount_tree_shadow.cc: a let-go tree's answers from its shadow: nullopt
  // where there is none (live, never listed, or no shadow kept), and the
  // caller takes the usual way, which builds the tree again.
  // Records the shadow of block `b` (whose nodes are still in the table) if
  // the shadows' budget allows; ClearShadow forgets it.
  void MakeShadow(uint64_t start, Block* b) REQUIRES(table_.mu());
  void ClearShadow(Block* b) REQUIRES(table_.mu());
  struct ShadowBlock {
    NodePtr czi;
    uint64_t start = 0;  // the block's first number
  };
  // The let-go, shadowed block holding number `ino` (not a live node).
  std::optional<ShadowBlock> FindShadowEntry(uint64_t ino) const REQUIRES_SHARED(table_.mu());
  // The shadowed block of folder `ino`'s entries, after checking its CZI is unchanged.
  std::optional<ShadowBlock> FindShadowFolder(uint64_t ino);
  std::optional<Result<uint64_t>> ShadowLookup(uint64_t parent, std::string_view name);
  // With `cheap_only`, a file whose size the shadow does not hold answers
  // NotSupported (as a live one would) instead of building the tree again.
  std::optional<Result<NodeAttr>> ShadowAttr(uint64_t ino, bool cheap_only);
  std::optional<std::vector<DirEntry>> ShadowReadDir(uint64_t ino);
  std::optional<Result<std::string>> ShadowAcl(uint64_t ino, AclKind kind);

  // mount_tree_watch.cc: what the watcher's reports make the tree do.
  // Watches `n` (a mirrored folder itself; a CZI source through its folder);
  // out of watches, the whole tree falls back to the TTL.
  void AddWatch(const NodePtr& n) EXCLUDES(watcher_mu_);
  // The watcher's report: looks again at just the names that changed.
  void HandleChanges(const SourceWatcher::Changes& changes, bool overflow);
  // After the kernel's queue overflowed: every listed folder and every CZI.
  void LookAgainAtEverything();
  bool WasListed(const NodePtr& dir);

  // Constant after construction.
  const std::shared_ptr<Session> session_;
  const TreeOptions options_;
  const LiveOptions live_;

  InodeTable table_;
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

  // Taken shared to add a watch, exclusively to start or stop watching;
  // the watcher is destroyed (its thread joined) after it is released.
  SharedMutex watcher_mu_;
  std::unique_ptr<SourceWatcher> watcher_ GUARDED_BY(watcher_mu_);
};

}  // namespace czifs
