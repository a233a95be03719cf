// MountTree's watcher: inotify on the listed source folders (and on the
// folders of CZIs named as sources), events gathered and turned into
// refreshes of just the entries that changed. See mount_tree.h.
#include <fmt/format.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "czifs/mount_tree.h"
#include "czifs/mutex.h"

namespace czifs {

namespace fs = std::filesystem;

std::string NetworkFileSystemOf(const std::string& folder) {
  struct statfs st;
  if (::statfs(folder.c_str(), &st) != 0) return "";
  switch (static_cast<uint64_t>(st.f_type)) {
    case 0x6969:
      return "nfs";
    case 0x517B:
      return "smb";
    case 0xFF534D42:
      return "cifs";
    case 0xFE534D42:
      return "smb2";
    case 0x0BD00BD0:
      return "lustre";
    case 0x00C36400:
      return "ceph";
    case 0x47504653:
      return "gpfs";
    case 0x19830326:
      return "beegfs";
    case 0x01021997:
      return "9p";
    case 0x5346414F:
      return "afs";
    case 0x65735546:
      return "fuse";
    case 0xAAD7AAEA:
      return "panfs";
    case 0x7461636F:
      return "ocfs2";
    case 0x01161970:
      return "gfs2";
    default:
      return "";
  }
}

void MountTree::StartWatching(InvalidationSink sink) {
  {
    MutexLock lock(&sink_mu_);
    sink_ = std::move(sink);
  }
  if (live_.watch == LiveOptions::Watch::kTtl || watcher_.joinable()) return;
  // The sources themselves: the root folder, a CZI named as the source, or
  // the children of several sources' root.
  std::vector<NodePtr> sources;
  {
    ReaderLock lock(&mu_);
    for (const auto& [ino, n] : nodes_) {
      const bool top = n->parent == 0 || nodes_.at(n->parent)->kind == Kind::kFolder;
      if (top && (n->kind == Kind::kSourceFolder || n->kind == Kind::kCzi)) sources.push_back(n);
    }
  }
  if (live_.watch == LiveOptions::Watch::kAuto) {
    for (const NodePtr& n : sources) {
      const std::string kind = NetworkFileSystemOf(n->source->real_path());
      if (!kind.empty()) {
        spdlog::info(
            "{} is on {}: changes made on other machines are invisible to inotify, so "
            "czifs looks again after {} s (--ttl)",
            n->source->path(), kind, live_.ttl_seconds);
        return;
      }
    }
  }
  inotify_fd_.store(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_fd_.load() < 0 || stop_fd_ < 0) {
    spdlog::warn("cannot start inotify ({}): changes are seen after {} s (--ttl)",
                 std::strerror(errno), live_.ttl_seconds);
    if (const int fd = inotify_fd_.exchange(-1); fd >= 0) ::close(fd);
    if (stop_fd_ >= 0) ::close(stop_fd_);
    stop_fd_ = -1;
    return;
  }
  polling_.store(false);
  for (const NodePtr& n : sources) {
    AddWatch(n);
    n->dirty.store(true);  // listed or checked before the watch: look once more
  }
  watcher_ = std::thread([this] { WatchLoop(); });
}

void MountTree::StopWatching() {
  if (watcher_.joinable()) {
    const uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    watcher_.join();
  }
  polling_.store(true);  // no more watches are added
  if (const int fd = inotify_fd_.exchange(-1); fd >= 0) ::close(fd);
  if (stop_fd_ >= 0) ::close(stop_fd_);
  stop_fd_ = -1;
  MutexLock lock(&sink_mu_);
  sink_ = nullptr;
}

void MountTree::AddWatch(const NodePtr& n) {
  if (polling_.load() || inotify_fd_.load() < 0) return;
  // A mirrored folder is watched itself; a CZI named as a source through its folder.
  const bool folder = n->kind == Kind::kSourceFolder;
  const std::string rel = folder ? n->rel : fs::path(n->rel).parent_path().string();
  const std::string only = folder ? "" : fs::path(n->rel).filename().string();
  auto fd = n->source->Resolve(rel);
  int wd = -1;
  const int ifd = inotify_fd_.load();
  if (fd.ok() && ifd >= 0) {
    const std::string proc = fmt::format("/proc/self/fd/{}", fd->get());
    wd = ::inotify_add_watch(ifd, proc.c_str(),
                             IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |
                                 IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                 IN_ONLYDIR | IN_EXCL_UNLINK);
  }
  if (wd < 0) {
    const int err = errno;
    // Out of watches (fs.inotify.max_user_watches) or a folder gone: from now
    // on every folder is looked at again after the TTL, and the kernel is
    // told to forget what it was allowed to keep for a day.
    if (!polling_.exchange(true)) {
      spdlog::warn("cannot watch {} ({}): changes are now seen after {} s (--ttl)",
                   n->source->Describe(rel), fd.ok() ? std::strerror(err) : fd.status().ToString(),
                   live_.ttl_seconds);
      std::vector<Invalidation> inval;
      {
        ReaderLock lock(&mu_);
        for (const auto& [ino, node] : nodes_) {
          if (!node->exposed.load()) continue;
          inval.push_back({ino, ""});
          if (node->parent != 0) inval.push_back({node->parent, node->name});
        }
      }
      Send(std::move(inval));
    }
    return;
  }
  if (folder) n->wd.store(wd);
  MutexLock lock(&watch_mu_);
  watches_[wd].emplace_back(n->ino, only);
}

void MountTree::WatchLoop() {
  using Clock = std::chrono::steady_clock;
  // Events are gathered until the folder is quiet for 50 ms (at most 300 ms):
  // a file being copied fires thousands of them, one look at its end suffices.
  constexpr auto kQuiet = std::chrono::milliseconds(50);
  constexpr auto kMaxDelay = std::chrono::milliseconds(300);
  std::map<uint64_t, std::set<std::string>> pending;
  bool overflow = false;
  Clock::time_point first{}, last{};
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    try {
      int timeout = -1;
      if (!pending.empty() || overflow) {
        const auto due = std::min(last + kQuiet, first + kMaxDelay);
        timeout = static_cast<int>(std::max<int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now()).count()));
      }
      const int ifd = inotify_fd_.load();
      pollfd fds[2] = {{ifd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      const int r = ::poll(fds, 2, timeout);
      if (r < 0 && errno != EINTR) break;
      if (fds[1].revents) break;
      if (r > 0 && fds[0].revents) {
        ssize_t n;
        while ((n = ::read(ifd, buf, sizeof buf)) > 0) {
          if (pending.empty() && !overflow) first = Clock::now();
          last = Clock::now();
          MutexLock lock(&watch_mu_);
          for (char* p = buf; p < buf + n;) {
            const auto* ev = reinterpret_cast<const inotify_event*>(p);
            p += sizeof(inotify_event) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
              overflow = true;
              continue;
            }
            auto it = watches_.find(ev->wd);
            if (it == watches_.end()) continue;
            const std::string name = ev->len ? std::string(ev->name) : "";
            for (const auto& [ino, only] : it->second) {
              if (only.empty()) {
                pending[ino].insert(name);
              } else if (name == only || name.empty()) {
                pending[ino].insert(only);
              }
            }
            if (ev->mask & IN_IGNORED) watches_.erase(it);
          }
        }
      }
      if ((pending.empty() && !overflow) ||
          Clock::now() < std::min(last + kQuiet, first + kMaxDelay)) {
        continue;
      }
      HandleEvents(pending, overflow);
    } catch (const std::exception& e) {
      spdlog::error("watching sources: {}", e.what());
    }
    pending.clear();
    overflow = false;
  }
}

