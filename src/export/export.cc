#include "czifs/export.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "czifs/mount_tree.h"
#include "czifs/mutex.h"
#include "czifs/thread_pool.h"

namespace czifs {
namespace {

namespace fs = std::filesystem;
constexpr size_t kChunkBytes = 4 << 20;

struct Job {
  std::shared_ptr<VirtualFile> file;  // holds its document while queued
  std::string path;
};

// What a walk of the tree found: folders to create, files to write.
struct Walk {
  MountTree* tree;
  std::vector<fs::path> dirs;
  std::vector<Job> jobs;
  // Problems the tree reported (through its sink) or the walk met.
  Mutex* mu;
  std::vector<TreeProblem>* problems;

  size_t ProblemCount() {
    MutexLock lock(mu);
    return problems->size();
  }
  // Records `st` for `where` unless the tree already said what went wrong.
  void Fail(size_t reported_before, const fs::path& where, const Status& st) {
    MutexLock lock(mu);
    if (problems->size() == reported_before) problems->push_back({where.string(), st.ToString()});
  }
};

// Collects folder `ino` of the tree as `base` and everything below it.
void Collect(Walk* w, uint64_t ino, const fs::path& base) {
  const size_t before = w->ProblemCount();
  auto entries = w->tree->ReadDir(ino);
  if (!entries.ok()) return w->Fail(before, base, entries.status());
  w->dirs.push_back(base);
  for (const DirEntry& e : *entries) {
    if (e.is_dir) {
      Collect(w, e.ino, base / e.name);
      continue;
    }
    const size_t before_file = w->ProblemCount();
    auto file = w->tree->OpenFile(e.ino);
    if (!file.ok()) {
      w->Fail(before_file, base / e.name, file.status());
      continue;
    }
    w->jobs.push_back({std::move(file).value(), (base / e.name).string()});
  }
}

Status WriteAll(int fd, const uint8_t* p, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(path + ": write failed: " + std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

// Writes one file; returns bytes written.
Result<uint64_t> ExportFile(const VirtualFile& file, const std::string& path,
                            std::atomic<uint64_t>* progress_bytes) {
  CZIFS_ASSIGN_OR_RETURN(const uint64_t size, file.Size());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError(path + ": cannot create: " + std::strerror(errno));
  thread_local std::vector<uint8_t> buf;
  buf.resize(kChunkBytes);
  uint64_t off = 0;
  Status st;
  while (off < size) {
    auto n = file.Read(off, std::min<uint64_t>(kChunkBytes, size - off), buf.data());
    if (!n.ok()) {
      st = n.status();
      break;
    }
    if (*n == 0) {
      st = Status::IOError(fmt::format("file ended at {} of {} bytes", off, size));
      break;
    }
    st = WriteAll(fd, buf.data(), *n, path);
    if (!st.ok()) break;
    off += *n;
    progress_bytes->fetch_add(*n, std::memory_order_relaxed);
  }
  if (::close(fd) != 0 && st.ok())
    st = Status::IOError(path + ": close failed: " + std::strerror(errno));
  if (!st.ok()) {
    ::unlink(path.c_str());
    return st;
  }
  return off;
}

std::string FormatDuration(double s) {
  const int t = static_cast<int>(s);
  if (s >= 3600) return fmt::format("{}h{:02}m", t / 3600, t / 60 % 60);
  if (s >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

// A progress line on stderr, redrawn five times a second from its own
// thread: files and bytes written of all the export will write.
class ProgressLine {
 public:
  ProgressLine(uint64_t total_files, uint64_t total_bytes)
      : total_files_(total_files), total_bytes_(total_bytes) {}
  ~ProgressLine() { Finish(); }

  std::atomic<uint64_t> files{0}, bytes{0};  // written so far

  double Elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  void Start() {
    thread_ = std::thread([this] {
      MutexLock lock(&mu_);
      while (!finished_) {
        if (!cv_.WaitFor(&mu_, std::chrono::milliseconds(200))) Draw(false);
      }
    });
  }
  // Stops redrawing and draws the final line (if started).
  void Finish() {
    if (!thread_.joinable()) return;
    {
      MutexLock lock(&mu_);
      finished_ = true;
    }
    cv_.SignalAll();
    thread_.join();
    Draw(true);
  }

 private:
  void Draw(bool last) const {
    const double t = Elapsed();
    const uint64_t done = bytes.load();
    const double frac =
        total_bytes_ ? std::min(1.0, static_cast<double>(done) / total_bytes_) : 1.0;
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

  const uint64_t total_files_, total_bytes_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  Mutex mu_;
  CondVar cv_;
  bool finished_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace

Result<ExportReport> ExportSources(const std::vector<std::string>& sources,
                                   std::shared_ptr<Session> session,
                                   const TreeOptions& tree_options, const std::string& outdir,
                                   const ExportOptions& options) {
  ExportReport report;
  Mutex mu;  // guards report
  // An export is a snapshot: sources are looked at once, never again.
  LiveOptions live;
  live.watch = LiveOptions::Watch::kTtl;
  live.ttl_seconds = 1e12;
  live.problem_sink = [&](const TreeProblem& p) {
    MutexLock lock(&mu);
    report.problems.push_back(p);
  };
  CZIFS_ASSIGN_OR_RETURN(std::unique_ptr<MountTree> tree,
                         MountTree::Create(sources, std::move(session), tree_options, live));
  Walk walk{tree.get(), {}, {}, &mu, &report.problems};
  Collect(&walk, MountTree::kRootIno, fs::path(outdir));
  const std::vector<Job>& jobs = walk.jobs;
  for (const fs::path& d : walk.dirs) {
    std::error_code ec;
    fs::create_directories(d, ec);
    if (ec) return Status::IOError(d.string() + ": cannot create folder: " + ec.message());
  }
  uint64_t total_bytes = 0;
  for (const Job& j : jobs) {
    if (auto size = j.file->Size(); size.ok()) total_bytes += *size;
  }
  ProgressLine progress(jobs.size(), total_bytes);
  if (options.show_progress) progress.Start();
  {
    const unsigned n =
        options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    ThreadPool pool(n);
    for (const Job& j : jobs) {
      pool.Submit([&, j] {
        auto r = ExportFile(*j.file, j.path, &progress.bytes);
        MutexLock lock(&mu);
        if (r.ok()) {
          ++report.files_written;
          report.bytes_written += *r;
          if (j.file->IsPlane()) ++report.planes_written;
          progress.files.fetch_add(1);
        } else {
          report.problems.push_back({j.path, r.status().ToString()});
        }
      });
    }
    pool.Wait();
  }
  progress.Finish();
  report.seconds = progress.Elapsed();
  std::sort(report.problems.begin(), report.problems.end(),
            [](const auto& a, const auto& b) { return a.where < b.where; });
  return report;
}

}  // namespace czifs
