// The FUSE layer: the only code that knows FUSE and errno.
//
// FuseFs holds the MountTree and the Session and implements each
// operation as a plain method returning an errno (0 = success), so tests can
// call them without mounting. The libfuse low-level callbacks (fuse_ops.cc,
// with FuseFs::Operations, their table: the one FuseFs member there, beside
// the callbacks it lists) are thin: they call these methods, catch
// everything and always reply.
//
// Thread-safety: every method may be called from any FUSE worker thread at
// once; shared state lives in MountTree (thread-safe), the pool
// (thread-safe) and atomics.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/statvfs.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "czifs/interrupt.h"
#include "czifs/mount_tree.h"
#include "czifs/mutex.h"
#include "czifs/status.h"
#include "czifs/thread_pool.h"

namespace czifs {

// Maps a Status to the errno FUSE returns: NotFound → ENOENT,
// ResourceExhausted → EMFILE/ENFILE when out of descriptors, else ENOMEM, Cancelled → EINTR,
// InvalidArgument → EINVAL, Stale → ESTALE (the kernel then looks the path up afresh), anything
// else → EIO.
int ToErrno(const Status& s);

struct FuseFsOptions {
  // st_blksize. Python's buffered files read this much at once, so a
  // reader of a TIFF's tags (tifffile) would take in pixel bytes past the
  // header's gap with more; cp and cat read max(128 KiB, this) anyway.
  uint32_t blksize = 4096;
  uint64_t readahead_bytes = 16 << 20;  // tiles decoded ahead of a sequential reader
  // The kernel's readahead asked for at FUSE_INIT (0: the kernel's own). The
  // kernel takes the least of this and its device's window, which
  // SetMountReadahead (readahead.h) raised before the init.
  uint64_t kernel_readahead_bytes = 0;
  DamagedTiles damaged = DamagedTiles::kFail;  // what reads do with tiles that do not decode
};

class FuseFs {
 public:
  FuseFs(std::unique_ptr<MountTree> tree, size_t decode_threads, FuseFsOptions options,
         std::shared_ptr<Session> session);
  ~FuseFs();

  // Starts the session's decode pool and the read pool, and with a session the thread that tells
  // the kernel what changed and the tree's watcher. Call after fuse_daemonize(): fork() keeps no
  // threads.
  void Start(fuse_session* session = nullptr);

  // Fills the entry for `name` in `parent` (for `parent` itself if name is null).
  int Lookup(fuse_ino_t parent, const char* name, fuse_entry_param* e);
  // Fills `st`; `timeout` (if given) gets how long the kernel may keep it.
  // With `fi` (asked for an open file): the attributes of the version opened,
  // even after its source changed.
  int GetAttr(fuse_ino_t ino, struct stat* st, double* timeout = nullptr,
              const fuse_file_info* fi = nullptr);
  // True while the tree's watcher tells the kernel of changes.
  bool Watching() const { return tree_->watching(); }
  // Fills `st` for statfs: read-only, sized by what the mount serves (df
  // shows the bytes of the files known so far, all used).
  void StatFs(struct statvfs* st) const;
  // Fills `listing` with a folder's entries, "." and ".." first.
  int ListDir(fuse_ino_t ino, std::vector<DirEntry>* listing);
  int Open(fuse_ino_t ino, fuse_file_info* fi);
  // Reads up to `size` bytes into `buf` (resized); `interrupt` (may be
  // null) is the request's: raising it, or the end of the session, makes
  // the read give up with EINTR at once. `fi` is the open file (the stats
  // file reads its snapshot).
  int Read(fuse_ino_t ino, uint64_t off, size_t size, std::vector<uint8_t>* buf,
           const std::shared_ptr<Interrupt>& interrupt, const fuse_file_info* fi = nullptr);
  // Serves a read and replies: on the calling request thread while fewer
  // than the read slots do so, else on the read pool, so that request
  // threads stay free for lookups, listings and .czifs-stats however slow
  // the reads are. Call from the read callback only (after Start).
  void ReadAndReply(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    const fuse_file_info* fi);
  // Frees what Open attached to `fi`.
  void Release(fuse_ino_t ino, fuse_file_info* fi);
  // The extended attribute `name` of `ino`: only the POSIX ACLs exist (the
  // source's, see MountTree::Acl); ENODATA for any other name or no ACL.
  int GetXattr(fuse_ino_t ino, const char* name, std::string* value);
  // The names of the extended attributes `ino` has, each NUL-terminated.
  int ListXattr(fuse_ino_t ino, std::string* names);
  // Fills `e` for a readdirplus entry if its attributes are cheap; else
  // returns false (the kernel looks the entry up when it needs it).
  bool CheapEntry(fuse_ino_t ino, fuse_entry_param* e);