void MountTree::HandleEvents(const std::map<uint64_t, std::set<std::string>>& pending,
                             bool overflow) {
  if (overflow) {
    spdlog::warn("inotify queue overflowed: looking at every listed folder again");
    std::vector<NodePtr> all;
    {
      ReaderLock lock(&mu_);
      for (const auto& [ino, n] : nodes_) {
        if (n->kind == Kind::kSourceFolder || n->kind == Kind::kCzi) all.push_back(n);
      }
    }
    for (const NodePtr& n : all) {
      if (n->kind == Kind::kSourceFolder) {
        UniqueLock refresh(&n->src->refresh_mu);
        const bool listed = n->src->listed;
        refresh.unlock();
        if (listed) (void)RefreshFolder(n, true);
      } else {
        (void)RefreshCzi(n, true, false);
      }
    }
  }
  for (const auto& [node_ino, names] : pending) {
    const uint64_t ino = node_ino;  // a plain variable: lambdas below capture it
    auto n = Get(ino);
    if (!n.ok()) {
      // The folder was dropped (removed or renamed): forget its watch.
      MutexLock lock(&watch_mu_);
      for (auto it = watches_.begin(); it != watches_.end();) {
        std::erase_if(it->second, [&](const auto& w) { return w.first == ino; });
        if (it->second.empty()) {
          ::inotify_rm_watch(inotify_fd_.load(), it->first);
          it = watches_.erase(it);
        } else {
          ++it;
        }
      }
      continue;
    }
    const NodePtr& node = *n;
    if (node->kind == Kind::kCzi) {
      (void)RefreshCzi(node, true, false);
      continue;
    }
    if (!node->src) continue;  // not a mirrored folder (cannot happen: watches are on those)
    std::set<std::string> entries = names;
    entries.erase("");  // an event on the folder itself
    {
      UniqueLock refresh(&node->src->refresh_mu);
      if (!node->src->listed) continue;  // never shown: listed on first use
    }
    (void)RefreshFolder(node, true, entries);
  }
}

}  // namespace czifs
