// The tree of one CZI file as the mount shows it below the file's folder,
// built without a MountTree: for tests of the tree itself.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "czifs/czi_document.h"
#include "czifs/session.h"
#include "czifs/tree.h"

namespace czifs::testing {

struct DocumentTree {
  std::shared_ptr<TreeNode> root;
  std::vector<TreeProblem> problems;  // planes left out, and why
};

inline Result<DocumentTree> OpenDocumentTree(const std::string& path,
                                             std::shared_ptr<Session> session,
                                             const TreeOptions& options = {}) {
  CZIFS_ASSIGN_OR_RETURN(auto doc, CziDocument::Open(path, std::move(session)));
  DocumentTree tree;
  tree.root = BuildDocumentTree(std::move(doc), &tree.problems, options);
  return tree;
}

}  // namespace czifs::testing
