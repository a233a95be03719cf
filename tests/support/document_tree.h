// The tree of one CZI file as the mount shows it below the file's folder,
// built without a MountTree: for tests of the tree itself.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <sstream>
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

// All bytes of `f`, read in pieces of `chunk`.
inline std::vector<uint8_t> ReadAll(const VirtualFile& f, size_t chunk) {
  auto size = f.Size();
  EXPECT_TRUE(size.ok());
  std::vector<uint8_t> out(*size);
  for (uint64_t off = 0; off < out.size();) {
    auto n = f.Read(off, std::min<uint64_t>(chunk, out.size() - off), out.data() + off);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (!n.ok() || *n == 0) break;
    off += *n;
  }
  return out;
}

// Reads [offset, end) of `f` into `out` in requests of `chunk` bytes (as
// the kernel asks); a failed read is the error. A read that ends before the
// file's size fails the test: a reader would see a truncated file.
inline Status ReadRange(const VirtualFile& f, uint64_t offset, uint64_t end, size_t chunk,
                        uint8_t* out) {
  for (const uint64_t start = offset; offset < end;) {
    auto n = f.Read(offset, std::min<uint64_t>(chunk, end - offset), out + (offset - start));
    if (!n.ok()) return n.status();
    if (*n == 0) {
      ADD_FAILURE() << "short file: nothing at byte " << offset << " of " << end;
      return Status::IOError("short file");
    }
    offset += *n;
  }
  return Status::Ok();
}

// The node at `path` ('/'-separated) below `root`, or nullptr.
inline const TreeNode* Walk(const TreeNode& root, const std::string& path) {
  const TreeNode* n = &root;
  std::stringstream ss(path);
  std::string part;
  while (n && std::getline(ss, part, '/')) n = n->Find(part);
  return n;
}

// Every file below `n` with its path from `n` (prefixed by `prefix`).
inline void CollectFiles(const TreeNode& n, const std::string& prefix,
                         std::vector<std::pair<std::string, const VirtualFile*>>* out) {
  for (const auto& c : n.children) {
    const std::string p = prefix.empty() ? c->name : prefix + "/" + c->name;
    if (c->is_dir) {
      CollectFiles(*c, p, out);
    } else {
      out->push_back({p, c->file.get()});
    }
  }
}

}  // namespace czifs::testing
