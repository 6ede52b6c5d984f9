#!/usr/bin/env bash
# The request pipeline alone (authenticate + authorize + record on GET
# /v1/models) over loopback with keep-alive from 2 client threads, beside a
# static file served by nginx on the same machine.
# Floors (issue 2): 10,000 requests/s and p99 under 2 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./build/aperture
seconds=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-16}
work=$(mktemp -d)
cleanup() { kill "$server_pid" "$nginx_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
server_pid=; nginx_pid=
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Aperture, rate limits off so the pipeline itself is measured.
"$bin" init --data "$work/data" >/dev/null 2>&1
echo "weights" > "$work/model.gguf"
"$bin" model add --data "$work/data" --id bench --path "$work/model.gguf" --public-level api >/dev/null
"$bin" principal add --data "$work/data" --name bench >/dev/null
key=$("$bin" key create --data "$work/data" --principal bench 2>/dev/null)
printf '[rate_limits]\nprincipal_requests_per_minute = 0\nanonymous_requests_per_minute = 0\n' > "$work/config.toml"
port=$(free_port)
"$bin" serve --data "$work/data" --listen "127.0.0.1:$port" --config "$work/config.toml" >/dev/null 2>&1 &
server_pid=$!

# nginx serving a static file of the same size as Aperture's answer.
nport=$(free_port)
mkdir -p "$work/nginx/html" "$work/nginx/logs"
sleep 0.5
curl -s -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/models" > "$work/nginx/html/models.json"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:$nport; root $work/nginx/html; keepalive_requests 1000000; }
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -g 'daemon off;' &
nginx_pid=$!
sleep 0.5

run_wrk() {  # prints "rps p50_ms p99_ms"
  wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@" | awk '
    /Requests\/sec/ {rps=$2}
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)}
    END {printf "%.0f %.3f %.3f\n", rps, p50, p99}'
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
served() { curl -s "http://127.0.0.1:$port/metrics" | awk '/^aperture_requests_total/ {s+=$2} END {print s+0}'; }
ticks_before=$(cpu_ticks "$server_pid"); served_before=$(served)
read -r a_rps a_p50 a_p99 < <(run_wrk -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/models")
ticks_after=$(cpu_ticks "$server_pid"); served_after=$(served)
read -r n_rps n_p50 n_p99 < <(run_wrk "http://127.0.0.1:$nport/models.json")
decisions=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^aperture_decisions_total/ {s+=$2} END {print s+0}')

echo "pipeline (GET /v1/models: authn + authz + record), wrk -t2 -c$connections, ${seconds}s, keep-alive"
printf '  %-28s %10s %10s %10s\n' "" "req/s" "p50 ms" "p99 ms"
printf '  %-28s %10s %10s %10s\n' "aperture" "$a_rps" "$a_p50" "$a_p99"
printf '  %-28s %10s %10s %10s\n' "nginx static file" "$n_rps" "$n_p50" "$n_p99"
awk -v a="$a_rps" -v n="$n_rps" -v p="$a_p99" 'BEGIN {
  printf "  aperture / nginx throughput: %.2f\n", a / n;
  printf "  floor 10000 req/s: %s   floor p99 < 2 ms: %s\n", (a >= 10000 ? "met" : "NOT MET"), (p < 2 ? "met" : "NOT MET") }'
echo "  decisions recorded by the server: $decisions"
# CPU time per request is what the server costs, whatever else runs on the machine.
awk -v t="$((ticks_after - ticks_before))" -v n="$((served_after - served_before))" -v hz="$(getconf CLK_TCK)" \
  -v cores="$(nproc)" 'BEGIN { us = t / hz * 1e6 / n;
  printf "  server CPU per request: %.1f us (%d requests): at most %.0f req/s on %d cores\n", us, n, cores * 1e6 / us, cores }'
