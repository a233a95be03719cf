// ReplySpans: parts of a read's reply that point at rows of decoded tiles in
// the cache instead of being copied into the reply buffer. The FUSE layer
// hands the kernel the buffer and these rows together (one writev), so a
// tile's bytes are copied once, by the kernel, instead of twice.
//
// A span stands for `n` bytes at `offset` of the buffer; what it stands for
// is left unwritten there. Spans never overlap (composition records only the
// part of a tile no later tile covers). `keep` holds the tiles the spans point
// into until the reply is sent.
//
// Thread-safety: none; one per reply, used by the thread composing it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "czifs/codec.h"

namespace czifs {

struct ReplySpans {
  struct Span {
    size_t offset;
    const uint8_t* src;
    size_t n;
  };
  // writev takes at most 1024 pieces, the reply's header one of them. Spans
  // usually follow each other without buffer parts between (a row's tiles,
  // then the next row's), so up to this many are kept; Pieces copies those
  // that would need more pieces back into the buffer.
  static constexpr size_t kMaxSpans = 1000;
  static constexpr size_t kMaxPieces = 1023;

  uint8_t* base = nullptr;
  size_t size = 0;
  size_t max_spans = kMaxSpans;
  std::vector<Span> spans;
  std::vector<std::shared_ptr<const Bitmap>> keep;

  // Starts a reply in buffer [b, b + s).
  void Reset(uint8_t* b, size_t s);
  // Records that the `n` bytes at `dst` are `src`, inside `tile`. False (and
  // nothing recorded: copy them) if `dst` is not in the buffer or the spans
  // are full.
  bool Stand(uint8_t* dst, const uint8_t* src, size_t n, const std::shared_ptr<const Bitmap>& tile);
  // Copies what every span stands for into the buffer (then there are none).
  void Materialize();
  // The reply's first `used` bytes as at most kMaxPieces pieces in order:
  // buffer parts and spans (those that do not fit copied into the buffer).
  struct Piece {
    const uint8_t* data;
    size_t n;
  };
  std::vector<Piece> Pieces(size_t used);
};

}  // namespace czifs
