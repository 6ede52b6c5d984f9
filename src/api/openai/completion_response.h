// CompletionResponse: builds the OpenAI response bodies of one chat or text
// completion as the scheduler's events arrive — the whole JSON object, or
// the server-sent events of a stream — and keeps what the record needs.
// Not thread-safe: the scheduler delivers one request's events one at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api/openai/completion_params.h"
#include "core/json.h"
#include "scheduler/request.h"

namespace aperture {

class CompletionResponse {
 public:
  CompletionResponse(const CompletionParams& params, std::string id, int64_t created, std::string model);

  // Stream chunks ("data: {...}\n\n"); empty when nothing is to be sent yet.
  std::string OnStart();  // the role chunks of a chat stream
  std::string OnToken(const scheduler::TokenEvent& e);
  std::string OnChoiceEnd(const scheduler::ChoiceEnd& e);
  // The end: for a stream the usage chunk (if asked) and "data: [DONE]"; otherwise the whole body.
  std::string OnDone(const scheduler::GenerateDone& d);

  // Everything generated, for the response hash in the record.
  std::string AllText() const;
  std::vector<std::string> FinishReasons() const;

 private:
  struct Choice {
    std::string text;
    std::string finish_reason;
    Json logprobs_content = Json::array();  // chat: logprobs.content
    Json tokens = Json::array(), token_logprobs = Json::array(), top_logprobs = Json::array(),
         text_offset = Json::array();  // completions
  };
  Json Envelope() const;
  Json ChunkChoice(int index, const std::string& text, const Json& logprobs, const Json& finish_reason) const;
  Json TokenLogprobs(const scheduler::TokenEvent& e, Choice& c);
  static std::string Sse(const Json& j);

  const CompletionParams& params_;
  std::string id_;
  int64_t created_;
  std::string model_;
  std::vector<Choice> choices_;
  std::string envelope_rest_;  // `"created":...}`: every member sorts after "choices"
};

// "stop" or "length" as OpenAI names them (a deadline reads as "length").
std::string OpenAiFinishReason(scheduler::FinishReason reason);

}  // namespace aperture
