#!/usr/bin/env bash
# Formatting (clang-format) over every C++ file, and clang-tidy's bug-finding
# checks (.clang-tidy) over the sources, using build/compile_commands.json.
# LINT_TIDY=0 skips clang-tidy.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.h')
echo "clang-format: ${#files[@]} files"
clang-format --dry-run --Werror "${files[@]}"
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
