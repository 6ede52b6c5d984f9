#!/usr/bin/env bash
# Evaluations (issue 6): 1,000 four-choice items on the generated 110M Q8_0
# model, items/s with shared question prefixes and batching beside scoring
# each choice from scratch (floor: 3x faster). The from-scratch rows run on
# the first $BENCH_EVALS_BASELINE_ITEMS items (default 64). The model is
# generated once into $BENCH_MODELS (default /tmp/aperture-bench-models),
# shared with bench/engine, never the repo. About 4 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD_DIR:-build}
cmake --build "$build" --target evals_bench >/dev/null
"$build/bench/evals/evals_bench" --models "${BENCH_MODELS:-/tmp/aperture-bench-models}" \
  --baseline-items "${BENCH_EVALS_BASELINE_ITEMS:-64}" "$@"
