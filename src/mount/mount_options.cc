#include "czifs/mount_options.h"

#define FUSE_USE_VERSION 312
#include <fmt/format.h>
#include <fuse_lowlevel.h>
#include <fuse_opt.h>

#include <cerrno>
#include <cstdlib>
#include <set>

#include "czifs/memory_limit.h"

namespace czifs {
namespace {

// Parses -o key=val as a whole number from 1 to `max`.
bool ParseCount(const std::string& key, const std::string& val, uint64_t max, uint64_t* out,
                std::string* error) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(val.c_str(), &end, 10);
  if (val.empty() || end != val.c_str() + val.size() || errno != 0 || v < 1 ||
      static_cast<uint64_t>(v) > max) {
    *error = fmt::format("-o {}={}: use a number from 1 to {}", key, val, max);
    return false;
  }
  *out = static_cast<uint64_t>(v);
  return true;
}

// Applies czifs' own option `key`=`val` to `o`. Returns 1 if `key` is not
// czifs' (it is for libfuse), 0 if applied, -1 with `error` set if malformed.
int ApplyOwnOption(const std::string& key, const std::string& val, MountOptions* o,
                   std::string* error) {
  if (key == "threads" || key == "max_threads") {
    const unsigned max = key == "threads" ? kMaxDecodeThreads : kMaxRequestThreads;
    uint64_t v = 0;
    if (!ParseCount(key, val, max, &v, error)) return -1;
    (key == "threads" ? o->threads : o->max_threads) = static_cast<unsigned>(v);
  } else if (key == "cache_size") {
    if (!ParseByteSize(val, &o->cache_bytes) || o->cache_bytes == 0) {
      *error = "-o cache_size=" + val + ": use e.g. 512M or 2G";
      return -1;
    }
  } else if (key == "parsed_memory") {
    if (!ParseByteSize(val, &o->live.max_document_bytes) || o->live.max_document_bytes == 0) {
      *error = "-o parsed_memory=" + val + ": use e.g. 256M or 1G";
      return -1;
    }
  } else if (key == "readahead") {
    if (!ParseByteSize(val, &o->kernel_readahead_bytes) ||
        !CheckReadahead(o->kernel_readahead_bytes).empty()) {
      *error = fmt::format("-o readahead={}: use {}K to {}M, or 0 to keep the kernel's", val,
                           kMinReadaheadBytes >> 10, kMaxReadaheadBytes >> 20);
      return -1;
    }
  } else if (key == "log_level") {
    o->log_level = val;
  } else if (key == "log_file") {
    o->log_file = val;
  } else if (key == "damaged") {
    if (!ParseEnumName(kDamagedTilesNames, val, &o->tree.damaged)) {
      *error = "-o damaged=" + val + ": use one of " + EnumNameList(kDamagedTilesNames);
      return -1;
    }
  } else if (key == "watch") {
    if (!ParseEnumName(LiveOptions::kWatchNames, val, &o->live.watch)) {
      *error = "-o watch=" + val + ": use one of " + EnumNameList(LiveOptions::kWatchNames);
      return -1;
    }
  } else if (key == "ttl") {
    char* end = nullptr;
    const double v = std::strtod(val.c_str(), &end);
    if (val.empty() || end != val.c_str() + val.size() || !(v >= 0 && v <= 86400)) {
      *error = "-o ttl=" + val + ": use seconds from 0 to 86400, e.g. ttl=2";
      return -1;
    }
    o->live.ttl_seconds = v;
  } else if (key == "parsed_files") {
    uint64_t v = 0;
    if (!ParseCount(key, val, 1000000, &v, error)) return -1;
    o->live.max_documents = static_cast<size_t>(v);
  } else if (key == "zarr_chunk") {
    uint64_t v = 0;
    if (!ParseCount(key, val, CatalogOptions::kMaxZarrChunk, &v, error)) return -1;
    if (v < CatalogOptions::kMinZarrChunk) {
      *error = fmt::format("-o zarr_chunk={}: use a number from {} to {}", val,
                           CatalogOptions::kMinZarrChunk, CatalogOptions::kMaxZarrChunk);
      return -1;
    }
    o->tree.shown.zarr_chunk = static_cast<uint32_t>(v);
  } else if (key == "without") {
    std::string why;
    if (!ParseWithout(val, &o->tree.shown, &why)) {
      *error = "-o without=" + val + ": " + why;
      return -1;
    }
  } else {
    return 1;
  }
  return 0;
}

// What fuse_opt_parse hands each option to.
struct SplitState {
  MountOptions* opts;
  std::vector<std::string>* fuse_opts;
  std::string* error;
};

int OnOption(void* data, const char* arg, int key, fuse_args*) {
  auto* st = static_cast<SplitState*>(data);
  if (key != FUSE_OPT_KEY_OPT) return 0;  // the program name
  const std::string opt(arg);
  if (opt.empty() || opt == "rw" || opt == "ro") return 0;  // always read-only
  const size_t eq = opt.find('=');
  const int own = ApplyOwnOption(
      opt.substr(0, eq), eq == std::string::npos ? "" : opt.substr(eq + 1), st->opts, st->error);
  if (own < 0) return -1;
  if (own > 0) st->fuse_opts->push_back(opt);
  return 0;
}

}  // namespace

std::string JoinFuseOptions(const std::vector<std::string>& opts) {
  std::string joined;
  for (const std::string& opt : opts) {
    if (!joined.empty()) joined += ',';
    for (char c : opt) {
      if (c == ',' || c == '\\') joined += '\\';
      joined += c;
    }
  }
  return joined;
}

bool SplitMountOptions(const std::vector<std::string>& values, MountOptions* opts,
                       std::vector<std::string>* fuse_opts, std::string* error) {
  // libfuse splits the lists (commas, "\," escapes) as mount(8) would hand them over.
  fuse_args args = FUSE_ARGS_INIT(0, nullptr);
  bool ok = fuse_opt_add_arg(&args, "czifs") == 0;
  for (const std::string& v : values) {
    ok = ok && fuse_opt_add_arg(&args, "-o") == 0 && fuse_opt_add_arg(&args, v.c_str()) == 0;
  }
  SplitState state{opts, fuse_opts, error};
  error->clear();
  ok = ok && fuse_opt_parse(&args, &state, nullptr, OnOption) == 0;
  fuse_opt_free_args(&args);
  if (!ok && error->empty()) *error = "-o: cannot read the options";
  return ok;
}

std::string CheckMountOptions(const MountOptions& o) {
  static const std::set<std::string> kLevels = {"trace",   "debug", "info",     "warn",
                                                "warning", "error", "critical", "off"};
  if (!kLevels.count(o.log_level)) {
    return "--log-level " + o.log_level + ": use trace, debug, info, warn, error or off";
  }
  if (o.threads > kMaxDecodeThreads || o.max_threads > kMaxRequestThreads) {
    return fmt::format("thread counts: use 1 to {} decode threads, 1 to {} request threads",
                       kMaxDecodeThreads, kMaxRequestThreads);
  }
  return CheckReadahead(o.kernel_readahead_bytes);
}

}  // namespace czifs
