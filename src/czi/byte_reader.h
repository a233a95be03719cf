// Little-endian field access over a byte buffer with bounds checks.
// A plain value over borrowed memory: not synchronized.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace czifs {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  // Each getter returns false (and leaves `out` untouched) if fewer bytes remain.
  bool I32(int32_t* out) { return GetLe(out); }
  bool I64(int64_t* out) { return GetLe(out); }
  bool F32(float* out) {
    uint32_t bits;
    if (!GetLe(&bits)) return false;
    std::memcpy(out, &bits, 4);
    return true;
  }
  bool Bytes(void* out, size_t n) { return Get(out, n); }
  // Reads a fixed-size, NUL-padded ASCII field.
  bool FixedString(size_t n, std::string* out) {
    if (remaining() < n) return false;
    const char* p = reinterpret_cast<const char*>(data_ + pos_);
    out->assign(p, strnlen(p, n));
    pos_ += n;
    return true;
  }
  bool Skip(size_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }
  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

 private:
  bool Get(void* out, size_t n) {
    if (remaining() < n) return false;
    std::memcpy(out, data_ + pos_, n);
    pos_ += n;
    return true;
  }
  template <typename T>
  bool GetLe(T* out) {
    if (remaining() < sizeof(T)) return false;
    using U = std::make_unsigned_t<T>;
    U v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<U>(data_[pos_ + i]) << (8 * i);
    pos_ += sizeof(T);
    *out = static_cast<T>(v);
    return true;
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace czifs
