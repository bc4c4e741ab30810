'use strict';
// fault-vanish: a client that vanishes mid-timeline — its socket reset while
// the ticks stream, or while the snapshot of stopTrackingHeapObjects streams —
// leaves the agent healthy: its recording ended with it, the next client
// records a timeline of its own from fragment 0 and gets its whole snapshot, no snapshot child is left, and
// the program runs on unchanged. (The same for takeHeapSnapshot is
// node-snapshot's "a client that goes away mid-stream".)

const test = require('node:test');
const assert = require('node:assert/strict');
const { wsConnect } = require('../../node/lib/ws');
const { startProgram, referenceChecksum, streamSnapshot, childrenOf, SESSION_ROUNDS, TARGET_ARGS, need } = require('../lib/fault');

const TICK = { HEAPSCOPE_TRACK_PERIOD_MS: '10' };

/* The next event named method on ws (other messages are skipped). */
async function nextEvent(ws, method, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await ws.next(Math.max(1, deadline - Date.now()));
    if (m.type === 'closed') throw new Error(`closed (${m.code}) while waiting for ${method}`);
    const j = JSON.parse(m.data);
    if (j.method === method) return j;
  }
}

const BIG = ['--stdin', '--rounds', '200000', '--live', '65536']; // a snapshot of many chunks

async function healthyAfter(t, prog, ep, args) {
  const ws = await wsConnect({ port: ep.port, path: ep.path });
  try {
    assert.ok((await ws.call('Runtime.getHeapUsage')).result.usedSize > 0);
    // The vanished client's recording ended with it: a stop without a start
    // is a plain snapshot, without samples. (Its reset reached the agent
    // before this request: the kernel delivers it at once, and the agent ends
    // a session before it reads later messages.)
    const plain = await streamSnapshot(ws, 'HeapProfiler.stopTrackingHeapObjects', { reportProgress: false });
    assert.deepEqual(JSON.parse(plain.text).samples, [], 'no recording left running for the vanished client');
    assert.deepEqual((await ws.call('HeapProfiler.startTrackingHeapObjects', { trackAllocations: true })).result, {});
    await prog.command(SESSION_ROUNDS[1]);
    const update = await nextEvent(ws, 'HeapProfiler.heapStatsUpdate');
    assert.equal(update.params.statsUpdate[0], 0, 'a fresh recording starts at fragment 0');
    await nextEvent(ws, 'HeapProfiler.lastSeenObjectId');
    const snap = await streamSnapshot(ws, 'HeapProfiler.stopTrackingHeapObjects', { reportProgress: true });
    assert.deepEqual(snap.reply && snap.reply.result, {}, JSON.stringify(snap.reply || snap.closed));
    const doc = JSON.parse(snap.text);
    assert.ok(doc.snapshot.node_count > 100, 'a whole snapshot');
    t.diagnostic(`the next client's timeline snapshot: ${snap.chunks} chunks`);
    assert.ok(doc.samples.length > 0, 'with the recording\'s samples');
    assert.ok(doc.trace_tree.length > 0, 'and its stacks');
  } finally {
    await ws.close();
  }
  assert.deepEqual(childrenOf(prog.proc.pid), [], 'no snapshot child left');
  await prog.command(SESSION_ROUNDS[2]);
  assert.equal(await prog.finish(), await referenceChecksum(args), 'the program ran on unchanged');
}

test('reset while the ticks stream', async (t) => {
  const prog = startProgram({ lib: need('HS_AGENT_LIB'), env: TICK });
  t.after(() => prog.kill());
  const ep = await prog.endpoint();
  const quitter = await wsConnect({ port: ep.port, path: ep.path });
  assert.deepEqual((await quitter.call('HeapProfiler.startTrackingHeapObjects', { trackAllocations: true })).result, {});
  await prog.command(SESSION_ROUNDS[0]);
  await nextEvent(quitter, 'HeapProfiler.heapStatsUpdate');
  quitter.socket.resetAndDestroy();
  await quitter.closed;
  await healthyAfter(t, prog, ep, TARGET_ARGS);
});

test('reset while the timeline\'s snapshot streams', async (t) => {
  const prog = startProgram({ lib: need('HS_AGENT_LIB'), env: TICK, args: BIG });
  t.after(() => prog.kill());
  const ep = await prog.endpoint();
  const quitter = await wsConnect({ port: ep.port, path: ep.path });
  assert.deepEqual((await quitter.call('HeapProfiler.startTrackingHeapObjects', { trackAllocations: true })).result, {});
  await prog.command(SESSION_ROUNDS[0]);
  const snap = await streamSnapshot(quitter, 'HeapProfiler.stopTrackingHeapObjects', { reportProgress: true }, {
    onChunk: (n) => {
      if (n === 1) quitter.socket.resetAndDestroy();
    },
  });
  assert.ok(snap.closed && !snap.reply, `the client went away after its first chunk, before the reply: ${snap.chunks} chunks`);
  await healthyAfter(t, prog, ep, BIG);
});
