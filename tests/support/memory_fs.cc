#include "memory_fs.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace czifs::testing {
namespace {

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string Join(const std::string& folder, const std::string& rel) {
  if (rel.empty()) return folder;
  return folder == "/" ? "/" + rel : folder + "/" + rel;
}

class MemoryFile final : public SourceFile {
 public:
  MemoryFile(std::shared_ptr<const MemoryFileSystem> fs,
             std::shared_ptr<MemoryFileSystem::Inode> inode, std::string path)
      : fs_(std::move(fs)), inode_(std::move(inode)), path_(std::move(path)) {}
  Result<FileIdentity> Identity() const override { return fs_->IdentityOfInode(inode_); }
  Result<size_t> ReadAt(uint64_t offset, uint8_t* out, size_t length) const override {
    return fs_->ReadInode(inode_, path_, offset, out, length);
  }
  Result<size_t> ReadvAt(uint64_t offset, const iovec* iov, int count) const override {
    size_t total = 0;
    for (int i = 0; i < count; ++i) {
      CZIFS_ASSIGN_OR_RETURN(
          size_t n, fs_->ReadInode(inode_, path_, offset + total,
                                   static_cast<uint8_t*>(iov[i].iov_base), iov[i].iov_len));
      total += n;
      if (n < iov[i].iov_len) break;  // a short read, as preadv may return
    }
    return total;
  }

 private:
  const std::shared_ptr<const MemoryFileSystem> fs_;
  const std::shared_ptr<MemoryFileSystem::Inode> inode_;
  const std::string path_;
};

class MemorySourceDir final : public SourceDir {
 public:
  MemorySourceDir(std::shared_ptr<const MemoryFileSystem> fs, const std::string& path)
      : SourceDir(path, path), fs_(std::move(fs)) {}
  Result<OpenedFile> OpenFile(const std::string& rel) const override {
    return fs_->OpenPath(Join(path(), rel));
  }
  Result<FileIdentity> Stat(const std::string& rel) const override {
    return fs_->StatPath(Join(path(), rel));
  }
  Result<std::vector<SourceEntry>> List(
      const std::string& rel,
      const std::function<bool(std::string_view)>& want_file) const override {
    CZIFS_ASSIGN_OR_RETURN(auto listed, fs_->ListPath(Join(path(), rel)));
    std::vector<SourceEntry> out;
    for (auto& [name, id] : listed) {
      const bool is_dir = S_ISDIR(id.mode);
      if (is_dir || want_file(name)) out.push_back({name, is_dir, false, id});
    }
    return out;
  }
  Result<std::string> Acl(const std::string& rel, AclKind) const override {
    CZIFS_RETURN_IF_ERROR(Stat(rel).status());
    return std::string();
  }
  Result<UniqueFd> Resolve(const std::string& rel) const override {
    return Status::NotSupported(Describe(rel) + ": a file system in memory has no descriptors");
  }
  Result<SourceEntry> Entry(const std::string& rel, const std::string& name,
                            const std::function<bool(std::string_view)>& want_file) const override {
    CZIFS_ASSIGN_OR_RETURN(FileIdentity id, Stat(JoinRelative(rel, name)));
    const bool is_dir = S_ISDIR(id.mode);
    if (!is_dir && !want_file(name)) return Status::NotFound(Describe(JoinRelative(rel, name)));
    return SourceEntry{name, is_dir, false, id};
  }

 private:
  const std::shared_ptr<const MemoryFileSystem> fs_;
};

}  // namespace

timespec MemoryFileSystem::Tick() { return timespec{++clock_, 0}; }

std::shared_ptr<MemoryFileSystem::Inode> MemoryFileSystem::NewInode(mode_t mode) {
  auto inode = std::make_shared<Inode>();
  inode->id.dev = 42;
  inode->id.ino = next_ino_++;
  inode->id.uid = ::getuid();
  inode->id.gid = ::getgid();
  inode->id.mode = mode;
  inode->id.mtime = inode->id.ctime = Tick();
  return inode;
}

void MemoryFileSystem::MakeFolders(const std::string& path) {
  if (path.empty() || paths_.count(path)) return;
  if (path != "/") MakeFolders(Parent(path));
  paths_[path] = NewInode(S_IFDIR | 0755);
}

void MemoryFileSystem::MakeFolder(const std::string& path) {
  MutexLock lock(&mu_);
  MakeFolders(path);
}

void MemoryFileSystem::Write(const std::string& path, std::vector<uint8_t> bytes) {
  MutexLock lock(&mu_);
  MakeFolders(Parent(path));
  auto& inode = paths_[path];
  if (!inode) inode = NewInode(S_IFREG | 0644);
  inode->bytes = std::move(bytes);
  inode->id.size = inode->bytes.size();
  inode->id.mtime = inode->id.ctime = Tick();
}

void MemoryFileSystem::Replace(const std::string& path, std::vector<uint8_t> bytes) {
  MutexLock lock(&mu_);
  MakeFolders(Parent(path));
  auto inode = NewInode(S_IFREG | 0644);
  inode->bytes = std::move(bytes);
  inode->id.size = inode->bytes.size();
  paths_[path] = inode;
}

void MemoryFileSystem::SetMtime(const std::string& path, timespec mtime) {
  MutexLock lock(&mu_);
  auto& id = paths_.at(path)->id;
  id.mtime = mtime;
  id.ctime = Tick();
}

void MemoryFileSystem::Chmod(const std::string& path, mode_t mode) {
  MutexLock lock(&mu_);
  auto& id = paths_.at(path)->id;
  id.mode = (id.mode & S_IFMT) | mode;
  id.ctime = Tick();
}

