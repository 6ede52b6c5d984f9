#include "engine/model/hooks.h"

#include <filesystem>
#include <vector>

#include "engine/model/runner.h"
#include "engine/model/test_model.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

TEST(HooksTest, ParsesTransformerLensNames) {
  for (const std::string& name : Hooks::AllNames(3)) {
    auto site = Hooks::ParseName(name, 3);
    ASSERT_TRUE(site.ok()) << name;
    EXPECT_EQ(Hooks::Name(site->first, site->second), name);
  }
  EXPECT_EQ(Hooks::ParseName("blocks.2.attn.hook_pattern", 3)->first, HookPoint::kAttnPattern);
  EXPECT_FALSE(Hooks::ParseName("blocks.3.hook_resid_pre", 3).ok());
  EXPECT_FALSE(Hooks::ParseName("blocks.x.hook_resid_pre", 3).ok());
  EXPECT_FALSE(Hooks::ParseName("blocks.0.hook_nothing", 3).ok());
  EXPECT_FALSE(Hooks::ParseName("", 3).ok());
  EXPECT_FALSE(Hooks::ParseName("blocks.0.hook_embed", 3).ok());
  EXPECT_FALSE(Hooks::ParseName("ln1.hook_scale", 3).ok());
  EXPECT_EQ(Hooks::ParseName("blocks.1.mlp.hook_pre_linear", 3)->first, HookPoint::kMlpPreLinear);
  EXPECT_EQ(Hooks::ParseName("ln_final.hook_scale", 3)->second, -1);
  EXPECT_EQ(Hooks::AllNames(3).size(), 1 + 3 * 20 + 2);
  for (int i = 0; i < kNumHookPoints; ++i) EXPECT_EQ(static_cast<int>(AllSites()[i].point), i);
}

TEST(HooksTest, ArchitectureSitesNeedTheirFeature) {
  EXPECT_EQ(Hooks::AllNames(3, kSitePostNorms).size(), 1 + 3 * 24 + 2);
  EXPECT_EQ(Hooks::AllNames(3, kAllSiteFeatures).size(), 1 + 3 * 28 + 2);
  for (const std::string& name : Hooks::AllNames(3, kAllSiteFeatures)) {
    auto site = Hooks::ParseName(name, 3);
    ASSERT_TRUE(site.ok()) << name;
    EXPECT_EQ(Hooks::Name(site->first, site->second), name);
  }
  EXPECT_EQ(Hooks::ParseName("blocks.1.ln2_post.hook_normalized", 3, kSitePostNorms)->first,
            HookPoint::kLn2PostNormalized);
  EXPECT_EQ(Hooks::ParseName("blocks.1.attn.k_norm.hook_scale", 3, kSiteQkNorms)->first, HookPoint::kAttnKNormScale);
  EXPECT_FALSE(Hooks::ParseName("blocks.1.ln2_post.hook_normalized", 3, kSiteQkNorms).ok());
  EXPECT_FALSE(Hooks::ParseName("blocks.1.attn.q_norm.hook_scale", 3, 0).ok());
  Hooks hooks;
  hooks.Add(HookPoint::kLn1PostScale, 2, [](const ActivationView&) {});
  EXPECT_FALSE(hooks.UnsupportedSite(kSitePostNorms).has_value());
  ASSERT_TRUE(hooks.UnsupportedSite(kSiteQkNorms).has_value());
  EXPECT_EQ(hooks.UnsupportedSite(kSiteQkNorms)->first, HookPoint::kLn1PostScale);
  EXPECT_EQ(hooks.UnsupportedSite(kSiteQkNorms)->second, 2);
}

