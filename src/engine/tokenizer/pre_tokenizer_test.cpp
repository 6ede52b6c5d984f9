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

// DeepSeek LLM's splits, worked out by hand from its tokenizer.json's
// expressions: line breaks; cased letters with one leading space; ASCII and
// full-width punctuation with one leading space; trailing whitespace; CJK;
// digits.
TEST(PreTokenizerTest, DeepSeekLlmSplitsLettersPunctuationCjkAndDigits) {
  auto p = PreTokenizer::ForName("deepseek-llm");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(Split(**p, "Hello world\n123 你好"),
            (std::vector<std::string>{"Hello", " world", "\n", "123", " ", "你好"}));
  EXPECT_EQ(Split(**p, "Hi, there!! 3.14"), (std::vector<std::string>{"Hi", ",", " there", "!!", " ", "3", ".", "14"}));
  EXPECT_EQ(Split(**p, "a Ωμέγα end  "), (std::vector<std::string>{"a", " Ωμέγα", " end", "  "}));
  // Full-width punctuation, Hangul, and an emoji (in none of the classes).
  // The Kelvin sign is a cased letter (" \u212A" is one piece) but also
  // falls in the CJK expression's odd range U+0800-U+4E00, which splits it off.
  EXPECT_EQ(Split(**p, "（注）한국어 \u212A🦙"),
            (std::vector<std::string>{"（", "注", "）", "한국어", " ", "\u212A", "🦙"}));
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
