#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

using ::testing::HasSubstr;

constexpr float kInf = std::numeric_limits<float>::infinity();

Sampler Make(const SamplingParams& p, int32_t n_vocab) {
  auto s = Sampler::Create(p, n_vocab);
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(*s);
}

int32_t Draw(Sampler& s, const std::vector<float>& logits, const std::vector<int32_t>& history = {}) {
  auto r = s.Sample(logits, history);
  EXPECT_TRUE(r.ok()) << r.status();
  return r->token;
}

// How often each token is drawn in n draws.
std::map<int32_t, int> Histogram(SamplingParams p, const std::vector<float>& logits, int n) {
  Sampler s = Make(p, static_cast<int32_t>(logits.size()));
  std::map<int32_t, int> h;
  for (int i = 0; i < n; ++i) ++h[Draw(s, logits)];
  return h;
}

TEST(SamplerTest, GreedyTakesTheArgmaxLowestIdOnTies) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s = Make(p, 5);
  EXPECT_EQ(Draw(s, {0.1f, 3.0f, -1.0f, 3.0f, 2.0f}), 1);
  EXPECT_EQ(Draw(s, {0.0f, 0.0f, 0.0f, 0.0f, 0.5f}), 4);
}

TEST(SamplerTest, SameSeedSameTokens) {
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i)) * 3;
  SamplingParams p;
  p.seed = 42;
  p.temperature = 0.9f;
  p.top_p = 0.95f;
  Sampler a = Make(p, 1000), b = Make(p, 1000);
  std::vector<int32_t> seq_a, seq_b;
  for (int i = 0; i < 50; ++i) {
    seq_a.push_back(Draw(a, logits, seq_a));
    seq_b.push_back(Draw(b, logits, seq_b));
  }
  EXPECT_EQ(seq_a, seq_b);
  p.seed = 43;
  Sampler c = Make(p, 1000);
  std::vector<int32_t> seq_c;
  for (int i = 0; i < 50; ++i) seq_c.push_back(Draw(c, logits, seq_c));
  EXPECT_NE(seq_a, seq_c);
}

TEST(SamplerTest, FixedSeedGivesAFixedSequence) {
  // Pins the generator and the draw: a change here changes every seeded
  // output users have seen, so it must be deliberate.
  Rng rng(0);
  EXPECT_EQ(rng.Next(), 0x99ec5f36cb75f2b4ULL);
  SamplingParams p;
  p.seed = 7;
  Sampler s = Make(p, 4);
  std::vector<int32_t> seq;
  for (int i = 0; i < 8; ++i) seq.push_back(Draw(s, {0.0f, 0.0f, 0.0f, 0.0f}));
  EXPECT_EQ(seq, (std::vector<int32_t>{2, 1, 3, 3, 3, 3, 0, 0}));
}

TEST(SamplerTest, TemperatureSamplingFollowsTheDistribution) {
  // p = softmax([0, ln 3]) = [0.25, 0.75].
  SamplingParams p;
  p.seed = 1;
  auto h = Histogram(p, {0.0f, std::log(3.0f)}, 20000);
  EXPECT_NEAR(h[1] / 20000.0, 0.75, 0.02);
  // Temperature 0.5 squares the odds: [1/10, 9/10].
  p.temperature = 0.5f;
  h = Histogram(p, {0.0f, std::log(3.0f)}, 20000);
  EXPECT_NEAR(h[1] / 20000.0, 0.9, 0.02);
}

TEST(SamplerTest, TopKKeepsOnlyTheKBest) {
  SamplingParams p;
  p.top_k = 2;
  p.temperature = 5.0f;  // flatten, so excluded tokens would show up
  auto h = Histogram(p, {1.0f, 4.0f, 3.0f, 2.0f, 0.0f}, 2000);
  EXPECT_EQ(h.size(), 2u);
  EXPECT_GT(h[1], 0);
  EXPECT_GT(h[2], 0);
}

