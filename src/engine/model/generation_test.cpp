// Greedy generation: from the trained stories260K model, readable English
// identical across runs and thread counts; from generated GQA models of
// every tensor type, the same tokens with 1 and 2 threads.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/model/runner.h"
#include "engine/model/test_model.h"
#include "engine/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

std::string Greedy(const LlamaModel& model, const Tokenizer& tok, int threads, int n) {
  Runner runner(model, {.threads = threads});
  std::vector<int32_t> ids = tok.Encode("Once upon a time", true, false);
  Sequence seq(model.config(), static_cast<int>(ids.size()) + n + 1);
  EXPECT_TRUE(runner.Forward({{BatchEntry{&seq, ids}}}).ok());
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    std::span<const float> logits = runner.Logits(0);
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (tok.IsEndOfGeneration(next)) break;
    out.push_back(next);
    Sequence* s = &seq;
    EXPECT_TRUE(runner.Decode({&s, 1}, {&next, 1}).ok());
  }
  return tok.Decode(out, {.strip_leading_space = false});
}

TEST(GenerationTest, Stories260KWritesReadableEnglishDeterministically) {
  auto model = LlamaModel::Load(std::string(APERTURE_SHARED_DIR) + "/models/stories260K.gguf");
  ASSERT_TRUE(model.ok()) << model.status();
  auto tok = Tokenizer::FromGguf((*model)->gguf());
  ASSERT_TRUE(tok.ok()) << tok.status();
  const std::string text = Greedy(**model, **tok, 1, 40);
  EXPECT_THAT(text, ::testing::StartsWith(", there was a little girl named Lily."));
  // Plain English text: letters, spaces and punctuation only.
  for (char c : text) EXPECT_TRUE(std::isalpha(static_cast<unsigned char>(c)) || std::strchr(" ,.!?'\"\n", c)) << text;
  EXPECT_EQ(text, Greedy(**model, **tok, 1, 40));
  EXPECT_EQ(text, Greedy(**model, **tok, 2, 40));
}

// Greedy ids from a prompt of ids (no tokenizer needed).
std::vector<int32_t> GreedyIds(const LlamaModel& model, int threads, std::vector<int32_t> prompt, int n) {
  Runner runner(model, {.threads = threads});
  Sequence seq(model.config(), static_cast<int>(prompt.size()) + n + 1);
  EXPECT_TRUE(runner.Forward({{BatchEntry{&seq, prompt}}}).ok());
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    std::span<const float> logits = runner.Logits(0);
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(next);
    Sequence* s = &seq;
    EXPECT_TRUE(runner.Decode({&s, 1}, {&next, 1}).ok());
  }
  return out;
}

class GeneratedModelGenerationTest : public ::testing::TestWithParam<const char*> {};

TEST_P(GeneratedModelGenerationTest, GreedyTokensAreTheSameWithOneAndTwoThreads) {
  TestModelSpec spec{.layers = 2, .dim = 256, .heads = 8, .kv_heads = 2, .ffn = 768, .vocab = 400, .seed = 21};
  ASSERT_TRUE(ParseTestModelType(GetParam(), &spec).ok());
  const std::string path = (std::filesystem::temp_directory_path() /
                            (std::string("gen-") + GetParam() + "-" + std::to_string(::getpid()) + ".gguf"))
                               .string();
  ASSERT_TRUE(WriteTestModel(spec, path).ok());
  auto model = LlamaModel::Load(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<int32_t> prompt = {1, 301, 17, 250, 99};
  const std::vector<int32_t> one = GreedyIds(**model, 1, prompt, 24);
  EXPECT_EQ(one, GreedyIds(**model, 2, prompt, 24)) << GetParam();
  EXPECT_EQ(one, GreedyIds(**model, 1, prompt, 24)) << GetParam();
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, GeneratedModelGenerationTest,
                         ::testing::Values("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q2_K", "q3_K", "q4_K", "q5_K",
                                           "q6_K", "iq4_xs", "q4_k_m", "q5_k_m"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace aperture::engine
