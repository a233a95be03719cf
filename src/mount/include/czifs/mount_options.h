// The mount command's options: what czifs' flags and `-o` values (as fstab
// and mount(8) pass them) say, parsed and checked before anything is
// mounted. RunMount (mount.h) takes them as they are.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "czifs/mount_tree.h"
#include "czifs/readahead.h"
#include "czifs/tree.h"

namespace czifs {

struct MountOptions {
  std::vector<std::string> sources;
  std::string mountpoint;
  bool foreground = false;
  bool debug = false;
  bool single_thread = false;
  std::vector<std::string> fuse_options;  // libfuse's -o options (czifs' own taken out)
  unsigned threads = 0;                   // decode pool; 0 = number of cores
  uint64_t cache_bytes = 0;               // 0 = min(1 GiB, RAM / 4)
  std::string log_level = "info";
  std::string log_file;
  TreeOptions tree;          // --damaged / -o damaged=, --without / -o without=
  unsigned max_threads = 0;  // -o max_threads=: FUSE request threads; 0 = default
  LiveOptions live;          // --watch / -o watch=, --ttl / -o ttl=
  uint64_t kernel_readahead_bytes =
      kDefaultReadaheadBytes;  // --readahead / -o readahead=; 0 = kernel's
};

// The ranges thread counts must lie in (--threads, -o threads=, -o max_threads=).
inline constexpr unsigned kMaxDecodeThreads = 1024;
inline constexpr unsigned kMaxRequestThreads = 4096;

// Splits -o values into czifs' own options (threads=, cache_size=,
// log_level=, log_file=, damaged=, without=, max_threads=, watch=, ttl=, readahead=, ...) and
// those for libfuse;
// drops "rw" (always read-only). Returns false with `error` set on a malformed czifs option.
// Lists are split by libfuse (fuse_opt_parse).
bool SplitMountOptions(const std::vector<std::string>& values, MountOptions* opts,
                       std::vector<std::string>* fuse_opts, std::string* error);

// Joins options into one -o value for libfuse, escaping ',' and '\\' in
// each (the inverse of SplitMountOptions' splitting).
std::string JoinFuseOptions(const std::vector<std::string>& opts);

// Returns "" if the options hold together, else one line saying what is wrong
// (a log level libspdlog does not know, thread counts out of range).
std::string CheckMountOptions(const MountOptions& o);

}  // namespace czifs
