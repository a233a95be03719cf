#include "czifs/readahead.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "czifs/mount.h"

namespace czifs {
namespace {

constexpr char kMountinfo[] =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "40 22 0:40 / /mnt/exp rw,nosuid,nodev,relatime shared:7 - fuse.czifs /data/a.czi rw\n"
    "41 22 0:41 / /mnt/my\\040scans rw,relatime - fuse.czifs /data/b.czi rw,user_id=0\n"
    "42 22 0:42 / /mnt/other rw,relatime - nfs4 server:/x rw\n"
    "43 40 0:43 / /mnt/exp rw,relatime - fuse /data/c.czi rw\n";

TEST(ReadaheadTest, TheMountOnTopOfAMountPointGivesTheDevice) {
  EXPECT_EQ(FuseMountDevice(kMountinfo, "/mnt/exp"), "0:43");
}

TEST(ReadaheadTest, EscapedSpacesInMountPointsAreMatched) {
  EXPECT_EQ(FuseMountDevice(kMountinfo, "/mnt/my scans"), "0:41");
}

TEST(ReadaheadTest, OnlyFuseMountsAndExactPathsCount) {
  EXPECT_EQ(FuseMountDevice(kMountinfo, "/mnt/other"), "");
  EXPECT_EQ(FuseMountDevice(kMountinfo, "/mnt"), "");
  EXPECT_EQ(FuseMountDevice(kMountinfo, "/mnt/exp/"), "");
  EXPECT_EQ(FuseMountDevice("garbage\n\n1 2\n", "/mnt/exp"), "");
}

TEST(ReadaheadTest, TheWindowIsWrittenInKibibytesToTheMountsDevice) {
  const auto dir = std::filesystem::path(testing::TempDir()) / "readahead_bdi";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "bdi" / "0:43");
  std::ofstream(dir / "bdi" / "0:43" / "read_ahead_kb") << "128\n";  // as sysfs has it
  std::ofstream(dir / "mountinfo") << kMountinfo;
  SetMountReadahead("/mnt/exp", 2u << 20, (dir / "mountinfo").string(), (dir / "bdi").string());
  std::ifstream in(dir / "bdi" / "0:43" / "read_ahead_kb");
  int kb = 0;
  in >> kb;
  EXPECT_EQ(kb, 2048);
}

TEST(ReadaheadTest, AMissingMountOrDeviceIsLoggedNotFatal) {
  const auto dir = std::filesystem::path(testing::TempDir()) / "readahead_none";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "mountinfo") << kMountinfo;
  SetMountReadahead("/mnt/none", 1u << 20, (dir / "mountinfo").string(), (dir / "bdi").string());
  SetMountReadahead("/mnt/exp", 1u << 20, (dir / "mountinfo").string(), (dir / "bdi").string());
  EXPECT_FALSE(std::filesystem::exists(dir / "bdi"));
}

TEST(ReadaheadTest, OptionsTakeSizesInRangeOrZeroAndRefuseTheRest) {
  for (const char* ok : {"readahead=0", "readahead=4K", "readahead=2M", "readahead=64M"}) {
    MountOptions o;
    std::vector<std::string> fuse;
    std::string err;
    EXPECT_TRUE(SplitMountOptions({ok}, &o, &fuse, &err)) << ok << ": " << err;
    EXPECT_EQ(CheckMountOptions(o), "") << ok;
  }
  for (const char* bad : {"readahead=", "readahead=1K", "readahead=65M", "readahead=fast"}) {
    MountOptions o;
    std::vector<std::string> fuse;
    std::string err;
    EXPECT_FALSE(SplitMountOptions({bad}, &o, &fuse, &err)) << bad;
    EXPECT_NE(err.find("readahead"), std::string::npos) << err;
  }
  MountOptions o;
  EXPECT_EQ(o.kernel_readahead_bytes, kDefaultReadaheadBytes);
  o.kernel_readahead_bytes = 100;
  EXPECT_NE(CheckMountOptions(o).find("--readahead"), std::string::npos);
}

}  // namespace
}  // namespace czifs
