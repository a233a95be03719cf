// czi-synth: writes a synthetic CZI file (see czi_writer.h).
//   czi-synth out.czi --pixel-type Gray16 --codec zstd1-hilo --tile 512x512
//             --tiles 3x2 --size C=2,Z=5,T=3 --scenes 2 --pyramid 1
#include <CLI/CLI.hpp>
#include <cstdio>

#include "czi_writer.h"
#include "czifs/czi_types.h"

namespace {

bool ParsePixelType(const std::string& s, int32_t* out) {
  for (int32_t v : {0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13}) {
    if (czifs::PixelTypeName(v) == s || std::to_string(v) == s) {
      *out = v;
      return true;
    }
  }
  return false;
}

bool ParsePair(const std::string& s, char sep, int64_t* a, int64_t* b) {
  return std::sscanf(s.c_str(), sep == 'x' ? "%ldx%ld" : "%ld,%ld", a, b) == 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"czi-synth: write a synthetic CZI file for tests, demos and benchmarks"};
  std::string out, pixel_type = "Gray16", codec = "zstd1-hilo", tile = "256x256", grid = "1x1",
                   origin = "0,0", sizes = "C=1,T=1,Z=1";
  czifs::synth::Spec spec;
  bool no_shuffle = false, no_m = false, sparse = false, write_s = false;
  app.add_option("OUT", out, "Output .czi path")->required();
  app.add_option("--pixel-type", pixel_type,
                 "Gray8, Gray16, Gray32Float, Bgr24, Bgr48, "
                 "Bgr96Float, Bgra32, ... or the number")
      ->capture_default_str();
  app.add_option("--codec", codec,
                 "uncompressed, zstd0, zstd1, zstd1-hilo, jxr, jpg, "
                 "raw-as-jxr, system-raw")
      ->capture_default_str();
  app.add_option("--tile", tile, "Tile size WxH")->capture_default_str();
  app.add_option("--tiles", grid, "Mosaic grid COLSxROWS")->capture_default_str();
  app.add_option("--overlap", spec.overlap, "Tile overlap fraction")->capture_default_str();
  app.add_option("--origin", origin, "Origin X,Y of scene 0 (may be negative)")
      ->capture_default_str();
  app.add_option("--scenes", spec.scenes, "Number of scenes")->capture_default_str();
  app.add_option("--size", sizes, "Plane dimensions, e.g. C=2,Z=5,T=3,H=4")->capture_default_str();
  app.add_option("--pyramid", spec.pyramid_levels, "Pyramid levels per tile")
      ->capture_default_str();
  app.add_option("--seed", spec.seed, "Content seed")->capture_default_str();
  app.add_flag("--no-shuffle", no_shuffle, "Write tiles in M order");
  app.add_flag("--no-m", no_m, "Write no M index");
  app.add_flag("--write-s", write_s, "Write an S dimension even for one scene");
  app.add_flag("--sparse", sparse, "Leave out every third plane (by index sum)");
  app.add_option("--time-stamps", spec.time_stamps_s,
                 "Seconds of each time point, e.g. 0,33.4: a TimeStamps attachment")
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);

  if (!ParsePixelType(pixel_type, &spec.pixel_type)) {
    std::fprintf(stderr, "czi-synth: unknown pixel type '%s'\n", pixel_type.c_str());
    return 2;
  }
  if (!czifs::synth::ParseCodec(codec, &spec.codec)) {
    std::fprintf(stderr, "czi-synth: unknown codec '%s'\n", codec.c_str());
    return 2;
  }
  int64_t a, b;
  if (!ParsePair(tile, 'x', &a, &b) || a <= 0 || b <= 0) return 2;
  spec.tile_width = static_cast<uint32_t>(a);
  spec.tile_height = static_cast<uint32_t>(b);
  if (!ParsePair(grid, 'x', &a, &b) || a <= 0 || b <= 0) return 2;
  spec.tiles_x = static_cast<uint32_t>(a);
  spec.tiles_y = static_cast<uint32_t>(b);
  if (!ParsePair(origin, ',', &a, &b)) return 2;
  spec.origin_x = static_cast<int32_t>(a);
  spec.origin_y = static_cast<int32_t>(b);
  spec.sizes.clear();
  for (size_t pos = 0; pos < sizes.size();) {
    size_t comma = sizes.find(',', pos);
    std::string item =
        sizes.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item.size() < 3 || item[1] != '=') {
      std::fprintf(stderr, "czi-synth: bad --size item '%s'\n", item.c_str());
      return 2;
    }
    spec.sizes[item[0]] = std::stoi(item.substr(2));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  spec.shuffle = !no_shuffle;
  spec.write_m = !no_m;
  spec.write_s = write_s;
  if (sparse) {
    spec.keep_plane = [](const std::map<char, int32_t>& c) {
      int sum = 0;
      for (const auto& [k, v] : c) sum += v;
      return sum % 3 != 2;
    };
  }
  czifs::Status st = czifs::synth::WriteSyntheticCzi(spec, out);
  if (!st.ok()) {
    std::fprintf(stderr, "czi-synth: %s\n", st.ToString().c_str());
    return 1;
  }
  return 0;
}
