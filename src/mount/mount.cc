#include "czifs/mount.h"

#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <syslog.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "czifs/fuse_fs.h"
#include "czifs/memory_limit.h"
#include "czifs/mount_tree.h"
#include "czifs/random_access_file.h"
#include "czifs/readahead.h"

namespace czifs {
namespace {

// Opens --log-file now, in the calling process, so that a file that cannot
// be written is reported before anything is mounted (the daemon inherits it).
std::shared_ptr<spdlog::logger> OpenLogFile(const std::string& path, std::string* error) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    *error = "--log-file " + path + ": not a regular file";
    return nullptr;
  }
  // spdlog would create missing folders; a mistyped path should not.
  const std::string folder = std::filesystem::path(path).parent_path().string();
  if (::stat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = "--log-file " + path + ": no such folder " + folder;
    return nullptr;
  }
  try {
    return std::make_shared<spdlog::logger>(
        "czifs", std::make_shared<spdlog::sinks::basic_file_sink_mt>(path));
  } catch (const std::exception& e) {
    *error = "--log-file " + path + ": cannot open for writing (" + std::strerror(errno) + ")";
    return nullptr;
  }
}

void SetUpLogging(const MountOptions& o, bool foreground, std::shared_ptr<spdlog::logger> file) {
  std::shared_ptr<spdlog::logger> logger;
  if (file) {
    logger = std::move(file);
  } else if (foreground) {
    logger = spdlog::stderr_color_mt("czifs");
  } else {
    logger = spdlog::syslog_logger_mt("czifs", "czifs", LOG_PID, LOG_DAEMON);
  }
  spdlog::set_default_logger(logger);
  spdlog::set_level(o.debug ? spdlog::level::debug : spdlog::level::from_str(o.log_level));
  spdlog::flush_on(spdlog::level::info);
}

}  // namespace

DescriptorBudget PlanDescriptors(unsigned request_threads) {
  // A daemon serving thousands of files wants as many descriptors as it may
  // have: the soft limit goes up to the hard one.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  DescriptorBudget b;
  b.limit = rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : static_cast<uint64_t>(rl.rlim_cur);
  // Kept free: stdio, /dev/fuse, inotify, logs, JPEG-XR helper sockets and
  // the few descriptors each request holds briefly while resolving a path.
  const uint64_t reserve = 24 + 2ull * request_threads;
  b.pool = static_cast<size_t>(
      std::clamp<uint64_t>(b.limit > reserve ? b.limit - reserve : 0, 4, 16384));
  return b;
}

