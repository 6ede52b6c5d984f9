// Research access (issue 14) on the generated 110M Llama Q8_0 model with 2
// threads, each figure beside its reference:
//   1. a forward pass of a 128-token prompt with no hooks beside the same
//      pass with one no-op hook (the cost of the site checks: zero cost when
//      no hook is set) and capturing every blocks.L.hook_resid_post, in the
//      engine;
//   2. the same capture as a research request (parse, plan, scheduler job,
//      TransformerLens-shaped tensors) beside the same request capturing
//      nothing, and beside the engine's plain pass (at most 1.3x);
//   3. a patching sweep over hook_resid_pre at every layer and position of a
//      32-token prompt (research/patch_job.h) beside the naive way, one full
//      forward pass per patched layer and position (at least 3x faster),
//      with the largest difference between their metrics.
// Runs alternate between the variants; each figure is the median of the
// repetitions, so a noisy machine shifts them alike.
//
//   research_bench --model PATH [--threads 2] [--reps 15] [--sweep-reps 3]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <vector>

#include "core/json.h"
#include "engine/model/hooks.h"
#include "engine/model/llama_model.h"
#include "engine/model/runner.h"
#include "fmt/format.h"
#include "research/patch_job.h"
#include "research/plan.h"
#include "research/result.h"
#include "research/run_job.h"
#include "research/spec_json.h"
#include "scheduler/scheduler.h"

