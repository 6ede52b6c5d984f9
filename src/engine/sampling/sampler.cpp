#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Candidate {
  float logit;
  int32_t id;
};

// Most likely first; ids break ties so the order never depends on the sort.
bool Before(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

absl::Status Bad(std::string msg) { return absl::InvalidArgumentError("sampling: " + msg); }

}  // namespace

absl::StatusOr<Sampler> Sampler::Create(const SamplingParams& p, int32_t n_vocab) {
  if (n_vocab <= 0) return Bad(fmt::format("vocabulary size {} must be positive", n_vocab));
  if (!std::isfinite(p.temperature) || p.temperature < 0) {
    return Bad(fmt::format("temperature {} must be a finite number >= 0", p.temperature));
  }
  if (p.top_k < 0) return Bad(fmt::format("top_k {} must be >= 0", p.top_k));
  if (!(p.top_p > 0 && p.top_p <= 1))
    return Bad(fmt::format("top_p {} must be in (0, 1]", p.top_p));
  if (!(p.min_p >= 0 && p.min_p <= 1))
    return Bad(fmt::format("min_p {} must be in [0, 1]", p.min_p));
  if (!std::isfinite(p.repetition_penalty) || p.repetition_penalty <= 0) {
    return Bad(fmt::format("repetition_penalty {} must be > 0", p.repetition_penalty));
  }
  if (!std::isfinite(p.frequency_penalty)) return Bad("frequency_penalty must be finite");
  if (!std::isfinite(p.presence_penalty)) return Bad("presence_penalty must be finite");
  if (p.penalty_last_n < -1)
    return Bad(fmt::format("penalty_last_n {} must be >= -1", p.penalty_last_n));
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= n_vocab) {
      return Bad(
          fmt::format("logit_bias token {} is outside the vocabulary (0..{})", id, n_vocab - 1));
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

absl::StatusOr<SampleResult> Sampler::Sample(std::span<const float> logits,
                                             std::span<const int32_t> history) {
  if (logits.size() != static_cast<size_t>(n_vocab_)) {
    return Bad(fmt::format("got {} logits for a vocabulary of {}", logits.size(), n_vocab_));
  }
  adjusted_.assign(logits.begin(), logits.end());
  for (float& l : adjusted_) {
    if (std::isnan(l)) l = kNegInf;
  }
  for (const auto& [id, bias] : params_.logit_bias) adjusted_[id] += bias;

  // Penalties over the window, counted by sorting a copy (no per-vocab table).
  const bool penalize = params_.repetition_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
                        params_.presence_penalty != 0.0f;
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

  // Log-sum-exp over the adjusted logits, in index order (deterministic).
  float max_logit = kNegInf;
  int32_t argmax = -1;
  for (int32_t i = 0; i < n_vocab_; ++i) {
    if (adjusted_[i] > max_logit) {
      max_logit = adjusted_[i];
      argmax = i;
    }
  }
  if (argmax < 0 || max_logit == std::numeric_limits<float>::infinity()) {
    return absl::FailedPreconditionError(
        max_logit == kNegInf ? "sampling: every token is excluded (all logits are -inf)"
                             : "sampling: a logit is +inf");
  }
  double sum = 0;
  for (float l : adjusted_) sum += std::exp(static_cast<double>(l) - max_logit);
  const double log_z = max_logit + std::log(sum);
  auto logprob = [&](int32_t id) { return static_cast<float>(adjusted_[id] - log_z); };

  SampleResult result;
  if (params_.temperature == 0.0f) {
    result.token = argmax;
  } else {
    std::vector<Candidate> cands;
    cands.reserve(n_vocab_);
    for (int32_t i = 0; i < n_vocab_; ++i) {
      if (adjusted_[i] != kNegInf) cands.push_back({adjusted_[i], i});
    }
    if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < cands.size()) {
      std::nth_element(cands.begin(), cands.begin() + params_.top_k, cands.end(), Before);
      cands.resize(params_.top_k);
    }
    if (params_.top_p < 1.0f) {
      // Mass of each candidate relative to those left; sort only as far as needed.
      double total = 0;
      for (const Candidate& c : cands) total += std::exp(static_cast<double>(c.logit) - max_logit);
      size_t m = std::min<size_t>(cands.size(), 64);
      size_t keep = cands.size();
      while (true) {
        std::partial_sort(cands.begin(), cands.begin() + m, cands.end(), Before);
        double cum = 0;
        size_t i = 0;
        for (; i < m; ++i) {
          cum += std::exp(static_cast<double>(cands[i].logit) - max_logit) / total;
          if (cum >= params_.top_p) break;
        }
        if (i < m) {
          keep = i + 1;
          break;
        }
        if (m == cands.size()) break;
        m = std::min(cands.size(), m * 4);
      }
      cands.resize(keep);
    }
    if (params_.min_p > 0.0f) {
      const double threshold = max_logit + std::log(static_cast<double>(params_.min_p));
      auto drop = [&](const Candidate& c) { return c.logit < threshold; };
      cands.erase(std::remove_if(cands.begin(), cands.end(), drop), cands.end());
    }
    // The candidates' order is fixed by the steps above, so the draw is deterministic.
    // Temperature, then one draw from the remaining candidates.
    const double inv_t = 1.0 / params_.temperature;
    std::vector<double> weights(cands.size());
    double wsum = 0;
    for (size_t i = 0; i < cands.size(); ++i) {
      weights[i] = std::exp((static_cast<double>(cands[i].logit) - max_logit) * inv_t);
      wsum += weights[i];
    }
    const double u = rng_.NextDouble() * wsum;
    double cum = 0;
    result.token = cands.back().id;
    for (size_t i = 0; i < cands.size(); ++i) {
      cum += weights[i];
      if (u < cum) {
        result.token = cands[i].id;
        break;
      }
    }
  }

  result.logprob = logprob(result.token);
  if (params_.top_logprobs > 0) {
    std::vector<Candidate> all;
    all.reserve(n_vocab_);
    for (int32_t i = 0; i < n_vocab_; ++i) all.push_back({adjusted_[i], i});
    const size_t n = static_cast<size_t>(params_.top_logprobs);
    std::partial_sort(all.begin(), all.begin() + n, all.end(), Before);
    result.top.reserve(n);
    for (size_t i = 0; i < n; ++i) result.top.push_back({all[i].id, logprob(all[i].id)});
  }
  return result;
}

}  // namespace aperture::engine
