// EvalRunner: runs a suite on a model through the Scheduler, the same one
// that serves HTTP traffic (so evaluation shares the engine with serving).
//
// Multiple-choice items go as scoring requests (Scheduler::SubmitScore):
// the question is prefilled once and its KV cache shared by every choice;
// generation items go as greedy generation requests (temperature 0, stop at
// "\n" by default). Up to batch_items items are in flight at once, so their
// tokens share the engine's forward batches. Results are deterministic: the
// engine's logits do not depend on batching, chunking or thread count.
//
// Resumable: Run skips the items in `done` (results a previous, interrupted
// run persisted from its on_batch calls) and the final result is the same as
// one uninterrupted run.
//
// Usage:
//   EvalRunner runner(scheduler, {.batch_items = 16});
//   ProgressBar bar(stderr);
//   ASSIGN_OR_RETURN(RunResult r, runner.Run("tiny", suite, already_done,
//       [&](std::span<const ItemResult> batch) { return store.Save(batch); },
//       [&](const Progress& p) { bar.Update(p); }, &cancel_flag));
//
// Thread-safety: one Run at a time per instance; Run blocks its caller and
// calls on_batch and on_progress on the caller's thread. Several runners
// (on other threads) may share one Scheduler.
#pragma once

#include <atomic>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "evals/results.h"
#include "evals/suite.h"
#include "scheduler/scheduler.h"

namespace aperture::evals {

struct RunOptions {
  int batch_items = 16;                    // items in flight at once; on_batch gets results in groups of this many
  int max_tokens = 64;                     // generation: tokens per item at most
  std::vector<std::string> stop = {"\n"};  // generation: stop strings
  // false: score every choice from scratch, one scoring request per choice
  // (the baseline the bench compares against; the same scores).
  bool share_prefix = true;
};

struct Progress {
  size_t done = 0;              // items finished, those resumed from `done` included
  size_t total = 0;             // items in the suite
  double items_per_second = 0;  // items finished by this run / seconds since it started
  double eta_seconds = -1;      // remaining / items_per_second; -1 while unknown
};

class EvalRunner {
 public:
  explicit EvalRunner(scheduler::Scheduler& scheduler, RunOptions options = {});

  // Runs the items of `suite` not in `done` on `model` and returns every
  // item's result (those in `done` included) with the metrics. on_batch
  // (optional) gets each group of finished results, in completion order,
  // before more are reported, so the caller can persist them; an error from
  // it stops the run and is returned. on_progress (optional) follows each
  // on_batch. When *cancel becomes true the run stops (requests in flight are
  // cancelled, their results dropped) and returns Cancelled. Other errors: a
  // `done` entry that does not fit the suite (InvalidArgument), an unknown
  // model (NotFound), an item the model cannot take (InvalidArgument naming
  // the item), an engine error.
  absl::StatusOr<RunResult> Run(const std::string& model, const Suite& suite, std::vector<ItemResult> done,
                                std::function<absl::Status(std::span<const ItemResult>)> on_batch,
                                std::function<void(const Progress&)> on_progress,
                                const std::atomic<bool>* cancel = nullptr);

  const RunOptions& options() const { return options_; }

 private:
  scheduler::Scheduler& scheduler_;
  const RunOptions options_;
};

}  // namespace aperture::evals
