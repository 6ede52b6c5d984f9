#!/usr/bin/env bash
# Research access (issue 14): the cost of hooks and captures in the engine,
# on the generated 110M Llama Q8_0 model with 2 threads. The model is
# generated once into $BENCH_MODELS (default /tmp/aperture-bench-models,
# shared with bench/engine and bench/serving), never the repo.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD_DIR:-build}
cmake --build "$build" --target aperture research_bench >/dev/null
bin=$build/aperture
models=${BENCH_MODELS:-/tmp/aperture-bench-models}
model=$models/llama110m-q8_0.gguf
mkdir -p "$models"
if [ ! -f "$model" ]; then  # the spec of bench/engine's 110M model
  "$bin" model make-test --out "$model.tmp" --layers 12 --dim 768 --heads 12 --kv-heads 12 --ffn 2048 \
    --vocab 32000 --type q8_0 --seed 1 >/dev/null
  mv "$model.tmp" "$model"
fi
"$build/bench/research/research_bench" --model "$model" --threads 2 "$@"
