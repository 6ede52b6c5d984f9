// EvalService: runs evaluation suites on models and keeps what they show.
// Each batch of finished items is stored before the next one starts, so an
// interrupted run resumes where it stopped; a finished run stores its
// metrics and the risk tier of its domain under the policy in force, writes
// an `eval.recorded` entry (hashes of the suite and the results, never their
// text) to the transparency log, and refreshes the model's ceiling.
//
// Thread-safe. Background runs (Start) each get a thread; the destructor
// cancels and joins them (they resume at the next start).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "access/caller.h"
#include "aperture/recorder.h"
#include "aperture/store.h"
#include "core/clock.h"
#include "evals/eval_runner.h"
#include "release/release_service.h"
#include "scheduler/scheduler.h"

namespace aperture {

class EvalService {
 public:
  EvalService(Store& store, Recorder& recorder, const Clock& clock, ReleaseService& release,
              scheduler::Scheduler& scheduler);
  ~EvalService();
  EvalService(const EvalService&) = delete;
  EvalService& operator=(const EvalService&) = delete;

  // Runs the suite at `suite_path` on the model in the calling thread,
  // resuming an unfinished run of the same suite file on the model if there
  // is one. `progress` (may be empty) is called as items finish. When
  // *cancel becomes true the run stops with Cancelled, what finished kept,
  // to be resumed by the next RunNow.
  absl::StatusOr<EvalRun> RunNow(const Caller& actor, const std::string& model_id, const std::string& suite_path,
                                 const std::function<void(const evals::Progress&)>& progress,
                                 const std::atomic<bool>* cancel = nullptr);

  // Starts (or resumes) the same in the background and returns the run as
  // stored (state running). Only suites the policy names may be started
  // here: their files are the owner's, so their results can count as evidence.
  absl::StatusOr<EvalRun> Start(const Caller& actor, const std::string& model_id, const std::string& suite_name);

  // Resumes, in the background, every run a stopped server left unfinished.
  absl::Status ResumeInterrupted();

  // The run and, when asked, its per-item results (JSON objects by index).
  absl::StatusOr<EvalRun> Find(const std::string& run_id);

 private:
  // Creates the run, or finds the unfinished one to resume.
  absl::StatusOr<EvalRun> Prepare(const Caller& actor, const std::string& model_id, const evals::Suite& suite,
                                  const std::string& suite_path);
  absl::StatusOr<EvalRun> Execute(EvalRun run, const evals::Suite& suite,
                                  const std::function<void(const evals::Progress&)>& progress,
                                  const std::atomic<bool>* cancel);
  absl::StatusOr<EvalRun> Finish(EvalRun run, const evals::Suite& suite, const evals::RunResult& result);
  // Stores the finished run, logs it and refreshes the model's ceiling.
  absl::Status Record(const EvalRun& run, const Json& metrics, const Json& tiers);
  void Launch(EvalRun run, evals::Suite suite);

  Store& store_;
  Recorder& recorder_;
  const Clock& clock_;
  ReleaseService& release_;
  scheduler::Scheduler& scheduler_;

  std::atomic<bool> stopping_{false};
  absl::Mutex mu_;
  std::map<std::string, std::thread> running_ ABSL_GUARDED_BY(mu_);  // by run id
  // Runs stored as finished whose ceiling refresh is still under way: Find
  // shows them running, so whoever sees a run finished also sees its effect.
  std::set<std::string> finalizing_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aperture
