// RandomAccessFile: positional reads from one open file.
//
// Thread-safety: all methods are safe to call concurrently; reads use pread(2)
// on a single descriptor and share no other state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "czifs/status.h"

namespace czifs {

class RandomAccessFile {
 public:
  // Opens `path` read-only and records its size.
  static Result<std::unique_ptr<RandomAccessFile>> Open(const std::string& path);
  ~RandomAccessFile();
  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;

  // Reads exactly `length` bytes at `offset` into `out`; a short read is an error.
  Status ReadExact(uint64_t offset, uint64_t length, void* out) const;

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  RandomAccessFile(int fd, uint64_t size, std::string path)
      : fd_(fd), size_(size), path_(std::move(path)) {}
  const int fd_;
  const uint64_t size_;
  const std::string path_;
};

}  // namespace czifs