// Every architecture: its sites (the common ones and its own) are called
// with their shapes, and read-only hooks change no bit, the sliding
// windows (2 keys here) included.
class HookedRunTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() / ("hooks-" + GetParam() + std::to_string(::getpid()) + ".gguf"))
                .string();
    TestModelSpec spec{.arch = GetParam(),
                       .layers = GetParam() == "gemma3" ? 6 : 2,
                       .dim = 64,
                       .heads = 4,
                       .kv_heads = 2,
                       .ffn = 128,
                       .vocab = 300,
                       .type = GgmlType::kF32,
                       .seed = 4,
                       .sliding_window = 2};
    ASSERT_TRUE(WriteTestModel(spec, path_).ok());
    model_ = *LlamaModel::Load(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::vector<float> Run(const Hooks* hooks) {
    Runner r(*model_, {.threads = 2});
    Sequence s(model_->config(), 16);
    const std::vector<int32_t> p = {1, 20, 30, 40};
    EXPECT_TRUE(r.Forward({{BatchEntry{&s, p}}}, hooks).ok());
    return {r.Logits(0).begin(), r.Logits(0).end()};
  }
  std::string path_;
  std::unique_ptr<LlamaModel> model_;
};

TEST_P(HookedRunTest, EverySiteIsCalledWithItsShape) {
  Hooks hooks;
  std::vector<std::string> called;
  const LlamaConfig& c = model_->config();
  for (const std::string& name : Hooks::AllNames(c.n_layers, c.site_features())) {
    ASSERT_TRUE(hooks
                    .Add(name, c.n_layers,
                         [&, name](const ActivationView& v) {
                           called.push_back(name);
                           const SiteShape shape = Site(v.point).shape;
                           if (shape == SiteShape::kHeadsByKey) {
                             EXPECT_EQ(v.rows, c.n_heads);
                             EXPECT_EQ(v.cols, v.position[0] + 1);
                             if (v.point == HookPoint::kAttnPattern) {
                               for (int h = 0; h < v.rows; ++h) {
                                 double sum = 0;
                                 for (int t = 0; t < v.cols; ++t) sum += v.row(h)[t];
                                 EXPECT_NEAR(sum, 1.0, 1e-5);
                               }
                             }
                             return;
                           }
                           EXPECT_EQ(v.rows, 4);
                           const int want = shape == SiteShape::kQHeads        ? c.q_dim()
                                            : shape == SiteShape::kKvHeads     ? c.kv_dim()
                                            : shape == SiteShape::kMlp         ? c.ffn_dim
                                            : shape == SiteShape::kScale       ? 1
                                            : shape == SiteShape::kQHeadScale  ? c.n_heads
                                            : shape == SiteShape::kKvHeadScale ? c.n_kv_heads
                                                                               : c.dim;
                           EXPECT_EQ(v.cols, want) << name;
                           EXPECT_EQ(v.position[3], 3);
                           if (shape == SiteShape::kScale || shape == SiteShape::kQHeadScale ||
                               shape == SiteShape::kKvHeadScale) {
                             for (int r = 0; r < v.rows; ++r) EXPECT_GT(v.row(r)[0], 0.f) << name;
                           }
                         })
                    .ok());
  }
  const std::vector<float> plain = Run(nullptr);
  // Read-only hooks change nothing, bit for bit.
  EXPECT_EQ(Run(&hooks), plain);
  // 1 embed + per layer 18 row sites (4 more for each feature) and 2
  // attention-weight sites called for each of the 4 tokens, + 2 final-norm sites.
  const int row_sites = 18 + (c.post_norms ? 4 : 0) + (c.qk_norm ? 4 : 0);
  EXPECT_EQ(called.size(), 1 + c.n_layers * (row_sites + 2 * 4) + 2);
  EXPECT_EQ(called.front(), "hook_embed");
  EXPECT_EQ(called[1], "blocks.0.hook_resid_pre");
  EXPECT_EQ(called[2], "blocks.0.ln1.hook_scale");
  EXPECT_EQ(called.back(), "ln_final.hook_normalized");
}

INSTANTIATE_TEST_SUITE_P(Architectures, HookedRunTest,
                         ::testing::Values("llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3"));

using HookedLlamaRunTest = HookedRunTest;

