// Damaged files: truncations and bit flips over the corpus and writer output.
// The library must return errors, never crash, hang or allocate without
// bound, and a truncated file must never yield plane bytes that differ from
// the intact file's.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <random>

#include "../support/document_tree.h"
#include "../support/specs.h"
#include "../support/test_util.h"
#include "czifs/czi_file.h"
#include "czifs/tree.h"

namespace czifs {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

using testing::CollectFiles;

struct Outcome {
  bool opened = false;
  int files_ok = 0;
  int files_failed = 0;
  std::map<std::string, std::vector<uint8_t>> planes;  // successfully read .tif files
};

constexpr uint64_t kWindow = 1u << 20;

// Reads [offset, end) of `f` into `out`; a failure must say why.
bool ReadInto(const VirtualFile& f, uint64_t offset, uint64_t end, uint8_t* out) {
  const Status read = testing::ReadRange(f, offset, end, kWindow, out);
  EXPECT_TRUE(read.ok() || !read.message().empty());
  return read.ok();
}

// A flipped bit in a tile's position can make a plane hundreds of gigabytes
// tall or wide, nearly all of it background: reading every byte of it would
// only repeat the same code for hours. Its first and last windows and 30
// spread between them go through every path a read of it takes (tags,
// strips, tiles, the end).
bool ReadSpread(const VirtualFile& f, uint64_t size, uint8_t* window) {
  constexpr uint64_t kSamples = 32;
  for (uint64_t i = 0; i < kSamples; ++i) {
    const uint64_t at = std::min(size - kWindow, size / (kSamples - 1) * i);
    if (!ReadInto(f, at, at + kWindow, window)) return false;
  }
  return true;
}

Outcome ReadEverything(const std::string& path) {
  Outcome o;
  auto tree = testing::OpenDocumentTree(path, Session::Create(8 << 20));
  if (!tree.ok()) {
    EXPECT_FALSE(tree.status().message().empty());
    return o;
  }
  o.opened = true;
  std::vector<std::pair<std::string, const VirtualFile*>> files;
  CollectFiles(*tree->root, "", &files);
  for (const auto& [name, f] : files) {
    auto size = f->Size();
    if (!size.ok()) {
      ++o.files_failed;
      continue;
    }
    // Keep small files whole for comparison; read big ones through a window.
    const bool keep = *size <= (64u << 20);
    std::vector<uint8_t> buf(keep ? *size : kWindow);
    const bool ok = keep ? ReadInto(*f, 0, *size, buf.data()) : ReadSpread(*f, *size, buf.data());
    if (ok) {
      ++o.files_ok;
      if (keep && name.size() > 4 && name.substr(name.size() - 4) == ".tif") {
        o.planes[name] = std::move(buf);
      }
    } else {
      ++o.files_failed;
    }
  }
  return o;
}

std::vector<std::string> Inputs(const TempDir& dir) {
  std::vector<std::string> inputs;
  synth::Spec spec = testing::Mosaic(48, 32, 2, 2);
  spec.sizes = {{'C', 2}, {'Z', 2}};
  spec.pyramid_levels = 1;
  for (auto codec :
       {synth::Codec::kZstd1HiLo, synth::Codec::kUncompressed, synth::Codec::kJpegXr}) {
    spec.codec = codec;
    const std::string p = dir.File("w" + std::to_string(inputs.size()) + ".czi");
    testing::WriteOrDie(spec, p);
    inputs.push_back(p);
  }
  const fs::path corpus(testing::CorpusDir());
  if (!fs::is_directory(corpus) && std::getenv("CI") != nullptr) {
    ADD_FAILURE() << "CZI corpus not found at " << corpus << " (required under CI)";
  }
  if (fs::is_directory(corpus)) {
    for (const auto& e : fs::directory_iterator(corpus)) {
      if (e.path().extension() == ".czi" && e.file_size() <= (2 << 20)) {
        inputs.push_back(e.path().string());
      }
    }
  }
  std::sort(inputs.begin(), inputs.end());
  return inputs;
}

TEST(CorruptionTest, TruncatedFilesFailCleanlyAndNeverServeWrongPlaneBytes) {
  TempDir dir;
  int variants = 0, rejected = 0, partial = 0;
  for (const std::string& input : Inputs(dir)) {
    const auto bytes = testing::ReadFileBytes(input);
    const Outcome intact = ReadEverything(input);
    ASSERT_TRUE(intact.opened) << input;
    std::vector<size_t> cuts = {0, 16, 31, 32, 100, 543, 544, bytes.size() - 1};
    for (int k = 1; k < 12; ++k) cuts.push_back(bytes.size() * k / 12);
    for (size_t cut : cuts) {
      if (cut >= bytes.size()) continue;
      // Under the input's own name: served files carry it (the OME-XML's image names).
      fs::create_directories(dir.File("cut"));
      const std::string p = dir.File("cut/" + fs::path(input).filename().string());
      testing::WriteFileBytes(p, std::vector<uint8_t>(bytes.begin(), bytes.begin() + cut));
      const Outcome o = ReadEverything(p);
      ++variants;
      if (!o.opened) ++rejected;
      if (o.files_failed) ++partial;
      for (const auto& [name, data] : o.planes) {
        auto it = intact.planes.find(name);
        ASSERT_NE(it, intact.planes.end()) << input << " cut " << cut << ": " << name;
        EXPECT_TRUE(it->second == data)
            << input << " cut at " << cut << ": " << name << " differs from the intact file";
      }
    }
  }
  std::printf("truncations: %d variants, %d rejected at open, %d with failing files\n", variants,
              rejected, partial);
  EXPECT_GT(rejected, 0);
}

TEST(CorruptionTest, BitFlipsAnywhereNeverCrash) {
  TempDir dir;
  int variants = 0, rejected = 0, failing = 0;
  for (const std::string& input : Inputs(dir)) {
    // Seeded by the file's name, not its place in the list: the same flips
    // wherever the corpus and the temporary folder are.
    std::mt19937_64 rng(std::hash<std::string>{}(fs::path(input).filename().string()));
    const auto bytes = testing::ReadFileBytes(input);
    auto czi = CziFile::Open(input);
    ASSERT_TRUE(czi.ok());
    // Aim at the structures: file header, directory, subblock headers, pixel data.
    std::vector<uint64_t> targets;
    for (int i = 0; i < 4; ++i) targets.push_back(32 + rng() % 80);
    const uint64_t dir_pos = (*czi)->header().directory_position;
    for (int i = 0; i < 6; ++i)
      targets.push_back(dir_pos + 32 +
                        rng() % std::min<uint64_t>(2000, bytes.size() - dir_pos - 32));
    const auto& sbs = (*czi)->subblocks();
    for (int i = 0; i < 6 && !sbs.empty(); ++i) {
      const auto& e = sbs[rng() % sbs.size()];
      targets.push_back(e.file_position + rng() % 300);
    }
    for (int i = 0; i < 4; ++i) targets.push_back(rng() % bytes.size());
    for (uint64_t t : targets) {
      if (t >= bytes.size()) continue;
      auto copy = bytes;
      const int bit = static_cast<int>(rng() % 8);
      copy[t] ^= static_cast<uint8_t>(1u << bit);
      const std::string p = dir.File("flip.czi");
      testing::WriteFileBytes(p, copy);
      const auto start = std::chrono::steady_clock::now();
      const Outcome o = ReadEverything(p);
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (secs > 5) {  // not a failure by itself: says where the time goes if one hangs
        std::printf("slow variant: %s, bit %d of byte %llu: %.1f s\n", input.c_str(), bit,
                    static_cast<unsigned long long>(t), secs);
        std::fflush(stdout);
      }
      ++variants;
      if (!o.opened) ++rejected;
      if (o.files_failed) ++failing;
    }
  }
  std::printf("bit flips: %d variants, %d rejected at open, %d with failing files\n", variants,
              rejected, failing);
  EXPECT_GT(variants, 100);
}

// A 2x2 Gray16 zstd mosaic with overlap whose tile at mosaic index `bad_m`
// has a damaged zstd frame (its magic number), written to `path`.
struct DamagedMosaic {
  synth::Spec spec;
  std::vector<synth::Tile> tiles;
  int32_t bad_m = 2;
};

// The mosaic's shape, without writing or damaging anything.
DamagedMosaic MosaicSpec() {
  DamagedMosaic d;
  d.spec.tile_width = 40;
  d.spec.tile_height = 24;
  d.spec.tiles_x = 2;
  d.spec.tiles_y = 2;
  d.spec.codec = synth::Codec::kZstd1;
  d.spec.thumbnail = false;
  d.tiles = synth::EnumerateTiles(d.spec);
  return d;
}

DamagedMosaic WriteDamagedMosaic(const std::string& path) {
  DamagedMosaic d = MosaicSpec();
  testing::WriteOrDie(d.spec, path);
  auto bytes = testing::ReadFileBytes(path);
  auto czi = CziFile::Open(path);
  EXPECT_TRUE(czi.ok());
  for (const SubblockEntry& e : (*czi)->subblocks()) {
    if (e.Coord(Dim::kM) != d.bad_m) continue;
    auto extent = (*czi)->ReadSubblockExtent(e.index);
    EXPECT_TRUE(extent.ok());
    bytes[extent->data_offset + 4] ^= 0xff;  // inside the zstd magic number
  }
  testing::WriteFileBytes(path, bytes);
  return d;
}

// Paints the plane as libCZI would with the damaged tile drawn as zeros.
std::vector<uint8_t> PaintWithZeroTile(const DamagedMosaic& d) {
  const synth::ExpectedPlane box = synth::PaintExpected(d.spec, 0, d.tiles[0].coords);
  std::vector<uint8_t> px(box.pixels.size(), 0);
  std::vector<synth::Tile> order = d.tiles;
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.m < b.m; });
  for (const synth::Tile& t : order) {
    const auto pixels = synth::TilePixels(d.spec, t);
    for (uint32_t y = 0; y < t.height; ++y) {
      uint8_t* dst = px.data() + ((t.y - box.y + y) * box.width + (t.x - box.x)) * 2;
      if (t.m == d.bad_m) {
        std::memset(dst, 0, t.width * 2);
      } else {
        std::memcpy(dst, pixels.data() + y * t.width * 2, t.width * 2);
      }
    }
  }
  return px;
}

