#!/usr/bin/env bash
# Research access (issue 14), each figure beside its reference, on the
# generated 110M Llama Q8_0 model with 2 threads: hook and capture costs in
# the engine and through a research request, a patching sweep beside the
# naive way (research_bench), and streams' inter-token p99 alone and while a
# researcher runs captures against a real server (serving_bench
# --research-key). The model is generated once into $BENCH_MODELS (default
# /tmp/aperture-bench-models, shared with bench/engine and bench/serving).
# BENCH_SECONDS (default 10) is each window; BENCH_ROUNDS (default 3) the
# alternated rounds; BENCH_RESEARCH_CLIENTS (default 4) the streams.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD_DIR:-build}
cmake --build "$build" --target aperture research_bench serving_bench >/dev/null
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

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
"$bin" init --data "$work/data" >/dev/null 2>&1
"$bin" model add --data "$work/data" --id llama110m --path "$model" --public-level hosted >/dev/null
"$bin" principal add --data "$work/data" --name bench --role member >/dev/null
key=$("$bin" key create --data "$work/data" --principal bench 2>/dev/null)
"$bin" grant --data "$work/data" --principal bench --model llama110m --level research --reason "research bench" >/dev/null
cat > "$work/config.toml" <<CONF
[serving]
threads = 2
[rate_limits]
principal_requests_per_minute = 0
anonymous_requests_per_minute = 0
[levels.research]
requests_per_minute = 0
tokens_per_minute = 0
research_tokens_per_minute = 0
research_requests_per_day = 0
CONF
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data "$work/data" --listen "127.0.0.1:$port" --config "$work/config.toml" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
"$build/bench/serving/serving_bench" --port "$port" --key "$key" --model llama110m --model-path "$model" \
  --clients "${BENCH_RESEARCH_CLIENTS:-4}" --seconds "${BENCH_SECONDS:-10}" --research-key "$key" \
  --research-rounds "${BENCH_ROUNDS:-3}"
