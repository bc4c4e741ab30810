// snapshot_client.js — takes one heap snapshot of a CDP target and writes it to a
// file, timing each step; bench/snapshot.py runs it when there is no `heapscope
// snapshot` (or with --client node). Uses chrome-remote-interface from tests/node
// (scripts/deps.sh test installs it).
//
//   node bench/snapshot_client.js ws://127.0.0.1:PORT/ID OUT.heapsnapshot
//
// Prints one JSON line on stdout. Times are CLOCK_MONOTONIC nanoseconds
// (process.hrtime), the clock of the benchmark program's pause meter:
//   t_connected, t_sent (takeHeapSnapshot written), t_first_progress,
//   t_finished (the progress event with finished: true), t_first_chunk,
//   t_last_chunk, t_reply; chunks, bytes (of the JSON text), progress events.
'use strict';
const fs = require('fs');
const path = require('path');

const CDP = require(path.join(__dirname, '..', 'tests', 'node', 'node_modules',
  'chrome-remote-interface'));

async function main() {
  const [url, out] = process.argv.slice(2);
  if (!url || !out) {
    process.stderr.write('usage: node snapshot_client.js WS-URL OUT\n');
    process.exit(2);
  }
  const now = () => process.hrtime.bigint().toString();
  const r = { chunks: 0, bytes: 0, progress: 0 };
  const fd = fs.openSync(out, 'w');
  const client = await CDP({ target: url, local: true });
  r.t_connected = now();
  client.on('HeapProfiler.addHeapSnapshotChunk', ({ chunk }) => {
    const t = now();
    if (!r.chunks) r.t_first_chunk = t;
    r.t_last_chunk = t;
    r.chunks++;
    const b = Buffer.from(chunk, 'utf8');
    r.bytes += b.length;
    fs.writeSync(fd, b);
  });
  client.on('HeapProfiler.reportHeapSnapshotProgress', ({ done, total, finished }) => {
    const t = now();
    if (!r.progress) r.t_first_progress = t;
    r.progress++;
    r.total = total;
    if (finished) r.t_finished = t;
  });
  const call = client.HeapProfiler.takeHeapSnapshot({ reportProgress: true });
  r.t_sent = now();
  await call;
  r.t_reply = now();
  fs.closeSync(fd);
  await client.close();
  process.stdout.write(JSON.stringify(r) + '\n');
}

main().catch((e) => {
  process.stderr.write(`snapshot_client: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
