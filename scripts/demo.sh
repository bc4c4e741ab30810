#!/usr/bin/env bash
# The main job on the bundled example: builds heapscope, runs the example
# program under `heapscope run`, and says what it found.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
build=${HS_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
out=${HS_DEMO_OUT:-$PWD/out}
mkdir -p "$out"
echo "heapscope: running the example (examples/leaky.c) under the agent" >&2
"$build/bin/heapscope" run --summary-file "$out/summary.txt" -- "$build/bin/hs-example-leaky"
echo >&2
echo "heapscope: the agent's exit record is in $out/summary.txt" >&2
echo "heapscope: heap snapshots (.heapsnapshot) and allocation profiles (.heapprofile)" >&2
echo "heapscope: are not written yet: they arrive with the CDP endpoint (issues 3-5)." >&2
