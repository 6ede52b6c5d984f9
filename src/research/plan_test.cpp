// Parsing and planning research requests: malformed bodies and requests
// the model cannot serve are refused with the field at fault; a plan's
// demand (what it reads, writes and costs) is exact.
#include "research/plan.h"

#include "core/json.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "research/research_test_util.h"
#include "research/spec_json.h"

namespace aperture::research {
namespace {

absl::Status ParseError(const std::string& body, int which = 0) {
  absl::StatusOr<Json> json = ParseJson(body);
  if (!json.ok()) return json.status();
  if (which == 1) return ParsePatchSpec(*json).status();
  if (which == 2) return ParseDirectionsSpec(*json).status();
  return ParseRunSpec(*json).status();
}

TEST(SpecJsonTest, MalformedRequestsNameTheField) {
  struct Case {
    std::string body;
    std::string param;
    int which = 0;
  };
  const std::vector<Case> cases = {
      {R"({"input":"x"})", "model"},
      {R"({"model":"m"})", "input"},
      {R"({"model":"m","input":"x","inputs":["y"]})", "input"},
      {R"({"model":"m","input":""})", "input"},
      {R"({"model":"m","input":[1,-2]})", "input[1]"},
      {R"({"model":"m","input":[1,2.5]})", "input[1]"},
      {R"({"model":"m","inputs":[]})", "inputs"},
      {R"({"model":"m","input":"x","captures":["*"]})", "captures"},
      {R"({"model":"m","input":"x","capture":[7]})", "capture[0]"},
      {R"({"model":"m","input":"x","capture":["blocks.0.hook z"]})", "capture[0]"},
      {R"({"model":"m","input":"x","capture":[{"hook":"*","reduce":"max"}]})", "capture[0].reduce"},
      {R"({"model":"m","input":"x","capture":[{"hook":"*","reduce":["mean","norm"]}]})", "capture[0].reduce"},
      {R"({"model":"m","input":"x","capture":[{"hook":"*","heads":"all"}]})", "capture[0].heads"},
      {R"({"model":"m","input":"x","capture":[{"hook":"*","colour":1}]})", "capture[0].colour"},
      {R"({"model":"m","input":"x","interventions":[{"hook":"*"}]})", "interventions[0].op"},
      {R"({"model":"m","input":"x","interventions":[{"hook":"*","op":"steer"}]})", "interventions[0].op"},
      {R"({"model":"m","input":"x","interventions":[{"hook":"*","op":"add"}]})", "interventions[0].vector"},
      {R"({"model":"m","input":"x","interventions":[{"hook":"*","op":"add","vector":[]}]})", "interventions[0].vector"},
      {R"({"model":"m","input":"x","interventions":[{"hook":"*","op":"add","vector":["a"]}]})",
       "interventions[0].vector[0]"},
      {R"({"model":"m","input":"x","interventions":[{"hook":"*","op":"zero","vector":[1]}]})",
       "interventions[0].vector"},
      {R"({"model":"m","input":"x","interventions":[{"hook":"*","op":"scale"}]})", "interventions[0].scale"},
      {R"({"model":"m","input":"x","interventions":[{"hook":"*","op":"mean"}]})", "interventions[0].mean"},
      {R"({"model":"m","input":"x","interventions":[{"hook":"*","op":"mean","mean":[1],"mean_over":[0]}]})",
       "interventions[0].mean"},
      {R"({"model":"m","input":"x","interventions":[{"hook":"*","op":"patch"}]})", "interventions[0].from"},
      {R"({"model":"m","input":"x","interventions":[{"hook":"*","op":"patch","from":99}]})", "interventions[0].from"},
      {R"({"model":"m","input":"x","return":{"top_k":1000}})", "return.top_k"},
      {R"({"model":"m","input":"x","return":{"targets":[""]}})", "return.targets[0]"},
      {R"({"model":"m","input":"x","return":{"logit_lens":{"top_k":0}}})", "return.logit_lens.top_k"},
      {R"({"model":"m","input":"x","generate":{"max_tokens":0}})", "generate.max_tokens"},
      {R"({"model":"m","input":"x","generate":{"temperature":-1}})", "generate.temperature"},
      {R"({"model":"m","input":"x","format":"npz"})", "format"},
      {R"({"model":"m","clean":"a","sites":["*"],"metric":{"logprob":1}})", "corrupted", 1},
      {R"({"model":"m","clean":"a","corrupted":"b","metric":{"logprob":1}})", "sites", 1},
      {R"({"model":"m","clean":"a","corrupted":"b","sites":["*"],"metric":{"accuracy":1}})", "metric", 1},
      {R"({"model":"m","clean":"a","corrupted":"b","sites":["*"],"metric":{"logit_diff":[1]}})", "metric.logit_diff",
       1},
      {R"({"model":"m","clean":"a","corrupted":"b","sites":["*"],"metric":{"logprob":1},
           "interventions":[{"hook":"*","op":"patch","from":0}]})",
       "interventions[0].op", 1},
      {R"({"model":"m","hook":"blocks.*.hook_resid_post","positive":["a"],"negative":["b"]})", "hook", 2},
      {R"({"model":"m","hook":"hook_embed","positive":[],"negative":["b"]})", "positive", 2},
      {R"({"model":"m","hook":"hook_embed","positive":["a"],"negative":["b"],"position":"first"})", "position", 2},
  };
  for (const Case& c : cases) {
    const absl::Status s = ParseError(c.body, c.which);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_EQ(ErrorParam(s), c.param) << c.body << " -> " << s;
  }
  EXPECT_FALSE(ParseError("[1,2]").ok());
  EXPECT_FALSE(ParseError("{\"model\":").ok());
}

