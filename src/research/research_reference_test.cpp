// Research requests end to end (JSON -> plan -> scheduler job) against the
// float64 reference: captures in TransformerLens's shapes, interventions,
// activation patching and the logit lens, on stories260K and a generated
// model with grouped-query attention (both F32: within 1e-4 of the RMS).
#include <cmath>
#include <numeric>

#include "fmt/format.h"
#include "research/research_test_util.h"
#include "research/result_format.h"

namespace aperture::research {
namespace {

using engine::testing::RefTensor;

constexpr double kTolerance = 1e-4;
const std::vector<int32_t> kClean = {1, 403, 407, 261, 378, 60, 300, 290};
const std::vector<int32_t> kCorrupted = {1, 403, 407, 261, 378, 61, 300, 290};

std::string Ids(const std::vector<int32_t>& t) {
  std::string s = "[";
  for (size_t i = 0; i < t.size(); ++i) s += (i ? "," : "") + std::to_string(t[i]);
  return s + "]";
}

std::vector<int32_t> TokensFor(const std::string& model) {
  return model == "gqa" ? std::vector<int32_t>{1, 2, 3, 250, 260, 270, 280, 290} : kClean;
}

class ResearchReferenceTest : public ResearchTest, public ::testing::WithParamInterface<std::string> {};

// Every site captured, in TransformerLens's shapes, equals the reference.
TEST_P(ResearchReferenceTest, EveryCaptureEqualsTheReference) {
  const std::string model = GetParam();
  const std::vector<int32_t> tokens = TokensFor(model);
  RunPlan plan;
  const RunResult r =
      Run(model, fmt::format(R"({{"model":"{}","input":{},"capture":["*"]}})", model, Ids(tokens)), &plan);
  ASSERT_EQ(r.inputs.size(), 1u);
  const Reference ref = Ref(model, tokens);
  ASSERT_EQ(r.inputs[0].captures.size(), ref.sites.size());
  for (const Tensor& t : r.inputs[0].captures) {
    const RefTensor& want = ref.sites.at(t.name);
    ASSERT_EQ(t.shape.size(), want.shape.size()) << t.name;
    for (size_t d = 0; d < t.shape.size(); ++d) EXPECT_EQ(t.shape[d], want.shape[d]) << t.name;
    EXPECT_LE(RelError(t.data, want.data), kTolerance) << t.name;
  }
}

// Selections and reductions: heads, positions (negative from the end),
// neurons, ungrouped KV heads, the norm and the mean.
TEST_P(ResearchReferenceTest, SelectorsAndReductionsEqualTheReference) {
  const std::string model = GetParam();
  const std::vector<int32_t> tokens = TokensFor(model);
  const engine::LlamaConfig& c = Model(model)->model->config();
  const int n = static_cast<int>(tokens.size()), H = c.n_heads, KV = c.n_kv_heads, hd = c.head_dim;
  const RunResult r = Run(model, fmt::format(R"({{"model":"{}","input":{},"capture":[
      {{"hook":"blocks.1.attn.hook_z","heads":[1,0],"positions":[-1,2]}},
      {{"hook":"blocks.0.attn.hook_k","ungroup":true}},
      {{"hook":"blocks.1.hook_resid_post","reduce":"mean"}},
      {{"hook":"blocks.0.mlp.hook_post","neurons":[3,7],"reduce":"norm"}},
      {{"hook":"blocks.1.attn.hook_pattern","heads":[2],"positions":[-1],"reduce":"mean"}},
      {{"hook":"blocks.0.attn.hook_attn_scores","reduce":["norm","mean"]}}]}})",
                                             model, Ids(tokens)));
  ASSERT_EQ(r.inputs.size(), 1u);
  const std::vector<Tensor>& got = r.inputs[0].captures;
  ASSERT_EQ(got.size(), 6u);
  const Reference ref = Ref(model, tokens);
  auto at = [&](const std::string& site) -> const std::vector<double>& { return ref.sites.at(site).data; };

  std::vector<double> z;  // [pos, head, d_head]: positions n-1, 2; heads 1, 0
  for (int p : {n - 1, 2})
    for (int h : {1, 0})
      for (int i = 0; i < hd; ++i) z.push_back(at("blocks.1.attn.hook_z")[(p * H + h) * hd + i]);
  EXPECT_EQ(got[0].shape, (std::vector<int64_t>{2, 2, hd}));
  EXPECT_LE(RelError(got[0].data, z), kTolerance);

  std::vector<double> k;  // [pos, head, d_head], each query head reading its KV head
  for (int p = 0; p < n; ++p)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < hd; ++i) k.push_back(at("blocks.0.attn.hook_k")[(p * KV + h / (H / KV)) * hd + i]);
  EXPECT_EQ(got[1].shape, (std::vector<int64_t>{n, H, hd}));
  EXPECT_LE(RelError(got[1].data, k), kTolerance);

  std::vector<double> mean(c.dim, 0.0);
  for (int p = 0; p < n; ++p)
    for (int i = 0; i < c.dim; ++i) mean[i] += at("blocks.1.hook_resid_post")[p * c.dim + i] / n;
  EXPECT_EQ(got[2].shape, (std::vector<int64_t>{c.dim}));
  EXPECT_LE(RelError(got[2].data, mean), kTolerance);

  std::vector<double> norms;
  for (int p = 0; p < n; ++p) {
    const double a = at("blocks.0.mlp.hook_post")[p * c.ffn_dim + 3],
                 b = at("blocks.0.mlp.hook_post")[p * c.ffn_dim + 7];
    norms.push_back(std::sqrt(a * a + b * b));
  }
  EXPECT_EQ(got[3].shape, (std::vector<int64_t>{n}));
  EXPECT_LE(RelError(got[3].data, norms), kTolerance);

  std::vector<double> pattern;  // head 2, the last query, every key
  for (int key = 0; key < n; ++key) pattern.push_back(at("blocks.1.attn.hook_pattern")[(2 * n + n - 1) * n + key]);
  EXPECT_EQ(got[4].shape, (std::vector<int64_t>{1, n}));
  EXPECT_LE(RelError(got[4].data, pattern), kTolerance);

  std::vector<double> score_norms(H, 0.0);  // per head: the mean over queries of the norm over visible keys
  for (int h = 0; h < H; ++h)
    for (int q = 0; q < n; ++q) {
      double ss = 0;
      for (int key = 0; key <= q; ++key) ss += std::pow(at("blocks.0.attn.hook_attn_scores")[(h * n + q) * n + key], 2);
      score_norms[h] += std::sqrt(ss) / n;
    }
  EXPECT_EQ(got[5].shape, (std::vector<int64_t>{H}));
  EXPECT_LE(RelError(got[5].data, score_norms), kTolerance);
}

