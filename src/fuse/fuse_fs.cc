#include "czifs/fuse_fs.h"

#include <cxxabi.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <optional>
#include <thread>

#include "czifs/compose.h"
#include "czifs/mutex.h"

namespace czifs {

int ToErrno(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return 0;
    case StatusCode::kNotFound:
      return ENOENT;
    case StatusCode::kResourceExhausted:
      // Out of descriptors is EMFILE/ENFILE, as the system said; else memory.
      return s.sys_errno() == EMFILE || s.sys_errno() == ENFILE ? s.sys_errno() : ENOMEM;
    case StatusCode::kCancelled:
      return EINTR;
    case StatusCode::kInvalidArgument:
      return EINVAL;
    case StatusCode::kStale:
      return ESTALE;
    default:
      return EIO;
  }
}

FuseFs::FuseFs(std::unique_ptr<MountTree> tree, size_t decode_threads, FuseFsOptions options,
               std::shared_ptr<Session> session)
    : tree_(std::move(tree)),
      options_(options),
      session_(std::move(session)),
      decode_threads_(decode_threads),
      read_slot_count_(std::max<size_t>(4, 2 * decode_threads)),
      free_slots_(read_slot_count_) {}

// The kernel must not be told from inside a request (it may hold the very
// folder lock the notification needs), so invalidations are queued here and
// sent from this thread. At shutdown a notification can block until the
// session ends; the thread is then left behind, owning all it touches.
struct FuseFs::Notifier {
  fuse_session* session = nullptr;
  Mutex mu;
  CondVar cv;
  std::deque<Invalidation> queue GUARDED_BY(mu);
  bool stop GUARDED_BY(mu) = false;
  bool done GUARDED_BY(mu) = false;  // the thread has returned

  void Push(std::vector<Invalidation> batch) {
    MutexLock lock(&mu);
    if (stop) return;
    for (auto& i : batch) queue.push_back(std::move(i));
    cv.Signal();
  }
  // The next invalidation to send, or nothing once stopped.
  std::optional<Invalidation> Next() {
    MutexLock lock(&mu);
    while (!stop && queue.empty()) cv.Wait(&mu);
    if (stop) return std::nullopt;
    Invalidation inv = std::move(queue.front());
    queue.pop_front();
    return inv;
  }
  static void Run(std::shared_ptr<Notifier> self) {
    while (std::optional<Invalidation> inv = self->Next()) {
      // ENOENT: the kernel holds nothing for it, which is fine.
      if (inv->name.empty()) {
        // A negative offset: attributes (and ACL) only, the pages stay.
        fuse_lowlevel_notify_inval_inode(self->session, inv->ino, inv->attributes_only ? -1 : 0, 0);
      } else {
        fuse_lowlevel_notify_inval_entry(self->session, inv->ino, inv->name.c_str(),
                                         inv->name.size());
      }
    }
    MutexLock lock(&self->mu);
    self->done = true;
    self->cv.SignalAll();
  }
  // Stops the thread; waits up to a second for it to return.
  void Stop() {
    MutexLock lock(&mu);
    if (stop) return;
    stop = true;
    cv.SignalAll();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!done && std::chrono::steady_clock::now() < deadline) {
      cv.WaitFor(&mu, std::chrono::milliseconds(100));
    }
  }
};

void FuseFs::Start(fuse_session* session) {
  session_->StartDecodePool(decode_threads_);
  if (!read_pool_) read_pool_ = std::make_unique<ThreadPool>(read_slot_count_);
  if (session != nullptr && !notifier_) {
    notifier_ = std::make_shared<Notifier>();
    notifier_->session = session;
    std::thread(Notifier::Run, notifier_).detach();
    tree_->StartWatching(
        [n = notifier_](std::vector<Invalidation> batch) { n->Push(std::move(batch)); });
  }
}

FuseFs::~FuseFs() {
  Shutdown();
  read_pool_.reset();                   // every queued read has replied (EINTR once shutting down)
  session_->StopDecodePool();           // joins the decode workers before the tree goes
  for (Handle* h : handles_) delete h;  // files still open when the session ended
}

uint64_t FuseFs::NewHandle(Handle h) {
  auto* p = new Handle(std::move(h));
  MutexLock lock(&handles_mu_);
  handles_.insert(p);
  return reinterpret_cast<uint64_t>(p);
}

void FuseFs::Shutdown() {
  shutdown_->Raise();
  tree_->StopWatching();
  if (notifier_) notifier_->Stop();
  if (ThreadPool* decode = session_->decode_pool()) decode->CancelPending();
  // Queued reads see the shutdown and reply EINTR at once; they must all have
  // replied before the session goes.
  if (read_pool_) read_pool_->Wait();
}

