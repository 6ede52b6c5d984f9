// The requests the Scheduler serves and the events it delivers for them:
// plain value types, shared by the scheduler and its callers (the OpenAI
// routes). Nothing here knows about HTTP, principals or policy.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/chat/chat_template.h"
#include "engine/model/hooks.h"
#include "engine/sampling/sampler.h"

namespace aperture::scheduler {

// Identifies a submitted request (for Cancel). Never 0.
using RequestId = uint64_t;

// Why one completion (choice) ended.
enum class FinishReason {
  kStop,       // an end-of-turn token, a stop token id or a stop string
  kLength,     // max_tokens generated, or the sequence's capacity reached
  kCancelled,  // Cancel() or the scheduler shutting down
  kDeadline,   // the request's deadline passed
  kError,      // the engine failed (GenerateDone::status says why)
};
// "stop", "length", "cancelled", "deadline", "error".
std::string_view FinishReasonName(FinishReason reason);

struct TopLogprob {
  int32_t token = -1;
  std::string text;  // the token's bytes (may be part of a UTF-8 character)
  float logprob = 0.0f;
};

// One generated token of one choice.
struct TokenEvent {
  int choice = 0;  // 0..n-1
  int32_t token = -1;
  std::string token_text;  // the token's own bytes (may be part of a UTF-8 character)
  // Text to show now: only whole UTF-8 characters, with anything that could
  // still become a stop string held back, and a completed stop string cut
  // out (with whatever followed it in the token). May be empty.
  std::string text;
  float logprob = 0.0f;                  // when sampling.logprobs
  std::vector<TopLogprob> top_logprobs;  // sampling.top_logprobs entries, most likely first
};

// The end of one choice.
struct ChoiceEnd {
  int choice = 0;
  FinishReason reason = FinishReason::kStop;
  // Text held back until the end (a partial character as U+FFFD, or the
  // start of a stop string that never completed); send it before finishing.
  std::string text;
  int completion_tokens = 0;  // token events this choice produced
};

// The end of the request: after every ChoiceEnd, exactly once per accepted request.
struct GenerateDone {
  int prompt_tokens = 0;
  int completion_tokens = 0;  // over all choices: the number of TokenEvents
  absl::Status status;        // OK unless the engine failed
};

// Callbacks run on the scheduler thread, one at a time, and must be cheap
// (post the event onward, do not block). They may call Scheduler::Cancel.
struct GenerateCallbacks {
  std::function<void(const TokenEvent&)> on_token;
  std::function<void(const ChoiceEnd&)> on_choice_end;
  std::function<void(const GenerateDone&)> on_done;
};

struct GenerateRequest {
  std::string model;  // a registered model id

  // The prompt: exactly one of these.
  std::vector<int32_t> prompt_tokens;         // used as given (no BOS added)
  std::string prompt;                         // encoded with BOS as the model asks, no special tokens parsed
  std::vector<engine::ChatMessage> messages;  // rendered with the model's chat template

  // Tokens to generate per choice; 0: until the context is full.
  int max_tokens = 16;
  int n = 1;  // completions sharing the prompt (prefilled once)
  // Sampling, as the engine's Sampler takes it. With n > 1, choice i draws
  // from seed ^ (i * 0x9E3779B97F4A7C15), so choice 0 matches n = 1.
  engine::SamplingParams sampling;
  std::vector<std::string> stop;     // stop strings (cut out of the text)
  std::vector<int32_t> stop_tokens;  // token ids that end a choice (not shown)
  bool ignore_eos = false;           // do not stop at EOS/EOT/end-of-turn (benchmarks)
  // When to give up, in microseconds on the scheduler's Clock
  // (SchedulerOptions::clock, the system clock by default); 0: never.
  int64_t deadline_micros = 0;
  // Run at every forward pass of this request (prompt and generated tokens,
  // every choice): steering. They see this request's rows only, with their
  // positions in its sequence. Null: none.
  std::shared_ptr<const engine::Hooks> hooks;

  GenerateCallbacks callbacks;
};

struct EmbedResult {
  std::vector<float> embedding;  // d_model floats, unit L2 norm
  int prompt_tokens = 0;
};

// An embedding: the mean over every input position (BOS included) of the
// final RMSNorm's output (ln_final.hook_normalized times the norm's gain),
// L2-normalised.
struct EmbedRequest {
  std::string model;
  std::vector<int32_t> tokens;  // or:
  std::string text;             // encoded with BOS as the model asks
  int64_t deadline_micros = 0;  // as GenerateRequest::deadline_micros
  // Called once on the scheduler thread: the embedding, or Cancelled /
  // DeadlineExceeded / the engine's error.
  std::function<void(absl::StatusOr<EmbedResult>)> on_done;
};

// Log-likelihood of one continuation given the request's context.
struct ContinuationScore {
  double logprob = 0;  // sum over the continuation's tokens of log softmax(logits)[token]
  int tokens = 0;      // the continuation's length in tokens
  // Every continuation token is the argmax of its position's logits (the
  // first maximum on ties), as lm-evaluation-harness's is_greedy.
  bool is_greedy = true;
};

struct ScoreResult {
  std::vector<ContinuationScore> continuations;  // in the request's order
  int context_tokens = 0;
  // Tokens run through the model: the context once, plus every continuation
  // token but the last (whose logits nobody needs).
  int processed_tokens = 0;
};

// Scores continuations of a shared context by log-likelihood (the
// multiple-choice scoring of lm-evaluation-harness). The context is
// prefilled once; its last logits score every continuation's first token.
// Then each continuation in turn runs on top of the context's KV cache (cut
// back to the context before each, so nothing is copied), with logits for
// every token. A request takes one slot (one sequence), whatever the number
// of continuations; the continuations of many requests share each step's
// batch. With one continuation this is scoring from scratch.
struct ScoreRequest {
  std::string model;
  std::vector<int32_t> context;                     // token ids as given (BOS included if wanted); not empty
  std::vector<std::vector<int32_t>> continuations;  // 1 to 1024 of them, none empty
  int64_t deadline_micros = 0;                      // as GenerateRequest::deadline_micros
  // Called once on the scheduler thread: the scores, or Cancelled /
  // DeadlineExceeded / the engine's error.
  std::function<void(absl::StatusOr<ScoreResult>)> on_done;
};

}  // namespace aperture::scheduler
