#include "evals/eval_runner.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "core/hash.h"
#include "core/status_macros.h"
#include "core/std_mutex.h"
#include "evals/continuation_tokens.h"
#include "evals/scoring.h"
#include "fmt/format.h"

namespace aperture::evals {
namespace {

using scheduler::GenerateRequest;
using scheduler::RequestId;
using scheduler::ScoreRequest;
using scheduler::ScoreResult;

// One finished scheduler request, posted from the scheduler thread.
struct Completion {
  int item = 0;
  int part = 0;
  absl::Status status;
  ScoreResult score;  // scoring requests
  std::string text;   // generation requests
};

// Where the scheduler's callbacks post. Shared with them, so a late callback never touches a finished Run.
struct Inbox {
  StdMutex mu;
  std::condition_variable cv;
  std::deque<Completion> completions ABSL_GUARDED_BY(mu);

  void Post(Completion c) {
    StdMutexLock lock(&mu);
    completions.push_back(std::move(c));
    cv.notify_all();
  }
};

// An item whose requests are queued or running.
struct InFlight {
  struct Part {
    std::variant<ScoreRequest, GenerateRequest> request;
    std::vector<int> choices;  // scoring: the item's choices this request scores, in order
    bool submitted = false;
    bool finished = false;
    RequestId id = 0;
  };
  std::vector<Part> parts;
  std::vector<double> loglik;
  std::string output;
};

}  // namespace

EvalRunner::EvalRunner(scheduler::Scheduler& scheduler, RunOptions options)
    : scheduler_(scheduler), options_([&] {
        options.batch_items = std::max(1, options.batch_items);
        options.max_tokens = std::max(1, options.max_tokens);
        return options;
      }()) {}

absl::StatusOr<RunResult> EvalRunner::Run(const std::string& model, const Suite& suite, std::vector<ItemResult> done,
                                          std::function<absl::Status(std::span<const ItemResult>)> on_batch,
                                          std::function<void(const Progress&)> on_progress,
                                          const std::atomic<bool>* cancel) {
  const bool mc = suite.info.kind == SuiteKind::kMultipleChoice;
  const size_t total = suite.size();
  // The resumed items must be items of this suite, each once.
  std::set<int> done_indices;
  for (const ItemResult& r : done) {
    if (r.index < 0 || static_cast<size_t>(r.index) >= total) {
      return absl::InvalidArgumentError(
          fmt::format("a finished result has index {}, but the suite has items 0 to {}", r.index, total - 1));
    }
    if (!done_indices.insert(r.index).second) {
      return absl::InvalidArgumentError(fmt::format("item {} is given as finished twice", r.index));
    }
    if (mc && r.loglik.size() != suite.mc[r.index].choices.size()) {
      return absl::InvalidArgumentError(
          fmt::format("the finished result of item {} has {} log-likelihoods for {} choices", r.index, r.loglik.size(),
                      suite.mc[r.index].choices.size()));
    }
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const scheduler::LoadedModel> loaded, scheduler_.GetModel(model));
  std::vector<int> pending;
  for (size_t i = 0; i < total; ++i) {
    if (!done_indices.contains(static_cast<int>(i))) pending.push_back(static_cast<int>(i));
  }

  RunResult result;
  result.suite = suite.info;
  result.model = model;
  result.items = std::move(done);
  const size_t resumed = result.items.size();

  auto inbox = std::make_shared<Inbox>();

  // The requests of item `index` (not submitted yet).
  auto prepare = [&](int index) {
    InFlight f;
    if (mc) {
      const McItem& item = suite.mc[index];
      EncodedItem enc = EncodeMultipleChoice(*loaded->tokenizer, item.question, item.choices);
      f.loglik.assign(item.choices.size(), 0.0);
      const int k = static_cast<int>(item.choices.size());
      // Shared prefix: one request for all choices; otherwise one per choice.
      const int per_request = options_.share_prefix ? k : 1;
      for (int first = 0; first < k; first += per_request) {
        InFlight::Part part;
        ScoreRequest r;
        r.model = model;
        r.context = enc.context;
        for (int c = first; c < std::min(k, first + per_request); ++c) {
          r.continuations.push_back(std::move(enc.continuations[c]));
          part.choices.push_back(c);
        }
        const int part_index = static_cast<int>(f.parts.size());
        r.on_done = [inbox, index, part_index](absl::StatusOr<ScoreResult> s) {
          Completion c;
          c.item = index;
          c.part = part_index;
          if (s.ok())
            c.score = std::move(*s);
          else
            c.status = s.status();
          inbox->Post(std::move(c));
        };
        part.request = std::move(r);
        f.parts.push_back(std::move(part));
      }
    } else {
      GenerateRequest r;
      r.model = model;
      r.prompt = suite.gen[index].input;
      r.max_tokens = options_.max_tokens;
      r.sampling.temperature = 0;
      r.stop = options_.stop;
      auto text = std::make_shared<std::string>();  // scheduler thread only
      r.callbacks.on_token = [text](const scheduler::TokenEvent& e) { *text += e.text; };
      r.callbacks.on_choice_end = [text](const scheduler::ChoiceEnd& e) { *text += e.text; };
      r.callbacks.on_done = [inbox, index, text](const scheduler::GenerateDone& d) {
        Completion c;
        c.item = index;
        c.status = d.status;
        c.text = *text;
        inbox->Post(std::move(c));
      };
      InFlight::Part part;
      part.request = std::move(r);
      f.parts.push_back(std::move(part));
    }
    return f;
  };

  std::map<int, InFlight> in_flight;
  size_t next = 0;
  int outstanding = 0;  // submitted requests not yet called back
  absl::Status failure;
  bool stopping = false;  // cancelling what is in flight, after a cancel or a failure
  bool cancelled = false;
  std::vector<ItemResult> unreported;
  size_t finished_here = 0;
  const auto start = std::chrono::steady_clock::now();

  auto progress = [&] {
    if (!on_progress) return;
    Progress p;
    p.total = total;
    p.done = resumed + finished_here;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    p.items_per_second = seconds > 0 ? static_cast<double>(finished_here) / seconds : 0;
    p.eta_seconds =
        p.items_per_second > 0 ? static_cast<double>(total - p.done) / p.items_per_second : (p.done == total ? 0 : -1);
    on_progress(p);
  };
  auto report = [&] {
    if (unreported.empty()) return;
    if (on_batch && failure.ok()) {
      absl::Status s = on_batch(std::span<const ItemResult>(unreported));
      if (!s.ok()) {
        failure = s;
        return;
      }
    }
    unreported.clear();
    progress();
  };
  // Submits the parts of `f` not yet submitted; false when the scheduler is full (try again later).
  auto submit = [&](int index, InFlight& f) {
    for (InFlight::Part& part : f.parts) {
      if (part.submitted) continue;
      absl::StatusOr<RequestId> id = std::holds_alternative<ScoreRequest>(part.request)
                                         ? scheduler_.SubmitScore(std::get<ScoreRequest>(part.request))
                                         : scheduler_.Submit(std::get<GenerateRequest>(part.request));
      if (absl::IsUnavailable(id.status())) return false;
      if (!id.ok()) {
        failure =
            absl::Status(id.status().code(), fmt::format("item {}: {}", index, std::string(id.status().message())));
        return false;
      }
      part.submitted = true;
      part.id = *id;
      ++outstanding;
    }
    return true;
  };
  auto finish_item = [&](int index, InFlight& f) -> absl::Status {
    ItemResult r;
    r.index = index;
    if (mc) {
      const McItem& item = suite.mc[index];
      r.loglik = std::move(f.loglik);
      const McPrediction p = PredictMultipleChoice(item, r.loglik);
      r.predicted = p.predicted;
      r.predicted_norm = p.predicted_norm;
      r.correct = p.predicted == item.answer;
      r.correct_norm = p.predicted_norm == item.answer;
    } else {
      r.output = std::move(f.output);
      ASSIGN_OR_RETURN(r.correct, ScoreGeneration(suite.info.scorer, suite.gen[index].target, r.output));
    }
    result.items.push_back(r);
    unreported.push_back(std::move(r));
    ++finished_here;
    return absl::OkStatus();
  };

  progress();
  for (;;) {
    if (!stopping && cancel != nullptr && cancel->load()) cancelled = true;
    if (!stopping && (cancelled || !failure.ok())) {
      stopping = true;
      for (auto& [index, f] : in_flight) {
        for (const InFlight::Part& part : f.parts) {
          if (part.submitted && !part.finished) scheduler_.Cancel(part.id);
        }
      }
    }
    bool blocked = false;
    if (!stopping) {
      for (auto& [index, f] : in_flight) {
        if (!submit(index, f)) {
          blocked = true;
          break;
        }
      }
      while (!blocked && failure.ok() && next < pending.size() &&
             in_flight.size() < static_cast<size_t>(options_.batch_items)) {
        const int index = pending[next++];
        InFlight& f = in_flight.emplace(index, prepare(index)).first->second;
        if (!submit(index, f)) blocked = true;
      }
      if (!failure.ok()) continue;  // stop: cancel what is in flight
    }
    if (outstanding == 0 && (stopping || (in_flight.empty() && next == pending.size()))) break;

    std::deque<Completion> completions;
    {
      StdMutexLock lock(&inbox->mu);
      // Poll while a cancel flag may change or the scheduler is full.
      if (cancel != nullptr || blocked) {
        if (inbox->completions.empty()) lock.WaitFor(inbox->cv, std::chrono::milliseconds(20));
      } else {
        while (inbox->completions.empty()) lock.Wait(inbox->cv);
      }
      completions.swap(inbox->completions);
    }
    for (Completion& c : completions) {
      --outstanding;
      auto it = in_flight.find(c.item);
      if (it == in_flight.end()) continue;
      InFlight& f = it->second;
      InFlight::Part& part = f.parts[c.part];
      part.finished = true;
      if (stopping) continue;
      if (!c.status.ok()) {
        failure = absl::Status(c.status.code(), fmt::format("item {}: {}", c.item, std::string(c.status.message())));
        continue;
      }
      if (mc) {
        for (size_t j = 0; j < part.choices.size() && j < c.score.continuations.size(); ++j) {
          f.loglik[part.choices[j]] = c.score.continuations[j].logprob;
        }
      } else {
        f.output = std::move(c.text);
      }
      if (std::all_of(f.parts.begin(), f.parts.end(), [](const InFlight::Part& p) { return p.finished; })) {
        absl::Status s = finish_item(c.item, f);
        in_flight.erase(it);
        if (!s.ok()) failure = s;
      }
    }
    if (unreported.size() >= static_cast<size_t>(options_.batch_items) ||
        (!unreported.empty() && in_flight.empty() && next == pending.size())) {
      report();
    }
  }
  // What finished before a cancel is still handed over, so a resumed run need not redo it.
  report();
  if (!failure.ok()) return failure;
  if (cancelled) {
    return absl::CancelledError(
        fmt::format("the evaluation was cancelled after {} of {} items", resumed + finished_here, total));
  }

  std::sort(result.items.begin(), result.items.end(),
            [](const ItemResult& a, const ItemResult& b) { return a.index < b.index; });
  result.metrics = ComputeMetrics(suite, result.items);
  result.results_sha256 = Sha256Hex(ResultsJson(result));
  return result;
}

}  // namespace aperture::evals
