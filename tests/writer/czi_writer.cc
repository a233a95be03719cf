#include "czi_writer.h"

#include <turbojpeg.h>
#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>

// Last: it defines min/max macros.
#include <JXRGlue.h>
#undef min
#undef max

namespace czifs::synth {
namespace {

// ---- content -------------------------------------------------------------

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

struct Tables {
  float s[1024];
  Tables() {
    for (int i = 0; i < 1024; ++i) s[i] = static_cast<float>(std::sin(i * 2 * M_PI / 1024));
  }
};
const Tables& T() {
  static const Tables t;
  return t;
}

// Smooth structures plus a little noise, in [0, 1). Depends on the plane and
// on M, so overlapping tiles differ and the drawing order is visible.
float Value(const Spec& spec, int64_t x, int64_t y, uint64_t plane_hash, int32_t m, int sample) {
  const auto& t = T();
  const uint64_t ph = plane_hash + static_cast<uint64_t>(sample) * 131;
  const float a = t.s[static_cast<uint64_t>(x * 3 + static_cast<int64_t>(ph % 97)) & 1023];
  const float b = t.s[static_cast<uint64_t>(y * 2 + static_cast<int64_t>(ph % 89) + 256) & 1023];
  const float c = t.s[static_cast<uint64_t>((x + y) / 3 + static_cast<int64_t>(ph % 61)) & 1023];
  const uint64_t h = Mix(static_cast<uint64_t>(x) * 0x9E3779B97F4A7C15ull ^
                         static_cast<uint64_t>(y) * 0xC2B2AE3D27D4EB4Full ^ ph ^ spec.seed);
  const float noise = static_cast<float>(h & 0xff) / 255.0f;
  // Like a fluorescence image: dim noisy background, sparse bright structures.
  const float structure = std::max(0.0f, a * b - 0.25f) * 1.2f + std::max(0.0f, c - 0.8f) * 1.5f;
  float v = 0.03f + 0.01f * noise + structure + 0.03f * static_cast<float>(m % 5);
  return std::clamp(v, 0.0f, 0.999f);
}

uint64_t PlaneHash(const Spec& spec, uint32_t scene, const std::map<char, int32_t>& coords) {
  uint64_t h = Mix(spec.seed + scene * 7919);
  for (const auto& [k, v] : coords)
    h = Mix(h ^ (static_cast<uint64_t>(k) << 32) ^ static_cast<uint32_t>(v));
  return h;
}

void PutLe(uint8_t* p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

void StorePixel(int32_t pt, const float* samples, uint8_t* out) {
  switch (pt) {
    case 0:
      out[0] = static_cast<uint8_t>(samples[0] * 256);
      break;
    case 1:
      PutLe(out, static_cast<uint16_t>(samples[0] * 4096), 2);
      break;  // 12-bit data
    case 2:
      std::memcpy(out, &samples[0], 4);
      break;
    case 3:
      for (int s = 0; s < 3; ++s) out[s] = static_cast<uint8_t>(samples[s] * 256);
      break;
    case 4:
      for (int s = 0; s < 3; ++s) PutLe(out + 2 * s, static_cast<uint16_t>(samples[s] * 65536), 2);
      break;
    case 8:
      for (int s = 0; s < 3; ++s) std::memcpy(out + 4 * s, &samples[s], 4);
      break;
    case 9:
      for (int s = 0; s < 4; ++s) out[s] = static_cast<uint8_t>(samples[s] * 256);
      break;
    case 12:
      PutLe(out, static_cast<uint32_t>(samples[0] * 1e6f), 4);
      break;
    case 10: {
      float re_im[2] = {samples[0], -samples[0]};
      std::memcpy(out, re_im, 8);
      break;
    }
    default: {
      const int bpp = WriterBytesPerPixel(pt);
      std::memset(out, static_cast<int>(samples[0] * 255), static_cast<size_t>(bpp));
    }
  }
}

int SampleCount(int32_t pt) {
  if (pt == 3 || pt == 4 || pt == 8) return 3;
  if (pt == 9) return 4;
  return 1;
}

// ---- encoders -------------------------------------------------------------

std::vector<uint8_t> ZstdFrame(const std::vector<uint8_t>& raw) {
  std::vector<uint8_t> out(ZSTD_compressBound(raw.size()));
  size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 1);
  if (ZSTD_isError(n)) return {};
  out.resize(n);
  return out;
}

std::vector<uint8_t> HiLoPack(const std::vector<uint8_t>& raw) {
  std::vector<uint8_t> out(raw.size());
  const size_t half = raw.size() / 2;
  for (size_t k = 0; k < half; ++k) {
    out[k] = raw[2 * k];
    out[half + k] = raw[2 * k + 1];
  }
  return out;
}

// jxrlib's memory stream seeks back to patch its header, so its position at
// the end is not the length written: track the furthest write instead.
thread_local size_t t_jxr_end = 0;
ERR (*g_jxr_memory_write)(WMPStream*, const void*, size_t) = nullptr;
ERR TrackingWrite(WMPStream* s, const void* pv, size_t cb) {
  ERR e = g_jxr_memory_write(s, pv, cb);
  t_jxr_end = std::max(t_jxr_end, s->state.buf.cbCur);
  return e;
}

Result<std::vector<uint8_t>> EncodeJpegXr(int32_t pt, uint32_t w, uint32_t h,
                                          const std::vector<uint8_t>& raw) {
  const PKPixelFormatGUID* fmt = nullptr;
  if (pt == 0) fmt = &GUID_PKPixelFormat8bppGray;
  if (pt == 1) fmt = &GUID_PKPixelFormat16bppGray;
  if (pt == 3) fmt = &GUID_PKPixelFormat24bppBGR;
  if (fmt == nullptr) return Status::NotSupported("writer: JPEG-XR for this pixel type");
  PKPixelInfo pi{};
  pi.pGUIDPixFmt = fmt;
  PixelFormatLookup(&pi, LOOKUP_FORWARD);
  std::vector<uint8_t> buf(raw.size() * 2 + 65536);
  WMPStream* stream = nullptr;
  if (CreateWS_Memory(&stream, buf.data(), buf.size()) < 0) {
    return Status::IOError("writer: JPEG-XR stream");
  }
  g_jxr_memory_write = stream->Write;
  stream->Write = TrackingWrite;
  t_jxr_end = 0;
  PKImageEncode* enc = nullptr;
  if (PKImageEncode_Create_WMP(&enc) < 0) return Status::IOError("writer: JPEG-XR encoder");
  CWMIStrCodecParam p{};
  p.bVerbose = 0;
  p.uiDefaultQPIndex = 1;  // lossless
  p.uiDefaultQPIndexAlpha = 1;
  p.cfColorFormat = pi.cChannel == 1 ? Y_ONLY : YUV_444;
  p.bdBitDepth = BD_LONG;  // internal precision; the pixel format sets the sample depth
  p.olOverlap = OL_NONE;
  p.bfBitstreamFormat = SPATIAL;
  p.cChannel = pi.cChannel;
  p.uAlphaMode = 0;
  p.sbSubband = SB_ALL;
  p.uiTrimFlexBits = 0;
  ERR err = enc->Initialize(enc, stream, &p, sizeof p);
  if (err >= 0) err = enc->SetPixelFormat(enc, *fmt);
  if (err >= 0) err = enc->SetSize(enc, static_cast<I32>(w), static_cast<I32>(h));
  if (err >= 0) err = enc->SetResolution(enc, 96.f, 96.f);
  const size_t stride = raw.size() / h;
  if (err >= 0) {
    err = enc->WritePixels(enc, h, const_cast<uint8_t*>(raw.data()), static_cast<U32>(stride));
  }
  const size_t used = t_jxr_end;
  enc->Release(&enc);
  if (err < 0)
    return Status::IOError("writer: JPEG-XR encoding failed (" + std::to_string(err) + ")");
  buf.resize(used);
  return buf;
}

Result<std::vector<uint8_t>> EncodeJpg(int32_t pt, uint32_t w, uint32_t h,
                                       const std::vector<uint8_t>& raw) {
  if (pt != 0 && pt != 3) return Status::NotSupported("writer: JPG for this pixel type");
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, raw.data(), static_cast<int>(w), 0, static_cast<int>(h),
                             pt == 0 ? TJPF_GRAY : TJPF_BGR, &out, &size,
                             pt == 0 ? TJSAMP_GRAY : TJSAMP_444, 95, TJFLAG_ACCURATEDCT);
  std::vector<uint8_t> data;
  if (rc == 0) data.assign(out, out + size);
  tjFree(out);
  tjDestroy(tj);
  if (rc != 0) return Status::IOError("writer: JPG encoding failed");
  return data;
}

struct Encoded {
  int32_t compression;
  std::vector<uint8_t> data;
};

Result<Encoded> Encode(const Spec& spec, uint32_t w, uint32_t h, const std::vector<uint8_t>& raw) {
  switch (spec.codec) {
    case Codec::kUncompressed:
      return Encoded{0, raw};
    case Codec::kZstd0:
      return Encoded{5, ZstdFrame(raw)};
    case Codec::kZstd1:
    case Codec::kZstd1HiLo: {
      const bool hilo = spec.codec == Codec::kZstd1HiLo;
      std::vector<uint8_t> frame = ZstdFrame(hilo ? HiLoPack(raw) : raw);
      std::vector<uint8_t> d = {3, 1, static_cast<uint8_t>(hilo ? 1 : 0)};
      d.insert(d.end(), frame.begin(), frame.end());
      return Encoded{6, std::move(d)};
    }
    case Codec::kJpegXr: {
      CZIFS_ASSIGN_OR_RETURN(auto d, EncodeJpegXr(spec.pixel_type, w, h, raw));
      return Encoded{4, std::move(d)};
    }
    case Codec::kJpg: {
      CZIFS_ASSIGN_OR_RETURN(auto d, EncodeJpg(spec.pixel_type, w, h, raw));
      return Encoded{1, std::move(d)};
    }
    case Codec::kRawLabelledJpegXr:
      return Encoded{4, raw};
    case Codec::kSystemRaw:
      return Encoded{1001, raw};
  }
  return Status::InvalidArgument("writer: unknown codec");
}

// ---- file layout ----------------------------------------------------------

class Out {
 public:
  explicit Out(FILE* f) : f_(f) {}
  uint64_t pos() const { return pos_; }
  void Bytes(const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f_) != n) ok_ = false;
    pos_ += n;
  }
  void U8(uint8_t v) { Bytes(&v, 1); }
  void I32(int32_t v) {
    uint8_t b[4];
    PutLe(b, static_cast<uint32_t>(v), 4);
    Bytes(b, 4);
  }
  void I64(int64_t v) {
    uint8_t b[8];
    PutLe(b, static_cast<uint64_t>(v), 8);
    Bytes(b, 8);
  }
  void F32(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    I32(static_cast<int32_t>(bits));
  }
  void Fixed(const std::string& s, size_t n) {
    std::string b = s.substr(0, n);
    b.resize(n, '\0');
    Bytes(b.data(), n);
  }
  void Zeros(uint64_t n) {
    static const uint8_t z[4096] = {};
    while (n) {
      size_t k = std::min<uint64_t>(n, sizeof z);
      Bytes(z, k);
      n -= k;
    }
  }
  void PadTo32() { Zeros((32 - pos_ % 32) % 32); }
  void SegmentHeader(const std::string& id, uint64_t used) {
    Fixed(id, 16);
    I64(static_cast<int64_t>((used + 31) / 32 * 32));
    I64(static_cast<int64_t>(used));
  }
  bool ok() const { return ok_; }
  bool Seek(uint64_t p) {
    if (std::fseek(f_, static_cast<long>(p), SEEK_SET) != 0) return false;
    pos_ = p;
    return true;
  }

 private:
  FILE* f_;
  uint64_t pos_ = 0;
  bool ok_ = true;
};

