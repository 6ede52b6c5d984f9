#!/usr/bin/env bash
# Runs every libFuzzer target (fuzz_*) built in BUILD_DIR for a bounded time
# each (FUZZ_SECONDS, default 60), starting from the seeds in
# fuzz/corpus/<target>/ (plus the real GGUF files for fuzz_gguf_reader),
# copied into a temporary corpus so the repository is never written to.
# Crash inputs go to BUILD_DIR/fuzz-artifacts/; the script fails on a crash.
# Usage: fuzz/run.sh BUILD_DIR   (extra libFuzzer flags in FUZZ_ARGS)
set -euo pipefail

BUILD_DIR=${1:?usage: fuzz/run.sh BUILD_DIR}
SECONDS_EACH=${FUZZ_SECONDS:-60}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODELS="$ROOT/../shared/models"
ARTIFACTS="$BUILD_DIR/fuzz-artifacts"
mkdir -p "$ARTIFACTS"

mapfile -t targets < <(find "$BUILD_DIR/fuzz" -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x | sort)
if [ ${#targets[@]} -eq 0 ]; then
  echo "no fuzz targets in $BUILD_DIR/fuzz (configure with -DAPERTURE_FUZZ=ON and build first)" >&2
  exit 1
fi

status=0
for target in "${targets[@]}"; do
  name=$(basename "$target")
  corpus=$(mktemp -d)
  trap 'rm -rf "$corpus"' EXIT
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
  echo "== $name: ${SECONDS_EACH}s, $(ls "$corpus" | wc -l) seeds"
  log="$BUILD_DIR/fuzz-artifacts/$name.log"
  # shellcheck disable=SC2086
  if "$target" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=2048 \
      -artifact_prefix="$ARTIFACTS/$name-" -print_final_stats=1 "${extra[@]}" ${FUZZ_ARGS:-} "$corpus" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | sed "s/^/   /" || true
    echo "   ok (log: $log)"
  else
    echo "   FAILED: see $log and $ARTIFACTS/$name-*" >&2
    tail -n 40 "$log" >&2
    status=1
  fi
  rm -rf "$corpus"
  trap - EXIT
done
exit $status