TEST(SamplerTest, TopPKeepsTheSmallestSufficientPrefix) {
  // probs 0.5, 0.3, 0.2: top_p 0.7 keeps {0, 1}; 0.5 keeps {0}.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  SamplingParams p;
  p.top_p = 0.7f;
  auto h = Histogram(p, logits, 3000);
  EXPECT_EQ(h.count(2), 0u);
  EXPECT_GT(h[1], 0);
  p.top_p = 0.5f;
  h = Histogram(p, logits, 500);
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0], 500);
}

TEST(SamplerTest, TopPOverALargeVocabulary) {
  std::vector<float> logits(50000, 0.0f);
  logits[123] = 20.0f;  // nearly all the mass
  SamplingParams p;
  p.top_p = 0.9f;
  auto h = Histogram(p, logits, 200);
  EXPECT_EQ(h[123], 200);
}

TEST(SamplerTest, TopPKeepsExactlyTheReferencePrefixOnAFlatDistribution) {
  // 300 tokens with close logits: the prefix is long, so the selection
  // descends several levels. Reference: sort and accumulate.
  std::vector<float> logits(300);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i) * 1.7f);
  std::vector<int32_t> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  double total = 0;
  for (float l : logits) total += std::exp(static_cast<double>(l));
  std::set<int32_t> kept;
  double cum = 0;
  for (int32_t id : order) {
    kept.insert(id);
    cum += std::exp(static_cast<double>(logits[id])) / total;
    if (cum >= 0.6) break;
  }
  SamplingParams p;
  p.top_p = 0.6f;
  p.temperature = 100.0f;  // nearly uniform over the kept set
  auto h = Histogram(p, logits, 30000);
  for (const auto& [id, n] : h) EXPECT_TRUE(kept.count(id)) << "token " << id << " drawn";
  EXPECT_EQ(h.size(), kept.size());
}

TEST(SamplerTest, NoLogprobsUnlessAsked) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s = Make(p, 4);
  auto r = s.Sample(std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->token, 3);
  EXPECT_EQ(r->logprob, 0.0f);
  EXPECT_TRUE(r->top.empty());
  p.top_logprobs = 1;  // implies logprobs
  Sampler t = Make(p, 4);
  r = t.Sample(std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->logprob, std::log(0.25), 1e-6);
  ASSERT_EQ(r->top.size(), 1u);
  EXPECT_EQ(r->top[0].token, 0);
}

TEST(SamplerTest, MinPDropsUnlikelyTokens) {
  // probs 0.6, 0.3, 0.1: min_p 0.2 * 0.6 = 0.12 drops token 2.
  SamplingParams p;
  p.min_p = 0.2f;
  auto h = Histogram(p, {std::log(0.6f), std::log(0.3f), std::log(0.1f)}, 3000);
  EXPECT_EQ(h.count(2), 0u);
  EXPECT_GT(h[1], 0);
}

TEST(SamplerTest, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  SamplingParams p;
  p.temperature = 0;
  p.repetition_penalty = 2.0f;
  Sampler s = Make(p, 3);
  // Token 0 (logit 3) seen: 3/2 = 1.5 < 2, so token 1 wins.
  EXPECT_EQ(Draw(s, {3.0f, 2.0f, -1.0f}, {0}), 1);
  // Negative logits are pushed further down: -0.5 * 2 = -1 < -0.8.
  EXPECT_EQ(Draw(s, {-0.5f, -0.8f, -3.0f}, {0}), 1);
  // Outside the window (last 64 tokens) nothing is penalised.
  std::vector<int32_t> history = {0};
  history.insert(history.end(), 64, 2);
  EXPECT_EQ(Draw(s, {3.0f, 2.0f, -1.0f}, history), 0);
}

