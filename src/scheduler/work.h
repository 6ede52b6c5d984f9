// Internal to src/scheduler: a request as the scheduler's thread sees it,
// shared by the generation loop (scheduler.cpp) and embedding and scoring
// (scoring.cpp), and the helpers both use.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/sequence.h"
#include "engine/sampling/sampler.h"
#include "fmt/format.h"
#include "scheduler/scheduler.h"
#include "scheduler/text_stream.h"

namespace aperture::scheduler {

// Continuations of one scoring request at most (they run one after another).
constexpr int kMaxContinuations = 1024;

inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

inline absl::Status CheckTokens(std::span<const int32_t> tokens, int vocab_size) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab_size) {
      return absl::InvalidArgumentError(
          fmt::format("prompt token {} (at index {}) is outside the vocabulary [0, {})", tokens[i], i, vocab_size));
    }
  }
  return absl::OkStatus();
}

// One request as the scheduler thread sees it.
struct Scheduler::Work {
  struct Choice {
    std::unique_ptr<engine::Sequence> seq;  // allocated at admission
    std::optional<engine::Sampler> sampler;
    std::optional<TextStream> stream;
    std::vector<int32_t> generated;  // the sampler's history (OpenAI's penalties count sampled tokens)
    int32_t pending = -1;            // sampled, to be fed in the next step
    int events = 0;
    bool done = false;
  };

  RequestId id = 0;
  bool embed = false;
  bool admitted = false;  // its slots count in slots_used_
  bool finished = false;  // on_done delivered
  int slots = 1;
  std::shared_ptr<const LoadedModel> model;
  std::vector<int32_t> prompt;
  int prefilled = 0;  // prompt tokens already in the (first) sequence
  int64_t deadline_micros = 0;

  // Generation.
  GenerateCallbacks callbacks;
  std::shared_ptr<const engine::Hooks> hooks;  // steering, at every forward of this request
  int max_tokens = 0;
  bool logprobs = false;
  bool ignore_eos = false;
  std::vector<int32_t> stop_tokens;
  std::vector<Choice> choices;
  int completion_tokens = 0;

  // Embedding.
  std::function<void(absl::StatusOr<EmbedResult>)> embed_done;
  std::unique_ptr<engine::Sequence> embed_seq;
  std::vector<double> pool_sum;

  // Scoring: the context is `prompt`, prefilled into score_seq; each
  // continuation in turn then runs on top of it (the cache truncated back
  // to the context before each), so nothing is copied.
  struct Continuation {
    std::vector<int32_t> tokens;
    int fed = 0;  // tokens run so far (all but the last are)
    ContinuationScore score;
    bool left() const { return fed + 1 < static_cast<int>(tokens.size()); }
  };
  bool score = false;
  std::function<void(absl::StatusOr<ScoreResult>)> score_done;
  std::unique_ptr<engine::Sequence> score_seq;  // allocated at admission
  std::vector<Continuation> conts;
  int score_processed = 0;

  // An engine job (research passes).
  std::shared_ptr<EngineJob> job;

  bool prefilling() const { return prefilled < static_cast<int>(prompt.size()); }
  bool scored() const {
    return !prefilling() && std::none_of(conts.begin(), conts.end(), [](const Continuation& c) { return c.left(); });
  }
  bool all_choices_done() const {
    return std::all_of(choices.begin(), choices.end(), [](const Choice& c) { return c.done; });
  }
};

}  // namespace aperture::scheduler
