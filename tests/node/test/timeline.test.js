'use strict';
// The allocation timeline through the agent (issue 6), checked against a
// program that allocates in known phases on command (tests/timeline/phases.c,
// HS_TIMELINE_PHASES): a kept burst, a freed burst, a trickle of leaks, then
// frees and a realloc of the kept blocks. Every phase runs between two ticks
// the test has seen (a lastSeenObjectId event), so the fragments closed in
// between must hold exactly that phase's live blocks and bytes. Then the
// snapshot of stopTrackingHeapObjects: its samples are the ticks, its trace
// tree attributes each burst to its function and stack, memlab reads it.
// Agent only: node cannot run the C program (its own timeline is in
// tests/client and the browser tests).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const CDP = require('chrome-remote-interface');
const config = require('../lib/config');
const { startTarget, withTimeout } = require('../lib/target');
const { streamSnapshot, chunksOf, parseSnapshot, siteFunction, traceNodes, memlabLoad } = require('../lib/heapsnapshot');

const PHASES = config.require(
  path.resolve(process.env.HS_TIMELINE_PHASES || path.join(config.repo, 'build', 'bin', 'hs-timeline-phases')),
  'hs-timeline-phases (HS_TIMELINE_PHASES)'
);
const TICK_WAIT_MS = 5000;

