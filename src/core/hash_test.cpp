#include "core/hash.h"

#include <gtest/gtest.h>

#include "core/hex.h"

namespace aperture {
namespace {

TEST(HashTest, Sha256KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HashTest, KeyedBlake2bDependsOnKeyAndData) {
  std::string k1(32, 'a'), k2(32, 'b');
  EXPECT_EQ(KeyedBlake2b(k1, "x").size(), 32u);
  EXPECT_NE(KeyedBlake2b(k1, "x"), KeyedBlake2b(k2, "x"));
  EXPECT_NE(KeyedBlake2b(k1, "x"), KeyedBlake2b(k1, "y"));
  EXPECT_EQ(KeyedBlake2b(k1, "x"), KeyedBlake2b(k1, "x"));
}

TEST(HashTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

TEST(HexTest, RoundTripAndRejects) {
  EXPECT_EQ(HexEncode(std::string("\x00\xff\x10", 3)), "00ff10");
  EXPECT_EQ(*HexDecode("00ff10"), std::string("\x00\xff\x10", 3));
  EXPECT_FALSE(HexDecode("0").has_value());
  EXPECT_FALSE(HexDecode("zz").has_value());
}

}  // namespace
}  // namespace aperture
