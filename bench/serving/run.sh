#!/usr/bin/env bash
# Serving (issue 4): N concurrent streaming clients (N = 1, 4, 16) against
# `aperture serve` with the generated 110M Q8_0 model: aggregate generated
# tokens/s, time to first token p50/p99, inter-token latency p99, and the
# server's overhead per streamed token beside the engine's own time per token.
# Floors: tokens/s at N = 4 at least 2x N = 1; overhead under 5%.
# The model is generated once into $BENCH_MODELS (default
# /tmp/aperture-bench-models, shared with bench/engine), never the repo.
# BENCH_SECONDS (default 15) is each N's measured window, after 3 s of warm-up.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD_DIR:-build}
cmake --build "$build" --target aperture serving_bench >/dev/null
bin=$build/aperture
models=${BENCH_MODELS:-/tmp/aperture-bench-models}
model=$models/llama110m-q8_0.gguf
mkdir -p "$models"
if [ ! -f "$model" ]; then  # the spec of bench/engine's 110M model
  "$bin" model make-test --out "$model.tmp" --layers 12 --dim 768 --heads 12 --kv-heads 12 --ffn 2048 \
    --vocab 32000 --type q8_0 --seed 1 >/dev/null
  mv "$model.tmp" "$model"
fi

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
"$bin" grant --data "$work/data" --principal bench --model llama110m --level api --reason "serving bench" >/dev/null
# Rate limits off, so the serving path itself is measured.
cat > "$work/config.toml" <<CONF
[rate_limits]
principal_requests_per_minute = 0
anonymous_requests_per_minute = 0
[levels.api]
requests_per_minute = 0
tokens_per_minute = 0
CONF
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data "$work/data" --listen "127.0.0.1:$port" --config "$work/config.toml" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "serving benchmark: generated 110M Llama Q8_0 ($model), $(nproc) cores, server defaults (max_active 16)"
"$build/bench/serving/serving_bench" --port "$port" --key "$key" --model llama110m --model-path "$model" \
  --clients "${BENCH_CLIENTS:-1,4,16}" --seconds "${BENCH_SECONDS:-15}" "$@"
