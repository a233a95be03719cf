// MountTree's side of watching: which folders are watched (the listed
// source folders, and the folders of CZIs named as sources), falling back
// to the TTL when inotify cannot serve, and what a report of changed names
// makes the tree look at again. The inotify part is SourceWatcher.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <filesystem>

#include "czifs/mount_tree.h"
#include "czifs/mutex.h"

namespace czifs {

namespace fs = std::filesystem;

void MountTree::StartWatching(InvalidationSink sink) {
  {
    MutexLock lock(&sink_mu_);
    sink_ = std::move(sink);
  }
  if (live_.watch == LiveOptions::Watch::kTtl) return;
  {
    ReaderLock lock(&watcher_mu_);
    if (watcher_) return;
  }
  // The sources themselves: the root folder, a CZI named as the source, or
  // the children of several sources' root.
  std::vector<NodePtr> sources;
  {
    ReaderLock lock(&table_.mu());
    for (const auto& [ino, n] : table_.nodes()) {
      const NodePtr parent = table_.Find(n->parent);
      const bool top = n->parent == 0 || (parent && parent->kind == Kind::kFolder);
      if (top && (n->kind == Kind::kSourceFolder || n->kind == Kind::kCzi)) sources.push_back(n);
    }
  }
  if (live_.watch == LiveOptions::Watch::kAuto) {
    for (const NodePtr& n : sources) {
      const std::string kind = NetworkFileSystemOf(n->source->real_path());
      if (!kind.empty()) {
        spdlog::info(
            "{} is on {}: changes made on other machines are invisible to inotify, so "
            "czifs looks again after {} s (--ttl)",
            n->source->path(), kind, live_.ttl_seconds);
        return;
      }
    }
  }
  auto watcher = SourceWatcher::Start([this](const SourceWatcher::Changes& changes, bool overflow) {
    HandleChanges(changes, overflow);
  });
  if (!watcher.ok()) {
    spdlog::warn("cannot start inotify ({}): changes are seen after {} s (--ttl)",
                 watcher.status().ToString(), live_.ttl_seconds);
    return;
  }
  {
    WriterLock lock(&watcher_mu_);
    watcher_ = std::move(watcher).value();
  }
  polling_.store(false);
  for (const NodePtr& n : sources) {
    AddWatch(n);
    n->dirty.store(true);  // listed or checked before the watch: look once more
  }
}

void MountTree::StopWatching() {
  std::unique_ptr<SourceWatcher> stopping;
  {
    WriterLock lock(&watcher_mu_);
    stopping = std::move(watcher_);
  }
  stopping.reset();      // joins its thread, which may be adding watches: not under the lock
  polling_.store(true);  // no more watches are added
  MutexLock lock(&sink_mu_);
  sink_ = nullptr;
}

void MountTree::AddWatch(const NodePtr& n) {
  if (polling_.load()) return;
  // A mirrored folder is watched itself; a CZI named as a source through its folder.
  const bool folder = n->kind == Kind::kSourceFolder;
  const std::string rel = folder ? n->rel : fs::path(n->rel).parent_path().string();
  const std::string only = folder ? "" : fs::path(n->rel).filename().string();
  auto fd = n->source->Resolve(rel);
  Result<int> wd = Status::Cancelled("watching stopped");
  {
    ReaderLock lock(&watcher_mu_);
    if (!watcher_) return;
    wd = fd.ok() ? watcher_->Watch(fd->get(), n->ino, only) : fd.status();
  }
  if (wd.ok()) {
    if (folder) n->wd.store(*wd);
    return;
  }
  // Out of watches (fs.inotify.max_user_watches) or a folder gone: from now
  // on every folder is looked at again after the TTL, and the kernel is
  // told to forget what it was allowed to keep for a day.
  if (polling_.exchange(true)) return;
  spdlog::warn("cannot watch {} ({}): changes are now seen after {} s (--ttl)",
               n->source->Describe(rel), wd.status().ToString(), live_.ttl_seconds);
  std::vector<Invalidation> inval;
  {
    ReaderLock lock(&table_.mu());
    for (const auto& [ino, node] : table_.nodes()) {
      if (!node->exposed.load()) continue;
      inval.push_back({ino, ""});
      if (node->parent != 0) inval.push_back({node->parent, node->name});
    }
  }
  Send(std::move(inval));
}

void MountTree::LookAgainAtEverything() {
  spdlog::warn("inotify queue overflowed: looking at every listed folder again");
  std::vector<NodePtr> all;
  {
    ReaderLock lock(&table_.mu());
    for (const auto& [ino, n] : table_.nodes()) {
      if (n->kind == Kind::kSourceFolder || n->kind == Kind::kCzi) all.push_back(n);
    }
  }
  for (const NodePtr& n : all) {
    if (n->kind != Kind::kSourceFolder) {
      (void)RefreshCzi(n, true, false);
    } else if (WasListed(n)) {
      (void)RefreshFolder(n, true);
    }
  }
}

bool MountTree::WasListed(const NodePtr& dir) {
  MutexLock refresh(&dir->src->refresh_mu);
  return dir->src->state.listed;
}

void MountTree::HandleChanges(const SourceWatcher::Changes& changes, bool overflow) {
  if (overflow) LookAgainAtEverything();
  for (const auto& [ino, names] : changes) {
    auto n = Get(ino);
    if (!n.ok()) {
      // The folder was dropped (removed or renamed): forget its watch.
      ReaderLock lock(&watcher_mu_);
      if (watcher_) watcher_->Forget(ino);
      continue;
    }
    const NodePtr& node = *n;
    if (node->kind == Kind::kCzi) {
      (void)RefreshCzi(node, true, false);
      continue;
    }
    if (!node->src) continue;  // not a mirrored folder (cannot happen: watches are on those)
    std::set<std::string> entries = names;
    entries.erase("");               // an event on the folder itself
    if (!WasListed(node)) continue;  // never shown: listed on first use
    (void)RefreshFolder(node, true, entries);
  }
}

}  // namespace czifs
