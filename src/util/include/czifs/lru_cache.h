// LruCache: a byte-budgeted, least-recently-used cache of immutable values,
// shared by everything that decodes (every mounted file, every export worker).
//
// Values are handed out as shared_ptr<const V>: eviction drops the cache's
// reference only, so a buffer a reader still holds stays alive. The budget is
// therefore exceeded at most by what callers pin. Concurrent misses on one key
// compute once: the first caller computes, the others wait for its result.
//
// Retire(key) says a value has served the reader it was made for (a
// sequential reader went past a tile): it moves to a "used once" list,
// evicted before anything else when the cache is over its budget, and kept
// within retired_capacity bytes of its own. A later hit brings it back. So
// a scan (cp over a dataset: the kernel keeps what it served) does not push
// out what readers come back to.
//
// Thread-safety: all methods are thread-safe. mu_ guards the map, both lists
// and the in-flight table; compute functions run without the lock held.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "czifs/mutex.h"
#include "czifs/status.h"

namespace czifs {

template <typename Key, typename Value, typename Hash = std::hash<Key>>
class LruCache {
 public:
  using Ptr = std::shared_ptr<const Value>;
  // Computes the value for a key and reports its charge in bytes.
  using ComputeFn = std::function<Result<Ptr>()>;
  using ChargeFn = std::function<uint64_t(const Value&)>;

  LruCache(uint64_t capacity_bytes, ChargeFn charge, uint64_t retired_capacity_bytes = 0)
      : capacity_(capacity_bytes),
        retired_capacity_(std::min(retired_capacity_bytes, capacity_bytes)),
        charge_(std::move(charge)) {}

