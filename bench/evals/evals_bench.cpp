// evals_bench: multiple-choice evaluation throughput on the generated 110M
// Llama (Q8_0), with shared question prefixes and batching (EvalRunner's
// way) beside scoring each choice from scratch, one choice at a time (the
// naive way: every choice re-reads the whole question). Floor: 3x.
//
//   evals_bench [--models DIR] [--items 1000] [--baseline-items 64] [--threads 2]
//               [--batch-items 16] [--prefill 256] [--rounds 4] [--all-modes]
//
// The 1,000 items are generated (seeded) in the MMLU prompt style: a header
// line, a 30-60 word question, the four options listed A-D, "Answer:"; each
// choice is scored as the continuation " " + option text (2-8 words). The
// from-scratch rows run on the first --baseline-items items only (they take
// about 4x longer per item); items/s is what is compared. The modes take
// turns in --rounds rounds, so changes in the machine's load fall on all of
// them. --all-modes adds from-scratch scoring with batching (what batching
// alone gives). Not a test: it prints measurements.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <random>
#include <string>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/model/test_model.h"
#include "evals/continuation_tokens.h"
#include "evals/eval_runner.h"
#include "evals/progress_bar.h"
#include "fmt/format.h"
#include "scheduler/scheduler.h"

namespace {

using namespace aperture;

constexpr double kFloor = 3.0;

// Words the generated model's vocabulary holds whole (engine/model/test_model.cpp), and some it spells in pieces.
const char* const kWords[] = {
    "the",    "and",    "was",    "she",   "he",     "they",   "to",    "of",     "a",   "in",    "it",   "with",
    "said",   "once",   "upon",   "time",  "there",  "little", "girl",  "boy",    "day", "happy", "big",  "her",
    "his",    "play",   "friend", "saw",   "had",    "very",   "named", "dog",    "cat", "sun",   "tree", "ball",
    "mom",    "wanted", "went",   "so",    "on",     "for",    "but",   "then",   "is",  "you",   "not",  "which",
    "energy", "cell",   "force",  "river", "number", "answer", "value", "system", "law", "state"};

std::string Words(std::mt19937& rng, int n) {
  std::uniform_int_distribution<size_t> pick(0, std::size(kWords) - 1);
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (i > 0) out += ' ';
    out += kWords[pick(rng)];
  }
  return out;
}

