#include "czifs/lru_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <new>
#include <thread>
#include <vector>

namespace czifs {
namespace {

using Cache = LruCache<int, std::vector<char>>;

Cache MakeCache(uint64_t capacity) {
  return Cache(capacity, [](const std::vector<char>& v) { return v.size(); });
}

Cache::Ptr Value(size_t n) { return std::make_shared<const std::vector<char>>(n, 'x'); }

TEST(LruCacheTest, EvictsLeastRecentlyUsed) {
  Cache c = MakeCache(300);
  c.Insert(1, Value(100));
  c.Insert(2, Value(100));
  c.Insert(3, Value(100));
  ASSERT_NE(c.Lookup(1), nullptr);  // 1 is now the newest
  c.Insert(4, Value(100));          // evicts 2
  EXPECT_NE(c.Lookup(1), nullptr);
  EXPECT_EQ(c.Lookup(2), nullptr);
  EXPECT_NE(c.Lookup(3), nullptr);
  EXPECT_NE(c.Lookup(4), nullptr);
}

Cache MakeCache(uint64_t capacity, uint64_t retired) {
  return Cache(
      capacity, [](const std::vector<char>& v) { return v.size(); }, retired);
}

TEST(LruCacheTest, RetiredValuesAreEvictedBeforeOlderOnes) {
  Cache c = MakeCache(300, 300);
  c.Insert(1, Value(100));
  c.Insert(2, Value(100));
  c.Insert(3, Value(100));
  c.Retire(3);              // the newest, but done with
  c.Insert(4, Value(100));  // evicts 3, not 1
  EXPECT_EQ(c.Lookup(3), nullptr);
  EXPECT_NE(c.Lookup(1), nullptr);
  EXPECT_NE(c.Lookup(2), nullptr);
  EXPECT_NE(c.Lookup(4), nullptr);
}

TEST(LruCacheTest, RetiredValuesStayWithinTheirOwnBudget) {
  Cache c = MakeCache(1000, 250);
  for (int i = 0; i < 5; ++i) c.Insert(i, Value(100));
  c.Retire(0);
  c.Retire(1);
  EXPECT_EQ(c.retired_usage(), 200u);
  c.Retire(2);  // 300 > 250: the oldest retired goes
  EXPECT_EQ(c.retired_usage(), 200u);
  EXPECT_EQ(c.usage(), 400u);
  EXPECT_EQ(c.Lookup(0), nullptr);
  EXPECT_NE(c.Lookup(3), nullptr);  // not retired: kept though the cache has room for either
}

TEST(LruCacheTest, AHitBringsARetiredValueBack) {
  Cache c = MakeCache(300, 300);
  c.Insert(1, Value(100));
  c.Insert(2, Value(100));
  c.Retire(1);
  ASSERT_NE(c.Lookup(1), nullptr);  // used again: an ordinary entry, the newest
  EXPECT_EQ(c.retired_usage(), 0u);
  c.Insert(3, Value(100));
  c.Insert(4, Value(100));  // evicts 2, the least recently used
  EXPECT_NE(c.Lookup(1), nullptr);
  EXPECT_EQ(c.Lookup(2), nullptr);
}

TEST(LruCacheTest, WithoutARetiredBudgetRetiringEvicts) {
  Cache c = MakeCache(300);
  c.Insert(1, Value(100));
  Cache::Ptr held = c.Lookup(1);
  c.Retire(1);
  c.Retire(7);  // absent: nothing happens
  EXPECT_EQ(c.Lookup(1), nullptr);
  EXPECT_EQ(c.usage(), 0u);
  EXPECT_EQ((*held)[0], 'x');  // a reader's copy stays
}

TEST(LruCacheTest, NeverHoldsMoreThanItsBudget) {
  Cache c = MakeCache(1000);
  for (int i = 0; i < 100; ++i) {
    c.Insert(i, Value(static_cast<size_t>(37 * (i % 7) + 1)));
    EXPECT_LE(c.usage(), c.capacity());
  }
}

TEST(LruCacheTest, DoesNotCacheValuesLargerThanTheBudget) {
  Cache c = MakeCache(10);
  auto r = c.GetOrCompute(1, [] { return Result<Cache::Ptr>(Value(11)); });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->size(), 11u);  // the caller still gets it
  EXPECT_EQ(c.Lookup(1), nullptr);
  EXPECT_EQ(c.usage(), 0u);
}

TEST(LruCacheTest, EvictedValueStaysAliveWhileHeld) {
  Cache c = MakeCache(100);
  c.Insert(1, Value(100));
  Cache::Ptr held = c.Lookup(1);
  c.Insert(2, Value(100));  // evicts 1
  EXPECT_EQ(c.Lookup(1), nullptr);
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->size(), 100u);
  EXPECT_EQ((*held)[99], 'x');
}

TEST(LruCacheTest, ConcurrentMissesOnOneKeyComputeOnce) {
  Cache c = MakeCache(1 << 20);
  std::atomic<int> computed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < 50; ++k) {
        auto r = c.GetOrCompute(k, [&] {
          computed.fetch_add(1);
          std::this_thread::sleep_for(std::chrono::microseconds(200));
          return Result<Cache::Ptr>(Value(10));
        });
        ASSERT_TRUE(r.ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(computed.load(), 50);
}

TEST(LruCacheTest, ErrorsReachEveryWaiterAndAreNotCached) {
  Cache c = MakeCache(1000);
  auto r = c.GetOrCompute(7, [] { return Result<Cache::Ptr>(Status::Corruption("bad tile")); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "bad tile");
  auto again = c.GetOrCompute(7, [] { return Result<Cache::Ptr>(Value(1)); });
  EXPECT_TRUE(again.ok());
}

TEST(LruCacheTest, AComputeThatRunsOutOfMemoryFailsItsCallersAndHangsNobody) {
  Cache c = MakeCache(1000);
  std::atomic<bool> started{false};
  std::atomic<bool> release{false};
  std::thread owner([&] {
    auto r = c.GetOrCompute(3, [&]() -> Result<Cache::Ptr> {
      started = true;
      while (!release) std::this_thread::yield();
      throw std::bad_alloc();
    });
    EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  });
  while (!started) std::this_thread::yield();
  const uint64_t hits = c.hits();
  std::thread waiter([&] {
    auto r = c.GetOrCompute(3, [] { return Result<Cache::Ptr>(Value(1)); });
    EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);  // the owner's error
  });
  // A caller that finds the computation under way counts a hit, then waits
  // for it: once counted, the waiter is waiting (no guess at how long).
  while (c.hits() == hits) std::this_thread::yield();
  release = true;
  owner.join();
  waiter.join();
  EXPECT_TRUE(c.GetOrCompute(3, [] { return Result<Cache::Ptr>(Value(1)); }).ok());
}

}  // namespace
}  // namespace czifs
