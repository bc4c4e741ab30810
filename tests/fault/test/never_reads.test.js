'use strict';
// fault-never-reads: a client asks for a heap snapshot and then never reads.
// What the agent holds for it is bounded (one chunk queued, the rest waits in
// the snapshot child's pipe: the program's memory does not grow with the
// snapshot), its snapshot is abandoned once the stream has made no progress
// for the agent's drain limit (60 s, domain/heap_profiler.c) and answered
// with an error, the other clients — who wait meanwhile — are served again
// from then on, and the program runs on unchanged. (Requests without reading, below the output limit, are
// node-hostile's "a client that sends 20000 requests without reading".)

const test = require('node:test');
const assert = require('node:assert/strict');
const { wsConnect } = require('../../node/lib/ws');
const { withTimeout } = require('../../node/lib/target');
const { Program, childrenOf, streamSnapshot, need } = require('../lib/fault');

const BLOCKS = '400000'; // a snapshot of about 30 MB: far more than the sockets hold
const DRAIN_LIMIT_MS = 60000;

test('a client that never reads its snapshot: bounded, abandoned with an error; the others served again', { timeout: 150000 }, async (t) => {
  const env = { ...process.env, LD_PRELOAD: need('HS_AGENT_LIB'), HEAPSCOPE_LISTEN: '127.0.0.1:0' };
  const prog = new Program(need('HS_EXEC_TARGET'), [BLOCKS, '/bin/true'], env);
  t.after(() => prog.kill());
  const ready = await prog.nextLine(20000, 'the "ready" line');
  const ep = await prog.endpoint();
  const other = await wsConnect({ port: ep.port, path: ep.path });
  t.after(() => other.destroy());
  // A first snapshot, read as it comes: the baseline of what a snapshot costs
  // the program (symbols loaded, buffers at their size).
  const first = await streamSnapshot(other, 'HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  assert.deepEqual(first.reply && first.reply.result, {});
  const total = first.chunks;
  const rss0 = vmRss(prog.proc.pid);

  const sloth = await wsConnect({ port: ep.port, path: ep.path });
  t.after(() => sloth.destroy());
  sloth.pause();
  sloth.send({ id: 1, method: 'HeapProfiler.takeHeapSnapshot', params: { reportProgress: true } });

  // The other client's request waits while the agent waits for the sloth,
  // at most the drain limit (and the snapshot's making) later it is answered.
  const asked = Date.now();
  const usage = await withTimeout(other.call('Runtime.getHeapUsage', undefined, DRAIN_LIMIT_MS + 30000), DRAIN_LIMIT_MS + 30000, 'the other client\'s reply');
  const waited = Date.now() - asked;
  t.diagnostic(`the other client waited ${(waited / 1000).toFixed(1)} s`);
  assert.ok(usage.result.usedSize > 0);
  // Bounded: the agent kept at most a few chunks for the sloth, never the snapshot.
  const grown = vmRss(prog.proc.pid) - rss0;
  t.diagnostic(`the program's resident memory grew by ${(grown / 1048576).toFixed(1)} MiB`);
  assert.ok(grown < 8 * 1048576, `resident memory grew by ${grown} bytes`);

  // The sloth's snapshot was abandoned: reading now gives part of the stream,
  // then the snapshot's error (or the end of the connection), never a success.
  sloth.resume();
  let chunks = 0;
  let end = null;
  while (!end) {
    const m = await sloth.next(10000);
    if (m.type === 'closed') end = m;
    else if (JSON.parse(m.data).method === 'HeapProfiler.addHeapSnapshotChunk') chunks++;
    else if (JSON.parse(m.data).id === 1) end = JSON.parse(m.data);
  }
  t.diagnostic(`the sloth had ${chunks} of ${total} chunks, then ${JSON.stringify(end)}`);
  if (end.type !== 'closed') assert.deepEqual(end.error, { code: -32000, message: 'Failed to take heap snapshot' });
  assert.ok(chunks < total, `only part of the snapshot reached the sloth (${chunks} of ${total} chunks)`);

  // Business as usual, and the program is its own.
  const snap = await other.call('HeapProfiler.collectGarbage');
  assert.deepEqual(snap.result, {});
  await other.close();
  assert.deepEqual(childrenOf(prog.proc.pid), [], 'no snapshot child left');
  prog.proc.stdin.end();
  const info = await withTimeout(prog.exited, 20000, 'the program to exit');
  assert.deepEqual(info, { code: 0, signal: null });
  assert.match(ready, /^ready [0-9a-f]{16}$/);
});

function vmRss(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(require('node:fs').readFileSync(`/proc/${pid}/status`, 'latin1'));
  return Number(m[1]) * 1024;
}
