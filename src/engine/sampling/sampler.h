// Sampler: picks the next token from a logits vector: logit bias,
// repetition/frequency/presence penalties, then greedy or (top-k -> top-p
// -> min-p -> temperature -> a seeded draw), as llama.cpp orders them; and
// reports the log-probability of the chosen token with the top-N
// alternatives.
//
// Logprobs are the log-softmax over the whole vocabulary of the logits
// after logit bias and penalties and before temperature and truncation:
// they describe the model's (request-adjusted) distribution, so they do not
// change with temperature/top-p, and a token the filters removed still has
// a finite logprob. A banned token (bias -inf) has logprob -inf.
//
// Determinism: same params (seed included), same logits and history give
// the same token on any machine and thread count: each filter keeps a set
// fixed by the strict order (logit desc, id asc), the weights come from
// ExpShifted (the same floats on every ISA), the draw walks the tokens in
// id order summing in a fixed order, and the random numbers come from our
// own xoshiro256** (rng.h). Greedy never consumes random numbers.
//
// Cost: plain temperature sampling is a few vectorised passes over the
// vocabulary (about 20 us for 32,000 tokens); top-p selects its prefix by
// bucketing the weights instead of sorting.
//
// Usage:
//   ASSIGN_OR_RETURN(Sampler s, Sampler::Create(params, n_vocab));
//   ASSIGN_OR_RETURN(SampleResult r, s.Sample(logits, tokens_so_far));
//
// Thread-compatible: one Sampler per sequence (it owns the RNG state).
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/sampling/rng.h"

namespace aperture::engine {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy (argmax, lowest id on ties)
  int32_t top_k = 0;         // 0: off
  float top_p = 1.0f;        // 1: off; else keep the smallest prefix with mass >= top_p
  float min_p = 0.0f;        // 0: off; else keep p >= min_p * p_max
  // Over the last `penalty_last_n` tokens of the history (-1: all of it, 0: none):
  float repetition_penalty = 1.0f;  // 1: off; positive logits divided by it, negative multiplied
  float frequency_penalty = 0.0f;   // minus count * this
  float presence_penalty = 0.0f;    // minus this once a token appeared
  int32_t penalty_last_n = 64;
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to the logit; -inf bans a token
  uint64_t seed = 0;
  // Fill SampleResult::logprob (one pass of exp over the vocabulary);
  // implied by top_logprobs > 0.
  bool logprobs = false;
  int32_t top_logprobs = 0;  // alternatives to report (0..n_vocab)
};

struct TokenLogprob {
  int32_t token;
  float logprob;
};

struct SampleResult {
  int32_t token = -1;
  float logprob = 0.0f;           // of `token`
  std::vector<TokenLogprob> top;  // up to top_logprobs entries, most likely first (no -inf ones)
};

// One token under consideration (the sampler's scratch; not part of its results).
struct SamplerCandidate {
  float logit;
  int32_t id;
  double weight;  // exp(logit - max), filled where needed
};

class Sampler {
 public:
  // Errors (naming the parameter) on a negative or non-finite temperature,
  // top_k < 0, top_p outside (0, 1], min_p outside [0, 1], a non-positive
  // repetition penalty, non-finite penalties, a bias on an id outside the
  // vocabulary or a NaN/+inf bias, top_logprobs outside [0, n_vocab].
  static absl::StatusOr<Sampler> Create(const SamplingParams& params, int32_t n_vocab);

  // `logits` must have n_vocab entries (NaN counts as -inf). `history` is
  // the tokens so far, for the penalties. Errors when the sizes differ or
  // every token is excluded.
  absl::StatusOr<SampleResult> Sample(std::span<const float> logits, std::span<const int32_t> history);

  const SamplingParams& params() const { return params_; }

 private:
  Sampler(const SamplingParams& params, int32_t n_vocab) : params_(params), n_vocab_(n_vocab), rng_(params.seed) {}

  SamplingParams params_;
  int32_t n_vocab_;
  // The draw after top-k, top-p, min-p and temperature.
  int32_t Draw(float max_logit);
  void KeepFiltered(float max_logit);

  Rng rng_;
  // Scratch, reused between calls.
  std::vector<float> adjusted_;
  std::vector<float> weights_;
  std::vector<double> blocks_;
  std::vector<SamplerCandidate> scratch_;
  std::vector<uint8_t> keep_;
};

}  // namespace aperture::engine
