#include "api/openai/remote_answer.h"

#include <gtest/gtest.h>

namespace aperture {
namespace {

AnswerRules Rules(bool chat, bool logprobs, int64_t k, int64_t n = 1) {
  AnswerRules r;
  r.chat = chat;
  r.id = "chatcmpl-1";
  r.created = 7;
  r.model = "ours";
  r.logprobs = logprobs;
  r.top_logprobs = k;
  r.n = n;
  return r;
}

Json Parse(const char* text) { return *ParseJson(text); }

TEST(BackendRequestBodyTest, BuiltFromTheCheckedParametersOnly) {
  auto params = ParseCompletionParams(
      Parse(R"({"model":"ours","messages":[{"role":"user","content":"hi"}],"max_tokens":999,"stream":true,
                "logprobs":true,"top_logprobs":2,"stop":["\n"],"seed":5,"prompt_logprobs":9,"guided_json":{}})"),
      /*chat=*/true);
  ASSERT_TRUE(params.ok()) << params.status();
  LevelAdjustments adjust;
  adjust.max_tokens = 64;  // the level's cap
  const Json body = BackendRequestBody(*params, adjust, "llama-3-8b", "Be kind.");
  EXPECT_EQ(body["model"], "llama-3-8b");
  EXPECT_EQ(body["max_tokens"], 64);
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_EQ(body["messages"][1]["content"], "hi");
  EXPECT_EQ(body["top_logprobs"], 2);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["seed"], 5);
  // Parameters Aperture does not check never reach a backend.
  EXPECT_FALSE(body.contains("prompt_logprobs"));
  EXPECT_FALSE(body.contains("guided_json"));
  EXPECT_FALSE(body.contains("user"));

  auto text = ParseCompletionParams(Parse(R"({"model":"ours","prompt":"x","max_tokens":3})"), false);
  ASSERT_TRUE(text.ok());
  adjust.max_tokens = 3;
  const Json tb = BackendRequestBody(*text, adjust, "m", "");
  EXPECT_EQ(tb["prompt"], "x");
  EXPECT_FALSE(tb.contains("logprobs"));
  EXPECT_FALSE(tb.contains("stream_options"));
}

// More alternatives than asked for, logprobs nobody asked for, extra
// choices and fields: all cut, whatever the backend sends.
TEST(CheckAnswerTest, TheCallersLimitsHoldOnWhatComesBack) {
  const Json backend = Parse(R"({
    "id":"backend-id","object":"chat.completion","model":"their-name","system_fingerprint":"fp_x",
    "prompt_logprobs":[1,2,3],"kv_transfer_params":{"secret":1},
    "choices":[
      {"index":0,"message":{"role":"assistant","content":"Hello","tool_calls":[{"x":1}]},"finish_reason":"stop",
       "logprobs":{"content":[{"token":"Hel","logprob":-0.1,"bytes":[72,101,108],
                               "top_logprobs":[{"token":"Hel","logprob":-0.1},{"token":"Hi","logprob":-2},
                                               {"token":"Yo","logprob":-3},{"token":"Hey","logprob":-4}]},
                              {"token":"lo","logprob":"not a number"}]}},
      {"index":1,"message":{"role":"assistant","content":"extra"},"finish_reason":"stop"}],
    "usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}})");
  auto checked = CheckAnswer(backend, Rules(true, true, 2));
  ASSERT_TRUE(checked.ok()) << checked.status();
  const Json& body = checked->body;
  EXPECT_EQ(body["id"], "chatcmpl-1");
  EXPECT_EQ(body["model"], "ours");
  EXPECT_TRUE(body["system_fingerprint"].is_null());
  EXPECT_FALSE(body.contains("prompt_logprobs"));
  EXPECT_FALSE(body.contains("kv_transfer_params"));
  ASSERT_EQ(body["choices"].size(), 1u);  // n = 1
  EXPECT_FALSE(body["choices"][0]["message"].contains("tool_calls"));
  const Json& content = body["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 1u);                     // the malformed entry is dropped
  EXPECT_EQ(content[0]["top_logprobs"].size(), 2u);  // two asked for, four sent
  EXPECT_EQ(checked->usage->completion_tokens, 2);
  EXPECT_EQ(checked->text, "Hello");

  // Logprobs not asked for are not passed on at all.
  auto plain = CheckAnswer(backend, Rules(true, false, 0));
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->body["choices"][0]["logprobs"].is_null());
}

TEST(CheckAnswerTest, TextCompletionsKeepTheLikeliestAlternatives) {
  const Json backend = Parse(R"({"choices":[{"index":0,"text":"ab","finish_reason":"length",
    "logprobs":{"tokens":["a","b"],"token_logprobs":[-1,-2],"text_offset":[0,1],
                "top_logprobs":[{"a":-1,"x":-5,"y":-0.5},{"b":-2}]}}]})");
  auto checked = CheckAnswer(backend, Rules(false, true, 1));
  ASSERT_TRUE(checked.ok()) << checked.status();
  const Json& lp = checked->body["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], Json::array({"a", "b"}));
  ASSERT_EQ(lp["top_logprobs"][0].size(), 1u);
  EXPECT_TRUE(lp["top_logprobs"][0].contains("y"));  // the likeliest one
  EXPECT_FALSE(checked->usage.has_value());
  EXPECT_EQ(checked->body["object"], "text_completion");
}

TEST(CheckAnswerTest, WhatIsNotAnAnswerIsRefused) {
  for (const char* bad : {R"([])", R"({"choices":{}})", R"({"nothing":1})", R"({"choices":[{"index":5}]})",
                          R"({"choices":[{"index":-1,"message":{}}]})", R"("text")"}) {
    EXPECT_EQ(CheckAnswer(Parse(bad), Rules(true, false, 0)).status().code(), absl::StatusCode::kDataLoss) << bad;
  }
}

TEST(CheckChunkTest, StreamChunksAreRebuiltAndUsageKeptApart) {
  AnswerRules rules = Rules(true, false, 0);
  rules.stream = true;
  auto chunk = CheckChunk(
      Parse(R"({"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi","reasoning":"secret"},
               "logprobs":{"content":[]},"finish_reason":null}]})"),
      rules);
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  ASSERT_TRUE(chunk->chunk.has_value());
  EXPECT_EQ((*chunk->chunk)["object"], "chat.completion.chunk");
  EXPECT_EQ((*chunk->chunk)["choices"][0]["delta"], Json({{"role", "assistant"}, {"content", "Hi"}}));
  EXPECT_TRUE((*chunk->chunk)["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(chunk->content_events, 1);
  EXPECT_EQ(chunk->text, "Hi");

  auto usage = CheckChunk(Parse(R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":9}})"), rules);
  ASSERT_TRUE(usage.ok());
  EXPECT_FALSE(usage->chunk.has_value());  // the caller's usage chunk is made at the end
  EXPECT_EQ(usage->usage->completion_tokens, 9);
  EXPECT_NE(UsageChunk(*usage->usage, rules).find("\"total_tokens\":12"), std::string::npos);

  EXPECT_EQ(CheckChunk(Parse(R"({"error":{"message":"oom"}})"), rules).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CheckChunk(Parse(R"({"id":"x"})"), rules).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(CheckChunk(Parse(R"(3)"), rules).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace aperture
