#!/usr/bin/env bash
# Builds heapscope with warnings as errors and runs every test (ctest).
# The last line printed is ctest's summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test || exit 1
build=${HS_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHS_WERROR=ON >/dev/null || exit 1
if ! cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1; then
  cat "$build/build.log"
  echo "heapscope: build failed" >&2
  exit 1
fi
ctest --test-dir "$build" -j"$(nproc)" --output-on-failure --timeout 900 2>&1 | tee "$build/ctest.log"
rc=${PIPESTATUS[0]}
# ctest ends with its timing line; repeat the summary so that it comes last.
grep -E '^[0-9]+% tests passed' "$build/ctest.log" | tail -n 1
exit "$rc"