struct DirEntry {
  int32_t pixel_type, compression;
  int64_t position;
  std::vector<std::tuple<char, int32_t, int32_t, int32_t>> dims;  // name, start, size, stored
};

constexpr size_t DvSize(size_t ndims) { return 32 + 20 * ndims; }

void WriteDv(Out& o, const DirEntry& e) {
  o.Bytes("DV", 2);
  o.I32(e.pixel_type);
  o.I64(e.position);
  o.I32(0);
  o.I32(e.compression);
  o.Zeros(6);
  o.I32(static_cast<int32_t>(e.dims.size()));
  for (const auto& [name, start, size, stored] : e.dims) {
    o.Fixed(std::string(1, name), 4);
    o.I32(start);
    o.I32(size);
    o.F32(static_cast<float>(start));
    o.I32(stored);
  }
}

std::string Iso(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds);
  const int ms = static_cast<int>(std::lround((seconds - static_cast<double>(s)) * 1000));
  char buf[64];
  // 2024-03-01T10:00:00 + s
  int64_t total = 10 * 3600 + s;
  snprintf(buf, sizeof buf, "2024-03-01T%02d:%02d:%02d.%03dZ", static_cast<int>(total / 3600 % 24),
           static_cast<int>(total / 60 % 60), static_cast<int>(total % 60), ms);
  return buf;
}

