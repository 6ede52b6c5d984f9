#include "scheduler/text_stream.h"

#include <memory>
#include <string>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "gtest/gtest.h"

namespace aperture::scheduler {
namespace {

std::unique_ptr<engine::Tokenizer> Llama2Tokenizer() {
  auto file = engine::GgufFile::Open(std::string(APERTURE_SHARED_DIR) + "/models/llama-2-tiny-random.gguf");
  EXPECT_TRUE(file.ok()) << file.status();
  auto tok = engine::Tokenizer::FromGguf(**file);
  EXPECT_TRUE(tok.ok()) << tok.status();
  return *std::move(tok);
}

TEST(TextStreamTest, ACharacterSplitOverByteTokensArrivesWhole) {
  auto tok = Llama2Tokenizer();
  TextStream s(*tok, /*strip_leading_space=*/false, {});
  // "€" is E2 82 AC: three byte-fallback tokens.
  const int32_t e2 = tok->vocab().Find("<0xE2>"), x82 = tok->vocab().Find("<0x82>"), xac = tok->vocab().Find("<0xAC>");
  ASSERT_GE(e2, 0);
  EXPECT_EQ(s.Push(e2).text, "");
  EXPECT_EQ(s.Push(x82).text, "");
  EXPECT_EQ(s.Push(xac).text, "\xE2\x82\xAC");
  EXPECT_EQ(s.Finish(), "");
}

TEST(TextStreamTest, AStopStringSpanningTokensIsCutExactly) {
  auto tok = Llama2Tokenizer();
  const std::vector<int32_t> ids = tok->Encode("Hello world, again", false, false);
  ASSERT_GE(ids.size(), 3u);
  TextStream s(*tok, /*strip_leading_space=*/true, {"lo wor"});
  std::string text;
  bool stopped = false;
  for (int32_t id : ids) {
    TextStream::Result r = s.Push(id);
    text += r.text;
    if (r.stopped) {
      stopped = true;
      break;
    }
  }
  EXPECT_TRUE(stopped);
  EXPECT_EQ(text, "Hel");
  EXPECT_EQ(s.Finish(), "");
}

TEST(TextStreamTest, FinishReleasesAHeldBackPrefixOfAStopString) {
  auto tok = Llama2Tokenizer();
  TextStream s(*tok, /*strip_leading_space=*/true, {"world peace"});
  std::string text;
  for (int32_t id : tok->Encode("Hello world", false, false)) text += s.Push(id).text;
  EXPECT_EQ(text, "Hello ");
  EXPECT_EQ(s.Finish(), "world");
}

}  // namespace
}  // namespace aperture::scheduler
