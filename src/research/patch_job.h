// PatchJob: an activation-patching sweep as a scheduler job. The clean and
// corrupted inputs run once each (with the request's interventions): the
// clean run keeps every patched site's values, the corrupted run its KV
// cache and the residual stream entering every block. Each patched run
// then recomputes only what a patch can change: a patch at block l and
// position p resumes the corrupted pass at block l from its residual
// (Runner's BatchEntry::first_layer), over positions p.. only, on a copy of
// the corrupted cache's blocks l.. up to p; a per-head patch covers every
// position from block l. Patched runs of one block share forward calls
// (up to kPatchWorkSequences in flight), and each yields the metric at the
// last position.
//
// Usage:
//   auto job = std::make_shared<PatchJob>(std::move(plan), [](absl::StatusOr<PatchResult> r) { ... });
//   ASSIGN_OR_RETURN(auto id, scheduler.SubmitJob({.model = id, .job = job}));
//
// Thread-safety: as EngineJob (the scheduler's thread); `done` runs there, once.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "research/plan.h"
#include "research/result.h"
#include "research/site_ops.h"
#include "scheduler/engine_job.h"

namespace aperture::research {

class PatchJob : public scheduler::EngineJob {
 public:
  PatchJob(PatchPlan plan, std::function<void(absl::StatusOr<PatchResult>)> done);
  ~PatchJob() override;

  void Plan(int token_budget, std::vector<Entry>& entries) override;
  bool Done() const override;
  void Finish(absl::Status status) override;

 private:
  struct Run {  // one patched run
    int matrix, row, column;
    const SiteRef* site;
    int layer;     // the block it resumes at (n_layers: only the final norm)
    int position;  // the first position it recomputes
    SiteIntervention patch;
  };
  struct Worker {  // a sequence and hooks for one patched run in flight
    std::unique_ptr<engine::Sequence> seq;
    engine::Hooks hooks;
    const Run* run = nullptr;  // null: free
    int cursor = 0;            // the next position it runs
  };
  double Metric(std::span<const float> logits) const;
  void AddInterventions(engine::Hooks& hooks) const;
  void PlanBaseRuns(int& budget, std::vector<Entry>& entries);
  void Start(Worker& w, const Run& run);
  int ResumeLayer(const SiteRef& site) const;

  PatchPlan plan_;
  std::function<void(absl::StatusOr<PatchResult>)> done_;
  int n_ = 0;
  int layers_ = 0;
  // Clean and corrupted runs.
  std::unique_ptr<engine::Sequence> clean_seq_, corrupted_seq_;
  engine::Hooks clean_hooks_, corrupted_hooks_;
  std::map<std::string, std::unique_ptr<SiteValues>> clean_values_;
  std::vector<float> corrupted_resid_;  // [layer 0..n_layers][position][dim]: the residual entering each block
  int clean_fed_ = 0, corrupted_fed_ = 0;
  bool clean_done_ = false, corrupted_done_ = false;
  // Patched runs.
  std::vector<Run> runs_;
  size_t next_run_ = 0;
  int64_t runs_done_ = 0;
  double forward_tokens_ = 0;
  std::vector<std::unique_ptr<Worker>> workers_;
  PatchResult result_;
};

}  // namespace aperture::research