namespace {

// True if `inner` is `outer` or lies below it (both canonical).
bool IsAtOrBelow(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;  // trailing separator
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

}  // namespace

namespace {

// Undoes the octal escapes of /proc/self/mountinfo ("\040" for a space).
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct = s.substr(i + 1, 3);
      if (oct.find_first_not_of("01234567") == std::string::npos) {
        out += static_cast<char>(std::stoi(oct, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// The file system type mounted at `path` (the last mount there), or "".
std::string MountedType(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, type;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, devno, root, point;
    f >> id >> parent >> devno >> root >> point;
    if (Unescape(point) != path) continue;
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream rest(line.substr(dash + 3));
    rest >> type;
  }
  return type;
}

}  // namespace

std::string CheckMountPointIsFree(const std::string& mountpoint) {
  std::error_code ec;
  const std::string mnt = std::filesystem::weakly_canonical(mountpoint, ec).string();
  const std::string type = MountedType(ec ? mountpoint : mnt);
  if (type.rfind("fuse", 0) != 0) return "";
  struct statfs st;
  if (::statfs(mountpoint.c_str(), &st) != 0 && errno == ENOTCONN) {
    return mountpoint + " is a stale mount (its daemon died). Run: fusermount3 -u " + mountpoint;
  }
  return mountpoint + " is already a FUSE mount (" + type +
         "); to mount czifs there, first run: "
         "fusermount3 -u " +
         mountpoint;
}

std::string CheckMountPointAgainstSources(const std::string& mountpoint,
                                          const std::vector<std::string>& sources) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path mnt = fs::canonical(mountpoint, ec);
  if (ec) return "";  // reported by the mount point checks
  for (const std::string& s : sources) {
    const fs::path src = fs::canonical(s, ec);
    if (ec) continue;  // reported by the source checks
    if (IsAtOrBelow(src, mnt)) {
      return "source " + s + " is inside the mount point " + mountpoint +
             ": the mount would hide it and czifs would read through itself; choose a mount "
             "point outside it";
    }
    if (fs::is_directory(src, ec) && IsAtOrBelow(mnt, src)) {
      return "mount point " + mountpoint + " is inside the source folder " + s +
             ": czifs would list its own mount as part of the source; choose a mount point "
             "outside it";
    }
  }
  return "";
}

namespace {

constexpr int kChecksPassed = -1;

// What the checks before mounting found out.
struct Checked {
  std::shared_ptr<spdlog::logger> log_file;  // --log-file, opened
  MemoryLimit memory;
  uint64_t cache_bytes = 0;
  std::string canonical_mountpoint;  // as /proc/self/mountinfo will show it
};

int Fail(int code, const std::string& line) {
  std::fprintf(stderr, "czifs: %s\n", line.c_str());
  return code;
}

// True if `folder` has no entries (or cannot be listed: then nothing is said).
bool FolderIsEmpty(const std::string& folder) {
  std::error_code ec;
  std::filesystem::directory_iterator it(folder, ec);
  return ec || it == std::filesystem::directory_iterator();
}

// Checks everything a user can get wrong, before anything is mounted.
// Returns kChecksPassed, or the exit code after printing one line.
int CheckBeforeMounting(MountOptions& o, Checked* c) {
  struct stat st;
  if (::stat(o.mountpoint.c_str(), &st) != 0) {
    if (errno == ENOTCONN) {
      return Fail(kMountFailed, o.mountpoint +
                                    " is a stale mount (its daemon died). Run: "
                                    "fusermount3 -u " +
                                    o.mountpoint);
    }
    return Fail(kMountFailed, "mount point " + o.mountpoint + ": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode))
    return Fail(kMountFailed, "mount point " + o.mountpoint + " is not a folder");
  std::string error;
  if (std::string why = CheckMountPointAgainstSources(o.mountpoint, o.sources); !why.empty()) {
    return Fail(kMountUsage, why);
  }
  if (std::string why = CheckMountPointIsFree(o.mountpoint); !why.empty())
    return Fail(kMountFailed, why);
  std::error_code ec;
  c->canonical_mountpoint = std::filesystem::canonical(o.mountpoint, ec).string();
  if (!FolderIsEmpty(o.mountpoint)) {
    std::fprintf(stderr, "czifs: warning: %s is not empty: its files are hidden while mounted\n",
                 o.mountpoint.c_str());
  }
  if (!o.log_file.empty()) {
    c->log_file = OpenLogFile(o.log_file, &error);
    if (!c->log_file) return Fail(kMountUsage, error);
  }
  // The cache is the daemon's one big allocation: it must fit the memory this
  // process may really use (a cgroup or ulimit -v may allow far less than RAM).
  c->memory = ReadMemoryLimit();
  c->cache_bytes = DefaultCacheBytes(c->memory);
  if (o.cache_bytes != 0) {
    std::string note;
    c->cache_bytes = o.cache_bytes = CheckedCacheBytes(o.cache_bytes, &note);
    if (!note.empty()) std::fprintf(stderr, "czifs: %s\n", note.c_str());
  }
  if (o.cache_bytes != 0 && o.cache_bytes > c->memory.bytes / 2) {
    return Fail(kMountUsage, fmt::format("--cache-size {} MiB is more than half of the {} MiB this "
                                         "process may use ({}); use at most {} MiB",
                                         o.cache_bytes >> 20, c->memory.bytes >> 20,
                                         c->memory.source, (c->memory.bytes / 2) >> 20));
  }
  return kChecksPassed;
}

// A FUSE session for `fs` with czifs' mount options, or nullptr.
fuse_session* NewSession(const MountOptions& o, const std::vector<std::string>& fuse_opts,
                         FuseFs* fs) {
  // libfuse splits -o at commas: commas inside values (the source path) are escaped.
  std::vector<std::string> opts = {"ro", "default_permissions", "subtype=czifs",
                                   "fsname=" + o.sources[0]};
  opts.insert(opts.end(), fuse_opts.begin(), fuse_opts.end());
  const std::string mount_opts = JoinFuseOptions(opts);
  std::vector<std::string> argv_s = {"czifs", "-o", mount_opts};
  if (o.debug) argv_s.push_back("-d");
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse_session* se = fuse_session_new(&args, FuseFs::Operations(), sizeof(fuse_lowlevel_ops), fs);
  fuse_opt_free_args(&args);  // libfuse may have copied them
  if (se == nullptr) std::fprintf(stderr, "czifs: invalid FUSE options: %s\n", mount_opts.c_str());
  return se;
}

// Serves until unmounted or signalled; returns the loop's result.
int Serve(fuse_session* se, bool single_thread, unsigned request_threads) {
  if (single_thread) return fuse_session_loop(se);
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  // Enough request threads that a lookup or readdir finds one free while
  // many readers wait on decodes (measured: 16 readers on 2 cores, ls
  // worst case 89 ms with 4 threads, 45 ms with 16; tests/integration/test_load.py).
  fuse_loop_cfg_set_max_threads(cfg, request_threads);
  const int res = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  return res;
}

}  // namespace

int RunMount(MountOptions o) {
  // Startup problems go to stderr with one line each.
  Checked checked;
  if (int rc = CheckBeforeMounting(o, &checked); rc != kChecksPassed) return rc;
  const bool foreground = o.foreground || o.debug;
  // Until the daemon's own logger is set up, problems go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("czifs-startup"));
  spdlog::set_level(spdlog::level::warn);
  auto session = Session::Create(checked.cache_bytes);
  auto tree = MountTree::Create(o.sources, session, o.tree, o.live);
  if (!tree.ok()) return Fail(kMountBadSource, tree.status().ToString());
  const unsigned threads =
      o.threads ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  FuseFsOptions fs_options;
  fs_options.damaged = o.tree.damaged;
  fs_options.kernel_readahead_bytes = o.kernel_readahead_bytes;
  FuseFs fs(std::move(tree).value(), threads, fs_options, session);
  fuse_session* se = NewSession(o, o.fuse_options, &fs);
  if (se == nullptr) return kMountUsage;
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    return kMountFailed;
  }
  if (fuse_session_mount(se, o.mountpoint.c_str()) != 0) {
    std::fprintf(stderr,
                 "czifs: cannot mount on %s (is /dev/fuse available, and the folder "
                 "not already a mount point?)\n",
                 o.mountpoint.c_str());
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return kMountFailed;
  }
  // The mount is ready: now (and only now) go to the background.
  fuse_daemonize(foreground ? 1 : 0);
  spdlog::drop_all();
  SetUpLogging(o, foreground, std::move(checked.log_file));
  const unsigned request_threads = o.max_threads ? o.max_threads : std::max(16u, threads * 4);
  const DescriptorBudget fds = PlanDescriptors(request_threads);
  session->descriptors()->SetMaxOpen(fds.pool);
  spdlog::info("descriptors: limit {}, up to {} source files kept open", fds.limit, fds.pool);
  spdlog::info("serving {} source(s) on {} ({} decode threads, {} MiB cache; may use {} MiB: {})",
               o.sources.size(), o.mountpoint, threads, checked.cache_bytes >> 20,
               checked.memory.bytes >> 20, checked.memory.source);
  SetMountReadahead(checked.canonical_mountpoint, o.kernel_readahead_bytes);
  TuneAllocator();
  fs.Start(se);
  const int res = Serve(se, o.single_thread, request_threads);
  fs.Shutdown();
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  // A loop ended by SIGINT/SIGTERM/SIGHUP reports the signal: that is a clean stop.
  if (res < 0) {
    spdlog::error("FUSE session ended with error {}", res);
    return kMountFailed;
  }
  spdlog::info("unmounted {}", o.mountpoint);
  return kMountOk;
}

std::string FuseLibraryVersion() { return std::string("libfuse ") + fuse_pkgversion() + "\n"; }

}  // namespace czifs
