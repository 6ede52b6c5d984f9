#include "engine/tokenizer/tokenizer.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/utf8.h"
#include "engine/gguf/gguf_reader.h"
#include "engine/gguf/gguf_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kModels = std::string(APERTURE_SHARED_DIR) + "/models/";

// Loaded once: the GGUF file must outlive nothing (the tokenizer copies what it needs).
const Tokenizer& Load(const std::string& path) {
  static auto* cache = new std::map<std::string, std::unique_ptr<Tokenizer>>();
  auto& slot = (*cache)[path];
  if (!slot) {
    auto f = GgufFile::Open(path);
    EXPECT_TRUE(f.ok()) << f.status();
    auto t = Tokenizer::FromGguf(**f);
    EXPECT_TRUE(t.ok()) << t.status();
    slot = std::move(*t);
  }
  return *slot;
}
const Tokenizer& Spm() { return Load(kModels + "vocab/ggml-vocab-llama-spm.gguf"); }
const Tokenizer& Gpt2() { return Load(kModels + "vocab/ggml-vocab-gpt-2.gguf"); }
const Tokenizer& Stories() { return Load(kModels + "stories260K.gguf"); }

const std::vector<std::string>& RoundTripTexts() {
  static const auto* texts = new std::vector<std::string>{
      "Hello world",
      " leading space",
      "   three leading spaces and trailing   ",
      "multi-byte: héllo, Führer, нещо на Български, 日本語のテキスト, العربية",
      "emoji: 🦙 👍🏽 🏳️‍🌈 👨‍👩‍👧 ✅",
      "digits 0 12 345 6789 3.14159 1,000,000",
      "tabs\tand\nnewlines\r\n\n  end",
      "",
      " ",
      "\n",
      "invalid \xFF\xFE bytes \xE2\x82 and a lone continuation \x80 end",
      "\xC0\x80 overlong and \xED\xA0\x80 surrogate",
      "<s> and </s> written as text",
  };
  return *texts;
}

TEST(TokenizerTest, SpmRoundTrips) {
  for (const std::string& text : RoundTripTexts()) {
    const auto ids = Spm().Encode(text, /*add_special=*/true, /*parse_special=*/false);
    EXPECT_EQ(Spm().Decode(ids), text) << text;
  }
}

TEST(TokenizerTest, Gpt2RoundTrips) {
  for (const std::string& text : RoundTripTexts()) {
    const auto ids = Gpt2().Encode(text, /*add_special=*/true, /*parse_special=*/false);
    EXPECT_EQ(Gpt2().Decode(ids), text) << text;
  }
}

TEST(TokenizerTest, StoriesRoundTripsAndAddsBos) {
  const Tokenizer& t = Stories();
  EXPECT_EQ(t.n_vocab(), 512);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.pad_id(), -1);  // stored as 0xFFFFFFFF
  for (const std::string& text : RoundTripTexts()) {
    const auto ids = t.Encode(text, /*add_special=*/true, /*parse_special=*/false);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids[0], 1);
    for (int32_t id : ids) EXPECT_LT(id, 512);
    EXPECT_EQ(t.Decode(ids), text) << text;
  }
  const auto ids = t.Encode("Once upon a time", true, false);
  EXPECT_LT(ids.size(), 10u);  // merged into words, not spelled out in bytes
  EXPECT_EQ(t.Decode(ids), "Once upon a time");
}

TEST(TokenizerTest, SpmAddsBosAndSpacePrefix) {
  EXPECT_TRUE(Spm().add_bos());
  EXPECT_FALSE(Spm().add_eos());
  EXPECT_THAT(Spm().Encode("Hello world", true, false), ElementsAre(1, 15043, 3186));
  EXPECT_THAT(Spm().Encode("Hello world", false, false), ElementsAre(15043, 3186));
  EXPECT_TRUE(Spm().Encode("", false, false).empty());
  EXPECT_THAT(Spm().Encode("", true, false), ElementsAre(1));
}

TEST(TokenizerTest, SpmByteFallbackForCharactersOutsideTheVocab) {
  // 🦙 is not a token: it becomes its four bytes <0xF0> <0x9F> <0xA6> <0x99>.
  EXPECT_THAT(Spm().Encode("🦙", false, false), ElementsAre(29871, 243, 162, 169, 156));
  EXPECT_EQ(Spm().token_type(243), TokenType::kByte);
  EXPECT_EQ(Spm().TokenToPiece(243), "\xF0");
}

TEST(TokenizerTest, SpecialTokensAreParsedOnlyWhenAsked) {
  EXPECT_THAT(Spm().Encode("<s>Hello</s>", false, true), ElementsAre(1, 15043, 2));
  const auto as_text = Spm().Encode("<s>Hello</s>", false, false);
  EXPECT_THAT(as_text, Not(Contains(1)));
  EXPECT_THAT(as_text, Not(Contains(2)));
  EXPECT_EQ(Spm().Decode(as_text), "<s>Hello</s>");
  // Control tokens decode to nothing unless rendered.
  EXPECT_EQ(Spm().Decode(std::vector<int32_t>{1, 15043, 2}), "Hello");
  EXPECT_EQ(Spm().Decode(std::vector<int32_t>{1, 15043, 2}, {.render_special = true}), "<s> Hello</s>");
}

TEST(TokenizerTest, Gpt2EndOfText) {
  const Tokenizer& t = Gpt2();
  EXPECT_EQ(t.eos_id(), 50256);
  EXPECT_TRUE(t.IsEndOfGeneration(50256));
  EXPECT_FALSE(t.add_bos());
  EXPECT_EQ(t.token_text(50256), "<|endoftext|>");
  EXPECT_EQ(t.token_type(50256), TokenType::kControl);
  EXPECT_THAT(t.Encode("Hello<|endoftext|>", false, true), ElementsAre(15496, 50256));
  EXPECT_THAT(t.Encode("Hello<|endoftext|>", false, false), Not(Contains(50256)));
  EXPECT_THAT(t.Encode("Hello", false, false), ElementsAre(15496));
}

