// The libfuse low-level callbacks: each unpacks one request, calls FuseFs,
// and replies; anything that would write answers EROFS.
#include <cxxabi.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <optional>
#include <thread>

#include "czifs/compose.h"
#include "czifs/fuse_fs.h"
#include "czifs/mutex.h"

namespace czifs {

namespace {

FuseFs* Fs(fuse_req_t req) { return static_cast<FuseFs*>(fuse_req_userdata(req)); }

// Runs `body`; on an exception replies EIO. Forced unwinding (thread
// cancellation at shutdown) must pass through.
template <typename F>
void Guard(fuse_req_t req, const char* op, F&& body) {
  try {
    body();
  } catch (abi::__forced_unwind&) {
    throw;
  } catch (const std::bad_alloc&) {
    spdlog::error("{}: out of memory", op);
    fuse_reply_err(req, ENOMEM);
  } catch (const std::exception& e) {
    spdlog::error("{}: {}", op, e.what());
    fuse_reply_err(req, EIO);
  }
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, "lookup", [&] {
    fuse_entry_param e;
    int err = Fs(req)->Lookup(parent, name, &e);
    if (err) {
      fuse_reply_err(req, err);
    } else {
      fuse_reply_entry(req, &e);
    }
  });
}

void OpGetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "getattr", [&] {
    struct stat st;
    double timeout = 0;
    int err = Fs(req)->GetAttr(ino, &st, &timeout, fi);
    if (err) {
      fuse_reply_err(req, err);
    } else {
      fuse_reply_attr(req, &st, timeout);
    }
  });
}

// Kernels that support it are told (by ENOSYS) that opendir is not needed: a
// listing is then two round trips (readdir, readdir at the end) instead of four.
void OpInit(void* userdata, fuse_conn_info* conn) {
  if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) {
    static_cast<FuseFs*>(userdata)->skip_opendir.store(true);
  }
  conn->want |= (FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO) & conn->capable;
  const uint64_t readahead = static_cast<FuseFs*>(userdata)->kernel_readahead_bytes();
  if (readahead != 0) conn->max_readahead = static_cast<unsigned>(readahead);
  // The kernel checks every access against the sources' ACLs, which it asks
  // for with getxattr and keeps until the attributes time out or are
  // invalidated. Without this (an old kernel), ACLs are not honoured: said once.
  if (conn->capable & FUSE_CAP_POSIX_ACL) {
    conn->want |= FUSE_CAP_POSIX_ACL;
  } else {
    spdlog::warn("this kernel's FUSE has no POSIX ACL support: only mode bits are checked");
  }
}

// Answers a getxattr/listxattr of `size` bytes: the size alone when asked
// for it (size 0), ERANGE when it does not fit.
void ReplyXattr(fuse_req_t req, int err, const std::string& value, size_t size) {
  if (err) {
    fuse_reply_err(req, err);
  } else if (size == 0) {
    fuse_reply_xattr(req, value.size());
  } else if (value.size() > size) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, value.data(), value.size());
  }
}

void OpGetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Guard(req, "getxattr", [&] {
    std::string value;
    ReplyXattr(req, Fs(req)->GetXattr(ino, name, &value), value, size);
  });
}

void OpListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Guard(req, "listxattr", [&] {
    std::string names;
    ReplyXattr(req, Fs(req)->ListXattr(ino, &names), names, size);
  });
}

void OpOpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "opendir", [&] {
    if (Fs(req)->skip_opendir.load()) {
      fuse_reply_err(req, ENOSYS);
      return;
    }
    struct stat st;
    int err = Fs(req)->GetAttr(ino, &st);
    if (err == 0 && !S_ISDIR(st.st_mode)) err = ENOTDIR;
    if (err) {
      fuse_reply_err(req, err);
      return;
    }
    // Listings may be cached only while the watcher tells the kernel of changes.
    fi->keep_cache = Fs(req)->Watching() ? 1 : 0;
    fi->cache_readdir = fi->keep_cache;
    fuse_reply_open(req, fi);
  });
}

// Lists `ino` for readdir/readdirplus; entries from `off` on go into `buf`
// through `add`, which returns the space an entry needs.
template <typename Add>
void ReplyListing(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, Add&& add) {
  std::vector<DirEntry> listing;
  int err = Fs(req)->ListDir(ino, &listing);
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < listing.size(); ++i) {
    const size_t n = add(listing[i], buf.data() + used, size - used, static_cast<off_t>(i + 1));
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void OpReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  Guard(req, "readdir", [&] {
    ReplyListing(req, ino, size, off, [&](const DirEntry& d, char* p, size_t room, off_t next) {
      struct stat st;
      std::memset(&st, 0, sizeof st);
      st.st_ino = d.ino;
      st.st_mode = d.is_dir ? S_IFDIR : S_IFREG;
      return fuse_add_direntry(req, p, room, d.name.c_str(), &st, next);
    });
  });
}

