#include "api/openai/completion_params.h"

#include <gtest/gtest.h>

#include "api/openai/level_checks.h"
#include "core/json.h"

namespace aperture {
namespace {

CompletionParams Chat(const std::string& extra) {
  auto body = ParseJson(R"({"model":"m","messages":[{"role":"user","content":"hi"}])" + extra + "}");
  EXPECT_TRUE(body.ok());
  auto p = ParseCompletionParams(*body, true);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.value_or(CompletionParams{});
}

std::string BadParam(const std::string& body, bool chat) {
  auto p = ParseCompletionParams(*ParseJson(body), chat);
  EXPECT_FALSE(p.ok()) << body;
  return p.ok() ? "" : ErrorParam(p.status());
}

TEST(CompletionParamsTest, ParsesTheOpenAIParameters) {
  CompletionParams p = Chat(R"(,"max_completion_tokens":7,"temperature":0.5,"top_p":0.9,"n":2,"stop":["a","b"],
      "seed":3,"presence_penalty":1,"frequency_penalty":-1,"logit_bias":{"12":-100},"logprobs":true,
      "top_logprobs":3,"stream":true,"stream_options":{"include_usage":true},"user":"u","unknown_thing":1)");
  EXPECT_EQ(*p.max_tokens, 7);
  EXPECT_EQ(p.n, 2);
  EXPECT_EQ(p.stop.size(), 2u);
  EXPECT_EQ(p.logit_bias.at(12), -100);
  EXPECT_TRUE(p.logprobs);
  EXPECT_EQ(p.top_logprobs, 3);
  EXPECT_TRUE(p.stream && p.include_usage);
  auto completion = ParseCompletionParams(*ParseJson(R"({"model":"m","prompt":"x","logprobs":2})"), false);
  ASSERT_TRUE(completion.ok());
  EXPECT_TRUE(completion->logprobs);
  EXPECT_EQ(completion->top_logprobs, 2);
}

TEST(CompletionParamsTest, WrongTypesAndRangesNameTheParam) {
  const std::string m = R"({"model":"m","messages":[{"role":"user","content":"hi"}],)";
  EXPECT_EQ(BadParam(m + R"("temperature":"hot"})", true), "temperature");
  EXPECT_EQ(BadParam(m + R"("temperature":3})", true), "temperature");
  EXPECT_EQ(BadParam(m + R"("n":0})", true), "n");
  EXPECT_EQ(BadParam(m + R"("max_tokens":0})", true), "max_tokens");
  EXPECT_EQ(BadParam(m + R"("stop":[1]})", true), "stop");
  EXPECT_EQ(BadParam(m + R"("logit_bias":{"x":1}})", true), "logit_bias");
  EXPECT_EQ(BadParam(m + R"("logit_bias":{"5":101}})", true), "logit_bias");
  EXPECT_EQ(BadParam(m + R"("top_logprobs":2})", true), "top_logprobs");
  EXPECT_EQ(BadParam(m + R"("stream":"yes"})", true), "stream");
  EXPECT_EQ(BadParam(R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})", true), "messages[0].role");
  EXPECT_EQ(BadParam(R"({"model":"m"})", true), "messages");
  EXPECT_EQ(BadParam(R"({"model":"m","prompt":{}})", false), "prompt");
  EXPECT_EQ(BadParam(R"({"model":"m","prompt":"x","logprobs":true})", false), "logprobs");
}

TEST(LevelChecksTest, HostedApiResearch) {
  const Config config = DefaultConfig();
  auto refused = [&](const CompletionParams& p, Level l) {
    auto r = ApplyLevel(p, l, config);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : ErrorParam(r.status()) + ": " + std::string(r.status().message());
  };
  EXPECT_EQ(refused(Chat(R"(,"n":2)"), Level::kHosted).substr(0, 3), "n: ");
  EXPECT_NE(refused(Chat(R"(,"n":2)"), Level::kHosted).find("needs level 'api'"), std::string::npos);
  EXPECT_NE(refused(Chat(R"(,"logprobs":true,"top_logprobs":6)"), Level::kApi).find("needs level 'research'"),
            std::string::npos);
  EXPECT_TRUE(ApplyLevel(Chat(R"(,"logprobs":true,"top_logprobs":5)"), Level::kApi, config).ok());
  EXPECT_TRUE(ApplyLevel(Chat(R"(,"logprobs":true,"top_logprobs":20)"), Level::kResearch, config).ok());
  EXPECT_NE(refused(Chat(R"(,"logit_bias":{"1":5})"), Level::kHosted).find("logit_bias"), std::string::npos);
  EXPECT_TRUE(ApplyLevel(Chat(R"(,"logit_bias":{"1":5})"), Level::kApi, config).ok());
  EXPECT_NE(refused(Chat(R"(,"logit_bias":{"1":5},"logprobs":true)"), Level::kApi).find("needs level 'research'"),
            std::string::npos);
  EXPECT_TRUE(ApplyLevel(Chat(R"(,"logit_bias":{"1":5},"logprobs":true)"), Level::kResearch, config).ok());
}

TEST(LevelChecksTest, MaxTokensIsClampedAndReported) {
  const Config config = DefaultConfig();
  auto a = ApplyLevel(Chat(R"(,"max_tokens":100000)"), Level::kHosted, config);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->max_tokens, 512);
  EXPECT_TRUE(a->max_tokens_clamped);
  EXPECT_TRUE(a->prepend_system_prompt);
  a = ApplyLevel(Chat(R"(,"max_tokens":10)"), Level::kApi, config);
  EXPECT_EQ(a->max_tokens, 10);
  EXPECT_FALSE(a->max_tokens_clamped);
  EXPECT_FALSE(a->prepend_system_prompt);
}

}  // namespace
}  // namespace aperture