std::string PixelTypeXmlName(int32_t pt) {
  switch (pt) {
    case 0:
      return "Gray8";
    case 1:
      return "Gray16";
    case 2:
      return "Gray32Float";
    case 3:
      return "Bgr24";
    case 4:
      return "Bgr48";
    case 8:
      return "Bgr96Float";
    case 9:
      return "Bgra32";
    default:
      return "Gray64ComplexFloat";
  }
}

std::string DocumentXml(const Spec& spec, int64_t size_x, int64_t size_y) {
  std::string x = "<ImageDocument><Metadata><Information><Image>";
  x += "<SizeX>" + std::to_string(size_x) + "</SizeX><SizeY>" + std::to_string(size_y) + "</SizeY>";
  for (const auto& [k, v] : spec.sizes) {
    x += std::string("<Size") + k + ">" + std::to_string(v) + "</Size" + k + ">";
  }
  x += "<PixelType>" + PixelTypeXmlName(spec.pixel_type) + "</PixelType>";
  x += "<AcquisitionDateAndTime>2024-03-01T10:00:00Z</AcquisitionDateAndTime>";
  x += "<Dimensions><Channels>";
  const int32_t nc = spec.sizes.count('C') ? spec.sizes.at('C') : 1;
  for (int32_t c = 0; c < nc; ++c) {
    std::string name = c < static_cast<int32_t>(spec.channel_names.size())
                           ? spec.channel_names[c]
                           : "Channel " + std::to_string(c);
    x += "<Channel Id=\"Channel:" + std::to_string(c) + "\" Name=\"" + name + "\"/>";
  }
  x += "</Channels></Dimensions></Image></Information>";
  x += "<Scaling><Items>";
  char buf[64];
  if (spec.scale_xy_um) {
    snprintf(buf, sizeof buf, "%.12g", *spec.scale_xy_um * 1e-6);
    x += std::string("<Distance Id=\"X\"><Value>") + buf + "</Value></Distance>";
    x += std::string("<Distance Id=\"Y\"><Value>") + buf + "</Value></Distance>";
  }
  if (spec.scale_z_um) {
    snprintf(buf, sizeof buf, "%.12g", *spec.scale_z_um * 1e-6);
    x += std::string("<Distance Id=\"Z\"><Value>") + buf + "</Value></Distance>";
  }
  x += "</Items></Scaling>";
  x += "<DisplaySetting><Channels>";
  for (int32_t c = 0; c < nc; ++c) x += "<Channel><Color>#FF00FF00</Color></Channel>";
  x += "</Channels></DisplaySetting>";
  x += "</Metadata></ImageDocument>";
  return x;
}

}  // namespace

