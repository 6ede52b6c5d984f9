#!/usr/bin/env bash
# Engine speed (issue 3): pp128/tg64 of the generated 110M model in F32,
# Q8_0 and Q4_0 with 1 and 2 threads beside llama.cpp's figures, batched
# decoding, peak RSS and the bandwidth ceiling. Models are generated once
# into $BENCH_MODELS (default /tmp/aperture-bench-models), never the repo.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD_DIR:-build}
cmake --build "$build" --target engine_bench >/dev/null
"$build/bench/engine/engine_bench" --models "${BENCH_MODELS:-/tmp/aperture-bench-models}" "$@"
