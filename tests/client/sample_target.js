// A node --inspect target for test_cli_sample.sh. It allocates all the time
// in two named functions (keeping the last few thousand objects alive), and
// watches, through its own in-process inspector session, for the moment the
// isolate's sampling heap profiler runs (getSamplingProfile stops failing).
// It then says so on stderr and, by mode (argv[2]):
//   sampled  after 50 more ticks of allocation, prints "allocating"
//   steal    stops the profiler from its own session, prints "stolen"
// It prints "ready" once the allocation runs. It polls only until sampling is
// seen, so the profile taken by the CLI is not disturbed by its calls.
'use strict';
const inspector = require('inspector');
const mode = process.argv[2] || 'sampled';
const keep = new Array(4000);
let k = 0;

function allocateStrings() {
  for (let i = 0; i < 100; i++) keep[k++ % keep.length] = 'heapscope'.repeat(40) + k;
}
function allocateArrays() {
  for (let i = 0; i < 50; i++) keep[k++ % keep.length] = new Array(64).fill(k);
}

let ticksAfterSeen = -1;
setInterval(() => {
  allocateStrings();
  allocateArrays();
  if (ticksAfterSeen >= 0 && ++ticksAfterSeen === 50) console.error('allocating');
}, 1);

const session = new inspector.Session();
session.connect();
function watch() {
  session.post('HeapProfiler.getSamplingProfile', (err) => {
    if (err) return void setTimeout(watch, 5);
    if (mode === 'steal') {
      session.post('HeapProfiler.stopSampling', (e) => console.error(e ? 'steal failed ' + e.message : 'stolen'));
    } else {
      ticksAfterSeen = 0;
    }
  });
}
watch();
console.error('ready');