std::vector<std::map<char, int32_t>> PlaneCombinations(const Spec& spec) {
  std::vector<std::map<char, int32_t>> out = {{}};
  for (const auto& [k, n] : spec.sizes) {
    std::vector<std::map<char, int32_t>> next;
    for (const auto& c : out) {
      for (int32_t i = 0; i < n; ++i) {
        auto d = c;
        d[k] = i;
        next.push_back(d);
      }
    }
    out = std::move(next);
  }
  return out;
}

namespace {

void SceneOrigin(const Spec& spec, uint32_t scene, int32_t* x, int32_t* y) {
  const int32_t step_x = static_cast<int32_t>(std::lround(spec.tile_width * (1 - spec.overlap)));
  const int32_t mosaic_w =
      step_x * static_cast<int32_t>(spec.tiles_x - 1) + static_cast<int32_t>(spec.tile_width);
  *x = spec.origin_x +
       static_cast<int32_t>(scene) * (mosaic_w + 50 + 13 * static_cast<int32_t>(scene));
  *y = spec.origin_y + static_cast<int32_t>(scene) * 37;
}

}  // namespace

bool ParseCodec(const std::string& n, Codec* out) {
  static const std::map<std::string, Codec> kNames = {{"uncompressed", Codec::kUncompressed},
                                                      {"zstd0", Codec::kZstd0},
                                                      {"zstd1", Codec::kZstd1},
                                                      {"zstd1-hilo", Codec::kZstd1HiLo},
                                                      {"jxr", Codec::kJpegXr},
                                                      {"jpg", Codec::kJpg},
                                                      {"raw-as-jxr", Codec::kRawLabelledJpegXr},
                                                      {"system-raw", Codec::kSystemRaw}};
  auto it = kNames.find(n);
  if (it == kNames.end()) return false;
  *out = it->second;
  return true;
}