// The model's logprobs after an intervention, against the reference's.
void ExpectLogprobs(const InputResult& got, const std::vector<double>& ref_logits) {
  ASSERT_FALSE(got.top_logprobs.empty());
  for (const engine::TokenLogprob& t : got.top_logprobs) {
    EXPECT_NEAR(t.logprob, ResearchTest::LogSoftmax(ref_logits, t.token), 1e-4) << "token " << t.token;
  }
}

TEST_P(ResearchReferenceTest, ZeroAblatingAHeadEqualsTheReference) {
  const std::string model = GetParam();
  const std::vector<int32_t> tokens = TokensFor(model);
  const engine::LlamaConfig& c = Model(model)->model->config();
  const RunResult r = Run(model, fmt::format(R"({{"model":"{}","input":{},
      "interventions":[{{"hook":"blocks.1.attn.hook_z","op":"zero","heads":[3]}}],
      "capture":["blocks.1.hook_attn_out"],"return":{{"top_k":50}}}})",
                                             model, Ids(tokens)));
  const int n = static_cast<int>(tokens.size()), H = c.n_heads, hd = c.head_dim;
  const Reference ref = Ref(model, tokens, [&](const std::string& site, RefTensor& t) {
    if (site != "blocks.1.attn.hook_z") return;
    for (int p = 0; p < n; ++p)
      for (int i = 0; i < hd; ++i) t.data[(p * H + 3) * hd + i] = 0;
  });
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_LE(RelError(r.inputs[0].captures[0].data, ref.sites.at("blocks.1.hook_attn_out").data), kTolerance);
  ExpectLogprobs(r.inputs[0], ref.logits.back());
  // And it changed something.
  const Reference plain = Ref(model, tokens);
  EXPECT_GT(RelError(r.inputs[0].captures[0].data, plain.sites.at("blocks.1.hook_attn_out").data), 1e-3);
}

