#!/usr/bin/env bash
# Seeds fuzz/corpus/fuzz_server from the test suite's own requests: runs the
# integration tests (BUILD_DIR, default build) with APERTURE_CAPTURE_REQUESTS
# set, so every request they send is written with its keys replaced by
# @OWNER@, @REVIEWER@ or @MEMBER@, then keeps the ones that add coverage
# (libFuzzer's -merge with FUZZ_BUILD_DIR's fuzz_server, default
# build-fuzz; without it, every distinct request).
# Usage: fuzz/seeds.sh [BUILD_DIR] [FUZZ_BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$(realpath "${1:-$ROOT/build}")
FUZZ_BUILD_DIR=$(realpath -m "${2:-$ROOT/build-fuzz}")
captured=$(mktemp -d)
trap 'rm -rf "$captured"' EXIT
(cd "$BUILD_DIR" && APERTURE_CAPTURE_REQUESTS="$captured" ctest -L integration -j 2 >/dev/null) || true
echo "captured $(ls "$captured" | wc -l) distinct requests"
corpus="$ROOT/fuzz/corpus/fuzz_server"
mkdir -p "$corpus"
if [ -x "$FUZZ_BUILD_DIR/fuzz/fuzz_server" ]; then
  merged=$(mktemp -d)
  trap 'rm -rf "$captured" "$merged"' EXIT
  "$FUZZ_BUILD_DIR/fuzz/fuzz_server" -merge=1 -detect_leaks=0 -rss_limit_mb=4096 "$merged" "$corpus" "$captured" \
    >/dev/null 2>&1
  rm -f "$corpus"/*
  cp "$merged"/* "$corpus"/
else
  cp "$captured"/* "$corpus"/
fi
echo "fuzz/corpus/fuzz_server: $(ls "$corpus" | wc -l) seeds"
