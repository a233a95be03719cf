// MountTree follows its sources: owners and modes, files that come, go and
// change, and what the kernel is told to forget. TTL 0: every access looks.
#include "czifs/mount_tree.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <set>

#include "../support/document_tree.h"
#include "../support/specs.h"
#include "../support/test_util.h"

namespace czifs {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

class MountTreeLiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.File("src"));
    testing::WriteOrDie(testing::SmallStack(1), dir_.File("src/a.czi"));
    LiveOptions live;
    live.watch = LiveOptions::Watch::kTtl;
    live.ttl_seconds = 0;
    auto tree = MountTree::Create({dir_.File("src")}, Session::Create(1 << 20), {}, live);
    ASSERT_TRUE(tree.ok()) << tree.status().ToString();
    tree_ = std::move(tree).value();
    tree_->StartWatching([this](std::vector<Invalidation> batch) {
      for (auto& i : batch) sent_.push_back(std::move(i));
    });
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
  std::string ReadAll(uint64_t ino) {
    auto size = tree_->GetAttr(ino);
    if (!size.ok()) return "";
    std::string out(size->size, '\0');
    auto n = tree_->Read(ino, 0, out.size(), reinterpret_cast<uint8_t*>(out.data()));
    return n.ok() ? out : "";
  }
  bool Sent(uint64_t ino, const std::string& name) const {
    for (const auto& i : sent_) {
      if (i.ino == ino && i.name == name) return true;
    }
    return false;
  }
  TempDir dir_;
  std::unique_ptr<MountTree> tree_;
  std::vector<Invalidation> sent_;
};

TEST_F(MountTreeLiveTest, OwnersAndModesFollowTheSources) {
  ::chmod(dir_.File("src/a.czi").c_str(), 0640);
  ::chmod(dir_.File("src").c_str(), 0710);
  auto root = tree_->GetAttr(MountTree::kRootIno);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->mode, 0710u);
  auto folder = Resolve("a.czi");
  ASSERT_TRUE(folder.ok());
  EXPECT_EQ(tree_->GetAttr(*folder)->mode, 0750u);  // x where r is set
  auto plane = Resolve("a.czi/S0/C0/T0/Z0.tif");
  ASSERT_TRUE(plane.ok());
  EXPECT_EQ(tree_->GetAttr(*plane)->mode, 0640u);
  EXPECT_EQ(tree_->GetAttr(*plane)->uid, ::getuid());
}