int WriterBytesPerPixel(int32_t pt) {
  switch (pt) {
    case 0:
      return 1;
    case 1:
      return 2;
    case 2:
      return 4;
    case 3:
      return 3;
    case 4:
      return 6;
    case 8:
      return 12;
    case 9:
      return 4;
    case 10:
      return 8;
    case 11:
      return 24;
    case 12:
      return 4;
    case 13:
      return 8;
    default:
      return 1;
  }
}

std::vector<Tile> EnumerateTiles(const Spec& spec) {
  std::vector<Tile> tiles;
  const int32_t step_x = static_cast<int32_t>(std::lround(spec.tile_width * (1 - spec.overlap)));
  const int32_t step_y = static_cast<int32_t>(std::lround(spec.tile_height * (1 - spec.overlap)));
  std::mt19937_64 rng(spec.seed);
  for (uint32_t s = 0; s < spec.scenes; ++s) {
    int32_t ox, oy;
    SceneOrigin(spec, s, &ox, &oy);
    for (const auto& coords : PlaneCombinations(spec)) {
      if (spec.keep_plane && !spec.keep_plane(coords)) continue;
      const uint32_t n = spec.tiles_x * spec.tiles_y;
      std::vector<int32_t> m(n);
      std::iota(m.begin(), m.end(), 0);
      if (spec.shuffle) std::shuffle(m.begin(), m.end(), rng);
      for (uint32_t k = 0; k < n; ++k) {
        if (spec.skip_positions.count(k)) continue;
        Tile t;
        t.scene = s;
        t.coords = coords;
        t.m = m[k];
        t.x = ox + static_cast<int32_t>(k % spec.tiles_x) * step_x;
        t.y = oy + static_cast<int32_t>(k / spec.tiles_x) * step_y;
        t.width = spec.tile_width;
        t.height = spec.tile_height;
        tiles.push_back(t);
      }
    }
  }
  if (spec.shuffle) std::shuffle(tiles.begin(), tiles.end(), rng);
  return tiles;
}

