#include "czifs/inode_table.h"

#include <fmt/format.h>

#include <algorithm>

namespace czifs {

Result<NodePtr> InodeTable::Get(uint64_t ino) const {
  ReaderLock lock(&mu_);
  auto it = nodes_.find(ino);
  if (it != nodes_.end()) return it->second;
  if (gone_.count(ino)) return Status::NotFound(fmt::format("inode {}: its source is gone", ino));
  if (ino != 0 && ino < next_ino_) {
    return Status::Stale(fmt::format("inode {} belonged to an older version", ino));
  }
  return Status::NotFound(fmt::format("no inode {}", ino));
}

NodePtr InodeTable::Find(uint64_t ino) const {
  auto it = nodes_.find(ino);
  return it == nodes_.end() ? nullptr : it->second;
}

NodePtr InodeTable::NewNode(Node::Kind kind, std::string name, const NodePtr& parent,
                            const FileIdentity& id, uint64_t ino, double checked_at) {
  auto n = std::make_shared<Node>();
  n->kind = kind;
  if (kind == Node::Kind::kSourceFolder || kind == Node::Kind::kCzi) {
    n->src = std::make_unique<Node::Source>(checked_at);
    n->linked_.src = std::make_unique<Node::SourceLinked>();
  }
  n->name = std::move(name);
  n->linked_.id = id;
  if (parent) {
    n->parent = parent->ino;
    n->czi = parent->kind == Node::Kind::kCzi ? parent->ino : parent->czi;
    n->source = parent->source;
  }
  n->ino = ino != 0 ? ino : next_ino_++;
  nodes_.emplace(n->ino, n);
  if (parent) parent->linked_.children.push_back(n->ino);
  return n;
}

void InodeTable::SortChildren(Node& dir) {
  std::vector<std::pair<std::string_view, uint64_t>> named;
  std::vector<uint64_t>& children = dir.linked_.children;
  named.reserve(children.size());
  for (uint64_t c : children) named.emplace_back(nodes_.at(c)->name, c);
  std::sort(named.begin(), named.end());
  for (size_t i = 0; i < named.size(); ++i) children[i] = named[i].second;
}

void InodeTable::Drop(Node& n, Fate fate, std::vector<Invalidation>* inval) {
  DropChildren(n, fate, inval);
  n.linked_.attached = false;
  if (fate == Fate::kGone) {
    n.linked_.gone = true;
    gone_.insert(n.ino);
    gone_order_.push_back(n.ino);
    if (gone_order_.size() > kMaxGone) {
      gone_.erase(gone_order_.front());
      gone_order_.pop_front();
    }
  }
  if (n.exposed.load()) inval->push_back({n.ino, ""});
  nodes_.erase(n.ino);  // `n` may be freed here: touch nothing after
}

void InodeTable::DropChildren(Node& n, Fate fate, std::vector<Invalidation>* inval) {
  for (uint64_t c : n.linked_.children) {
    auto it = nodes_.find(c);
    if (it == nodes_.end()) continue;
    NodePtr child = it->second;
    if (child->exposed.load()) inval->push_back({n.ino, child->name});
    Drop(*child, fate, inval);
  }
  n.linked_.children.clear();
}

uint64_t InodeTable::NewBlock(uint64_t czi, uint64_t folder, uint64_t count) {
  const uint64_t start = next_ino_;
  next_ino_ += count;
  blocks_[start] = Block{czi, folder, count, {}, {}, {}};
  return start;
}

Block* InodeTable::FindBlock(uint64_t start) {
  auto it = blocks_.find(start);
  return it == blocks_.end() ? nullptr : &it->second;
}

const Block* InodeTable::ViewBlock(uint64_t start) const {
  auto it = blocks_.find(start);
  return it == blocks_.end() ? nullptr : &it->second;
}

uint64_t InodeTable::BlockStartOf(uint64_t ino) const {
  auto it = blocks_.upper_bound(ino);
  if (it == blocks_.begin()) return 0;
  --it;
  return ino < it->first + it->second.count ? it->first : 0;
}

}  // namespace czifs
