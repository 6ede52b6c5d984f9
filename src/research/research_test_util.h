// Shared by the research tests: a scheduler serving stories260K and a
// generated GQA model, requests run end to end from their JSON (parse,
// plan, job), and comparisons with the float64 reference.
#pragma once

#include <cmath>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "engine/model/reference_test_util.h"
#include "engine/model/test_model.h"
#include "gtest/gtest.h"
#include "research/patch_job.h"
#include "research/plan.h"
#include "research/run_job.h"
#include "research/spec_json.h"
#include "scheduler/scheduler.h"

namespace aperture::research {

inline const std::string kStoriesPath = std::string(APERTURE_SHARED_DIR) + "/models/stories260K.gguf";

class ResearchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gqa_path_ =
        (std::filesystem::temp_directory_path() / ("research-gqa-" + std::to_string(::getpid()) + ".gguf")).string();
    engine::TestModelSpec spec{.layers = 3,
                               .dim = 96,
                               .heads = 6,
                               .kv_heads = 2,
                               .ffn = 160,
                               .vocab = 300,
                               .type = engine::GgmlType::kF32,
                               .seed = 21,
                               .tied_output = false};
    ASSERT_TRUE(engine::WriteTestModel(spec, gqa_path_).ok());
  }
  static void TearDownTestSuite() { std::filesystem::remove(gqa_path_); }

  void SetUp() override {
    scheduler_ = std::make_unique<scheduler::Scheduler>(scheduler::SchedulerOptions{.threads = 2});
    ASSERT_TRUE(scheduler_->RegisterModel("stories", kStoriesPath).ok());
    ASSERT_TRUE(scheduler_->RegisterModel("gqa", gqa_path_).ok());
  }

  std::shared_ptr<const scheduler::LoadedModel> Model(const std::string& id) {
    auto m = scheduler_->GetModel(id);
    EXPECT_TRUE(m.ok()) << m.status();
    return *m;
  }
  static std::string PathOf(const std::string& id) { return id == "gqa" ? gqa_path_ : kStoriesPath; }

  absl::StatusOr<RunPlan> PlanOf(const std::string& model, const std::string& body) {
    absl::StatusOr<Json> json = ParseJson(body);
    if (!json.ok()) return json.status();
    absl::StatusOr<RunSpec> spec = ParseRunSpec(*json);
    if (!spec.ok()) return spec.status();
    return PlanRun(*spec, Model(model));
  }

  // Runs a /v1/research/run body end to end.
  RunResult Run(const std::string& model, const std::string& body, RunPlan* plan_out = nullptr) {
    absl::StatusOr<RunPlan> plan = PlanOf(model, body);
    EXPECT_TRUE(plan.ok()) << plan.status();
    if (!plan.ok()) return {};
    if (plan_out != nullptr) *plan_out = *plan;
    std::promise<absl::StatusOr<RunResult>> promise;
    auto job = std::make_shared<RunJob>(*std::move(plan),
                                        [&](absl::StatusOr<RunResult> r) { promise.set_value(std::move(r)); });
    EXPECT_TRUE(scheduler_->SubmitJob({.model = model, .job = job}).ok());
    absl::StatusOr<RunResult> r = promise.get_future().get();
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : RunResult{};
  }

  PatchResult Patch(const std::string& model, const std::string& body, PatchPlan* plan_out = nullptr) {
    absl::StatusOr<Json> json = ParseJson(body);
    EXPECT_TRUE(json.ok());
    absl::StatusOr<PatchSpec> spec = ParsePatchSpec(*json);
    EXPECT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<PatchPlan> plan = PlanPatch(*spec, Model(model));
    EXPECT_TRUE(plan.ok()) << plan.status();
    if (!plan.ok()) return {};
    if (plan_out != nullptr) *plan_out = *plan;
    std::promise<absl::StatusOr<PatchResult>> promise;
    auto job = std::make_shared<PatchJob>(*std::move(plan),
                                          [&](absl::StatusOr<PatchResult> r) { promise.set_value(std::move(r)); });
    EXPECT_TRUE(scheduler_->SubmitJob({.model = model, .job = job}).ok());
    absl::StatusOr<PatchResult> r = promise.get_future().get();
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : PatchResult{};
  }

  // The reference run of `tokens` with `visit`; its site values by name, and its logits.
  struct Reference {
    std::map<std::string, engine::testing::RefTensor> sites;
    std::vector<std::vector<double>> logits;
  };
  Reference Ref(const std::string& model, const std::vector<int32_t>& tokens,
                const engine::testing::RefVisitor& edit = {}) {
    auto file = engine::GgufFile::Open(PathOf(model));
    EXPECT_TRUE(file.ok());
    Reference out;
    out.logits =
        engine::testing::ReferenceForward(**file, tokens, [&](const std::string& name, engine::testing::RefTensor& t) {
          if (edit) edit(name, t);
          out.sites[name] = t;
        }).logits;
    return out;
  }

 public:
  static double LogSoftmax(const std::vector<double>& logits, int token) {
    double mx = -INFINITY, sum = 0;
    for (double x : logits) mx = std::max(mx, x);
    for (double x : logits) sum += std::exp(x - mx);
    return logits[token] - mx - std::log(sum);
  }

 protected:
  // max |got - want| / rms(want) over want's finite entries; infinities must match.
  static double RelError(const std::vector<float>& got, const std::vector<double>& want) {
    EXPECT_EQ(got.size(), want.size());
    double ss = 0, worst = 0;
    size_t finite = 0;
    for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
      if (!std::isfinite(want[i])) {
        if (static_cast<double>(got[i]) != want[i]) return INFINITY;
        continue;
      }
      ss += want[i] * want[i];
      ++finite;
      worst = std::max(worst, std::fabs(got[i] - want[i]));
    }
    const double rms = std::sqrt(ss / std::max<size_t>(finite, 1));
    return rms > 0 ? worst / rms : worst;
  }

  static inline std::string gqa_path_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
};

}  // namespace aperture::research
