// Scheduler: serves many concurrent generation, embedding and scoring
// requests from the engine by continuous batching. It owns the engine's
// threads: one scheduler thread drives one Runner per model (each Runner's
// pool uses the cores), and nothing else touches engine state.
//
// Every step, all running sequences of a model decode one token together
// in one Runner::Forward batch; prompts are processed in the same batch in
// chunks (at most prefill_tokens_per_step prompt tokens per step in all,
// first come first served), so a long prompt never stalls the other streams.
// New requests join between steps; a finished, cancelled or expired request
// frees its slots for the next step. See docs/scheduler.md.
//
// Limits: at most max_active sequences run at once (a request with n
// choices takes n); beyond that up to max_waiting requests queue, and Submit
// refuses more with Unavailable (retry later). A prompt plus max_tokens
// beyond the model's context is InvalidArgument, returned by Submit.
//
// Usage:
//   Scheduler s({.max_active = 8});
//   RETURN_IF_ERROR(s.RegisterModel("stories", "/models/stories260K.gguf"));
//   GenerateRequest r{.model = "stories", .prompt = "Once upon a time", .max_tokens = 32};
//   r.callbacks.on_token = [](const TokenEvent& e) { ... e.text ... };
//   r.callbacks.on_done = [](const GenerateDone& d) { ... };
//   ASSIGN_OR_RETURN(RequestId id, s.Submit(std::move(r)));
//   s.Cancel(id);  // e.g. when the client goes away
//
// Thread-safety: thread-safe; Submit, Cancel, metrics and the model calls
// may come from any thread. Callbacks run on the scheduler thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "core/clock.h"
#include "core/std_mutex.h"
#include "engine/model/runner.h"
#include "scheduler/engine_job.h"
#include "scheduler/model_registry.h"
#include "scheduler/request.h"

namespace aperture::scheduler {

struct SchedulerOptions {
  int threads = 0;                    // Runner threads; 0: every core this process may use
  int max_active = 8;                 // sequences running at once
  int max_waiting = 32;               // requests queued behind them
  int prefill_tokens_per_step = 128;  // prompt tokens processed per step, over all requests
  // Tokens engine jobs (research passes) may run per step while streams are
  // decoding, out of the prompt budget: small, so a step with a job's slice
  // stays close to a plain decode step. With no stream decoding, jobs share
  // the whole prompt budget.
  int job_tokens_per_step = 8;
  ModelRegistryOptions models = {};
  const Clock* clock = nullptr;  // for deadlines; nullptr: the system clock
  // Called on the scheduler's thread after each round of callbacks (a step,
  // or requests ending outside one), e.g. to hand the round's stream chunks
  // to the network in one go.
  std::function<void()> after_events = nullptr;
  // A test seam where the scheduler calls the engine: when set, it runs
  // before every forward pass, and an error it returns fails that pass's
  // requests exactly as an engine error would (on_done with that status).
  // Tests use it to check that every route reports engine failures; nothing
  // in the server sets it, and no request or setting can.
  std::function<absl::Status()> engine_fault = nullptr;
};

struct SchedulerMetrics {
  int active_requests = 0;
  int active_sequences = 0;  // slots in use
  int waiting_requests = 0;  // queue length
  uint64_t steps = 0;
  uint64_t tokens_generated = 0;         // token events delivered
  uint64_t prompt_tokens_processed = 0;  // prompt (and embedding input) tokens run through the model
  uint64_t job_tokens_processed = 0;     // tokens engine jobs ran through the model
  uint64_t requests_finished = 0;        // final callback delivered (any reason)
  uint64_t requests_rejected = 0;        // Submit answered Unavailable
  double engine_seconds = 0;             // total time inside Runner::Forward
  double step_seconds = 0;               // total time of steps (engine, sampling, callbacks)
  double last_step_engine_seconds = 0;
  int last_step_sequences = 0;  // decode entries in the last step's batch
  int last_step_prompt_tokens = 0;
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerOptions options = {});
  // Cancels everything (each request still gets its final callback, on the
  // scheduler thread) and joins the threads.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // ---- models ----
  absl::Status RegisterModel(std::string id, std::string path) {
    return models_.Register(std::move(id), std::move(path));
  }
  // Loads on first use (on the calling thread); see ModelRegistry::Get.
  absl::StatusOr<std::shared_ptr<const LoadedModel>> GetModel(std::string_view id) { return models_.Get(id); }
  ModelRegistry& models() { return models_; }

