#include "czifs/source_watcher.h"

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

namespace czifs {

std::string NetworkFileSystemOf(const std::string& folder) {
  struct statfs st;
  if (::statfs(folder.c_str(), &st) != 0) return "";
  static const std::map<uint64_t, const char*> kNetwork = {
      {0x6969, "nfs"},        {0x517B, "smb"},      {0xFF534D42, "cifs"}, {0xFE534D42, "smb2"},
      {0x0BD00BD0, "lustre"}, {0x00C36400, "ceph"}, {0x47504653, "gpfs"}, {0x19830326, "beegfs"},
      {0x01021997, "9p"},     {0x5346414F, "afs"},  {0x65735546, "fuse"}, {0xAAD7AAEA, "panfs"},
      {0x7461636F, "ocfs2"},  {0x01161970, "gfs2"}};
  auto it = kNetwork.find(static_cast<uint64_t>(st.f_type));
  return it == kNetwork.end() ? "" : it->second;
}

Result<std::unique_ptr<SourceWatcher>> SourceWatcher::Start(OnChanges on_changes) {
  const int ifd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (ifd < 0) return Status::ResourceExhausted(fmt::format("inotify: {}", std::strerror(errno)));
  const int stop = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop < 0) {
    const int err = errno;
    ::close(ifd);
    return Status::ResourceExhausted(fmt::format("eventfd: {}", std::strerror(err)));
  }
  return std::unique_ptr<SourceWatcher>(new SourceWatcher(ifd, stop, std::move(on_changes)));
}

SourceWatcher::SourceWatcher(int inotify_fd, int stop_fd, OnChanges on_changes)
    : inotify_fd_(inotify_fd), stop_fd_(stop_fd), on_changes_(std::move(on_changes)) {
  thread_ = std::thread([this] { Loop(); });
}

SourceWatcher::~SourceWatcher() {
  const uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  thread_.join();
  ::close(inotify_fd_);
  ::close(stop_fd_);
}

Result<int> SourceWatcher::Watch(int folder_fd, uint64_t ino, const std::string& only) {
  const std::string proc = fmt::format("/proc/self/fd/{}", folder_fd);
  const int wd = ::inotify_add_watch(inotify_fd_, proc.c_str(),
                                     IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                         IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF |
                                         IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK);
  if (wd < 0) return Status::ResourceExhausted(std::strerror(errno));
  MutexLock lock(&mu_);
  watches_[wd].emplace_back(ino, only);
  return wd;
}

void SourceWatcher::Forget(uint64_t ino) {
  MutexLock lock(&mu_);
  for (auto it = watches_.begin(); it != watches_.end();) {
    std::erase_if(it->second, [&](const auto& w) { return w.first == ino; });
    if (it->second.empty()) {
      ::inotify_rm_watch(inotify_fd_, it->first);
      it = watches_.erase(it);
    } else {
      ++it;
    }
  }
}

bool SourceWatcher::ReadEvents(Changes* changes) {
  alignas(inotify_event) char buf[64 * 1024];
  bool overflow = false;
  ssize_t n;
  while ((n = ::read(inotify_fd_, buf, sizeof buf)) > 0) {
    MutexLock lock(&mu_);
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
          (*changes)[ino].insert(name);
        } else if (name == only || name.empty()) {
          (*changes)[ino].insert(only);
        }
      }
      if (ev->mask & IN_IGNORED) watches_.erase(it);
    }
  }
  return overflow;
}

void SourceWatcher::Loop() {
  using Clock = std::chrono::steady_clock;
  constexpr auto kQuiet = std::chrono::milliseconds(50);
  constexpr auto kMaxDelay = std::chrono::milliseconds(300);
  Changes pending;
  bool overflow = false;
  Clock::time_point first{}, last{};
  for (;;) {
    try {
      int timeout = -1;
      if (!pending.empty() || overflow) {
        const auto due = std::min(last + kQuiet, first + kMaxDelay);
        timeout = static_cast<int>(std::max<int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now()).count()));
      }
      pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      const int r = ::poll(fds, 2, timeout);
      if (r < 0 && errno != EINTR) break;
      if (fds[1].revents) break;
      if (r > 0 && fds[0].revents) {
        const bool quiet_before = pending.empty() && !overflow;
        overflow |= ReadEvents(&pending);
        if (quiet_before) first = Clock::now();
        last = Clock::now();
      }
      if ((pending.empty() && !overflow) ||
          Clock::now() < std::min(last + kQuiet, first + kMaxDelay)) {
        continue;
      }
      on_changes_(pending, overflow);
    } catch (const std::exception& e) {
      spdlog::error("watching sources: {}", e.what());
    }
    pending.clear();
    overflow = false;
  }
}

}  // namespace czifs
