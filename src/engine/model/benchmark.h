// llama-bench style throughput measurements of a loaded model: pp<N>
// (prompt processing of N tokens in one batch) and tg<N> (generating N
// tokens one at a time), plus batched decoding of several sequences
// together. Used by `aperture bench` and bench/engine. Not thread-safe (it
// drives the given Runner).
#pragma once

#include <cstddef>

#include "engine/model/runner.h"

namespace aperture::engine {

struct BenchOptions {
  int pp_tokens = 128;
  int tg_tokens = 64;
  int batch_sequences = 4;  // for the batched-decode figure (0: skip)
  int repetitions = 3;      // the median is reported
};

struct BenchResult {
  double pp_tokens_per_s = 0;     // prompt processing
  double tg_tokens_per_s = 0;     // one sequence, one token per step
  double batch_tokens_per_s = 0;  // batch_sequences sequences per step, all tokens counted
};

BenchResult RunBenchmark(Runner& runner, const BenchOptions& options = {});

// Peak resident set size of this process so far, in bytes.
size_t PeakRssBytes();

}  // namespace aperture::engine
