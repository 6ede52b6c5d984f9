#include "engine/tokenizer/incremental_decoder.h"

#include <memory>
#include <string>
#include <vector>

#include "core/utf8.h"
#include "engine/gguf/gguf_reader.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

const std::string kVocab = std::string(APERTURE_SHARED_DIR) + "/models/vocab/";

std::unique_ptr<Tokenizer> LoadTokenizer(const std::string& name) {
  auto f = GgufFile::Open(kVocab + name);
  EXPECT_TRUE(f.ok()) << f.status();
  auto t = Tokenizer::FromGguf(**f);
  EXPECT_TRUE(t.ok()) << t.status();
  return std::move(*t);
}

TEST(IncrementalDecoderTest, HoldsBackPartialCharactersAcrossByteTokens) {
  auto tok = LoadTokenizer("ggml-vocab-llama-spm.gguf");
  // 🦙 is spelled by four byte tokens.
  const std::vector<int32_t> ids = tok->Encode("🦙", false, false);
  ASSERT_EQ(ids.size(), 5u);  // ▁ then 4 bytes
  IncrementalDecoder dec(*tok, {.strip_leading_space = true});
  EXPECT_EQ(dec.Push(ids[0]), "");  // the stripped leading space
  EXPECT_EQ(dec.Push(ids[1]), "");
  EXPECT_EQ(dec.Push(ids[2]), "");
  EXPECT_EQ(dec.Push(ids[3]), "");
  EXPECT_EQ(dec.pending_bytes(), 3u);
  EXPECT_EQ(dec.Push(ids[4]), "🦙");
  EXPECT_EQ(dec.Flush(), "");
}

TEST(IncrementalDecoderTest, ChunksConcatenateToTheWholeDecode) {
  for (const char* vocab : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"}) {
    auto tok = LoadTokenizer(vocab);
    for (const std::string text :
         {"héllo 🦙 wörld 日本語 👨‍👩‍👧", " spaces  and\nnewlines", "Привет, мир! 123"}) {
      const auto ids = tok->Encode(text, true, false);
      IncrementalDecoder dec(*tok, {.strip_leading_space = true});  // as Decode does
      std::string streamed;
      for (int32_t id : ids) {
        const std::string chunk = dec.Push(id);
        EXPECT_TRUE(IsValidUtf8(chunk)) << vocab;
        streamed += chunk;
      }
      streamed += dec.Flush();
      EXPECT_EQ(streamed, tok->Decode(ids)) << vocab;
      EXPECT_EQ(streamed, text) << vocab;
    }
  }
}

TEST(IncrementalDecoderTest, InvalidBytesBecomeReplacementCharacters) {
  auto tok = LoadTokenizer("ggml-vocab-gpt-2.gguf");
  const auto ids = tok->Encode(
      "a\xFF"
      "b\xE2\x82",
      false, false);
  IncrementalDecoder dec(*tok);
  std::string streamed;
  for (int32_t id : ids) streamed += dec.Push(id);
  EXPECT_EQ(dec.pending_bytes(), 2u);  // the cut-off € might still complete
  streamed += dec.Flush();
  EXPECT_EQ(streamed,
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
}

TEST(IncrementalDecoderTest, ContinuationKeepsTheLeadingSpace) {
  auto tok = LoadTokenizer("ggml-vocab-llama-spm.gguf");
  IncrementalDecoder dec(*tok);  // the default: a continuation
  EXPECT_EQ(dec.Push(15043), " Hello");
  IncrementalDecoder first(*tok, {.strip_leading_space = true});
  EXPECT_EQ(first.Push(15043), "Hello");
  EXPECT_EQ(first.Push(3186), " world");
}

}  // namespace
}  // namespace aperture::engine
