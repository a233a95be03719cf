// Storage that fails under a CZI's tree (the io seam's file system in
// memory): every read, open and stat czifs makes of the source is failed in
// turn. Each fault fails only what needed that call — the open, or the one
// file being read, with an IOError — never serves other bytes, and once the
// storage answers again the same document serves everything (an I/O error
// is not remembered as a damaged tile).
#include <gtest/gtest.h>

#include <cerrno>
#include <map>

#include "../support/document_tree.h"
#include "../support/memory_fs.h"
#include "../support/specs.h"
#include "../support/test_util.h"
#include "czifs/tree.h"

namespace czifs {
namespace {

using testing::CollectFiles;
using testing::MemoryFileSystem;
using Op = MemoryFileSystem::Op;

struct Outcome {
  Status open;                                        // of the document
  std::map<std::string, std::vector<uint8_t>> files;  // read whole
  std::map<std::string, Status> failed;               // and why not
};

// Reads every file of `tree` whole (in 64 KiB pieces, as the kernel asks).
void ReadFiles(const TreeNode& root, Outcome* o) {
  std::vector<std::pair<std::string, const VirtualFile*>> files;
  CollectFiles(root, "", &files);
  for (const auto& [name, f] : files) {
    auto size = f->Size();
    if (!size.ok()) {
      o->failed[name] = size.status();
      continue;
    }
    std::vector<uint8_t> bytes(*size);
    const Status st = testing::ReadRange(*f, 0, bytes.size(), 64 << 10, bytes.data());
    if (st.ok()) {
      o->files[name] = std::move(bytes);
      o->failed.erase(name);
    } else {
      o->failed[name] = st;
    }
  }
}

std::shared_ptr<MemoryFileSystem> FileSystemWith(const std::vector<uint8_t>& czi) {
  auto fs = MemoryFileSystem::Create();
  fs->Write("/src/a.czi", czi);
  return fs;
}

std::vector<uint8_t> WrittenCzi(synth::Codec codec) {
  testing::TempDir dir;
  synth::Spec spec = testing::Mosaic(40, 24, 2, 2);
  spec.sizes = {{'C', 2}, {'Z', 2}};
  spec.codec = codec;
  testing::WriteOrDie(spec, dir.File("a.czi"));
  return testing::ReadFileBytes(dir.File("a.czi"));
}

// Opens /src/a.czi on `fs`, reads everything, then (faults cleared) reads
// again whatever failed.
Outcome ReadOn(const std::shared_ptr<MemoryFileSystem>& fs, bool retry) {
  Outcome o;
  auto tree = testing::OpenDocumentTree("/src/a.czi", Session::Create(4 << 20, 16, fs));
  if (!tree.ok()) {
    o.open = tree.status();
    return o;
  }
  ReadFiles(*tree->root, &o);
  if (retry) {
    fs->ClearFaults();
    ReadFiles(*tree->root, &o);
  }
  return o;
}

class StorageFaultTest : public ::testing::TestWithParam<synth::Codec> {};

TEST_P(StorageFaultTest, EveryReadOfTheSourceFailingInTurnFailsOnlyWhatNeededIt) {
  const auto czi = WrittenCzi(GetParam());
  auto clean_fs = FileSystemWith(czi);
  const Outcome clean = ReadOn(clean_fs, false);
  ASSERT_TRUE(clean.open.ok()) << clean.open.ToString();
  ASSERT_TRUE(clean.failed.empty());
  const uint64_t reads = clean_fs->calls(Op::kRead);
  ASSERT_GT(reads, 10u);  // header, directories, metadata, fingerprint, tiles
  int failed_opens = 0, failed_files = 0;
  for (uint64_t k = 0; k < reads; ++k) {
    auto fs = FileSystemWith(czi);
    fs->Inject({.op = Op::kRead, .err = EIO, .skip = static_cast<int>(k), .times = 1});
    const Outcome o = ReadOn(fs, /*retry=*/true);
    if (!o.open.ok()) {
      ++failed_opens;
      EXPECT_EQ(o.open.code(), StatusCode::kIOError) << "read " << k << ": " << o.open.ToString();
      EXPECT_NE(o.open.ToString().find("read at offset"), std::string::npos) << o.open.ToString();
      continue;
    }
    // What failed was retried once the storage answered: everything served,
    // every byte as from the clean run.
    EXPECT_TRUE(o.failed.empty()) << "read " << k << ": " << o.failed.begin()->first << ": "
                                  << o.failed.begin()->second.ToString();
    for (const auto& [name, bytes] : o.files) {
      EXPECT_TRUE(bytes == clean.files.at(name)) << "read " << k << " changed " << name;
    }
    failed_files += fs->calls(Op::kRead) > reads;  // the retry read again
  }
  EXPECT_GT(failed_opens, 0);
  EXPECT_GT(failed_files, 0);
}

TEST_P(StorageFaultTest, AFailedReadFailsThatFileWithEioAndNoOther) {
  const auto czi = WrittenCzi(GetParam());
  auto clean_fs = FileSystemWith(czi);
  const Outcome clean = ReadOn(clean_fs, false);
  ASSERT_TRUE(clean.open.ok());
  // Every read from the last fifth of the file on fails: the tiles there.
  auto fs = FileSystemWith(czi);
  auto tree = testing::OpenDocumentTree("/src/a.czi", Session::Create(4 << 20, 16, fs));
  ASSERT_TRUE(tree.ok());
  fs->Inject({.op = Op::kRead, .offset = czi.size() * 4 / 5, .err = EIO});
  Outcome o;
  ReadFiles(*tree->root, &o);
  ASSERT_FALSE(o.failed.empty());
  ASSERT_FALSE(o.files.empty());
  for (const auto& [name, st] : o.failed) {
    EXPECT_EQ(st.code(), StatusCode::kIOError) << name << ": " << st.ToString();
  }
  for (const auto& [name, bytes] : o.files) EXPECT_TRUE(bytes == clean.files.at(name)) << name;
}

TEST_P(StorageFaultTest, OpeningOrStattingThatFailsIsAnErrorOfTheOpenOnly) {
  const auto czi = WrittenCzi(GetParam());
  for (Op op : {Op::kOpen, Op::kStat}) {
    auto fs = FileSystemWith(czi);
    fs->Inject({.op = op, .err = EIO, .times = 1});
    const Outcome failed = ReadOn(fs, false);
    if (op == Op::kOpen) {
      EXPECT_EQ(failed.open.code(), StatusCode::kIOError) << failed.open.ToString();
    }
    const Outcome again = ReadOn(fs, false);  // the fault was used up
    EXPECT_TRUE(again.open.ok()) << again.open.ToString();
    EXPECT_TRUE(again.failed.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, StorageFaultTest,
                         ::testing::Values(synth::Codec::kUncompressed, synth::Codec::kZstd1));

}  // namespace
}  // namespace czifs
