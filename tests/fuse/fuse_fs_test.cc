// FUSE operations called directly, without mounting.
#include "czifs/fuse_fs.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>

#include "../support/specs.h"
#include "../support/test_util.h"

namespace czifs {
namespace {

using testing::TempDir;

class FuseFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.File("src/day1"));
    synth::Spec spec = testing::Mosaic(64, 48, 3, 2);
    spec.sizes = {{'C', 2}, {'Z', 3}};
    testing::WriteOrDie(spec, dir_.File("src/day1/a.czi"));
    testing::WriteOrDie(spec, dir_.File("src/b.czi"));
    ::chmod(dir_.File("src/b.czi").c_str(), 0640);
    testing::WriteFileBytes(dir_.File("src/day1/broken.czi"), std::vector<uint8_t>(64, 0));
    auto cache = Session::Create(1 << 20);
    auto tree = MountTree::Create({dir_.File("src")}, cache);
    ASSERT_TRUE(tree.ok()) << tree.status().ToString();
    fs_ = std::make_unique<FuseFs>(std::move(tree).value(), 2, FuseFsOptions{}, cache);
    fs_->Start();
  }

  fuse_ino_t Resolve(const std::string& path) {
    fuse_ino_t ino = MountTree::kRootIno;
    std::stringstream ss(path);
    std::string part;
    while (std::getline(ss, part, '/')) {
      fuse_entry_param e;
      EXPECT_EQ(fs_->Lookup(ino, part.c_str(), &e), 0) << path;
      ino = e.ino;
    }
    return ino;
  }

  TempDir dir_;
  std::unique_ptr<FuseFs> fs_;
};

TEST_F(FuseFsTest, LookupGivesAttributesOfFilesAndFolders) {
  fuse_entry_param e;
  ASSERT_EQ(fs_->Lookup(MountTree::kRootIno, "b.czi", &e), 0);
  EXPECT_TRUE(S_ISDIR(e.attr.st_mode));
  // Owner and mode follow the source: a 0640 CZI is a 0750 folder of 0640 files.
  EXPECT_EQ(e.attr.st_mode & 0777, 0750u);
  EXPECT_EQ(e.attr.st_uid, ::getuid());
  const fuse_ino_t plane = Resolve("b.czi/S0/C1/T0/Z2.tif");
  struct stat st;
  ASSERT_EQ(fs_->GetAttr(plane, &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_GT(st.st_size, 64 * 48 * 2);
  EXPECT_EQ(st.st_blksize, 4096);  // Python's buffered reads of a header stay in it
}

TEST_F(FuseFsTest, MissingNamesAreEnoent) {
  fuse_entry_param e;
  EXPECT_EQ(fs_->Lookup(MountTree::kRootIno, "nope.czi", &e), ENOENT);
  struct stat st;
  EXPECT_EQ(fs_->GetAttr(999999, &st), ENOENT);
}

TEST_F(FuseFsTest, LookupInsideAFileIsEnotdir) {
  const fuse_ino_t info = Resolve("b.czi/info.json");
  fuse_entry_param e;
  EXPECT_EQ(fs_->Lookup(info, "x", &e), ENOTDIR);
  std::vector<DirEntry> listing;
  EXPECT_EQ(fs_->ListDir(info, &listing), ENOTDIR);
}

TEST_F(FuseFsTest, DamagedCziFolderIsEioAndOthersStillWork) {
  fuse_entry_param e;
  ASSERT_EQ(fs_->Lookup(Resolve("day1"), "broken.czi", &e), 0);
  std::vector<DirEntry> listing;
  EXPECT_EQ(fs_->ListDir(e.ino, &listing), EIO);
  EXPECT_EQ(fs_->Lookup(e.ino, "info.json", &e), EIO);
  EXPECT_NE(Resolve("day1/a.czi/S0/C0/T0/Z0.tif"), 0u);
}

TEST_F(FuseFsTest, ListDirGivesDotEntriesThenSortedNames) {
  std::vector<DirEntry> listing;
  ASSERT_EQ(fs_->ListDir(Resolve("b.czi"), &listing), 0);
  std::vector<std::string> names;
  for (const auto& d : listing) names.push_back(d.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       ".", "..", ".zattrs", ".zgroup", "OME", "S0", "S0.ome.tif", "S0.ome.zarr",
                       "attachments", "info.json", "metadata.xml", "planetable.csv", "tiles"}));
}

