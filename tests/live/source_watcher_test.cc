// SourceWatcher: a change in a watched folder is reported by name, once the
// folder is quiet; a forgotten node is not reported again.
#include "czifs/source_watcher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "../support/test_util.h"

namespace czifs {
namespace {

// Collects reports; Wait returns once one named `name` came (or gives up).
struct Reports {
  std::mutex mu;
  std::condition_variable cv;
  SourceWatcher::Changes seen;

  void Add(const SourceWatcher::Changes& changes) {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [ino, names] : changes) seen[ino].insert(names.begin(), names.end());
    cv.notify_all();
  }
  bool Wait(uint64_t ino, const std::string& name) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(30),
                       [&] { return seen.count(ino) && seen[ino].count(name); });
  }
};

TEST(SourceWatcherTest, ANewFileInAWatchedFolderIsReportedByNameForEachNodeThatCares) {
  testing::TempDir dir;
  Reports reports;
  auto watcher = SourceWatcher::Start(
      [&](const SourceWatcher::Changes& changes, bool) { reports.Add(changes); });
  ASSERT_TRUE(watcher.ok()) << watcher.status().ToString();
  const int fd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE((*watcher)->Watch(fd, /*ino=*/7, "").ok());       // every entry
  ASSERT_TRUE((*watcher)->Watch(fd, /*ino=*/8, "b.czi").ok());  // one entry
  ::close(fd);
  testing::WriteFileBytes(dir.File("a.czi"), {1});
  testing::WriteFileBytes(dir.File("b.czi"), {2});
  EXPECT_TRUE(reports.Wait(7, "a.czi"));
  EXPECT_TRUE(reports.Wait(7, "b.czi"));
  EXPECT_TRUE(reports.Wait(8, "b.czi"));
  std::lock_guard<std::mutex> lock(reports.mu);
  EXPECT_EQ(reports.seen[8], (std::set<std::string>{"b.czi"}));  // never a.czi
}

TEST(SourceWatcherTest, AForgottenNodeIsNotReportedAgain) {
  testing::TempDir dir;
  Reports reports;
  auto watcher = SourceWatcher::Start(
      [&](const SourceWatcher::Changes& changes, bool) { reports.Add(changes); });
  ASSERT_TRUE(watcher.ok());
  const int fd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE((*watcher)->Watch(fd, 7, "").ok());
  ASSERT_TRUE((*watcher)->Watch(fd, 9, "").ok());
  ::close(fd);
  (*watcher)->Forget(7);
  testing::WriteFileBytes(dir.File("c.czi"), {3});
  ASSERT_TRUE(reports.Wait(9, "c.czi"));  // reported for 9, in the same batch 7 would be
  std::lock_guard<std::mutex> lock(reports.mu);
  EXPECT_EQ(reports.seen.count(7), 0u);
}

TEST(SourceWatcherTest, AFolderThatCannotBeWatchedSaysWhy) {
  Reports reports;
  auto watcher = SourceWatcher::Start(
      [&](const SourceWatcher::Changes& changes, bool) { reports.Add(changes); });
  ASSERT_TRUE(watcher.ok());
  auto wd = (*watcher)->Watch(/*folder_fd=*/-1, 7, "");
  ASSERT_FALSE(wd.ok());
  EXPECT_FALSE(wd.status().message().empty());
}

}  // namespace
}  // namespace czifs
