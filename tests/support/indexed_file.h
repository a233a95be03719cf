// For the tests of plane and above: a synthetic CZI written and opened as far
// as the plane module goes (file, index, metadata), without a catalogue.
#pragma once

#include <cstdlib>
#include <memory>

#include "czifs/czi_file.h"
#include "czifs/image_index.h"
#include "czifs/metadata.h"
#include "test_util.h"

namespace czifs::testing {

struct IndexedFile {
  std::shared_ptr<const CziFile> czi;
  std::shared_ptr<const ImageIndex> index;
  std::shared_ptr<const ImageMetadata> metadata;
};

// Writes `spec` to a.czi in `dir` and opens it; an empty IndexedFile (and a
// failed test) when that fails. Metadata that does not parse is empty.
inline IndexedFile WriteAndIndex(const synth::Spec& spec, const TempDir& dir) {
  Status written = synth::WriteSyntheticCzi(spec, dir.File("a.czi"));
  EXPECT_TRUE(written.ok()) << written.ToString();
  if (!written.ok()) return {};
  auto czi = CziFile::Open(dir.File("a.czi"));
  EXPECT_TRUE(czi.ok()) << czi.status().ToString();
  if (!czi.ok()) return {};
  auto index = ImageIndex::Build(**czi);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  if (!index.ok()) return {};
  auto xml = (*czi)->ReadMetadataXml();
  auto metadata =
      std::make_shared<ImageMetadata>(xml.ok() ? ParseImageMetadata(*xml) : ImageMetadata{});
  return {*czi, std::make_shared<const ImageIndex>(std::move(index).value()), metadata};
}

// The index alone of `spec` written to a.czi in `dir`. REQUIRES: it builds
// (WriteAndIndex has failed the test, naming why, if not).
inline ImageIndex IndexOf(const synth::Spec& spec, const TempDir& dir) {
  IndexedFile f = WriteAndIndex(spec, dir);
  if (!f.index) std::abort();  // the failure is reported above
  return *f.index;
}

}  // namespace czifs::testing