TEST_F(FuseFsTest, OpenForWritingIsErofsAndFoldersAreEisdir) {
  fuse_file_info fi{};
  fi.flags = O_RDWR;
  EXPECT_EQ(fs_->Open(Resolve("b.czi/info.json"), &fi), EROFS);
  fi.flags = O_WRONLY | O_TRUNC;
  EXPECT_EQ(fs_->Open(Resolve("b.czi/info.json"), &fi), EROFS);
  fi.flags = O_RDONLY;
  EXPECT_EQ(fs_->Open(Resolve("b.czi/S0"), &fi), EISDIR);
  fi = fuse_file_info{};
  fi.flags = O_RDONLY;
  EXPECT_EQ(fs_->Open(Resolve("b.czi/info.json"), &fi), 0);
  EXPECT_EQ(fi.keep_cache, 1u);
}

TEST_F(FuseFsTest, ReadsEqualTheTreeAndStopAtTheEnd) {
  const fuse_ino_t plane = Resolve("b.czi/S0/C0/T0/Z1.tif");
  struct stat st;
  ASSERT_EQ(fs_->GetAttr(plane, &st), 0);
  std::vector<uint8_t> whole, part;
  ASSERT_EQ(fs_->Read(plane, 0, st.st_size + 100, &whole, nullptr), 0);
  EXPECT_EQ(whole.size(), static_cast<size_t>(st.st_size));
  ASSERT_EQ(fs_->Read(plane, 1000, 5000, &part, nullptr), 0);
  EXPECT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + 1000));
  ASSERT_EQ(fs_->Read(plane, st.st_size, 10, &part, nullptr), 0);
  EXPECT_TRUE(part.empty());
}

TEST_F(FuseFsTest, InterruptedReadIsEintr) {
  const fuse_ino_t plane = Resolve("day1/a.czi/S0/C1/T0/Z2.tif");
  std::vector<uint8_t> buf;
  auto interrupt = std::make_shared<Interrupt>();
  interrupt->Raise();
  EXPECT_EQ(fs_->Read(plane, 0, 1 << 20, &buf, interrupt), EINTR);
}

TEST_F(FuseFsTest, HiddenStatsFileCountsDecodesAndIsNotListed) {
  fuse_entry_param e;
  const time_t before = ::time(nullptr);
  ASSERT_EQ(fs_->Lookup(MountTree::kRootIno, FuseFs::kStatsName, &e), 0);
  EXPECT_EQ(e.ino, FuseFs::kStatsIno);
  EXPECT_GE(e.attr.st_mtime, before);  // dated now, not 1970
  fuse_file_info fi{};
  fi.flags = O_RDONLY;
  ASSERT_EQ(fs_->Open(e.ino, &fi), 0);
  EXPECT_EQ(fi.direct_io, 1u);
  std::vector<uint8_t> buf;
  ASSERT_EQ(fs_->Read(e.ino, 0, 4096, &buf, nullptr), 0);
  const std::string text(buf.begin(), buf.end());
  EXPECT_NE(text.find("\"decoded_subblocks\""), std::string::npos) << text;
  fs_->Release(e.ino, &fi);
  std::vector<DirEntry> listing;
  ASSERT_EQ(fs_->ListDir(MountTree::kRootIno, &listing), 0);
  for (const auto& d : listing) EXPECT_NE(d.name, FuseFs::kStatsName);
  EXPECT_EQ(fs_->Lookup(Resolve("b.czi"), FuseFs::kStatsName, &e), ENOENT);
}

TEST_F(FuseFsTest, StatsFileReadsOneSnapshotPerOpenEvenWhileCountersMove) {
  fuse_file_info fi{};
  fi.flags = O_RDONLY;
  ASSERT_EQ(fs_->Open(FuseFs::kStatsIno, &fi), 0);
  std::vector<uint8_t> head, rest, plane;
  ASSERT_EQ(fs_->Read(FuseFs::kStatsIno, 0, 10, &head, nullptr, &fi), 0);
  // Counters move: a plane is read (and decoded) between the two reads.
  ASSERT_EQ(fs_->Read(Resolve("b.czi/S0/C0/T0/Z0.tif"), 0, 1 << 20, &plane, nullptr), 0);
  ASSERT_EQ(fs_->Read(FuseFs::kStatsIno, 10, 4096, &rest, nullptr, &fi), 0);
  std::string text(head.begin(), head.end());
  text.append(rest.begin(), rest.end());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(std::count(text.begin(), text.end(), '}'), 1) << text;
  EXPECT_NE(text, fs_->StatsJson());  // the live counters did move
  fs_->Release(FuseFs::kStatsIno, &fi);
  EXPECT_EQ(fi.fh, 0u);
}

