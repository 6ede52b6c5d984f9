#include "access/api_key.h"

#include <gtest/gtest.h>

#include <set>

namespace aperture {
namespace {

TEST(ApiKeyTest, GeneratedKeysAreWellFormedAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string k = GenerateApiKey();
    EXPECT_EQ(k.size(), kApiKeyLength);
    EXPECT_EQ(k.substr(0, 3), "ak_");
    EXPECT_TRUE(CheckApiKeyFormat(k).ok()) << k;
    seen.insert(k);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(ApiKeyTest, EveryOneCharacterTypoIsCaught) {
  std::string k = GenerateApiKey();
  for (size_t i = 3; i < k.size(); ++i) {
    std::string typo = k;
    typo[i] = typo[i] == 'a' ? 'b' : 'a';
    EXPECT_FALSE(CheckApiKeyFormat(typo).ok()) << i;
  }
  EXPECT_FALSE(CheckApiKeyFormat(k.substr(0, k.size() - 1)).ok());
  EXPECT_FALSE(CheckApiKeyFormat("sk_" + k.substr(3)).ok());
  EXPECT_FALSE(CheckApiKeyFormat(k.substr(0, 10) + "!" + k.substr(11)).ok());
}

TEST(ApiKeyTest, HashIsKeyedAndNeverTheKey) {
  std::string k = GenerateApiKey();
  ApiKeyHasher a(std::string(32, 'a')), b(std::string(32, 'b'));
  EXPECT_EQ(a.Hash(k).size(), 32u);
  EXPECT_NE(a.Hash(k), b.Hash(k));
  EXPECT_EQ(a.Hash(k).find(k.substr(3, 8)), std::string::npos);
}

}  // namespace
}  // namespace aperture
