#include "czifs/acl.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace czifs {
namespace {

constexpr uint16_t kUserObj = 0x01, kUser = 0x02, kGroupObj = 0x04, kGroup = 0x08, kMask = 0x10,
                   kOther = 0x20;

std::string Acl(const std::vector<std::pair<uint16_t, uint16_t>>& entries, uint32_t version = 2) {
  std::string out;
  auto put = [&](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  put(version, 4);
  for (auto [tag, perm] : entries) {
    put(tag, 2);
    put(perm, 2);
    put(tag == kUser || tag == kGroup ? 1000 : 0xffffffff, 4);
  }
  return out;
}

TEST(AclTest, ImagesLoseExecuteEverywhere) {
  const std::string in = Acl({{kUserObj, 7}, {kUser, 5}, {kGroupObj, 4}, {kMask, 7}, {kOther, 1}});
  EXPECT_EQ(*AclForImages(in),
            Acl({{kUserObj, 6}, {kUser, 4}, {kGroupObj, 4}, {kMask, 6}, {kOther, 0}}));
}

TEST(AclTest, FoldersHaveExecuteExactlyWhereRead) {
  const std::string in = Acl({{kUserObj, 6}, {kUser, 1}, {kGroup, 4}, {kMask, 6}, {kOther, 2}});
  EXPECT_EQ(*AclForFolders(in),
            Acl({{kUserObj, 7}, {kUser, 0}, {kGroup, 5}, {kMask, 7}, {kOther, 2}}));
}

TEST(AclTest, AMaskOfExecuteAloneKeepsItSoTheKernelStillConsultsTheAcl) {
  const std::string in = Acl({{kUserObj, 6}, {kUser, 1}, {kGroupObj, 0}, {kMask, 1}, {kOther, 4}});
  EXPECT_EQ(*AclForImages(in),
            Acl({{kUserObj, 6}, {kUser, 0}, {kGroupObj, 0}, {kMask, 1}, {kOther, 4}}));
  EXPECT_EQ(*AclForFolders(in),
            Acl({{kUserObj, 7}, {kUser, 0}, {kGroupObj, 0}, {kMask, 1}, {kOther, 5}}));
  EXPECT_EQ(ShownGroupBits(0614, 0604), 010u);
  EXPECT_EQ(ShownGroupBits(0640, 0640), 040u);
  EXPECT_EQ(ShownGroupBits(0604, 0604), 0u);
}

TEST(AclTest, MalformedAclsAreCorruptionNotGuesses) {
  EXPECT_FALSE(CheckAcl("").ok());
  EXPECT_FALSE(CheckAcl(Acl({{kUserObj, 6}}, 1)).ok());            // version
  EXPECT_FALSE(CheckAcl(Acl({{kUserObj, 6}}).substr(0, 9)).ok());  // half an entry
  EXPECT_FALSE(CheckAcl(Acl({{0x40, 6}})).ok());                   // unknown tag
  EXPECT_FALSE(CheckAcl(Acl({{kUser | kGroup, 6}})).ok());         // two tags
  EXPECT_FALSE(CheckAcl(Acl({{kUser, 8}})).ok());                  // permission bits
  EXPECT_EQ(AclForImages(Acl({{kUser, 9}})).status().code(), StatusCode::kCorruption);
  EXPECT_TRUE(CheckAcl(Acl({{kUserObj, 6}, {kGroupObj, 4}, {kOther, 4}})).ok());
}

}  // namespace
}  // namespace czifs
