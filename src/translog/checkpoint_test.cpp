#include "translog/checkpoint.h"

#include <gtest/gtest.h>

namespace aperture::translog {
namespace {

TEST(CheckpointTest, FormatsAndParsesTheThreeLines) {
  Checkpoint c{"example.com/behind-the-sofa", 20852163, LeafHash("x")};
  const std::string text = FormatCheckpoint(c);
  EXPECT_EQ(text.substr(0, text.find('\n', text.find('\n') + 1) + 1), "example.com/behind-the-sofa\n20852163\n");
  auto parsed = ParseCheckpoint(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->origin, c.origin);
  EXPECT_EQ(parsed->size, c.size);
  EXPECT_EQ(parsed->root, c.root);
  EXPECT_EQ(FormatCheckpoint({"o", 0, EmptyRoot()}), "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
}

TEST(CheckpointTest, RefusesAnythingElse) {
  const std::string root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
  EXPECT_TRUE(ParseCheckpoint("o\n0\n" + root + "\n").ok());
  EXPECT_FALSE(ParseCheckpoint("o\n0\n" + root).ok());                    // no final newline
  EXPECT_FALSE(ParseCheckpoint("o\n0\n" + root + "\nextension\n").ok());  // extension line
  EXPECT_FALSE(ParseCheckpoint("\n0\n" + root + "\n").ok());              // empty origin
  EXPECT_FALSE(ParseCheckpoint("o\n01\n" + root + "\n").ok());            // leading zero
  EXPECT_FALSE(ParseCheckpoint("o\n-1\n" + root + "\n").ok());
  EXPECT_FALSE(ParseCheckpoint("o\n-0\n" + root + "\n").ok());  // found by fuzz_checkpoint: a second spelling of 0
  EXPECT_FALSE(ParseCheckpoint("o\n1x\n" + root + "\n").ok());
  EXPECT_FALSE(ParseCheckpoint("o\n\n" + root + "\n").ok());
  EXPECT_FALSE(ParseCheckpoint("o\n99999999999999999999\n" + root + "\n").ok());
  EXPECT_FALSE(ParseCheckpoint("o\n1\nAAAA\n").ok());  // not 32 bytes
  EXPECT_FALSE(ParseCheckpoint("o\n1\n" + root.substr(1) + "\n").ok());
  EXPECT_FALSE(ParseCheckpoint("o\n1\n").ok());
}

}  // namespace
}  // namespace aperture::translog