Result<std::vector<uint8_t>> ReadWhole(const VirtualFile& f) {
  CZIFS_ASSIGN_OR_RETURN(const uint64_t size, f.Size());
  std::vector<uint8_t> out(size);
  for (uint64_t off = 0; off < size;) {
    CZIFS_ASSIGN_OR_RETURN(const size_t n,
                           f.Read(off, std::min<uint64_t>(4096, size - off), out.data() + off));
    if (n == 0) break;
    off += n;
  }
  return out;
}

TEST(DamagedTileTest, UndecodableTileFailsThePlaneNamingFilePlaneTileAndTheWayAround) {
  TempDir dir;
  const DamagedMosaic d = WriteDamagedMosaic(dir.File("a.czi"));
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  const TreeNode* plane = tree->root->Find("S0")->Find("C0")->Find("T0")->Find("Z0.tif");
  ASSERT_NE(plane, nullptr);
  auto got = ReadWhole(*plane->file);
  ASSERT_FALSE(got.ok());
  const std::string msg = got.status().ToString();
  EXPECT_EQ(got.status().code(), StatusCode::kDataLoss) << msg;
  EXPECT_NE(msg.find(dir.File("a.czi")), std::string::npos) << msg;
  EXPECT_NE(msg.find("S0/C0/T0/Z0.tif"), std::string::npos) << msg;
  EXPECT_NE(msg.find("M=" + std::to_string(d.bad_m)), std::string::npos) << msg;
  EXPECT_NE(msg.find("--damaged=zero"), std::string::npos) << msg;
}

