#!/usr/bin/env bash
# Builds heapscope with warnings as errors and runs every test (ctest).
# The last line printed is ctest's summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test || exit 1
build=${HS_BUILD_DIR:-build}
san=$build-san
build_tree() { # DIR [cmake --build arguments]: the build's output goes to DIR/build.log
  local dir=$1
  shift
  if ! cmake --build "$dir" -j"$(nproc)" "$@" >"$dir/build.log" 2>&1; then
    cat "$dir/build.log"
    echo "heapscope: build failed in $dir" >&2
    exit 1
  fi
}
# The sanitizer tree (cmake/HsSanitize.cmake): clang with AddressSanitizer,
# UBSan and libFuzzer, only what is not preloaded; its tests run in the main
# tree's ctest as san-*.
CC=clang CXX=clang++ cmake -S . -B "$san" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHS_WERROR=ON \
  -DHS_SANITIZE=address,undefined -DHS_FUZZ=ON -DHS_TSAN_TESTS=OFF >/dev/null || exit 1
build_tree "$san" --target hs_san
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHS_WERROR=ON \
  -DHS_SAN_DIR="$(cd "$san" && pwd)" >/dev/null || exit 1
build_tree "$build"
ctest --test-dir "$build" -j"$(nproc)" --output-on-failure --timeout 900 2>&1 | tee "$build/ctest.log"
rc=${PIPESTATUS[0]}
# ctest ends with its timing line; repeat the summary so that it comes last.
grep -E '^[0-9]+% tests passed' "$build/ctest.log" | tail -n 1
exit "$rc"
