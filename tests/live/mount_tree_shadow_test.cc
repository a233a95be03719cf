// A tree let go beyond --parsed-files keeps a shadow of what was listed: a
// second walk (listing, looking up, attributes, ACLs) parses nothing; a read
// builds the tree again; a changed file's shadow goes.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "../support/specs.h"
#include "../support/test_util.h"
#include "czifs/mount_tree.h"

namespace czifs {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

synth::Spec Spec(uint32_t seed, int z) {
  synth::Spec spec = testing::Tiles(24, 16);
  spec.sizes = {{'Z', z}};
  spec.seed = seed;
  return spec;
}

struct Seen {
  uint64_t ino = 0;
  bool is_dir = false;
  uint64_t size = 0;
  uint32_t mode = 0;
};

class MountTreeShadowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.File("src"));
    for (int i = 0; i < 4; ++i) {
      testing::WriteOrDie(Spec(i + 1, 2), dir_.File("src/f" + std::to_string(i) + ".czi"));
    }
    LiveOptions live;
    live.max_documents = 1;
    live.watch = LiveOptions::Watch::kTtl;  // every use looks at the source: no watcher thread
    live.ttl_seconds = 0;
    session_ = Session::Create(1 << 20);
    auto tree = MountTree::Create({dir_.File("src")}, session_, {}, live);
    ASSERT_TRUE(tree.ok()) << tree.status().ToString();
    tree_ = std::move(tree).value();
    tree_->StartWatching([this](std::vector<Invalidation> batch) {
      std::lock_guard<std::mutex> lock(sent_mu_);
      for (auto& i : batch) sent_.push_back(std::move(i));
    });
  }
  bool SentAttributes(uint64_t ino) {
    std::lock_guard<std::mutex> lock(sent_mu_);
    for (const auto& i : sent_) {
      if (i.ino == ino && i.name.empty()) return true;
    }
    return false;
  }
  // Lists every folder (as find does) and, with `stat`, asks for each
  // entry's attributes (as ls -lR does).
  void Walk(uint64_t ino, const std::string& prefix, bool stat, std::map<std::string, Seen>* out) {
    auto entries = tree_->ReadDir(ino);
    ASSERT_TRUE(entries.ok()) << prefix << ": " << entries.status().ToString();
    for (const DirEntry& e : *entries) {
      const std::string path = prefix + e.name;
      Seen s{e.ino, e.is_dir, 0, 0};
      if (stat) {
        auto attr = tree_->GetAttr(e.ino);
        ASSERT_TRUE(attr.ok()) << path << ": " << attr.status().ToString();
        s.size = attr->size;
        s.mode = attr->mode;
      }
      (*out)[path] = s;
      if (e.is_dir) Walk(e.ino, path + "/", stat, out);
    }
  }
  Result<uint64_t> Resolve(const std::string& path) {
    uint64_t ino = MountTree::kRootIno;
    size_t at = 0;
    while (at <= path.size()) {
      const size_t slash = std::min(path.find('/', at), path.size());
      CZIFS_ASSIGN_OR_RETURN(ino, tree_->Lookup(ino, path.substr(at, slash - at)));
      at = slash + 1;
    }
    return ino;
  }
  uint64_t Parsed() const { return session_->parsed.load(); }

  TempDir dir_;
  std::shared_ptr<Session> session_;
  std::unique_ptr<MountTree> tree_;
  std::mutex sent_mu_;
  std::vector<Invalidation> sent_;
};

TEST_F(MountTreeShadowTest, ASecondWalkOverMoreFilesThanTheBudgetParsesNothing) {
  std::map<std::string, Seen> first;
  Walk(MountTree::kRootIno, "", /*stat=*/true, &first);
  const uint64_t parsed = Parsed();
  EXPECT_EQ(parsed, 4u);
  std::map<std::string, Seen> second;
  Walk(MountTree::kRootIno, "", /*stat=*/true, &second);
  ASSERT_EQ(second.size(), first.size());
  for (const auto& [path, seen] : first) {
    const Seen& again = second.at(path);
    EXPECT_EQ(again.ino, seen.ino) << path;
    EXPECT_EQ(again.size, seen.size) << path;
    EXPECT_EQ(again.mode, seen.mode) << path;
    auto found = Resolve(path);
    ASSERT_TRUE(found.ok()) << path << ": " << found.status().ToString();
    EXPECT_EQ(*found, seen.ino) << path;
    EXPECT_TRUE(tree_->Acl(seen.ino, AclKind::kAccess).ok()) << path;
  }
  EXPECT_EQ(Resolve("f1.czi/S0/nothing.tif").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Parsed(), parsed);  // everything above answered by the shadows
}

