// Per-compression decoders behind DecodeSubblock. Each checks that its output
// is exactly `expected` bytes for the requested size and pixel type.
#pragma once

#include "czifs/codec.h"

namespace czifs {

Result<Bitmap> DecodeZstd(const DecodeRequest& req, uint64_t expected, bool has_header);
Result<Bitmap> DecodeJpegXr(const DecodeRequest& req, uint64_t expected);
Result<Bitmap> DecodeJpg(const DecodeRequest& req, uint64_t expected);

}  // namespace czifs
