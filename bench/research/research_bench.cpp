// Research access, in the engine (issue 14), on the generated 110M Llama
// Q8_0 model with 2 threads:
//   - a forward pass of a 128-token prompt with no hooks beside the same
//     pass with one no-op hook (the cost of the site checks: zero cost when
//     no hook is set),
//   - the same pass capturing every blocks.L.hook_resid_post (at most 1.3x).
// Runs alternate between the variants and each figure is the median of the
// repetitions, so a noisy machine shifts them alike.
//
//   research_bench --model PATH [--threads 2] [--reps 15]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/model/hooks.h"
#include "engine/model/llama_model.h"
#include "engine/model/runner.h"
#include "fmt/format.h"

namespace {

using namespace aperture::engine;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Seconds for one prefill of `prompt` into a fresh sequence.
double TimeForward(Runner& runner, const std::vector<int32_t>& prompt, const Hooks* hooks) {
  Sequence seq(runner.model().config(), static_cast<int>(prompt.size()));
  const auto t0 = std::chrono::steady_clock::now();
  const absl::Status s = runner.Forward({{BatchEntry{&seq, prompt}}}, hooks);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!s.ok()) {
    std::fprintf(stderr, "forward failed: %s\n", std::string(s.message()).c_str());
    std::exit(1);
  }
  return secs;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  int threads = 2, reps = 15;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--model" && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(3, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s --model PATH [--threads 2] [--reps 15]\n", argv[0]);
      return 2;
    }
  }
  auto model = LlamaModel::Load(path);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const LlamaConfig& c = (*model)->config();
  Runner runner(**model, {.threads = threads});
  std::vector<int32_t> prompt(128);
  for (int i = 0; i < 128; ++i) prompt[i] = 1 + (i * 7919) % (c.vocab_size - 1);

  Hooks one_noop;
  one_noop.Add(HookPoint::kLnFinalScale, -1, [](const ActivationView&) {});
  // What a capture keeps: every row of every layer's residual, copied out.
  std::vector<float> cache(static_cast<size_t>(c.n_layers) * prompt.size() * c.dim);
  Hooks capture;
  for (int l = 0; l < c.n_layers; ++l) {
    capture.Add(HookPoint::kResidPost, l, [&, l](const ActivationView& v) {
      for (int r = 0; r < v.rows; ++r) {
        std::copy_n(v.row(r), v.cols, &cache[(static_cast<size_t>(l) * prompt.size() + v.position[r]) * c.dim]);
      }
    });
  }

  TimeForward(runner, prompt, nullptr);  // warm-up
  std::vector<double> plain, noop, captured;
  for (int i = 0; i < reps; ++i) {
    plain.push_back(TimeForward(runner, prompt, nullptr));
    noop.push_back(TimeForward(runner, prompt, &one_noop));
    captured.push_back(TimeForward(runner, prompt, &capture));
  }
  const double p = Median(plain), n = Median(noop), k = Median(captured);
  fmt::print("research benchmark: {} ({}), {} threads, medians of {} alternated runs\n", path, (*model)->Describe(),
             threads, reps);
  fmt::print("  forward of 128 tokens, no hooks:                   {:7.1f} ms  ({:6.0f} tokens/s)\n", p * 1e3, 128 / p);
  fmt::print(
      "  same with one no-op hook (every site checked):     {:7.1f} ms  {:.3f}x   reference: 1.00x (zero cost)\n",
      n * 1e3, n / p);
  fmt::print("  capturing every hook_resid_post ({} layers):       {:7.1f} ms  {:.3f}x   reference: at most 1.30x\n",
             c.n_layers, k * 1e3, k / p);
  return 0;
}