TEST_F(FuseFsTest, ReaddirplusAttributesNeverGenerateFiles) {
  // Find the inode from the listing: a lookup would stat (and generate) it.
  std::vector<DirEntry> listing;
  ASSERT_EQ(fs_->ListDir(Resolve("b.czi"), &listing), 0);
  fuse_ino_t table = 0;
  for (const auto& d : listing) {
    if (d.name == "planetable.csv") table = d.ino;
  }
  ASSERT_NE(table, 0u);
  fuse_entry_param e;
  EXPECT_FALSE(fs_->CheapEntry(table, &e));  // would read every subblock header
  EXPECT_TRUE(fs_->CheapEntry(Resolve("b.czi/S0/C0/T0/Z0.tif"), &e));
  struct stat st;
  ASSERT_EQ(fs_->GetAttr(table, &st), 0);  // a real stat generates it
  EXPECT_TRUE(fs_->CheapEntry(table, &e));
  EXPECT_EQ(e.attr.st_size, st.st_size);
}

TEST(FuseErrnoTest, StatusCodesMapToErrno) {
  EXPECT_EQ(ToErrno(Status::Ok()), 0);
  EXPECT_EQ(ToErrno(Status::NotFound("x")), ENOENT);
  EXPECT_EQ(ToErrno(Status::Corruption("x")), EIO);
  EXPECT_EQ(ToErrno(Status::NotSupported("x")), EIO);
  EXPECT_EQ(ToErrno(Status::IOError("x")), EIO);
  EXPECT_EQ(ToErrno(Status::ResourceExhausted("x")), ENOMEM);
  EXPECT_EQ(ToErrno(Status::Cancelled("x")), EINTR);
  EXPECT_EQ(ToErrno(Status::ResourceExhausted("x").WithErrno(EMFILE).WithContext("y")), EMFILE);
  EXPECT_EQ(ToErrno(Status::ResourceExhausted("x").WithErrno(ENFILE)), ENFILE);
}

// Each test runs in a process of its own (gtest_discover_tests), so the
// limit set here ends with it.
TEST_F(FuseFsTest, OutOfDescriptorsReachesTheReaderAsEmfile) {
#ifdef CZIFS_TEST_UBSAN
  // UBSan checks a new dynamic type by writing memory into a pipe: with
  // every descriptor taken it reports a false "invalid vptr". The same
  // errno path is checked below the tree by SourceDirTest in every build.
  GTEST_SKIP() << "UBSan needs a free descriptor for its own checks";
#endif
  const fuse_ino_t b = Resolve("b.czi");
  struct rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  // No descriptor is free from here on.
  std::vector<int> held;
  for (int fd; (fd = ::dup(0)) >= 0;) {
    held.push_back(fd);
    if (held.size() > 100000) break;
  }
  struct rlimit now = {static_cast<rlim_t>(held.empty() ? 3 : held.back() + 1), old.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &now), 0);
  fuse_entry_param e;
  const int err = fs_->Lookup(b, "info.json", &e);
  for (int fd : held) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_EQ(err, EMFILE);
  EXPECT_EQ(fs_->Lookup(b, "info.json", &e), 0);  // and once there are some again, it works
}

}  // namespace
}  // namespace czifs

namespace czifs {
namespace {

TEST_F(FuseFsTest, StatfsIsReadOnlyAndSizedByTheFilesServedSoFar) {
  struct statvfs before;
  fs_->StatFs(&before);
  EXPECT_TRUE(before.f_flag & ST_RDONLY);
  EXPECT_EQ(before.f_bfree, 0u);
  fuse_entry_param e;
  ASSERT_EQ(fs_->Lookup(MountTree::kRootIno, "b.czi", &e), 0);
  // Opens the CZI and lists the folder of one time point: its planes are known.
  for (const char* name : {"S0", "C0", "T0"}) {
    std::vector<DirEntry> listing;
    ASSERT_EQ(fs_->ListDir(e.ino, &listing), 0);
    ASSERT_EQ(fs_->Lookup(e.ino, name, &e), 0) << name;
  }
  std::vector<DirEntry> listing;
  ASSERT_EQ(fs_->ListDir(e.ino, &listing), 0);
  ASSERT_FALSE(listing.empty());
  struct statvfs after;
  fs_->StatFs(&after);
  EXPECT_GT(after.f_files, before.f_files);
  EXPECT_GT(after.f_blocks * after.f_frsize, 1000u);
}

}  // namespace
}  // namespace czifs
