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
echo "heapscope: running the example (examples/leaky.c) under the agent, sampling its allocations" >&2
echo "heapscope: and taking a heap snapshot when it exits" >&2
rm -f "$out/leaky.heapsnapshot"
"$build/bin/heapscope" run --summary-file "$out/summary.txt" --sample=4096 -o "$out/leaky.heapprofile" \
  --snapshot-at-exit --snapshot-out "$out/leaky.heapsnapshot" \
  -- "$build/bin/hs-example-leaky"
echo >&2
echo "heapscope: the agent's exit record is in $out/summary.txt" >&2
echo "heapscope: the allocation profile is $out/leaky.heapprofile: open it in Chrome DevTools" >&2
echo "heapscope:   (Memory panel, Load) or at https://www.speedscope.app" >&2
echo "heapscope: the heap snapshot is $out/leaky.heapsnapshot: open it in Chrome DevTools" >&2
echo "heapscope:   (Memory panel, Load): Summary by allocation site, Retainers, and the leaks" >&2
echo "heapscope:   as \"Detached <site>\" (filter: Objects retained by detached DOM nodes)" >&2