  // The hidden, unlisted file with live counters: MOUNTPOINT/.czifs-stats.
  static constexpr fuse_ino_t kStatsIno = fuse_ino_t{1} << 62;
  static constexpr const char* kStatsName = ".czifs-stats";

  // Stops background work: the watcher, the notifier, queued decodes; reads
  // in progress end with EINTR.
  void Shutdown();
  std::string StatsJson() const;

  // Set at init if the kernel lets opendir be answered ENOSYS (and skipped).
  std::atomic<bool> skip_opendir{false};
  uint64_t kernel_readahead_bytes() const { return options_.kernel_readahead_bytes; }

  // The libfuse operation table for this class (userdata = FuseFs*).
  static const fuse_lowlevel_ops* Operations();

 private:
  void FillStat(const NodeAttr& a, struct stat* st) const;
  // What an open file handle (fuse_file_info::fh) holds.
  struct Handle {
    std::string stats;                  // .czifs-stats: the snapshot taken at open
    std::shared_ptr<VirtualFile> file;  // anything else: the version opened
    NodeAttr attr;                      // and its attributes then
    uint64_t ino = 0;
  };
  // The attributes an open handle of `ino` holds: an `fstat` of a file open
  // on a version that changed since (the kernel sends no handle with it).
  std::optional<NodeAttr> OpenVersionAttr(uint64_t ino);
  // Tells the kernel, from its own thread, what the tree says changed.
  struct Notifier;
  // Makes a handle for fuse_file_info::fh; freed by Release, or by the
  // destructor for files still open when the session ended.
  uint64_t NewHandle(Handle h);
  // Logs a failed read once per inode and problem (a viewer retrying a
  // damaged plane a hundred times makes one error line); repeats go to debug.
  void LogReadError(uint64_t ino, uint64_t off, const Status& st);
  // Takes one of the read slots, waiting for one; false (and none taken) if
  // `interrupt` is raised first.
  bool AcquireReadSlot(Interrupt& interrupt) EXCLUDES(slots_mu_);
  void ReleaseReadSlot() EXCLUDES(slots_mu_);

  const std::unique_ptr<MountTree> tree_;
  const FuseFsOptions options_;
  const std::shared_ptr<Session> session_;
  const size_t decode_threads_;
  // File reads served at once: more only compete for the cores (a sequential
  // `cat` has a dozen read-ahead requests in flight). Request threads beyond
  // these wait here, so a lookup or readdir still finds a free thread.
  const size_t read_slot_count_;
  // Lock order: an Interrupt's lock, then slots_mu_ (its waker takes it).
  Mutex slots_mu_;
  CondVar slots_cv_;
  size_t free_slots_ GUARDED_BY(slots_mu_);
  std::atomic<size_t> inline_reads_{0};  // reads served on their request thread now
  // File reads being served (read_slot_count_ threads); set by Start().
  std::unique_ptr<ThreadPool> read_pool_;
  std::shared_ptr<Notifier> notifier_;  // set by Start(session)
  Mutex handles_mu_;
  std::unordered_set<Handle*> handles_ GUARDED_BY(handles_mu_);  // open file handles
  // Raised by Shutdown(); every read's interrupt is its child.
  const std::shared_ptr<Interrupt> shutdown_ = std::make_shared<Interrupt>();
  std::atomic<uint64_t> reads_{0}, read_bytes_{0};
  Mutex logged_mu_;
  std::set<std::pair<uint64_t, std::string>> logged_ GUARDED_BY(logged_mu_);  // bounded
};

}  // namespace czifs
