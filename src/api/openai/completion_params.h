// CompletionParams: the parameters of an OpenAI chat or text completion
// request, parsed and range-checked. A known parameter of the wrong type or
// out of range is InvalidArgument naming the `param`; unknown parameters are
// ignored, as OpenAI does.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/json.h"

namespace aperture {

struct ChatMessage {
  std::string role;  // system, user, assistant (developer is read as system)
  std::string content;
};

struct CompletionParams {
  bool chat = false;
  std::string model;
  std::vector<ChatMessage> messages;   // chat
  std::string prompt;                  // completions: text
  std::vector<int32_t> prompt_tokens;  // completions: token ids instead of text
  std::optional<int64_t> max_tokens;   // max_tokens or max_completion_tokens
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t n = 1;
  std::vector<std::string> stop;
  std::optional<int64_t> seed;
  double presence_penalty = 0;
  double frequency_penalty = 0;
  std::map<int32_t, float> logit_bias;
  bool logprobs = false;     // chat: logprobs=true; completions: logprobs=N > 0... or 0
  int64_t top_logprobs = 0;  // alternatives per token (completions: its `logprobs` value)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  std::string user;
};

absl::StatusOr<CompletionParams> ParseCompletionParams(const Json& body, bool chat);

struct EmbeddingParams {
  std::string model;
  std::vector<std::string> inputs;  // `input` as a string or an array of strings
  std::string encoding_format = "float";
  std::string user;
};

absl::StatusOr<EmbeddingParams> ParseEmbeddingParams(const Json& body);

}  // namespace aperture