TEST_F(MountTreeShadowTest, AfterAWalkThatListedOnlyAttributesNeedNoParseButPlanetable) {
  std::map<std::string, Seen> listed;
  Walk(MountTree::kRootIno, "", /*stat=*/false, &listed);
  const uint64_t parsed = Parsed();
  for (const auto& [path, seen] : listed) {
    if (path.ends_with("planetable.csv")) {
      // Its size reads every subblock header: asked for only if cheap (as
      // readdirplus asks), it is not known, and nothing is parsed for it.
      EXPECT_EQ(tree_->GetAttr(seen.ino, /*cheap_only=*/true).status().code(),
                StatusCode::kNotSupported)
          << path;
      continue;
    }
    auto attr = tree_->GetAttr(seen.ino);
    ASSERT_TRUE(attr.ok()) << path << ": " << attr.status().ToString();
  }
  EXPECT_EQ(Parsed(), parsed);
  // Asked for in full, it is worked out: that file's tree is parsed again.
  auto full = tree_->GetAttr(listed.at("f0.czi/planetable.csv").ino);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_GT(full->size, 0u);
  EXPECT_EQ(Parsed(), parsed + 1);
}

TEST_F(MountTreeShadowTest, AReadOfALetGoTreeBuildsItAgainUnderTheSameNumbers) {
  std::map<std::string, Seen> first;
  Walk(MountTree::kRootIno, "", /*stat=*/true, &first);
  const uint64_t parsed = Parsed();
  const Seen& plane = first.at("f0.czi/S0/C0/T0/Z1.tif");
  std::vector<uint8_t> got(plane.size);
  auto n = tree_->Read(plane.ino, 0, got.size(), got.data());
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, plane.size);
  EXPECT_EQ(Parsed(), parsed + 1);
  std::map<std::string, Seen> again;
  Walk(MountTree::kRootIno, "", /*stat=*/true, &again);
  for (const auto& [path, seen] : first) EXPECT_EQ(again.at(path).ino, seen.ino) << path;
}

TEST_F(MountTreeShadowTest, AFileChangedWhileLetGoShowsItsNewTreeNotItsShadow) {
  std::map<std::string, Seen> first;
  Walk(MountTree::kRootIno, "", /*stat=*/true, &first);
  ASSERT_TRUE(first.count("f0.czi/S0/C0/T0/Z1.tif"));
  ASSERT_FALSE(first.count("f0.czi/S0/C0/T0/Z2.tif"));
  // f0 was let go long ago; now it has three planes.
  testing::WriteOrDie(Spec(9, 3), dir_.File("src/f0.czi"));
  EXPECT_EQ(tree_->GetAttr(first.at("f0.czi/S0/C0/T0/Z1.tif").ino).status().code(),
            StatusCode::kStale);
  EXPECT_EQ(tree_->ReadDir(first.at("f0.czi/S0/C0/T0").ino).status().code(), StatusCode::kStale);
  auto added = Resolve("f0.czi/S0/C0/T0/Z2.tif");
  EXPECT_TRUE(added.ok()) << added.status().ToString();
}

TEST_F(MountTreeShadowTest, AChmodOfALetGoFileShowsInItsShadowAndTheKernelIsTold) {
  std::map<std::string, Seen> first;
  Walk(MountTree::kRootIno, "", /*stat=*/true, &first);
  const Seen& plane = first.at("f0.czi/S0/C0/T0/Z0.tif");
  ASSERT_NE(plane.mode & 044, 0u);
  const uint64_t parsed = Parsed();
  fs::permissions(dir_.File("src/f0.czi"), fs::perms::owner_read | fs::perms::owner_write);
  auto attr = tree_->GetAttr(plane.ino);
  ASSERT_TRUE(attr.ok()) << attr.status().ToString();
  EXPECT_EQ(attr->mode & 077, 0u);
  EXPECT_TRUE(SentAttributes(plane.ino));
  EXPECT_EQ(Parsed(), parsed);
}

TEST_F(MountTreeShadowTest, ConcurrentWalksAndReadsOverLetGoTreesAgree) {
  std::map<std::string, Seen> first;
  Walk(MountTree::kRootIno, "", /*stat=*/true, &first);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        std::map<std::string, Seen> seen;
        Walk(MountTree::kRootIno, "", /*stat=*/true, &seen);
        if (seen.size() != first.size()) ++wrong;
        for (const auto& [path, s] : seen) {
          auto it = first.find(path);
          if (it == first.end() || it->second.ino != s.ino || it->second.size != s.size) ++wrong;
        }
        // Reads build trees again while the other threads walk shadows.
        const Seen& plane =
            first.at("f" + std::to_string((t + round) % 4) + ".czi/S0/C0/T0/Z0.tif");
        std::vector<uint8_t> buf(plane.size);
        auto n = tree_->Read(plane.ino, 0, buf.size(), buf.data());
        if (!n.ok() || *n != plane.size) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace czifs
