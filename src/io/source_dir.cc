#include "czifs/source_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>

namespace czifs {
namespace {

// As the kernel's own limit on links followed in one lookup.
constexpr int kMaxLinks = 40;

std::string Errno(int err) { return std::strerror(err); }

}  // namespace

bool SameTime(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

Status PathError(const std::string& what, int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
    case ENAMETOOLONG:
      return Status::NotFound(what + ": " + Errno(err));
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return Status::ResourceExhausted(what + ": " + Errno(err)).WithErrno(err);
    default:
      return Status::IOError(what + ": " + Errno(err));
  }
}

namespace {

// Splits "a/b//c" into {"a", "b", "c"}.
std::deque<std::string> Components(std::string_view path) {
  std::deque<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

Result<std::string> ReadLinkAt(int fd) {
  std::string target(PATH_MAX, '\0');
  const ssize_t n = ::readlinkat(fd, "", target.data(), target.size());
  if (n < 0) return Status::IOError("cannot read link: " + Errno(errno));
  target.resize(static_cast<size_t>(n));
  return target;
}

Result<FileIdentity> FstatIdentity(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::IOError("cannot stat: " + Errno(errno));
  return IdentityOf(st);
}

}  // namespace

void UniqueFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool FileIdentity::SameButCtime(const FileIdentity& o) const {
  return dev == o.dev && ino == o.ino && size == o.size && SameTime(mtime, o.mtime);
}

bool FileIdentity::SameContent(const FileIdentity& o) const {
  return SameButCtime(o) && SameTime(ctime, o.ctime);
}

bool FileIdentity::SameAttributes(const FileIdentity& o) const {
  return SameContent(o) && uid == o.uid && gid == o.gid && mode == o.mode;
}

FileIdentity IdentityOf(const struct stat& st) {
  FileIdentity id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime = st.st_mtim;
  id.ctime = st.st_ctim;
  id.uid = st.st_uid;
  id.gid = st.st_gid;
  id.mode = st.st_mode;
  return id;
}

Result<FileIdentity> StatIdentity(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::NotFound(path + ": " + Errno(errno));
  return IdentityOf(st);
}

std::string JoinRelative(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string out(dir);
  out += '/';
  out += name;
  return out;
}

Result<std::shared_ptr<const SourceDir>> PosixSourceDir::Open(const std::string& folder) {
  const int fd = ::open(folder.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::NotFound(folder + ": cannot open folder: " + Errno(errno));
  UniqueFd owned(fd);
  char* real = ::realpath(folder.c_str(), nullptr);
  if (real == nullptr) return Status::IOError(folder + ": " + Errno(errno));
  std::string real_path(real);
  std::free(real);
  return std::shared_ptr<const SourceDir>(
      new PosixSourceDir(folder, std::move(real_path), std::move(owned)));
}

std::string SourceDir::Describe(std::string_view rel) const {
  if (rel.empty()) return path_;
  std::string out = path_;
  if (out.empty() || out.back() != '/') out += '/';
  out += rel;
  return out;
}

// The walk: a stack of O_PATH descriptors from the folder down; each
// component is opened with O_NOFOLLOW relative to the one above, a link's
// target is spliced into the components still to walk (an absolute one only
// if it names a path inside the folder, restarting from the folder), and
// ".." pops the stack but never below the folder.
Result<UniqueFd> PosixSourceDir::Resolve(const std::string& rel) const {
  std::vector<UniqueFd> stack;  // stack[i] is below stack[i-1]; the folder is fd_
  auto top = [&] { return stack.empty() ? fd_.get() : stack.back().get(); };
  std::deque<std::string> todo = Components(rel);
  int links = 0;
  const auto outside = [&] {
    return Status::NotFound(Describe(rel) + ": leads outside the source folder");
  };
  while (!todo.empty()) {
    const std::string name = std::move(todo.front());
    todo.pop_front();
    if (name == ".") continue;
    if (name == "..") {
      if (stack.empty()) return outside();
      stack.pop_back();
      continue;
    }
    const int fd = ::openat(top(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return PathError(Describe(rel), errno);
    UniqueFd next(fd);
    struct stat st;
    if (::fstat(fd, &st) != 0) return Status::IOError(Describe(rel) + ": " + Errno(errno));
    if (S_ISLNK(st.st_mode)) {
      if (++links > kMaxLinks) return Status::NotFound(Describe(rel) + ": too many links");
      CZIFS_ASSIGN_OR_RETURN(std::string target, ReadLinkAt(fd));
      if (!target.empty() && target[0] == '/') {
        const std::string& root = real_path();
        const bool inside = target == root || (target.size() > root.size() &&
                                               target.compare(0, root.size(), root) == 0 &&
                                               (root == "/" || target[root.size()] == '/'));
        if (!inside) return outside();
        target.erase(0, root == "/" ? 1 : root.size());
        stack.clear();
      }
      std::deque<std::string> parts = Components(target);
      todo.insert(todo.begin(), parts.begin(), parts.end());
      continue;
    }
    if (!todo.empty() && !S_ISDIR(st.st_mode)) {
      return Status::NotFound(Describe(rel) + ": " + Errno(ENOTDIR));
    }
    stack.push_back(std::move(next));
  }
  if (stack.empty()) {
    const int fd = ::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return PathError(Describe(rel), errno);
    return UniqueFd(fd);
  }
  return std::move(stack.back());
}

Result<OpenedFile> PosixSourceDir::OpenFile(const std::string& rel) const {
  CZIFS_ASSIGN_OR_RETURN(UniqueFd path_fd, Resolve(rel));
  CZIFS_ASSIGN_OR_RETURN(FileIdentity id, FstatIdentity(path_fd.get()));
  if (!S_ISREG(id.mode)) return Status::IOError(Describe(rel) + ": not a regular file");
  // Reopen the very inode resolved above for reading. Through /proc the
  // open cannot land on anything else; O_NONBLOCK so that even then a FIFO
  // could not hold the thread.
  const std::string proc = fmt::format("/proc/self/fd/{}", path_fd.get());
  int fd = ::open(proc.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    // No /proc: open the name again, without following a link.
    const size_t slash = rel.rfind('/');
    CZIFS_ASSIGN_OR_RETURN(UniqueFd dir,
                           Resolve(slash == std::string::npos ? "" : rel.substr(0, slash)));
    const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
    fd = ::openat(dir.get(), name.c_str(),
                  O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) return PathError(Describe(rel) + ": cannot open", errno);
  UniqueFd file(fd);
  CZIFS_ASSIGN_OR_RETURN(FileIdentity now, FstatIdentity(fd));
  if (!S_ISREG(now.mode) || now.dev != id.dev || now.ino != id.ino) {
    return Status::IOError(Describe(rel) + ": changed while being opened");
  }
  return OpenedFile{MakePosixFile(std::move(file)), now};
}

Result<FileIdentity> PosixSourceDir::Stat(const std::string& rel) const {
  CZIFS_ASSIGN_OR_RETURN(UniqueFd fd, Resolve(rel));
  return FstatIdentity(fd.get());
}

Result<std::string> PosixSourceDir::Acl(const std::string& rel, AclKind kind) const {
  CZIFS_ASSIGN_OR_RETURN(UniqueFd fd, Resolve(rel));
  return ReadAcl(fd.get(), kind, Describe(rel));
}

Result<SourceEntry> PosixSourceDir::Entry(
    const std::string& rel, const std::string& name,
    const std::function<bool(std::string_view)>& want_file) const {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    return Status::NotFound(name);
  }
  CZIFS_ASSIGN_OR_RETURN(UniqueFd dir, Resolve(rel));
  return EntryAt(dir.get(), rel, name, want_file);
}

Result<SourceEntry> PosixSourceDir::EntryAt(
    int dir, const std::string& rel, const std::string& name,
    const std::function<bool(std::string_view)>& want_file) const {
  SourceEntry e;
  e.name = name;
  const std::string path = JoinRelative(rel, name);
  struct stat st;
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return PathError(Describe(path), errno);
  }
  if (S_ISLNK(st.st_mode)) {
    e.via_link = true;
    CZIFS_ASSIGN_OR_RETURN(e.id, Stat(path));
  } else {
    e.id = IdentityOf(st);
  }
  e.is_dir = S_ISDIR(e.id.mode);
  if (!e.is_dir && !(S_ISREG(e.id.mode) && want_file(name))) {
    return Status::NotFound(Describe(path) + ": not shown");
  }
  return e;
}

Result<std::vector<SourceEntry>> PosixSourceDir::List(
    const std::string& rel, const std::function<bool(std::string_view)>& want_file) const {
  CZIFS_ASSIGN_OR_RETURN(UniqueFd path_fd, Resolve(rel));
  const int fd = ::openat(path_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return PathError(Describe(rel) + ": cannot list", errno);
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return Status::IOError(Describe(rel) + ": cannot list: " + Errno(errno));
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* de = ::readdir(d)) {
    const std::string name = de->d_name;
    if (name == "." || name == "..") continue;
    // Files the caller does not want cost nothing more than their name.
    if ((de->d_type == DT_REG || de->d_type == DT_FIFO || de->d_type == DT_SOCK ||
         de->d_type == DT_CHR || de->d_type == DT_BLK) &&
        !(de->d_type == DT_REG && want_file(name))) {
      continue;
    }
    names.push_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return Status::IOError(Describe(rel) + ": cannot list: " + Errno(err));
  std::vector<SourceEntry> out;
  for (const std::string& name : names) {
    auto e = EntryAt(path_fd.get(), rel, name, want_file);
    if (e.ok()) {
      out.push_back(std::move(e).value());
    } else if (e.status().code() != StatusCode::kNotFound) {
      return e.status();  // could not look: a partial listing would drop entries
    }                     // else vanished, leads outside, or not wanted
  }
  std::sort(out.begin(), out.end(),
            [](const SourceEntry& a, const SourceEntry& b) { return a.name < b.name; });
  return out;
}

}  // namespace czifs
