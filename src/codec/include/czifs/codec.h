// Subblock decoding: one entry point, one implementation per compression.
//
// Input is the raw data of one subblock; output is a Bitmap with packed rows
// in the CZI's own sample order (B,G,R for colour, little-endian samples).
//
// Thread-safety: DecodeSubblock may be called concurrently from any number of
// threads. zstd uses one decompression context per thread (thread_local);
// TurboJPEG decoder objects are created per call and never shared; JPEG-XR
// decodes run in helper processes (JxrHelpers).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "czifs/status.h"

namespace czifs {

// Decoded subblocks larger than this are refused (a corrupt directory must not
// make us allocate gigabytes).
inline constexpr uint64_t kMaxDecodedSubblockBytes = 2ull << 30;

// An allocator that leaves new bytes uninitialized: decoders overwrite every
// byte, and zeroing an 8 MB tile first costs as much as copying it.
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using std::allocator<T>::allocator;
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using PixelBuffer = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;

struct Bitmap {
  int32_t pixel_type = 0;
  uint32_t width = 0;
  uint32_t height = 0;
  PixelBuffer pixels;  // height rows of width * BytesPerPixel bytes
  // zstd1 hi/lo as decompressed (DecodeRequest::planar_hilo): `pixels` holds
  // the low byte of every 16-bit sample, then the high bytes; CopyRow
  // interleaves them into place, so a tile is not interleaved in a pass of
  // its own before it is drawn.
  bool planar_hilo = false;

  size_t stride() const;
  // Copies `count` pixels of row `y` from column `x` to `out`, in packed
  // rows (interleaving a planar hi/lo bitmap).
  void CopyRow(uint32_t y, uint32_t x, uint32_t count, uint8_t* out) const;
};

// The czifs-jxr-helper processes kept for reuse by one session: JPEG-XR is
// decoded in them, never in the daemon (see jxr_codec.cc). Thread-safe; a
// helper serves one decode at a time. Idle helpers end when it is destroyed.
class JxrHelpers {
 public:
  JxrHelpers();
  ~JxrHelpers();
  JxrHelpers(const JxrHelpers&) = delete;
  JxrHelpers& operator=(const JxrHelpers&) = delete;

  struct Idle;  // jxr_codec.cc
  Idle& idle() const { return *idle_; }

 private:
  const std::unique_ptr<Idle> idle_;
};

struct DecodeRequest {
  int32_t pixel_type = 0;
  int32_t compression = 0;
  uint32_t width = 0;   // stored width
  uint32_t height = 0;  // stored height
  std::span<const uint8_t> data;
  JxrHelpers* jxr_helpers = nullptr;  // null: a helper is started for this decode only
  // The caller draws through Bitmap::CopyRow: zstd1 hi/lo may stay planar.
  bool planar_hilo = false;
};

// What the decoder had to tolerate; callers log these once per file.
struct DecodeNotes {
  // A subblock labelled JPEG-XR/JPG held plain pixels (ZEN writes such files).
  bool raw_data_in_compressed_label = false;
};

// Decodes one subblock. Errors: NotSupported for unknown compressions or pixel
// types, Corruption for data that does not decode to the stated size.
Result<Bitmap> DecodeSubblock(const DecodeRequest& request, DecodeNotes* notes = nullptr);

// Returns the size in bytes of a bitmap of this type and size, or an error if
// it overflows or exceeds kMaxDecodedSubblockBytes.
Result<uint64_t> BitmapBytes(int32_t pixel_type, uint64_t width, uint64_t height);

// Undoes zstd1 hi/lo byte packing: writes 16-bit samples
// k = lo[k] | hi[k] << 8 for k < samples into `out`, where lo and hi are the
// two halves of the decompressed buffer.
void InterleaveHiLo(const uint8_t* lo, const uint8_t* hi, size_t samples, uint8_t* out);

// The versions of the compression libraries, one "name version" line each.
std::string CodecLibraryVersions();

}  // namespace czifs
