// EngineJob: engine work other than serving text (research passes:
// captures, interventions, patching sweeps), which the scheduler runs in
// slices among its serving steps, so a long job never stalls the streams in
// flight. The scheduler knows nothing of what a job computes (research/
// implements jobs); it gives each one a token budget per step, batches its
// entries with the serving traffic, and ends it on completion, cancellation,
// deadline or an engine error.
//
// Each step, the scheduler:
//   1. asks Plan() for entries whose new tokens total at most the budget
//      (SchedulerOptions::job_tokens_per_step while streams are decoding,
//      the whole prompt budget otherwise);
//   2. runs the entries that start at layer 0 inside the step's serving
//      batch, each with its own hooks (engine::PerEntryHooks), and those
//      resumed at a layer in forward calls of their own, one per layer;
//   3. calls each entry's on_logits with the runner and the entry's index in
//      its forward call (read runner.Logits(index, row));
//   4. calls Work() for engine work of the job's own within the same budget
//      (e.g. Runner::Unembed for a logit lens);
//   5. once Done(), calls Finish(OK) and frees the job's slot.
// A job must make progress in every step it is given (plan an entry or do
// work) until it is done. A job takes one slot, whatever its number of
// sequences: it allocates them itself, within the limits its creator checked.
//
// Usage:
//   class CaptureJob : public EngineJob { ... };
//   ASSIGN_OR_RETURN(RequestId id, scheduler.SubmitJob({.model = "m", .job = job, .deadline_micros = d}));
//
// Thread-safety: every method is called on the scheduler thread, one at a
// time; Finish exactly once per accepted job.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/hooks.h"
#include "engine/model/runner.h"

namespace aperture::scheduler {

class EngineJob {
 public:
  struct Entry {
    engine::BatchEntry batch;
    const engine::Hooks* hooks = nullptr;  // owned by the job; valid until on_logits has run
    std::function<void(const engine::Runner& runner, int index)> on_logits;
  };

  virtual ~EngineJob() = default;
  // Appends this step's entries; their new tokens total at most token_budget.
  virtual void Plan(int token_budget, std::vector<Entry>& entries) = 0;
  // Engine work of the job's own after the step's forward calls, about
  // token_budget tokens' worth at most (a row of Unembed counts as one).
  virtual void Work(engine::Runner& runner, int token_budget) {}
  virtual bool Done() const = 0;
  // The end: OK once Done(), else Cancelled, DeadlineExceeded or the
  // engine's error. The job's sequences may be freed here.
  virtual void Finish(absl::Status status) = 0;
};

struct JobRequest {
  std::string model;  // a registered model id
  std::shared_ptr<EngineJob> job;
  // When to give up, in microseconds on the scheduler's Clock; 0: never.
  int64_t deadline_micros = 0;
};

}  // namespace aperture::scheduler
