// InodeTable: numbering, dropping (gone vs changed), blocks of numbers.
#include "czifs/inode_table.h"

#include <gtest/gtest.h>

namespace czifs {
namespace {

using Kind = Node::Kind;

TEST(InodeTableTest, NodesAreNumberedFromTheRootAndListedUnderTheirParentByName) {
  InodeTable t;
  WriterLock lock(&t.mu());
  NodePtr root = t.NewNode(Kind::kFolder, "", nullptr, {});
  NodePtr b = t.NewNode(Kind::kFolder, "b", root, {});
  NodePtr a = t.NewNode(Kind::kSourceFolder, "a", root, {}, 0, /*checked_at=*/5);
  EXPECT_EQ(root->ino, InodeTable::kRootIno);
  EXPECT_EQ(b->ino, 2u);
  EXPECT_EQ(a->ino, 3u);
  EXPECT_EQ(a->parent, root->ino);
  ASSERT_NE(a->src, nullptr);  // a source folder gets its Source
  EXPECT_EQ(b->src, nullptr);
  t.SortChildren(*root);
  EXPECT_EQ(t.View(*root).children, (std::vector<uint64_t>{3, 2}));
}

TEST(InodeTableTest, ADroppedNodeIsNotFoundIfItsSourceIsGoneElseStale) {
  InodeTable t;
  std::vector<Invalidation> inval;
  {
    WriterLock lock(&t.mu());
    NodePtr root = t.NewNode(Kind::kFolder, "", nullptr, {});
    NodePtr gone = t.NewNode(Kind::kFolder, "gone", root, {});
    NodePtr changed = t.NewNode(Kind::kFolder, "changed", root, {});
    NodePtr below = t.NewNode(Kind::kFolder, "below", changed, {});
    gone->exposed.store(true);
    below->exposed.store(true);
    t.Drop(*gone, Fate::kGone, &inval);
    t.Drop(*changed, Fate::kChanged, &inval);
    EXPECT_FALSE(t.View(*changed).attached);
  }
  EXPECT_TRUE(t.Get(1).ok());
  EXPECT_EQ(t.Get(2).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(t.Get(3).status().code(), StatusCode::kStale);
  EXPECT_EQ(t.Get(4).status().code(), StatusCode::kStale);      // dropped with its folder
  EXPECT_EQ(t.Get(99).status().code(), StatusCode::kNotFound);  // never issued
  // What the kernel was given: the gone folder, and the entry and inode below.
  ASSERT_EQ(inval.size(), 3u);
  EXPECT_EQ(inval[0].ino, 2u);
  EXPECT_EQ(inval[1].ino, 3u);
  EXPECT_EQ(inval[1].name, "below");
  EXPECT_EQ(inval[2].ino, 4u);
}

TEST(InodeTableTest, ABlockReservesConsecutiveNumbersAndFindsItsStart) {
  InodeTable t;
  WriterLock lock(&t.mu());
  NodePtr root = t.NewNode(Kind::kCzi, "", nullptr, {});
  const uint64_t start = t.NewBlock(root->ino, root->ino, 10);
  EXPECT_EQ(start, 2u);
  EXPECT_EQ(t.BlockStartOf(2), 2u);
  EXPECT_EQ(t.BlockStartOf(11), 2u);
  EXPECT_EQ(t.BlockStartOf(12), 0u);
  EXPECT_EQ(t.BlockStartOf(1), 0u);
  EXPECT_EQ(t.NewNode(Kind::kFolder, "next", root, {})->ino, 12u);  // after the block
  ASSERT_NE(t.ViewBlock(start), nullptr);
  EXPECT_EQ(t.ViewBlock(start)->count, 10u);
  t.EraseBlock(start);
  EXPECT_EQ(t.FindBlock(start), nullptr);
  EXPECT_EQ(t.BlockStartOf(5), 0u);
}

}  // namespace
}  // namespace czifs
