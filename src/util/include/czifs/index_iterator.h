// IndexIterator: the iterator of a table whose entries are values made on
// access from a position (SubblockTable, PlaneTable): `for (const auto& e :
// table)` binds each made value.
#pragma once

#include <cstddef>
#include <iterator>

namespace czifs {

template <typename Table, typename Value>
class IndexIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = Value;
  using difference_type = std::ptrdiff_t;
  using pointer = void;
  using reference = Value;
  IndexIterator(const Table* t, size_t i) : t_(t), i_(i) {}
  Value operator*() const { return (*t_)[i_]; }
  IndexIterator& operator++() {
    ++i_;
    return *this;
  }
  bool operator==(const IndexIterator& o) const { return i_ == o.i_; }
  bool operator!=(const IndexIterator& o) const { return i_ != o.i_; }

 private:
  const Table* t_;
  size_t i_;
};

}  // namespace czifs
