// scheduler_bench: aggregate generation throughput of the scheduler with 1,
// 4, 16 ... concurrent requests on one model, and the scheduler's own cost
// per token (step time outside Runner::Forward).
//
//   scheduler_bench MODEL.gguf [TOKENS_PER_REQUEST=64] [CONCURRENCY=1,4,16] [THREADS=0]
//   scheduler_bench make OUT.gguf [TYPE=q8_0] [LAYERS=12 DIM=768 HEADS=12 FFN=2048 VOCAB=32000]
//     writes a generated model (random weights) of that shape first (default: the 110M shape)
//
// Every request generates exactly TOKENS_PER_REQUEST tokens (greedy,
// ignore_eos) from a short prompt; all requests of a round are submitted
// together. Not a test: it prints measurements.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/model/test_model.h"
#include "scheduler/scheduler.h"

namespace {

using aperture::scheduler::GenerateDone;
using aperture::scheduler::GenerateRequest;
using aperture::scheduler::Scheduler;
using aperture::scheduler::SchedulerMetrics;

struct Round {
  std::mutex mu;
  std::condition_variable cv;
  int remaining = 0;
  std::vector<double> first_token_s;
  std::chrono::steady_clock::time_point start;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "make") {
    aperture::engine::TestModelSpec spec{
        .layers = 12, .dim = 768, .heads = 12, .kv_heads = 12, .ffn = 2048, .vocab = 32000};
    auto type = aperture::engine::GgmlTypeFromName(argc > 3 ? argv[3] : "q8_0");
    if (!type) {
      std::fprintf(stderr, "unknown type\n");
      return 2;
    }
    spec.type = *type;
    if (argc > 8) {
      spec.layers = std::atoi(argv[4]);
      spec.dim = std::atoi(argv[5]);
      spec.heads = spec.kv_heads = std::atoi(argv[6]);
      spec.ffn = std::atoi(argv[7]);
      spec.vocab = std::atoi(argv[8]);
    }
    if (absl::Status st = aperture::engine::WriteTestModel(spec, argv[2]); !st.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
      return 1;
    }
    std::printf("wrote %s (random weights)\n", argv[2]);
    return 0;
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.gguf [TOKENS=64] [CONCURRENCY=1,4,16] [THREADS=0]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const int tokens = argc > 2 ? std::atoi(argv[2]) : 64;
  std::vector<int> levels;
  {
    std::stringstream ss(argc > 3 ? argv[3] : "1,4,16");
    std::string item;
    while (std::getline(ss, item, ',')) levels.push_back(std::atoi(item.c_str()));
  }
  const int threads = argc > 4 ? std::atoi(argv[4]) : 0;
  int max_level = 1;
  for (int l : levels) max_level = std::max(max_level, l);

  aperture::scheduler::SchedulerOptions options;
  options.threads = threads;
  options.max_active = max_level;
  options.max_waiting = max_level;
  Scheduler s(options);
  if (absl::Status st = s.RegisterModel("bench", path); !st.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  auto model = s.GetModel("bench");
  if (!model.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  std::printf("model %s\n", (*model)->model->Describe().c_str());

  auto run_round = [&](int n) {
    Round round;
    round.remaining = n;
    round.first_token_s.assign(n, 0);
    round.start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      GenerateRequest r;
      r.model = "bench";
      r.prompt_tokens = {1, 300 + i % 50, 301, 302, 303, 304, 305, 306};
      r.max_tokens = tokens;
      r.sampling.temperature = 0;
      r.ignore_eos = true;
      r.callbacks.on_token = [&round, i](const aperture::scheduler::TokenEvent&) {
        if (round.first_token_s[i] == 0) {
          round.first_token_s[i] =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - round.start).count();
        }
      };
      r.callbacks.on_done = [&round](const GenerateDone&) {
        std::lock_guard<std::mutex> lock(round.mu);
        if (--round.remaining == 0) round.cv.notify_all();
      };
      if (auto id = s.Submit(std::move(r)); !id.ok()) {
        std::fprintf(stderr, "submit: %s\n", std::string(id.status().message()).c_str());
        std::exit(1);
      }
    }
    std::unique_lock<std::mutex> lock(round.mu);
    round.cv.wait(lock, [&] { return round.remaining == 0; });
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - round.start).count();
    double ttft = 0;
    for (double t : round.first_token_s) ttft = std::max(ttft, t);
    return std::make_pair(wall, ttft);
  };

  run_round(1);  // warm-up: pages, pools
  double base = 0;
  for (int n : levels) {
    const SchedulerMetrics before = s.metrics();
    const auto [wall, ttft] = run_round(n);
    // on_done runs inside the last step; its counters are published when the step ends.
    SchedulerMetrics after = s.metrics();
    while (after.active_requests != 0 || after.tokens_generated - before.tokens_generated <
                                             static_cast<uint64_t>(n) * static_cast<uint64_t>(tokens)) {
      std::this_thread::yield();
      after = s.metrics();
    }
    const double generated = static_cast<double>(after.tokens_generated - before.tokens_generated);
    const double engine = after.engine_seconds - before.engine_seconds;
    const double step = after.step_seconds - before.step_seconds;
    const double tps = generated / wall;
    if (base == 0) base = tps;
    std::printf(
        "concurrency %2d: %6.0f tokens in %.3f s = %8.1f tokens/s (x%.2f of the first), steps %llu, "
        "max time to first token %.1f ms, engine %.1f%% of wall, scheduler overhead %.1f us/token (%.2f%% of "
        "engine time)\n",
        n, generated, wall, tps, tps / base, static_cast<unsigned long long>(after.steps - before.steps), ttft * 1e3,
        100 * engine / wall, 1e6 * (step - engine) / generated, 100 * (step - engine) / engine);
  }
  return 0;
}
