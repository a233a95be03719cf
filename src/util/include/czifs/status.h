// Status and Result<T>: errors as values for everything below the FUSE layer.
//
// A Status carries one of a few codes and a message that says what went wrong
// and where ("subblock 17: data extends past end of file"). Result<T> holds
// either a value or a non-OK Status. Both are cheap to move and are plain
// values: thread-safe as any value type (no shared state).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace czifs {

enum class StatusCode {
  kOk = 0,
  kCorruption,         // the file contradicts itself or the format
  kNotSupported,       // valid, but a feature czifs does not handle
  kNotFound,           // no such path / entry
  kIOError,            // the operating system failed us
  kResourceExhausted,  // a size beyond what we are willing to allocate
  kInvalidArgument,    // the caller asked for something meaningless
  kCancelled,          // the requester gave up (e.g. an interrupted read)
  kDataLoss,           // a tile's compressed data does not decode; the structure
                       // around it is sound (--damaged=zero may serve it as zeros)
  kStale,              // the entry belonged to a version of its source that changed
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Corruption(std::string msg) {
    return Status(StatusCode::kCorruption, std::move(msg));
  }
  static Status NotSupported(std::string msg) {
    return Status(StatusCode::kNotSupported, std::move(msg));
  }
  static Status NotFound(std::string msg) { return Status(StatusCode::kNotFound, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(StatusCode::kIOError, std::move(msg)); }
  static Status ResourceExhausted(std::string msg) {
    return Status(StatusCode::kResourceExhausted, std::move(msg));
  }
  static Status InvalidArgument(std::string msg) {
    return Status(StatusCode::kInvalidArgument, std::move(msg));
  }
  static Status Cancelled(std::string msg) {
    return Status(StatusCode::kCancelled, std::move(msg));
  }
  static Status DataLoss(std::string msg) { return Status(StatusCode::kDataLoss, std::move(msg)); }
  static Status Stale(std::string msg) { return Status(StatusCode::kStale, std::move(msg)); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // Returns "Corruption: <message>" (or "OK").
  std::string ToString() const;
  // Returns a copy whose message is prefixed with `context + ": "`.
  Status WithContext(const std::string& context) const;
  // The system's own errno behind it (EMFILE, ENFILE, ...), so the FUSE
  // layer can answer with it; 0 if none was recorded.
  int sys_errno() const { return sys_errno_; }
  Status WithErrno(int e) const {
    Status s = *this;
    s.sys_errno_ = e;
    return s;
  }

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  int sys_errno_ = 0;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error, or OK.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }
  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace czifs

#define CZIFS_CONCAT_INNER_(a, b) a##b
#define CZIFS_CONCAT_(a, b) CZIFS_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define CZIFS_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::czifs::Status czifs_status_ = (expr);        \
    if (!czifs_status_.ok()) return czifs_status_; \
  } while (0)

// `lhs = value of expr`, or returns its Status from the enclosing function.
#define CZIFS_ASSIGN_OR_RETURN(lhs, expr) \
  CZIFS_ASSIGN_OR_RETURN_IMPL_(CZIFS_CONCAT_(czifs_result_, __LINE__), lhs, expr)
#define CZIFS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