void MemoryFileSystem::Remove(const std::string& path) {
  MutexLock lock(&mu_);
  paths_.erase(path);
  // Everything below it: the names from "path/" up to "path0" ('0' follows '/').
  paths_.erase(paths_.lower_bound(path + "/"), paths_.lower_bound(path + "0"));
}

FileIdentity MemoryFileSystem::IdentityOf(const std::string& path) const {
  MutexLock lock(&mu_);
  return paths_.at(path)->id;
}

void MemoryFileSystem::Inject(Fault fault) {
  MutexLock lock(&mu_);
  faults_.push_back(std::move(fault));
}

void MemoryFileSystem::ClearFaults() {
  MutexLock lock(&mu_);
  faults_.clear();
}

void MemoryFileSystem::SetHook(Hook hook) {
  MutexLock lock(&mu_);
  hook_ = std::move(hook);
}

Status MemoryFileSystem::Enter(Op op, const std::string& path, uint64_t offset, uint64_t length,
                               size_t* short_read) const {
  calls_[static_cast<int>(op)].fetch_add(1);
  Hook hook;
  {
    MutexLock lock(&mu_);
    hook = hook_;
  }
  if (hook) hook(op, path);
  MutexLock lock(&mu_);
  for (Fault& f : faults_) {
    if (f.op != op || path.find(f.path) == std::string::npos) continue;
    if (op == Op::kRead && (offset + length <= f.offset || offset >= f.offset + f.length)) {
      continue;
    }
    const int n = f.matched++;
    if (n < f.skip || (f.times >= 0 && n >= f.skip + f.times)) continue;
    if (op == Op::kRead && f.short_read > 0) {
      *short_read = f.short_read;
      continue;
    }
    const std::string what = op == Op::kRead ? fmt::format("read at offset {}", offset) : path;
    if (op == Op::kRead) {
      return Status::IOError(fmt::format("{}: {}", what, std::strerror(f.err))).WithErrno(f.err);
    }
    return PathError(what, f.err);
  }
  return Status::Ok();
}

Result<FileIdentity> MemoryFileSystem::Stat(const std::string& path) const {
  return StatPath(path);
}

Status MemoryFileSystem::CheckReadable(const std::string& path, bool) const {
  return StatPath(path).status();
}

Result<std::string> MemoryFileSystem::Canonical(const std::string& path) const {
  CZIFS_RETURN_IF_ERROR(StatPath(path).status());
  return path;
}

Result<std::shared_ptr<const SourceDir>> MemoryFileSystem::OpenDir(const std::string& path) const {
  CZIFS_ASSIGN_OR_RETURN(FileIdentity id, StatPath(path));
  if (!S_ISDIR(id.mode)) return Status::InvalidArgument(path + ": not a folder");
  return std::shared_ptr<const SourceDir>(
      std::make_shared<MemorySourceDir>(shared_from_this(), path));
}

Result<OpenedFile> MemoryFileSystem::OpenFile(const std::string& path) const {
  return OpenPath(path);
}

Result<OpenedFile> MemoryFileSystem::OpenPath(const std::string& path) const {
  CZIFS_RETURN_IF_ERROR(Enter(Op::kOpen, path));
  MutexLock lock(&mu_);
  auto it = paths_.find(path);
  if (it == paths_.end()) return PathError(path, ENOENT);
  if (!S_ISREG(it->second->id.mode)) return Status::IOError(path + ": not a regular file");
  return OpenedFile{std::make_unique<MemoryFile>(shared_from_this(), it->second, path),
                    it->second->id};
}

Result<FileIdentity> MemoryFileSystem::StatPath(const std::string& path) const {
  CZIFS_RETURN_IF_ERROR(Enter(Op::kStat, path));
  MutexLock lock(&mu_);
  auto it = paths_.find(path);
  if (it == paths_.end()) return PathError(path, ENOENT);
  return it->second->id;
}

Result<std::vector<std::pair<std::string, FileIdentity>>> MemoryFileSystem::ListPath(
    const std::string& path) const {
  CZIFS_RETURN_IF_ERROR(Enter(Op::kList, path));
  MutexLock lock(&mu_);
  auto it = paths_.find(path);
  if (it == paths_.end()) return PathError(path, ENOENT);
  if (!S_ISDIR(it->second->id.mode)) return PathError(path, ENOTDIR);
  std::vector<std::pair<std::string, FileIdentity>> out;
  const std::string prefix = path == "/" ? "/" : path + "/";
  for (auto e = paths_.upper_bound(prefix); e != paths_.end(); ++e) {
    if (e->first.rfind(prefix, 0) != 0) break;
    const std::string name = e->first.substr(prefix.size());
    if (name.find('/') == std::string::npos) out.emplace_back(name, e->second->id);
  }
  return out;
}

Result<FileIdentity> MemoryFileSystem::IdentityOfInode(const std::shared_ptr<Inode>& inode) const {
  MutexLock lock(&mu_);
  return inode->id;
}

Result<size_t> MemoryFileSystem::ReadInode(const std::shared_ptr<Inode>& inode,
                                           const std::string& path, uint64_t offset, uint8_t* out,
                                           size_t length) const {
  size_t limit = length;
  CZIFS_RETURN_IF_ERROR(Enter(Op::kRead, path, offset, length, &limit));
  MutexLock lock(&mu_);
  const auto& bytes = inode->bytes;
  if (offset >= bytes.size()) return size_t{0};
  const size_t n = std::min<uint64_t>({length, limit, bytes.size() - offset});
  std::memcpy(out, bytes.data() + offset, n);
  return n;
}

}  // namespace czifs::testing
