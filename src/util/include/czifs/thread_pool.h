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

#include "czifs/mutex.h"
#include "czifs/status.h"

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

  Mutex mu_;
  CondVar work_cv_;  // signalled when a task is queued or on stop
  CondVar idle_cv_;  // signalled when pending_ drops to zero
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  size_t pending_ GUARDED_BY(mu_) = 0;  // queued + running
  bool stop_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;  // constant after construction
};

// Runs work(0), ..., work(n - 1) on this thread and on up to pool->size()
// workers at once (null pool: this thread alone), and returns when all
// have run: the first error, or Ok. The calling thread takes items from the
// same list as the workers, so it never waits on a queue that is busy (a
// pool worker may call ShareWork: nesting cannot deadlock). After an error,
// items not yet started are skipped. `work` is never called after
// ShareWork returns (workers that start late find the list empty), so it
// may refer to the caller's locals. An exception in `work` becomes an error.
Status ShareWork(ThreadPool* pool, size_t n, std::function<Status(size_t)> work);

}  // namespace czifs
