#include "czifs/thread_pool.h"

#include <spdlog/spdlog.h>

#include <exception>

#include "czifs/mutex.h"

namespace czifs {

ThreadPool::ThreadPool(size_t threads) {
  if (threads == 0) threads = 1;
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

}  // namespace czifs