TEST_P(HookedLlamaRunTest, HooksCanOverwriteActivations) {
  const std::vector<float> plain = Run(nullptr);
  // Zeroing the final residual makes every logit zero.
  Hooks zero;
  ASSERT_TRUE(zero.Add("blocks.1.hook_resid_post", 2,
                       [](const ActivationView& v) {
                         for (int r = 0; r < v.rows; ++r) std::fill(v.row(r), v.row(r) + v.cols, 0.f);
                       })
                  .ok());
  for (float x : Run(&zero)) EXPECT_EQ(x, 0.f);
  // Ablating attention (uniform pattern) changes the logits.
  Hooks uniform;
  ASSERT_TRUE(uniform
                  .Add("blocks.0.attn.hook_pattern", 2,
                       [](const ActivationView& v) {
                         for (int r = 0; r < v.rows; ++r) std::fill(v.row(r), v.row(r) + v.cols, 1.f / v.cols);
                       })
                  .ok());
  EXPECT_NE(Run(&uniform), plain);
  // Scaling the normalised final state by 2 doubles the logits.
  Hooks twice;
  ASSERT_TRUE(twice
                  .Add("ln_final.hook_normalized", 2,
                       [](const ActivationView& v) {
                         for (int r = 0; r < v.rows; ++r)
                           for (int i = 0; i < v.cols; ++i) v.row(r)[i] *= 2;
                       })
                  .ok());
  const std::vector<float> doubled = Run(&twice);
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(doubled[i], 2 * plain[i], 1e-4 * (1 + std::fabs(plain[i])));
}

// Two entries in one call, each with its own hooks, see only their own
// rows: the same values and logits as when each runs alone.
TEST_P(HookedLlamaRunTest, PerEntryHooksSeeOnlyTheirEntrysRows) {
  const LlamaConfig& c = model_->config();
  const std::vector<int32_t> a = {1, 20, 30, 40}, b = {1, 7, 8};
  auto hooks_for = [&](std::vector<std::pair<int, float>>& seen, float add) {
    Hooks h;
    h.Add(HookPoint::kResidPost, 0, [&seen, add](const ActivationView& v) {
      for (int r = 0; r < v.rows; ++r) {
        seen.push_back({v.position[r], v.row(r)[0]});
        v.row(r)[0] += add;
      }
    });
    h.Add(HookPoint::kAttnPattern, 1, [&seen](const ActivationView& v) { seen.push_back({v.position[0], -1.f}); });
    return h;
  };
  std::vector<std::pair<int, float>> alone_a, alone_b, both_a, both_b;
  Hooks ha = hooks_for(alone_a, 1.f), hb = hooks_for(alone_b, -2.f);
  Runner r(*model_, {.threads = 2});
  Sequence sa(c, 16), sb(c, 16);
  ASSERT_TRUE(r.Forward({{BatchEntry{&sa, a}}}, &ha).ok());
  const std::vector<float> logits_a(r.Logits(0).begin(), r.Logits(0).end());
  ASSERT_TRUE(r.Forward({{BatchEntry{&sb, b}}}, &hb).ok());
  const std::vector<float> logits_b(r.Logits(0).begin(), r.Logits(0).end());

  Hooks ba = hooks_for(both_a, 1.f), bb = hooks_for(both_b, -2.f);
  const Hooks per_entry = PerEntryHooks({&ba, nullptr, &bb}, c.n_layers);
  Sequence ta(c, 16), tn(c, 16), tb(c, 16);
  const std::vector<int32_t> other = {1, 9};
  ASSERT_TRUE(r.Forward({{BatchEntry{&ta, a}, BatchEntry{&tn, other}, BatchEntry{&tb, b}}}, &per_entry).ok());
  EXPECT_EQ(both_a, alone_a);
  EXPECT_EQ(both_b, alone_b);
  EXPECT_EQ(std::vector<float>(r.Logits(0).begin(), r.Logits(0).end()), logits_a);
  EXPECT_EQ(std::vector<float>(r.Logits(2).begin(), r.Logits(2).end()), logits_b);
}

INSTANTIATE_TEST_SUITE_P(Llama, HookedLlamaRunTest, ::testing::Values("llama"));

}  // namespace
}  // namespace aperture::engine
