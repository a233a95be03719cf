// The FUSE ceiling: a minimal low-level FUSE file system that serves N files
// of S bytes each from one buffer in memory, with czifs' mount options and
// loop settings. Whatever czifs reaches is measured against what any FUSE
// file system reaches on this machine.
//   fuse_ceiling MOUNTPOINT FILES BYTES_PER_FILE [THREADS]   (foreground)
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

uint64_t g_files = 0;
uint64_t g_size = 0;
std::vector<char> g_data;  // g_size bytes, shared by every file

constexpr uint32_t kBlkSize = 1 << 20;

void FillAttr(fuse_ino_t ino, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_ino = ino;
  if (ino == FUSE_ROOT_ID) {
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
  } else {
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_size = static_cast<off_t>(g_size);
  }
  st->st_blksize = kBlkSize;
}

void Init(void*, fuse_conn_info* conn) {
  if (std::getenv("CEILING_SPLICE")) conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  unsigned long i = 0;
  if (parent != FUSE_ROOT_ID || std::sscanf(name, "f%lu", &i) != 1 || i >= g_files) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  fuse_entry_param e;
  std::memset(&e, 0, sizeof e);
  e.ino = i + 2;
  e.attr_timeout = e.entry_timeout = 86400;
  FillAttr(e.ino, &e.attr);
  fuse_reply_entry(req, &e);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  struct stat st;
  FillAttr(ino, &st);
  fuse_reply_attr(req, &st, 86400);
}

void ReadDir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info*) {
  std::vector<char> buf(size);
  size_t used = 0;
  for (uint64_t i = static_cast<uint64_t>(off); i < g_files; ++i) {
    struct stat st;
    FillAttr(i + 2, &st);
    const std::string name = "f" + std::to_string(i);
    size_t n = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st,
                                 static_cast<off_t>(i + 1));
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void Open(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

std::atomic<uint64_t> g_reads{0}, g_bytes{0};

void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info*) {
  g_reads.fetch_add(1);
  g_bytes.fetch_add(size);
  // Copy into a reply buffer, as czifs does: the ceiling includes one copy.
  thread_local std::vector<char> buf;
  const uint64_t o = static_cast<uint64_t>(off);
  const size_t n = o >= g_size ? 0 : static_cast<size_t>(std::min<uint64_t>(size, g_size - o));
  if (std::getenv("CEILING_SPLICE")) {
    fuse_bufvec bv = FUSE_BUFVEC_INIT(n);
    bv.buf[0].mem = g_data.data() + o;
    fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
    return;
  }
  buf.resize(n);
  std::memcpy(buf.data(), g_data.data() + o, n);
  fuse_reply_buf(req, buf.data(), n);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: fuse_ceiling MOUNTPOINT FILES BYTES_PER_FILE [THREADS]\n");
    return 2;
  }
  g_files = std::strtoull(argv[2], nullptr, 10);
  g_size = std::strtoull(argv[3], nullptr, 10);
  const unsigned threads = argc > 4 ? static_cast<unsigned>(std::atoi(argv[4])) : 4;
  g_data.assign(g_size, 7);
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof ops);
  ops.init = Init;
  ops.lookup = Lookup;
  ops.getattr = GetAttr;
  ops.readdir = ReadDir;
  ops.open = Open;
  ops.read = Read;
  char a0[] = "fuse_ceiling", a1[] = "-o", a2[] = "ro,default_permissions,fsname=ceiling";
  char* args_v[] = {a0, a1, a2};
  fuse_args args = FUSE_ARGS_INIT(3, args_v);
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, nullptr);
  if (!se || fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, argv[1]) != 0) return 1;
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, threads);
  fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  if (std::getenv("CEILING_STATS")) {
    std::fprintf(stderr, "reads %lu, mean request %lu bytes\n", (unsigned long)g_reads.load(),
                 (unsigned long)(g_reads ? g_bytes / g_reads : 0));
  }
  return 0;
}
