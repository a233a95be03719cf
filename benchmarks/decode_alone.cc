// The least work that decodes a CZI's subblocks: each compressed subblock's
// data read into memory first (not timed), then decoded once, on one thread,
// by its library alone into one reused buffer — libzstd's ZSTD_decompressDCtx
// (no hi/lo interleave), TurboJPEG's tjDecompress2 (accurate DCT, as czifs), jxrlib in process. The
// yardstick for "czifs' CPU per decoded byte" in benchmarks/codecs_vs_libczi.py.
//   decode_alone FILE.czi   -> prints "<cpu seconds> <decoded bytes> <subblocks>"
#include <turbojpeg.h>
#include <zstd.h>

#include <cstdio>
#include <ctime>
#include <vector>

#include "czifs/codec.h"
#include "czifs/czi_file.h"
#include "czifs/czi_types.h"
#include "jxr_helper_protocol.h"

namespace {

double CpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

struct Frame {
  czifs::SubblockEntry entry;
  std::vector<uint8_t> data;
};

// Decodes one frame into `out`; false if the library refused it.
bool DecodeOnce(const Frame& f, std::vector<uint8_t>& out, ZSTD_DCtx* zstd, tjhandle jpg) {
  const auto& e = f.entry;
  const size_t stride =
      static_cast<size_t>(e.stored_width) * static_cast<size_t>(czifs::BytesPerPixel(e.pixel_type));
  const size_t bytes = stride * static_cast<size_t>(e.stored_height);
  if (out.size() < bytes + stride * 16) out.resize(bytes + stride * 16);
  std::span<const uint8_t> in = f.data;
  switch (static_cast<czifs::Compression>(e.compression)) {
    case czifs::Compression::kZstd1:
      if (in.empty() || in[0] > in.size()) return false;
      in = in.subspan(in[0]);
      [[fallthrough]];
    case czifs::Compression::kZstd0:
      return !ZSTD_isError(ZSTD_decompressDCtx(zstd, out.data(), bytes, in.data(), in.size()));
    case czifs::Compression::kJpg:
      return tjDecompress2(jpg, in.data(), in.size(), out.data(), e.stored_width,
                           static_cast<int>(stride), e.stored_height,
                           czifs::BytesPerPixel(e.pixel_type) == 1 ? TJPF_GRAY : TJPF_BGR,
                           TJFLAG_ACCURATEDCT) == 0;
    case czifs::Compression::kJpegXr: {
      const czifs::DecodeRequest req{e.pixel_type, e.compression,
                                     static_cast<uint32_t>(e.stored_width),
                                     static_cast<uint32_t>(e.stored_height), in};
      return czifs::DecodeJpegXrInProcess(req, out.data(), stride).code == czifs::kOk;
    }
    default:
      return true;  // uncompressed: nothing to decode
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: decode_alone FILE.czi\n");
    return 2;
  }
  auto czi = czifs::CziFile::Open(argv[1]);
  if (!czi.ok()) {
    std::fprintf(stderr, "%s\n", czi.status().message().c_str());
    return 1;
  }
  std::vector<Frame> frames;
  for (const auto& e : (*czi)->subblocks()) {
    if (e.compression == static_cast<int32_t>(czifs::Compression::kUncompressed)) continue;
    auto x = (*czi)->ReadSubblockExtent(e.index);
    if (!x.ok()) return 1;
    Frame f{e, std::vector<uint8_t>(x->data_size)};
    if (!(*czi)->ReadBytes(x->data_offset, f.data.size(), f.data.data()).ok()) return 1;
    frames.push_back(std::move(f));
  }
  ZSTD_DCtx* zstd = ZSTD_createDCtx();
  tjhandle jpg = tjInitDecompress();
  std::vector<uint8_t> out;
  uint64_t decoded = 0;
  const double start = CpuSeconds();
  for (const Frame& f : frames) {
    if (!DecodeOnce(f, out, zstd, jpg)) {
      std::fprintf(stderr, "subblock %u does not decode\n", f.entry.index);
      return 1;
    }
    decoded += static_cast<uint64_t>(f.entry.stored_width) *
               static_cast<uint64_t>(f.entry.stored_height) *
               static_cast<uint64_t>(czifs::BytesPerPixel(f.entry.pixel_type));
  }
  const double cpu = CpuSeconds() - start;
  tjDestroy(jpg);
  ZSTD_freeDCtx(zstd);
  std::printf("%.4f %llu %zu\n", cpu, static_cast<unsigned long long>(decoded), frames.size());
  return 0;
}