TEST(SpecJsonTest, AWellFormedRunParses) {
  absl::StatusOr<Json> json = ParseJson(R"({"model":"m","inputs":["a",[1,2]],"bos":false,
      "capture":["blocks.*.hook_resid_post",{"hook":"blocks.0.attn.hook_k","ungroup":true,"reduce":["norm","mean"]}],
      "interventions":[{"hook":"blocks.0.hook_resid_pre","op":"add","vector":[1,2],"scale":2,"positions":[-1]},
                       {"hook":"blocks.0.attn.hook_z","op":"patch","from":1,"inputs":[0],"heads":[1]}],
      "return":{"top_k":3,"targets":[" Paris",5],"logit_lens":true},"generate":{"max_tokens":4},
      "format":"safetensors"})");
  ASSERT_TRUE(json.ok());
  absl::StatusOr<RunSpec> spec = ParseRunSpec(*json);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->single);
  ASSERT_EQ(spec->inputs.size(), 2u);
  EXPECT_FALSE(spec->inputs[1].is_text);
  EXPECT_EQ(spec->bos, std::optional<bool>(false));
  ASSERT_EQ(spec->captures.size(), 2u);
  EXPECT_TRUE(spec->captures[1].norm && spec->captures[1].mean && spec->captures[1].ungroup);
  ASSERT_EQ(spec->interventions.size(), 2u);
  EXPECT_EQ(spec->interventions[0].scale, 2.0);
  EXPECT_EQ(spec->interventions[1].from, 1);
  EXPECT_EQ(spec->ret.logit_lens->top_k, 5);
  EXPECT_EQ(spec->generate->max_tokens, 4);
  EXPECT_EQ(spec->format, Format::kSafetensors);
}

class PlanTest : public ResearchTest {
 protected:
  absl::Status PlanError(const std::string& body) { return PlanOf("stories", body).status(); }
};

TEST_F(PlanTest, RequestsTheModelCannotServeNameTheField) {
  struct Case {
    std::string body;
    std::string param;
  };
  const std::vector<Case> cases = {
      {R"({"model":"stories","input":[1,9999]})", "input[1]"},
      {R"({"model":"stories","input":"x","capture":["blocks.99.hook_z"]})", "capture[0]"},
      {R"({"model":"stories","input":"x","capture":[{"hook":"blocks.0.hook_resid_post","heads":[0]}]})",
       "capture[0].heads"},
      {R"({"model":"stories","input":"x","capture":[{"hook":"blocks.0.attn.hook_z","heads":[8]}]})",
       "capture[0].heads[0]"},
      {R"({"model":"stories","input":"x","capture":[{"hook":"blocks.0.attn.hook_q","ungroup":true}]})",
       "capture[0].ungroup"},
      {R"({"model":"stories","input":[1,2,3],"capture":[{"hook":"hook_embed","positions":[3]}]})",
       "capture[0].positions[0]"},
      {R"({"model":"stories","input":[1,2,3],"capture":[{"hook":"hook_embed","positions":[-4]}]})",
       "capture[0].positions[0]"},
      {R"({"model":"stories","input":"x","capture":["blocks.0.*","blocks.0.hook_resid_pre"]})", "capture[1]"},
      {R"({"model":"stories","input":"x","interventions":[{"hook":"hook_embed","op":"add","vector":[1,2]}]})",
       "interventions[0].vector"},
      {R"({"model":"stories","input":"x","interventions":[{"hook":"blocks.0.attn.hook_pattern","op":"add",
          "vector":[1]}]})",
       "interventions[0].op"},
      {R"({"model":"stories","input":"x","interventions":[{"hook":"blocks.0.attn.hook_z","op":"mean","mean":[1,2,3]}]})",
       "interventions[0].mean"},
      {R"({"model":"stories","inputs":[[1,2],[1,2,3]],"interventions":[{"hook":"hook_embed","op":"patch","from":0}]})",
       "interventions[0].from"},
      {R"({"model":"stories","inputs":[[1,2],[1,3],[1,4]],"interventions":[
          {"hook":"hook_embed","op":"patch","from":0,"inputs":[1]},
          {"hook":"hook_embed","op":"patch","from":1,"inputs":[2]}]})",
       "interventions[0]"},
      {R"({"model":"stories","inputs":[[1,2]],"interventions":[{"hook":"hook_embed","op":"zero","inputs":[1]}]})",
       "interventions[0].inputs[0]"},
      {R"({"model":"stories","input":"x","return":{"targets":[" once upon"]}})", "return.targets[0]"},
      {R"({"model":"stories","input":"x","return":{"targets":[512]}})", "return.targets[0]"},
  };
  for (const Case& c : cases) {
    const absl::Status s = PlanError(c.body);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_EQ(ErrorParam(s), c.param) << c.body << " -> " << s;
  }
}

