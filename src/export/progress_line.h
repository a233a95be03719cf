// A progress line on stderr for `czifs export`, redrawn five times a second
// from its own thread: files and bytes written of all the export will write.
//
// Thread-safety: the counters are atomics, updated from any thread; Start
// and Finish from the thread that owns the line.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "czifs/mutex.h"

namespace czifs {

class ProgressLine {
 public:
  ProgressLine(uint64_t total_files, uint64_t total_bytes)
      : total_files_(total_files), total_bytes_(total_bytes) {}
  ~ProgressLine() { Finish(); }

  std::atomic<uint64_t> files{0}, bytes{0};  // written so far

  double Elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  // Starts redrawing.
  void Start();
  // Stops redrawing and draws the final line (if started).
  void Finish();

 private:
  void Draw(bool last) const;

  const uint64_t total_files_, total_bytes_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  Mutex mu_;
  CondVar cv_;
  bool finished_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace czifs