TEST_P(ResearchReferenceTest, AddingAVectorEqualsTheReference) {
  const std::string model = GetParam();
  const std::vector<int32_t> tokens = TokensFor(model);
  const engine::LlamaConfig& c = Model(model)->model->config();
  std::vector<float> v(c.dim);
  for (int i = 0; i < c.dim; ++i) v[i] = std::sin(0.3f * i);
  const RunResult r = Run(model, fmt::format(R"({{"model":"{}","input":{},
      "interventions":[{{"hook":"blocks.0.hook_resid_post","op":"add","vector":{},"scale":4.0,"positions":[2,-1]}}],
      "return":{{"top_k":50}}}})",
                                             model, Ids(tokens), Json(v).dump()));
  const int n = static_cast<int>(tokens.size());
  const Reference ref = Ref(model, tokens, [&](const std::string& site, RefTensor& t) {
    if (site != "blocks.0.hook_resid_post") return;
    for (int p : {2, n - 1})
      for (int i = 0; i < c.dim; ++i) t.data[p * c.dim + i] += 4.0 * v[i];
  });
  ExpectLogprobs(r.inputs[0], ref.logits.back());
}

TEST_P(ResearchReferenceTest, MeanAblationOverOtherInputsEqualsTheReference) {
  const std::string model = GetParam();
  const std::vector<int32_t> a = TokensFor(model), b = {1, 5, 6, 7, 8};
  const engine::LlamaConfig& c = Model(model)->model->config();
  const RunResult r = Run(model, fmt::format(R"({{"model":"{}","inputs":[{},{},{}],
      "interventions":[{{"hook":"blocks.1.mlp.hook_post","op":"mean","mean_over":[1,2],"inputs":[0],"neurons":[0,5]}}],
      "return":{{"top_k":40}}}})",
                                             model, Ids(a), Ids(a), Ids(b)));
  const Reference ra = Ref(model, a), rb = Ref(model, b);
  std::vector<double> mean(c.ffn_dim, 0.0);
  const int na = static_cast<int>(a.size()), nb = static_cast<int>(b.size());
  for (int p = 0; p < na; ++p)
    for (int i = 0; i < c.ffn_dim; ++i) mean[i] += ra.sites.at("blocks.1.mlp.hook_post").data[p * c.ffn_dim + i];
  for (int p = 0; p < nb; ++p)
    for (int i = 0; i < c.ffn_dim; ++i) mean[i] += rb.sites.at("blocks.1.mlp.hook_post").data[p * c.ffn_dim + i];
  for (double& x : mean) x /= na + nb;
  const Reference ablated = Ref(model, a, [&](const std::string& site, RefTensor& t) {
    if (site != "blocks.1.mlp.hook_post") return;
    for (int p = 0; p < na; ++p)
      for (int i : {0, 5}) t.data[p * c.ffn_dim + i] = mean[i];
  });
  ASSERT_EQ(r.inputs.size(), 3u);
  ExpectLogprobs(r.inputs[0], ablated.logits.back());
  ExpectLogprobs(r.inputs[1], ra.logits.back());  // the sources run unchanged
}