void FuseFs::FillStat(const NodeAttr& a, struct stat* st) const {
  std::memset(st, 0, sizeof *st);
  st->st_ino = a.ino;
  st->st_mode = (a.is_dir ? S_IFDIR : S_IFREG) | a.mode;
  st->st_nlink = a.nlink;
  st->st_uid = a.uid;
  st->st_gid = a.gid;
  st->st_size = static_cast<off_t>(a.size);
  st->st_blksize = options_.blksize;
  // Blocks: the bytes that are not a known gap of zeros, as for a sparse
  // file; cp (--sparse=auto) then leaves a TIFF's gap a hole, and du counts data.
  st->st_blocks = static_cast<blkcnt_t>((a.size - std::min(a.gap, a.size) + 511) / 512);
  st->st_mtim = a.mtime;
  st->st_ctim = a.ctime;
  st->st_atim = a.mtime;
}

namespace {

void FillStatsAttr(struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_ino = FuseFs::kStatsIno;
  st->st_mode = S_IFREG | 0444;
  st->st_nlink = 1;
  st->st_uid = ::getuid();
  st->st_gid = ::getgid();
  // The counters are of now: so is the file.
  ::clock_gettime(CLOCK_REALTIME, &st->st_mtim);
  st->st_ctim = st->st_mtim;
  st->st_atim = st->st_mtim;
}

}  // namespace

void FuseFs::StatFs(struct statvfs* st) const {
  std::memset(st, 0, sizeof *st);
  const MountTree::Usage usage = tree_->ServedUsage();
  st->f_bsize = 4096;
  st->f_frsize = 4096;
  st->f_blocks = (usage.bytes + st->f_frsize - 1) / st->f_frsize;
  st->f_files = usage.files;
  st->f_namemax = 255;
  st->f_flag = ST_RDONLY;
}

bool FuseFs::CheapEntry(fuse_ino_t ino, fuse_entry_param* e) {
  auto attr = tree_->GetAttr(ino, /*cheap_only=*/true);
  if (!attr.ok()) return false;
  std::memset(e, 0, sizeof *e);
  e->ino = ino;
  e->generation = 1;
  e->attr_timeout = attr->timeout;
  e->entry_timeout = attr->timeout;
  FillStat(*attr, &e->attr);
  return true;
}

int FuseFs::Lookup(fuse_ino_t parent, const char* name, fuse_entry_param* e) {
  if (parent == MountTree::kRootIno && name != nullptr && std::strcmp(name, kStatsName) == 0) {
    std::memset(e, 0, sizeof *e);
    e->ino = kStatsIno;
    FillStatsAttr(&e->attr);  // size 0, timeouts 0: always asked afresh
    return 0;
  }
  Result<uint64_t> ino = parent;  // name == nullptr: the entry for `parent` itself
  if (name != nullptr) ino = tree_->Lookup(parent, name);
  if (!ino.ok())
    return ino.status().code() == StatusCode::kInvalidArgument ? ENOTDIR : ToErrno(ino.status());
  auto attr = tree_->GetAttr(*ino);
  if (!attr.ok()) return ToErrno(attr.status());
  std::memset(e, 0, sizeof *e);
  e->ino = *ino;
  e->generation = 1;
  e->attr_timeout = attr->timeout;
  e->entry_timeout = attr->timeout;
  FillStat(*attr, &e->attr);
  return 0;
}

int FuseFs::GetAttr(fuse_ino_t ino, struct stat* st, double* timeout, const fuse_file_info* fi) {
  if (timeout) *timeout = 0;
  if (ino == kStatsIno) {
    FillStatsAttr(st);
    return 0;
  }
  if (fi && fi->fh) {
    // A reader of an open file keeps its version; the kernel asks for these
    // when reading near the end, also after the source changed.
    const auto* handle = reinterpret_cast<const Handle*>(fi->fh);
    FillStat(handle->attr, st);
    return 0;
  }
  auto attr = tree_->GetAttr(ino);
  if (!attr.ok()) {
    if (attr.status().code() != StatusCode::kStale) return ToErrno(attr.status());
    // Still open on its version (`cat` calls fstat after open): that
    // version's attributes; its reads say EIO where the bytes are gone.
    auto open = OpenVersionAttr(ino);
    if (!open) return ToErrno(attr.status());
    FillStat(*open, st);
    return 0;
  }
  FillStat(*attr, st);
  if (timeout) *timeout = attr->timeout;
  return 0;
}

std::optional<NodeAttr> FuseFs::OpenVersionAttr(uint64_t ino) {
  MutexLock lock(&handles_mu_);
  for (const Handle* h : handles_) {
    if (h->ino == ino && h->file) return h->attr;
  }
  return std::nullopt;
}

