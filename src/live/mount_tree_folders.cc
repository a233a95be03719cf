// MountTree's sources: adding them at start (Create), listing source
// folders again when due, and reconciling the nodes with what the listing found (see mount_tree.h
// for the model).
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "czifs/mount_tree.h"
#include "czifs/mutex.h"

namespace czifs {
namespace {

namespace fs = std::filesystem;

bool WantCzi(std::string_view name) { return IsCziFileName(std::string(name)); }

}  // namespace

bool MountTree::IsAncestorFolder(const Node& dir, const FileIdentity& id) const {
  for (const Node* n = &dir; n != nullptr && n->kind == Kind::kSourceFolder;) {
    if (table_.View(*n).id.dev == id.dev && table_.View(*n).id.ino == id.ino) return true;
    n = table_.Find(n->parent).get();
  }
  return false;
}

std::vector<NodePtr> MountTree::Reconcile(const NodePtr& dir,
                                          const std::vector<SourceEntry>& entries,
                                          const std::set<std::string>& scope,
                                          std::vector<Invalidation>* inval) {
  std::vector<NodePtr> to_check;
  WriterLock lock(&table_.mu());
  if (!table_.View(*dir).attached) return to_check;
  std::map<std::string, NodePtr> current;
  for (uint64_t c : table_.View(*dir).children) {
    if (NodePtr child = table_.Find(c)) current.emplace(child->name, child);
  }
  std::set<std::string> present;
  for (const auto& e : entries) present.insert(e.name);
  bool changed = false;
  auto drop = [&](const NodePtr& child) REQUIRES(table_.mu()) {
    if (child->exposed.load()) inval->push_back({dir->ino, child->name});
    std::erase(table_.Of(*dir).children, child->ino);
    table_.Drop(*child, Fate::kGone, inval);
    current.erase(child->name);
    changed = true;
  };
  for (auto it = current.begin(); it != current.end();) {
    const NodePtr child = (it++)->second;
    if ((scope.empty() || scope.count(child->name)) && !present.count(child->name)) drop(child);
  }
  for (const SourceEntry& e : entries) {
    auto it = current.find(e.name);
    if (it != current.end()) {
      const NodePtr existing = it->second;
      const bool was_dir = existing->kind == Kind::kSourceFolder;
      const FileIdentity& was = table_.View(*existing).id;
      const bool same_object = was.dev == e.id.dev && was.ino == e.id.ino;
      if (was_dir != e.is_dir || (e.is_dir && !same_object)) {
        drop(existing);  // another kind of thing, or another folder, under the old name
      } else {
        if (e.is_dir && !table_.View(*existing).id.SameAttributes(e.id)) {
          table_.Of(*existing).id = e.id;
          if (existing->exposed.load()) inval->push_back({existing->ino, ""});
        } else if (!e.is_dir && !table_.View(*existing).id.SameAttributes(e.id)) {
          to_check.push_back(existing);
        }
        continue;
      }
    }
    if (e.is_dir && e.via_link && IsAncestorFolder(*dir, e.id)) continue;  // a link cycle
    NodePtr n = table_.NewNode(e.is_dir ? Kind::kSourceFolder : Kind::kCzi, e.name, dir, e.id,
                               /*ino=*/0, /*checked_at=*/Now());  // `e.id` is fresh
    n->rel = JoinRelative(dir->rel, e.name);
    changed = true;
  }
  if (changed) {
    table_.SortChildren(*dir);
    if (dir->exposed.load()) inval->push_back({dir->ino, ""});
  }
  return to_check;
}

Status MountTree::RefreshFolder(const NodePtr& dir, bool force,
                                const std::set<std::string>& names) {
  if (!force && dir->ready.load() && !dir->dirty.load() && !polling_.load()) return Status::Ok();
  std::vector<Invalidation> inval;
  std::vector<NodePtr> to_check;
  {
    MutexLock refresh(&dir->src->refresh_mu);
    const double now = Now();
    const bool due = force || dir->dirty.exchange(false) || !dir->src->state.listed ||
                     (polling_.load() && now - dir->src->state.checked_at >= live_.ttl_seconds);
    if (!due) return Status::Ok();
    if (!polling_.load() && dir->wd.load() < 0) AddWatch(dir);  // before listing: miss nothing
    std::vector<SourceEntry> entries;
    std::set<std::string> scope;
    if (names.empty() || !dir->src->state.listed) {
      auto listing = dir->source->List(dir->rel, WantCzi);
      if (!listing.ok()) {
        Report({"", listing.status().ToString()}, /*error=*/true);
        dir->dirty.store(true);  // what it shows stays; look again on next use
        return listing.status();
      }
      entries = std::move(listing).value();
    } else {
      for (const std::string& name : names) {
        auto e = dir->source->Entry(dir->rel, name, WantCzi);
        if (e.ok()) {
          entries.push_back(std::move(e).value());
        } else if (e.status().code() != StatusCode::kNotFound) {
          dir->dirty.store(true);  // could not look now: not gone, look again later
          continue;
        }
        scope.insert(name);
      }
      if (scope.empty() && entries.empty()) return Status::Ok();
    }
    if (auto self = dir->source->Stat(dir->rel); self.ok()) {
      WriterLock lock(&table_.mu());
      if (!table_.View(*dir).id.SameAttributes(*self)) {
        table_.Of(*dir).id = *self;
        if (dir->exposed.load()) inval.push_back({dir->ino, ""});
      }
    }
    to_check = Reconcile(dir, entries, scope, &inval);
    dir->src->state.listed = true;
    dir->src->state.checked_at = now;
    dir->ready.store(true);
  }
  Send(std::move(inval));
  for (const NodePtr& czi : to_check) (void)RefreshCzi(czi, /*force=*/true, /*expand=*/false);
  return Status::Ok();
}

void MountTree::RefreshFolderAttributes(const NodePtr& dir) {
  if (!polling_.load()) return;                 // the watcher reports attribute changes
  if (!dir->src->refresh_mu.TryLock()) return;  // being listed right now
  CheckFolderAttributesHeld(dir);
  dir->src->refresh_mu.Unlock();
}

void MountTree::CheckFolderAttributesHeld(const NodePtr& dir) {
  const double now = Now();
  if (now - dir->src->state.self_checked_at < live_.ttl_seconds) return;
  dir->src->state.self_checked_at = now;
  auto self = dir->source->Stat(dir->rel);
  if (!self.ok()) return;  // gone: its parent's next listing drops it
  WriterLock lock(&table_.mu());
  if (table_.View(*dir).id.SameAttributes(*self)) return;
  // The kernel keeps a folder's listing while its mtime stays: this new
  // mtime makes it ask again, and that listing must look at the source.
  table_.Of(*dir).id = *self;
  dir->dirty.store(true);
}

Status MountTree::AddSource(const NodePtr& root, const std::string& source, bool is_root,
                            const std::string& name) {
  const FileSystem& storage = *session_->fs();
  CZIFS_ASSIGN_OR_RETURN(FileIdentity id, storage.Stat(source));
  // A source this user cannot read would mount as a folder that answers
  // "Permission denied" to everyone: refused now.
  CZIFS_RETURN_IF_ERROR(storage.CheckReadable(source, S_ISDIR(id.mode)));
  if (S_ISDIR(id.mode)) {
    CZIFS_ASSIGN_OR_RETURN(auto dir, storage.OpenDir(source));
    WriterLock lock(&table_.mu());
    NodePtr n = is_root ? root : table_.NewNode(Kind::kSourceFolder, name, root, id);
    n->source = std::move(dir);
    return Status::Ok();
  }
  if (!S_ISREG(id.mode)) return Status::InvalidArgument(source + ": not a file or folder");
  // A file named on the command line: its folder is the source, the file the only entry.
  CZIFS_ASSIGN_OR_RETURN(const std::string real, storage.Canonical(source));
  const fs::path real_path(real);
  CZIFS_ASSIGN_OR_RETURN(auto dir, storage.OpenDir(real_path.parent_path().string()));
  NodePtr n;
  {
    WriterLock lock(&table_.mu());
    n = is_root ? root : table_.NewNode(Kind::kCzi, name, root, id);
    n->source = std::move(dir);
    n->rel = real_path.filename().string();
  }
  // A single CZI is parsed now, so a bad file is reported at mount time.
  return is_root ? RefreshCzi(n, /*force=*/true, /*expand=*/true) : Status::Ok();
}

namespace {

// The folder holding several sources changes when they do: its time is the
// newest of theirs (so a mount and an export of them agree), or now if none
// can be looked at (adding them fails then, saying why).
timespec NewestMtime(const FileSystem& fs, const std::vector<std::string>& sources) {
  timespec newest{0, 0};
  for (const auto& s : sources) {
    auto id = fs.Stat(s);
    if (!id.ok()) continue;
    const timespec t = id->mtime;
    if (t.tv_sec > newest.tv_sec || (t.tv_sec == newest.tv_sec && t.tv_nsec > newest.tv_nsec)) {
      newest = t;
    }
  }
  if (newest.tv_sec == 0 && newest.tv_nsec == 0) ::clock_gettime(CLOCK_REALTIME, &newest);
  return newest;
}

}  // namespace

Result<std::unique_ptr<MountTree>> MountTree::Create(const std::vector<std::string>& sources,
                                                     std::shared_ptr<Session> session,
                                                     const TreeOptions& options,
                                                     const LiveOptions& live) {
  if (sources.empty()) return Status::InvalidArgument("no source given");
  std::unique_ptr<MountTree> tree(new MountTree(std::move(session), options, live));
  tree->creating_.store(true);
  struct Created {
    MountTree* t;
    ~Created() { t->creating_.store(false); }
  } created{tree.get()};
  if (sources.size() == 1) {
    CZIFS_ASSIGN_OR_RETURN(FileIdentity id, tree->session_->fs()->Stat(sources[0]));
    {
      WriterLock lock(&tree->table_.mu());
      tree->table_.NewNode(S_ISDIR(id.mode) ? Kind::kSourceFolder : Kind::kCzi, "", nullptr, id);
    }
    CZIFS_ASSIGN_OR_RETURN(NodePtr root, tree->Get(kRootIno));
    CZIFS_RETURN_IF_ERROR(tree->AddSource(root, sources[0], /*is_root=*/true, ""));
    return tree;
  }
  FileIdentity id;
  id.uid = ::getuid();
  id.gid = ::getgid();
  id.mode = S_IFDIR | 0755;
  id.mtime = NewestMtime(*tree->session_->fs(), sources);
  id.ctime = id.mtime;
  NodePtr root;
  {
    WriterLock lock(&tree->table_.mu());
    root = tree->table_.NewNode(Kind::kFolder, "", nullptr, id);
  }
  // Each source under its own last name; two sources with one name: in
  // command-line order, the second is name~2, the third name~3, ...
  std::set<std::string> used;
  for (const auto& s : sources) {
    std::string base = fs::path(s).lexically_normal().filename().string();
    if (base.empty() || base == "." || base == "..") {
      base = fs::path(s).lexically_normal().parent_path().filename().string();
    }
    if (base.empty()) base = "root";  // "/"
    std::string name = base;
    for (int k = 2; used.count(name); ++k) name = fmt::format("{}~{}", base, k);
    used.insert(name);
    CZIFS_RETURN_IF_ERROR(tree->AddSource(root, s, false, name));
  }
  WriterLock lock(&tree->table_.mu());
  tree->table_.SortChildren(*root);
  return tree;
}

}  // namespace czifs
