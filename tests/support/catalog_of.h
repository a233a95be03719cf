// For the tests of catalog and above: a synthetic CZI's catalogue, without a
// reader or a tree.
#pragma once

#include <memory>

#include "czifs/catalog.h"
#include "indexed_file.h"

namespace czifs::testing {

struct CatalogOf : IndexedFile {
  std::shared_ptr<const Catalog> catalog;  // null when building it failed
};

// Writes `spec` to a.czi in `dir` and builds its catalogue (a failed test if
// it does not build).
inline CatalogOf WriteAndCatalog(const synth::Spec& spec, const TempDir& dir,
                                 const CatalogOptions& options = {}) {
  CatalogOf out{WriteAndIndex(spec, dir), nullptr};
  if (!out.czi) return out;
  auto catalog = Catalog::Build(out.czi, out.index, out.metadata, options);
  EXPECT_TRUE(catalog.ok()) << catalog.status().ToString();
  if (catalog.ok()) out.catalog = *catalog;
  return out;
}

}  // namespace czifs::testing