// Patching clean into clean changes nothing: every patched run gives the
// clean metric, bit for bit.
TEST_P(ResearchReferenceTest, PatchingCleanIntoCleanIsTheIdentity) {
  const std::string model = GetParam();
  const std::vector<int32_t> tokens = TokensFor(model);
  const PatchResult r = Patch(model, fmt::format(R"({{"model":"{}","clean":{},"corrupted":{},
      "sites":["blocks.*.hook_resid_pre","blocks.*.attn.hook_z","blocks.*.hook_mlp_out","ln_final.hook_scale"],
      "metric":{{"logprob":7}}}})",
                                                 model, Ids(tokens), Ids(tokens)));
  EXPECT_EQ(r.clean, r.corrupted);
  ASSERT_EQ(r.matrices.size(), 4u);
  for (const PatchMatrix& m : r.matrices)
    for (const auto& row : m.raw)
      for (double x : row) EXPECT_EQ(x, r.clean) << m.pattern;
}

// Clean into corrupted at every layer and position, against the reference
// doing the same; the last layer's patch at the last position gives the
// clean logits exactly.
TEST_P(ResearchReferenceTest, PatchingCleanIntoCorruptedEqualsTheReference) {
  const std::string model = GetParam();
  const std::vector<int32_t> clean = TokensFor(model);
  std::vector<int32_t> corrupted = clean;
  corrupted[3] = corrupted[3] == 5 ? 6 : 5;
  const engine::LlamaConfig& c = Model(model)->model->config();
  const int n = static_cast<int>(clean.size());
  const int a = 7, b = 9;
  const PatchResult r = Patch(model, fmt::format(R"({{"model":"{}","clean":{},"corrupted":{},
      "sites":["blocks.*.hook_resid_pre","blocks.*.hook_resid_post","blocks.*.attn.hook_z"],
      "metric":{{"logit_diff":[{},{}]}}}})",
                                                 model, Ids(clean), Ids(corrupted), a, b));
  const Reference ref_clean = Ref(model, clean), ref_corrupted = Ref(model, corrupted);
  auto diff = [&](const std::vector<std::vector<double>>& logits) { return logits.back()[a] - logits.back()[b]; };
  const double scale = std::max(1.0, std::fabs(diff(ref_clean.logits) - diff(ref_corrupted.logits)));
  EXPECT_NEAR(r.clean, diff(ref_clean.logits), 1e-4 * scale);
  EXPECT_NEAR(r.corrupted, diff(ref_corrupted.logits), 1e-4 * scale);
  ASSERT_EQ(r.matrices.size(), 3u);
  for (int m = 0; m < 2; ++m) {
    const std::string suffix = m == 0 ? "hook_resid_pre" : "hook_resid_post";
    ASSERT_EQ(r.matrices[m].raw.size(), static_cast<size_t>(c.n_layers));
    for (int l = 0; l < c.n_layers; ++l) {
      const std::string site = fmt::format("blocks.{}.{}", l, suffix);
      for (int p = 0; p < n; ++p) {
        const Reference patched = Ref(model, corrupted, [&](const std::string& at, RefTensor& t) {
          if (at != site) return;
          for (int i = 0; i < c.dim; ++i) t.data[p * c.dim + i] = ref_clean.sites.at(site).data[p * c.dim + i];
        });
        EXPECT_NEAR(r.matrices[m].raw[l][p], diff(patched.logits), 1e-4 * scale) << site << " position " << p;
      }
    }
  }
  // The last block's output at the last position is everything the logits read.
  EXPECT_EQ(r.matrices[1].raw[c.n_layers - 1][n - 1], r.clean);
  // Per head: every position of one head's z.
  const PatchMatrix& z = r.matrices[2];
  EXPECT_TRUE(z.per_head);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string site = fmt::format("blocks.{}.attn.hook_z", l);
    for (int h = 0; h < c.n_heads; ++h) {
      const Reference patched = Ref(model, corrupted, [&](const std::string& at, RefTensor& t) {
        if (at != site) return;
        for (int p = 0; p < n; ++p)
          for (int i = 0; i < c.head_dim; ++i) {
            const size_t j = (static_cast<size_t>(p) * c.n_heads + h) * c.head_dim + i;
            t.data[j] = ref_clean.sites.at(site).data[j];
          }
      });
      EXPECT_NEAR(z.raw[l][h], diff(patched.logits), 1e-4 * scale) << site << " head " << h;
    }
  }
  // The same through `run`: patching input 0 into input 1 at the last block's last position.
  const RunResult run = Run(model, fmt::format(R"({{"model":"{}","inputs":[{},{}],"return":{{"top_k":20}},
      "interventions":[{{"hook":"blocks.{}.hook_resid_post","op":"patch","from":0,"positions":[-1]}}]}})",
                                               model, Ids(clean), Ids(corrupted), c.n_layers - 1));
  ASSERT_EQ(run.inputs.size(), 2u);
  ASSERT_EQ(run.inputs[0].top_logprobs.size(), run.inputs[1].top_logprobs.size());
  for (size_t k = 0; k < run.inputs[0].top_logprobs.size(); ++k) {
    EXPECT_EQ(run.inputs[0].top_logprobs[k].token, run.inputs[1].top_logprobs[k].token);
    EXPECT_EQ(run.inputs[0].top_logprobs[k].logprob, run.inputs[1].top_logprobs[k].logprob);
  }
}