// A Gemma 3 model's own sites (post-norms, Q/K norms) are captured in
// TransformerLens's shapes; a Llama model has none of them.
TEST_F(PlanTest, ArchitectureSitesAreTheModelsOwn) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("research-gemma3-" + std::to_string(::getpid()) + ".gguf")).string();
  ASSERT_TRUE(engine::WriteTestModel({.arch = "gemma3",
                                      .layers = 2,
                                      .dim = 64,
                                      .heads = 4,
                                      .kv_heads = 2,
                                      .ffn = 128,
                                      .vocab = 300,
                                      .type = engine::GgmlType::kF32,
                                      .seed = 3},
                                     path)
                  .ok());
  ASSERT_TRUE(scheduler_->RegisterModel("gemma3", path).ok());
  absl::StatusOr<RunPlan> plan = PlanOf("gemma3", R"({"model":"gemma3","input":[2,5,6],"capture":[
      "blocks.*.ln1_post.hook_normalized","blocks.1.attn.q_norm.hook_scale","blocks.0.attn.k_norm.hook_normalized"]})");
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::vector<SiteCapture>& captures = plan->inputs[0].captures;
  ASSERT_EQ(captures.size(), 4u);
  EXPECT_EQ(captures[0].site.name, "blocks.0.ln1_post.hook_normalized");
  EXPECT_EQ(captures[0].shape, (std::vector<int64_t>{3, 64}));
  EXPECT_EQ(captures[2].shape, (std::vector<int64_t>{3, 4, 1}));   // [pos, head, 1]
  EXPECT_EQ(captures[3].shape, (std::vector<int64_t>{3, 2, 16}));  // [pos, kv_head, d_head]
  const absl::Status s =
      PlanError(R"({"model":"stories","input":"x","capture":["blocks.0.ln1_post.hook_normalized"]})");
  EXPECT_EQ(ErrorParam(s), "capture[0]") << s;
  std::filesystem::remove(path);
}

TEST_F(PlanTest, TheDemandIsExact) {
  const engine::LlamaConfig& c = Model("stories")->model->config();
  absl::StatusOr<RunPlan> plan = PlanOf("stories", R"({"model":"stories","inputs":[[1,2,3,4],[1,2,3,4]],
      "capture":["blocks.*.hook_resid_post",{"hook":"blocks.1.attn.hook_pattern","positions":[-1]}],
      "interventions":[{"hook":"blocks.0.attn.hook_z","op":"patch","from":1,"heads":[2]}],
      "return":{"top_k":5,"logit_lens":{"top_k":3,"positions":[-1,-2]}},"generate":{"max_tokens":6}})");
  ASSERT_TRUE(plan.ok()) << plan.status();
  const Demand& d = plan->demand;
  EXPECT_EQ(d.input_tokens, 8);
  EXPECT_EQ(d.forward_tokens, 8 + 2 * 6);
  const int64_t captured = 2 * (c.n_layers * 4 * c.dim + c.n_heads * 1 * 4);
  EXPECT_EQ(d.result_bytes, 4 * captured + 8 * 2 * 5 + 8 * 2 * 6 + 8 * 2 * c.n_layers * 2 * 3);
  EXPECT_TRUE(d.sites_written.contains("blocks.0.attn.hook_z"));
  EXPECT_EQ(d.sites_written.size(), 1u);
  EXPECT_TRUE(d.sites_read.contains("blocks.0.attn.hook_z"));  // the patch reads input 1's
  EXPECT_TRUE(d.sites_read.contains("blocks.1.attn.hook_pattern"));
  EXPECT_TRUE(d.sites_read.contains(fmt::format("blocks.{}.hook_resid_post", c.n_layers - 1)));
  for (const char* op : {"capture", "patch", "logit_lens", "generate", "logprobs"})
    EXPECT_TRUE(d.operations.contains(op)) << op;
  // The patch source runs first.
  EXPECT_EQ(plan->inputs[1].phase, 0);
  EXPECT_EQ(plan->inputs[0].phase, 1);
  ASSERT_EQ(plan->inputs[1].sources.size(), 1u);
  EXPECT_EQ(plan->inputs[0].captures[c.n_layers].shape, (std::vector<int64_t>{c.n_heads, 1, 4}));
}

