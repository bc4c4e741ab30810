// Takes a heap snapshot of a CDP target with chrome-remote-interface, the way
// public client code does it: subscribe to HeapProfiler.addHeapSnapshotChunk,
// await takeHeapSnapshot (its reply comes after the last chunk), join.
// Usage: node snapshot_collect.js WS-URL OUT-FILE (NODE_PATH: tests/node/node_modules).
// Prints one line: "chunks N progress P done D total T finished F".
'use strict';
const fs = require('fs');
const CDP = require('chrome-remote-interface');

async function main() {
  const [url, out] = process.argv.slice(2);
  const client = await CDP({ target: url });
  const chunks = [];
  let progress = 0, done = -1, total = -1, finished = false;
  client.on('HeapProfiler.addHeapSnapshotChunk', (p) => chunks.push(p.chunk));
  client.on('HeapProfiler.reportHeapSnapshotProgress', (p) => {
    progress++;
    done = p.done;
    total = p.total;
    if (p.finished) finished = true;
  });
  await client.send('HeapProfiler.enable');
  await client.send('HeapProfiler.takeHeapSnapshot', { reportProgress: true });
  await client.close();
  fs.writeFileSync(out, chunks.join(''));
  console.log(`chunks ${chunks.length} progress ${progress} done ${done} total ${total} finished ${finished}`);
}
main().catch((e) => {
  console.error('snapshot_collect: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
