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

class HookedRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() / ("hooks-" + std::to_string(::getpid()) + ".gguf")).string();
    TestModelSpec spec{
        .layers = 2, .dim = 64, .heads = 4, .kv_heads = 2, .ffn = 128, .vocab = 300, .type = GgmlType::kF32, .seed = 4};
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

TEST_F(HookedRunTest, EverySiteIsCalledWithItsShape) {
  Hooks hooks;
  std::vector<std::string> called;
  const LlamaConfig& c = model_->config();
  for (const std::string& name : Hooks::AllNames(c.n_layers)) {
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
                           const int want = shape == SiteShape::kQHeads    ? c.q_dim()
                                            : shape == SiteShape::kKvHeads ? c.kv_dim()
                                            : shape == SiteShape::kMlp     ? c.ffn_dim
                                            : shape == SiteShape::kScale   ? 1
                                                                           : c.dim;
                           EXPECT_EQ(v.cols, want) << name;
                           EXPECT_EQ(v.position[3], 3);
                           if (shape == SiteShape::kScale) {
                             for (int r = 0; r < v.rows; ++r) EXPECT_GT(v.row(r)[0], 0.f) << name;
                           }
                         })
                    .ok());
  }
  const std::vector<float> plain = Run(nullptr);
  // Read-only hooks change nothing, bit for bit.
  EXPECT_EQ(Run(&hooks), plain);
  // 1 embed + per layer 18 row sites and 2 attention-weight sites called for
  // each of the 4 tokens, + 2 final-norm sites.
  EXPECT_EQ(called.size(), 1 + c.n_layers * (18 + 2 * 4) + 2);
  EXPECT_EQ(called.front(), "hook_embed");
  EXPECT_EQ(called[1], "blocks.0.hook_resid_pre");
  EXPECT_EQ(called[2], "blocks.0.ln1.hook_scale");
  EXPECT_EQ(called.back(), "ln_final.hook_normalized");
}

TEST_F(HookedRunTest, HooksCanOverwriteActivations) {
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

}  // namespace
}  // namespace aperture::engine