// Like readdir, with each entry's attributes: `ls -l` and `find` need no
// separate lookup per entry.
void OpReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  Guard(req, "readdirplus", [&] {
    ReplyListing(req, ino, size, off, [&](const DirEntry& d, char* p, size_t room, off_t next) {
      fuse_entry_param e;
      std::memset(&e, 0, sizeof e);
      if (d.name == "." || d.name == "..") {
        e.attr.st_ino = d.ino;
        e.attr.st_mode = S_IFDIR;
      } else if (!Fs(req)->CheapEntry(d.ino, &e)) {
        // Attributes that cost work (planetable.csv before first use, a damaged
        // file): ino 0 tells the kernel to look the entry up if it ever needs it.
        std::memset(&e, 0, sizeof e);
        e.attr.st_ino = d.ino;
        e.attr.st_mode = d.is_dir ? S_IFDIR : S_IFREG;
      }
      return fuse_add_direntry_plus(req, p, room, d.name.c_str(), &e, next);
    });
  });
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "open", [&] {
    int err = Fs(req)->Open(ino, fi);
    if (err) {
      fuse_reply_err(req, err);
    } else {
      fuse_reply_open(req, fi);
    }
  });
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Guard(req, "read", [&] { Fs(req)->ReadAndReply(req, ino, size, off, fi); });
}

void OpRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, "release", [&] {
    Fs(req)->Release(ino, fi);
    fuse_reply_err(req, 0);
  });
}

void OpStatFs(fuse_req_t req, fuse_ino_t) {
  Guard(req, "statfs", [&] {
    struct statvfs st;
    Fs(req)->StatFs(&st);
    fuse_reply_statfs(req, &st);
  });
}

// Every operation that would change something: the file system is read-only.
void RoSetAttr(fuse_req_t req, fuse_ino_t, struct stat*, int, fuse_file_info*) {
  fuse_reply_err(req, EROFS);
}
void RoMknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) { fuse_reply_err(req, EROFS); }
void RoMkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { fuse_reply_err(req, EROFS); }
void RoUnlink(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
void RoSymlink(fuse_req_t req, const char*, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
void RoRename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned) {
  fuse_reply_err(req, EROFS);
}
void RoLink(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
void RoWrite(fuse_req_t req, fuse_ino_t, const char*, size_t, off_t, fuse_file_info*) {
  fuse_reply_err(req, EROFS);
}
void RoCreate(fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) {
  fuse_reply_err(req, EROFS);
}
void RoSetXattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) {
  fuse_reply_err(req, EROFS);
}
void RoRemoveXattr(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
void RoFallocate(fuse_req_t req, fuse_ino_t, int, off_t, off_t, fuse_file_info*) {
  fuse_reply_err(req, EROFS);
}

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof ops);
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.getattr = OpGetAttr;
  ops.opendir = OpOpenDir;
  ops.readdir = OpReadDir;
  ops.readdirplus = OpReadDirPlus;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.release = OpRelease;
  ops.statfs = OpStatFs;
  // getxattr serves the POSIX ACLs (the kernel keeps them with the
  // attributes, so permission checks do not ask each time); any other name is
  // ENODATA at once. That costs `ls -l` a round trip per file (it asks for
  // security.selinux), which ENOSYS would spare, but ENOSYS turns getxattr off
  // for the whole mount, ACLs included (docs/performance.md).
  ops.getxattr = OpGetXattr;
  ops.listxattr = OpListXattr;
  ops.setattr = RoSetAttr;
  ops.mknod = RoMknod;
  ops.mkdir = RoMkdir;
  ops.unlink = RoUnlink;
  ops.rmdir = RoUnlink;
  ops.symlink = RoSymlink;
  ops.rename = RoRename;
  ops.link = RoLink;
  ops.write = RoWrite;
  ops.create = RoCreate;
  ops.setxattr = RoSetXattr;
  ops.removexattr = RoRemoveXattr;
  ops.fallocate = RoFallocate;
  return ops;
}

}  // namespace

const fuse_lowlevel_ops* FuseFs::Operations() {
  static const fuse_lowlevel_ops ops = MakeOps();
  return &ops;
}

}  // namespace czifs
