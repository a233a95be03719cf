// SourceDir: paths resolved beneath the source folder at every access.
#include "czifs/source_dir.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../support/test_util.h"
#include "czifs/random_access_file.h"

namespace czifs {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

bool Any(std::string_view) { return true; }

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

class SourceDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.File("src/sub"));
    fs::create_directories(dir_.File("outside"));
    Write(dir_.File("src/a.czi"), "inside");
    Write(dir_.File("src/sub/b.czi"), "deeper");
    Write(dir_.File("outside/secret.czi"), "secret");
    auto d = PosixSourceDir::Open(dir_.File("src"));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    src_ = *d;
  }
  std::string ReadAll(const std::string& rel) {
    auto f = src_->OpenFile(rel);
    if (!f.ok()) return "error: " + f.status().message();
    std::string out(f->id.size, '\0');
    auto n = f->file->ReadAt(0, reinterpret_cast<uint8_t*>(out.data()), out.size());
    EXPECT_TRUE(n.ok() && *n == out.size());
    return out;
  }
  TempDir dir_;
  std::shared_ptr<const SourceDir> src_;
};

TEST_F(SourceDirTest, OpensFilesAndFollowsLinksThatStayInside) {
  fs::create_symlink("sub/b.czi", dir_.File("src/rel.czi"));
  fs::create_symlink(dir_.File("src/sub/b.czi"), dir_.File("src/abs.czi"));
  fs::create_symlink("../a.czi", dir_.File("src/sub/up.czi"));
  EXPECT_EQ(ReadAll("a.czi"), "inside");
  EXPECT_EQ(ReadAll("rel.czi"), "deeper");
  EXPECT_EQ(ReadAll("abs.czi"), "deeper");
  EXPECT_EQ(ReadAll("sub/up.czi"), "inside");
}

TEST_F(SourceDirTest, LinksAndDotDotLeadingOutsideFail) {
  fs::create_symlink(dir_.File("outside/secret.czi"), dir_.File("src/abs_out.czi"));
  fs::create_symlink("../outside/secret.czi", dir_.File("src/rel_out.czi"));
  fs::create_symlink(dir_.File("outside"), dir_.File("src/dir_out"));
  fs::create_symlink("/proc/self/root" + dir_.File("outside/secret.czi"),
                     dir_.File("src/magic.czi"));
  for (const char* rel : {"abs_out.czi", "rel_out.czi", "dir_out/secret.czi",
                          "../outside/secret.czi", "sub/../../outside/secret.czi", "magic.czi"}) {
    EXPECT_NE(ReadAll(rel).find("error"), std::string::npos) << rel;
  }
  auto listing = src_->List("", Any);
  ASSERT_TRUE(listing.ok());
  std::vector<std::string> names;
  for (const auto& e : *listing) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a.czi", "sub"}));
}

TEST_F(SourceDirTest, FifosDevicesAndFoldersAreRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo(dir_.File("src/fifo.czi").c_str(), 0644), 0);
  fs::create_symlink("/dev/zero", dir_.File("src/dev.czi"));
  auto f = src_->OpenFile("fifo.czi");  // would block forever without O_NONBLOCK
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("not a regular file"), std::string::npos);
  EXPECT_FALSE(src_->OpenFile("dev.czi").ok());
  EXPECT_FALSE(src_->OpenFile("sub").ok());
  auto listing = src_->List("", Any);
  ASSERT_TRUE(listing.ok());
  for (const auto& e : *listing) EXPECT_NE(e.name, "fifo.czi");
}

TEST_F(SourceDirTest, AFileSwappedForALinkAfterOpeningTheFolderIsStillRefused) {
  ASSERT_EQ(ReadAll("a.czi"), "inside");
  fs::remove(dir_.File("src/a.czi"));
  fs::create_symlink(dir_.File("outside/secret.czi"), dir_.File("src/a.czi"));
  EXPECT_NE(ReadAll("a.czi").find("outside the source folder"), std::string::npos);
  fs::remove_all(dir_.File("src/sub"));
  fs::create_symlink(dir_.File("outside"), dir_.File("src/sub"));
  EXPECT_NE(ReadAll("sub/secret.czi").find("error"), std::string::npos);
}

TEST_F(SourceDirTest, TheFolderIsHeldEvenIfItsPathIsReplaced) {
  fs::rename(dir_.File("src"), dir_.File("moved"));
  fs::create_directories(dir_.File("src"));
  Write(dir_.File("src/a.czi"), "impostor");
  EXPECT_EQ(ReadAll("a.czi"), "inside");
}

TEST_F(SourceDirTest, ListingFiltersFilesByNameAndGivesIdentities) {
  Write(dir_.File("src/notes.txt"), "x");
  auto listing = src_->List("", [](std::string_view n) { return n.ends_with(".czi"); });
  ASSERT_TRUE(listing.ok());
  ASSERT_EQ(listing->size(), 2u);
  EXPECT_EQ((*listing)[0].name, "a.czi");
  EXPECT_FALSE((*listing)[0].is_dir);
  EXPECT_EQ((*listing)[0].id.size, 6u);
  EXPECT_TRUE((*listing)[1].is_dir);
}

// Each test runs in a process of its own (gtest_discover_tests): the
// descriptors taken here go with it.
TEST_F(SourceDirTest, OutOfDescriptorsIsResourceExhaustedCarryingEmfileNeverNotFound) {
  std::vector<int> held;
  for (int fd; held.size() < 1'000'000 && (fd = ::dup(0)) >= 0;) held.push_back(fd);
  auto opened = src_->OpenFile("a.czi");
  auto listed = src_->List("", Any);
  for (int fd : held) ::close(fd);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kResourceExhausted) << opened.status().ToString();
  EXPECT_EQ(opened.status().sys_errno(), EMFILE);
  EXPECT_EQ(opened.status().WithContext("x").sys_errno(), EMFILE);
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.status().sys_errno(), EMFILE);
  EXPECT_EQ(ReadAll("a.czi"), "inside");  // and with descriptors again, it works
}

TEST(RandomAccessFileTest, ReadRowsScattersBackToBackRunsIntoStridedRows) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 3000; ++i) text += static_cast<char>('a' + i % 26);
  Write(dir.File("f"), text);
  auto file = RandomAccessFile::Open(dir.File("f"));
  ASSERT_TRUE(file.ok());
  // 2000 rows of 1 byte (more than one preadv's 1024) from offset 7, 3 apart.
  std::vector<uint8_t> out(2000 * 3, '.');
  ASSERT_TRUE((*file)->ReadRows(7, 1, 2000, out.data(), 3).ok());
  for (size_t r = 0; r < 2000; ++r) {
    ASSERT_EQ(out[r * 3], static_cast<uint8_t>(text[7 + r])) << r;
    ASSERT_EQ(out[r * 3 + 1], '.');
  }
  EXPECT_EQ((*file)->ReadRows(2990, 4, 3, out.data(), 4).code(), StatusCode::kCorruption);
}

TEST(RandomAccessFileTest, AFifoIsRefusedWithoutBlocking) {
  TempDir dir;
  ASSERT_EQ(::mkfifo(dir.File("p").c_str(), 0644), 0);
  EXPECT_FALSE(RandomAccessFile::Open(dir.File("p")).ok());
}

}  // namespace
}  // namespace czifs
