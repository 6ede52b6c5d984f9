#!/usr/bin/env bash
# Beyond one machine, with PostgreSQL on the same machine (a cluster of the
# bench's own, durable: fsync on):
# (1) requests/s authenticated + authorized + recorded (GET /v1/models with
#     a key, as bench/pipeline.sh), closed loop (wrk -t2 -c16), on SQLite, on
#     PostgreSQL with one replica, and with two replicas (two wrk at once,
#     one per replica, their req/s summed); BENCH_REPS rounds alternating the
#     three, medians;
# (2) log appends/s (entries, durable): one writer on SQLite, one and two
#     writers (two replicas) on PostgreSQL;
# (3) the proxy's added latency per streamed token (proxy_bench).
# The machine is shared: every figure is a median of alternated runs; the
# load average is printed beside them.
# BUILD_DIR (build), BENCH_SECONDS (8), BENCH_REPS (3), BENCH_CONNECTIONS (16).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD_DIR:-build}
seconds=${BENCH_SECONDS:-8}
reps=${BENCH_REPS:-3}
connections=${BENCH_CONNECTIONS:-16}
bin=$build/aperture
cmake --build "$build" --target aperture replicas_pg_cluster log_append_bench proxy_bench >/dev/null
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${PG_PID:-}" ] && { exec {PG[1]}>&- 2>/dev/null || true; wait "$PG_PID" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

coproc PG { "$build/bench/replicas/replicas_pg_cluster"; }
new_db() { echo >&"${PG[1]}"; local url; read -r url <&"${PG[0]}"; echo "$url"; }

printf '[rate_limits]\nprincipal_requests_per_minute = 0\nanonymous_requests_per_minute = 0\n' > "$work/config.toml"
echo "weights" > "$work/model.gguf"
# setup DATA [STORE]: a data directory with a model and a key; prints the key.
setup() {
  APERTURE_STORE=${2:-} "$bin" init --data "$1" >/dev/null 2>&1
  APERTURE_STORE=${2:-} "$bin" model add --data "$1" --id bench --path "$work/model.gguf" --public-level api >/dev/null
  APERTURE_STORE=${2:-} "$bin" principal add --data "$1" --name bench >/dev/null
  APERTURE_STORE=${2:-} "$bin" key create --data "$1" --principal bench 2>/dev/null
}
# serve DATA [STORE]: starts a server, sets served_port (not in a subshell,
# so its pid joins pids and the cleanup stops it).
serve() {
  local port; port=$(free_port)
  APERTURE_STORE=${2:-} "$bin" serve --data "$1" --listen "127.0.0.1:$port" --config "$work/config.toml" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  served_port=$port
}
wrk_rps() {  # wrk_rps THREADS CONNECTIONS KEY PORT: req/s and errors
  wrk -t"$1" -c"$2" -d"${seconds}s" -H "Authorization: Bearer $3" "http://127.0.0.1:$4/v1/models" | awk '
    /Requests\/sec/ {rps=$2} /Non-2xx/ {bad+=$NF} /Socket errors/ {for (i = 4; i <= NF; i += 2) bad+=$i}
    END {printf "%.0f %d\n", rps, bad}'
}

sqlite_key=$(setup "$work/sqlite")
serve "$work/sqlite"; sqlite_port=$served_port
pg_url=$(new_db)
pg_key=$(setup "$work/pg" "$pg_url")
serve "$work/pg" "$pg_url"; pg_port=$served_port

echo "replicas: authenticated + authorized + recorded requests (GET /v1/models), wrk closed loop, $connections connections,"
echo "  ${seconds}s a run, $reps rounds alternating SQLite / PostgreSQL one replica / two replicas; $(nproc) cores"
echo "  load average before: $(loadavg)"
printf '  %-5s %-26s %10s %7s  %s\n' round store "req/s" errors "load average after"
declare -a r_sqlite r_pg1 r_pg2
for round in $(seq "$reps"); do
  read -r rps bad < <(wrk_rps 2 "$connections" "$sqlite_key" "$sqlite_port")
  r_sqlite+=("$rps"); printf '  %-5s %-26s %10s %7s  %s\n' "$round" "SQLite" "$rps" "$bad" "$(loadavg)"
  read -r rps bad < <(wrk_rps 2 "$connections" "$pg_key" "$pg_port")
  r_pg1+=("$rps"); printf '  %-5s %-26s %10s %7s  %s\n' "$round" "PostgreSQL, 1 replica" "$rps" "$bad" "$(loadavg)"
  serve "$work/pg" "$pg_url"; second=$served_port
  wrk_rps 1 $((connections / 2)) "$pg_key" "$second" > "$work/b.out" &
  b=$!
  read -r rps_a bad_a < <(wrk_rps 1 $((connections / 2)) "$pg_key" "$pg_port")
  wait "$b"
  read -r rps_b bad_b < "$work/b.out"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'
  rps=$((rps_a + rps_b))
  r_pg2+=("$rps"); printf '  %-5s %-26s %10s %7s  %s\n' "$round" "PostgreSQL, 2 replicas" "$rps ($rps_a + $rps_b)" \
    $((bad_a + bad_b)) "$(loadavg)"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }
m_sqlite=$(median "${r_sqlite[@]}"); m_pg1=$(median "${r_pg1[@]}"); m_pg2=$(median "${r_pg2[@]}")
awk -v s="$m_sqlite" -v a="$m_pg1" -v b="$m_pg2" 'BEGIN {
  printf "  medians: SQLite %d req/s (the reference); PostgreSQL 1 replica %d (%.2fx SQLite), 2 replicas %d (%.2fx one)\n",
         s, a, a / s, b, b / a }'
echo "  (every request is authenticated, authorized and recorded in the log; on 2 cores the replicas share the"
echo "   cores with PostgreSQL and wrk, so 2 replicas measure the cost of sharing one store, not a second machine)"

echo
echo "log appends (entries per second, each batch one durable transaction with its signed checkpoint), 5 s a run:"
for round in $(seq "$reps"); do
  echo "  round $round: SQLite 1 writer: $("$build/bench/replicas/log_append_bench" --store "$work/appends-$round.db" --writers 1 --seconds 5)"
  echo "  round $round: PostgreSQL 1 writer: $("$build/bench/replicas/log_append_bench" --store "$(new_db)" --writers 1 --seconds 5)"
  echo "  round $round: PostgreSQL 2 writers: $("$build/bench/replicas/log_append_bench" --store "$(new_db)" --writers 2 --seconds 5)"
done
echo "  (reference: the SQLite figure beside; docs/log_format.md's floor for durable appends is 50,000/s)"

echo
"$build/bench/replicas/proxy_bench" --rounds "$reps"
