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
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
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

}  // namespace
}  // namespace czifs
