// FileSystem: what the core needs from storage, as one interface — the io
// seam (with SourceDir and SourceFile in source_dir.h). The daemon uses the
// real one (PosixFileSystem); tests run the core on a file system in memory
// that injects errors, short reads, delays and changes between calls
// (tests/support/memory_fs.h), and a remote source (object storage, HTTP)
// would plug in here.
//
// Thread-safety: implementations are safe to call concurrently.
#pragma once

#include <memory>
#include <string>

#include "czifs/source_dir.h"
#include "czifs/status.h"

namespace czifs {

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // The identity of `path` (links followed); NotFound if it names nothing.
  virtual Result<FileIdentity> Stat(const std::string& path) const = 0;
  // Ok if this process may read `path` (a folder: list and enter it);
  // InvalidArgument saying why not.
  virtual Status CheckReadable(const std::string& path, bool is_dir) const = 0;
  // `path` made absolute, links and dots resolved.
  virtual Result<std::string> Canonical(const std::string& path) const = 0;
  // Opens folder `path` for access beneath it (see SourceDir).
  virtual Result<std::shared_ptr<const SourceDir>> OpenDir(const std::string& path) const = 0;
  // Opens regular file `path` for reading (never blocks).
  virtual Result<OpenedFile> OpenFile(const std::string& path) const = 0;
};

// The real file system (POSIX calls; one object, shared).
const std::shared_ptr<const FileSystem>& PosixFileSystem();

}  // namespace czifs