evals::Suite MakeSuite(int items) {
  evals::Suite s;
  s.info.name = "bench-mc";
  s.info.domain = "bench";
  s.info.version = "1";
  s.info.kind = evals::SuiteKind::kMultipleChoice;
  s.info.scorer = evals::Scorer::kLogLikelihood;
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> question_words(30, 60), option_words(2, 8), answer(0, 3);
  for (int i = 0; i < items; ++i) {
    evals::McItem item;
    for (int c = 0; c < 4; ++c) item.choices.push_back(Words(rng, option_words(rng)));
    item.question = "The following are multiple choice questions (with answers) about " + Words(rng, 2) + ".\n\n" +
                    Words(rng, question_words(rng)) + "?\n";
    for (int c = 0; c < 4; ++c) item.question += fmt::format("{}. {}\n", static_cast<char>('A' + c), item.choices[c]);
    item.question += "Answer:";
    item.answer = answer(rng);
    s.mc.push_back(std::move(item));
  }
  s.info.items = s.mc.size();
  return s;
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Each choice of each item scored alone, one request at a time.
absl::StatusOr<std::vector<std::vector<double>>> ScoreFromScratch(scheduler::Scheduler& s, const evals::Suite& suite) {
  auto model = s.GetModel("bench");
  if (!model.ok()) return model.status();
  std::vector<std::vector<double>> out;
  for (const evals::McItem& item : suite.mc) {
    const evals::EncodedItem enc = evals::EncodeMultipleChoice(*(*model)->tokenizer, item.question, item.choices);
    std::vector<double> loglik;
    for (const std::vector<int32_t>& cont : enc.continuations) {
      std::promise<absl::StatusOr<scheduler::ScoreResult>> done;
      scheduler::ScoreRequest r;
      r.model = "bench";
      r.context = enc.context;
      r.continuations = {cont};
      r.on_done = [&done](absl::StatusOr<scheduler::ScoreResult> x) { done.set_value(std::move(x)); };
      if (absl::StatusOr<scheduler::RequestId> id = s.SubmitScore(std::move(r)); !id.ok()) return id.status();
      absl::StatusOr<scheduler::ScoreResult> result = done.get_future().get();
      if (!result.ok()) return result.status();
      loglik.push_back(result->continuations[0].logprob);
    }
    out.push_back(std::move(loglik));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/aperture-bench-models";
  int items = 1000, baseline_items = 64, threads = 2, batch_items = 16, prefill = 256, rounds = 4;
  bool all_modes = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--models")
      dir = next();
    else if (a == "--items")
      items = std::atoi(next());
    else if (a == "--baseline-items")
      baseline_items = std::atoi(next());
    else if (a == "--threads")
      threads = std::atoi(next());
    else if (a == "--batch-items")
      batch_items = std::atoi(next());
    else if (a == "--prefill")
      prefill = std::atoi(next());
    else if (a == "--rounds")
      rounds = std::atoi(next());
    else if (a == "--all-modes")
      all_modes = true;
    else {
      std::fprintf(stderr,
                   "usage: %s [--models DIR] [--items N] [--baseline-items N] [--threads N] [--batch-items N] "
                   "[--prefill N] [--rounds N] [--all-modes]\n",
                   argv[0]);
      return 2;
    }
  }
  items = std::max(1, items);
  rounds = std::clamp(rounds, 1, items);
  baseline_items = std::clamp(baseline_items, rounds, items);

  std::filesystem::create_directories(dir);
  const std::string path = dir + "/llama110m-q8_0.gguf";
  if (!std::filesystem::exists(path)) {
    std::printf("generating %s ...\n", path.c_str());
    std::fflush(stdout);
    engine::TestModelSpec spec{.layers = 12,
                               .dim = 768,
                               .heads = 12,
                               .kv_heads = 12,
                               .ffn = 2048,
                               .vocab = 32000,
                               .type = engine::GgmlType::kQ8_0,
                               .seed = 1};
    if (absl::Status st = engine::WriteTestModel(spec, path); !st.ok()) {
      std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
      return 1;
    }
  }

  scheduler::Scheduler s({.threads = threads,
                          .max_active = 4 * batch_items,
                          .max_waiting = 4 * batch_items,
                          .prefill_tokens_per_step = prefill});
  if (absl::Status st = s.RegisterModel("bench", path); !st.ok()) {
    std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
    return 1;
  }
  auto model = s.GetModel("bench");
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const evals::Suite suite = MakeSuite(items);
  size_t context_tokens = 0, continuation_tokens = 0;
  const auto tokenize_start = std::chrono::steady_clock::now();
  for (const evals::McItem& item : suite.mc) {
    const evals::EncodedItem enc = evals::EncodeMultipleChoice(*(*model)->tokenizer, item.question, item.choices);
    context_tokens += enc.context.size();
    for (const auto& c : enc.continuations) continuation_tokens += c.size();
  }
  const double tokenize_s = Seconds(tokenize_start);
  std::printf(
      "evals benchmark: generated 110M Llama (Q8_0), %d threads; %d four-choice items, on average %.0f context "
      "tokens and %.1f tokens per choice\n",
      threads, items, static_cast<double>(context_tokens) / items,
      static_cast<double>(continuation_tokens) / items / 4);
  std::printf("tokenizing every item took %.2f s; scheduler: max_active %d, prefill_tokens_per_step %d\n\n", tokenize_s,
              4 * batch_items, prefill);
  std::fflush(stdout);

  // Rounds alternate the modes, so a change in the machine's load (other
  // work on the same cores) falls on every mode alike.
  struct Mode {
    const char* name;
    int items = 0;
    double seconds = 0, engine_seconds = 0;
    uint64_t tokens = 0;
  };
  Mode shared_mode{"shared prefixes + batching (EvalRunner)"};
  Mode batched_mode{"each choice from scratch, batched"};
  Mode alone_mode{"each choice from scratch, one at a time (base)"};
  auto measure = [&](Mode& m, int n, const std::function<absl::Status()>& fn) -> absl::Status {
    const scheduler::SchedulerMetrics before = s.metrics();
    const auto start = std::chrono::steady_clock::now();
    absl::Status st = fn();
    m.seconds += Seconds(start);
    const scheduler::SchedulerMetrics after = s.metrics();
    m.engine_seconds += after.engine_seconds - before.engine_seconds;
    m.tokens += after.prompt_tokens_processed - before.prompt_tokens_processed;
    m.items += n;
    return st;
  };
  std::vector<evals::ItemResult> shared_items;
  std::vector<std::vector<double>> batched_loglik, alone_loglik;
  evals::EvalRunner runner(s, {.batch_items = batch_items, .share_prefix = true});
  evals::EvalRunner scratch_runner(s, {.batch_items = batch_items, .share_prefix = false});
  evals::ProgressBar bar(stderr);
  size_t shared_done = 0;
  for (int r = 0; r < rounds; ++r) {
    // Shared: items [r * items / rounds, (r + 1) * items / rounds).
    const int begin = r * items / rounds, end = (r + 1) * items / rounds;
    std::vector<evals::ItemResult> done;  // run only this round's items: the others count as done
    for (int i = 0; i < items; ++i) {
      if (i >= begin && i < end) continue;
      evals::ItemResult placeholder;
      placeholder.index = i;
      placeholder.loglik.assign(4, 0.0);
      done.push_back(std::move(placeholder));
    }
    absl::Status st = measure(shared_mode, end - begin, [&]() -> absl::Status {
      absl::StatusOr<evals::RunResult> result =
          runner.Run("bench", suite, std::move(done), nullptr, [&](const evals::Progress& p) {
            evals::Progress q = p;
            q.done = shared_done + (p.done - (items - (end - begin)));
            bar.Update(q);
          });
      if (!result.ok()) return result.status();
      for (const evals::ItemResult& item : result->items) {
        if (item.index >= begin && item.index < end) shared_items.push_back(item);
      }
      return absl::OkStatus();
    });
    shared_done += end - begin;
    // From scratch: items [r * baseline / rounds, (r + 1) * baseline / rounds).
    const int b_begin = r * baseline_items / rounds, b_end = (r + 1) * baseline_items / rounds;
    evals::Suite subset = suite;
    subset.mc.assign(suite.mc.begin() + b_begin, suite.mc.begin() + b_end);
    subset.info.items = subset.mc.size();
    if (st.ok() && all_modes) {
      st = measure(batched_mode, b_end - b_begin, [&]() -> absl::Status {
        absl::StatusOr<evals::RunResult> result = scratch_runner.Run("bench", subset, {}, nullptr, nullptr);
        if (!result.ok()) return result.status();
        for (const evals::ItemResult& item : result->items) batched_loglik.push_back(item.loglik);
        return absl::OkStatus();
      });
    }
    if (st.ok()) {
      st = measure(alone_mode, b_end - b_begin, [&]() -> absl::Status {
        absl::StatusOr<std::vector<std::vector<double>>> result = ScoreFromScratch(s, subset);
        if (!result.ok()) return result.status();
        alone_loglik.insert(alone_loglik.end(), result->begin(), result->end());
        return absl::OkStatus();
      });
    }
    if (!st.ok()) {
      bar.Finish();
      std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
      return 1;
    }
  }
  bar.Finish();
  std::sort(shared_items.begin(), shared_items.end(),
            [](const evals::ItemResult& a, const evals::ItemResult& b) { return a.index < b.index; });

  bool identical = true;
  for (int i = 0; i < baseline_items; ++i) {
    identical =
        identical && shared_items[i].loglik == alone_loglik[i] && (!all_modes || batched_loglik[i] == alone_loglik[i]);
  }
  std::printf("%-48s %6s %8s %8s %9s %9s\n", "mode", "items", "seconds", "items/s", "tokens/s", "engine%");
  auto row = [](const Mode& m) {
    std::printf("%-48s %6d %8.1f %8.2f %9.0f %8.0f%%\n", m.name, m.items, m.seconds, m.items / m.seconds,
                m.tokens / m.seconds, 100 * m.engine_seconds / m.seconds);
  };
  row(shared_mode);
  if (all_modes) row(batched_mode);
  row(alone_mode);
  const double speedup = (shared_mode.items / shared_mode.seconds) / (alone_mode.items / alone_mode.seconds);
  std::printf("\nspeedup over the baseline: %.2fx (floor %.1fx) %s\n", speedup, kFloor,
              speedup >= kFloor ? "ok" : "BELOW FLOOR");
  std::printf("scores of the %d baseline items identical in every mode: %s\n", baseline_items,
              identical ? "yes" : "NO");
  size_t correct = 0;
  for (const evals::ItemResult& item : shared_items) correct += item.correct;
  std::printf(
      "acc %.3f (random weights: chance is 0.25). tokens/s counts tokens run through the model; engine%% is "
      "the time inside Runner::Forward. %d rounds alternate the modes.\n",
      static_cast<double>(correct) / items, rounds);
  // Below the floor is reported, not failed: on a shared machine it can be noise. Different scores are a bug.
  return identical ? 0 : 1;
}
