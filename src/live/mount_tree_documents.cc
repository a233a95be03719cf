// MountTree's parsed documents: letting trees go beyond --parsed-files while
// keeping their inode numbers, building them again when a request needs
// one (Acquire), and showing new attributes of an unchanged version (see
// mount_tree.h for the model).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "czifs/mount_tree.h"
#include "czifs/mutex.h"

namespace czifs {

bool MountTree::ReleaseTree(const NodePtr& czi) {
  {
    WriterLock lock(&mu_);
    // Requests pin before they look (Acquire): seen here, or they see the
    // tree gone and build it again.
    if (czi->users.load() > 0) return false;
    Released r{czi->ino, czi->tree_count, czi->indexed,
               czi->doc ? czi->doc->czi().fingerprint() : 0, std::vector<bool>(czi->tree_count)};
    for (uint64_t i = 0; i < czi->tree_count; ++i) {
      auto it = nodes_.find(czi->tree_first + i);
      r.exposed[i] = it != nodes_.end() && it->second->exposed.load();
    }
    // The numbers stay valid (the kernel is told nothing): they build the
    // tree again when used.
    std::vector<Invalidation> none;
    DropChildren(czi.get(), Fate::kChanged, &none);
    DropReleased(czi.get(), &none);
    if (r.count > 0) {
      czi->released_first = czi->tree_first;
      released_.emplace(czi->tree_first, std::move(r));
    }
  }
  czi->expanded = false;
  czi->attempted = false;
  czi->doc.reset();
  czi->ready.store(false);
  return true;
}

void MountTree::DropReleased(Node* czi, std::vector<Invalidation>* inval) {
  auto it = released_.find(czi->released_first);
  czi->released_first = 0;
  if (it == released_.end()) return;
  for (size_t i = 0; i < it->second.exposed.size(); ++i) {
    if (it->second.exposed[i]) inval->push_back({it->first + i, ""});
  }
  released_.erase(it);
}

void MountTree::ShowNewAttributes(Node* czi, const FileIdentity& id,
                                  std::vector<Invalidation>* inval) {
  czi->id = id;
  if (czi->exposed.load()) inval->push_back({czi->ino, "", /*attributes_only=*/true});
  for (uint64_t i = 0; i < czi->tree_count; ++i) {
    auto it = nodes_.find(czi->tree_first + i);
    if (it == nodes_.end()) continue;
    it->second->id = id;
    if (it->second->exposed.load()) inval->push_back({it->first, "", /*attributes_only=*/true});
  }
}

uint64_t MountTree::ReleasedOwner(uint64_t ino) const {
  ReaderLock lock(&mu_);
  auto it = released_.upper_bound(ino);
  if (it == released_.begin()) return 0;
  --it;
  return ino < it->first + it->second.count ? it->second.czi : 0;
}

Result<MountTree::InUse> MountTree::Acquire(uint64_t ino) {
  // A tree let go between two checks here is built again; a few rounds
  // cover any interleaving short of a budget smaller than the requests.
  constexpr int kRounds = 8;
  for (int round = 0; round < kRounds; ++round) {
    auto n = Get(ino);
    if (!n.ok()) {
      const uint64_t owner = n.status().code() == StatusCode::kStale ? ReleasedOwner(ino) : 0;
      if (owner == 0) return n.status();
      CZIFS_ASSIGN_OR_RETURN(NodePtr czi, Get(owner));
      CZIFS_RETURN_IF_ERROR(RefreshCzi(czi, /*force=*/false, /*expand=*/true));
      continue;
    }
    InUse use;
    use.node = std::move(n).value();
    if (use.node->kind == Kind::kCzi) {
      use.czi = use.node;
    } else if (use.node->czi != 0) {
      CZIFS_ASSIGN_OR_RETURN(use.czi, Get(use.node->czi));
    }
    if (use.czi) use.czi->users.fetch_add(1);
    {
      ReaderLock lock(&mu_);
      if (use.node->attached) return use;
    }
  }
  return Status::Stale(fmt::format("inode {}: its tree was let go again and again", ino));
}

void MountTree::ReleaseDocuments(uint64_t keep) {
  // Over the budget, let go of the oldest down to 7/8 of it in one pass: the
  // scan for the oldest is then paid once per budget/8 new files, not per file.
  std::vector<std::pair<uint64_t, uint64_t>> by_age;  // (last used, ino)
  {
    MutexLock lock(&expanded_mu_);
    if (expanded_.size() <= live_.max_documents) return;
    for (uint64_t ino : expanded_) by_age.emplace_back(0, ino);
  }
  for (auto& [used, ino] : by_age) {
    auto n = Get(ino);
    used = n.ok() ? (*n)->last_used.load() : 0;  // dropped ones first
  }
  const size_t target = live_.max_documents - live_.max_documents / 8;
  const size_t excess = by_age.size() > target ? by_age.size() - target : 0;
  std::partial_sort(by_age.begin(), by_age.begin() + static_cast<ptrdiff_t>(excess), by_age.end());
  for (size_t i = 0; i < excess; ++i) {
    const uint64_t victim = by_age[i].second;
    if (victim == keep) continue;
    {
      MutexLock lock(&expanded_mu_);
      if (!expanded_.erase(victim)) continue;
    }
    auto n = Get(victim);
    if (!n.ok()) continue;  // dropped already
    const NodePtr& czi = *n;
    UniqueLock refresh(&czi->refresh_mu, std::try_to_lock);
    if (!refresh.owns_lock()) {  // being checked or parsed right now: keep it, try later
      MutexLock lock(&expanded_mu_);
      expanded_.insert(victim);
      continue;
    }
    if (!czi->expanded) continue;
    if (!ReleaseTree(czi)) {  // in use right now: keep it, try later
      MutexLock lock(&expanded_mu_);
      expanded_.insert(victim);
      continue;
    }
    refresh.unlock();
    spdlog::debug("{}: let go of its parsed tree (more than {} open)",
                  czi->source->Describe(czi->rel), live_.max_documents);
  }
}

}  // namespace czifs
