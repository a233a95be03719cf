// A "give up" signal that wakes its waiters: a read's interrupt (the
// kernel's FUSE_INTERRUPT, the end of the session) as a flag code checks
// and as a call to every waiter that subscribed, so nobody polls for it.
//
// Thread-safety: every member is safe to call from any thread. Lock order:
// a parent's mu_ before its children's (Raise runs the wakers under mu_),
// and a waker may take its waiter's mutex: mu_ before it, never after.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "czifs/mutex.h"

namespace czifs {

class Interrupt {
 public:
  Interrupt() = default;
  Interrupt(const Interrupt&) = delete;
  Interrupt& operator=(const Interrupt&) = delete;

  // Stops waiting for `wake` calls once destroyed (waits for one running).
  class Subscription {
   public:
    Subscription() = default;
    Subscription(Subscription&& o) noexcept : owner_(o.owner_), id_(o.id_) { o.owner_ = nullptr; }
    Subscription& operator=(Subscription&& o) noexcept;
    ~Subscription();

   private:
    friend class Interrupt;
    Subscription(Interrupt* owner, uint64_t id) : owner_(owner), id_(id) {}
    Interrupt* owner_ = nullptr;
    uint64_t id_ = 0;
  };

  // Sets the flag (for good) and calls every subscriber's `wake` once.
  void Raise() EXCLUDES(mu_);
  bool raised() const { return raised_.load(std::memory_order_acquire); }

  // Calls `wake` when the interrupt is raised, or at once (on this thread)
  // if it already is. `wake` runs under this interrupt's lock: it may take
  // its own waiter's mutex, never call back into this Interrupt.
  [[nodiscard]] Subscription OnRaise(std::function<void()> wake) EXCLUDES(mu_);

  // A new interrupt raised when `parent` is (or at once, if it is already);
  // it can also be raised alone. Holds its subscription to `parent`.
  static std::shared_ptr<Interrupt> ChildOf(const std::shared_ptr<Interrupt>& parent);

 private:
  void Unsubscribe(uint64_t id) EXCLUDES(mu_);

  std::atomic<bool> raised_{false};
  Mutex mu_;
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
  std::map<uint64_t, std::function<void()>> wakers_ GUARDED_BY(mu_);
  // ChildOf's link, set once before the child is shared; the parent is
  // kept alive while the link exists (declared first: destroyed last).
  std::shared_ptr<Interrupt> parent_;
  Subscription to_parent_;
};

}  // namespace czifs
