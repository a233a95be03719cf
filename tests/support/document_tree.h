// The tree of one CZI file as the mount shows it below the file's folder,
// built without a MountTree: for tests of the tree itself.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "czifs/czi_document.h"
#include "czifs/session.h"
#include "czifs/tree.h"
#include "test_util.h"

namespace czifs::testing {

struct DocumentTree {
  std::shared_ptr<TreeNode> root;
  std::vector<TreeProblem> problems;  // planes left out, and why
};

// Every served file of `kind` the catalogue lists (all of its folders
// walked), by path.
inline void AddServedFiles(const Catalog& catalog, const FolderKey& folder, TiffKind kind,
                           std::map<std::string, ServedTiff>* out) {
  auto entries = catalog.List(folder, CatalogOptions{});
  EXPECT_TRUE(entries.ok()) << entries.status().ToString();
  if (!entries.ok()) return;
  for (const CatalogEntry& e : *entries) {
    if (e.is_dir) {
      AddServedFiles(catalog, e.folder, kind, out);
    } else if (e.tiff.kind == kind) {
      auto tiff = catalog.Describe(e.tiff);
      EXPECT_TRUE(tiff.ok()) << tiff.status().ToString();
      if (tiff.ok()) out->emplace(tiff->path, std::move(tiff).value());
    }
  }
}
inline std::map<std::string, ServedTiff> ServedFiles(const Catalog& catalog, TiffKind kind) {
  std::map<std::string, ServedTiff> out;
  AddServedFiles(catalog, FolderKey{}, kind, &out);
  return out;
}

inline Result<DocumentTree> OpenDocumentTree(const std::string& path,
                                             std::shared_ptr<Session> session,
                                             const TreeOptions& options = {}) {
  CZIFS_ASSIGN_OR_RETURN(auto doc, CziDocument::Open(path, std::move(session)));
  DocumentTree tree;
  tree.root = BuildDocumentTree(std::move(doc), &tree.problems, options);
  return tree;
}

// Writes `spec` to a.czi in `dir` and opens it with a cache of
// `cache_bytes`; nullptr (and a failed test) when either fails.
inline std::shared_ptr<const CziDocument> WriteAndOpen(const synth::Spec& spec, const TempDir& dir,
                                                       uint64_t cache_bytes = 1 << 20) {
  Status written = synth::WriteSyntheticCzi(spec, dir.File("a.czi"));
  EXPECT_TRUE(written.ok()) << written.ToString();
  if (!written.ok()) return nullptr;
  auto doc = CziDocument::Open(dir.File("a.czi"), Session::Create(cache_bytes));
  EXPECT_TRUE(doc.ok()) << doc.status().ToString();
  return doc.ok() ? *doc : nullptr;
}

}  // namespace czifs::testing
