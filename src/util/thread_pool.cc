#include "czifs/thread_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>

#include "czifs/mutex.h"

namespace czifs {

ThreadPool::ThreadPool(size_t threads) {
  if (threads == 0) threads = 1;
  // spdlog makes its registry on first use, inside libspdlog, which the
  // ThreadSanitizer build cannot see into: made here, before the workers
  // exist, it is ordered before every worker's first log line.
  spdlog::default_logger_raw();
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  work_cv_.SignalAll();
  for (auto& t : workers_) t.join();
}

void ThreadPool::Submit(std::function<void()> task) {
  {
    MutexLock lock(&mu_);
    queue_.push_back(std::move(task));
    ++pending_;
  }
  work_cv_.Signal();
}

void ThreadPool::Wait() {
  MutexLock lock(&mu_);
  while (pending_ != 0) idle_cv_.Wait(&mu_);
}

size_t ThreadPool::CancelPending() {
  MutexLock lock(&mu_);
  const size_t n = queue_.size();
  queue_.clear();
  pending_ -= n;
  if (pending_ == 0) idle_cv_.SignalAll();
  return n;
}

void ThreadPool::WorkerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      MutexLock lock(&mu_);
      while (!stop_ && queue_.empty()) work_cv_.Wait(&mu_);
      if (queue_.empty()) return;  // stop_ and nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    // No exception may end a worker (and with it the daemon): a task that
    // fails this way is logged and dropped; its requester sees its own error.
    try {
      task();
    } catch (const std::bad_alloc&) {
      spdlog::error("background task: out of memory");
    } catch (const std::exception& e) {
      spdlog::error("background task: {}", e.what());
    }
    MutexLock lock(&mu_);
    if (--pending_ == 0) idle_cv_.SignalAll();
  }
}

namespace {

// One ShareWork call: its items, shared with the workers that help.
struct SharedWork {
  explicit SharedWork(size_t count, std::function<Status(size_t)> fn)
      : n(count), work(std::move(fn)) {}
  const size_t n;
  const std::function<Status(size_t)> work;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  Mutex mu;
  CondVar all_done;
  size_t done GUARDED_BY(mu) = 0;
  Status error GUARDED_BY(mu);

  Status RunOne(size_t k) {
    if (failed.load(std::memory_order_relaxed)) return Status::Cancelled("skipped after an error");
    try {
      return work(k);
    } catch (const std::bad_alloc&) {
      return Status::ResourceExhausted("out of memory");
    } catch (const std::exception& e) {
      return Status::IOError(std::string("unexpected error: ") + e.what());
    }
  }
  // Takes items until none is left.
  void Drain() EXCLUDES(mu) {
    for (size_t k; (k = next.fetch_add(1)) < n;) {
      Status s = RunOne(k);
      MutexLock lock(&mu);
      if (!s.ok() && error.ok()) {
        error = std::move(s);
        failed.store(true, std::memory_order_relaxed);
      }
      if (++done == n) all_done.SignalAll();
    }
  }
};

}  // namespace

Status ShareWork(ThreadPool* pool, size_t n, std::function<Status(size_t)> work) {
  if (n == 0) return Status::Ok();
  auto shared = std::make_shared<SharedWork>(n, std::move(work));
  const size_t helpers = pool ? std::min(pool->size(), n - 1) : 0;
  for (size_t h = 0; h < helpers; ++h) pool->Submit([shared] { shared->Drain(); });
  shared->Drain();
  MutexLock lock(&shared->mu);
  while (shared->done < n) shared->all_done.Wait(&shared->mu);
  return shared->error;
}

}  // namespace czifs
