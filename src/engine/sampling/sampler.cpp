#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "engine/kernels/ops.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

using Candidate = SamplerCandidate;

// Most likely first; ids break ties so the order never depends on the sort.
bool Before(const Candidate& a, const Candidate& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); }

absl::Status Bad(std::string msg) { return absl::InvalidArgumentError("sampling: " + msg); }

// Sums w in a fixed order, so a draw never depends on the machine: blocks
// of kBlock values summed in index order in double (their sums kept in
// `blocks`), then the blocks in order. Independent blocks let the adds overlap.
constexpr int64_t kBlock = 64;

double BlockSums(std::span<const float> w, std::vector<double>& blocks) {
  const int64_t n = static_cast<int64_t>(w.size());
  const int64_t full = n / kBlock;
  blocks.assign((n + kBlock - 1) / kBlock, 0.0);
  int64_t b = 0;
  constexpr int64_t kSide = 8;  // blocks summed side by side: independent chains of adds
  for (; b + kSide <= full; b += kSide) {
    const float* p = w.data() + b * kBlock;
    double s[kSide] = {};
    for (int64_t i = 0; i < kBlock; ++i) {
      for (int64_t k = 0; k < kSide; ++k) s[k] += p[k * kBlock + i];
    }
    for (int64_t k = 0; k < kSide; ++k) blocks[b + k] = s[k];
  }
  for (; b < static_cast<int64_t>(blocks.size()); ++b) {
    double s = 0;
    for (int64_t i = b * kBlock; i < std::min(n, (b + 1) * kBlock); ++i) s += w[i];
    blocks[b] = s;
  }
  double total = 0;
  for (double s : blocks) total += s;
  return total;
}

// The first index whose running sum (whole blocks, then within the block)
// passes u; u is in [0, total). A zero weight is never picked; u within
// rounding of the total picks the last token with weight.
int32_t PickWeighted(std::span<const float> w, const std::vector<double>& blocks, double u) {
  double cum = 0;
  size_t b = 0;
  while (b + 1 < blocks.size() && cum + blocks[b] <= u) cum += blocks[b++];
  for (size_t i = b * kBlock; i < w.size(); ++i) {
    cum += w[i];
    if (u < cum) return static_cast<int32_t>(i);
  }
  for (size_t i = w.size(); i-- > 0;) {
    if (w[i] > 0) return static_cast<int32_t>(i);
  }
  return 0;  // unreachable: the most likely token always has weight 1
}

// Keeps the smallest prefix of `c`, in Before order, whose weights sum to
// at least `target` (top-p). Linear time: the weights are summed into
// buckets of logit value, walked from the top; only the bucket where the
// sum crosses `target` is sorted. Every sum runs in a fixed order (ids
// ascending within a bucket, buckets descending), so the kept set does not
// depend on the standard library. `c` must be in id order; on return it
// holds the kept tokens.
void KeepMassPrefix(std::vector<Candidate>& c, double target, float max_logit) {
  if (c.empty()) return;
  float lane[8];  // independent lanes: GCC otherwise keeps one running minimum on the stack
  std::fill(lane, lane + 8, max_logit);
  for (size_t i = 0; i < c.size(); ++i) lane[i % 8] = std::min(lane[i % 8], c[i].logit);
  const float min_logit = *std::min_element(lane, lane + 8);
  constexpr int kBuckets = 1024;
  const float scale = max_logit > min_logit ? (kBuckets - 1) / (max_logit - min_logit) : 0.0f;
  auto bucket = [min_logit, scale](float l) {
    const int b = static_cast<int>((l - min_logit) * scale);
    return std::clamp(b, 0, kBuckets - 1);
  };
  std::vector<double> mass(kBuckets, 0.0);
  for (const Candidate& x : c) mass[bucket(x.logit)] += x.weight;
  double acc = 0;
  int crossing = 0;
  for (int b = kBuckets - 1; b >= 0; --b) {
    if (acc + mass[b] >= target || b == 0) {
      crossing = b;
      break;
    }
    acc += mass[b];
  }
  std::vector<Candidate> edge;
  size_t kept = 0;
  for (const Candidate& x : c) {
    const int b = bucket(x.logit);
    if (b > crossing) {
      c[kept++] = x;
    } else if (b == crossing) {
      edge.push_back(x);
    }
  }
  c.resize(kept);
  std::sort(edge.begin(), edge.end(), Before);
  for (const Candidate& x : edge) {
    c.push_back(x);
    acc += x.weight;
    if (acc >= target) break;
  }
}