TEST(DamagedTileTest, DamagedZeroServesTheTileAsZerosAndEveryOtherPixelExactly) {
  TempDir dir;
  const DamagedMosaic d = WriteDamagedMosaic(dir.File("a.czi"));
  auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20),
                                        TreeOptions{.damaged = DamagedTiles::kZero, .shown = {}});
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  const TreeNode* plane = tree->root->Find("S0")->Find("C0")->Find("T0")->Find("Z0.tif");
  ASSERT_NE(plane, nullptr);
  auto got = ReadWhole(*plane->file);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  const auto expected = PaintWithZeroTile(d);
  uint32_t w = 0, h = 0;
  const auto pixels = testing::TiffPixels(*got, dir, &w, &h);
  ASSERT_EQ(pixels.size(), expected.size());
  EXPECT_TRUE(pixels == expected);
  // The damaged tile really is missing: some pixels differ from the intact plane.
  const synth::ExpectedPlane intact = synth::PaintExpected(d.spec, 0, d.tiles[0].coords);
  EXPECT_NE(intact.pixels, expected);
}

// Makes directory entry `index` of the CZI in `bytes` claim a logical and
// stored size of `w` x `h`.
void ClaimSize(std::vector<uint8_t>* bytes, const CziFile& czi, uint32_t index, int32_t w,
               int32_t h) {
  auto le32 = [&](uint64_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | (*bytes)[at + i];
    return v;
  };
  auto put = [&](uint64_t at, int32_t v) {
    for (int i = 0; i < 4; ++i)
      (*bytes)[at + i] = static_cast<uint8_t>(static_cast<uint32_t>(v) >> (8 * i));
  };
  uint64_t at = static_cast<uint64_t>(czi.header().directory_position) + 32 + 128;
  for (uint32_t k = 0; k < index; ++k) at += 32 + 20 * le32(at + 28);
  const uint32_t dims = le32(at + 28);
  for (uint32_t d = 0; d < dims; ++d) {
    const uint64_t dim = at + 32 + 20 * d;
    const char name = static_cast<char>((*bytes)[dim]);
    if (name == 'X' || name == 'Y') {
      put(dim + 8, name == 'X' ? w : h);   // size
      put(dim + 16, name == 'X' ? w : h);  // stored size
    }
  }
}

