// A node --inspect target for test_cli_track.sh: it allocates all the time,
// in phases, from one named function (heapscopeTrackAlloc, whose name the
// timeline's allocation stacks must show): every 10 ms a batch of
// HeapscopeTrackItem objects, kept for 50 batches (the kept set grows, up to
// a bound), then dropped for 50 (garbage the collector takes back), and so
// on. It prints "ready" once the allocation runs.
'use strict';
const BATCH = 200;
const KEEP_MAX = 40000;
class HeapscopeTrackItem {
  constructor(i) {
    this.index = i;
    this.label = 'heapscope-track-' + i;
  }
}
const kept = [];
let made = 0;
let batches = 0;

function heapscopeTrackAlloc(keep) {
  for (let i = 0; i < BATCH; i++) {
    const item = new HeapscopeTrackItem(made++);
    if (keep) kept.push(item);
  }
  if (kept.length > KEEP_MAX) kept.splice(0, kept.length - KEEP_MAX);
}

setInterval(() => heapscopeTrackAlloc(Math.floor(batches++ / 50) % 2 === 0), 10);
console.error('ready');
