// ThreadPool: a fixed set of worker threads running submitted tasks in FIFO order.
//
// Thread-safety: Submit() and Wait() may be called from any thread. mu_ guards
// the queue, the pending count and the stop flag. The destructor finishes
// queued tasks and joins every worker.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace czifs {

class ThreadPool {
 public:
  explicit ThreadPool(size_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task` to run on a worker.
  void Submit(std::function<void()> task);
  // Blocks until every task submitted so far has finished.
  void Wait();
  // Drops every queued task that has not started; returns how many.
  size_t CancelPending();
  size_t size() const { return workers_.size(); }

 private:
  void WorkerLoop();

  std::mutex mu_;
  std::condition_variable work_cv_;   // signalled when a task is queued or on stop
  std::condition_variable idle_cv_;   // signalled when pending_ drops to zero
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  size_t pending_ = 0;                       // queued + running; guarded by mu_
  bool stop_ = false;                        // guarded by mu_
  std::vector<std::thread> workers_;         // constant after construction
};

}  // namespace czifs
