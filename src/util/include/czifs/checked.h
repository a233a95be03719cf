// Checked arithmetic for numbers that come from files.
//
// Every size, offset and count read from a CZI passes through these before it
// is used to allocate or to read. They return std::nullopt on overflow or on a
// value that does not fit the target type. Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <type_traits>

namespace czifs {

template <typename T>
std::optional<T> CheckedAdd(T a, T b) {
  static_assert(std::is_integral_v<T>);
  T r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

template <typename T>
std::optional<T> CheckedMul(T a, T b) {
  static_assert(std::is_integral_v<T>);
  T r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Returns a*b*c, or nullopt on overflow.
template <typename T>
std::optional<T> CheckedMul3(T a, T b, T c) {
  auto ab = CheckedMul(a, b);
  if (!ab) return std::nullopt;
  return CheckedMul(*ab, c);
}

// a / b rounded towards minus infinity (b > 0): FloorDiv(-1, 4) == -1.
inline int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && (a < 0)); }

// Returns true if [offset, offset+length) lies within [0, limit).
inline bool RangeWithin(uint64_t offset, uint64_t length, uint64_t limit) {
  return offset <= limit && length <= limit - offset;
}

}  // namespace czifs