// The best `k` tokens (k < number of finite logits or not), in no
// particular order: one pass with a bounded heap whose front is the worst kept.
void TopK(const std::vector<float>& logits, size_t k, std::vector<Candidate>* out) {
  out->clear();
  out->reserve(k);
  for (int32_t i = 0; i < static_cast<int32_t>(logits.size()); ++i) {
    if (logits[i] == kNegInf) continue;
    const Candidate c{logits[i], i, 0.0};
    if (out->size() < k) {
      out->push_back(c);
      std::push_heap(out->begin(), out->end(), Before);
    } else if (Before(c, out->front())) {
      std::pop_heap(out->begin(), out->end(), Before);
      out->back() = c;
      std::push_heap(out->begin(), out->end(), Before);
    }
  }
}

}  // namespace

absl::StatusOr<Sampler> Sampler::Create(const SamplingParams& p, int32_t n_vocab) {
  if (n_vocab <= 0) return Bad(fmt::format("vocabulary size {} must be positive", n_vocab));
  if (!std::isfinite(p.temperature) || p.temperature < 0) {
    return Bad(fmt::format("temperature {} must be a finite number >= 0", p.temperature));
  }
  if (p.top_k < 0) return Bad(fmt::format("top_k {} must be >= 0", p.top_k));
  if (!(p.top_p > 0 && p.top_p <= 1)) return Bad(fmt::format("top_p {} must be in (0, 1]", p.top_p));
  if (!(p.min_p >= 0 && p.min_p <= 1)) return Bad(fmt::format("min_p {} must be in [0, 1]", p.min_p));
  if (!std::isfinite(p.repetition_penalty) || p.repetition_penalty <= 0) {
    return Bad(fmt::format("repetition_penalty {} must be > 0", p.repetition_penalty));
  }
  if (!std::isfinite(p.frequency_penalty)) return Bad("frequency_penalty must be finite");
  if (!std::isfinite(p.presence_penalty)) return Bad("presence_penalty must be finite");
  if (p.penalty_last_n < -1) return Bad(fmt::format("penalty_last_n {} must be >= -1", p.penalty_last_n));
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= n_vocab) {
      return Bad(fmt::format("logit_bias token {} is outside the vocabulary (0..{})", id, n_vocab - 1));
    }
    if (std::isnan(bias) || bias == std::numeric_limits<float>::infinity()) {
      return Bad(fmt::format("logit_bias for token {} must be a number or -inf", id));
    }
  }
  if (p.top_logprobs < 0 || p.top_logprobs > n_vocab) {
    return Bad(fmt::format("top_logprobs {} must be in [0, {}]", p.top_logprobs, n_vocab));
  }
  return Sampler(p, n_vocab);
}

int32_t Sampler::Draw(float max_logit) {
  weights_.resize(n_vocab_);
  const bool filtered = (params_.top_k > 0 && params_.top_k < n_vocab_) || params_.top_p < 1.0f || params_.min_p > 0.0f;
  if (filtered) KeepFiltered(max_logit);
  ExpShifted(adjusted_.data(), max_logit, 1.0f / params_.temperature, n_vocab_, weights_.data());
  if (filtered) {
    for (int32_t i = 0; i < n_vocab_; ++i) {
      if (!keep_[i]) weights_[i] = 0.0f;
    }
  }
  const double total = BlockSums(weights_, blocks_);
  return PickWeighted(weights_, blocks_, rng_.NextDouble() * total);
}