/* The recording as the client sees it: every event in order, and per fragment the last triplet. */
class Recording {
  constructor(client) {
    this.events = [];
    this.frag = new Map(); // index -> {count, size}
    this.ticks = []; // lastSeenObjectId events: {id, ts, at: events.length}
    this.waiters = [];
    client.on('HeapProfiler.heapStatsUpdate', (p) => {
      this.events.push({ kind: 'update', u: p.statsUpdate });
      for (let i = 0; i < p.statsUpdate.length; i += 3) this.frag.set(p.statsUpdate[i], { count: p.statsUpdate[i + 1], size: p.statsUpdate[i + 2] });
    });
    client.on('HeapProfiler.lastSeenObjectId', (p) => {
      this.events.push({ kind: 'tick', id: p.lastSeenObjectId, ts: p.timestamp });
      this.ticks.push({ id: p.lastSeenObjectId, ts: p.timestamp });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /* Resolves with the index of the next tick after now. */
  nextTick() {
    const want = this.ticks.length;
    return withTimeout(
      new Promise((resolve) => {
        const check = () => (this.ticks.length > want ? resolve(want) : this.waiters.push(check));
        check();
      }),
      TICK_WAIT_MS,
      'a lastSeenObjectId event'
    );
  }

  /* Live blocks and bytes of fragments (a, b]: those closed by ticks a+1 .. b. */
  live(a, b) {
    let count = 0;
    let size = 0;
    for (let k = a + 1; k <= b; k++) {
      const f = this.frag.get(k);
      if (f) {
        count += f.count;
        size += f.size;
      }
    }
    return { count, size };
  }
}

async function start(t, trackAllocations, env = {}) {
  const tg = await startTarget(t, { program: PHASES, env });
  assert.equal(await tg.command('ping'), 'pong'); // stdio's buffers exist from now on
  const client = await CDP({ host: '127.0.0.1', port: tg.port });
  let closed = false;
  client.on('disconnect', () => (closed = true));
  tg.onCleanup(() => (closed ? undefined : client.close()));
  const rec = new Recording(client);
  assert.deepEqual(await client.HeapProfiler.startTrackingHeapObjects({ trackAllocations }), {});
  return { tg, client, rec };
}

/* Runs cmd between two ticks: returns the ticks (a, b) such that fragments (a, b] hold its blocks. */
async function phase(rec, tg, cmd, answer) {
  const a = await rec.nextTick();
  assert.equal(await tg.command(cmd), answer);
  const b = await rec.nextTick();
  return [a, b];
}

async function stopAndRead(client, params = { reportProgress: true }) {
  const log = await streamSnapshot(client, 'HeapProfiler.stopTrackingHeapObjects', params);
  return { log, text: chunksOf(log).join('') };
}

const PLAN = { keep: [2000, 48], churn: [3000, 64], leak: [10, 32], leakRounds: 4, drop: 500 };

test('fragments hold each phase\'s live blocks and bytes; the snapshot\'s samples and trace tree match', async (t) => {
  const { tg, client, rec } = await start(t, true);
  const [k0, k1] = await phase(rec, tg, `keep ${PLAN.keep.join(' ')}`, `kept ${PLAN.keep[0]}`);
  assert.deepEqual(rec.live(k0, k1), { count: PLAN.keep[0], size: PLAN.keep[0] * PLAN.keep[1] }, 'the kept burst');
  const [c0, c1] = await phase(rec, tg, `churn ${PLAN.churn.join(' ')}`, `churned ${PLAN.churn[0]}`);
  assert.deepEqual(rec.live(c0, c1), { count: 0, size: 0 }, 'the freed burst: nothing of it is live');
  const leaks = [];
  for (let r = 0; r < PLAN.leakRounds; r++) {
    const [l0, l1] = await phase(rec, tg, `leak ${PLAN.leak.join(' ')}`, `leaked ${PLAN.leak[0]}`);
    assert.deepEqual(rec.live(l0, l1), { count: PLAN.leak[0], size: PLAN.leak[0] * PLAN.leak[1] }, `leak round ${r}`);
    leaks.push([l0, l1]);
  }
  // Frees and reallocs of old blocks change the old fragments, and only them.
  const [, d1] = await phase(rec, tg, `drop ${PLAN.drop}`, `dropped ${PLAN.drop}`);
  const keptNow = PLAN.keep[0] - PLAN.drop;
  assert.deepEqual(rec.live(k0, k1), { count: keptNow, size: keptNow * PLAN.keep[1] }, 'the kept burst after the drop');
  assert.deepEqual(rec.live(c1, d1).count, PLAN.leak[0] * PLAN.leakRounds, 'nothing new since the leaks');
  await phase(rec, tg, 'grow', `grown ${keptNow}`);
  assert.deepEqual(rec.live(k0, k1), { count: keptNow, size: keptNow * 2 * PLAN.keep[1] }, 'the kept burst after realloc: same blocks, twice the bytes');
  // Fragment 0 is everything alive at the start (stdio's buffers): it never changed.
  const f0 = rec.frag.get(0);
  assert.ok(f0 && f0.count > 0, `fragment 0: ${JSON.stringify(f0)}`);

  const ticksBefore = rec.ticks.length;
  const { log, text } = await stopAndRead(client);
  // A final update and lastSeenObjectId come before the snapshot's first event.
  assert.equal(rec.ticks.length, ticksBefore + 1, 'one last tick at stop');

  // The event stream: triplets only for changes, fragments no newer than the tick that follows.
  const lastSent = new Map();
  let ticksSeen = 0;
  for (const e of rec.events) {
    if (e.kind === 'tick') {
      ticksSeen++;
      continue;
    }
    assert.ok(e.u.length > 0 && e.u.length % 3 === 0 && e.u.length <= 3 * 1024, `update of ${e.u.length} numbers`);
    for (let i = 0; i < e.u.length; i += 3) {
      const [k, n, sz] = e.u.slice(i, i + 3);
      assert.ok(k <= ticksSeen, `fragment ${k} sent before tick ${k} (${ticksSeen} ticks seen)`);
      assert.ok(n >= 0 && sz >= 0 && Number.isInteger(n) && Number.isInteger(sz));
      assert.notDeepEqual(lastSent.get(k), [n, sz], `fragment ${k} sent again unchanged`);
      lastSent.set(k, [n, sz]);
    }
  }
  for (let i = 1; i < rec.ticks.length; i++) {
    assert.ok(rec.ticks[i].id >= rec.ticks[i - 1].id, 'lastSeenObjectId never goes back');
    assert.ok(rec.ticks[i].ts > rec.ticks[i - 1].ts, 'timestamps increase');
    assert.equal(rec.ticks[i].id % 2, 1, 'ids are odd');
  }
  assert.ok(Math.abs(rec.ticks[0].ts - Date.now()) < 60000, 'timestamps are wall-clock milliseconds');

  // The stream: progress with finished:true before the first chunk, the reply last.
  const kinds = log.map((e) => e.kind);
  assert.equal(kinds[kinds.length - 1], 'reply');
  const finished = log.findIndex((e) => e.kind === 'progress' && e.p.finished);
  assert.ok(finished >= 0 && finished < kinds.indexOf('chunk'), 'finished:true before the chunks');

  // samples: one [µs since the first tick, last id] pair per tick, the ids those of the events.
  const s = JSON.parse(text);
  assert.deepEqual(s.snapshot.meta.sample_fields, ['timestamp_us', 'last_assigned_id']);
  assert.equal(s.samples.length, 2 * rec.ticks.length, 'a sample per lastSeenObjectId');
  for (let i = 0; i < rec.ticks.length; i++) {
    assert.equal(s.samples[2 * i + 1], rec.ticks[i].id, `sample ${i}: the tick's id`);
    const dtUs = (rec.ticks[i].ts - rec.ticks[0].ts) * 1000;
    assert.ok(Math.abs(s.samples[2 * i] - dtUs) < 20000, `sample ${i}: ${s.samples[2 * i]} µs, events say ${dtUs}`);
  }
  assert.equal(s.samples[0], 0);

  // The snapshot's blocks, by the id ranges of the ticks: each phase's blocks in its fragments.
  const snap = parseSnapshot(text);
  const inRange = (n, a, b) => n.id > rec.ticks[a].id && n.id <= rec.ticks[b].id;
  const natives = snap.nodes.filter((n) => n.type === 'native');
  const keptBlocks = natives.filter((n) => inRange(n, k0, k1));
  assert.equal(keptBlocks.length, keptNow);
  assert.ok(keptBlocks.every((n) => siteFunction(n.name) === 'burst_keep' && n.self === 2 * PLAN.keep[1]));
  assert.equal(natives.filter((n) => inRange(n, c0, c1)).length, 0, 'no block of the freed burst');
  const leakedBlocks = [];
  for (const [l0, l1] of leaks) {
    const ls = natives.filter((n) => inRange(n, l0, l1));
    assert.equal(ls.length, PLAN.leak[0]);
    assert.ok(ls.every((n) => siteFunction(n.name) === 'trickle_leak'));
    leakedBlocks.push(...ls);
  }

  // Unreachable: detachedness 2. The scan is conservative, so a stale copy of
  // the last pointer (a register, a dead stack slot) may still hold one.
  const reachable = leakedBlocks.filter((n) => n.det !== 2);
  assert.ok(reachable.length <= 1, `leaked blocks still reachable: ${reachable.map((n) => n.retainers.map((r) => r.from.name)).join(' | ')}`);

  // The trace tree: every allocation since the start, freed ones included, under its function and stack.
  const nodes = traceNodes(s);
  const fields = s.snapshot.meta.node_fields;
  assert.deepEqual(fields, ['type', 'name', 'id', 'self_size', 'edge_count', 'trace_node_id', 'detachedness']);
  const byLeaf = (fn) => [...nodes.values()].filter((n) => n.path[n.path.length - 1] === fn);
  const one = (fn) => {
    const ns = byLeaf(fn);
    assert.equal(ns.length, 1, `${fn}: ${ns.map((n) => n.path.join(' > ')).join(' | ')}`);
    assert.ok(ns[0].path.includes('main'), `${fn} is called from main: ${ns[0].path.join(' > ')}`);
    return ns[0];
  };
  assert.deepEqual([one('burst_keep').count, one('burst_keep').size], [PLAN.keep[0], PLAN.keep[0] * PLAN.keep[1]]);
  assert.deepEqual([one('burst_free').count, one('burst_free').size], [PLAN.churn[0], PLAN.churn[0] * PLAN.churn[1]]);
  const leakCount = PLAN.leak[0] * PLAN.leakRounds;
  assert.deepEqual([one('trickle_leak').count, one('trickle_leak').size], [leakCount, leakCount * PLAN.leak[1]]);
  // A realloc keeps the block, its id and its allocation stack (V8 keeps an
  // object's trace): no node for grow.
  assert.equal(byLeaf('grow').length, 0);
  // Each live block points at the node of its allocation.
  const traceIdx = fields.indexOf('trace_node_id');
  const leafOf = (n) => {
    const tn = nodes.get(s.nodes[n.index * fields.length + traceIdx]);
    return tn && tn.path[tn.path.length - 1];
  };
  for (const n of keptBlocks) assert.equal(leafOf(n), 'burst_keep', `kept block #${n.id}`);
  for (const n of leakedBlocks) assert.equal(leafOf(n), 'trickle_leak', `leaked block #${n.id}`);

  // The file loads in memlab.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-timeline-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'phases.heaptimeline');
  fs.writeFileSync(file, text);
  const heap = await memlabLoad(file);
  assert.equal(heap.nodes.length, snap.nodes.length);
  let memlabKept = 0;
  heap.nodes.forEach((m) => {
    if (m.id > rec.ticks[k0].id && m.id <= rec.ticks[k1].id) memlabKept++;
  });
  assert.equal(memlabKept, keptNow, 'memlab sees the kept burst by id');

  // Tracking has stopped: no tick comes any more, and a new stop has no samples.
  const { text: again } = await stopAndRead(client, { reportProgress: false });
  assert.deepEqual(JSON.parse(again).samples, []);
  const n = rec.ticks.length;
  await tg.command('ping');
  await client.HeapProfiler.collectGarbage();
  assert.equal(rec.ticks.length, n, 'no lastSeenObjectId after the stop');
  const { checksum } = await tg.finish();
  assert.match(checksum, /^\d+$/);
});

test('without trackAllocations: six node fields, no trace, the samples all the same', async (t) => {
  const { tg, client, rec } = await start(t, false);
  const [k0, k1] = await phase(rec, tg, 'keep 100 24', 'kept 100');
  assert.deepEqual(rec.live(k0, k1), { count: 100, size: 2400 });
  const { text } = await stopAndRead(client, { reportProgress: false });
  const s = JSON.parse(text);
  assert.deepEqual(s.snapshot.meta.node_fields, ['type', 'name', 'id', 'self_size', 'edge_count', 'detachedness']);
  assert.equal(s.snapshot.trace_function_count, 0);
  assert.deepEqual(s.trace_tree, []);
  assert.equal(s.samples.length, 2 * rec.ticks.length);
});

test('a second start joins with stacks; disable stops the timeline; a closed session stops it too', async (t) => {
  const { tg, client, rec } = await start(t, false);
  assert.deepEqual(await client.HeapProfiler.startTrackingHeapObjects({ trackAllocations: true }), {});
  await phase(rec, tg, 'keep 10 16', 'kept 10');
  assert.deepEqual(await client.HeapProfiler.disable(), {});
  const n = rec.ticks.length;
  await tg.command('keep 1 8');
  // A fence: a snapshot takes longer than a tick period, and any tick sent before it arrives first.
  const { text } = await stopAndRead(client, { reportProgress: false });
  assert.equal(rec.ticks.length, n, 'no tick after disable');
  assert.deepEqual(JSON.parse(text).samples, [], 'disable ended the recording');

  // A second client starts, then goes away: its timeline ends with it.
  const other = await CDP({ host: '127.0.0.1', port: tg.port });
  const rec2 = new Recording(other);
  await other.HeapProfiler.startTrackingHeapObjects({});
  await rec2.nextTick();
  await other.close();
  const { text: after } = await stopAndRead(client, { reportProgress: false });
  assert.deepEqual(JSON.parse(after).samples, [], 'the closed session\'s timeline ended with it');
  await tg.finish();
});

test('HEAPSCOPE_TRACK=stacks records from load; a client\'s start begins afresh at fragment 0', async (t) => {
  const tg = await startTarget(t, { program: PHASES, env: { HEAPSCOPE_TRACK: 'stacks' } });
  assert.equal(await tg.command('keep 50 16'), 'kept 50');
  const client = await CDP({ host: '127.0.0.1', port: tg.port });
  tg.onCleanup(() => client.close());
  const rec = new Recording(client);
  await client.HeapProfiler.startTrackingHeapObjects({ trackAllocations: false });
  await rec.nextTick();
  const first = rec.events.find((e) => e.kind === 'update');
  assert.equal(first.u[0], 0, 'the first update is fragment 0');
  assert.ok(first.u[1] >= 50, 'fragment 0 holds the blocks from before the start');
  const { text } = await stopAndRead(client, { reportProgress: false });
  const s = JSON.parse(text);
  assert.equal(s.samples.length, 2 * rec.ticks.length, 'samples count from the client\'s start');
  // The client's recording is the client's: it asked for no stacks.
  assert.equal(s.snapshot.trace_function_count, 0);
});

test('more than 1024 fragments changing at one tick: heapStatsUpdates of 1024 triplets at most, all before its lastSeenObjectId', async (t) => {
  // A 2 ms tick (HEAPSCOPE_TRACK_PERIOD_MS) so that 1100 fragments take a second or two.
  const N = 1100;
  const { tg, client, rec } = await start(t, false, { HEAPSCOPE_TRACK_PERIOD_MS: '2' });
  // One kept block per fragment: a block, then a tick, N times.
  const first = await rec.nextTick();
  for (let i = 0; i < N; i++) {
    assert.equal(await tg.command('keep 1 16'), 'kept 1');
    await rec.nextTick();
  }
  const owning = [...rec.frag.entries()].filter(([k, f]) => k > first && f.count === 1);
  assert.ok(owning.length >= N * 0.9, `${owning.length} fragments hold one block each`);
  // Free them all at once: every one of those fragments changes at the next tick.
  const before = rec.events.length;
  assert.equal(await tg.command(`drop ${N}`), `dropped ${N}`);
  await rec.nextTick();
  await rec.nextTick(); // the drop may straddle a tick: the one after it certainly saw all of it
  const after = rec.events.slice(before);
  let run = [];
  let split = null;
  for (const e of after) {
    if (e.kind === 'update') {
      run.push(e.u.length / 3);
      continue;
    }
    if (run.reduce((a, b) => a + b, 0) > 1024) split = run;
    run = [];
  }
  assert.ok(split, `a tick with more than 1024 changed fragments: ${JSON.stringify(after.map((e) => (e.kind === 'update' ? e.u.length / 3 : 'tick')))}`);
  assert.ok(split.every((n) => n <= 1024) && split.length >= 2, `split into ${JSON.stringify(split)}`);
  assert.ok(split.slice(0, -1).every((n) => n === 1024), 'every event but the last is full');
  for (const [k] of owning) assert.equal(rec.frag.get(k).count, 0, `fragment ${k} is empty after the drop`);
  await stopAndRead(client, { reportProgress: false });
  await tg.finish();
});

test('sampling-only mode: tracking needs the registry', async (t) => {
  const tg = await startTarget(t, { program: PHASES, env: { HEAPSCOPE_MODE: 'sample' } });
  const client = await CDP({ host: '127.0.0.1', port: tg.port });
  tg.onCleanup(() => client.close());
  for (const m of ['startTrackingHeapObjects', 'stopTrackingHeapObjects']) {
    await assert.rejects(client.send(`HeapProfiler.${m}`, {}), (e) => {
      assert.match(e.response.message, new RegExp(`^HeapProfiler.${m} needs the live-block registry`));
      assert.equal(e.response.code, -32000);
      return true;
    });
  }
});
