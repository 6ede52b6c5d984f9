#include "core/glob.h"

#include "gtest/gtest.h"

namespace aperture {
namespace {

TEST(GlobTest, StarsMatchAnyRunOfCharacters) {
  EXPECT_TRUE(GlobMatch("blocks.*.hook_resid_post", "blocks.3.hook_resid_post"));
  EXPECT_TRUE(GlobMatch("blocks.*.hook_resid_post", "blocks.11.hook_resid_post"));
  EXPECT_FALSE(GlobMatch("blocks.*.hook_resid_post", "blocks.3.hook_resid_pre"));
  EXPECT_TRUE(GlobMatch("blocks.3.*", "blocks.3.attn.hook_z"));
  EXPECT_FALSE(GlobMatch("blocks.3.*", "blocks.13.attn.hook_z"));
  EXPECT_TRUE(GlobMatch("*", "hook_embed"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*hook_z", "blocks.0.attn.hook_z"));
  EXPECT_TRUE(GlobMatch("**.hook_*", "blocks.0.hook_mlp_out"));
  EXPECT_TRUE(GlobMatch("blocks.*.attn.*", "blocks.1.attn.hook_pattern"));
  EXPECT_FALSE(GlobMatch("blocks.*.attn.*", "blocks.1.hook_attn_out"));
  EXPECT_TRUE(GlobMatch("hook_embed", "hook_embed"));
  EXPECT_FALSE(GlobMatch("hook_embed", "hook_embedx"));
  EXPECT_FALSE(GlobMatch("", "a"));
  EXPECT_FALSE(GlobMatch("a*b", "ac"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXbYbZc"));
}

}  // namespace
}  // namespace aperture
