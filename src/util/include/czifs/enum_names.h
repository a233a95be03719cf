// Names of an enum's values, for options given by name (--damaged=zero,
// -o watch=ttl): one table next to the enum, used by every parser.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace czifs {

template <typename E, size_t N>
using EnumNames = std::array<std::pair<std::string_view, E>, N>;

// Sets `*out` to the value named `text`; false if no value has that name.
template <typename E, size_t N>
bool ParseEnumName(const EnumNames<E, N>& names, std::string_view text, E* out) {
  for (const auto& [name, value] : names) {
    if (name == text) {
      *out = value;
      return true;
    }
  }
  return false;
}

// "fail, zero": the names, for messages.
template <typename E, size_t N>
std::string EnumNameList(const EnumNames<E, N>& names) {
  std::string list;
  for (const auto& entry : names) {
    if (!list.empty()) list += ", ";
    list += entry.first;
  }
  return list;
}

}  // namespace czifs
