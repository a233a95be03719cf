// Ideal decode: single-thread throughput of decoding the zstd subblocks of a
// CZI (czifs' own decoder, no I/O, no composition), in decoded MB/s.
//   zstd_ideal FILE.czi [SECONDS]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "czifs/codec.h"
#include "czifs/czi_file.h"

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
  auto czi = czifs::CziFile::Open(argv[1]);
  if (!czi.ok()) return 1;
  struct Frame {
    czifs::DecodeRequest req;
    std::vector<uint8_t> data;
  };
  std::vector<Frame> frames;
  uint64_t loaded = 0;
  for (const auto& e : (*czi)->subblocks()) {
    if (loaded > (512u << 20)) break;  // enough for a stable figure
    auto x = (*czi)->ReadSubblockExtent(e.index);
    if (!x.ok()) return 1;
    Frame f;
    f.data.resize(x->data_size);
    if (!(*czi)->ReadBytes(x->data_offset, f.data.size(), f.data.data()).ok()) return 1;
    loaded += f.data.size();
    frames.push_back(std::move(f));
    frames.back().req = {e.pixel_type, e.compression, static_cast<uint32_t>(e.stored_width),
                         static_cast<uint32_t>(e.stored_height), frames.back().data};
  }
  uint64_t bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (const Frame& f : frames) {
      auto bm = czifs::DecodeSubblock(f.req);
      if (!bm.ok()) return 1;
      bytes += bm->pixels.size();
    }
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  std::printf("%.1f\n", bytes / 1e6 / elapsed);
  return 0;
}
