// Helpers shared by the unit tests: temporary files and writer shortcuts.
#pragma once

#include <gtest/gtest.h>
#include <tiffio.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "czi_writer.h"

namespace czifs::testing {

// A temporary folder removed at destruction.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/czifs-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::vector<uint8_t> ReadFileBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

inline void WriteFileBytes(const std::string& path, const std::vector<uint8_t>& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// Writes `spec` to `path`, failing the test on error.
inline void WriteOrDie(const synth::Spec& spec, const std::string& path) {
  Status st = synth::WriteSyntheticCzi(spec, path);
  ASSERT_TRUE(st.ok()) << st.ToString();
}

// The corpus folder: $CZIFS_TEST_DATA or the default next to the project.
inline std::string CorpusDir() {
  const char* env = std::getenv("CZIFS_TEST_DATA");
  return env ? env : CZIFS_TEST_DATA_DEFAULT;
}

// Decodes a TIFF file's pixels with libtiff (TIFF sample order, packed rows).
inline std::vector<uint8_t> TiffPixels(const std::vector<uint8_t>& bytes, const TempDir& dir,
                                       uint32_t* w, uint32_t* h) {
  WriteFileBytes(dir.File("plane.tif"), bytes);
  TIFF* tif = TIFFOpen(dir.File("plane.tif").c_str(), "r");
  EXPECT_NE(tif, nullptr);
  if (!tif) return {};
  TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, w);
  TIFFGetField(tif, TIFFTAG_IMAGELENGTH, h);
  const size_t row = TIFFScanlineSize(tif);
  std::vector<uint8_t> px(row * *h);
  for (uint32_t y = 0; y < *h; ++y) TIFFReadScanline(tif, px.data() + y * row, y);
  TIFFClose(tif);
  return px;
}

}  // namespace czifs::testing
