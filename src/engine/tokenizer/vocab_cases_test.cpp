// Tokenizer cases taken from published tokenizers (testdata/*.json, written
// by scripts/vocab/make_vocab_cases.js): each input must give exactly the
// ids the Hugging Face tokenizer gives it, over a vocabulary cut down to
// the tokens those inputs can reach (which leaves their tokenization
// unchanged), and decode back to the input.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace aperture::engine {
namespace {

class VocabCasesTest : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabCasesTest, EveryCaseMatchesThePublishedTokenizer) {
  const std::string path = std::string(APERTURE_SOURCE_DIR) + "/src/engine/tokenizer/testdata/" + GetParam() + ".json";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path;
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json cases = nlohmann::json::parse(text.str());
  const auto tokens = cases["tokens"].get<std::vector<std::string>>();
  GgufWriter w;
  w.SetString("tokenizer.ggml.model", cases["model"].get<std::string>());
  w.SetString("tokenizer.ggml.pre", cases["pre"].get<std::string>());
  w.SetStringArray("tokenizer.ggml.tokens", tokens);
  w.SetInt32Array("tokenizer.ggml.token_type", std::vector<int32_t>(tokens.size(), 1));
  w.SetStringArray("tokenizer.ggml.merges", cases["merges"].get<std::vector<std::string>>());
  auto bytes = w.Serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto file = GgufFile::FromBuffer(*bytes);
  ASSERT_TRUE(file.ok()) << file.status();
  auto tok = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.status();
  ASSERT_GE(cases["cases"].size(), 10u);
  for (const auto& c : cases["cases"]) {
    const std::string input = c["text"].get<std::string>();
    const std::vector<int32_t> ids = (*tok)->Encode(input, /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << "'" << input << "'";
    EXPECT_EQ((*tok)->Decode(ids), input);
  }
}

// gpt-4o: the o200k vocabulary family, Phi-4-mini's.
INSTANTIATE_TEST_SUITE_P(Published, VocabCasesTest, ::testing::Values("gpt-4o"),
                         [](const auto& info) { return std::string(info.param == "gpt-4o" ? "gpt4o" : info.param); });

}  // namespace
}  // namespace aperture::engine
