// libFuzzer target: parse → decode → compose → TIFF over arbitrary bytes.
// Every plane, info.json and planetable.csv of the input are produced; any
// crash, hang, sanitizer report or unbounded allocation is a bug.
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "czifs/compose.h"
#include "czifs/czi_document.h"
#include "czifs/tree.h"

namespace {

void ReadAll(const czifs::TreeNode& n) {
  std::vector<uint8_t> buf(1 << 20);
  for (const auto& c : n.children) {
    if (c->is_dir) {
      ReadAll(*c);
      continue;
    }
    auto size = c->file->Size();
    if (!size.ok()) continue;
    for (uint64_t off = 0; off < *size && off < (16u << 20);) {
      auto r = c->file->Read(off, buf.size(), buf.data());
      if (!r.ok() || *r == 0) break;
      off += *r;
    }
  }
}

}  // namespace

// Log lines (one per damaged input) only slow the fuzzer down.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto session = czifs::Session::Create(32 << 20);
  const int fd = memfd_create("czifs-fuzz", MFD_CLOEXEC);
  if (fd < 0) return 0;
  if (size > 0 && write(fd, data, size) != static_cast<ssize_t>(size)) {
    close(fd);
    return 0;
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto doc = czifs::CziDocument::Open(path, session);
  if (doc.ok()) ReadAll(*czifs::BuildDocumentTree(std::move(doc).value(), nullptr));
  close(fd);
  return 0;
}
