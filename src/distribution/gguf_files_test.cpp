// The tokenizer and chat template served beside the weights, from real GGUFs
// and from one written here with a known template.
#include "distribution/gguf_files.h"

#include <gtest/gtest.h>

#include "core/json.h"
#include "engine/gguf/gguf_writer.h"

namespace aperture::distribution {
namespace {

TEST(GgufFilesTest, TheTokenizerOfARealModelIsEveryTokenizerKey) {
  auto gguf = engine::GgufFile::Open(APERTURE_SHARED_DIR "/models/stories260K.gguf");
  ASSERT_TRUE(gguf.ok()) << gguf.status();
  GgufSideFiles side = ExtractSideFiles(**gguf);
  EXPECT_EQ(side.architecture, "llama");
  ASSERT_TRUE(side.tokenizer_json.has_value());
  auto json = ParseJson(*side.tokenizer_json);
  ASSERT_TRUE(json.ok());
  const Json& keys = (*json)["metadata"];
  ASSERT_TRUE(keys.contains("tokenizer.ggml.tokens"));
  auto tokens = (*gguf)->GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(keys["tokenizer.ggml.tokens"]["type"], "array[string]");
  ASSERT_EQ(keys["tokenizer.ggml.tokens"]["value"].size(), tokens->size());
  EXPECT_EQ(keys["tokenizer.ggml.tokens"]["value"][100], Json((*tokens)[100]));
  for (const auto& [key, value] : keys.items()) EXPECT_EQ(key.rfind("tokenizer.ggml.", 0), 0u) << key;
  // The same file always gives the same bytes.
  EXPECT_EQ(*ExtractSideFiles(**gguf).tokenizer_json, *side.tokenizer_json);
}

TEST(GgufFilesTest, TheChatTemplateIsServedByteForByte) {
  engine::GgufWriter writer;
  const std::string tmpl = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}";
  writer.SetString("general.architecture", "llama");
  writer.SetString("tokenizer.chat_template", tmpl);
  writer.SetUint32("tokenizer.ggml.bos_token_id", 1);
  auto bytes = writer.Serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto gguf = engine::GgufFile::FromBuffer(*bytes);
  ASSERT_TRUE(gguf.ok()) << gguf.status();
  GgufSideFiles side = ExtractSideFiles(**gguf);
  ASSERT_TRUE(side.chat_template.has_value());
  EXPECT_EQ(*side.chat_template, tmpl);
  auto json = ParseJson(*side.tokenizer_json);
  EXPECT_EQ((*json)["metadata"]["tokenizer.ggml.bos_token_id"], (Json{{"type", "uint32"}, {"value", 1}}));
  EXPECT_FALSE((*json)["metadata"].contains("tokenizer.chat_template"));
}

TEST(GgufFilesTest, AGgufWithoutTokenizerHasNoSideFiles) {
  engine::GgufWriter writer;
  writer.SetString("general.architecture", "llama");
  auto gguf = engine::GgufFile::FromBuffer(*writer.Serialize());
  ASSERT_TRUE(gguf.ok());
  GgufSideFiles side = ExtractSideFiles(**gguf);
  EXPECT_FALSE(side.tokenizer_json.has_value());
  EXPECT_FALSE(side.chat_template.has_value());
}

}  // namespace
}  // namespace aperture::distribution