// Marks in keep_ the tokens that top-k, top-p and min-p leave (weights_ is
// its scratch for top-p, at temperature 1). Each filter
// keeps a set fixed by the strict (logit desc, id asc) order, whatever order
// the selection algorithms leave the entries in.
void Sampler::KeepFiltered(float max_logit) {
  std::vector<Candidate>& cands = scratch_;
  cands.clear();
  if (params_.top_k > 0 && params_.top_k < n_vocab_) {
    TopK(adjusted_, static_cast<size_t>(params_.top_k), &cands);
    std::sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
  } else {
    cands.reserve(n_vocab_);
    for (int32_t i = 0; i < n_vocab_; ++i) {
      if (adjusted_[i] != kNegInf) cands.push_back({adjusted_[i], i, 0.0});
    }
  }
  if (params_.top_p < 1.0f) {
    ExpShifted(adjusted_.data(), max_logit, 1.0f, n_vocab_, weights_.data());  // top-p sees temperature 1
    for (Candidate& c : cands) c.weight = weights_[c.id];
    // Without top-k the candidates are every token with a weight (banned ones weigh exactly 0).
    double total = 0;
    if (params_.top_k > 0 && params_.top_k < n_vocab_) {
      for (const Candidate& c : cands) total += c.weight;
    } else {
      total = BlockSums(weights_, blocks_);
    }
    KeepMassPrefix(cands, params_.top_p * total, max_logit);
  }
  if (params_.min_p > 0.0f) {
    const double threshold = max_logit + std::log(static_cast<double>(params_.min_p));
    auto drop = [&](const Candidate& c) { return c.logit < threshold; };
    cands.erase(std::remove_if(cands.begin(), cands.end(), drop), cands.end());
  }
  keep_.assign(n_vocab_, 0);
  for (const Candidate& c : cands) keep_[c.id] = 1;
}

absl::StatusOr<SampleResult> Sampler::Sample(std::span<const float> logits, std::span<const int32_t> history) {
  if (logits.size() != static_cast<size_t>(n_vocab_)) {
    return Bad(fmt::format("got {} logits for a vocabulary of {}", logits.size(), n_vocab_));
  }
  adjusted_.resize(n_vocab_);
  for (int32_t i = 0; i < n_vocab_; ++i) adjusted_[i] = logits[i] == logits[i] ? logits[i] : kNegInf;  // NaN: banned
  for (const auto& [id, bias] : params_.logit_bias) adjusted_[id] += bias;

  // Penalties over the window, counted by sorting a copy (no per-vocab table).
  const bool penalize =
      params_.repetition_penalty != 1.0f || params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f;
  if (penalize && params_.penalty_last_n != 0 && !history.empty()) {
    size_t n = history.size();
    if (params_.penalty_last_n > 0) n = std::min(n, static_cast<size_t>(params_.penalty_last_n));
    std::vector<int32_t> window(history.end() - n, history.end());
    std::sort(window.begin(), window.end());
    for (size_t i = 0; i < window.size();) {
      size_t j = i;
      while (j < window.size() && window[j] == window[i]) ++j;
      const int32_t id = window[i];
      const float count = static_cast<float>(j - i);
      i = j;
      if (id < 0 || id >= n_vocab_) continue;
      float& l = adjusted_[id];
      if (params_.repetition_penalty != 1.0f) {
        l = l <= 0 ? l * params_.repetition_penalty : l / params_.repetition_penalty;
      }
      l -= count * params_.frequency_penalty + params_.presence_penalty;
    }
  }

  const int32_t argmax = static_cast<int32_t>(ArgMaxF32(adjusted_.data(), n_vocab_));
  const float max_logit = adjusted_[argmax];
  if (max_logit == kNegInf || max_logit == std::numeric_limits<float>::infinity()) {
    return absl::FailedPreconditionError(
        max_logit == kNegInf ? "sampling: every token is excluded (all logits are -inf)" : "sampling: a logit is +inf");
  }

  SampleResult result;
  result.token = params_.temperature == 0.0f ? argmax : Draw(max_logit);

  if (params_.logprobs || params_.top_logprobs > 0) {
    // Log-sum-exp over the adjusted logits, summed in BlockSums' fixed order.
    weights_.resize(n_vocab_);
    ExpShifted(adjusted_.data(), max_logit, 1.0f, n_vocab_, weights_.data());
    const double log_z = max_logit + std::log(BlockSums(weights_, blocks_));
    auto logprob = [&](int32_t id) { return static_cast<float>(adjusted_[id] - log_z); };
    result.logprob = logprob(result.token);
    if (params_.top_logprobs > 0) {
      std::vector<Candidate> top;
      TopK(adjusted_, static_cast<size_t>(params_.top_logprobs), &top);
      std::sort(top.begin(), top.end(), Before);
      // Banned tokens (-inf) are left out, so there may be fewer than asked.
      result.top.reserve(top.size());
      for (const Candidate& c : top) result.top.push_back({c.id, logprob(c.id)});
    }
  }
  return result;
}

}  // namespace aperture::engine
