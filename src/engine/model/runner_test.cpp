#include "engine/model/runner.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include "engine/model/hooks.h"
#include "engine/model/test_model.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() / ("runner-" + std::to_string(::getpid()) + ".gguf")).string();
    TestModelSpec spec{.layers = 2,
                       .dim = 128,
                       .heads = 4,
                       .kv_heads = 2,
                       .ffn = 256,
                       .vocab = 400,
                       .type = GgmlType::kQ8_0,
                       .seed = 3};
    ASSERT_TRUE(WriteTestModel(spec, path_).ok());
    auto m = LlamaModel::Load(path_);
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = *std::move(m);
  }
  void TearDown() override { std::filesystem::remove(path_); }

  static int Argmax(std::span<const float> v) {
    return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
  }
  std::vector<int32_t> Greedy(Runner& r, std::vector<int32_t> prompt, int n) {
    Sequence seq(model_->config(), 128);
    EXPECT_TRUE(r.Forward({{BatchEntry{&seq, prompt}}}).ok());
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) {
      int32_t t = Argmax(r.Logits(0));
      out.push_back(t);
      Sequence* s = &seq;
      EXPECT_TRUE(r.Decode({&s, 1}, {&t, 1}).ok());
    }
    return out;
  }

  std::string path_;
  std::unique_ptr<LlamaModel> model_;
};

TEST_F(RunnerTest, GreedyOutputIsIdenticalAcrossRunsAndThreadCounts) {
  Runner one(*model_, {.threads = 1});
  Runner two(*model_, {.threads = 2});
  const std::vector<int32_t> prompt = {1, 300, 301, 302};
  const auto a = Greedy(one, prompt, 12);
  EXPECT_EQ(a, Greedy(one, prompt, 12));
  EXPECT_EQ(a, Greedy(two, prompt, 12));
}

