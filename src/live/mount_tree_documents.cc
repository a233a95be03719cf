// MountTree's parsed documents: letting trees go beyond --parsed-files while
// keeping their inode numbers, building them again when a request needs
// one (Acquire), and showing new attributes of an unchanged version (see
// mount_tree.h for the model).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "czifs/mount_tree.h"
#include "czifs/mutex.h"

namespace czifs {

bool MountTree::ReleaseTree(const NodePtr& czi) {
  // Sizes its shadow should hold that nobody asked for yet (a find lists
  // without them), if quick to know: worked out before the table's lock.
  std::vector<std::shared_ptr<VirtualFile>> unsized;
  {
    ReaderLock lock(&table_.mu());
    if (czi->users.load() > 0) return false;
    for (uint64_t start : table_.View(*czi).src->blocks) {
      const Block* b = table_.ViewBlock(start);
      for (uint64_t k = 0; b && k < b->count; ++k) {
        const NodePtr node = table_.Find(start + k);
        if (!node || node->kind != Kind::kFile) continue;
        const auto& file = node->file;
        if (!file->SizeIfCheap() && !file->SizeTakesLong()) unsized.push_back(file);
      }
    }
  }
  for (const auto& file : unsized) (void)file->Size();  // a failure stays unsized
  const auto& doc = czi->src->state.doc;
  const Node::SourceLinked::Released released{czi->src->state.indexed,
                                              doc ? doc->czi().fingerprint() : 0};
  {
    WriterLock lock(&table_.mu());
    // Requests pin before they look (Acquire): seen here, or they see the
    // tree gone and build it again.
    if (czi->users.load() > 0) return false;
    // Which numbers the kernel holds, per block, for when they go for good.
    for (uint64_t start : table_.View(*czi).src->blocks) {
      Block* block = table_.FindBlock(start);
      if (!block) continue;  // cannot happen: a CZI's blocks and the table's change together
      Block& b = *block;
      // A folder not listed again since its tree was last let go keeps
      // what was recorded then.
      b.exposed.resize(b.count, false);
      for (uint64_t k = 0; k < b.count; ++k) {
        if (const NodePtr node = table_.Find(start + k)) b.exposed[k] = node->exposed.load();
      }
      MakeShadow(start, &b);  // answers for it while let go (mount_tree_shadow.cc)
    }
    // The numbers stay valid (the kernel is told nothing): they build the
    // tree again when used.
    std::vector<Invalidation> none;
    table_.DropChildren(*czi, Fate::kChanged, &none);
    table_.Of(*czi).src->released = released;
    table_.Of(*czi).src->tree.reset();
    table_.Of(*czi).materialized = false;
  }
  ForgetDocument(czi.get());
  return true;
}

void MountTree::ForgetDocument(Node* czi) {
  czi->src->state.expanded = false;
  czi->src->state.attempted = false;
  czi->src->state.doc.reset();
  SetDocumentBytes(czi, 0);
  czi->ready.store(false);
}

void MountTree::SetDocumentBytes(Node* czi, uint64_t bytes) {
  const uint64_t was = czi->bytes.exchange(bytes);
  document_bytes_.fetch_add(bytes - was);  // modular: a decrease wraps back
}

void MountTree::AddDocumentBytes(Node* czi, uint64_t bytes) {
  czi->bytes.fetch_add(bytes);
  document_bytes_.fetch_add(bytes);
}

void MountTree::DropReleased(Node* czi, std::vector<Invalidation>* inval) {
  for (uint64_t start : table_.View(*czi).src->blocks) {
    Block* b = table_.FindBlock(start);
    if (!b) continue;
    for (size_t k = 0; k < b->exposed.size(); ++k) {
      if (b->exposed[k]) inval->push_back({start + k, ""});
    }
    ClearShadow(b);
    table_.EraseBlock(start);
  }
  table_.Of(*czi).src->blocks.clear();
  table_.Of(*czi).src->folder_block.clear();
  table_.Of(*czi).src->released.reset();
}

void MountTree::ShowNewAttributes(Node* czi, const FileIdentity& id,
                                  std::vector<Invalidation>* inval) {
  table_.Of(*czi).id = id;
  if (czi->exposed.load()) inval->push_back({czi->ino, "", /*attributes_only=*/true});
  for (uint64_t start : table_.View(*czi).src->blocks) {
    const Block* b = table_.ViewBlock(start);
    const uint64_t count = b ? b->count : 0;
    for (uint64_t k = 0; k < count; ++k) {
      const NodePtr node = table_.Find(start + k);
      if (!node) {
        // A let-go tree's number: its shadow shows the CZI's new attributes;
        // the kernel may hold the old ones.
        if (k < b->exposed.size() && b->exposed[k]) inval->push_back({start + k, "", true});
        continue;
      }
      table_.Of(*node).id = id;
      if (node->exposed.load()) inval->push_back({node->ino, "", /*attributes_only=*/true});
    }
  }
}

uint64_t MountTree::ReleasedOwner(uint64_t ino) const {
  ReaderLock lock(&table_.mu());
  const uint64_t start = table_.BlockStartOf(ino);
  return start == 0 ? 0 : table_.ViewBlock(start)->czi;
}

Status MountTree::Rematerialize(uint64_t ino) {
  // The folders from `ino` up to the first that is a node, then down again.
  std::vector<uint64_t> chain;
  for (uint64_t at = ino; chain.size() < 64;) {
    uint64_t folder = 0;
    {
      ReaderLock lock(&table_.mu());
      if (table_.Find(at)) break;
      const uint64_t start = table_.BlockStartOf(at);
      if (start == 0) break;
      folder = table_.ViewBlock(start)->folder;
    }
    chain.push_back(folder);
    at = folder;
  }
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    auto dir = Get(*it);
    if (!dir.ok()) return dir.status();
    CZIFS_RETURN_IF_ERROR(Materialize(*dir));
  }
  return Status::Ok();
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
      // Its folders are listed again, from the CZI's own down to `ino`'s,
      // under this request's pin (a tree let go again meanwhile: next round).
      czi->users.fetch_add(1);
      const Status again = Rematerialize(ino);
      czi->users.fetch_sub(1);
      if (!again.ok() && again.code() != StatusCode::kStale) return again;
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
      ReaderLock lock(&table_.mu());
      if (table_.View(*use.node).attached) return use;
    }
  }
  return Status::Stale(fmt::format("inode {}: its tree was let go again and again", ino));
}

