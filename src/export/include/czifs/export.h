// Export: writes what the mount would show to disk. It walks a MountTree of
// the sources (the mount's own tree type), so names, folders and bytes are
// the mount's; files are written in parallel on a thread pool.
//
// Thread-safety: ExportSources is reentrant; it owns its tree, pool and
// progress state.
#pragma once

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
};

struct ExportReport {
  uint64_t files_written = 0;
  uint64_t planes_written = 0;
  uint64_t bytes_written = 0;
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
