#!/usr/bin/env bash
# Formatting (clang-format) over every C++ file, and clang-tidy's bug-finding
# checks (.clang-tidy) over the sources, using build/compile_commands.json.
# LINT_TIDY=0 skips clang-tidy. TIDY_BASE=REF (make test: main) runs it only
# on the sources changed since the merge base with REF (on REF itself, those
# of its last commit), as all of them take half an hour on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.h')
echo "clang-format: ${#files[@]} files"
clang-format --dry-run --Werror "${files[@]}"
# JSON leaves the process only through DumpJson (src/core/json.h): nlohmann's
# dump() throws on invalid UTF-8, and response bodies carry callers' bytes.
if git grep -n -E '(\.|->)dump\(' -- 'src/*.cpp' 'src/*.h' ':!src/core/json.cpp' ':!*_test.cpp'; then
  echo "lint: serialize JSON with DumpJson (core/json.h), never dump()" >&2
  exit 1
fi
if [ "${LINT_TIDY:-1}" = 1 ]; then
  if [ -n "${TIDY_BASE:-}" ]; then
    base=$(git merge-base HEAD "$TIDY_BASE" 2>/dev/null || git rev-parse HEAD)
    [ "$base" = "$(git rev-parse HEAD)" ] && base=$(git rev-parse HEAD~1 2>/dev/null || echo "$base")
    mapfile -t sources < <(git diff --name-only --diff-filter=AMR "$base" -- 'src/*.cpp' | grep -v '_test\.cpp$' || true)
    echo "clang-tidy: ${#sources[@]} files changed since $(git rev-parse --short "$base")"
  else
    mapfile -t sources < <(git ls-files 'src/*.cpp' | grep -v '_test\.cpp$')
    echo "clang-tidy: ${#sources[@]} files"
  fi
  log=$(mktemp)
  if [ ${#sources[@]} -gt 0 ] &&
    ! printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p build --quiet >"$log" 2>&1; then
    grep -v -E '^[0-9]+ warnings? generated|^Suppressed|^Use -header-filter' "$log"
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
fi
echo "lint: ok"
