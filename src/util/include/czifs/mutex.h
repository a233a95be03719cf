// Mutexes the compiler checks: Clang's thread-safety analysis
// (-Wthread-safety, on in the clang build of scripts/test.sh) proves that
// every member marked GUARDED_BY(mu) is touched only with `mu` held and
// that functions marked REQUIRES(mu) are called with it held. The same
// annotations as leveldb's and Abseil's; with GCC they compile to nothing.
//
// Lock order is written next to each class's locks with ACQUIRED_BEFORE /
// ACQUIRED_AFTER where two are ever held together.
//
// Thread-safety: that is the point.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define CZIFS_TSA(x) __attribute__((x))
#else
#define CZIFS_TSA(x)
#endif

#define CAPABILITY(x) CZIFS_TSA(capability(x))
#define SCOPED_CAPABILITY CZIFS_TSA(scoped_lockable)
#define GUARDED_BY(x) CZIFS_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) CZIFS_TSA(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) CZIFS_TSA(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) CZIFS_TSA(acquired_after(__VA_ARGS__))
#define REQUIRES(...) CZIFS_TSA(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) CZIFS_TSA(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) CZIFS_TSA(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) CZIFS_TSA(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) CZIFS_TSA(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) CZIFS_TSA(release_shared_capability(__VA_ARGS__))
#define EXCLUDES(...) CZIFS_TSA(locks_excluded(__VA_ARGS__))
#define LOCK_RETURNED(x) CZIFS_TSA(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS CZIFS_TSA(no_thread_safety_analysis)

namespace czifs {

class CondVar;

// A std::mutex the analysis knows.
class CAPABILITY("mutex") Mutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  bool TryLock() CZIFS_TSA(try_acquire_capability(true)) { return mu_.try_lock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds a Mutex for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable waited on with a Mutex held.
class CondVar {
 public:
  // Releases `mu`, waits for a signal (or a spurious wake), takes `mu` again.
  void Wait(Mutex* mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // The same, for at most `timeout`. Returns false if it timed out.
  template <typename Rep, typename Period>
  bool WaitFor(Mutex* mu, std::chrono::duration<Rep, Period> timeout) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool signalled = cv_.wait_for(lock, timeout) == std::cv_status::no_timeout;
    lock.release();
    return signalled;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

// A std::shared_mutex the analysis knows: many readers or one writer.
class CAPABILITY("shared_mutex") SharedMutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  void LockShared() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds a SharedMutex exclusively for its scope.
class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterLock() RELEASE() { mu_->Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// Holds a SharedMutex shared for its scope.
class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_->LockShared(); }
  ~ReaderLock() RELEASE() { mu_->UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* const mu_;
};

}  // namespace czifs
