#include "api/openai/completion_response.h"

#include <gtest/gtest.h>

#include "core/json.h"

namespace aperture {
namespace {

// The chunk OnToken writes directly must be exactly what the Json path
// writes: "data: " + the sorted-key dump of envelope + choices + "\n\n".
std::string JsonChunk(bool chat, const std::string& text, int index) {
  Json chunk = {{"id", "cmpl-1"},
                {"object", chat ? "chat.completion.chunk" : "text_completion"},
                {"created", 1700000000},
                {"model", "m\"odel"},
                {"system_fingerprint", nullptr}};
  Json choice =
      chat ? Json{{"index", index}, {"delta", {{"content", text}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}
           : Json{{"index", index}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
  chunk["choices"] = Json::array({choice});
  return "data: " + chunk.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n\n";
}

TEST(CompletionResponseTest, StreamedTokenChunksMatchTheJsonEncoding) {
  for (bool chat : {true, false}) {
    CompletionParams params;
    params.chat = chat;
    params.stream = true;
    params.n = 3;
    CompletionResponse response(params, "cmpl-1", 1700000000, "m\"odel");
    for (const std::string text : {"hello", " \"quoted\"\n\ttab", "caf\xc3\xa9 \xe2\x82\xac", "\x01 control"}) {
      scheduler::TokenEvent e;
      e.choice = 2;
      e.text = text;
      EXPECT_EQ(response.OnToken(e), JsonChunk(chat, text, 2)) << (chat ? "chat: " : "completion: ") << text;
    }
  }
}

TEST(CompletionResponseTest, EmptyTextWithoutLogprobsSendsNothing) {
  CompletionParams params;
  params.chat = true;
  params.stream = true;
  CompletionResponse response(params, "id", 1, "m");
  scheduler::TokenEvent e;
  EXPECT_EQ(response.OnToken(e), "");
}

}  // namespace
}  // namespace aperture