// Prefill of a prompt and token-by-token decoding give bit-identical logits,
// and so does decoding the same sequence inside a batch of four.
TEST_F(RunnerTest, LogitsDoNotDependOnBatchComposition) {
  Runner r(*model_, {.threads = 2});
  const int vocab = model_->config().vocab_size;
  const std::vector<int32_t> prompt = {1, 10, 20, 30, 40, 50};
  Sequence a(model_->config(), 64);
  ASSERT_TRUE(r.Forward({{BatchEntry{&a, prompt, true}}}).ok());
  std::vector<float> prefill(r.Logits(0, 5).begin(), r.Logits(0, 5).end());

  Sequence b(model_->config(), 64);
  for (int32_t t : prompt) {
    Sequence* s = &b;
    ASSERT_TRUE(r.Decode({&s, 1}, {&t, 1}).ok());
  }
  EXPECT_EQ(0, std::memcmp(prefill.data(), r.Logits(0).data(), vocab * sizeof(float)));

  // Four sequences: one replaying the prompt, three with other histories.
  std::vector<Sequence> seqs;
  for (int i = 0; i < 4; ++i) seqs.emplace_back(model_->config(), 64);
  std::vector<int32_t> other = {1, 7, 8, 9, 11, 13};
  for (size_t step = 0; step < prompt.size(); ++step) {
    std::vector<Sequence*> ptrs = {&seqs[0], &seqs[1], &seqs[2], &seqs[3]};
    std::vector<int32_t> toks = {other[step], prompt[step], static_cast<int32_t>(100 + step), other[step]};
    ASSERT_TRUE(r.Decode(ptrs, toks).ok());
  }
  EXPECT_EQ(0, std::memcmp(prefill.data(), r.Logits(1).data(), vocab * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(r.Logits(0).data(), r.Logits(3).data(), vocab * sizeof(float)));
}

TEST_F(RunnerTest, LongPromptRunsInChunksWithSameResult) {
  std::vector<int32_t> prompt;
  for (int i = 0; i < 40; ++i) prompt.push_back(1 + (i * 37) % 399);
  Runner small(*model_, {.threads = 2, .max_batch_tokens = 7});
  Runner big(*model_, {.threads = 2});
  Sequence a(model_->config(), 64), b(model_->config(), 64);
  ASSERT_TRUE(small.Forward({{BatchEntry{&a, prompt}}}).ok());
  ASSERT_TRUE(big.Forward({{BatchEntry{&b, prompt}}}).ok());
  EXPECT_EQ(0, std::memcmp(small.Logits(0).data(), big.Logits(0).data(), model_->config().vocab_size * sizeof(float)));
  EXPECT_EQ(a.position(), 40);
}

TEST_F(RunnerTest, RejectsBadInputWithoutChangingState) {
  Runner r(*model_, {.threads = 1});
  Sequence s(model_->config(), 4);
  const std::vector<int32_t> bad = {1, 400};
  EXPECT_EQ(r.Forward({{BatchEntry{&s, bad}}}).code(), absl::StatusCode::kInvalidArgument);
  const std::vector<int32_t> too_long = {1, 2, 3, 4, 5};
  EXPECT_EQ(r.Forward({{BatchEntry{&s, too_long}}}).code(), absl::StatusCode::kOutOfRange);
  const std::vector<int32_t> ok = {1, 2};
  EXPECT_FALSE(r.Forward({{BatchEntry{&s, ok}, BatchEntry{&s, ok}}}).ok());
  EXPECT_EQ(s.position(), 0);
  EXPECT_TRUE(r.Forward({{BatchEntry{&s, ok}}}).ok());
  EXPECT_EQ(s.position(), 2);
}

TEST_F(RunnerTest, TruncateRewindsTheCache) {
  Runner r(*model_, {.threads = 2});
  Sequence s(model_->config(), 32);
  const std::vector<int32_t> p1 = {1, 5, 6, 7}, p2 = {1, 5, 9, 9};
  ASSERT_TRUE(r.Forward({{BatchEntry{&s, p1}}}).ok());
  s.Truncate(2);
  ASSERT_TRUE(r.Forward({{BatchEntry{&s, std::span<const int32_t>(p2).subspan(2)}}}).ok());
  std::vector<float> a(r.Logits(0).begin(), r.Logits(0).end());
  Sequence fresh(model_->config(), 32);
  ASSERT_TRUE(r.Forward({{BatchEntry{&fresh, p2}}}).ok());
  EXPECT_EQ(0, std::memcmp(a.data(), r.Logits(0).data(), a.size() * sizeof(float)));
}

// A pass resumed at a layer from the residual stream a full pass had there
// (and the cache of that pass below it) gives the full pass's logits, bit
// for bit, from any layer and position; so does the last layer's residual
// through Unembed.
TEST_F(RunnerTest, ResumingAtALayerAndUnembedReproduceTheFullPass) {
  const LlamaConfig& c = model_->config();
  const int vocab = c.vocab_size;
  const std::vector<int32_t> prompt = {1, 10, 20, 30, 40, 50, 60};
  const int n = static_cast<int>(prompt.size());
  Runner r(*model_, {.threads = 2, .max_batch_tokens = 4});
  // The residual entering every block, and leaving the last, at every position.
  std::vector<std::vector<float>> resid(c.n_layers + 1, std::vector<float>(static_cast<size_t>(n) * c.dim));
  Hooks hooks;
  for (int l = 0; l < c.n_layers; ++l) {
    hooks.Add(HookPoint::kResidPre, l, [&, l](const ActivationView& v) {
      for (int i = 0; i < v.rows; ++i) std::copy_n(v.row(i), v.cols, &resid[l][v.position[i] * c.dim]);
    });
  }
  hooks.Add(HookPoint::kResidPost, c.n_layers - 1, [&](const ActivationView& v) {
    for (int i = 0; i < v.rows; ++i) std::copy_n(v.row(i), v.cols, &resid[c.n_layers][v.position[i] * c.dim]);
  });
  Sequence full(c, 16);
  ASSERT_TRUE(r.Forward({{BatchEntry{&full, prompt, true}}}, &hooks).ok());
  std::vector<float> want(static_cast<size_t>(n) * vocab);
  for (int t = 0; t < n; ++t) std::copy_n(r.Logits(0, t).data(), vocab, &want[static_cast<size_t>(t) * vocab]);

  std::vector<float> lens(want.size());
  r.Unembed(resid[c.n_layers].data(), n, lens.data());
  EXPECT_EQ(lens, want);

  for (int layer = 0; layer <= c.n_layers; ++layer) {
    for (int p : {0, 3, n - 1}) {
      Sequence seq(c, 16);
      ASSERT_TRUE(r.Forward({{BatchEntry{&seq, prompt}}}).ok());
      seq.Truncate(p);
      BatchEntry e{&seq, std::span<const int32_t>(prompt).subspan(p), true, layer,
                   std::span<const float>(resid[layer]).subspan(static_cast<size_t>(p) * c.dim)};
      ASSERT_TRUE(r.Forward({&e, 1}).ok());
      for (int t = p; t < n; ++t) {
        EXPECT_EQ(0,
                  std::memcmp(r.Logits(0, t - p).data(), &want[static_cast<size_t>(t) * vocab], vocab * sizeof(float)))
            << "layer " << layer << " from position " << p << ", logits of " << t;
      }
      EXPECT_EQ(seq.position(), n);
    }
  }
  // Refused: a layer past the model, resid_in of the wrong size, mixed starting layers.
  Sequence s(c, 16);
  BatchEntry past{&s, prompt, false, c.n_layers + 1, resid[0]};
  EXPECT_EQ(r.Forward({&past, 1}).code(), absl::StatusCode::kInvalidArgument);
  BatchEntry short_resid{&s, prompt, false, 1, std::span<const float>(resid[1]).first(c.dim)};
  EXPECT_EQ(r.Forward({&short_resid, 1}).code(), absl::StatusCode::kInvalidArgument);
  BatchEntry no_resid{&s, prompt, false, 1, {}};
  EXPECT_EQ(r.Forward({&no_resid, 1}).code(), absl::StatusCode::kInvalidArgument);
  Sequence s2(c, 16);
  std::vector<BatchEntry> mixed = {{&s, prompt, false, 1, resid[1]}, {&s2, prompt, false, 0, {}}};
  EXPECT_EQ(r.Forward(mixed).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.position(), 0);
}

}  // namespace
}  // namespace aperture::engine
