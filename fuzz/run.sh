#!/usr/bin/env bash
# Runs every libFuzzer target (fuzz_*) built in BUILD_DIR for a bounded time
# each (FUZZ_SECONDS, default 60), starting from the seeds in
# fuzz/corpus/<target>/ (plus the real GGUF files for fuzz_gguf_reader),
# copied into a temporary corpus so the repository is never written to.
# Crash inputs go to BUILD_DIR/fuzz-artifacts/; the script fails on a crash.
# FUZZ_TARGETS (a regular expression) runs only the targets it matches;
# FUZZ_CORPUS_DIR keeps each target's grown corpus there (else discarded).
# Each target prints its executions, coverage (cov: edges, ft: features)
# and peak memory at the end.
# Usage: fuzz/run.sh BUILD_DIR   (extra libFuzzer flags in FUZZ_ARGS)
set -euo pipefail

BUILD_DIR=${1:?usage: fuzz/run.sh BUILD_DIR}
SECONDS_EACH=${FUZZ_SECONDS:-60}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODELS="$ROOT/../shared/models"
ARTIFACTS="$BUILD_DIR/fuzz-artifacts"
mkdir -p "$ARTIFACTS"

mapfile -t targets < <(find "$BUILD_DIR/fuzz" -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x | sort |
  grep -E "/(${FUZZ_TARGETS:-.*})\$" || true)
if [ ${#targets[@]} -eq 0 ]; then
  echo "no fuzz targets in $BUILD_DIR/fuzz (configure with -DAPERTURE_FUZZ=ON and build first)" >&2
  exit 1
fi

status=0
for target in "${targets[@]}"; do
  name=$(basename "$target")
  if [ -n "${FUZZ_CORPUS_DIR:-}" ]; then
    corpus="$FUZZ_CORPUS_DIR/$name"
    mkdir -p "$corpus"
  else
    corpus=$(mktemp -d)
    trap 'rm -rf "$corpus"' EXIT
  fi
  if [ -d "$ROOT/fuzz/corpus/$name" ]; then cp "$ROOT/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true; fi
  if [ "$name" = fuzz_gguf_reader ] && [ -d "$MODELS" ]; then
    cp "$MODELS"/*.gguf "$MODELS"/vocab/*.gguf "$corpus"/ 2>/dev/null || true
  fi
  # Every architecture's generated model, written by the target itself.
  if [ "$name" = fuzz_model_loader ]; then APERTURE_FUZZ_WRITE_SEEDS="$corpus" "$target" -runs=0 >/dev/null 2>&1 || true; fi
  extra=()
  # The real models are megabytes; mutating whole files would be slow, and
  # the header and metadata, where the parsing happens, come first.
  if [ "$name" = fuzz_gguf_reader ] || [ "$name" = fuzz_model_loader ]; then extra=(-max_len=65536); fi
  # The whole server keeps its state (store, log, model) from input to
  # input, as a server does: what a request leaves behind is not a leak.
  if [ "$name" = fuzz_server ]; then extra=(-detect_leaks=0 -max_len=16384 -rss_limit_mb=6144); fi
  echo "== $name: ${SECONDS_EACH}s, $(ls "$corpus" | wc -l) seeds"
  log="$BUILD_DIR/fuzz-artifacts/$name.log"
  # shellcheck disable=SC2086
  if "$target" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=2048 \
      -artifact_prefix="$ARTIFACTS/$name-" -print_final_stats=1 "${extra[@]}" ${FUZZ_ARGS:-} "$corpus" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | sed "s/^/   /" || true
    grep -E '^#[0-9]+' "$log" | tail -n 1 | sed "s/^/   last: /" || true
    echo "   ok (log: $log)"
  else
    echo "   FAILED: see $log and $ARTIFACTS/$name-*" >&2
    tail -n 40 "$log" >&2
    status=1
  fi
  if [ -z "${FUZZ_CORPUS_DIR:-}" ]; then
    rm -rf "$corpus"
    trap - EXIT
  fi
done
exit $status
