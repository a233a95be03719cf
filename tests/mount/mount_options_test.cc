#include <gtest/gtest.h>

#include "czifs/memory_limit.h"
#include "czifs/mount.h"

namespace czifs {
namespace {

TEST(MountOptionsTest, SplitsCzifsOptionsFromFuseOptionsAndDropsRw) {
  MountOptions o;
  std::vector<std::string> fuse;
  std::string err;
  ASSERT_TRUE(SplitMountOptions(
      {"rw,allow_other,threads=3",
       "cache_size=2G,nosuid,max_threads=24,damaged=zero,without=tiles:hyperstacks"},
      &o, &fuse, &err));
  EXPECT_EQ(o.threads, 3u);
  EXPECT_EQ(o.max_threads, 24u);
  EXPECT_EQ(o.tree.damaged, DamagedTiles::kZero);
  EXPECT_FALSE(o.tree.shown.tiles);
  EXPECT_FALSE(o.tree.shown.hyperstacks);
  EXPECT_TRUE(o.tree.shown.pyramid);
  EXPECT_EQ(o.cache_bytes, 2ull << 30);
  EXPECT_EQ(fuse, (std::vector<std::string>{"allow_other", "nosuid"}));
}

TEST(MountOptionsTest, EscapedCommasStayInsideTheirValueOnTheWayToLibfuse) {
  MountOptions o;
  std::vector<std::string> fuse;
  std::string err;
  ASSERT_TRUE(
      SplitMountOptions({R"(log_file=/tmp/a\,b.log,fsname=x\,y\\z,allow_other)"}, &o, &fuse, &err))
      << err;
  EXPECT_EQ(o.log_file, "/tmp/a,b.log");
  EXPECT_EQ(fuse, (std::vector<std::string>{R"(fsname=x,y\z)", "allow_other"}));
  // Joined for libfuse and split again: the same options.
  const std::string joined = JoinFuseOptions(fuse);
  EXPECT_EQ(joined, R"(fsname=x\,y\\z,allow_other)");
  std::vector<std::string> again;
  MountOptions o2;
  ASSERT_TRUE(SplitMountOptions({joined}, &o2, &again, &err)) << err;
  EXPECT_EQ(again, fuse);
}

TEST(MountOptionsTest, RejectsMalformedCzifsOptions) {
  MountOptions o;
  std::vector<std::string> fuse;
  std::string err;
  EXPECT_FALSE(SplitMountOptions({"cache_size=lots"}, &o, &fuse, &err));
  EXPECT_NE(err.find("cache_size"), std::string::npos);
  EXPECT_FALSE(SplitMountOptions({"threads=x"}, &o, &fuse, &err));
  EXPECT_FALSE(SplitMountOptions({"max_threads=many"}, &o, &fuse, &err));
  EXPECT_NE(err.find("max_threads"), std::string::npos);
  EXPECT_FALSE(SplitMountOptions({"without=tiles:planes"}, &o, &fuse, &err));
  EXPECT_NE(err.find("'planes'"), std::string::npos);
}

TEST(MountOptionsTest, ParsesByteSizes) {
  uint64_t v = 0;
  EXPECT_TRUE(ParseByteSize("512M", &v));
  EXPECT_EQ(v, 512ull << 20);
  EXPECT_TRUE(ParseByteSize("1048576", &v));
  EXPECT_EQ(v, 1048576u);
  EXPECT_FALSE(ParseByteSize("2T", &v));
  EXPECT_FALSE(ParseByteSize("-1G", &v));
  EXPECT_FALSE(ParseByteSize("", &v));
}

}  // namespace
}  // namespace czifs
