#include "engine/model/benchmark.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace aperture::engine {
namespace {

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Token ids spread over the vocabulary (the content does not change the cost).
int32_t TokenAt(int i, int vocab) { return 1 + static_cast<int32_t>((i * 7919L) % (vocab - 1)); }

}  // namespace

BenchResult RunBenchmark(Runner& runner, const BenchOptions& o) {
  const LlamaConfig& c = runner.model().config();
  const int reps = std::max(1, o.repetitions);
  BenchResult r;
  using Clock = std::chrono::steady_clock;

  std::vector<int32_t> prompt(o.pp_tokens);
  for (int i = 0; i < o.pp_tokens; ++i) prompt[i] = TokenAt(i, c.vocab_size);
  const int capacity = std::max(o.pp_tokens, o.tg_tokens) + 1;
  std::vector<double> pp, tg, batch;
  // One warm-up pass of each (page faults, pool start-up), then the timed runs.
  for (int rep = 0; rep <= reps; ++rep) {
    Sequence seq(c, capacity);
    const auto t0 = Clock::now();
    if (!runner.Forward({{BatchEntry{&seq, prompt}}}).ok()) return r;
    const auto t1 = Clock::now();
    if (rep > 0) pp.push_back(o.pp_tokens / Seconds(t0, t1));
  }
  for (int rep = 0; rep <= reps; ++rep) {
    Sequence seq(c, capacity);
    Sequence* s = &seq;
    const auto t0 = Clock::now();
    for (int i = 0; i < o.tg_tokens; ++i) {
      const int32_t t = TokenAt(i, c.vocab_size);
      if (!runner.Decode({&s, 1}, {&t, 1}).ok()) return r;
    }
    const auto t1 = Clock::now();
    if (rep > 0) tg.push_back(o.tg_tokens / Seconds(t0, t1));
  }
  if (o.batch_sequences > 0) {
    for (int rep = 0; rep <= reps; ++rep) {
      std::vector<Sequence> seqs;
      seqs.reserve(o.batch_sequences);
      std::vector<Sequence*> ptrs;
      for (int i = 0; i < o.batch_sequences; ++i) {
        seqs.emplace_back(c, capacity);
        ptrs.push_back(&seqs.back());
      }
      std::vector<int32_t> toks(o.batch_sequences);
      const auto t0 = Clock::now();
      for (int i = 0; i < o.tg_tokens; ++i) {
        for (int j = 0; j < o.batch_sequences; ++j) toks[j] = TokenAt(i + 31 * j, c.vocab_size);
        if (!runner.Decode(ptrs, toks).ok()) return r;
      }
      const auto t1 = Clock::now();
      if (rep > 0) batch.push_back(static_cast<double>(o.tg_tokens) * o.batch_sequences / Seconds(t0, t1));
    }
  }
  r.pp_tokens_per_s = Median(pp);
  r.tg_tokens_per_s = Median(tg);
  r.batch_tokens_per_s = Median(batch);
  return r;
}

size_t PeakRssBytes() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<size_t>(u.ru_maxrss) * 1024;
}

}  // namespace aperture::engine
