#include "engine/tokenizer/pre_tokenizer.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

std::vector<std::string> Split(const PreTokenizer& p, std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view s : p.Split(text)) out.emplace_back(s);
  return out;
}

TEST(PreTokenizerTest, Gpt2SplitsWordsNumbersAndSpaces) {
  auto p = PreTokenizer::ForName("gpt-2");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(Split(**p, "Hello world's  123!!"), (std::vector<std::string>{"Hello", " world", "'s", " ", " 123", "!!"}));
  EXPECT_EQ(Split(**p, "héllo мир"), (std::vector<std::string>{"héllo", " мир"}));
}

TEST(PreTokenizerTest, Llama3GroupsDigitsInThrees) {
  auto p = PreTokenizer::ForName("llama-bpe");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(Split(**p, "1234567 I'M here\n\n"),
            (std::vector<std::string>{"123", "456", "7", " I", "'M", " here", "\n\n"}));
}

TEST(PreTokenizerTest, PiecesAlwaysConcatenateBackIncludingInvalidUtf8) {
  for (const std::string& name : PreTokenizer::KnownNames()) {
    auto p = PreTokenizer::ForName(name);
    ASSERT_TRUE(p.ok()) << name << ": " << p.status();
    const std::string text = "a\xFF\xFE b \xE2\x82 12345 🦙\t\n x";
    std::string joined;
    for (std::string_view s : (*p)->Split(text)) {
      EXPECT_FALSE(s.empty()) << name;
      joined += s;
    }
    EXPECT_EQ(joined, text) << name;
  }
}

TEST(PreTokenizerTest, UnknownNameIsAnError) {
  auto p = PreTokenizer::ForName("no-such-pre");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(std::string(p.status().message()).find("no-such-pre"), std::string::npos);
}

}  // namespace
}  // namespace aperture::engine