void MountTree::ReleaseDocuments(uint64_t keep) {
  // Over a budget, let go of the oldest down to 7/8 of it in one pass: the
  // scan for the oldest is then paid once per budget/8 new files, not per file.
  std::vector<std::pair<uint64_t, uint64_t>> by_age;  // (last used, ino)
  {
    MutexLock lock(&expanded_mu_);
    if (expanded_.size() <= live_.max_documents && document_bytes_.load() <= max_document_bytes_) {
      return;
    }
    for (uint64_t ino : expanded_) by_age.emplace_back(0, ino);
  }
  for (auto& [used, ino] : by_age) {
    auto n = Get(ino);
    used = n.ok() ? (*n)->last_used.load() : 0;  // dropped ones first
  }
  std::sort(by_age.begin(), by_age.end());
  const size_t target = live_.max_documents - live_.max_documents / 8;
  const uint64_t target_bytes = max_document_bytes_ - max_document_bytes_ / 8;
  size_t kept = by_age.size();
  for (const auto& [used, victim] : by_age) {
    if (kept <= target && document_bytes_.load() <= target_bytes) break;
    if (victim == keep) continue;
    {
      MutexLock lock(&expanded_mu_);
      if (!expanded_.erase(victim)) continue;
    }
    auto n = Get(victim);
    if (!n.ok()) continue;  // dropped already
    const NodePtr& czi = *n;
    // Being checked, parsed or used right now: kept, tried later.
    bool busy = !czi->src->refresh_mu.TryLock();
    bool expanded = true;
    if (!busy) {
      expanded = czi->src->state.expanded;
      busy = expanded && !ReleaseTree(czi);
      czi->src->refresh_mu.Unlock();
    }
    if (!expanded) continue;
    if (busy) {
      MutexLock lock(&expanded_mu_);
      expanded_.insert(victim);
      continue;
    }
    --kept;
    spdlog::debug("{}: let go of its parsed tree ({} files, {} MiB parsed; at most {}, {} MiB)",
                  czi->source->Describe(czi->rel), kept, document_bytes_.load() >> 20,
                  live_.max_documents, max_document_bytes_ >> 20);
  }
}

}  // namespace czifs
