// Writes the benchmark workloads W1..W5 with the project's CZI writer.
// Deterministic; existing files are kept (delete the folder to regenerate).
//   make_workloads OUTDIR [--only W1,W3]
#include <cstdio>
#include <filesystem>
#include <string>

#include "czi_writer.h"

namespace fs = std::filesystem;
using czifs::synth::Codec;
using czifs::synth::Spec;

namespace {

bool Write(const Spec& spec, const fs::path& path) {
  if (fs::exists(path)) return true;
  const fs::path tmp = path.string() + ".part";
  czifs::Status st = czifs::synth::WriteSyntheticCzi(spec, tmp.string());
  if (!st.ok()) {
    std::fprintf(stderr, "make_workloads: %s: %s\n", path.c_str(), st.ToString().c_str());
    return false;
  }
  fs::rename(tmp, path);
  return true;
}

Spec Stack(Codec codec) {
  Spec s;
  s.pixel_type = 1;
  s.codec = codec;
  s.tile_width = 2048;
  s.tile_height = 2048;
  s.sizes = {{'C', 2}, {'Z', 32}, {'T', 2}};
  s.seed = 11;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: make_workloads OUTDIR [--only W1,W2,...]\n");
    return 2;
  }
  const fs::path out(argv[1]);
  std::string only = argc >= 4 && std::string(argv[2]) == "--only" ? argv[3] : "W1,W2,W3,W4,W5";
  auto want = [&](const char* w) { return only.find(w) != std::string::npos; };
  fs::create_directories(out);
  bool ok = true;
  if (want("W1")) ok &= Write(Stack(Codec::kUncompressed), out / "w1_uncompressed.czi");
  if (want("W2")) ok &= Write(Stack(Codec::kZstd1HiLo), out / "w2_zstd1.czi");
  if (want("W3")) {
    Spec s;
    s.pixel_type = 1;
    s.codec = Codec::kZstd1HiLo;
    s.tile_width = 1024;
    s.tile_height = 1024;
    s.tiles_x = 22;  // 22 tiles with 10% overlap: 20386 pixels
    s.tiles_y = 22;
    s.overlap = 0.1;
    s.seed = 3;
    ok &= Write(s, out / "w3_mosaic.czi");
  }
  if (want("W4")) {
    fs::create_directories(out / "w4_folder");
    Spec s;
    s.pixel_type = 1;
    s.codec = Codec::kZstd1HiLo;
    s.tile_width = 256;
    s.tile_height = 256;
    s.sizes = {{'Z', 5}};
    s.thumbnail = false;
    for (int i = 0; i < 2000 && ok; ++i) {
      s.seed = static_cast<uint64_t>(100 + i);
      char name[32];
      std::snprintf(name, sizeof name, "well_%04d.czi", i);
      ok &= Write(s, out / "w4_folder" / name);
    }
  }
  if (want("W5")) {
    Spec s;
    s.pixel_type = 0;
    s.codec = Codec::kUncompressed;
    s.tile_width = 64;
    s.tile_height = 64;
    s.sizes = {{'C', 4}, {'Z', 50}, {'T', 50}};
    s.seed = 5;
    ok &= Write(s, out / "w5_many_planes.czi");
  }
  return ok ? 0 : 1;
}
