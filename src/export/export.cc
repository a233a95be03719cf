#include "czifs/export.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "czifs/mount_tree.h"
#include "czifs/mutex.h"
#include "czifs/thread_pool.h"
#include "progress_line.h"
#include "write_file.h"

namespace czifs {
namespace {

namespace fs = std::filesystem;

struct Job {
  std::shared_ptr<VirtualFile> file;  // holds its document while queued
  std::string path;
  NodeAttr attr;  // as the mount shows it
};

struct Folder {
  std::string path;
  NodeAttr attr;
};

// What a walk of the tree found: folders to create, files to write.
struct Walk {
  MountTree* tree;
  bool overwrite;
  const std::atomic<bool>* stop;  // set: stop walking (nothing written yet)
  std::vector<Folder> folders;    // parents before children
  std::vector<Job> jobs;
  uint64_t skipped = 0;  // complete from an earlier run
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

// Adds the file `e` in `base` to the walk's jobs (or counts it complete).
void CollectFile(Walk* w, const DirEntry& e, const fs::path& base) {
  const fs::path path = base / e.name;
  const size_t before = w->ProblemCount();
  auto attr = w->tree->GetAttr(e.ino);
  if (!attr.ok()) return w->Fail(before, path, attr.status());
  if (!w->overwrite) {
    switch (WhatIsThere(path.string(), *attr)) {
      case Existing::kComplete:
        ++w->skipped;
        return;
      case Existing::kNotOurs:
        return w->Fail(
            before, path,
            Status::InvalidArgument("is there and was not written by czifs export: left as it is "
                                    "(--overwrite writes over it)"));
      case Existing::kNone:
      case Existing::kOtherVersion:
        break;
    }
  }
  auto file = w->tree->OpenFile(e.ino);
  if (!file.ok()) return w->Fail(before, path, file.status());
  w->jobs.push_back({std::move(file).value(), path.string(), *attr});
}

// Collects folder `ino` of the tree as `base` and everything below it.
void Collect(Walk* w, uint64_t ino, const fs::path& base) {
  if (w->stop && w->stop->load()) return;
  const size_t before = w->ProblemCount();
  auto attr = w->tree->GetAttr(ino);
  auto entries = attr.ok() ? w->tree->ReadDir(ino) : attr.status();
  if (!entries.ok()) return w->Fail(before, base, entries.status());
  w->folders.push_back({base.string(), *attr});
  for (const DirEntry& e : *entries) {
    if (e.is_dir) {
      Collect(w, e.ino, base / e.name);
    } else {
      CollectFile(w, e, base);
    }
  }
}

// A folder source must not hold the output: a later run would list the
// export as part of its own source, and export it again inside itself.
Status CheckOutdirOutsideSources(const std::vector<std::string>& sources,
                                 const std::string& outdir) {
  std::error_code ec;
  const fs::path out = fs::weakly_canonical(outdir, ec);
  if (ec) return Status::Ok();  // MountTree or the writes report what is wrong
  for (const std::string& s : sources) {
    const fs::path src = fs::canonical(s, ec);
    if (ec || !fs::is_directory(src, ec)) continue;
    auto [src_end, out_it] = std::mismatch(src.begin(), src.end(), out.begin(), out.end());
    if (src_end == src.end()) {
      return Status::InvalidArgument(fmt::format(
          "{}: the output folder is inside the source folder {} (a later export would read "
          "its own output); choose a folder outside it",
          outdir, s));
    }
  }
  return Status::Ok();
}

// An output folder that was there before (a home, /tmp, an earlier run of
// this export) keeps its own mode, owner and times: only folders the export
// makes take the mount's.
void KeepAttributesOfAnExistingOutdir(const std::string& outdir, std::vector<Folder>* folders) {
  struct stat before;
  if (folders->empty() || ::stat(outdir.c_str(), &before) != 0 || !S_ISDIR(before.st_mode)) return;
  NodeAttr& root = folders->front().attr;
  root.mode = before.st_mode & 07777;
  root.uid = before.st_uid;
  root.gid = before.st_gid;
  root.mtime = before.st_mtim;
}

// Writes the jobs on a pool; counts into `report` (guarded by `mu`).
void WriteJobs(const std::vector<Job>& jobs, const ExportOptions& options, ProgressLine* progress,
               Mutex* mu, ExportReport* report) {
  const unsigned n =
      options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  ThreadPool pool(n);
  for (const Job& j : jobs) {
    pool.Submit([&, j] {
      if (options.stop && options.stop->load()) return;  // not started: nothing to undo
      auto r = WriteFileAtomically(*j.file, j.path, j.attr, options.stop, &progress->bytes);
      MutexLock lock(mu);
      if (r.ok()) {
        ++report->files_written;
        report->bytes_written += *r;
        if (j.file->IsPlane()) ++report->planes_written;
        progress->files.fetch_add(1);
      } else if (r.status().code() != StatusCode::kCancelled) {
        report->problems.push_back({j.path, r.status().ToString()});
      }
    });
  }
  pool.Wait();
}

}  // namespace

Result<ExportReport> ExportSources(const std::vector<std::string>& sources,
                                   std::shared_ptr<Session> session,
                                   const TreeOptions& tree_options, const std::string& outdir,
                                   const ExportOptions& options) {
  CZIFS_RETURN_IF_ERROR(CheckOutdirOutsideSources(sources, outdir));
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
  Walk walk{tree.get(), options.overwrite, options.stop, {}, {}, 0, &mu, &report.problems};
  Collect(&walk, MountTree::kRootIno, fs::path(outdir));
  if (options.stop && options.stop->load()) {  // while looking: nothing made, nothing written
    report.stopped = true;
    return report;
  }
  KeepAttributesOfAnExistingOutdir(outdir, &walk.folders);
  report.files_skipped = walk.skipped;
  report.files_total = walk.skipped + walk.jobs.size();
  for (const Folder& f : walk.folders) CZIFS_RETURN_IF_ERROR(PrepareFolder(f.path, f.attr));
  uint64_t total_bytes = 0;
  for (const Job& j : walk.jobs) total_bytes += j.attr.size;
  ProgressLine progress(walk.jobs.size(), total_bytes);
  if (options.show_progress) progress.Start();
  WriteJobs(walk.jobs, options, &progress, &mu, &report);
  progress.Finish();
  report.stopped = options.stop && options.stop->load();
  // Children first: a folder's times change whenever something in it does.
  for (auto f = walk.folders.rbegin(); f != walk.folders.rend(); ++f) {
    if (Status st = FinishFolder(f->path, f->attr); !st.ok()) {
      report.problems.push_back({f->path, st.ToString()});
    }
  }
  report.seconds = progress.Elapsed();
  std::sort(report.problems.begin(), report.problems.end(),
            [](const auto& a, const auto& b) { return a.where < b.where; });
  return report;
}

}  // namespace czifs
