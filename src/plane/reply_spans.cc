#include "czifs/reply_spans.h"

#include <algorithm>
#include <cstring>

namespace czifs {

void ReplySpans::Reset(uint8_t* b, size_t s) {
  base = b;
  size = s;
  spans.clear();
  keep.clear();
}

bool ReplySpans::Stand(uint8_t* dst, const uint8_t* src, size_t n,
                       const std::shared_ptr<const Bitmap>& tile) {
  if (n == 0 || spans.size() >= max_spans || base == nullptr || dst < base || dst > base + size ||
      n > static_cast<size_t>(base + size - dst)) {
    return false;
  }
  spans.push_back({static_cast<size_t>(dst - base), src, n});
  if (keep.empty() || keep.back() != tile) keep.push_back(tile);
  return true;
}

void ReplySpans::Materialize() {
  for (const Span& s : spans) std::memcpy(base + s.offset, s.src, s.n);
  spans.clear();
}

std::vector<ReplySpans::Piece> ReplySpans::Pieces(size_t used) {
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.offset < b.offset; });
  std::vector<Piece> out;
  size_t at = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    const Span& s = spans[i];
    if (s.offset + s.n > used || s.offset < at) {  // not expected: be correct anyway
      Materialize();
      return {{base, used}};
    }
    // This span, a buffer part before it, and one for all after it.
    if (out.size() + 3 > kMaxPieces) {
      for (size_t j = i; j < spans.size(); ++j) {
        std::memcpy(base + spans[j].offset, spans[j].src, spans[j].n);
      }
      spans.resize(i);
      break;
    }
    if (s.offset > at) out.push_back({base + at, s.offset - at});
    out.push_back({s.src, s.n});
    at = s.offset + s.n;
  }
  if (at < used) out.push_back({base + at, used - at});
  return out;
}

}  // namespace czifs
