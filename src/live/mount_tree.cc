#include "czifs/mount_tree.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "czifs/memory_limit.h"
#include "czifs/mutex.h"

namespace czifs {
namespace {

namespace fs = std::filesystem;

// A CZI's folder and what is in it show the CZI's permission bits: files
// without x (they are images), folders with x exactly where r is set (so
// whoever may read the CZI may enter its folders). Write bits stay: the
// mount is read-only anyway, and a `cp -r` copy is then an ordinary
// deletable tree. The CZI's ACL is shown the same way (acl.h), group bits
// of x alone included.
uint32_t WithGroupBits(mode_t source, uint32_t shown) {
  return (shown & ~070u) | ShownGroupBits(source, shown);
}
uint32_t FileMode(mode_t m) { return WithGroupBits(m, m & 0666); }
uint32_t FolderMode(mode_t m) { return WithGroupBits(m, (m & 0666) | ((m & 0444) >> 2)); }

}  // namespace

uint32_t MountTree::ShownMode(bool is_dir, mode_t mode) {
  return is_dir ? FolderMode(mode) : FileMode(mode);
}

namespace {

// NodeAttr::version of a CZI of identity `id` and fingerprint `fingerprint`.
uint64_t VersionTag(const FileIdentity& id, uint64_t fingerprint) {
  // splitmix64's finaliser over the three: a tag, not a defence.
  uint64_t h = fingerprint;
  for (uint64_t v : {id.size, static_cast<uint64_t>(id.mtime.tv_sec) * 1'000'000'000 +
                                  static_cast<uint64_t>(id.mtime.tv_nsec)}) {
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
  }
  return h == 0 ? 1 : h;
}

}  // namespace

MountTree::MountTree(std::shared_ptr<Session> session, const TreeOptions& options,
                     const LiveOptions& live)
    : session_(std::move(session)),
      options_(options),
      live_(live),
      max_document_bytes_(live.max_document_bytes != 0 ? live.max_document_bytes
                                                       : DefaultDocumentBytes(ReadMemoryLimit())) {}

MountTree::~MountTree() { StopWatching(); }

double MountTree::Now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double MountTree::Timeout() const { return polling_.load() ? live_.ttl_seconds : kWatchedTimeout; }

void MountTree::Send(std::vector<Invalidation> inval) {
  if (inval.empty()) return;
  MutexLock lock(&sink_mu_);
  if (sink_) sink_(std::move(inval));
}

void MountTree::Report(const TreeProblem& p, bool error) const {
  if (live_.problem_sink) {
    live_.problem_sink(p);
  } else if (error) {
    spdlog::error("{}", p.ToString());
  } else {
    spdlog::warn("{}", p.ToString());
  }
}

Status MountTree::ExpandFailed(const NodePtr& czi, const Status& st) {
  Node::Refreshed& r = czi->src->state;
  const std::string where = czi->source->Describe(czi->rel);
  // The version that failed: tried again once it changes (or after the
  // TTL). Failures of the system rather than the file (descriptors or
  // memory short, storage errors) are not remembered at all.
  auto id = czi->source->Stat(czi->rel);
  r.indexed = id.ok() ? *id : FileIdentity{};
  r.attempted = st.code() != StatusCode::kIOError && st.code() != StatusCode::kResourceExhausted;
  r.attempted_at = Now();
  r.expand_status = st.WithContext(where);
  // Once per file until it works: a file being written fails on every
  // change, and a reader may try after each one. A single CZI source
  // parsed at start says it in the error Create returns, not here too.
  if (creating_.load()) {
    r.failure_logged = true;
  } else if (!r.failure_logged) {
    Report({where, st.ToString() + " (tried again once it changes)"}, /*error=*/true);
    r.failure_logged = true;
  } else {
    spdlog::debug("{}", r.expand_status.ToString());
  }
  return r.expand_status;
}

Status MountTree::Expand(const NodePtr& czi) {
  auto file = RandomAccessFile::Open(czi->source, czi->rel, session_->descriptors());
  if (!file.ok()) return ExpandFailed(czi, file.status());
  auto doc = CziDocument::Open(std::move(file).value(), session_, options_.shown);
  if (!doc.ok()) return ExpandFailed(czi, doc.status());
  auto tree = std::make_shared<const DocumentTree>(*doc, options_);
  const FileIdentity id = (*doc)->czi().identity();
  std::vector<Invalidation> inval;
  bool rebuilt = false;  // a let-go tree of this version, built again
  {
    WriterLock lock(&table_.mu());
    table_.DropChildren(*czi, Fate::kChanged, &inval);
    Node::Linked& l = table_.Of(*czi);
    if (!l.attached) {
      return Status::Stale(czi->source->Describe(czi->rel) + ": changed while being indexed");
    }
    l.id = id;
    // The same version as a tree let go: its folders get the same numbers
    // as they are listed again (the tree is built the same way from the
    // same bytes), and what the kernel holds of them stays true.
    if (l.src->released) {
      const bool same = l.src->released->version.SameButCtime(id) &&
                        l.src->released->fingerprint == (*doc)->czi().fingerprint();
      if (!same) DropReleased(czi.get(), &inval);
      l.src->released.reset();
      rebuilt = same;
    }
    l.src->tree = tree;
    l.materialized = false;
    l.key = FolderKey{};
  }
  // Said once per version (not again when a let-go tree is built again).
  if (!rebuilt) {
    for (const auto& p : tree->Problems()) Report(p, /*error=*/false);
  }
  Node::Refreshed& r = czi->src->state;
  r.expanded = true;
  r.attempted = true;
  r.indexed = id;
  SetDocumentBytes(czi.get(), (*doc)->MemoryBytes());
  r.doc = *doc;
  czi->version.store(VersionTag(id, (*doc)->czi().fingerprint()));
  r.failure_logged = false;
  czi->ready.store(true);
  r.expand_status = Status::Ok();
  czi->last_used.store(++tick_);
  {
    MutexLock lock(&expanded_mu_);
    expanded_.insert(czi->ino);
  }
  Send(std::move(inval));
  return Status::Ok();
}

Status MountTree::Materialize(const NodePtr& dir) {
  NodePtr czi = dir;
  std::shared_ptr<const DocumentTree> tree;
  FolderKey key;
  {
    ReaderLock lock(&table_.mu());
    if (table_.View(*dir).materialized) return Status::Ok();
    if (dir->kind != Kind::kCzi) {
      czi = table_.Find(dir->czi);
      if (!czi) return Status::Stale(dir->name + ": its CZI changed");
    }
    tree = table_.View(*czi).src->tree;
    key = table_.View(*dir).key;
  }
  if (!tree) return Status::Stale(dir->name + ": its tree was let go");
  auto listed = tree->List(key);
  if (!listed.ok()) return listed.status().WithContext(czi->source->Describe(czi->rel));
  std::vector<TreeEntry> entries = std::move(listed).value();
  WriterLock lock(&table_.mu());
  if (table_.View(*dir).materialized) return Status::Ok();  // another request was first
  if (!table_.View(*dir).attached || table_.View(*czi).src->tree != tree) {
    return Status::Stale(dir->name + ": its tree changed");
  }
  if (!entries.empty()) {
    AddEntries(dir, czi, std::move(entries));
    AddDocumentBytes(czi.get(), table_.View(*dir).children.size() * kNodeBytes);
  }
  table_.Of(*dir).materialized = true;
  return Status::Ok();
}

void MountTree::AddEntries(const NodePtr& dir, const NodePtr& czi, std::vector<TreeEntry> entries) {
  Node::SourceLinked& tree = *table_.Of(*czi).src;
  // The block this folder had before its tree was let go, or a new one.
  uint64_t start = 0;
  Block* before = nullptr;
  if (auto f = tree.folder_block.find(dir->ino); f != tree.folder_block.end()) {
    Block* b = table_.FindBlock(f->second);
    if (b && b->count == entries.size()) {
      start = f->second;
      before = b;
    }
  }
  if (start == 0) {
    start = table_.NewBlock(czi->ino, dir->ino, entries.size());
    tree.blocks.push_back(start);
    tree.folder_block[dir->ino] = start;
  }
  const FileIdentity id = table_.View(*czi).id;
  for (size_t k = 0; k < entries.size(); ++k) {
    TreeEntry& e = entries[k];
    NodePtr n = table_.NewNode(e.is_dir ? Kind::kFolder : Kind::kFile, std::move(e.name), dir, id,
                               start + k);
    n->czi = czi->ino;
    if (e.is_dir) {
      table_.Of(*n).key = e.folder;
    } else {
      n->file = std::move(e.file);
    }
    if (before && k < before->exposed.size() && before->exposed[k]) n->exposed.store(true);
  }
  if (before) ClearShadow(before);  // live again: its nodes answer
}

void MountTree::ForgetTree(const NodePtr& czi, const FileIdentity* id, Fate fate,
                           std::vector<Invalidation>* inval) {
  {
    WriterLock lock(&table_.mu());
    table_.DropChildren(*czi, fate, inval);
    DropReleased(czi.get(), inval);
    if (id) table_.Of(*czi).id = *id;
    if (czi->exposed.load()) inval->push_back({czi->ino, ""});
    table_.Of(*czi).src->tree.reset();
    table_.Of(*czi).materialized = false;
  }
  ForgetDocument(czi.get());
  MutexLock lock(&expanded_mu_);
  expanded_.erase(czi->ino);
}

Status MountTree::RefreshCzi(const NodePtr& czi, bool force, bool expand) {
  if (!force && czi->ready.load() && !czi->dirty.load() && !polling_.load()) return Status::Ok();
  // Attributes only: if another thread is checking or parsing this file
  // right now, its answer is as fresh as ours would be; do not wait behind
  // a parse (`ls -l` of a folder must not stall on one big file).
  if (force || expand) {
    czi->src->refresh_mu.Lock();
  } else if (!czi->src->refresh_mu.TryLock()) {
    return Status::Ok();
  }
  std::vector<Invalidation> inval;
  const Status result = RefreshCziHeld(czi, force, expand, &inval);
  czi->src->refresh_mu.Unlock();
  Send(std::move(inval));
  if (expand && result.ok()) ReleaseDocuments(czi->ino);
  return result;
}

Status MountTree::RefreshCziHeld(const NodePtr& czi, bool force, bool expand,
                                 std::vector<Invalidation>* inval) {
  Node::Refreshed& r = czi->src->state;
  const double now = Now();
  const bool due = force || czi->dirty.exchange(false) || r.checked_at == 0 ||
                   (polling_.load() && now - r.checked_at >= live_.ttl_seconds);
  auto id = due ? czi->source->Stat(czi->rel) : Result<FileIdentity>(Status::Cancelled(""));
  // Could not look (descriptors, memory, storage): the file is not gone;
  // keep what we have and look again next time.
  const bool looked = due && (id.ok() || id.status().code() == StatusCode::kNotFound);
  if (due && !looked) czi->dirty.store(true);
  if (looked) {
    r.checked_at = now;
    const bool is_file = id.ok() && S_ISREG(id->mode);
    // A tree of another version (or of a file now gone) goes; a failure
    // stands for its version until the TTL says try again.
    bool changed = is_file ? !id->SameContent(r.indexed) : r.expanded;
    if (changed && is_file && r.doc && id->SameButCtime(r.indexed)) {
      // Only the ctime moved: the same version if its fingerprint says so.
      auto same = r.doc->czi().IsSameVersion(*id);
      changed = !same.ok() || !*same;
    }
    if (r.attempted && changed) {
      // Another version (or none): its old tree goes, the new one is built on use.
      ForgetTree(czi, is_file ? &*id : nullptr, is_file ? Fate::kChanged : Fate::kGone, inval);
    } else {
      // Looked at shared (the usual answer: nothing to do); what is read
      // here changes only under this CZI's refresh_mu, which we hold.
      bool drop_released = false, new_attributes = false;
      {
        ReaderLock lock(&table_.mu());
        const Node::Linked& l = table_.View(*czi);
        // A tree let go whose file changed since: its numbers go for good.
        // (A moved ctime alone is for the fingerprint to settle at Expand.)
        drop_released = !r.attempted && l.src->released &&
                        !(is_file && id->SameButCtime(l.src->released->version));
        new_attributes = is_file && !l.id.SameAttributes(*id);
      }
      if (drop_released || new_attributes) {
        WriterLock lock(&table_.mu());
        if (drop_released) DropReleased(czi.get(), inval);
        if (new_attributes) {
          if (!r.attempted && czi->exposed.load()) inval->push_back({czi->ino, ""});
          ShowNewAttributes(czi.get(), *id, inval);  // and what the kernel holds of a let-go tree
          if (r.attempted && r.expanded) r.indexed = *id;
        }
      }
    }
  }
  if (!expand || r.expanded) return Status::Ok();
  if (r.attempted && now - r.attempted_at < live_.ttl_seconds) {
    return r.expand_status;  // this version failed a moment ago
  }
  return Expand(czi);
}

Status MountTree::Prepare(const NodePtr& n, bool expand) {
  switch (n->kind) {
    case Kind::kSourceFolder:
      if (expand) {
        CZIFS_RETURN_IF_ERROR(RefreshFolder(n, false));
      } else {
        RefreshFolderAttributes(n);
      }
      break;
    case Kind::kCzi:
      n->last_used.store(++tick_, std::memory_order_relaxed);
      CZIFS_RETURN_IF_ERROR(RefreshCzi(n, false, expand));
      break;
    case Kind::kFolder:
    case Kind::kFile:
      if (n->czi != 0) {
        CZIFS_ASSIGN_OR_RETURN(NodePtr czi, Get(n->czi));
        czi->last_used.store(++tick_, std::memory_order_relaxed);
        CZIFS_RETURN_IF_ERROR(RefreshCzi(czi, false, false));
      }
      break;
  }
  ReaderLock lock(&table_.mu());
  if (!table_.View(*n).attached) {
    return table_.View(*n).gone ? Status::NotFound(n->name + ": its source is gone")
                                : Status::Stale(n->name + ": its source changed");
  }
  return Status::Ok();
}

Status MountTree::PrepareFolder(const NodePtr& dir) {
  CZIFS_RETURN_IF_ERROR(Prepare(dir, /*expand=*/true));
  // A CZI's tree may have been let go (ReleaseDocuments) or dropped for a
  // new version between Prepare and now: build it once more.
  if (dir->kind == Kind::kCzi && !dir->ready.load()) {
    CZIFS_RETURN_IF_ERROR(RefreshCzi(dir, /*force=*/false, /*expand=*/true));
  }
  // A folder of a CZI's tree: its entries become nodes on first use.
  if (dir->kind == Kind::kCzi || (dir->kind == Kind::kFolder && dir->czi != 0)) {
    CZIFS_RETURN_IF_ERROR(Materialize(dir));
    // A listing may take the parsed files past their memory: others go.
    if (document_bytes_.load() > max_document_bytes_) {
      ReleaseDocuments(dir->kind == Kind::kCzi ? dir->ino : dir->czi);
    }
  }
  return Status::Ok();
}

Result<uint64_t> MountTree::Lookup(uint64_t parent, std::string_view name) {
  if (auto shadowed = ShadowLookup(parent, name)) return *std::move(shadowed);
  CZIFS_ASSIGN_OR_RETURN(InUse use, Acquire(parent));
  const NodePtr& dir = use.node;
  if (dir->kind == Kind::kFile) return Status::InvalidArgument("not a folder");
  for (int attempt = 0; attempt < 2; ++attempt) {
    CZIFS_RETURN_IF_ERROR(PrepareFolder(dir));
    ReaderLock lock(&table_.mu());
    const auto& c = table_.View(*dir).children;  // sorted by name
    // Binary search by name (a lambda would hide the lock from the analysis).
    auto it = c.begin();
    for (auto count = c.end() - c.begin(); count > 0;) {
      const auto half = count / 2;
      if (table_.At(*(it + half))->name < name) {
        it += half + 1;
        count -= half + 1;
      } else {
        count = half;
      }
    }
    if (it != c.end()) {
      const NodePtr& child = table_.At(*it);
      if (child->name == name) {
        child->exposed.store(true);
        return child->ino;
      }
    }
    // Not there: unless the tree was let go in the meantime, it is not there.
    if (dir->kind != Kind::kCzi || dir->ready.load()) break;
  }
  return Status::NotFound(std::string(name));
}

MountTree::Usage MountTree::ServedUsage() const {
  Usage usage;
  ReaderLock lock(&table_.mu());
  for (const auto& [ino, n] : table_.nodes()) {
    if (n->kind != Kind::kFile) continue;
    ++usage.files;
    if (auto size = n->file->SizeIfCheap()) usage.bytes += *size;
  }
  return usage;
}

Result<NodeAttr> MountTree::GetAttr(uint64_t ino, bool cheap_only) {
  if (auto shadowed = ShadowAttr(ino, cheap_only)) return *std::move(shadowed);
  CZIFS_ASSIGN_OR_RETURN(InUse use, Acquire(ino));
  const NodePtr& n = use.node;
  CZIFS_RETURN_IF_ERROR(Prepare(n, /*expand=*/false));
  NodeAttr a;
  a.ino = ino;
  a.is_dir = n->kind != Kind::kFile;
  a.timeout = Timeout();
  {
    ReaderLock lock(&table_.mu());
    const FileIdentity& id = table_.View(*n).id;
    switch (n->kind) {
      case Kind::kSourceFolder:
        a.mode = id.mode & 07777;
        break;
      case Kind::kFile:
        a.mode = FileMode(id.mode);
        break;
      case Kind::kCzi:
        a.mode = FolderMode(id.mode);
        break;
      case Kind::kFolder:
        a.mode = n->czi != 0 ? FolderMode(id.mode) : id.mode & 07777;
        break;
    }
    a.uid = id.uid;
    a.gid = id.gid;
    if (use.czi) a.version = use.czi->version.load();
    a.mtime = id.mtime;
    a.ctime = id.ctime;
  }
  if (a.is_dir) {
    a.nlink = 2;
  } else if (cheap_only) {
    auto size = n->file->SizeIfCheap();
    if (!size) return Status::NotSupported("size not known yet");
    a.size = *size;
  } else {
    CZIFS_ASSIGN_OR_RETURN(a.size, n->file->Size());
  }
  if (!a.is_dir) a.gap = n->file->GapBytes();
  n->exposed.store(true);
  return a;
}

Result<std::vector<DirEntry>> MountTree::ReadDir(uint64_t ino) {
  if (auto shadowed = ShadowReadDir(ino)) return *std::move(shadowed);
  CZIFS_ASSIGN_OR_RETURN(InUse use, Acquire(ino));
  const NodePtr& dir = use.node;
  if (dir->kind == Kind::kFile) return Status::InvalidArgument("not a folder");
  CZIFS_RETURN_IF_ERROR(PrepareFolder(dir));
  std::vector<DirEntry> out;
  ReaderLock lock(&table_.mu());
  out.reserve(table_.View(*dir).children.size());
  for (uint64_t c : table_.View(*dir).children) {
    const Node& n = *table_.At(c);
    out.push_back({n.name, n.ino, n.kind != Kind::kFile});
  }
  return out;
}

Result<std::shared_ptr<VirtualFile>> MountTree::OpenFile(uint64_t ino) {
  CZIFS_ASSIGN_OR_RETURN(InUse use, Acquire(ino));
  const NodePtr& n = use.node;
  if (n->kind != Kind::kFile) return Status::InvalidArgument("is a folder");
  CZIFS_RETURN_IF_ERROR(Prepare(n, /*expand=*/false));
  n->exposed.store(true);
  return n->file;
}

Result<std::string> MountTree::Acl(uint64_t ino, AclKind kind) {
  if (auto shadowed = ShadowAcl(ino, kind)) return *std::move(shadowed);
  CZIFS_ASSIGN_OR_RETURN(InUse use, Acquire(ino));
  const NodePtr& n = use.node;
  CZIFS_RETURN_IF_ERROR(Prepare(n, /*expand=*/false));
  if (n->kind == Kind::kSourceFolder) return SourceAcl(n, kind);
  if (n->kind == Kind::kFolder && n->czi == 0) return std::string();  // czifs' own root
  if (kind == AclKind::kDefault) return std::string();  // nothing is ever created here
  NodePtr czi = n;
  if (n->kind != Kind::kCzi) {
    CZIFS_ASSIGN_OR_RETURN(czi, Get(n->czi));
  }
  CZIFS_ASSIGN_OR_RETURN(std::string acl, SourceAcl(czi, AclKind::kAccess));
  if (acl.empty()) return acl;
  return n->kind == Kind::kFile ? AclForImages(acl) : AclForFolders(acl);
}

Result<std::string> MountTree::SourceAcl(const NodePtr& n, AclKind kind) {
  const int k = static_cast<int>(kind);
  timespec ctime;
  {
    ReaderLock lock(&table_.mu());
    ctime = table_.View(*n).id.ctime;
    const Node::SourceLinked::AclCache& c = table_.View(*n).src->acl[k];
    if (c.valid && SameTime(c.ctime, ctime)) {
      return c.value;
    }
  }
  // Every file of a CZI's tree asks (ls -l asks for each): read once per
  // status of the source. A setfacl moves its ctime, so a value read under
  // an older ctime is read again once the node shows the new one.
  CZIFS_ASSIGN_OR_RETURN(std::string acl, n->source->Acl(n->rel, kind));
  WriterLock lock(&table_.mu());
  table_.Of(*n).src->acl[k] = {true, ctime, acl};
  return acl;
}

Result<size_t> MountTree::Read(uint64_t ino, uint64_t offset, size_t len, uint8_t* out,
                               const ReadContext* ctx) {
  CZIFS_ASSIGN_OR_RETURN(std::shared_ptr<VirtualFile> file, OpenFile(ino));
  if (ctx) return file->ReadWithContext(offset, len, out, ctx);
  return file->Read(offset, len, out);
}

}  // namespace czifs