  // ---- requests ----
  // Checks the request, prepares its prompt (loading the model if needed)
  // and queues it. Errors, with nothing queued: NotFound (unknown model),
  // InvalidArgument (no prompt or several, a token outside the vocabulary,
  // n outside [1, max_active], negative max_tokens, prompt + max_tokens over
  // the context, bad sampling parameters, no on_done), Unavailable (full).
  // Once accepted, on_done is called exactly once.
  absl::StatusOr<RequestId> Submit(GenerateRequest request);
  absl::StatusOr<RequestId> SubmitEmbed(EmbedRequest request);
  // Log-likelihood scoring (see ScoreRequest). Errors, with nothing queued:
  // NotFound (unknown model), InvalidArgument (no on_done, an empty context
  // or continuation, a token outside the vocabulary, more than 1024
  // continuations, a context plus continuation over the model's context),
  // Unavailable (full). Once accepted, on_done is called exactly once.
  absl::StatusOr<RequestId> SubmitScore(ScoreRequest request);
  // An engine job (see engine_job.h). Errors, with nothing queued: NotFound
  // (unknown model), InvalidArgument (no job), Unavailable (full). Once
  // accepted, the job's Finish is called exactly once.
  absl::StatusOr<RequestId> SubmitJob(JobRequest request);

  // Stops a queued or running request; its slots are free for the next
  // step, and its final callbacks (reason kCancelled) follow on the
  // scheduler thread. A few events already under way may arrive before
  // them. Returns false when the id is unknown or already finished.
  bool Cancel(RequestId id);

  SchedulerMetrics metrics() const;
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Work;  // one request on the scheduler thread (scheduler.cpp)

  absl::StatusOr<RequestId> Enqueue(std::unique_ptr<Work> work);
  void Loop();
  void RunModelStep(const LoadedModel& model, int& prefill_budget);
  struct Slot {  // what one entry of a forward batch is
    Work* work;
    // >= 0: a decode entry of that choice (of a scoring request: a chunk of
    // that continuation's tokens); -1: a prompt (or scoring context) chunk;
    // kJobEntry: an engine job's entry.
    int choice;
    int tokens;
  };
  static constexpr int kJobEntry = -2;
  struct JobEntry {
    Work* work;
    EngineJob::Entry entry;
  };
  // This step's entries of engine jobs for `model`, within `budget` tokens.
  std::vector<JobEntry> PlanJobs(const LoadedModel& model, int budget);
  // Runs job entries resumed at a layer (one forward call per layer), then
  // every job's own work; finishes the jobs that are done.
  void RunJobs(const LoadedModel& model, engine::Runner& runner, std::vector<JobEntry>& resumed, int budget);
  void SampleAndEmitAll(const LoadedModel& model, engine::Runner& runner, const std::vector<Slot>& slots);
  void Emit(Work& w, int choice, absl::StatusOr<engine::SampleResult> r);
  void EndChoice(Work& w, int choice, FinishReason reason);
  void RunEmbedChunk(Work& w, int tokens, engine::Runner& runner);
  // Scores the rows of this step's scoring slots (context ends and
  // continuation chunks) and completes the requests with nothing left to run.
  void ScoreAll(engine::Runner& runner, const std::vector<Slot>& slots);
  // Ends every open choice with `reason` and delivers on_done (idempotent).
  void FinishRequest(Work& w, FinishReason reason, const absl::Status& status);
  void ReleaseSlots(int n);
  void MarkDone(RequestId id);
  engine::Runner& RunnerFor(const LoadedModel& model);
  // The one place the scheduler runs the engine (see engine_fault).
  absl::Status Forward(engine::Runner& runner, std::span<const engine::BatchEntry> batch,
                       const engine::Hooks* hooks = nullptr);

  const SchedulerOptions options_;
  const Clock& clock_;
  ModelRegistry models_;

  // Shared with submitting threads. A StdMutex (not absl::Mutex) so that
  // ThreadSanitizer sees it: core/std_mutex.h.
  mutable StdMutex mu_;
  std::condition_variable cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  RequestId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<std::unique_ptr<Work>> waiting_ ABSL_GUARDED_BY(mu_);
  int waiting_slots_ ABSL_GUARDED_BY(mu_) = 0;               // slots the waiting requests need
  int slots_used_ ABSL_GUARDED_BY(mu_) = 0;                  // slots of admitted requests
  std::unordered_set<RequestId> live_ ABSL_GUARDED_BY(mu_);  // accepted, not yet done
  std::unordered_set<RequestId> cancels_ ABSL_GUARDED_BY(mu_);
  SchedulerMetrics metrics_ ABSL_GUARDED_BY(mu_);

  // Scheduler thread only.
  std::vector<std::unique_ptr<Work>> active_;
  std::map<const engine::LlamaModel*, std::unique_ptr<engine::Runner>> runners_;
  double step_engine_seconds_ = 0;
  int step_sequences_ = 0;
  int step_prompt_tokens_ = 0;
  uint64_t step_tokens_ = 0;
  uint64_t step_job_tokens_ = 0;

  std::thread thread_;
};

}  // namespace aperture::scheduler
