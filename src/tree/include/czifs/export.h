// Export: writes a virtual tree to disk, files in parallel on a thread pool.
// The bytes come from VirtualFile::Read, the same path the mount serves.
//
// Thread-safety: ExportTree is reentrant; it owns its pool and progress state.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

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

// Writes `root` below `outdir` (created if missing). Every file that can be
// written is; each failure is recorded in the report and its partial output
// removed. Returns an error only if `outdir` itself cannot be created.
Result<ExportReport> ExportTree(const TreeNode& root, const std::string& outdir,
                                const ExportOptions& options);

}  // namespace czifs
