// Every case of ../shared/models/vocab/*.inp must give exactly the ids in the
// matching .out (llama.cpp's test-tokenizer-0 format: inputs separated by
// "\n__ggml_vocab_test__\n", one line of ids per input, no BOS).
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

const std::string kVocabDir = std::string(APERTURE_SHARED_DIR) + "/models/vocab/";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> SplitInputs(const std::string& all) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  size_t pos = 0;
  while (pos < all.size()) {
    const size_t next = all.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(all.substr(pos));
      break;
    }
    inputs.push_back(all.substr(pos, next - pos));
    pos = next + sep.size();
  }
  return inputs;
}

std::vector<std::vector<int32_t>> ReadExpected(const std::string& all) {
  std::vector<std::vector<int32_t>> out;
  std::istringstream lines(all);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream ids(line);
    std::vector<int32_t> v;
    int32_t id;
    while (ids >> id) v.push_back(id);
    out.push_back(v);
  }
  return out;
}

class VocabFileTest : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabFileTest, EveryCaseMatchesTheReferenceIds) {
  const std::string base = kVocabDir + GetParam();
  auto file = GgufFile::Open(base);
  ASSERT_TRUE(file.ok()) << file.status();
  auto tok = Tokenizer::FromGguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const auto inputs = SplitInputs(ReadAll(base + ".inp"));
  const auto expected = ReadExpected(ReadAll(base + ".out"));
  ASSERT_EQ(inputs.size(), expected.size());
  ASSERT_GT(inputs.size(), 40u);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<int32_t> ids = (*tok)->Encode(inputs[i], /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(ids, expected[i]) << "case " << i << ": '" << inputs[i] << "'";
    // And back: decoding gives the input again.
    EXPECT_EQ((*tok)->Decode(ids), inputs[i]) << "case " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, VocabFileTest,
                         ::testing::Values("ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"));

}  // namespace
}  // namespace aperture::engine