  // Returns the cached value or nullptr.
  Ptr Lookup(const Key& key) {
    MutexLock lock(&mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    TouchLocked(it->second);
    ++hits_;
    return it->second.value;
  }

  // Moves a cached value to the used-once list (no-op if absent or there).
  void Retire(const Key& key) {
    MutexLock lock(&mu_);
    auto it = map_.find(key);
    if (it == map_.end() || it->second.retired) return;
    Entry& e = it->second;
    retired_.splice(retired_.begin(), lru_, e.lru_pos);
    e.retired = true;
    retired_usage_ += e.charge;
    EvictLocked();
  }

  // Returns the cached value, or computes it (once, however many callers ask
  // concurrently) and inserts it. Errors are returned to every waiter and not cached.
  Result<Ptr> GetOrCompute(const Key& key, const ComputeFn& compute) {
    std::shared_ptr<InFlight> flight;
    bool owner = false;
    {
      MutexLock lock(&mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        TouchLocked(it->second);
        ++hits_;
        return it->second.value;
      }
      auto fit = in_flight_.find(key);
      if (fit != in_flight_.end()) {
        flight = fit->second;
      } else {
        flight = std::make_shared<InFlight>();
        in_flight_.emplace(key, flight);
        owner = true;
        ++misses_;
      }
      if (!owner) {
        ++hits_;
        while (!OutcomeOf(*flight).done) flight->cv.Wait(&mu_);
        const auto& outcome = OutcomeOf(*flight);
        if (outcome.status.ok()) return outcome.value;
        return outcome.status;
      }
    }
    // A compute that throws (out of memory) must still release its waiters.
    Result<Ptr> r = ComputeCaught(compute);
    MutexLock lock(&mu_);
    in_flight_.erase(key);
    auto& outcome = OutcomeOf(*flight);
    outcome.done = true;
    if (r.ok()) {
      outcome.value = r.value();
      InsertLocked(key, r.value());
    } else {
      outcome.status = r.status();
    }
    flight->cv.SignalAll();
    return r;
  }

  // Inserts or replaces a value.
  void Insert(const Key& key, Ptr value) {
    MutexLock lock(&mu_);
    InsertLocked(key, std::move(value));
  }

  uint64_t capacity() const { return capacity_; }
  uint64_t retired_capacity() const { return retired_capacity_; }
  uint64_t usage() const {
    MutexLock lock(&mu_);
    return usage_;
  }
  // Bytes on the used-once list (part of usage()).
  uint64_t retired_usage() const {
    MutexLock lock(&mu_);
    return retired_usage_;
  }
  uint64_t hits() const {
    MutexLock lock(&mu_);
    return hits_;
  }
  uint64_t misses() const {
    MutexLock lock(&mu_);
    return misses_;
  }

 private:
  static Result<Ptr> ComputeCaught(const ComputeFn& compute) {
    try {
      return compute();
    } catch (const std::bad_alloc&) {
      return Status::ResourceExhausted("out of memory");
    } catch (const std::exception& e) {
      return Status::IOError(std::string("unexpected error: ") + e.what());
    }
  }

  // A computation under way; its outcome is guarded by the cache's mu_,
  // reachable only through OutcomeOf (which requires it).
  class InFlight {
   public:
    CondVar cv;

   private:
    friend class LruCache;
    struct Outcome {
      bool done = false;
      Ptr value;
      Status status;
    } outcome_;
  };
  typename InFlight::Outcome& OutcomeOf(InFlight& f) REQUIRES(mu_) { return f.outcome_; }
  struct Entry {
    Ptr value;
    uint64_t charge;
    typename std::list<Key>::iterator lru_pos;  // in retired_ if `retired`, else in lru_
    bool retired = false;
  };

  // A hit: the entry becomes the newest of the main list.
  void TouchLocked(Entry& e) REQUIRES(mu_) {
    if (e.retired) {
      lru_.splice(lru_.begin(), retired_, e.lru_pos);
      e.retired = false;
      retired_usage_ -= e.charge;
    } else {
      lru_.splice(lru_.begin(), lru_, e.lru_pos);
    }
  }

  void EraseLocked(typename std::unordered_map<Key, Entry, Hash>::iterator it) REQUIRES(mu_) {
    Entry& e = it->second;
    usage_ -= e.charge;
    if (e.retired) {
      retired_usage_ -= e.charge;
      retired_.erase(e.lru_pos);
    } else {
      lru_.erase(e.lru_pos);
    }
    map_.erase(it);
  }

  // The used-once list within its own budget, then everything within the
  // cache's, oldest used-once entries first.
  void EvictLocked() REQUIRES(mu_) {
    while (retired_usage_ > retired_capacity_) EraseLocked(map_.find(retired_.back()));
    while (usage_ > capacity_) {
      EraseLocked(map_.find(retired_.empty() ? lru_.back() : retired_.back()));
    }
  }

  void InsertLocked(const Key& key, Ptr value) REQUIRES(mu_) {
    const uint64_t charge = charge_(*value);
    auto it = map_.find(key);
    if (it != map_.end()) EraseLocked(it);
    if (charge > capacity_) return;  // never cache what cannot fit; the caller still has it
    lru_.push_front(key);
    map_.emplace(key, Entry{std::move(value), charge, lru_.begin()});
    usage_ += charge;
    EvictLocked();
  }

  const uint64_t capacity_;  // constant after construction
  const uint64_t retired_capacity_;
  const ChargeFn charge_;

  mutable Mutex mu_;
  std::unordered_map<Key, Entry, Hash> map_ GUARDED_BY(mu_);
  std::list<Key> lru_ GUARDED_BY(mu_);      // front = newest
  std::list<Key> retired_ GUARDED_BY(mu_);  // used once; front = newest
  std::unordered_map<Key, std::shared_ptr<InFlight>, Hash> in_flight_ GUARDED_BY(mu_);
  uint64_t usage_ GUARDED_BY(mu_) = 0;
  uint64_t retired_usage_ GUARDED_BY(mu_) = 0;
  uint64_t hits_ GUARDED_BY(mu_) = 0;
  uint64_t misses_ GUARDED_BY(mu_) = 0;
};

}  // namespace czifs