TEST(SamplerTest, FrequencyAndPresencePenalties) {
  SamplingParams p;
  p.temperature = 0;
  p.frequency_penalty = 0.5f;
  Sampler f = Make(p, 2);
  // Token 0 seen 3 times: 2.0 - 1.5 = 0.5 < 1.0.
  EXPECT_EQ(Draw(f, {2.0f, 1.0f}, {0, 0, 0}), 1);
  EXPECT_EQ(Draw(f, {2.0f, 1.0f}, {0}), 0);  // 1.5 > 1.0
  p.frequency_penalty = 0;
  p.presence_penalty = 1.5f;
  Sampler pr = Make(p, 2);
  EXPECT_EQ(Draw(pr, {2.0f, 1.0f}, {0}), 1);  // 0.5 < 1.0 after one appearance
}

TEST(SamplerTest, LogitBiasAndBans) {
  SamplingParams p;
  p.temperature = 0;
  p.logit_bias = {{0, -kInf}, {2, 5.0f}};
  Sampler s = Make(p, 3);
  EXPECT_EQ(Draw(s, {10.0f, 1.0f, 0.0f}), 2);
  SamplingParams ban_all;
  ban_all.logit_bias = {{0, -kInf}, {1, -kInf}};
  Sampler none = Make(ban_all, 2);
  auto r = none.Sample(std::vector<float>{1.0f, 2.0f}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("every token is excluded"));
}

TEST(SamplerTest, LogprobsAreLogSoftmaxBeforeTemperature) {
  SamplingParams p;
  p.temperature = 0.3f;
  p.logprobs = true;
  p.top_logprobs = 2;
  p.logit_bias = {{2, 1.0f}};
  Sampler s = Make(p, 3);
  // Adjusted logits: [0, ln 2, ln 3 - 1 + 1] -> probs [1/6, 2/6, 3/6].
  const std::vector<float> logits = {0.0f, std::log(2.0f), std::log(3.0f) - 1.0f};
  auto r = s.Sample(logits, {});
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->logprob, std::log(r->token == 0 ? 1 / 6.0 : r->token == 1 ? 2 / 6.0 : 3 / 6.0), 1e-5);
  ASSERT_EQ(r->top.size(), 2u);
  EXPECT_EQ(r->top[0].token, 2);
  EXPECT_NEAR(r->top[0].logprob, std::log(0.5), 1e-5);
  EXPECT_EQ(r->top[1].token, 1);
  EXPECT_NEAR(r->top[1].logprob, std::log(2 / 6.0), 1e-5);
}

TEST(SamplerTest, NanLogitsCountAsExcluded) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s = Make(p, 3);
  EXPECT_EQ(Draw(s, {std::nanf(""), 1.0f, 0.5f}), 1);
}

TEST(SamplerTest, InvalidParametersAreRejectedByName) {
  auto err = [](SamplingParams p) {
    auto s = Sampler::Create(p, 10);
    return s.ok() ? std::string("OK") : std::string(s.status().message());
  };
  SamplingParams p;
  p.temperature = -1;
  EXPECT_THAT(err(p), HasSubstr("temperature"));
  p = {};
  p.top_p = 0;
  EXPECT_THAT(err(p), HasSubstr("top_p"));
  p = {};
  p.min_p = 2;
  EXPECT_THAT(err(p), HasSubstr("min_p"));
  p = {};
  p.top_k = -3;
  EXPECT_THAT(err(p), HasSubstr("top_k"));
  p = {};
  p.repetition_penalty = 0;
  EXPECT_THAT(err(p), HasSubstr("repetition_penalty"));
  p = {};
  p.logit_bias = {{10, 1.0f}};
  EXPECT_THAT(err(p), HasSubstr("logit_bias token 10"));
  p = {};
  p.top_logprobs = 11;
  EXPECT_THAT(err(p), HasSubstr("top_logprobs"));
  Sampler s = Make({}, 10);
  EXPECT_FALSE(s.Sample(std::vector<float>(9, 0.0f), {}).ok());
}

}  // namespace
}  // namespace aperture::engine
