#include "scheduler/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "core/status_macros.h"
#include "engine/model/hooks.h"
#include "fmt/format.h"
#include "scheduler/sequence_copy.h"
#include "scheduler/text_stream.h"
#include "scheduler/work.h"

namespace aperture::scheduler {
namespace {

// Choice i of a request draws from seed ^ (i * kSeedStride): choice 0 is the n = 1 stream.
constexpr uint64_t kSeedStride = 0x9E3779B97F4A7C15ull;

}  // namespace

std::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kDeadline:
      return "deadline";
    case FinishReason::kError:
      return "error";
  }
  return "error";
}

Scheduler::Scheduler(SchedulerOptions options)
    : options_([&] {
        options.max_active = std::max(1, options.max_active);
        options.max_waiting = std::max(0, options.max_waiting);
        options.prefill_tokens_per_step = std::max(1, options.prefill_tokens_per_step);
        return options;
      }()),
      clock_(options.clock != nullptr ? *options.clock : SystemClock::Get()),
      models_(options.models) {
  thread_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() {
  {
    StdMutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

// ---------------------------------------------------------------- Submit

absl::StatusOr<RequestId> Scheduler::Submit(GenerateRequest request) {
  if (!request.callbacks.on_done) return absl::InvalidArgumentError("a generate request needs an on_done callback");
  const int prompt_kinds =
      (request.prompt_tokens.empty() ? 0 : 1) + (request.prompt.empty() ? 0 : 1) + (request.messages.empty() ? 0 : 1);
  if (prompt_kinds != 1) {
    return absl::InvalidArgumentError(
        prompt_kinds == 0 ? "the request has no prompt (give prompt tokens, prompt text or chat messages)"
                          : "the request has more than one prompt (give only one of prompt tokens, text, messages)");
  }
  if (request.n < 1 || request.n > options_.max_active) {
    return absl::InvalidArgumentError(
        fmt::format("n is {}; this server runs 1 to {} completions per request", request.n, options_.max_active));
  }
  if (request.max_tokens < 0) {
    return absl::InvalidArgumentError(fmt::format("max_tokens is {}; it must be at least 0", request.max_tokens));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const LoadedModel> model, models_.Get(request.model));
  const engine::Tokenizer& tok = *model->tokenizer;

  auto w = std::make_unique<Work>();
  bool chat = false;
  std::vector<std::string> stops = std::move(request.stop);
  w->stop_tokens = std::move(request.stop_tokens);
  if (!request.messages.empty()) {
    ASSIGN_OR_RETURN(engine::RenderedChat rendered, model->chat_template->Render(request.messages));
    w->prompt = model->chat_encoder->Encode(rendered);
    const engine::ChatStops chat_stops = model->chat_encoder->Stops(*model->chat_template);
    if (!request.ignore_eos) {
      w->stop_tokens.insert(w->stop_tokens.end(), chat_stops.token_ids.begin(), chat_stops.token_ids.end());
    }
    stops.insert(stops.end(), chat_stops.strings.begin(), chat_stops.strings.end());
    chat = true;
  } else if (!request.prompt.empty()) {
    w->prompt = tok.Encode(request.prompt, /*add_special=*/true, /*parse_special=*/false);
  } else {
    w->prompt = std::move(request.prompt_tokens);
  }
  if (w->prompt.empty()) return absl::InvalidArgumentError("the prompt encodes to no tokens");
  RETURN_IF_ERROR(CheckTokens(w->prompt, model->vocab_size()));

  const int prompt_len = static_cast<int>(w->prompt.size());
  const int ctx = model->context_length;
  if (prompt_len >= ctx || (request.max_tokens > 0 && static_cast<int64_t>(prompt_len) + request.max_tokens > ctx)) {
    return absl::InvalidArgumentError(fmt::format(
        "the prompt ({} tokens) plus max_tokens ({}) is more than the model's context of {} tokens; shorten the "
        "prompt or lower max_tokens",
        prompt_len, request.max_tokens > 0 ? request.max_tokens : 1, ctx));
  }
  w->max_tokens = request.max_tokens > 0 ? request.max_tokens : ctx - prompt_len;

  w->choices.resize(request.n);
  for (int i = 0; i < request.n; ++i) {
    engine::SamplingParams params = request.sampling;
    params.seed ^= static_cast<uint64_t>(i) * kSeedStride;
    ASSIGN_OR_RETURN(engine::Sampler sampler, engine::Sampler::Create(params, model->vocab_size()));
    w->choices[i].sampler.emplace(std::move(sampler));
    w->choices[i].stream.emplace(tok, /*strip_leading_space=*/chat, stops);
  }
  w->slots = request.n;
  w->logprobs = request.sampling.logprobs;
  w->ignore_eos = request.ignore_eos;
  w->deadline_micros = request.deadline_micros;
  w->callbacks = std::move(request.callbacks);
  w->hooks = std::move(request.hooks);
  w->model = std::move(model);
  return Enqueue(std::move(w));
}

absl::StatusOr<RequestId> Scheduler::Enqueue(std::unique_ptr<Work> w) {
  RequestId id;
  {
    StdMutexLock lock(&mu_);
    if (stop_) return absl::UnavailableError("the scheduler is shutting down");
    const int free_slots = options_.max_active - slots_used_ - waiting_slots_;
    if (w->slots > free_slots && static_cast<int>(waiting_.size()) >= options_.max_waiting) {
      ++metrics_.requests_rejected;
      return absl::UnavailableError(fmt::format(
          "the server is busy ({} sequences running, {} requests queued); retry later", slots_used_, waiting_.size()));
    }
    id = next_id_++;
    w->id = id;
    waiting_slots_ += w->slots;
    live_.insert(id);
    waiting_.push_back(std::move(w));
  }
  cv_.notify_all();
  return id;
}

bool Scheduler::Cancel(RequestId id) {
  {
    StdMutexLock lock(&mu_);
    if (!live_.contains(id)) return false;
    cancels_.insert(id);
  }
  cv_.notify_all();
  return true;
}

SchedulerMetrics Scheduler::metrics() const {
  StdMutexLock lock(&mu_);
  SchedulerMetrics m = metrics_;
  m.active_sequences = slots_used_;
  m.waiting_requests = static_cast<int>(waiting_.size());
  return m;
}

// ---------------------------------------------------------------- the loop

void Scheduler::Loop() {
  for (;;) {
    // However this round ends, what its callbacks produced goes out now.
    absl::Cleanup flush = [this] {
      if (options_.after_events) options_.after_events();
    };
    std::unordered_set<RequestId> cancels;
    std::vector<std::unique_ptr<Work>> dropped;  // left the queue before starting
    {
      StdMutexLock lock(&mu_);
      while (!stop_ && waiting_.empty() && active_.empty() && cancels_.empty()) lock.Wait(cv_);
      if (stop_) break;
      cancels.swap(cancels_);
      const int64_t now = clock_.NowMicros();
      for (auto it = waiting_.begin(); it != waiting_.end();) {
        Work& w = **it;
        if (cancels.contains(w.id) || (w.deadline_micros > 0 && now >= w.deadline_micros)) {
          waiting_slots_ -= w.slots;
          dropped.push_back(std::move(*it));
          it = waiting_.erase(it);
        } else {
          ++it;
        }
      }
    }
    const int64_t now = clock_.NowMicros();
    for (auto& w : dropped) {
      FinishRequest(*w, cancels.contains(w->id) ? FinishReason::kCancelled : FinishReason::kDeadline, {});
    }
    // Cancelled and expired running requests free their slots before admission.
    for (auto& w : active_) {
      if (cancels.contains(w->id)) {
        FinishRequest(*w, FinishReason::kCancelled, {});
      } else if (w->deadline_micros > 0 && now >= w->deadline_micros) {
        FinishRequest(*w, FinishReason::kDeadline, {});
      }
    }
    std::erase_if(active_, [](const std::unique_ptr<Work>& w) { return w->finished; });

    std::vector<std::unique_ptr<Work>> admitted;
    dropped.clear();
    {
      StdMutexLock lock(&mu_);
      const int64_t admit_now = clock_.NowMicros();
      // First come, first served: a request that does not fit waits, and so does everyone behind it.
      while (!waiting_.empty() && waiting_.front()->slots <= options_.max_active - slots_used_) {
        std::unique_ptr<Work> w = std::move(waiting_.front());
        waiting_.pop_front();
        waiting_slots_ -= w->slots;
        // Cancelled or expired since the scan above: it never starts.
        if (cancels_.contains(w->id) || (w->deadline_micros > 0 && admit_now >= w->deadline_micros)) {
          dropped.push_back(std::move(w));
          continue;
        }
        slots_used_ += w->slots;
        w->admitted = true;
        admitted.push_back(std::move(w));
      }
      metrics_.active_requests = static_cast<int>(active_.size() + admitted.size());
    }
    for (auto& w : dropped) {
      const bool expired = w->deadline_micros > 0 && clock_.NowMicros() >= w->deadline_micros;
      FinishRequest(*w, expired ? FinishReason::kDeadline : FinishReason::kCancelled, {});
    }
    for (auto& w : admitted) {
      const engine::LlamaConfig& config = w->model->model->config();
      const int prompt_len = static_cast<int>(w->prompt.size());
      if (w->embed) {
        w->embed_seq = std::make_unique<engine::Sequence>(config, prompt_len);
        w->pool_sum.assign(config.dim, 0.0);
      } else if (w->score) {
        size_t longest = 1;
        for (const Work::Continuation& c : w->conts) longest = std::max(longest, c.tokens.size());
        w->score_seq = std::make_unique<engine::Sequence>(config, prompt_len + static_cast<int>(longest) - 1);
      } else {
        for (Work::Choice& c : w->choices)
          c.seq = std::make_unique<engine::Sequence>(config, prompt_len + w->max_tokens);
      }
      active_.push_back(std::move(w));
    }
    if (active_.empty()) continue;

    const auto step_start = std::chrono::steady_clock::now();
    step_engine_seconds_ = 0;
    step_sequences_ = 0;
    step_prompt_tokens_ = 0;
    step_tokens_ = 0;
    step_job_tokens_ = 0;
    int prefill_budget = options_.prefill_tokens_per_step;
    std::vector<const LoadedModel*> models;
    for (const auto& w : active_) {
      if (std::find(models.begin(), models.end(), w->model.get()) == models.end()) models.push_back(w->model.get());
    }
    for (const LoadedModel* m : models) RunModelStep(*m, prefill_budget);

    // Requests whose every choice ended get their final callback.
    for (auto& w : active_) {
      if (!w->finished && !w->embed && !w->score && !w->job && w->all_choices_done()) {
        FinishRequest(*w, FinishReason::kStop, {});
      }
    }
    std::erase_if(active_, [](const std::unique_ptr<Work>& w) { return w->finished; });

    StdMutexLock lock(&mu_);
    ++metrics_.steps;
    metrics_.tokens_generated += step_tokens_;
    metrics_.prompt_tokens_processed += step_prompt_tokens_;
    metrics_.job_tokens_processed += step_job_tokens_;
    metrics_.engine_seconds += step_engine_seconds_;
    metrics_.step_seconds += SecondsSince(step_start);
    metrics_.last_step_engine_seconds = step_engine_seconds_;
    metrics_.last_step_sequences = step_sequences_;
    metrics_.last_step_prompt_tokens = step_prompt_tokens_;
    metrics_.active_requests = static_cast<int>(active_.size());
  }

  // Shutting down: every request still gets its final callbacks.
  std::deque<std::unique_ptr<Work>> waiting;
  {
    StdMutexLock lock(&mu_);
    waiting.swap(waiting_);
    waiting_slots_ = 0;
  }
  for (auto& w : active_) FinishRequest(*w, FinishReason::kCancelled, {});
  for (auto& w : waiting) FinishRequest(*w, FinishReason::kCancelled, {});
  active_.clear();
  if (options_.after_events) options_.after_events();
}

engine::Runner& Scheduler::RunnerFor(const LoadedModel& model) {
  std::unique_ptr<engine::Runner>& r = runners_[model.model.get()];
  if (r == nullptr)
    r = std::make_unique<engine::Runner>(*model.model, engine::RunnerOptions{.threads = options_.threads});
  return *r;
}

absl::Status Scheduler::Forward(engine::Runner& runner, std::span<const engine::BatchEntry> batch,
                                const engine::Hooks* hooks) {
  if (options_.engine_fault) RETURN_IF_ERROR(options_.engine_fault());
  return runner.Forward(batch, hooks);
}

// One batch for one model: a decode entry per running choice, then prompt
// chunks first come first served within the step's prompt budget, then the
// engine jobs' entries within theirs.
void Scheduler::RunModelStep(const LoadedModel& model, int& prefill_budget) {
  std::vector<engine::BatchEntry> entries;
  std::vector<const engine::Hooks*> entry_hooks;  // per entry: its request's hooks, or null
  std::vector<Slot> slots;
  std::vector<Slot> embed_chunks;
  for (auto& w : active_) {
    if (w->finished || w->model.get() != &model || w->embed || w->score || w->job || w->prefilling()) continue;
    for (int i = 0; i < static_cast<int>(w->choices.size()); ++i) {
      Work::Choice& c = w->choices[i];
      if (c.done) continue;
      entries.push_back({c.seq.get(), std::span<const int32_t>(&c.pending, 1), false});
      entry_hooks.push_back(w->hooks.get());
      slots.push_back({w.get(), i, 1});
    }
  }
  const bool decoding = !entries.empty();
  step_sequences_ += static_cast<int>(entries.size());
  for (auto& w : active_) {
    if (prefill_budget <= 0) break;
    if (w->finished || w->model.get() != &model || w->job) continue;
    if (w->score && !w->prefilling()) {
      // The next continuation with tokens to run, on top of the context; its
      // tokens share the prompt budget, and each row's logits score the next token.
      const auto next =
          std::find_if(w->conts.begin(), w->conts.end(), [](const Work::Continuation& c) { return c.left(); });
      if (next == w->conts.end()) continue;
      Work::Continuation& c = *next;
      if (c.fed == 0) w->score_seq->Truncate(static_cast<int>(w->prompt.size()));
      const int k = std::min<int>(prefill_budget, static_cast<int>(c.tokens.size()) - 1 - c.fed);
      prefill_budget -= k;
      entries.push_back({w->score_seq.get(), std::span<const int32_t>(c.tokens.data() + c.fed, k), true});
      entry_hooks.push_back(nullptr);
      slots.push_back({w.get(), static_cast<int>(next - w->conts.begin()), k});
      continue;
    }
    if (!w->prefilling()) continue;
    const int k = std::min<int>(prefill_budget, static_cast<int>(w->prompt.size()) - w->prefilled);
    prefill_budget -= k;
    if (w->embed) {
      embed_chunks.push_back({w.get(), -1, k});
    } else {
      engine::Sequence* seq = w->score ? w->score_seq.get() : w->choices[0].seq.get();
      entries.push_back({seq, std::span<const int32_t>(w->prompt.data() + w->prefilled, k), false});
      entry_hooks.push_back(w->score ? nullptr : w->hooks.get());
      slots.push_back({w.get(), -1, k});
    }
  }
  // Jobs: their layer-0 entries join this batch; the others run after it.
  const int job_budget =
      std::min(prefill_budget, decoding ? options_.job_tokens_per_step : options_.prefill_tokens_per_step);
  std::vector<JobEntry> merged, resumed;
  for (JobEntry& je : PlanJobs(model, job_budget)) {
    const engine::BatchEntry& b = je.entry.batch;
    prefill_budget -= static_cast<int>(b.tokens.size());
    if (b.first_layer != 0 || !b.resid_in.empty()) {
      resumed.push_back(std::move(je));
      continue;
    }
    entries.push_back(b);
    entry_hooks.push_back(je.entry.hooks);
    slots.push_back({je.work, kJobEntry, static_cast<int>(b.tokens.size())});
    merged.push_back(std::move(je));
  }

  engine::Runner& runner = RunnerFor(model);
  if (!entries.empty()) {
    const auto start = std::chrono::steady_clock::now();
    absl::Status status;
    if (std::any_of(entry_hooks.begin(), entry_hooks.end(), [](const engine::Hooks* h) { return h != nullptr; })) {
      const engine::Hooks hooks = engine::PerEntryHooks(entry_hooks, model.model->config().n_layers);
      status = Forward(runner, entries, &hooks);
    } else {
      status = Forward(runner, entries);
    }
    step_engine_seconds_ += SecondsSince(start);
    if (!status.ok()) {
      for (const Slot& s : slots) {
        if (!s.work->finished) FinishRequest(*s.work, FinishReason::kError, status);
      }
    } else {
      ScoreAll(runner, slots);
      SampleAndEmitAll(model, runner, slots);
      const int first_job = static_cast<int>(entries.size() - merged.size());
      for (size_t j = 0; j < merged.size(); ++j) {
        step_job_tokens_ += merged[j].entry.batch.tokens.size();
        if (!merged[j].work->finished && merged[j].entry.on_logits) {
          merged[j].entry.on_logits(runner, first_job + static_cast<int>(j));
        }
      }
    }
  }

  for (const Slot& s : embed_chunks) RunEmbedChunk(*s.work, s.tokens, runner);
  RunJobs(model, runner, resumed, job_budget);
}

// After a forward pass: the prompt chunks that completed a prompt hand its
// cache to the other choices, every running choice samples its next token
// (in parallel on the Runner's pool: each choice has its own sampler and
// history, so the results do not depend on the threads), then the events go
// out in batch order on this thread.
void Scheduler::SampleAndEmitAll(const LoadedModel& model, engine::Runner& runner, const std::vector<Slot>& slots) {
  struct Job {
    Work* work;
    int choice;
    std::span<const float> logits;
    absl::StatusOr<engine::SampleResult> result;
  };
  std::vector<Job> jobs;
  for (size_t e = 0; e < slots.size(); ++e) {
    const Slot& s = slots[e];
    Work& w = *s.work;
    if (w.finished || w.score || w.job) continue;
    const std::span<const float> logits = runner.Logits(static_cast<int>(e));
    if (s.choice >= 0) {
      jobs.push_back({&w, s.choice, logits, absl::UnknownError("not sampled")});
      continue;
    }
    w.prefilled += s.tokens;
    step_prompt_tokens_ += s.tokens;
    if (w.prefilling()) continue;
    // The prompt is in: the other choices copy its cache and every choice draws its first token.
    const int prompt_len = static_cast<int>(w.prompt.size());
    for (size_t i = 1; i < w.choices.size() && !w.finished; ++i) {
      absl::Status copied = CopyPrefix(model.model->config(), *w.choices[0].seq, prompt_len, w.choices[i].seq.get());
      if (!copied.ok()) FinishRequest(w, FinishReason::kError, copied);
    }
    for (int i = 0; i < static_cast<int>(w.choices.size()) && !w.finished; ++i) {
      jobs.push_back({&w, i, logits, absl::UnknownError("not sampled")});
    }
  }
  runner.pool().ParallelFor(static_cast<int64_t>(jobs.size()), [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      Work::Choice& c = jobs[j].work->choices[jobs[j].choice];
      jobs[j].result = c.sampler->Sample(jobs[j].logits, c.generated);
    }
  });
  runner.pool().Rest();  // the workers sleep while events go out, leaving a core to the threads they wake
  for (Job& job : jobs) {
    if (!job.work->finished) Emit(*job.work, job.choice, std::move(job.result));
  }
}

void Scheduler::Emit(Work& w, int choice, absl::StatusOr<engine::SampleResult> r) {
  Work::Choice& c = w.choices[choice];
  if (!r.ok()) {
    FinishRequest(w, FinishReason::kError, r.status());
    return;
  }
  const int32_t token = r->token;
  const engine::Tokenizer& tok = *w.model->tokenizer;
  const bool stop_token = std::find(w.stop_tokens.begin(), w.stop_tokens.end(), token) != w.stop_tokens.end() ||
                          (!w.ignore_eos && tok.IsEndOfGeneration(token));
  if (stop_token) {
    EndChoice(w, choice, FinishReason::kStop);
    return;
  }
  c.generated.push_back(token);
  TextStream::Result text = c.stream->Push(token);
  TokenEvent event;
  event.choice = choice;
  event.token = token;
  event.token_text = tok.TokenToPiece(token, /*render_special=*/true);
  event.text = std::move(text.text);
  if (w.logprobs) {
    event.logprob = r->logprob;
    event.top_logprobs.reserve(r->top.size());
    for (const engine::TokenLogprob& alt : r->top) {
      event.top_logprobs.push_back({alt.token, tok.TokenToPiece(alt.token, /*render_special=*/true), alt.logprob});
    }
  }
  ++c.events;
  ++w.completion_tokens;
  ++step_tokens_;
  if (w.callbacks.on_token) w.callbacks.on_token(event);
  if (text.stopped) {
    EndChoice(w, choice, FinishReason::kStop);
  } else if (static_cast<int>(c.generated.size()) >= w.max_tokens) {
    EndChoice(w, choice, FinishReason::kLength);
  } else {
    c.pending = token;
  }
}

void Scheduler::EndChoice(Work& w, int choice, FinishReason reason) {
  Work::Choice& c = w.choices[choice];
  if (c.done) return;
  c.done = true;
  ChoiceEnd end;
  end.choice = choice;
  end.reason = reason;
  end.text = c.stream->Finish();
  end.completion_tokens = c.events;
  c.seq.reset();
  if (w.admitted) ReleaseSlots(1);
  if (w.callbacks.on_choice_end) w.callbacks.on_choice_end(end);
}

void Scheduler::FinishRequest(Work& w, FinishReason reason, const absl::Status& status) {
  if (w.finished) return;
  w.finished = true;
  if (w.job) {
    if (w.admitted) ReleaseSlots(w.slots);
    MarkDone(w.id);
    absl::Status s = status;
    if (s.ok() && reason == FinishReason::kDeadline) {
      s = absl::DeadlineExceededError("the research request passed its deadline");
    } else if (s.ok() && reason == FinishReason::kCancelled) {
      s = absl::CancelledError("the research request was cancelled");
    }
    w.job->Finish(s);
    return;
  }
  if (w.score) {
    w.score_seq.reset();
    if (w.admitted) ReleaseSlots(w.slots);
    MarkDone(w.id);
    absl::Status s = status;
    if (s.ok()) {
      s = reason == FinishReason::kDeadline ? absl::DeadlineExceededError("the scoring request passed its deadline")
                                            : absl::CancelledError("the scoring request was cancelled");
    }
    w.score_done(s);
    return;
  }
  if (w.embed) {
    w.embed_seq.reset();
    if (w.admitted) ReleaseSlots(1);
    MarkDone(w.id);
    absl::Status s = status;
    if (s.ok()) {
      s = reason == FinishReason::kDeadline ? absl::DeadlineExceededError("the embedding request passed its deadline")
                                            : absl::CancelledError("the embedding request was cancelled");
    }
    w.embed_done(s);
    return;
  }
  for (int i = 0; i < static_cast<int>(w.choices.size()); ++i) EndChoice(w, i, reason);
  MarkDone(w.id);
  GenerateDone done;
  done.prompt_tokens = static_cast<int>(w.prompt.size());
  done.completion_tokens = w.completion_tokens;
  done.status = status;
  w.callbacks.on_done(done);
}

void Scheduler::ReleaseSlots(int n) {
  StdMutexLock lock(&mu_);
  slots_used_ -= n;
}

void Scheduler::MarkDone(RequestId id) {
  StdMutexLock lock(&mu_);
  live_.erase(id);
  cancels_.erase(id);
  ++metrics_.requests_finished;
}

}  // namespace aperture::scheduler