int FuseFs::ListDir(fuse_ino_t ino, std::vector<DirEntry>* listing) {
  auto entries = tree_->ReadDir(ino);
  if (!entries.ok()) {
    return entries.status().code() == StatusCode::kInvalidArgument ? ENOTDIR
                                                                   : ToErrno(entries.status());
  }
  listing->clear();
  listing->reserve(entries->size() + 2);
  listing->push_back({".", ino, true});
  listing->push_back({"..", ino, true});  // the kernel resolves ".." itself
  for (auto& e : *entries) listing->push_back(std::move(e));
  return 0;
}

int FuseFs::Open(fuse_ino_t ino, fuse_file_info* fi) {
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & (O_TRUNC | O_CREAT))) return EROFS;
  if (ino == kStatsIno) {
    // A snapshot per open: the counters move between two reads of one
    // `cat`, and a reader must not get the head of one text and the tail of
    // another. direct_io: the size is unknown to the kernel, read to EOF.
    fi->direct_io = 1;
    fi->fh = NewHandle(Handle{StatsJson(), nullptr, {}});
    return 0;
  }
  auto file = tree_->OpenFile(ino);
  if (!file.ok()) {
    return file.status().code() == StatusCode::kInvalidArgument ? EISDIR : ToErrno(file.status());
  }
  auto attr = tree_->GetAttr(ino);
  if (!attr.ok()) return ToErrno(attr.status());
  // An inode's content never changes: a changed source gets new inodes, and
  // the kernel is told to drop the old ones' pages.
  fi->keep_cache = 1;
  fi->fh = NewHandle(Handle{"", std::move(file).value(), *attr, ino});
  return 0;
}

int FuseFs::GetXattr(fuse_ino_t ino, const char* name, std::string* value) {
  if (ino == kStatsIno) return ENODATA;
  const std::string_view n(name);
  AclKind kind;
  if (n == AclXattrName(AclKind::kAccess)) {
    kind = AclKind::kAccess;
  } else if (n == AclXattrName(AclKind::kDefault)) {
    kind = AclKind::kDefault;
  } else {
    return ENODATA;
  }
  auto acl = tree_->Acl(ino, kind);
  if (!acl.ok()) {
    // The kernel refuses the access it was checking: a source whose ACL
    // cannot be read is never served as if it had none.
    if (acl.status().code() == StatusCode::kNotFound) {
      spdlog::debug("ACL of inode {}: {}", ino, acl.status().ToString());
    } else {
      spdlog::warn("ACL of inode {}: {}", ino, acl.status().ToString());
    }
    return ToErrno(acl.status());
  }
  if (acl->empty()) return ENODATA;
  *value = std::move(acl).value();
  return 0;
}

int FuseFs::ListXattr(fuse_ino_t ino, std::string* names) {
  names->clear();
  if (ino == kStatsIno) return 0;
  for (AclKind kind : {AclKind::kAccess, AclKind::kDefault}) {
    std::string value;
    const int err = GetXattr(ino, AclXattrName(kind), &value);
    if (err == ENODATA) continue;
    if (err) return err;
    names->append(AclXattrName(kind));
    names->push_back('\0');
  }
  return 0;
}

void FuseFs::Release(fuse_ino_t ino, fuse_file_info* fi) {
  if (fi && fi->fh) {
    auto* h = reinterpret_cast<Handle*>(fi->fh);
    {
      MutexLock lock(&handles_mu_);
      handles_.erase(h);
    }
    delete h;
    fi->fh = 0;
  }
}

int FuseFs::Read(fuse_ino_t ino, uint64_t off, size_t size, std::vector<uint8_t>* buf,
                 const std::shared_ptr<Interrupt>& interrupt, const fuse_file_info* fi) {
  const Handle* handle = fi && fi->fh ? reinterpret_cast<const Handle*>(fi->fh) : nullptr;
  if (ino == kStatsIno) {
    const std::string s = handle ? handle->stats : StatsJson();
    const size_t n = off >= s.size() ? 0 : std::min<size_t>(size, s.size() - off);
    buf->assign(s.begin() + static_cast<ptrdiff_t>(std::min<uint64_t>(off, s.size())),
                s.begin() + static_cast<ptrdiff_t>(std::min<uint64_t>(off, s.size()) + n));
    return 0;
  }
  if (shutdown_->raised()) return EINTR;
  buf->resize(size);
  ReadContext ctx;
  ctx.pool = session_->decode_pool();
  // Raised by the session's end or by the request's interrupt.
  ctx.interrupt = Interrupt::ChildOf(shutdown_);
  Interrupt::Subscription forwarded;
  if (interrupt) forwarded = interrupt->OnRaise([i = ctx.interrupt] { i->Raise(); });
  ctx.readahead_bytes = options_.readahead_bytes;
  ctx.damaged = options_.damaged;
  if (!AcquireReadSlot(*ctx.interrupt)) return EINTR;
  struct Slot {
    FuseFs* fs;
    ~Slot() { fs->ReleaseReadSlot(); }
  } slot{this};
  auto n = handle && handle->file ? handle->file->ReadWithContext(off, size, buf->data(), &ctx)
                                  : tree_->Read(ino, off, size, buf->data(), &ctx);
  if (!n.ok()) {
    if (n.status().code() != StatusCode::kCancelled) LogReadError(ino, off, n.status());
    return ToErrno(n.status());
  }
  buf->resize(*n);
  reads_.fetch_add(1, std::memory_order_relaxed);
  read_bytes_.fetch_add(*n, std::memory_order_relaxed);
  return 0;
}

