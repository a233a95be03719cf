// RandomAccessFile over the io seam: the file system in memory
// (tests/support/memory_fs.h) changes files between calls, fails and
// shortens reads and runs out of descriptors on demand, with no sleeps.
#include "czifs/random_access_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>

#include "../support/memory_fs.h"

namespace czifs {
namespace {

using testing::MemoryFileSystem;
using Op = MemoryFileSystem::Op;

std::vector<uint8_t> Pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + 3);
  return v;
}

std::unique_ptr<RandomAccessFile> OpenOn(const std::shared_ptr<MemoryFileSystem>& fs,
                                         const std::string& path,
                                         std::shared_ptr<DescriptorPool> pool = nullptr) {
  auto f = RandomAccessFile::Open(path, std::move(pool), fs);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? std::move(f).value() : nullptr;
}

TEST(FileIdentityTest, ASameSizeRewriteWithItsMtimeRestoredIsAnotherFile) {
  struct stat st {};
  st.st_size = 4;
  st.st_mtim = {100, 5};
  st.st_ctim = {100, 5};
  const FileIdentity before = IdentityOf(st);
  st.st_ctim = {101, 0};  // the rewrite moved the ctime; the mtime was put back
  const FileIdentity after = IdentityOf(st);
  EXPECT_FALSE(after.SameContent(before));
  EXPECT_TRUE(after.SameButCtime(before));  // for the fingerprint to settle
}

TEST(RandomAccessFileTest, ReadsFailOnceTheFileChangedEvenWithItsMtimeRestored) {
  auto fs = MemoryFileSystem::Create();
  fs->Write("/f", {'a', 'a', 'a', 'a'});
  auto file = OpenOn(fs, "/f");
  ASSERT_NE(file, nullptr);
  uint8_t buf[4];
  ASSERT_TRUE(file->ReadExact(0, 4, buf).ok());
  const FileIdentity id = file->identity();
  fs->Write("/f", {'b', 'b', 'b', 'b'});
  fs->SetMtime("/f", id.mtime);
  const Status st = file->ReadExact(0, 4, buf);
  EXPECT_EQ(st.code(), StatusCode::kIOError) << st.ToString();
}

TEST(RandomAccessFileTest, AChmodAloneKeepsTheFileReadableAFingerprintedRewriteDoesNot) {
  auto fs = MemoryFileSystem::Create();
  fs->Write("/f", Pattern(4096));
  auto file = OpenOn(fs, "/f");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->SetFingerprint({{0, 512}}).ok());
  std::vector<uint8_t> buf(4096);
  fs->Chmod("/f", 0600);  // the ctime moves, the fingerprint's bytes stay
  ASSERT_TRUE(file->ReadExact(0, 4096, buf.data()).ok());
  EXPECT_EQ(buf, Pattern(4096));
  // The same size and mtime, other bytes inside the fingerprint: another version.
  const timespec mtime = fs->IdentityOf("/f").mtime;
  auto other = Pattern(4096);
  other[100] ^= 1;
  fs->Write("/f", other);
  fs->SetMtime("/f", mtime);
  EXPECT_EQ(file->ReadExact(0, 16, buf.data()).code(), StatusCode::kIOError);
}

TEST(RandomAccessFileTest, AFingerprintThatCannotBeReadAfterAChmodFailsThatReadOnly) {
  auto fs = MemoryFileSystem::Create();
  fs->Write("/f", Pattern(4096));
  auto file = OpenOn(fs, "/f");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->SetFingerprint({{0, 512}}).ok());
  fs->Chmod("/f", 0600);
  // The read wants [2048, 2064); checking the moved ctime reads [0, 512) first.
  fs->Inject({.op = Op::kRead, .offset = 0, .length = 512, .err = EIO, .times = 1});
  std::vector<uint8_t> buf(16);
  const Status st = file->ReadExact(2048, 16, buf.data());
  EXPECT_EQ(st.code(), StatusCode::kIOError) << st.ToString();
  ASSERT_TRUE(file->ReadExact(2048, 16, buf.data()).ok());  // checked again: the same version
  EXPECT_EQ(buf[0], Pattern(4096)[2048]);
}