TEST_F(PlanTest, APatchSweepCountsWhatItRecomputes) {
  const engine::LlamaConfig& c = Model("stories")->model->config();
  absl::StatusOr<Json> json = ParseJson(R"({"model":"stories","clean":[1,2,3,4],"corrupted":[1,2,5,4],
      "sites":["blocks.*.hook_resid_pre"],"metric":{"logprob":7}})");
  ASSERT_TRUE(json.ok());
  absl::StatusOr<PatchSpec> spec = ParsePatchSpec(*json);
  ASSERT_TRUE(spec.ok());
  absl::StatusOr<PatchPlan> plan = PlanPatch(*spec, Model("stories"));
  ASSERT_TRUE(plan.ok()) << plan.status();
  // Clean and corrupted (8), then for each layer l and position p: 4 - p tokens through L - l of L layers.
  double want = 8;
  for (int l = 0; l < c.n_layers; ++l)
    for (int p = 0; p < 4; ++p) want += (4.0 - p) * (c.n_layers - l) / c.n_layers;
  EXPECT_EQ(plan->demand.forward_tokens, static_cast<int64_t>(std::ceil(want)));
  ASSERT_EQ(plan->sites.size(), 1u);
  EXPECT_EQ(plan->sites[0].sites.size(), static_cast<size_t>(c.n_layers));
  EXPECT_FALSE(plan->sites[0].per_head);
  // Different lengths are refused.
  json = ParseJson(R"({"model":"stories","clean":[1,2,3,4],"corrupted":[1,2,5],"sites":"hook_embed",
      "metric":{"logprob":7}})");
  spec = ParsePatchSpec(*json);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(ErrorParam(PlanPatch(*spec, Model("stories")).status()), "corrupted");
}

TEST_F(PlanTest, DirectionsTakeSitesOfFixedWidth) {
  absl::StatusOr<Json> json =
      ParseJson(R"({"model":"stories","hook":"blocks.0.attn.hook_pattern","positive":["a b"],"negative":["c"]})");
  ASSERT_TRUE(json.ok());
  absl::StatusOr<DirectionsSpec> spec = ParseDirectionsSpec(*json);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(ErrorParam(PlanDirections(*spec, Model("stories")).status()), "hook");
  spec->hook = "blocks.0.attn.hook_z";
  absl::StatusOr<RunPlan> plan = PlanDirections(*spec, Model("stories"));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->inputs.size(), 2u);
  spec->positive = {Input{"", {1, 99999}, false}};
  EXPECT_EQ(ErrorParam(PlanDirections(*spec, Model("stories")).status()), "positive[0][1]");
}

TEST_F(PlanTest, WorkingMemoryIsBounded) {
  // Every attention pattern of 2000 positions of two inputs, kept for
  // patches: 2 x 5 layers x 8 heads x 2000^2 floats, past the bound.
  std::string ids = "[1";
  for (int i = 0; i < 1999; ++i) ids += ",5";
  ids += "]";
  const absl::Status s = PlanError(fmt::format(R"({{"model":"stories","inputs":[{0},{0},{0}],
      "interventions":[{{"hook":"blocks.*.attn.hook_pattern","op":"patch","from":0,"inputs":[2]}},
                       {{"hook":"blocks.*.attn.hook_pattern","op":"patch","from":1,"inputs":[2]}}]}})",
                                               ids));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("working memory"), std::string_view::npos) << s;
}

}  // namespace
}  // namespace aperture::research