namespace {

using namespace aperture;
using namespace aperture::engine;
using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void Check(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s: %s\n", what, std::string(s.message()).c_str());
  std::exit(1);
}

// Seconds for one prefill of `prompt` into a fresh sequence.
double TimeForward(Runner& runner, const std::vector<int32_t>& prompt, const Hooks* hooks) {
  Sequence seq(runner.model().config(), static_cast<int>(prompt.size()));
  const auto t0 = Clock::now();
  Check(runner.Forward({{BatchEntry{&seq, prompt}}}, hooks), "forward");
  return Since(t0);
}

std::string Ids(const std::vector<int32_t>& t) { return Json(t).dump(); }

// A /v1/research/run body through parse, plan and the scheduler; seconds.
double TimeRun(scheduler::Scheduler& s, const std::string& body) {
  const auto t0 = Clock::now();
  absl::StatusOr<Json> json = ParseJson(body);
  Check(json.status(), "json");
  absl::StatusOr<research::RunSpec> spec = research::ParseRunSpec(*json);
  Check(spec.status(), "spec");
  absl::StatusOr<research::RunPlan> plan = research::PlanRun(*spec, *s.GetModel("m"));
  Check(plan.status(), "plan");
  std::promise<absl::StatusOr<research::RunResult>> done;
  auto job = std::make_shared<research::RunJob>(
      *std::move(plan), [&](absl::StatusOr<research::RunResult> r) { done.set_value(std::move(r)); });
  Check(s.SubmitJob({.model = "m", .job = job}).status(), "submit");
  Check(done.get_future().get().status(), "run");
  return Since(t0);
}

struct Sweep {
  double seconds = 0;
  std::vector<std::vector<double>> metric;  // [layer][position]
};

Sweep PatchSweep(scheduler::Scheduler& s, const std::vector<int32_t>& clean, const std::vector<int32_t>& corrupted,
                 int target) {
  const auto t0 = Clock::now();
  absl::StatusOr<Json> json = ParseJson(fmt::format(
      R"({{"model":"m","clean":{},"corrupted":{},"sites":"blocks.*.hook_resid_pre","metric":{{"logprob":{}}}}})",
      Ids(clean), Ids(corrupted), target));
  absl::StatusOr<research::PatchSpec> spec = research::ParsePatchSpec(*json);
  Check(spec.status(), "patch spec");
  absl::StatusOr<research::PatchPlan> plan = research::PlanPatch(*spec, *s.GetModel("m"));
  Check(plan.status(), "patch plan");
  std::promise<absl::StatusOr<research::PatchResult>> done;
  auto job = std::make_shared<research::PatchJob>(
      *std::move(plan), [&](absl::StatusOr<research::PatchResult> r) { done.set_value(std::move(r)); });
  Check(s.SubmitJob({.model = "m", .job = job}).status(), "submit");
  absl::StatusOr<research::PatchResult> r = done.get_future().get();
  Check(r.status(), "patch");
  return {Since(t0), r->matrices[0].raw};
}

// The naive sweep: the clean residuals once, then one full forward pass of
// the corrupted prompt per (layer, position) with that one row replaced.
Sweep NaiveSweep(Runner& runner, const std::vector<int32_t>& clean, const std::vector<int32_t>& corrupted, int target) {
  const LlamaConfig& c = runner.model().config();
  const int n = static_cast<int>(clean.size());
  const auto t0 = Clock::now();
  std::vector<float> resid(static_cast<size_t>(c.n_layers) * n * c.dim);
  Hooks keep;
  for (int l = 0; l < c.n_layers; ++l) {
    keep.Add(HookPoint::kResidPre, l, [&, l](const ActivationView& v) {
      for (int r = 0; r < v.rows; ++r) {
        std::copy_n(v.row(r), v.cols, &resid[(static_cast<size_t>(l) * n + v.position[r]) * c.dim]);
      }
    });
  }
  {
    Sequence seq(c, n);
    Check(runner.Forward({{BatchEntry{&seq, clean}}}, &keep), "clean");
  }
  Sweep out;
  out.metric.assign(c.n_layers, std::vector<double>(n));
  for (int l = 0; l < c.n_layers; ++l) {
    for (int p = 0; p < n; ++p) {
      Hooks patch;
      patch.Add(HookPoint::kResidPre, l, [&, l, p](const ActivationView& v) {
        for (int r = 0; r < v.rows; ++r) {
          if (v.position[r] == p) std::copy_n(&resid[(static_cast<size_t>(l) * n + p) * c.dim], v.cols, v.row(r));
        }
      });
      Sequence seq(c, n);
      Check(runner.Forward({{BatchEntry{&seq, corrupted}}}, &patch), "patched");
      out.metric[l][p] = research::LogSoftmaxAt(runner.Logits(0).data(), c.vocab_size, target);
    }
  }
  out.seconds = Since(t0);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  int threads = 2, reps = 15, sweep_reps = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--model" && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(3, std::atoi(argv[++i]));
    } else if (a == "--sweep-reps" && i + 1 < argc) {
      sweep_reps = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s --model PATH [--threads 2] [--reps 15] [--sweep-reps 3]\n", argv[0]);
      return 2;
    }
  }
  auto model = LlamaModel::Load(path);
  Check(model.status(), "load");
  const LlamaConfig& c = (*model)->config();
  Runner runner(**model, {.threads = threads});
  scheduler::Scheduler sched({.threads = threads});
  Check(sched.RegisterModel("m", path), "register");
  Check(sched.GetModel("m").status(), "load in the scheduler");
  std::vector<int32_t> prompt(128);
  for (int i = 0; i < 128; ++i) prompt[i] = 1 + (i * 7919) % (c.vocab_size - 1);

  // 1 and 2: hooks and captures.
  Hooks one_noop;
  one_noop.Add(HookPoint::kLnFinalScale, -1, [](const ActivationView&) {});
  std::vector<float> cache(static_cast<size_t>(c.n_layers) * prompt.size() * c.dim);
  Hooks capture;
  for (int l = 0; l < c.n_layers; ++l) {
    capture.Add(HookPoint::kResidPost, l, [&, l](const ActivationView& v) {
      for (int r = 0; r < v.rows; ++r) {
        std::copy_n(v.row(r), v.cols, &cache[(static_cast<size_t>(l) * prompt.size() + v.position[r]) * c.dim]);
      }
    });
  }
  const std::string plain_run = fmt::format(R"({{"model":"m","input":{}}})", Ids(prompt));
  const std::string capture_run =
      fmt::format(R"({{"model":"m","input":{},"capture":["blocks.*.hook_resid_post"]}})", Ids(prompt));
  TimeForward(runner, prompt, nullptr);  // warm-up
  TimeRun(sched, capture_run);
  std::vector<double> plain, noop, captured, run_plain, run_capture;
  for (int i = 0; i < reps; ++i) {
    plain.push_back(TimeForward(runner, prompt, nullptr));
    noop.push_back(TimeForward(runner, prompt, &one_noop));
    captured.push_back(TimeForward(runner, prompt, &capture));
    run_plain.push_back(TimeRun(sched, plain_run));
    run_capture.push_back(TimeRun(sched, capture_run));
  }
  const double p = Median(plain), n = Median(noop), k = Median(captured);
  const double rp = Median(run_plain), rc = Median(run_capture);
  fmt::print("research benchmark: {} ({}), {} threads, medians of {} alternated runs\n", path, (*model)->Describe(),
             threads, reps);
  fmt::print("engine, forward of 128 tokens:\n");
  fmt::print("  no hooks                                       {:7.1f} ms ({:5.0f} tokens/s)\n", p * 1e3, 128 / p);
  fmt::print("  one no-op hook (every site checked)            {:7.1f} ms  {:.3f}x   reference: 1.00x (zero cost)\n",
             n * 1e3, n / p);
  fmt::print("  capturing every hook_resid_post                {:7.1f} ms  {:.3f}x   reference: at most 1.30x\n",
             k * 1e3, k / p);
  fmt::print("research request (parse, plan, scheduler job, tensors), 128 tokens:\n");
  fmt::print("  capturing nothing                              {:7.1f} ms  {:.3f}x of the engine's plain pass\n",
             rp * 1e3, rp / p);
  fmt::print(
      "  capturing every hook_resid_post ({} layers)    {:7.1f} ms  {:.3f}x of the engine's plain pass   "
      "reference: at most 1.30x   {}\n",
      c.n_layers, rc * 1e3, rc / p, rc / p <= 1.3 ? "met" : "NOT MET");

  // 3: the patching sweep.
  std::vector<int32_t> clean(32), corrupted(32);
  for (int i = 0; i < 32; ++i) clean[i] = corrupted[i] = 1 + (i * 104729) % (c.vocab_size - 1);
  corrupted[12] = 1 + (clean[12] + 4999) % (c.vocab_size - 1);
  const int target = clean[31] % c.vocab_size;
  std::vector<double> ours, naive;
  double worst = 0;
  for (int i = 0; i < sweep_reps; ++i) {
    const Sweep a = PatchSweep(sched, clean, corrupted, target);
    const Sweep b = NaiveSweep(runner, clean, corrupted, target);
    ours.push_back(a.seconds);
    naive.push_back(b.seconds);
    for (int l = 0; l < c.n_layers; ++l)
      for (int q = 0; q < 32; ++q) worst = std::max(worst, std::fabs(a.metric[l][q] - b.metric[l][q]));
  }
  const double so = Median(ours), sn = Median(naive);
  fmt::print("patching sweep, hook_resid_pre at {} layers x 32 positions ({} patched runs), medians of {}:\n",
             c.n_layers, c.n_layers * 32, sweep_reps);
  fmt::print("  naive (one full forward pass per run)          {:7.0f} ms\n", sn * 1e3);
  fmt::print(
      "  /v1/research/patch (resumed at the layer, from the position)  {:7.0f} ms   {:.2f}x faster   "
      "reference: at least 3x   {}\n",
      so * 1e3, sn / so, sn / so >= 3 ? "met" : "NOT MET");
  fmt::print("  largest difference between the two sweeps' logprobs: {:.2e}\n", worst);
  return 0;
}
