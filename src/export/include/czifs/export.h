// Export: writes what the mount would show to disk. It walks a MountTree of
// the sources (the mount's own tree type), so names, folders, bytes, modes
// and modification times are the mount's; files are written in parallel on
// a thread pool. No file ever has its final name before it is complete (see
// write_file.h), so an interrupted export is finished by running it again:
// complete files are kept, the rest written.
//
// Thread-safety: ExportSources is reentrant; it owns its tree, pool and
// progress state.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "czifs/session.h"
#include "czifs/tree.h"

namespace czifs {

struct ExportOptions {
  unsigned threads = 0;        // 0 = number of cores
  bool show_progress = false;  // draw a progress bar on stderr
  // Write every file again, even one an earlier run finished (by default
  // such files, of the same size and time as the mount shows, are kept).
  bool overwrite = false;
  // Once true (a signal handler sets it), files being written are dropped
  // (no partial file is left) and no new one starts.
  const std::atomic<bool>* stop = nullptr;
};

struct ExportReport {
  uint64_t files_total = 0;  // files the tree holds (written, skipped or failed)
  uint64_t files_written = 0;
  uint64_t files_skipped = 0;  // complete from an earlier run
  uint64_t planes_written = 0;
  uint64_t bytes_written = 0;
  bool stopped = false;  // `stop` was set before the end
  double seconds = 0;
  std::vector<TreeProblem> problems;  // one per file that could not be written
};

// Writes the tree of `sources` (as MountTree shows it) below `outdir`
// (created if missing). Every file that can be written is; each CZI that
// does not open, plane that cannot be served and file that fails is recorded
// in the report (a failed file's partial output removed). Returns an error
// only if the sources cannot be opened at all (a single CZI source that does
// not parse) or `outdir` cannot be created.
Result<ExportReport> ExportSources(const std::vector<std::string>& sources,
                                   std::shared_ptr<Session> session, const TreeOptions& tree,
                                   const std::string& outdir, const ExportOptions& options);

}  // namespace czifs