namespace {

void OnInterrupt(fuse_req_t, void* data) { static_cast<Interrupt*>(data)->Raise(); }

}  // namespace

bool FuseFs::AcquireReadSlot(Interrupt& interrupt) {
  Interrupt::Subscription woken = interrupt.OnRaise([this] {
    MutexLock lock(&slots_mu_);
    slots_cv_.SignalAll();
  });
  MutexLock lock(&slots_mu_);
  while (free_slots_ == 0) {
    if (interrupt.raised()) return false;
    slots_cv_.Wait(&slots_mu_);
  }
  --free_slots_;
  return true;
}

void FuseFs::ReleaseReadSlot() {
  MutexLock lock(&slots_mu_);
  ++free_slots_;
  slots_cv_.Signal();
}

void FuseFs::ReadAndReply(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                          const fuse_file_info* fi) {
  auto interrupted = std::make_shared<Interrupt>();
  fuse_req_interrupt_func(req, OnInterrupt, interrupted.get());
  // The handle stays valid until release, which the kernel sends only after
  // every read of the open file has been answered.
  const uint64_t fh = fi ? fi->fh : 0;
  auto serve = [this, req, ino, size, off, fh, interrupted] {
    thread_local std::vector<uint8_t> buf;
    fuse_file_info f{};
    f.fh = fh;
    int err;
    try {
      err = Read(ino, static_cast<uint64_t>(off), size, &buf, interrupted, &f);
    } catch (const std::bad_alloc&) {
      spdlog::error("read: out of memory");
      err = ENOMEM;
    } catch (const std::exception& e) {
      spdlog::error("read: {}", e.what());
      err = EIO;
    }
    if (err) {
      fuse_reply_err(req, err);
    } else {
      fuse_reply_buf(req, reinterpret_cast<const char*>(buf.data()), buf.size());
    }
  };
  // Up to one request thread per read slot serves its read itself (no hand-off:
  // sequential reads stay as fast as they were); reads beyond that go to the
  // read pool, so the other request threads stay free for lookups, listings
  // and .czifs-stats however slow the storage.
  if (ino == kStatsIno) {  // a snapshot in memory: never queued behind pixel reads
    serve();
    return;
  }
  if (inline_reads_.fetch_add(1) < read_slot_count_) {
    struct Done {
      std::atomic<size_t>& n;
      ~Done() { n.fetch_sub(1); }
    } done{inline_reads_};
    serve();
    return;
  }
  inline_reads_.fetch_sub(1);
  read_pool_->Submit(std::move(serve));
}

void FuseFs::LogReadError(uint64_t ino, uint64_t off, const Status& st) {
  constexpr size_t kMaxLogged = 4096;  // forget old ones rather than grow without bound
  std::string text = st.ToString();
  bool first;
  {
    MutexLock lock(&logged_mu_);
    if (logged_.size() >= kMaxLogged) logged_.clear();
    first = logged_.emplace(ino, text).second;
  }
  if (first) {
    spdlog::error("{}", text);
  } else {
    spdlog::debug("read of inode {} at {} failed again: {}", ino, off, text);
  }
}

std::string FuseFs::StatsJson() const {
  const SubblockCache& cache = session_->cache();
  return fmt::format(
      "{{\"decoded_subblocks\": {}, \"failed_subblocks\": {}, \"computed_tiles\": {}, "
      "\"cache_hits\": {}, \"cache_misses\": {}, \"cache_bytes\": {}, \"cache_capacity\": {}, "
      "\"cache_used_once_bytes\": {}, \"reads\": {}, \"read_bytes\": {}, \"parsed_files\": {}}}\n",
      session_->decoded.load(), session_->failed.load(), session_->reduced.load(), cache.hits(),
      cache.misses(), cache.usage(), cache.capacity(), cache.retired_usage(), reads_.load(),
      read_bytes_.load(), session_->parsed.load());
}

}  // namespace czifs
