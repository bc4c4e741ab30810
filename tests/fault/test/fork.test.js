'use strict';
// fault-fork: the snapshot's fork fails (libheapscope_fault.so with
// HEAPSCOPE_FAULT_FORK=1 makes the first snapshot fork fail with EAGAIN, as a
// process at its limit would see it). The client gets an error reply and
// nothing else for that command (no progress, no chunk), the next snapshot is
// whole, no snapshot child is left, and the program runs on unchanged.

const test = require('node:test');
const assert = require('node:assert/strict');
const { wsConnect } = require('../../node/lib/ws');
const { startProgram, referenceChecksum, streamSnapshot, childrenOf, SESSION_ROUNDS, need } = require('../lib/fault');

const FAILED = { code: -32000, message: 'Failed to take heap snapshot' };

async function startWithFailingFork(t) {
  const prog = startProgram({ lib: need('HS_FAULT_LIB'), env: { HEAPSCOPE_FAULT_FORK: '1' } });
  t.after(() => prog.kill());
  const ep = await prog.endpoint();
  assert.ok(ep, 'the endpoint is up');
  const ws = await wsConnect({ port: ep.port, path: ep.path });
  t.after(() => ws.destroy());
  return { prog, ws };
}

/* A whole snapshot: reply {}, chunks that make one JSON document with nodes. */
function assertWhole(snap, what) {
  assert.deepEqual(snap.reply && snap.reply.result, {}, `${what}: ${JSON.stringify(snap.reply || snap.closed)}`);
  assert.ok(snap.chunks > 0, `${what}: chunks`);
  const doc = JSON.parse(snap.text);
  assert.ok(doc.snapshot.node_count > 100 && doc.nodes.length === doc.snapshot.node_count * doc.snapshot.meta.node_fields.length, `${what}: nodes`);
}

async function finishUnchanged(prog) {
  assert.deepEqual(childrenOf(prog.proc.pid), [], 'no snapshot child left');
  for (const c of SESSION_ROUNDS) await prog.command(c);
  assert.equal(await prog.finish(), await referenceChecksum(), 'the program ran on unchanged');
  assert.match(prog.stderr, /heapscope-fault: \d+ allocations, 0 failed; \d+ forks, 1 failed/);
}

test('takeHeapSnapshot: the failed fork is an error reply; the next snapshot is whole', async (t) => {
  const { prog, ws } = await startWithFailingFork(t);
  const first = await streamSnapshot(ws, 'HeapProfiler.takeHeapSnapshot', { reportProgress: true });
  assert.match(prog.stderr, /heapscope-fault: failing snapshot fork 1\n/, 'the fork was made to fail');
  assert.deepEqual(first.reply && first.reply.error, FAILED, JSON.stringify(first.reply || first.closed));
  assert.equal(first.chunks + first.progress, 0, 'no chunk or progress for a snapshot that never started');

  const second = await streamSnapshot(ws, 'HeapProfiler.takeHeapSnapshot', { reportProgress: true });
  assertWhole(second, 'the next snapshot');
  assert.deepEqual((await ws.call('HeapProfiler.collectGarbage')).result, {});
  await finishUnchanged(prog);
});

// V8 answers stopTrackingHeapObjects with a success even when its snapshot
// failed (src/agent/domain/timeline.c follows it): the failure shows as a
// snapshot without a chunk, and tracking has ended all the same.
test('stopTrackingHeapObjects: the failed fork ends tracking without a chunk, as V8; tracking again works', async (t) => {
  const { prog, ws } = await startWithFailingFork(t);
  assert.deepEqual((await ws.call('HeapProfiler.startTrackingHeapObjects', { trackAllocations: true })).result, {});
  const first = await streamSnapshot(ws, 'HeapProfiler.stopTrackingHeapObjects', { reportProgress: true });
  assert.match(prog.stderr, /heapscope-fault: failing snapshot fork 1\n/, 'the fork was made to fail');
  assert.deepEqual(first.reply && first.reply.result, {}, JSON.stringify(first.reply || first.closed));
  assert.equal(first.chunks + first.progress, 0, 'no chunk or progress for a snapshot that never started');
  const again = await ws.call('HeapProfiler.stopTrackingHeapObjects', { reportProgress: false });
  assert.ok(again.result, 'tracking had ended: a stop without a start is just a snapshot');

  assert.deepEqual((await ws.call('HeapProfiler.startTrackingHeapObjects', {})).result, {});
  const second = await streamSnapshot(ws, 'HeapProfiler.stopTrackingHeapObjects', { reportProgress: false });
  assertWhole(second, 'the next timeline snapshot');
  await finishUnchanged(prog);
});