TEST(DamagedTileTest, AnEntryClaimingASizeTheFileCannotHoldIsADamagedTileNotAHugePlane) {
  TempDir dir;
  DamagedMosaic d = MosaicSpec();
  d.bad_m = 3;  // the last tile drawn: it spoils all it claims, nothing draws over it
  testing::WriteOrDie(d.spec, dir.File("intact.czi"));
  auto czi = CziFile::Open(dir.File("intact.czi"));
  ASSERT_TRUE(czi.ok());
  EXPECT_TRUE((*czi)->size_problems().empty());
  auto bytes = testing::ReadFileBytes(dir.File("intact.czi"));
  uint32_t bad = 0;
  for (const SubblockEntry& e : (*czi)->subblocks()) {
    if (e.Coord(Dim::kM) == d.bad_m) bad = e.index;
  }
  ClaimSize(&bytes, **czi, bad, 100000, 100000);
  testing::WriteFileBytes(dir.File("a.czi"), bytes);
  auto intact = testing::OpenDocumentTree(dir.File("intact.czi"), Session::Create(1 << 20));
  ASSERT_TRUE(intact.ok());
  const auto intact_size =
      *intact->root->Find("S0")->Find("C0")->Find("T0")->Find("Z0.tif")->file->Size();
  for (DamagedTiles policy : {DamagedTiles::kFail, DamagedTiles::kZero}) {
    auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20),
                                          TreeOptions{.damaged = policy, .shown = {}});
    ASSERT_TRUE(tree.ok()) << tree.status().ToString();
    // Said once, with the file and the entry.
    ASSERT_EQ(tree->problems.size(), 1u);
    EXPECT_NE(tree->problems[0].ToString().find(
                  fmt::format("subblock directory entry {} claims 100000x100000", bad)),
              std::string::npos)
        << tree->problems[0].ToString();
    // The plane is the intact file's size (not 100000 x 100000), no tile file
    // is made of the entry, and the zarr image has the intact number of chunks.
    const TreeNode* plane = tree->root->Find("S0")->Find("C0")->Find("T0")->Find("Z0.tif");
    ASSERT_NE(plane, nullptr);
    EXPECT_EQ(*plane->file->Size(), intact_size);
    EXPECT_EQ(tree->root->Find("tiles")->Find("S0")->Find("C0")->Find("T0")->Find("Z0")->Find(
                  fmt::format("M{}.tif", d.bad_m)),
              nullptr);
    auto got = ReadWhole(*plane->file);
    if (policy == DamagedTiles::kFail) {
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.status().code(), StatusCode::kDataLoss) << got.status().ToString();
      EXPECT_NE(got.status().message().find("claims 100000x100000"), std::string::npos);
    } else {
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      // Drawn as zeros from its corner over all it claims (within the plane).
      const synth::ExpectedPlane box = synth::PaintExpected(d.spec, 0, d.tiles[0].coords);
      std::vector<uint8_t> expected = box.pixels;
      for (const synth::Tile& t : d.tiles) {
        if (t.m != d.bad_m) continue;
        for (uint32_t y = t.y - box.y; y < box.height; ++y) {
          std::memset(expected.data() + (y * box.width + (t.x - box.x)) * 2, 0,
                      (box.width - (t.x - box.x)) * 2);
        }
      }
      uint32_t w = 0, h = 0;
      EXPECT_TRUE(testing::TiffPixels(*got, dir, &w, &h) == expected);
    }
  }
}

