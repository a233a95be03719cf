// MountTree on the io seam's file system in memory: sources that change,
// storage that runs out of descriptors or fails, and storage that is slow
// (a read held in the storage while the tree keeps answering), with no
// sleeps: changes move a logical clock, slowness is a latch.
#include <gtest/gtest.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>

#include "../support/memory_fs.h"
#include "../support/specs.h"
#include "../support/test_util.h"
#include "czifs/mount_tree.h"

namespace czifs {
namespace {

using testing::MemoryFileSystem;
using Op = MemoryFileSystem::Op;

std::vector<uint8_t> SmallCzi(uint32_t seed) {
  testing::TempDir dir;
  testing::WriteOrDie(testing::SmallStack(seed), dir.File("a.czi"));
  return testing::ReadFileBytes(dir.File("a.czi"));
}

class MountTreeStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_->Write("/src/a.czi", SmallCzi(1));
    fs_->Write("/src/b.czi", SmallCzi(2));
    LiveOptions live;
    live.watch = LiveOptions::Watch::kTtl;
    live.ttl_seconds = 0;  // every access looks at the source
    auto tree = MountTree::Create({"/src"}, Session::Create(1 << 20, 16, fs_), {}, live);
    ASSERT_TRUE(tree.ok()) << tree.status().ToString();
    tree_ = std::move(tree).value();
  }
  Result<uint64_t> Resolve(const std::string& path) {
    uint64_t ino = MountTree::kRootIno;
    std::stringstream ss(path);
    std::string part;
    while (std::getline(ss, part, '/')) {
      CZIFS_ASSIGN_OR_RETURN(ino, tree_->Lookup(ino, part));
    }
    return ino;
  }
  std::vector<std::string> Names(uint64_t ino) {
    std::vector<std::string> out;
    auto listed = tree_->ReadDir(ino);
    if (listed.ok()) {
      for (const auto& e : *listed) out.push_back(e.name);
    }
    return out;
  }
  Result<std::string> ReadAll(uint64_t ino) {
    CZIFS_ASSIGN_OR_RETURN(NodeAttr a, tree_->GetAttr(ino));
    std::string out(a.size, '\0');
    CZIFS_RETURN_IF_ERROR(
        tree_->Read(ino, 0, out.size(), reinterpret_cast<uint8_t*>(out.data())).status());
    return out;
  }
  std::shared_ptr<MemoryFileSystem> fs_ = MemoryFileSystem::Create();
  std::unique_ptr<MountTree> tree_;
};

TEST_F(MountTreeStorageTest, AFolderThatCannotBeListedForLackOfDescriptorsKeepsItsEntries) {
  ASSERT_EQ(Names(MountTree::kRootIno), (std::vector<std::string>{"a.czi", "b.czi"}));
  auto a = Resolve("a.czi");
  ASSERT_TRUE(a.ok());
  fs_->Write("/src/c.czi", SmallCzi(3));
  fs_->Inject({.op = Op::kList, .err = EMFILE, .times = 1});
  auto failed = tree_->ReadDir(MountTree::kRootIno);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kResourceExhausted) << failed.status().ToString();
  // Descriptors again: nothing was dropped, and the new file is there.
  EXPECT_EQ(Names(MountTree::kRootIno), (std::vector<std::string>{"a.czi", "b.czi", "c.czi"}));
  auto a_again = Resolve("a.czi");
  ASSERT_TRUE(a_again.ok());
  EXPECT_EQ(*a_again, *a);
}

TEST_F(MountTreeStorageTest, AFileThatCannotBeStattedIsKeptAFileThatIsGoneIsNot) {
  auto plane = Resolve("a.czi/S0/C0/T0/Z0.tif");
  ASSERT_TRUE(plane.ok()) << plane.status().ToString();
  fs_->Inject({.op = Op::kStat, .path = "a.czi", .err = ENOMEM, .times = 1});
  EXPECT_TRUE(tree_->GetAttr(*plane).ok());  // could not look: not gone
  EXPECT_TRUE(ReadAll(*plane).ok());
  fs_->Remove("/src/a.czi");
  EXPECT_EQ(tree_->GetAttr(*plane).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Names(MountTree::kRootIno), (std::vector<std::string>{"b.czi"}));
}

