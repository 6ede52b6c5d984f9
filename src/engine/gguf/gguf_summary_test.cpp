#include "engine/gguf/gguf_summary.h"

#include <gtest/gtest.h>

#include "engine/gguf/gguf_writer.h"

namespace aperture::engine {
namespace {

TEST(GgufSummaryTest, ReadsTheHyperparametersAndCountsParameters) {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetString("general.name", "tiny");
  w.SetUint32("llama.block_count", 2);
  w.SetUint32("llama.embedding_length", 8);
  w.SetUint32("llama.attention.head_count", 4);
  w.SetUint32("llama.attention.head_count_kv", 2);
  w.SetUint32("llama.feed_forward_length", 16);
  w.SetUint32("llama.context_length", 128);
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", {"a", "b", "c"});
  ASSERT_TRUE(w.AddTensor("token_embd.weight", {8, 3}, GgmlType::kF32, std::vector<uint8_t>(8 * 3 * 4)).ok());
  ASSERT_TRUE(w.AddTensor("output_norm.weight", {8}, GgmlType::kF16, std::vector<uint8_t>(8 * 2)).ok());
  auto bytes = w.Serialize();
  ASSERT_TRUE(bytes.ok());
  auto file = GgufFile::FromBuffer(*bytes);
  ASSERT_TRUE(file.ok()) << file.status();
  GgufSummary s = SummarizeGguf(**file);
  EXPECT_EQ(s.gguf_version, 3u);
  EXPECT_EQ(s.architecture, "llama");
  EXPECT_EQ(s.name, "tiny");
  EXPECT_EQ(s.layers, 2u);
  EXPECT_EQ(s.embedding, 8u);
  EXPECT_EQ(s.heads, 4u);
  EXPECT_EQ(s.kv_heads, 2u);
  EXPECT_EQ(s.feed_forward, 16u);
  EXPECT_EQ(s.context, 128u);
  EXPECT_EQ(s.vocab, 3u);
  EXPECT_EQ(s.tokenizer, "llama");
  EXPECT_FALSE(s.chat_template);
  EXPECT_EQ(s.tensors, 2u);
  EXPECT_EQ(s.parameters, 32u);
  EXPECT_EQ(s.parameters_by_type.at("f32"), 24u);
  EXPECT_EQ(s.parameters_by_type.at("f16"), 8u);
  EXPECT_EQ(s.file_bytes, bytes->size());
}

TEST(GgufSummaryTest, WhatTheFileDoesNotSayIsZeroNotGuessed) {
  GgufWriter w;
  w.SetUint32("general.alignment", 32);
  w.SetString("tokenizer.ggml.tokens", "not an array");
  auto bytes = w.Serialize();
  ASSERT_TRUE(bytes.ok());
  auto file = GgufFile::FromBuffer(*bytes);
  ASSERT_TRUE(file.ok()) << file.status();
  GgufSummary s = SummarizeGguf(**file);
  EXPECT_EQ(s.architecture, "");
  EXPECT_EQ(s.layers, 0u);
  EXPECT_EQ(s.vocab, 0u);
  EXPECT_EQ(s.parameters, 0u);
}

}  // namespace
}  // namespace aperture::engine
