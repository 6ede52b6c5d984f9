// What goes to a remote backend for one completion, and what of its answer
// reaches the caller. The request is rebuilt from the parameters Aperture
// parsed and held to the caller's level (never the caller's body as sent),
// so a backend is asked for nothing the level does not allow. The answer
// is rebuilt too: only the OpenAI fields Aperture itself serves, the model
// named as Aperture names it, logprobs only when they were asked for and
// never more alternatives per token than asked for (the level's cap at
// most), at most `n` choices, usage only when the caller asked for it in a
// stream. A backend that sends more gets it cut, not passed on.
//
// Limits: an answer that is not a JSON object with a `choices` array is
// DataLoss (a misbehaving backend); the caller then gets a 502, or, mid
// stream, an error event.
//
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "api/openai/completion_params.h"
#include "api/openai/level_checks.h"
#include "core/json.h"

namespace aperture {

// The body sent to a backend. `system_prompt` ("" = none) goes first in a
// chat; a stream asks for the usage chunk so usage comes from the backend.
Json BackendRequestBody(const CompletionParams& params, const LevelAdjustments& adjust, const std::string& api_model,
                        const std::string& system_prompt);

// The identity and limits an answer is rebuilt under.
struct AnswerRules {
  bool chat = true;
  bool stream = false;
  std::string id;  // Aperture's id for the completion (the backend's is not passed on)
  int64_t created = 0;
  std::string model;  // Aperture's model id
  bool logprobs = false;
  int64_t top_logprobs = 0;
  int64_t n = 1;
  bool include_usage = false;  // streams: the caller asked for the usage chunk (UsageChunk)
};

// Token counts a backend reported.
struct BackendUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

// One whole (unstreamed) answer.
struct CheckedAnswer {
  Json body;
  std::optional<BackendUsage> usage;
  std::string text;  // every choice's text, for the record's hash
  Json finish_reasons = Json::array();
};
absl::StatusOr<CheckedAnswer> CheckAnswer(const Json& backend, const AnswerRules& rules);

// One chunk of a stream. `chunk` is nullopt when nothing of it is for the
// caller (the backend's usage chunk: the usage chunk a caller asked for is
// UsageChunk's, at the end); `usage` is set when the backend reported usage
// in it; `text` is its content, `content_events` 1 when it carried content
// (the count a backend that reports no usage is charged by).
struct CheckedChunk {
  std::optional<Json> chunk;
  std::optional<BackendUsage> usage;
  std::string text;
  int64_t content_events = 0;
  Json finish_reasons = Json::array();
};
absl::StatusOr<CheckedChunk> CheckChunk(const Json& backend, const AnswerRules& rules);
// The usage chunk of a stream ("data: {...}\n\n"), for a caller who asked.
std::string UsageChunk(const BackendUsage& usage, const AnswerRules& rules);

}  // namespace aperture
