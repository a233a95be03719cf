#include "czifs/interrupt.h"

#include <gtest/gtest.h>

#include <thread>

#include "czifs/mutex.h"

namespace czifs {
namespace {

TEST(InterruptTest, RaisingWakesAWaiterThatSubscribed) {
  Interrupt interrupt;
  Mutex mu;
  CondVar cv;
  bool started = false;
  std::thread waiter([&] {
    Interrupt::Subscription woken = interrupt.OnRaise([&] {
      MutexLock lock(&mu);
      cv.SignalAll();
    });
    MutexLock lock(&mu);
    started = true;
    cv.SignalAll();
    // No timeout: without the wake-up this test hangs (ctest's limit fails it).
    while (!interrupt.raised()) cv.Wait(&mu);
  });
  {
    MutexLock lock(&mu);
    while (!started) cv.Wait(&mu);
  }
  interrupt.Raise();
  waiter.join();
  EXPECT_TRUE(interrupt.raised());
}

TEST(InterruptTest, SubscribingAfterTheRaiseWakesAtOnce) {
  Interrupt interrupt;
  interrupt.Raise();
  int calls = 0;
  Interrupt::Subscription s = interrupt.OnRaise([&] { ++calls; });
  EXPECT_EQ(calls, 1);
  interrupt.Raise();  // raised once, for good
  EXPECT_EQ(calls, 1);
}

TEST(InterruptTest, ADroppedSubscriptionIsNotCalled) {
  Interrupt interrupt;
  int calls = 0;
  {
    Interrupt::Subscription s = interrupt.OnRaise([&] { ++calls; });
  }
  Interrupt::Subscription kept = interrupt.OnRaise([&] { calls += 10; });
  interrupt.Raise();
  EXPECT_EQ(calls, 10);
}

TEST(InterruptTest, AChildIsRaisedWithItsParentButNotTheOtherWayRound) {
  auto parent = std::make_shared<Interrupt>();
  auto a = Interrupt::ChildOf(parent);
  auto b = Interrupt::ChildOf(parent);
  a->Raise();
  EXPECT_FALSE(parent->raised());
  EXPECT_FALSE(b->raised());
  parent->Raise();
  EXPECT_TRUE(b->raised());
  EXPECT_TRUE(Interrupt::ChildOf(parent)->raised());  // born after the raise
}

TEST(InterruptTest, AChildMayOutliveTheLastOtherOwnerOfItsParent) {
  auto parent = std::make_shared<Interrupt>();
  auto child = Interrupt::ChildOf(parent);
  std::weak_ptr<Interrupt> weak = parent;
  parent.reset();
  EXPECT_FALSE(weak.expired());  // the child keeps it
  child.reset();
  EXPECT_TRUE(weak.expired());
}

}  // namespace
}  // namespace czifs
