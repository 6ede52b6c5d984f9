// Greedy generation from the trained stories260K model: readable English,
// identical across runs and thread counts.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "engine/model/runner.h"
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

}  // namespace
}  // namespace aperture::engine
