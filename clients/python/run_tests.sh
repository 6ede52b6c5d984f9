#!/usr/bin/env bash
# The Python research client's tests (make test): offline checks, then the
# client against a real `aperture serve` on stories260K over a fresh data
# directory, once with numpy and once without.
#   clients/python/run_tests.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
bin=$build/aperture
model=$root/../shared/models/stories260K.gguf
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" init --data "$work/data" >/dev/null 2>&1
"$bin" model add --data "$work/data" --id tiny --path "$model" --public-level hosted >/dev/null
"$bin" principal add --data "$work/data" --name ada --role member >/dev/null
"$bin" principal add --data "$work/data" --name dev --role member >/dev/null
key=$("$bin" key create --data "$work/data" --principal ada 2>/dev/null)
api_key=$("$bin" key create --data "$work/data" --principal dev 2>/dev/null)
"$bin" grant --data "$work/data" --principal ada --model tiny --level research --reason "client tests" >/dev/null
"$bin" grant --data "$work/data" --principal dev --model tiny --level api --reason "client tests" >/dev/null
cat > "$work/config.toml" <<CONF
[rate_limits]
principal_requests_per_minute = 0
anonymous_requests_per_minute = 0
[levels.research]
requests_per_minute = 0
CONF
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data "$work/data" --listen "127.0.0.1:$port" --config "$work/config.toml" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

cd "$root/clients/python"
# Debian's python3 (with python3-numpy from `make deps`), not a user's own.
py=${PYTHON:-$([ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}
export APERTURE_URL="http://127.0.0.1:$port" APERTURE_KEY="$key" APERTURE_API_KEY="$api_key" APERTURE_MODEL=tiny
status=0
"$py" -m unittest discover -s tests -t . || status=1
APERTURE_NO_NUMPY=1 "$py" -m unittest discover -s tests -t . || status=1
if [ $status -ne 0 ]; then
  echo "--- server log" >&2
  tail -50 "$work/server.log" >&2
fi
exit $status