TEST_F(MountTreeStorageTest, AnAclThatCannotBeReadIsAnErrorOfThatCallOnly) {
  auto plane = Resolve("a.czi/S0/C0/T0/Z0.tif");
  ASSERT_TRUE(plane.ok());
  // Attributes first (the ACL is read once per ctime the node shows), then
  // the ACL's own look at the source fails.
  ASSERT_TRUE(tree_->GetAttr(*plane).ok());
  fs_->Inject({.op = Op::kStat, .path = "a.czi", .err = EIO, .skip = 1, .times = 1});
  auto failed = tree_->Acl(*plane, AclKind::kAccess);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kIOError) << failed.status().ToString();
  auto again = tree_->Acl(*plane, AclKind::kAccess);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, "");  // the file system in memory keeps no ACLs
  EXPECT_TRUE(tree_->GetAttr(*plane).ok());
}

TEST_F(MountTreeStorageTest, AChangedFileGetsANewTreeAtOnceAndItsOldNumbersAreStale) {
  auto plane = Resolve("a.czi/S0/C0/T0/Z0.tif");
  ASSERT_TRUE(plane.ok());
  auto before = ReadAll(*plane);
  ASSERT_TRUE(before.ok());
  fs_->Write("/src/a.czi", SmallCzi(9));  // the next tick: no waiting for the clock
  EXPECT_EQ(tree_->GetAttr(*plane).status().code(), StatusCode::kStale);
  auto again = Resolve("a.czi/S0/C0/T0/Z0.tif");
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*again, *plane);
  auto after = ReadAll(*again);
  ASSERT_TRUE(after.ok());
  EXPECT_NE(*after, *before);
}

TEST_F(MountTreeStorageTest, AReadFailingInStorageIsAnIOErrorAndTheNextReadWorks) {
  auto plane = Resolve("a.czi/S0/C0/T0/Z0.tif");
  ASSERT_TRUE(plane.ok());
  auto clean = ReadAll(*plane);
  ASSERT_TRUE(clean.ok());
  auto other = Resolve("b.czi/S0/C0/T0/Z0.tif");
  ASSERT_TRUE(other.ok());
  fs_->Inject({.op = Op::kRead, .path = "a.czi", .err = EIO});
  // A fresh tree of a.czi must read its tiles (the cache holds the last ones).
  fs_->Write("/src/a.czi", std::vector<uint8_t>(clean->size(), 0));
  fs_->Write("/src/a.czi", SmallCzi(1));
  auto failed = Resolve("a.czi/S0/C0/T0/Z0.tif");
  EXPECT_FALSE(failed.ok() && ReadAll(*failed).ok());
  EXPECT_TRUE(ReadAll(*other).ok());  // b.czi is served meanwhile
  fs_->ClearFaults();
  auto back = Resolve("a.czi/S0/C0/T0/Z0.tif");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  auto read_back = ReadAll(*back);
  ASSERT_TRUE(read_back.ok()) << read_back.status().ToString();
  EXPECT_EQ(*read_back, *clean);
}

TEST_F(MountTreeStorageTest, WhileAReadIsHeldInSlowStorageTheTreeKeepsAnswering) {
  auto plane = Resolve("a.czi/S0/C0/T0/Z1.tif");
  ASSERT_TRUE(plane.ok());
  ASSERT_TRUE(Resolve("b.czi/S0/C0/T0/Z0.tif").ok());
  const auto attr = tree_->GetAttr(*plane);
  ASSERT_TRUE(attr.ok());
  // Reads of a.czi wait in the storage until released.
  std::mutex mu;
  std::condition_variable cv;
  bool holding = false, released = false;
  fs_->SetHook([&](Op op, const std::string& path) {
    if (op != Op::kRead || path.find("a.czi") == std::string::npos) return;
    std::unique_lock<std::mutex> lock(mu);
    holding = true;
    cv.notify_all();
    cv.wait(lock, [&] { return released; });
  });
  std::string got(attr->size, '\0');
  Result<size_t> n = size_t{0};
  std::thread reader(
      [&] { n = tree_->Read(*plane, 0, got.size(), reinterpret_cast<uint8_t*>(got.data())); });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return holding; });
  }
  // The reader is inside the storage now: listings, lookups, attributes and
  // reads of another file answer.
  EXPECT_EQ(Names(MountTree::kRootIno), (std::vector<std::string>{"a.czi", "b.czi"}));
  EXPECT_TRUE(tree_->GetAttr(*plane).ok());
  EXPECT_TRUE(Resolve("a.czi/S0/C0/T0/Z0.tif").ok());
  auto b = Resolve("b.czi/S0/C0/T0/Z0.tif");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(ReadAll(*b).ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
  }
  cv.notify_all();
  reader.join();
  fs_->SetHook(nullptr);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, got.size());
}

}  // namespace
}  // namespace czifs