TEST(DamagedTileTest, AZarrChunkFollowsTheDamagedTilePolicyAsThePlaneDoes) {
  TempDir dir;
  const DamagedMosaic d = WriteDamagedMosaic(dir.File("a.czi"));
  for (const DamagedTiles policy : {DamagedTiles::kFail, DamagedTiles::kZero}) {
    auto tree = testing::OpenDocumentTree(dir.File("a.czi"), Session::Create(1 << 20),
                                          TreeOptions{.damaged = policy, .shown = {}});
    ASSERT_TRUE(tree.ok()) << tree.status().ToString();
    // The plane is smaller than a chunk: one chunk, the plane's pixels exactly.
    const TreeNode* chunk = tree->root->Find("S0.ome.zarr");
    for (const char* part : {"0", "0", "0", "0", "0", "0"}) {
      ASSERT_NE(chunk, nullptr);
      chunk = chunk->Find(part);
    }
    ASSERT_NE(chunk, nullptr);
    auto got = ReadWhole(*chunk->file);
    if (policy == DamagedTiles::kFail) {
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.status().code(), StatusCode::kDataLoss) << got.status().ToString();
      EXPECT_NE(got.status().ToString().find("S0.ome.zarr/0/0/0/0/0/0"), std::string::npos);
    } else {
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_TRUE(*got == PaintWithZeroTile(d));
    }
  }
}

TEST(DamagedTileTest, StructuralDamageFailsEvenWithDamagedZero) {
  TempDir dir;
  synth::Spec spec = testing::Tiles(40, 24);
  spec.codec = synth::Codec::kZstd1;
  spec.thumbnail = false;
  spec.subblock_metadata = false;
  testing::WriteOrDie(spec, dir.File("a.czi"));
  auto bytes = testing::ReadFileBytes(dir.File("a.czi"));
  auto czi = CziFile::Open(dir.File("a.czi"));
  ASSERT_TRUE(czi.ok());
  // The subblock header claims more data than the segment holds.
  const uint64_t data_size_field = (*czi)->subblocks()[0].file_position + 32 + 8;
  bytes[data_size_field + 3] = 0x7f;
  testing::WriteFileBytes(dir.File("b.czi"), bytes);
  auto tree = testing::OpenDocumentTree(dir.File("b.czi"), Session::Create(1 << 20),
                                        TreeOptions{.damaged = DamagedTiles::kZero, .shown = {}});
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  const TreeNode* plane = tree->root->Find("S0")->Find("C0")->Find("T0")->Find("Z0.tif");
  ASSERT_NE(plane, nullptr);
  auto got = ReadWhole(*plane->file);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kCorruption) << got.status().ToString();
}

}  // namespace
}  // namespace czifs