TEST(TokenizerTest, DecodeSkipsOutOfRangeIds) {
  EXPECT_EQ(Spm().Decode(std::vector<int32_t>{-1, 15043, 1 << 30}), "Hello");
  EXPECT_EQ(Spm().TokenToPiece(-5), "");
}

TEST(TokenizerTest, LongInputsEncodeAndRoundTrip) {
  // Large inputs, including one 60,000-character word, go through the
  // priority-queue merges (a quadratic algorithm would take minutes here).
  std::string prose;
  while (prose.size() < 200000) prose += "The quick brown fox jumps over the lazy dog 1234. ";
  const std::string word(60000, 'a');
  for (const Tokenizer* t : {&Spm(), &Gpt2()}) {
    EXPECT_EQ(t->Decode(t->Encode(prose, false, false)), prose);
    const auto ids = t->Encode(word, false, false);
    EXPECT_LT(ids.size(), word.size() / 2);
    EXPECT_EQ(t->Decode(ids), word);
  }
}

TEST(TokenizerTest, TokenizeToLine) {
  EXPECT_EQ(TokenizeToLine(Spm(), "Hello world", /*no_bos=*/false), "1 15043 3186");
  EXPECT_EQ(TokenizeToLine(Spm(), "Hello world", /*no_bos=*/true), "15043 3186");
}

// ---- tokenizers built from synthetic metadata ----

absl::StatusOr<std::unique_ptr<Tokenizer>> FromWriter(const GgufWriter& w) {
  auto bytes = w.Serialize();
  if (!bytes.ok()) return bytes.status();
  auto f = GgufFile::FromBuffer(*bytes);
  if (!f.ok()) return f.status();
  return Tokenizer::FromGguf(**f);
}

GgufWriter TinyBpe() {
  GgufWriter w;
  w.SetString("tokenizer.ggml.model", "gpt2");
  w.SetString("tokenizer.ggml.pre", "gpt-2");
  // Byte characters for "a", "b", "Ġ" plus merges and two specials.
  w.SetStringArray("tokenizer.ggml.tokens", {"a", "b", "Ġ", "ab", "Ġab", "<|user|>", "<|eot|>", "aa"});
  std::vector<int32_t> types = {1, 1, 1, 1, 1, 4, 3, 1};
  w.SetInt32Array("tokenizer.ggml.token_type", types);
  w.SetStringArray("tokenizer.ggml.merges", {"a b", "Ġ ab", "a a"});
  w.SetUint32("tokenizer.ggml.eos_token_id", 6);
  return w;
}

TEST(TokenizerSyntheticTest, BpeMergesByRankAndUserDefinedTokensAlwaysMatch) {
  auto t = FromWriter(TinyBpe());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT((*t)->Encode("ab ab", false, false), ElementsAre(3, 4));
  // "aab": a-b (rank 0) wins over a-a (rank 2) even though a-a is further left.
  EXPECT_THAT((*t)->Encode("aab", false, false), ElementsAre(0, 3));
  // User-defined tokens are matched even without parse_special; control ones are not.
  EXPECT_THAT((*t)->Encode("ab<|user|>ab", false, false), ElementsAre(3, 5, 3));
  EXPECT_THAT((*t)->Encode("ab<|eot|>", false, true), ElementsAre(3, 6));
  EXPECT_TRUE((*t)->IsEndOfGeneration(6));
  EXPECT_EQ((*t)->Decode(std::vector<int32_t>{3, 5, 4}), "ab<|user|> ab");
}

TEST(TokenizerSyntheticTest, BadMetadataIsAClearError) {
  {
    GgufWriter w = TinyBpe();
    w.SetString("tokenizer.ggml.model", "bert");
    EXPECT_THAT(std::string(FromWriter(w).status().message()), HasSubstr("'bert'"));
  }
  {
    GgufWriter w = TinyBpe();
    w.SetString("tokenizer.ggml.pre", "mystery");
    EXPECT_THAT(std::string(FromWriter(w).status().message()), HasSubstr("'mystery'"));
  }
  {
    GgufWriter w = TinyBpe();
    w.SetStringArray("tokenizer.ggml.merges", {"nospace"});
    EXPECT_THAT(std::string(FromWriter(w).status().message()), HasSubstr("merges[0]"));
  }
  {
    GgufWriter w = TinyBpe();
    std::vector<int32_t> types = {1, 1};
    w.SetInt32Array("tokenizer.ggml.token_type", types);
    EXPECT_THAT(std::string(FromWriter(w).status().message()), HasSubstr("token_type"));
  }
  {
    GgufWriter w = TinyBpe();
    std::vector<float> scores = {1.0f};
    w.SetFloat32Array("tokenizer.ggml.scores", scores);
    EXPECT_THAT(std::string(FromWriter(w).status().message()), HasSubstr("scores"));
  }
  {
    GgufWriter w;
    w.SetString("tokenizer.ggml.model", "llama");
    EXPECT_THAT(std::string(FromWriter(w).status().message()), HasSubstr("tokenizer.ggml.tokens"));
  }
  {
    GgufWriter w = TinyBpe();
    w.SetString("tokenizer.ggml.eos_token_id", "six");
    EXPECT_THAT(std::string(FromWriter(w).status().message()), HasSubstr("eos_token_id"));
  }
}

}  // namespace
}  // namespace aperture::engine