TEST_F(MountTreeLiveTest, FilesThatComeAndGoAreListedAndForgotten) {
  auto a = Resolve("a.czi");
  ASSERT_TRUE(a.ok());
  auto a_plane = Resolve("a.czi/S0/C0/T0/Z0.tif");
  ASSERT_TRUE(a_plane.ok());
  EXPECT_EQ(tree_->Lookup(MountTree::kRootIno, "b.czi").status().code(), StatusCode::kNotFound);
  fs::create_directories(dir_.File("src/day2"));
  testing::WriteOrDie(testing::SmallStack(2), dir_.File("src/day2/b.czi"));
  auto b = Resolve("day2/b.czi/info.json");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  fs::remove(dir_.File("src/a.czi"));
  auto listing = tree_->ReadDir(MountTree::kRootIno);
  ASSERT_TRUE(listing.ok());
  ASSERT_EQ(listing->size(), 1u);
  EXPECT_EQ((*listing)[0].name, "day2");
  // A removed file's inodes answer as a removed file's would (ENOENT), not
  // Stale: the kernel would look the path up again and fail with ESTALE.
  EXPECT_EQ(tree_->GetAttr(*a).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(tree_->GetAttr(*a_plane).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(tree_->Lookup(*a, "S0").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Sent(MountTree::kRootIno, "a.czi"));
}

TEST_F(MountTreeLiveTest, BelowAFileRemovedBeforeItsFolderIsListedAgainEverythingIsNotFound) {
  auto folder = Resolve("a.czi/S0/C0");
  ASSERT_TRUE(folder.ok());
  auto plane = Resolve("a.czi/S0/C0/T0/Z0.tif");
  ASSERT_TRUE(plane.ok());
  fs::remove(dir_.File("src/a.czi"));
  // A path walk that goes on inside the file's tree: the file is looked at
  // again, found gone, and its tree answers NotFound.
  EXPECT_EQ(tree_->Lookup(*folder, "T0").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(tree_->GetAttr(*plane).status().code(), StatusCode::kNotFound);
}

TEST_F(MountTreeLiveTest, AChangedFileGetsANewTreeAndTheOldInodesAreStale) {
  auto plane = Resolve("a.czi/S0/C0/T0/Z1.tif");
  ASSERT_TRUE(plane.ok());
  const std::string old_bytes = ReadAll(*plane);
  ASSERT_FALSE(old_bytes.empty());
  auto open = tree_->OpenFile(*plane);
  ASSERT_TRUE(open.ok());
  testing::WriteOrDie(testing::SmallStack(7), dir_.File("src/a.czi"));  // rewritten in place
  auto folder = Resolve("a.czi");
  ASSERT_TRUE(folder.ok());
  auto fresh = Resolve("a.czi/S0/C0/T0/Z1.tif");
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(*fresh, *plane);
  EXPECT_EQ(tree_->GetAttr(*plane).status().code(), StatusCode::kStale);
  const std::string new_bytes = ReadAll(*fresh);
  EXPECT_FALSE(new_bytes.empty());
  EXPECT_NE(new_bytes, old_bytes);
  // The kernel is told to drop the old entries and the old file's pages.
  EXPECT_TRUE(Sent(*folder, "S0"));
  EXPECT_TRUE(Sent(*plane, ""));
  // A reader holding the old file gets the old bytes or an error, never new ones.
  std::string held(old_bytes.size(), '\0');
  auto n = (*open)->Read(0, held.size(), reinterpret_cast<uint8_t*>(held.data()));
  if (n.ok()) {
    EXPECT_EQ(held, old_bytes);
  }
}

TEST_F(MountTreeLiveTest, AFileThatFailedIsTriedAgainOnceItChanged) {
  testing::WriteFileBytes(dir_.File("src/late.czi"), std::vector<uint8_t>(512, 0));
  auto late = Resolve("late.czi");
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(tree_->ReadDir(*late).ok());
  testing::WriteOrDie(testing::SmallStack(3), dir_.File("src/late.czi"));
  auto listing = tree_->ReadDir(*late);
  ASSERT_TRUE(listing.ok()) << listing.status().ToString();
  EXPECT_FALSE(listing->empty());
}

TEST_F(MountTreeLiveTest, AFileSwappedForAFifoOrALinkOutsideIsDropped) {
  fs::create_directories(dir_.File("outside"));
  testing::WriteOrDie(testing::SmallStack(9), dir_.File("outside/secret.czi"));
  ASSERT_TRUE(Resolve("a.czi/info.json").ok());
  fs::remove(dir_.File("src/a.czi"));
  ASSERT_EQ(::mkfifo(dir_.File("src/a.czi").c_str(), 0644), 0);
  EXPECT_EQ(tree_->Lookup(MountTree::kRootIno, "a.czi").status().code(), StatusCode::kNotFound);
  fs::remove(dir_.File("src/a.czi"));
  fs::create_symlink(dir_.File("outside/secret.czi"), dir_.File("src/a.czi"));
  EXPECT_EQ(tree_->Lookup(MountTree::kRootIno, "a.czi").status().code(), StatusCode::kNotFound);
}

TEST(MountTreeDocumentsTest, BeyondTheBudgetTreesAreLetGoAndTheirInodesStayAnswerable) {
  TempDir dir;
  fs::create_directories(dir.File("src"));
  for (int i = 0; i < 5; ++i) {
    testing::WriteOrDie(testing::SmallStack(i + 1), dir.File("src/f" + std::to_string(i) + ".czi"));
  }
  LiveOptions live;
  live.max_documents = 2;
  live.watch = LiveOptions::Watch::kTtl;  // every use looks at the source: no watcher thread
  live.ttl_seconds = 0;
  auto tree = MountTree::Create({dir.File("src")}, Session::Create(1 << 20), {}, live);
  ASSERT_TRUE(tree.ok());
  std::vector<Invalidation> sent;
  (*tree)->StartWatching(
      [&](std::vector<Invalidation> b) { sent.insert(sent.end(), b.begin(), b.end()); });
  auto info = [&](int i) -> Result<uint64_t> {
    CZIFS_ASSIGN_OR_RETURN(uint64_t f,
                           (*tree)->Lookup(MountTree::kRootIno, "f" + std::to_string(i) + ".czi"));
    return (*tree)->Lookup(f, "info.json");
  };
  std::vector<uint64_t> first;
  std::vector<uint64_t> sizes;
  uint64_t files_of_one = 0;
  for (int i = 0; i < 5; ++i) {
    auto ino = info(i);
    ASSERT_TRUE(ino.ok()) << ino.status().ToString();
    first.push_back(*ino);
    sizes.push_back((*tree)->GetAttr(*ino)->size);
    if (i == 0) files_of_one = (*tree)->ServedUsage().files;
  }
  EXPECT_EQ((*tree)->ServedUsage().files, 2 * files_of_one);  // three trees were let go
  // f0..f2 were let go; the numbers the kernel holds still answer (the tree
  // is built again under them), and the kernel was told nothing.
  EXPECT_TRUE(sent.empty());
  for (int i = 0; i < 5; ++i) {
    auto attr = (*tree)->GetAttr(first[i]);
    ASSERT_TRUE(attr.ok()) << i << ": " << attr.status().ToString();
    EXPECT_EQ(attr->size, sizes[i]);
    auto again = info(i);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, first[i]);
    std::vector<uint8_t> buf(sizes[i]);
    EXPECT_EQ(*(*tree)->Read(first[i], 0, buf.size(), buf.data()), sizes[i]);
  }
  EXPECT_TRUE(sent.empty());
  // A file that changed while its tree was let go: its old numbers are stale
  // (the kernel is told), the new version gets new ones.
  ASSERT_TRUE((*tree)->GetAttr(first[4]).ok());
  ASSERT_TRUE((*tree)->GetAttr(first[3]).ok());  // f0 is let go now
  testing::WriteOrDie(testing::SmallStack(7), dir.File("src/f0.czi"));
  EXPECT_EQ((*tree)->GetAttr(first[0]).status().code(), StatusCode::kStale);
  bool told = false;
  for (const auto& i : sent) told |= i.ino == first[0];
  EXPECT_TRUE(told);
  auto changed = info(0);
  ASSERT_TRUE(changed.ok());
  EXPECT_NE(*changed, first[0]);
}

// Every path below `ino` (folders end in '/'), listing as `ls -R` does.
void Walk(MountTree& tree, uint64_t ino, const std::string& prefix, std::set<std::string>* out) {
  auto entries = tree.ReadDir(ino);
  ASSERT_TRUE(entries.ok()) << prefix << ": " << entries.status().ToString();
  for (const DirEntry& e : *entries) {
    out->insert(prefix + e.name + (e.is_dir ? "/" : ""));
    if (e.is_dir) Walk(tree, e.ino, prefix + e.name + "/", out);
  }
}

// A CZI with every kind of folder: scenes, channels, time points, a mosaic
// (tiles/), a pyramid, OME-Zarr images and attachments.
synth::Spec EveryFolderSpec() {
  synth::Spec spec = testing::Tiles(40, 30);
  spec.tiles_x = 2;
  spec.scenes = 2;
  spec.pyramid_levels = 1;
  spec.codec = synth::Codec::kZstd1;
  spec.sizes = {{'C', 2}, {'T', 2}, {'Z', 3}};
  return spec;
}

TEST(MountTreeFoldersTest, ADeepPathIsFoundWithoutListingAndOnlyItsFoldersBecomeNodes) {
  TempDir dir;
  testing::WriteOrDie(EveryFolderSpec(), dir.File("a.czi"));
  auto tree = MountTree::Create({dir.File("a.czi")}, Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  uint64_t ino = MountTree::kRootIno;
  for (const char* name : {"S1", "C1", "T1", "Z2.tif"}) {
    auto next = (*tree)->Lookup(ino, name);
    ASSERT_TRUE(next.ok()) << name << ": " << next.status().ToString();
    ino = *next;
  }
  // The files of the four folders looked into: the CZI's (info.json,
  // metadata.xml, planetable.csv, two OME-TIFFs, the zarr root's .zgroup
  // and .zattrs), S1's hyperstack and T1's three planes.
  EXPECT_EQ((*tree)->ServedUsage().files, 7u + 1 + 3);
  auto attr = (*tree)->GetAttr(ino);
  ASSERT_TRUE(attr.ok());
  std::vector<uint8_t> got(attr->size);
  ASSERT_EQ(*(*tree)->Read(ino, 0, got.size(), got.data()), got.size());
  // The same bytes as the whole tree built at once serves there.
  auto whole = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(whole.ok());
  const TreeNode* node = whole->root.get();
  for (const char* name : {"S1", "C1", "T1", "Z2.tif"}) node = node ? node->Find(name) : nullptr;
  ASSERT_NE(node, nullptr);
  std::vector<uint8_t> want(*node->file->Size());
  ASSERT_EQ(*node->file->Read(0, want.size(), want.data()), want.size());
  EXPECT_EQ(got, want);
}

TEST(MountTreeFoldersTest, EveryKindOfFolderListsWhatTheWholeTreeHolds) {
  TempDir dir;
  testing::WriteOrDie(EveryFolderSpec(), dir.File("a.czi"));
  auto tree = MountTree::Create({dir.File("a.czi")}, Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok());
  std::set<std::string> listed;
  Walk(**tree, MountTree::kRootIno, "", &listed);
  // The whole tree, built at once from the same catalogue.
  auto whole = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(whole.ok());
  std::set<std::string> all;
  std::function<void(const TreeNode&, const std::string&)> add = [&](const TreeNode& n,
                                                                     const std::string& at) {
    for (const auto& c : n.children) {
      all.insert(at + c->name + (c->is_dir ? "/" : ""));
      if (c->is_dir) add(*c, at + c->name + "/");
    }
  };
  add(*whole->root, "");
  EXPECT_EQ(listed, all);
  for (const char* path :
       {"S0/hyperstack.tif", "S1/C1/T1/Z2.tif", "tiles/S1/C0/T1/Z0/M1.tif",
        "pyramid/L1/S0/C1/T0/Z2.tif", "S1.ome.zarr/.zattrs", "S1.ome.zarr/0/.zarray",
        "S1.ome.zarr/0/1/1/0/0/0", "S1.ome.tif", "attachments/Thumbnail.jpg", "planetable.csv"}) {
    EXPECT_TRUE(listed.count(path)) << path;
  }
}

TEST(MountTreeDocumentsTest, BeyondTheByteBudgetOnlyTheFileInUseStaysParsedAndDeepInodesAnswer) {
  TempDir dir;
  fs::create_directories(dir.File("src"));
  for (int i = 0; i < 4; ++i) {
    testing::WriteOrDie(testing::SmallStack(i + 1), dir.File("src/f" + std::to_string(i) + ".czi"));
  }
  LiveOptions live;
  live.max_document_bytes = 1;  // smaller than any file
  live.watch = LiveOptions::Watch::kTtl;
  live.ttl_seconds = 0;
  auto tree = MountTree::Create({dir.File("src")}, Session::Create(1 << 20), {}, live);
  ASSERT_TRUE(tree.ok());
  std::vector<Invalidation> sent;
  (*tree)->StartWatching(
      [&](std::vector<Invalidation> b) { sent.insert(sent.end(), b.begin(), b.end()); });
  auto plane = [&](int i) -> Result<uint64_t> {
    uint64_t ino = MountTree::kRootIno;
    for (const std::string& name : {"f" + std::to_string(i) + ".czi", std::string("S0"),
                                    std::string("C0"), std::string("T0"), std::string("Z1.tif")}) {
      CZIFS_ASSIGN_OR_RETURN(ino, (*tree)->Lookup(ino, name));
    }
    return ino;
  };
  std::vector<uint64_t> inos;
  std::vector<std::vector<uint8_t>> bytes;
  for (int i = 0; i < 4; ++i) {
    auto ino = plane(i);
    ASSERT_TRUE(ino.ok()) << ino.status().ToString();
    inos.push_back(*ino);
    auto attr = (*tree)->GetAttr(*ino);
    ASSERT_TRUE(attr.ok());
    bytes.emplace_back(attr->size);
    ASSERT_EQ(*(*tree)->Read(*ino, 0, attr->size, bytes.back().data()), attr->size);
  }
  // Only the last file's tree is parsed now: its CZI folder's 6 files, S0's
  // hyperstack and T0's two planes.
  EXPECT_EQ((*tree)->ServedUsage().files, 6u + 1 + 2);
  // The numbers of planes deep in trees let go still answer, with the same
  // bytes, and the kernel was told nothing.
  for (int i = 0; i < 4; ++i) {
    std::vector<uint8_t> again(bytes[i].size());
    auto n = (*tree)->Read(inos[i], 0, again.size(), again.data());
    ASSERT_TRUE(n.ok()) << i << ": " << n.status().ToString();
    EXPECT_EQ(again, bytes[i]) << i;
    auto found = plane(i);
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(*found, inos[i]);
  }
  EXPECT_TRUE(sent.empty());
}

}  // namespace
}  // namespace czifs
