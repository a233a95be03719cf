#include "progress_line.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace czifs {
namespace {

std::string FormatDuration(double s) {
  const int t = static_cast<int>(s);
  if (s >= 3600) return fmt::format("{}h{:02}m", t / 3600, t / 60 % 60);
  if (s >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

}  // namespace

void ProgressLine::Start() {
  thread_ = std::thread([this] {
    MutexLock lock(&mu_);
    while (!finished_) {
      if (!cv_.WaitFor(&mu_, std::chrono::milliseconds(200))) Draw(false);
    }
  });
}

void ProgressLine::Finish() {
  if (!thread_.joinable()) return;
  {
    MutexLock lock(&mu_);
    finished_ = true;
  }
  cv_.SignalAll();
  thread_.join();
  Draw(true);
}

void ProgressLine::Draw(bool last) const {
  const double t = Elapsed();
  const uint64_t done = bytes.load();
  const double frac = total_bytes_ ? std::min(1.0, static_cast<double>(done) / total_bytes_) : 1.0;
  constexpr size_t kWidth = 30;
  std::string bar(static_cast<size_t>(frac * kWidth), '#');
  bar.resize(kWidth, ' ');
  const std::string eta = frac > 0 && !last ? FormatDuration(t / frac - t) : FormatDuration(t);
  std::fputs(fmt::format("\r[{}] {}/{} files  {:.1f}/{:.1f} MB  {:.1f} MB/s  {} {}   ", bar,
                         files.load(), total_files_, done / 1e6, total_bytes_ / 1e6,
                         t > 0 ? done / 1e6 / t : 0.0, last ? "took" : "ETA", eta)
                 .c_str(),
             stderr);
  if (last) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace czifs
