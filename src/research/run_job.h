// RunJob: a `run` request's engine work, as a scheduler job. Each input
// gets its own sequence and hooks (its interventions in request order, then
// the reads: patch sources, captures, the logit lens's residuals); inputs
// whose values others patch from or average over run first. Prompts go
// through in slices of the job's per-step budget; at each prompt's end the
// last logits give the top-k and target logprobs, and generation (with the
// interventions still on) takes one token a step; the logit lens runs
// through Runner::Unembed in the job's own work, a slice per step.
//
// Usage:
//   auto job = std::make_shared<RunJob>(std::move(plan), [](absl::StatusOr<RunResult> r) { ... });
//   ASSIGN_OR_RETURN(auto id, scheduler.SubmitJob({.model = id, .job = job, .deadline_micros = d}));
//
// Thread-safety: as EngineJob (the scheduler's thread); `done` runs there,
// once, and should hand heavy work (formatting) to another thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/sampling/sampler.h"
#include "research/plan.h"
#include "research/result.h"
#include "research/site_ops.h"
#include "scheduler/engine_job.h"

namespace aperture::research {

class RunJob : public scheduler::EngineJob {
 public:
  RunJob(RunPlan plan, std::function<void(absl::StatusOr<RunResult>)> done);
  ~RunJob() override;

  void Plan(int token_budget, std::vector<Entry>& entries) override;
  void Work(engine::Runner& runner, int token_budget) override;
  bool Done() const override;
  void Finish(absl::Status status) override;

 private:
  struct InputState;
  void Start(InputState& in);
  void PromptDone(InputState& in, std::span<const float> logits);
  void Sample(InputState& in, std::span<const float> logits);
  bool SourcesReady() const;

  RunPlan plan_;
  std::function<void(absl::StatusOr<RunResult>)> done_;
  std::vector<std::unique_ptr<InputState>> inputs_;
  bool second_phase_started_ = false;
  std::vector<float> lens_logits_;
};

}  // namespace aperture::research
