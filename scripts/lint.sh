#!/usr/bin/env bash
# Formatting (clang-format) over every C++ file, and clang-tidy's bug-finding
# checks (.clang-tidy) over the sources, using build/compile_commands.json.
# LINT_TIDY=0 skips clang-tidy.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.h')
echo "clang-format: ${#files[@]} files"
clang-format --dry-run --Werror "${files[@]}"
# JSON leaves the process only through DumpJson (src/core/json.h): nlohmann's
# dump() throws on invalid UTF-8, and response bodies carry callers' bytes.
if git grep -n '\.dump(' -- 'src/*.cpp' 'src/*.h' ':!src/core/json.cpp' ':!*_test.cpp'; then
  echo "lint: serialize JSON with DumpJson (core/json.h), never dump()" >&2
  exit 1
fi
if [ "${LINT_TIDY:-1}" = 1 ]; then
  mapfile -t sources < <(git ls-files 'src/*.cpp' | grep -v '_test\.cpp$')
  echo "clang-tidy: ${#sources[@]} files"
  log=$(mktemp)
  if ! printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p build --quiet >"$log" 2>&1; then
    grep -v -E '^[0-9]+ warnings? generated|^Suppressed|^Use -header-filter' "$log"
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
fi
echo "lint: ok"
