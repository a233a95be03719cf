// MountTree's shadows of let-go trees: a folder of a CZI's tree that was
// listed before its tree was let go keeps its entries' names, kinds and
// sizes (Block::shadow), so listing, looking up, attributes and ACLs of it
// need no parse; reading a file builds the tree again (Acquire). See
// mount_tree.h.
#include <algorithm>
#include <utility>

#include "czifs/mount_tree.h"
#include "czifs/mutex.h"

namespace czifs {

void MountTree::MakeShadow(uint64_t start, Block* b) {
  std::vector<Shadow> shadow(b->count);
  uint64_t bytes = 0;
  for (uint64_t k = 0; k < b->count; ++k) {
    const NodePtr node = table_.Find(start + k);
    if (!node) return;  // not listed in full: no shadow
    const Node& n = *node;
    Shadow& s = shadow[k];
    s.name = n.name;
    s.is_dir = n.kind != Kind::kFile;
    if (!s.is_dir) {
      const std::optional<uint64_t> size = n.file->SizeIfCheap();
      s.sized = size.has_value();
      s.size = size.value_or(0);
      s.gap = s.sized ? n.file->GapBytes() : 0;
    }
    bytes += s.cost();
  }
  if (shadow_bytes_.load() + bytes > max_document_bytes_ / 4) return;
  std::vector<uint32_t> by_name(b->count);
  for (uint32_t k = 0; k < by_name.size(); ++k) by_name[k] = k;
  std::sort(by_name.begin(), by_name.end(),
            [&](uint32_t x, uint32_t y) { return shadow[x].name < shadow[y].name; });
  ClearShadow(b);
  b->shadow = std::move(shadow);
  b->by_name = std::move(by_name);
  shadow_bytes_.fetch_add(bytes);
}

void MountTree::ClearShadow(Block* b) {
  uint64_t bytes = 0;
  for (const Shadow& s : b->shadow) bytes += s.cost();
  shadow_bytes_.fetch_sub(std::min(bytes, shadow_bytes_.load()));
  b->shadow = {};
  b->by_name = {};
}

std::optional<MountTree::ShadowBlock> MountTree::FindShadowFolder(uint64_t ino) {
  // Twice at most: the CZI's check may find it changed (its shadows go).
  NodePtr czi;
  for (int pass = 0; pass < 2; ++pass) {
    {
      ReaderLock lock(&table_.mu());
      if (NodePtr live = table_.Find(ino)) {
        // A live folder answers itself, unless it is a let-go CZI's own.
        const Node::Linked& l = table_.View(*live);
        if (live->kind != Kind::kCzi || l.materialized || !l.src->released) return std::nullopt;
        czi = live;
      } else {
        const uint64_t start = table_.BlockStartOf(ino);
        if (start == 0) return std::nullopt;
        czi = table_.Find(table_.ViewBlock(start)->czi);
        if (!czi) return std::nullopt;
      }
      if (pass == 1) {
        const auto& folders = table_.View(*czi).src->folder_block;
        auto f = folders.find(ino);
        if (f == folders.end()) return std::nullopt;
        const Block* b = table_.ViewBlock(f->second);
        if (!b || b->shadow.empty()) return std::nullopt;
        return ShadowBlock{czi, f->second};
      }
    }
    // Unchanged since? (With a watcher this is a flag; by TTL a stat when due.)
    czi->last_used.store(++tick_, std::memory_order_relaxed);
    if (!RefreshCzi(czi, /*force=*/false, /*expand=*/false).ok()) return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Result<uint64_t>> MountTree::ShadowLookup(uint64_t parent, std::string_view name) {
  auto folder = FindShadowFolder(parent);
  if (!folder) return std::nullopt;
  WriterLock lock(&table_.mu());  // marks what the kernel is given
  Block* b = table_.FindBlock(folder->start);
  if (!b || b->shadow.empty()) return std::nullopt;
  Block& block = *b;
  auto it =
      std::lower_bound(block.by_name.begin(), block.by_name.end(), name,
                       [&](uint32_t k, std::string_view n) { return block.shadow[k].name < n; });
  if (it == block.by_name.end() || block.shadow[*it].name != name) {
    return Result<uint64_t>(Status::NotFound(std::string(name)));
  }
  block.exposed.resize(block.count, false);
  block.exposed[*it] = true;
  return Result<uint64_t>(folder->start + *it);
}

std::optional<std::vector<DirEntry>> MountTree::ShadowReadDir(uint64_t ino) {
  auto folder = FindShadowFolder(ino);
  if (!folder) return std::nullopt;
  ReaderLock lock(&table_.mu());
  const Block* b = table_.ViewBlock(folder->start);
  if (!b || b->shadow.empty()) return std::nullopt;
  std::vector<DirEntry> out;
  out.reserve(b->count);
  for (uint32_t k : b->by_name) {
    const Shadow& s = b->shadow[k];
    out.push_back({s.name, folder->start + k, s.is_dir});
  }
  return out;
}

std::optional<MountTree::ShadowBlock> MountTree::FindShadowEntry(uint64_t ino) const {
  if (table_.Find(ino)) return std::nullopt;
  const uint64_t start = table_.BlockStartOf(ino);
  if (start == 0) return std::nullopt;
  const Block& b = *table_.ViewBlock(start);
  if (b.shadow.empty()) return std::nullopt;
  NodePtr owner = table_.Find(b.czi);
  if (!owner) return std::nullopt;
  return ShadowBlock{owner, start};
}

std::optional<Result<NodeAttr>> MountTree::ShadowAttr(uint64_t ino, bool cheap_only) {
  std::optional<ShadowBlock> at;
  {
    ReaderLock lock(&table_.mu());
    at = FindShadowEntry(ino);
  }
  if (!at) return std::nullopt;
  const NodePtr& czi = at->czi;
  // Checks the CZI (unchanged?) as a listing of that folder would; its
  // shadow may be gone after (a new version, or the tree built again).
  czi->last_used.store(++tick_, std::memory_order_relaxed);
  if (!RefreshCzi(czi, /*force=*/false, /*expand=*/false).ok()) return std::nullopt;
  WriterLock lock(&table_.mu());
  auto again = FindShadowEntry(ino);
  if (!again || again->start != at->start) return std::nullopt;
  Block& block = *table_.FindBlock(at->start);
  const Shadow& s = block.shadow[ino - at->start];
  if (!s.is_dir && !s.sized) {  // its size needs the tree
    if (cheap_only) return Result<NodeAttr>(Status::NotSupported("size not known yet"));
    return std::nullopt;
  }
  NodeAttr a;
  a.ino = ino;
  a.is_dir = s.is_dir;
  a.size = s.size;
  a.gap = s.gap;
  a.nlink = s.is_dir ? 2 : 1;
  a.timeout = Timeout();
  const FileIdentity& id = table_.View(*czi).id;
  a.mode = ShownMode(s.is_dir, id.mode);
  a.uid = id.uid;
  a.gid = id.gid;
  a.mtime = id.mtime;
  a.ctime = id.ctime;
  a.version = czi->version.load();
  block.exposed.resize(block.count, false);
  block.exposed[ino - at->start] = true;
  return Result<NodeAttr>(a);
}

std::optional<Result<std::string>> MountTree::ShadowAcl(uint64_t ino, AclKind kind) {
  NodePtr czi;
  bool is_dir = false;
  {
    ReaderLock lock(&table_.mu());
    auto at = FindShadowEntry(ino);
    if (!at) return std::nullopt;
    czi = at->czi;
    is_dir = table_.ViewBlock(at->start)->shadow[ino - at->start].is_dir;
  }
  if (!RefreshCzi(czi, /*force=*/false, /*expand=*/false).ok()) return std::nullopt;
  if (kind == AclKind::kDefault) return Result<std::string>(std::string());
  auto acl = SourceAcl(czi, AclKind::kAccess);
  if (!acl.ok() || acl->empty()) return acl;
  return Result<std::string>(is_dir ? AclForFolders(*acl) : AclForImages(*acl));
}

}  // namespace czifs
