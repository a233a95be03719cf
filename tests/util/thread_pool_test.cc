#include "czifs/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <new>
#include <stdexcept>
#include <thread>

namespace czifs {
namespace {

TEST(ThreadPoolTest, RunsEveryTaskAndWaitReturnsAfterTheLast) {
  ThreadPool pool(4);
  std::atomic<int> done{0};
  for (int i = 0; i < 1000; ++i) pool.Submit([&] { done.fetch_add(1); });
  pool.Wait();
  EXPECT_EQ(done.load(), 1000);
}

TEST(ThreadPoolTest, ATaskThatThrowsNeitherEndsItsWorkerNorTheProcess) {
  ThreadPool pool(1);
  std::atomic<int> done{0};
  pool.Submit([] { throw std::bad_alloc(); });
  pool.Submit([] { throw std::runtime_error("boom"); });
  for (int i = 0; i < 10; ++i) pool.Submit([&] { done.fetch_add(1); });
  pool.Wait();
  EXPECT_EQ(done.load(), 10);
}

TEST(ThreadPoolTest, TasksMaySubmitMoreTasksFromWorkers) {
  ThreadPool pool(2);
  std::atomic<int> done{0};
  for (int i = 0; i < 50; ++i) {
    pool.Submit([&] {
      pool.Submit([&] { done.fetch_add(1); });
      done.fetch_add(1);
    });
  }
  pool.Wait();
  EXPECT_EQ(done.load(), 100);
}

TEST(ThreadPoolTest, CancelPendingDropsQueuedTasksButNotTheRunningOne) {
  ThreadPool pool(1);
  std::atomic<bool> started{false}, release{false};
  std::atomic<int> ran{0};
  pool.Submit([&] {
    started.store(true);
    while (!release.load()) std::this_thread::yield();
    ran.fetch_add(1);
  });
  for (int i = 0; i < 10; ++i) pool.Submit([&] { ran.fetch_add(1); });
  // Cancel only once the first task runs (no guess at how long that takes).
  while (!started.load()) std::this_thread::yield();
  const size_t dropped = pool.CancelPending();
  release.store(true);
  pool.Wait();
  EXPECT_EQ(dropped, 10u);
  EXPECT_EQ(ran.load(), 1);
}

TEST(ThreadPoolTest, DestructorFinishesQueuedTasks) {
  std::atomic<int> done{0};
  {
    ThreadPool pool(3);
    for (int i = 0; i < 200; ++i) pool.Submit([&] { done.fetch_add(1); });
  }
  EXPECT_EQ(done.load(), 200);
}

TEST(ShareWorkTest, RunsEveryItemOnce) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> runs(500);
  const Status s = ShareWork(&pool, runs.size(), [&](size_t k) {
    runs[k].fetch_add(1);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok());
  for (const auto& r : runs) EXPECT_EQ(r.load(), 1);
}

TEST(ShareWorkTest, WithEveryWorkerBusyTheCallerDoesAllTheWork) {
  ThreadPool pool(1);
  std::atomic<bool> release{false};
  pool.Submit([&] {
    while (!release.load()) std::this_thread::yield();
  });
  const auto caller = std::this_thread::get_id();
  std::atomic<int> by_caller{0};
  const Status s = ShareWork(&pool, 10, [&](size_t) {
    if (std::this_thread::get_id() == caller) by_caller.fetch_add(1);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(by_caller.load(), 10);
  release.store(true);
  pool.Wait();
}

TEST(ShareWorkTest, NestedOnAOneThreadPoolFinishesInsteadOfDeadlocking) {
  ThreadPool pool(1);
  std::atomic<int> leaves{0};
  const Status s = ShareWork(&pool, 4, [&](size_t) {
    return ShareWork(&pool, 4, [&](size_t) {
      return ShareWork(&pool, 4, [&](size_t) {
        leaves.fetch_add(1);
        return Status::Ok();
      });
    });
  });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(leaves.load(), 64);
}

TEST(ShareWorkTest, TheFirstErrorIsReturnedAndAThrowBecomesAnError) {
  ThreadPool pool(2);
  const Status s = ShareWork(&pool, 50, [&](size_t k) {
    return k == 7 ? Status::DataLoss("item 7 is damaged") : Status::Ok();
  });
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  const Status thrown = ShareWork(nullptr, 3, [&](size_t k) -> Status {
    if (k == 1) throw std::bad_alloc();
    return Status::Ok();
  });
  EXPECT_EQ(thrown.code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace czifs
