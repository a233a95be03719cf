// SourceWatcher: inotify on source folders, with no knowledge of the tree.
// Each watch serves node numbers, each with the one name it cares about
// ("" = every entry of the folder); events are gathered until the folder is
// quiet for 50 ms (at most 300 ms after the first: a file being copied
// fires thousands, one look at its end suffices), then reported in one
// call from the watcher's thread: which names of which nodes changed, and
// whether the kernel's queue overflowed (then anything may have).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "czifs/mutex.h"
#include "czifs/status.h"

namespace czifs {

// Returns the name of the network file system `folder` is on ("nfs",
// "lustre", ...), where inotify does not see other machines' changes, or "".
std::string NetworkFileSystemOf(const std::string& folder);

class SourceWatcher {
 public:
  // node number -> names that changed ("" = the folder itself).
  using Changes = std::map<uint64_t, std::set<std::string>>;
  using OnChanges = std::function<void(const Changes& changes, bool overflow)>;

  // Starts inotify and the thread that calls `on_changes` (which must not
  // call back into this watcher's Stop or destructor). ResourceExhausted
  // or IOError if inotify cannot start.
  static Result<std::unique_ptr<SourceWatcher>> Start(OnChanges on_changes);
  // Stops the thread (waiting for a call in progress to return).
  ~SourceWatcher();
  SourceWatcher(const SourceWatcher&) = delete;
  SourceWatcher& operator=(const SourceWatcher&) = delete;

  // Watches the folder open as `folder_fd` for node `ino`, reporting the
  // entry `only` ("" = every entry). Returns the watch, or why not (errno
  // text: out of watches, a folder gone).
  Result<int> Watch(int folder_fd, uint64_t ino, const std::string& only) EXCLUDES(mu_);
  // Forgets every watch of node `ino` (its folder was dropped).
  void Forget(uint64_t ino) EXCLUDES(mu_);

 private:
  SourceWatcher(int inotify_fd, int stop_fd, OnChanges on_changes);
  void Loop();
  // Reads the queued events into `changes`; true if the queue overflowed.
  bool ReadEvents(Changes* changes) EXCLUDES(mu_);

  const int inotify_fd_;
  const int stop_fd_;  // an eventfd: written once to end the thread
  const OnChanges on_changes_;
  Mutex mu_;  // a leaf
  // watch -> the nodes it serves, each with the one name it cares about.
  std::unordered_map<int, std::vector<std::pair<uint64_t, std::string>>> watches_ GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace czifs
