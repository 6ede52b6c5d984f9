#!/usr/bin/env bash
# Engine speed (issue 17): pp128/tg64 of the generated 110M model in every
# type people download (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K and a
# Q4_K_M mix), 2 threads, beside llama.cpp's figures and the engine's before,
# with the bandwidth ceiling, batched decoding, peak RSS and the issue's
# floors. Models are generated once into $BENCH_MODELS (default
# /tmp/aperture-bench-models), never the repo. Extra arguments go to
# engine_bench (--rounds N, --types a,b, --threads 1,2).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD_DIR:-build}
cmake --build "$build" --target engine_bench >/dev/null
"$build/bench/engine/engine_bench" --models "${BENCH_MODELS:-/tmp/aperture-bench-models}" "$@"