TEST(RandomAccessFileTest, AFileRewrittenBetweenTheCheckAndTheReadIsNeverServed) {
  auto fs = MemoryFileSystem::Create();
  fs->Write("/f", Pattern(1000));
  auto file = OpenOn(fs, "/f");
  ASSERT_NE(file, nullptr);
  // The first read lands after the identity check: a writer gets in between.
  bool rewritten = false;
  fs->SetHook([&](Op op, const std::string&) {
    if (op == Op::kRead && !rewritten) {
      rewritten = true;
      fs->Write("/f", std::vector<uint8_t>(1000, 0xEE));
    }
  });
  std::vector<uint8_t> buf(1000);
  EXPECT_EQ(file->ReadExact(0, 1000, buf.data()).code(), StatusCode::kIOError);
  EXPECT_TRUE(rewritten);
  std::vector<uint8_t> rows(10 * 100);
  EXPECT_EQ(file->ReadRows(0, 100, 10, rows.data(), 100).code(), StatusCode::kIOError);
}

TEST(RandomAccessFileTest, ShortReadsAreReadOnUntilEveryByteIsIn) {
  auto fs = MemoryFileSystem::Create();
  fs->Write("/f", Pattern(5000));
  auto file = OpenOn(fs, "/f");
  ASSERT_NE(file, nullptr);
  fs->Inject({.op = Op::kRead, .short_read = 7});  // every read returns at most 7 bytes
  std::vector<uint8_t> buf(5000);
  ASSERT_TRUE(file->ReadExact(0, 5000, buf.data()).ok());
  EXPECT_EQ(buf, Pattern(5000));
  // 40 rows of 100 bytes from offset 13, 120 apart: each row ends short.
  std::vector<uint8_t> rows(40 * 120, 0);
  ASSERT_TRUE(file->ReadRows(13, 100, 40, rows.data(), 120).ok());
  const auto want = Pattern(5000);
  for (size_t r = 0; r < 40; ++r) {
    ASSERT_TRUE(std::equal(want.begin() + 13 + r * 100, want.begin() + 13 + (r + 1) * 100,
                           rows.begin() + r * 120))
        << "row " << r;
  }
}

TEST(RandomAccessFileTest, AStorageErrorIsAnIOErrorAndTheNextReadWorks) {
  auto fs = MemoryFileSystem::Create();
  fs->Write("/f", Pattern(100));
  auto file = OpenOn(fs, "/f");
  ASSERT_NE(file, nullptr);
  fs->Inject({.op = Op::kRead, .offset = 50, .length = 10, .err = EIO, .times = 1});
  std::vector<uint8_t> buf(100);
  const Status failed = file->ReadExact(40, 20, buf.data());
  EXPECT_EQ(failed.code(), StatusCode::kIOError);
  EXPECT_NE(failed.message().find("read at offset"), std::string::npos) << failed.ToString();
  ASSERT_TRUE(file->ReadExact(0, 50, buf.data()).ok());   // not in the failing range
  ASSERT_TRUE(file->ReadExact(40, 20, buf.data()).ok());  // the storage recovered
  EXPECT_EQ(buf[0], Pattern(100)[40]);
}

TEST(RandomAccessFileTest, OutOfDescriptorsOnReopenIsResourceExhaustedNotAMissingFile) {
  auto fs = MemoryFileSystem::Create();
  fs->Write("/a", Pattern(64));
  fs->Write("/b", Pattern(64));
  auto pool = std::make_shared<DescriptorPool>(1);
  auto a = OpenOn(fs, "/a", pool);
  auto b = OpenOn(fs, "/b", pool);  // closes a's
  ASSERT_TRUE(a && b);
  fs->Inject({.op = Op::kOpen, .err = EMFILE, .times = 1});
  uint8_t buf[8];
  const Status st = a->ReadExact(0, 8, buf);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  EXPECT_EQ(st.sys_errno(), EMFILE);
  EXPECT_TRUE(a->ReadExact(0, 8, buf).ok());  // descriptors again: it works
  EXPECT_EQ(pool->OpenCount(), 1u);
}

TEST(RandomAccessFileTest, AFileRemovedWhileOpenIsStillReadAFileReplacedIsNot) {
  auto fs = MemoryFileSystem::Create();
  fs->Write("/kept", Pattern(64));
  fs->Write("/gone", Pattern(64));
  auto pool = std::make_shared<DescriptorPool>(2);
  auto kept = OpenOn(fs, "/kept", pool);
  auto gone = OpenOn(fs, "/gone", pool);
  ASSERT_TRUE(kept && gone);
  fs->Remove("/gone");  // its open descriptor keeps the bytes
  uint8_t buf[8];
  EXPECT_TRUE(gone->ReadExact(0, 8, buf).ok());
  pool->SetMaxOpen(1);
  auto third = OpenOn(fs, "/kept", pool);  // evicts the others' descriptors
  fs->Replace("/kept", Pattern(64));       // another inode under the name
  const Status st = kept->ReadExact(0, 8, buf);
  EXPECT_EQ(st.code(), StatusCode::kIOError) << st.ToString();
}

}  // namespace
}  // namespace czifs
