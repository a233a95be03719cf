// Micro-benchmarks (Google Benchmark): decode, compose, TIFF layout, cache.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "czi_writer.h"
#include "czifs/codec.h"
#include "czifs/compose.h"
#include "czifs/czi_document.h"
#include "czifs/imagej.h"
#include "czifs/tiff_layout.h"

namespace {

using namespace czifs;

std::string TempFile(const std::string& name) {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/czifs-bench-XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  return dir + "/" + name;
}

// A written file and its first subblock's raw data.
struct Fixture {
  std::string path;
  std::shared_ptr<const CziFile> czi;
  std::vector<uint8_t> data;
  DecodeRequest req;
};

Fixture MakeFixture(synth::Codec codec, int32_t pixel_type, uint32_t size) {
  Fixture f;
  synth::Spec spec;
  spec.codec = codec;
  spec.pixel_type = pixel_type;
  spec.tile_width = size;
  spec.tile_height = size;
  f.path = TempFile("f" + std::to_string(static_cast<int>(codec)) + "_" +
                    std::to_string(pixel_type) + "_" + std::to_string(size) + ".czi");
  if (!synth::WriteSyntheticCzi(spec, f.path).ok()) std::abort();
  f.czi = *CziFile::Open(f.path);
  auto x = *f.czi->ReadSubblockExtent(0);
  f.data.resize(x.data_size);
  if (!f.czi->ReadBytes(x.data_offset, x.data_size, f.data.data()).ok()) std::abort();
  const auto& e = f.czi->subblocks()[0];
  f.req = {e.pixel_type, e.compression, size, size, f.data};
  return f;
}

void BM_DecodeSubblock(benchmark::State& state, synth::Codec codec, int32_t pixel_type) {
  const uint32_t size = static_cast<uint32_t>(state.range(0));
  Fixture f = MakeFixture(codec, pixel_type, size);
  uint64_t bytes = 0;
  for (auto _ : state) {
    auto bm = DecodeSubblock(f.req);
    if (!bm.ok()) state.SkipWithError(bm.status().ToString().c_str());
    bytes += bm->pixels.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK_CAPTURE(BM_DecodeSubblock, zstd1_hilo_gray16, synth::Codec::kZstd1HiLo, 1)
    ->Arg(256)
    ->Arg(1024)
    ->Arg(2048);
BENCHMARK_CAPTURE(BM_DecodeSubblock, zstd0_gray16, synth::Codec::kZstd0, 1)->Arg(1024);
BENCHMARK_CAPTURE(BM_DecodeSubblock, jpegxr_gray16_helper, synth::Codec::kJpegXr, 1)
    ->Arg(256)
    ->Arg(1024);
BENCHMARK_CAPTURE(BM_DecodeSubblock, jpg_bgr24, synth::Codec::kJpg, 3)->Arg(1024);

void BM_InterleaveHiLo(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> buf(n, 3), out(n);
  for (auto _ : state) {
    InterleaveHiLo(buf.data(), buf.data() + n / 2, n / 2, out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_InterleaveHiLo)->Arg(8 << 20);

// B,G,R -> R,G,B of 8 MiB of Bgr24 (and Bgr48) pixels, in place.
void BM_ToTiffSampleOrder(benchmark::State& state) {
  std::vector<uint8_t> px(static_cast<size_t>(state.range(1)) / 6 * 6, 7);
  for (auto _ : state) {
    ToTiffSampleOrder(static_cast<int32_t>(state.range(0)), px);
    benchmark::DoNotOptimize(px.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(px.size()));
}
BENCHMARK(BM_ToTiffSampleOrder)->Args({3, 8 << 20})->Args({4, 8 << 20});

// Composing 1 MiB of rows of a 3x3 mosaic whose tiles are cached.
void BM_ComposeRowsCached(benchmark::State& state, synth::Codec codec) {
  synth::Spec spec;
  spec.codec = codec;
  spec.tile_width = 1024;
  spec.tile_height = 1024;
  spec.tiles_x = 3;
  spec.tiles_y = 3;
  const std::string path = TempFile("mosaic" + std::to_string(static_cast<int>(codec)) + ".czi");
  if (!synth::WriteSyntheticCzi(spec, path).ok()) std::abort();
  auto doc = *CziDocument::Open(path, Session::Create(512 << 20));
  const Rect box = doc->index().scenes()[0].bbox;
  const Canvas canvas = PlaneCanvas(doc->index(), 0);
  const int64_t rows = (1 << 20) / (box.width * 2);
  std::vector<uint8_t> out(static_cast<size_t>(rows * box.width * 2));
  int64_t y = 0;
  for (auto _ : state) {
    Status st = ComposeRows(canvas, y, y + rows, doc->reader().subblocks(), out.data());
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
    y = (y + rows) % (box.height - rows);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(out.size()));
}
BENCHMARK_CAPTURE(BM_ComposeRowsCached, zstd1, synth::Codec::kZstd1HiLo);
BENCHMARK_CAPTURE(BM_ComposeRowsCached, uncompressed_pread, synth::Codec::kUncompressed);

void BM_TiffLayoutBuild(benchmark::State& state) {
  TiffSpec spec;
  spec.width = static_cast<uint32_t>(state.range(0));
  spec.height = static_cast<uint32_t>(state.range(0));
  spec.pixel_type = 1;
  spec.pixels_per_um_x = spec.pixels_per_um_y = 10;
  spec.description = ImageJDescription(true, 0.5);
  for (auto _ : state) {
    auto layout = TiffLayout::Build(spec);
    benchmark::DoNotOptimize(layout);
  }
}
BENCHMARK(BM_TiffLayoutBuild)->Arg(2048)->Arg(20000);

void BM_TiffLayoutRead1MiB(benchmark::State& state) {
  TiffSpec spec;
  spec.width = 2048;
  spec.height = 2048;
  spec.pixel_type = 1;
  auto layout = *TiffLayout::Build(spec);
  std::vector<uint8_t> out(1 << 20), src(8 << 20, 1);
  auto fill = [&](uint64_t p, size_t n, uint8_t* dst) {
    std::memcpy(dst, src.data() + p, n);
    return Status::Ok();
  };
  uint64_t off = 0;
  for (auto _ : state) {
    size_t produced;
    (void)layout->Read(off, out.size(), out.data(), fill, &produced);
    off = (off + out.size()) % (layout->size() - out.size());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) << 20);
}
BENCHMARK(BM_TiffLayoutRead1MiB);

void BM_CacheHit(benchmark::State& state) {
  auto session = Session::Create(64 << 20);
  SubblockCache* cache = &session->cache();
  for (uint32_t i = 0; i < 64; ++i) {
    cache->Insert(SubblockKey{1, i},
                  std::make_shared<const Bitmap>(Bitmap{0, 1, 1, PixelBuffer(1)}));
  }
  uint32_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cache->Lookup(SubblockKey{1, i++ % 64}));
  }
}
BENCHMARK(BM_CacheHit)->Threads(1)->Threads(2);

void BM_CacheInsertWithEviction(benchmark::State& state) {
  auto session = Session::Create(1 << 20);
  SubblockCache* cache = &session->cache();
  auto value = std::make_shared<const Bitmap>(Bitmap{0, 256, 256, PixelBuffer(65536)});
  uint32_t i = 0;
  for (auto _ : state) cache->Insert(SubblockKey{1, i++}, value);
}
BENCHMARK(BM_CacheInsertWithEviction);

}  // namespace

BENCHMARK_MAIN();