std::vector<uint8_t> TilePixels(const Spec& spec, const Tile& t) {
  const int bpp = WriterBytesPerPixel(spec.pixel_type);
  const int ns = SampleCount(spec.pixel_type);
  std::vector<uint8_t> px(static_cast<size_t>(t.width) * t.height * bpp);
  const uint64_t ph = PlaneHash(spec, t.scene, t.coords);
  float samples[4];
  for (uint32_t j = 0; j < t.height; ++j) {
    for (uint32_t i = 0; i < t.width; ++i) {
      for (int s = 0; s < ns; ++s) {
        samples[s] = Value(spec, int64_t{t.x} + i, int64_t{t.y} + j, ph, t.m, s);
      }
      StorePixel(spec.pixel_type, samples,
                 px.data() + (static_cast<size_t>(j) * t.width + i) * bpp);
    }
  }
  return px;
}

ExpectedPlane PaintExpected(const Spec& spec, uint32_t scene,
                            const std::map<char, int32_t>& coords) {
  std::vector<Tile> all = EnumerateTiles(spec);
  ExpectedPlane e;
  bool first = true;
  int64_t x1 = 0, y1 = 0;
  for (const Tile& t : all) {  // bounding box over every tile of the scene
    if (t.scene != scene) continue;
    const int64_t tx1 = int64_t{t.x} + t.width, ty1 = int64_t{t.y} + t.height;
    if (first) {
      e.x = t.x, e.y = t.y, x1 = tx1, y1 = ty1;
      first = false;
    }
    e.x = std::min<int64_t>(e.x, t.x);
    e.y = std::min<int64_t>(e.y, t.y);
    x1 = std::max(x1, tx1);
    y1 = std::max(y1, ty1);
  }
  e.width = x1 - e.x;
  e.height = y1 - e.y;
  const int bpp = WriterBytesPerPixel(spec.pixel_type);
  e.pixels.assign(static_cast<size_t>(e.width * e.height * bpp), 0);
  std::vector<Tile> mine;
  for (const Tile& t : all) {
    if (t.scene == scene && t.coords == coords) mine.push_back(t);
  }
  std::stable_sort(mine.begin(), mine.end(),
                   [&](const Tile& a, const Tile& b) { return spec.write_m ? a.m < b.m : false; });
  for (const Tile& t : mine) {
    std::vector<uint8_t> px = TilePixels(spec, t);
    for (uint32_t j = 0; j < t.height; ++j) {
      std::memcpy(&e.pixels[static_cast<size_t>(((t.y - e.y + j) * e.width + (t.x - e.x)) * bpp)],
                  &px[static_cast<size_t>(j) * t.width * bpp], static_cast<size_t>(t.width) * bpp);
    }
  }
  return e;
}

