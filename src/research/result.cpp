#include "research/result.h"

#include <algorithm>
#include <cmath>

namespace aperture::research {
namespace {

// max and log(sum(exp(x - max))) over the vocabulary, in double, in index order.
std::pair<double, double> LogNormalizer(const float* logits, int vocab) {
  double mx = -INFINITY;
  for (int v = 0; v < vocab; ++v) mx = std::max(mx, static_cast<double>(logits[v]));
  double sum = 0;
  for (int v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(logits[v]) - mx);
  return {mx, std::log(sum)};
}

}  // namespace

double LogSoftmaxAt(const float* logits, int vocab, int32_t token) {
  const auto [mx, log_sum] = LogNormalizer(logits, vocab);
  return static_cast<double>(logits[token]) - mx - log_sum;
}

std::vector<engine::TokenLogprob> TopLogprobs(const float* logits, int vocab, int k) {
  k = std::min(k, vocab);
  std::vector<int32_t> ids(vocab);
  for (int v = 0; v < vocab; ++v) ids[v] = v;
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  const auto [mx, log_sum] = LogNormalizer(logits, vocab);
  std::vector<engine::TokenLogprob> out;
  for (int i = 0; i < k; ++i) {
    out.push_back({ids[i], static_cast<float>(static_cast<double>(logits[ids[i]]) - mx - log_sum)});
  }
  return out;
}

}  // namespace aperture::research