// The logit lens of the last layer is the model's own next-token logprobs,
// and every layer's equals the reference's residual through the unembedding.
TEST_P(ResearchReferenceTest, TheLogitLensOfTheLastLayerIsTheModelsLogprobs) {
  const std::string model = GetParam();
  const std::vector<int32_t> tokens = TokensFor(model);
  const engine::LlamaConfig& c = Model(model)->model->config();
  const RunResult r = Run(model, fmt::format(R"({{"model":"{}","input":{},"return":{{"top_k":20,
      "logit_lens":{{"top_k":20}}}}}})",
                                             model, Ids(tokens)));
  ASSERT_EQ(r.inputs.size(), 1u);
  const InputResult& in = r.inputs[0];
  const int n = static_cast<int>(tokens.size());
  ASSERT_EQ(in.lens.size(), static_cast<size_t>(c.n_layers));
  const auto& last = in.lens[c.n_layers - 1][n - 1];
  ASSERT_EQ(last.size(), in.top_logprobs.size());
  for (size_t k = 0; k < last.size(); ++k) {
    EXPECT_EQ(last[k].token, in.top_logprobs[k].token);
    EXPECT_EQ(last[k].logprob, in.top_logprobs[k].logprob);
  }
  // Each layer against the reference: its resid_post through ln_final and the unembedding.
  auto file = engine::GgufFile::Open(PathOf(model));
  ASSERT_TRUE(file.ok());
  const Reference ref = Ref(model, tokens);
  const std::vector<double> gain = engine::testing::TensorAsDouble(*(*file)->FindTensor("output_norm.weight"));
  const engine::GgufTensor* out_t = (*file)->FindTensor("output.weight");
  const std::vector<double> out =
      engine::testing::TensorAsDouble(out_t ? *out_t : *(*file)->FindTensor("token_embd.weight"));
  for (int l = 0; l < c.n_layers; ++l) {
    for (int p = 0; p < n; ++p) {
      const double* x = &ref.sites.at(fmt::format("blocks.{}.hook_resid_post", l)).data[p * c.dim];
      double ss = 0;
      for (int i = 0; i < c.dim; ++i) ss += x[i] * x[i];
      const double s = 1.0 / std::sqrt(ss / c.dim + c.rms_eps);
      std::vector<double> logits(c.vocab_size, 0.0);
      for (int v = 0; v < c.vocab_size; ++v)
        for (int i = 0; i < c.dim; ++i) logits[v] += out[static_cast<size_t>(v) * c.dim + i] * x[i] * s * gain[i];
      for (const engine::TokenLogprob& t : in.lens[l][p]) {
        EXPECT_NEAR(t.logprob, LogSoftmax(logits, t.token), 1e-4) << "layer " << l << " position " << p;
      }
    }
  }
}