Status WriteSyntheticCzi(const Spec& spec, const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) return Status::IOError(path + ": cannot create");
  Out o(f.get());
  // File header; positions are patched at the end.
  o.SegmentHeader("ZISRAWFILE", 512);
  o.Zeros(512);
  std::vector<DirEntry> dir;
  const std::vector<Tile> tiles = EnumerateTiles(spec);
  int64_t min_x = INT64_MAX, min_y = INT64_MAX, max_x = INT64_MIN, max_y = INT64_MIN;
  const bool write_s = spec.write_s || spec.scenes > 1;
  for (size_t ti = 0; ti < tiles.size(); ++ti) {
    const Tile& t = tiles[ti];
    // The tile's own pixel type, where its channel has another.
    Spec other;
    const auto c = t.coords.find('C');
    const auto typed = c == t.coords.end() ? spec.channel_pixel_types.end()
                                           : spec.channel_pixel_types.find(c->second);
    if (typed != spec.channel_pixel_types.end()) {
      other = spec;
      other.pixel_type = typed->second;
    }
    const Spec& ts = typed != spec.channel_pixel_types.end() ? other : spec;
    const int bpp = WriterBytesPerPixel(ts.pixel_type);
    min_x = std::min<int64_t>(min_x, t.x);
    min_y = std::min<int64_t>(min_y, t.y);
    max_x = std::max<int64_t>(max_x, int64_t{t.x} + t.width);
    max_y = std::max<int64_t>(max_y, int64_t{t.y} + t.height);
    const std::vector<uint8_t> full = TilePixels(ts, t);
    for (int level = 0; level <= spec.pyramid_levels; ++level) {
      const uint32_t f = 1u << level;
      const uint32_t sw = std::max(1u, t.width / f), sh = std::max(1u, t.height / f);
      std::vector<uint8_t> raw;
      if (level == 0) {
        raw = full;
      } else {
        raw.resize(static_cast<size_t>(sw) * sh * bpp);
        for (uint32_t j = 0; j < sh; ++j) {
          for (uint32_t i = 0; i < sw; ++i) {
            std::memcpy(&raw[(static_cast<size_t>(j) * sw + i) * bpp],
                        &full[(static_cast<size_t>(j * f) * t.width + i * f) * bpp], bpp);
          }
        }
      }
      CZIFS_ASSIGN_OR_RETURN(Encoded enc, Encode(ts, sw, sh, raw));
      DirEntry e;
      e.pixel_type = ts.pixel_type;
      e.compression = enc.compression;
      e.position = static_cast<int64_t>(o.pos());
      e.dims.emplace_back('X', t.x, t.width, sw);
      e.dims.emplace_back('Y', t.y, t.height, sh);
      for (const auto& [k, v] : t.coords) e.dims.emplace_back(k, v, 1, 1);
      if (write_s) e.dims.emplace_back('S', static_cast<int32_t>(t.scene), 1, 1);
      if (spec.write_m) e.dims.emplace_back('M', t.m, 1, 1);
      std::string xml;
      if (spec.subblock_metadata && level == 0) {
        const double time = (t.coords.count('T') ? t.coords.at('T') : 0) * 2.5 + ti * 0.001;
        char buf[512];
        snprintf(buf, sizeof buf,
                 "<METADATA><Tags><AcquisitionTime>%s</AcquisitionTime>"
                 "<StageXPosition>%.3f</StageXPosition><StageYPosition>%.3f</StageYPosition>"
                 "<FocusPosition>%.3f</FocusPosition></Tags></METADATA>",
                 Iso(time).c_str(), 1000.0 + t.x * spec.scale_xy_um.value_or(1),
                 2000.0 + t.y * spec.scale_xy_um.value_or(1),
                 (t.coords.count('Z') ? t.coords.at('Z') : 0) * spec.scale_z_um.value_or(1));
        xml = buf;
      }
      const size_t fixed = std::max<size_t>(256, 16 + DvSize(e.dims.size()));
      const uint64_t used = fixed + xml.size() + enc.data.size();
      o.SegmentHeader("ZISRAWSUBBLOCK", used);
      o.I32(static_cast<int32_t>(xml.size()));
      o.I32(0);
      o.I64(static_cast<int64_t>(enc.data.size()));
      WriteDv(o, e);
      o.Zeros(fixed - 16 - DvSize(e.dims.size()));
      o.Bytes(xml.data(), xml.size());
      o.Bytes(enc.data.data(), enc.data.size());
      o.PadTo32();
      dir.push_back(std::move(e));
    }
  }
  // Directory.
  const uint64_t dir_pos = o.pos();
  uint64_t dir_used = 128;
  for (const auto& e : dir) dir_used += DvSize(e.dims.size());
  o.SegmentHeader("ZISRAWDIRECTORY", dir_used);
  o.I32(static_cast<int32_t>(dir.size()));
  o.Zeros(124);
  for (const auto& e : dir) WriteDv(o, e);
  o.PadTo32();
  // Metadata.
  const uint64_t md_pos = o.pos();
  const std::string xml =
      DocumentXml(spec, tiles.empty() ? 0 : max_x - min_x, tiles.empty() ? 0 : max_y - min_y);
  o.SegmentHeader("ZISRAWMETADATA", 256 + xml.size());
  o.I32(static_cast<int32_t>(xml.size()));
  o.I32(0);
  o.Zeros(248);
  o.Bytes(xml.data(), xml.size());
  o.PadTo32();
  // Attachments: a JPG thumbnail, time stamps.
  struct Attachment {
    std::string content_type, name;
    std::vector<uint8_t> data;
  };
  std::vector<Attachment> attachments;
  if (spec.thumbnail) {
    std::vector<uint8_t> gray(64 * 64);
    for (size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<uint8_t>((i % 64) * 4);
    CZIFS_ASSIGN_OR_RETURN(std::vector<uint8_t> jpg, EncodeJpg(0, 64, 64, gray));
    attachments.push_back({"JPG", "Thumbnail", std::move(jpg)});
  }
  if (!spec.time_stamps_s.empty()) {
    const int32_t count = static_cast<int32_t>(spec.time_stamps_s.size());
    const int32_t size = 8 + 8 * count;
    std::vector<uint8_t> data(static_cast<size_t>(size));
    std::memcpy(data.data(), &size, 4);
    std::memcpy(data.data() + 4, &count, 4);
    std::memcpy(data.data() + 8, spec.time_stamps_s.data(), 8 * spec.time_stamps_s.size());
    attachments.push_back({"CZTIMS", "TimeStamps", std::move(data)});
  }
  // An attachment entry (128 bytes): in the segment and in the directory.
  auto entry = [&](const Attachment& a, uint64_t pos) {
    o.Bytes("A1", 2);
    o.Zeros(10);
    o.I64(static_cast<int64_t>(pos));
    o.I32(0);
    o.Zeros(16);
    o.Fixed(a.content_type, 8);
    o.Fixed(a.name, 80);
  };
  std::vector<uint64_t> att_pos;
  for (const Attachment& a : attachments) {
    att_pos.push_back(o.pos());
    o.SegmentHeader("ZISRAWATTACH", 256 + a.data.size());
    o.I64(static_cast<int64_t>(a.data.size()));
    o.Zeros(8);
    entry(a, att_pos.back());
    o.Zeros(112);
    o.Bytes(a.data.data(), a.data.size());
    o.PadTo32();
  }
  uint64_t attdir_pos = 0;
  if (!attachments.empty()) {
    attdir_pos = o.pos();
    o.SegmentHeader("ZISRAWATTDIR", 256 + 128 * attachments.size());
    o.I32(static_cast<int32_t>(attachments.size()));
    o.Zeros(252);
    for (size_t k = 0; k < attachments.size(); ++k) entry(attachments[k], att_pos[k]);
    o.PadTo32();
  }
  // Patch the file header.
  if (!o.Seek(32)) return Status::IOError(path + ": seek failed");
  o.I32(1);
  o.I32(0);
  o.I32(0);
  o.I32(0);
  uint8_t guid[16];
  for (int i = 0; i < 16; ++i) guid[i] = static_cast<uint8_t>(Mix(spec.seed + i));
  o.Bytes(guid, 16);
  o.Bytes(guid, 16);
  o.I32(0);
  o.I64(static_cast<int64_t>(dir_pos));
  o.I64(static_cast<int64_t>(md_pos));
  o.I32(0);
  o.I64(static_cast<int64_t>(attdir_pos));
  if (!o.ok()) return Status::IOError(path + ": write failed");
  return Status::Ok();
}

}  // namespace czifs::synth
