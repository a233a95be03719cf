// The memory this process may use, from cgroup files (a fake sysfs here).
#include "czifs/memory_limit.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../support/test_util.h"

namespace czifs {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

void Put(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text << "\n";
}

TEST(MemoryLimitTest, TheSmallestCgroupV2LimitOnThePathToTheRootCounts) {
  TempDir dir;
  Put(dir.File("user.slice/memory.max"), "max");
  Put(dir.File("user.slice/job/memory.max"), "524288000");
  Put(dir.File("user.slice/job/step/memory.max"), "max");
  const MemoryLimit m = ReadMemoryLimit("0::/user.slice/job/step\n", dir.path());
  EXPECT_EQ(m.bytes, 524288000u);
  EXPECT_NE(m.source.find("memory.max"), std::string::npos);
  EXPECT_EQ(DefaultCacheBytes(m), 524288000u / 4);
}

TEST(MemoryLimitTest, CgroupV1MemoryControllerCountsAndUnlimitedDoesNot) {
  TempDir dir;
  Put(dir.File("memory/job/memory.limit_in_bytes"), "268435456");
  Put(dir.File("memory/memory.limit_in_bytes"), "9223372036854771712");
  const MemoryLimit m = ReadMemoryLimit("4:memory:/job\n2:cpu,cpuacct:/\n0::/\n", dir.path());
  EXPECT_EQ(m.bytes, 268435456u);
  const MemoryLimit none = ReadMemoryLimit("4:memory:/\n", dir.path());
  EXPECT_EQ(none.source, "RAM");
  EXPECT_EQ(DefaultCacheBytes(none), std::min<uint64_t>(1ull << 30, none.bytes / 4));
}

}  // namespace
}  // namespace czifs