// Steered generation: the reference's greedy continuation with the same
// vector added at every position.
TEST_P(ResearchReferenceTest, SteeredGenerationEqualsTheReference) {
  const std::string model = GetParam();
  const std::vector<int32_t> tokens = TokensFor(model);
  const engine::LlamaConfig& c = Model(model)->model->config();
  std::vector<float> v(c.dim);
  for (int i = 0; i < c.dim; ++i) v[i] = std::cos(0.7f * i);
  const RunResult r = Run(model, fmt::format(R"({{"model":"{}","input":{},"generate":{{"max_tokens":6}},
      "interventions":[{{"hook":"blocks.1.hook_resid_pre","op":"add","vector":{},"scale":3.0}}]}})",
                                             model, Ids(tokens), Json(v).dump()));
  std::vector<int32_t> seq = tokens, want;
  for (int step = 0; step < 6; ++step) {
    const Reference ref = Ref(model, seq, [&](const std::string& site, RefTensor& t) {
      if (site != "blocks.1.hook_resid_pre") return;
      for (size_t j = 0; j < t.data.size(); ++j) t.data[j] += 3.0 * v[j % c.dim];
    });
    const auto& l = ref.logits.back();
    const int32_t next = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    if (Model(model)->tokenizer->IsEndOfGeneration(next)) break;
    want.push_back(next);
    seq.push_back(next);
  }
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_EQ(r.inputs[0].generated, want);
}

// A direction is the mean over the positive inputs (each averaged over its
// positions) minus the same over the negative ones.
TEST_P(ResearchReferenceTest, DirectionsAreTheReferencesMeanDifference) {
  const std::string model = GetParam();
  const engine::LlamaConfig& c = Model(model)->model->config();
  const std::vector<std::vector<int32_t>> pos = {{1, 20, 30}, {1, 40, 50, 60}}, neg = {{1, 7}};
  absl::StatusOr<Json> json = ParseJson(fmt::format(R"({{"model":"{}","hook":"blocks.1.hook_resid_mid",
      "positive":[{},{}],"negative":[{}]}})",
                                                    model, Ids(pos[0]), Ids(pos[1]), Ids(neg[0])));
  ASSERT_TRUE(json.ok());
  absl::StatusOr<DirectionsSpec> spec = ParseDirectionsSpec(*json);
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<RunPlan> plan = PlanDirections(*spec, Model(model));
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::promise<absl::StatusOr<RunResult>> done;
  auto job = std::make_shared<RunJob>(*plan, [&](absl::StatusOr<RunResult> r) { done.set_value(std::move(r)); });
  ASSERT_TRUE(scheduler_->SubmitJob({.model = model, .job = job}).ok());
  absl::StatusOr<RunResult> r = done.get_future().get();
  ASSERT_TRUE(r.ok());
  const ResultDocument doc = DirectionDocument(*plan, *r, 2, false, "blocks.1.hook_resid_mid");
  std::vector<float> got = doc.fields["vector"].get<std::vector<float>>();
  std::vector<double> want(c.dim, 0.0);
  auto add_mean = [&](const std::vector<int32_t>& tokens, double weight) {
    const Reference ref = Ref(model, tokens);
    const std::vector<double>& x = ref.sites.at("blocks.1.hook_resid_mid").data;
    const int n = static_cast<int>(tokens.size());
    for (int p = 0; p < n; ++p)
      for (int i = 0; i < c.dim; ++i) want[i] += weight * x[p * c.dim + i] / n;
  };
  add_mean(pos[0], 0.5);
  add_mean(pos[1], 0.5);
  add_mean(neg[0], -1.0);
  EXPECT_LE(RelError(got, want), kTolerance);
  EXPECT_EQ(doc.fields["shape"], Json::array({c.dim}));
}

INSTANTIATE_TEST_SUITE_P(Models, ResearchReferenceTest, ::testing::Values("stories", "gqa"));

}  // namespace
}  // namespace aperture::research
