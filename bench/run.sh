#!/usr/bin/env bash
# make bench: every benchmark, each printing its figures beside its reference.
set -euo pipefail
cd "$(dirname "$0")/.."
./bench/pipeline.sh
for extra in bench/*/run.sh; do
  [ -x "$extra" ] && "$extra"
done
