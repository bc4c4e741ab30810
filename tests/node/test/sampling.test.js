'use strict';
// Allocation sampling through the agent, checked with chrome-remote-interface
// against a program whose allocations are known exactly
// (tests/sampling/truth.c, HS_SAMPLING_TRUTH): every allocating function's
// estimated bytes must lie within a bound derived from the sampling
// statistics; freed blocks appear only as the GC-style flags say; the
// profile has V8's shape (spec §3) and node ids stay stable while sampling
// goes on. Agent only: node cannot run the C program.

const test = require('node:test');
const assert = require('node:assert/strict');
const CDP = require('chrome-remote-interface');
const config = require('../lib/config');
const { startTarget } = require('../lib/target');

const TRUTH = config.require(process.env.HS_SAMPLING_TRUTH, 'hs-sampling-truth (HS_SAMPLING_TRUTH)');
const YOUNG_MS = 50;
// Block size of each function in truth.c (the final size for the realloc one).
const SIZE = {
  alloc_small_live: 48,
  alloc_medium_live: 1500,
  alloc_large_live: 200000,
  alloc_calloc_live: 400,
  alloc_realloc_live: 2048,
  alloc_freed_young: 600,
  alloc_freed_old: 2500,
};
const LIVE = ['alloc_small_live', 'alloc_medium_live', 'alloc_large_live', 'alloc_calloc_live', 'alloc_realloc_live'];

async function start(t, env = {}) {
  const tg = await startTarget(t, {
    program: TRUTH,
    env: { HEAPSCOPE_YOUNG_MS: String(YOUNG_MS), HEAPSCOPE_SAMPLE_SEED: '12345', ...env },
  });
  const client = await CDP({ host: '127.0.0.1', port: tg.port });
  let closed = false;
  client.on('disconnect', () => (closed = true));
  tg.onCleanup(() => (closed ? undefined : client.close()));
  return { tg, client };
}

/* Every node of the tree, with its depth below the root. */
function nodes(profile) {
  const out = [];
  const walk = (n, depth, parent) => {
    out.push({ n, depth, parent });
    for (const c of n.children) walk(c, depth + 1, n);
  };
  walk(profile.head, 0, null);
  return out;
}

/* Estimated bytes per function name: the selfSize of its nodes. */
function bytesByFunction(profile) {
  const by = {};
  for (const { n } of nodes(profile)) by[n.callFrame.functionName] = (by[n.callFrame.functionName] || 0) + n.selfSize;
  return by;
}

/* V8's ScaleSample for one sample. */
function scale(size, rate) {
  return Math.trunc(1 / (1 - Math.exp(-size / rate)) + 0.5);
}

/*
 * N blocks of S bytes, each sampled with probability p = 1 - e^(-S/R): the
 * estimate S·k/p (k ~ Binomial(N, p)) has standard deviation
 * S·sqrt(N(1-p)/p). Allowed: 6 standard deviations (a false failure about
 * once in 10^9 checks) plus the rounding of ScaleSample (at most S per node).
 */
function assertEstimate(fn, estimate, truthBytes, rate, what) {
  const S = SIZE[fn];
  const N = truthBytes / S;
  const p = 1 - Math.exp(-S / rate);
  const sigma = S * Math.sqrt((N * (1 - p)) / p);
  const bound = 6 * sigma + 2 * S;
  assert.ok(
    Math.abs(estimate - truthBytes) <= bound,
    `${what}: ${fn} estimated ${estimate} bytes, truth ${truthBytes}, allowed ±${Math.round(bound)} (σ ${Math.round(sigma)})`
  );
}

/* The shape V8 gives (spec §3.4–3.5): root, ids, callFrames, samples. */
function assertShape(profile, rate) {
  assert.deepEqual(Object.keys(profile).sort(), ['head', 'samples']);
  const all = nodes(profile);
  const root = profile.head;
  assert.deepEqual(root.callFrame, { functionName: '(root)', scriptId: '0', url: '', lineNumber: -1, columnNumber: -1 });
  assert.equal(root.id, 1);
  const ids = new Set();
  for (const { n } of all) {
    assert.deepEqual(Object.keys(n), ['callFrame', 'selfSize', 'id', 'children']);
    assert.deepEqual(Object.keys(n.callFrame), ['functionName', 'scriptId', 'url', 'lineNumber', 'columnNumber']);
    assert.equal(typeof n.callFrame.scriptId, 'string');
    assert.ok(Number.isInteger(n.callFrame.lineNumber) && n.callFrame.lineNumber >= -1);
    assert.ok(!ids.has(n.id), `node id ${n.id} twice`);
    ids.add(n.id);
    if (n !== root) assert.ok(n.selfSize > 0 || n.children.length > 0, `empty node ${n.callFrame.functionName} kept`);
  }
  const ordinals = new Set();
  for (const s of profile.samples) {
    assert.deepEqual(Object.keys(s), ['size', 'nodeId', 'ordinal']);
    assert.ok(ids.has(s.nodeId), `sample of unknown node ${s.nodeId}`);
    assert.ok(!ordinals.has(s.ordinal), `ordinal ${s.ordinal} twice`);
    ordinals.add(s.ordinal);
  }
  // A node's selfSize is Σ size·round(n·scale) over its samples' raw sizes: with
  // one known raw size per function, the samples' sizes are S·round(scale(S)).
  const byId = new Map(all.map(({ n }) => [n.id, n]));
  for (const s of profile.samples) {
    const fn = byId.get(s.nodeId).callFrame.functionName;
    if (SIZE[fn] && fn !== 'alloc_realloc_live') assert.equal(s.size, SIZE[fn] * scale(SIZE[fn], rate), `sample of ${fn}`);
  }
}

for (const rate of [4096, 32768, 262144]) {
  test(`live bytes per function within the statistical bound at interval ${rate}`, async (t) => {
    const { tg, client } = await start(t);
    assert.deepEqual(await client.HeapProfiler.startSampling({ samplingInterval: rate }), {});
    const truth = JSON.parse(await tg.command('run'));
    const { profile } = await client.HeapProfiler.getSamplingProfile();
    assertShape(profile, rate);
    const est = bytesByFunction(profile);
    for (const fn of LIVE) {
      assert.ok(truth[fn].live > 0);
      assertEstimate(fn, est[fn] || 0, truth[fn].live, rate, `interval ${rate}`);
    }
    // Freed blocks are not in a default profile, and neither are their functions.
    assert.equal(est.alloc_freed_young, undefined, 'a function whose blocks were all freed is gone');
    assert.equal(est.alloc_freed_old, undefined);
    // Stacks reach into the program: the allocating function's caller is worker.
    const worker = nodes(profile).filter(({ n }) => n.callFrame.functionName === 'worker');
    assert.ok(worker.length >= 1, 'worker() is a node');
    assert.ok(worker.some(({ n }) => n.children.some((c) => LIVE.includes(c.callFrame.functionName))));

    // Sampling goes on; the nodes that still have samples keep their ids.
    const { profile: again } = await client.HeapProfiler.stopSampling();
    const idOf = (p) => new Map(nodes(p).map(({ n, parent }) => [`${parent ? parent.id : 0}/${n.callFrame.functionName}`, n.id]));
    const before = idOf(profile);
    for (const [k, id] of idOf(again)) if (before.has(k)) assert.equal(id, before.get(k), `node ${k} kept its id`);
    await assert.rejects(client.HeapProfiler.getSamplingProfile(), /V8 sampling heap profiler was not started\./);
    assert.equal(await tg.command('free'), 'freed');
  });
}

test('freed blocks: minor keeps the short-lived, major keeps all', async (t) => {
  const rate = 8192;
  const { tg, client } = await start(t);

  await client.HeapProfiler.startSampling({ samplingInterval: rate, includeObjectsCollectedByMinorGC: true });
  let truth = JSON.parse(await tg.command('run'));
  let est = bytesByFunction((await client.HeapProfiler.stopSampling()).profile);
  assertEstimate('alloc_freed_young', est.alloc_freed_young || 0, truth.alloc_freed_young.young, rate, 'minor');
  assert.equal(est.alloc_freed_old, undefined, `blocks older than ${YOUNG_MS} ms are not short-lived: ${JSON.stringify(est)}`);
  assert.equal(await tg.command('free'), 'freed');

  await client.HeapProfiler.startSampling({ samplingInterval: rate, includeObjectsCollectedByMajorGC: true });
  truth = JSON.parse(await tg.command('run'));
  est = bytesByFunction((await client.HeapProfiler.stopSampling()).profile);
  assertEstimate('alloc_freed_young', est.alloc_freed_young || 0, truth.alloc_freed_young.young, rate, 'major');
  assertEstimate('alloc_freed_old', est.alloc_freed_old || 0, truth.alloc_freed_old.old, rate, 'major');
  for (const fn of ['alloc_small_live', 'alloc_large_live']) assertEstimate(fn, est[fn] || 0, truth[fn].live, rate, 'major');
  assert.equal(await tg.command('free'), 'freed');

  // Freeing a sampled block removes its sample from a default profile.
  await client.HeapProfiler.startSampling({ samplingInterval: rate });
  await tg.command('run');
  assert.ok(bytesByFunction((await client.HeapProfiler.getSamplingProfile()).profile).alloc_large_live > 0);
  assert.equal(await tg.command('free'), 'freed');
  const after = bytesByFunction((await client.HeapProfiler.stopSampling()).profile);
  for (const fn of LIVE) assert.equal(after[fn], undefined, `${fn} after its blocks were freed`);
});

test('a second startSampling keeps the running interval; stackDepth truncates the outermost frames', async (t) => {
  const { tg, client } = await start(t);
  await client.HeapProfiler.startSampling({ samplingInterval: 32768, stackDepth: 2 });
  assert.deepEqual(await client.HeapProfiler.startSampling({ samplingInterval: 1 }), {});
  await tg.command('run');
  const { profile } = await client.HeapProfiler.stopSampling();
  const all = nodes(profile);
  // Two frames kept: root → caller (worker) → the allocating function.
  assert.ok(Math.max(...all.map((x) => x.depth)) <= 2, 'no path longer than stackDepth');
  const leaves = all.filter(({ n }) => n.selfSize > 0).map(({ n, parent }) => [parent.callFrame.functionName, n.callFrame.functionName]);
  assert.ok(leaves.some(([p, f]) => p === 'worker' && f === 'alloc_small_live'), JSON.stringify(leaves.slice(0, 10)));
  // Interval 32768 still applies: a 1500-byte sample stands for round(1/(1-e^(-1500/32768))) blocks.
  const byId = new Map(all.map(({ n }) => [n.id, n]));
  const med = profile.samples.filter((s) => byId.get(s.nodeId).callFrame.functionName === 'alloc_medium_live');
  assert.ok(med.length > 0);
  for (const s of med) assert.equal(s.size, 1500 * scale(1500, 32768));
  // A new start begins again at node id 1 and ordinal 1.
  await client.HeapProfiler.startSampling({ samplingInterval: 4096 });
  await tg.command('free');
  await tg.command('run');
  const p2 = (await client.HeapProfiler.stopSampling()).profile;
  assert.equal(Math.min(...p2.samples.map((s) => s.ordinal)) <= 3, true, 'ordinals restart');
  assert.ok(Math.max(...nodes(p2).map(({ n }) => n.id)) < 200, 'node ids restart');
});

test('HEAPSCOPE_MODE=sample: sampling works without the registry; snapshot commands say why they cannot', async (t) => {
  const { tg, client } = await start(t, { HEAPSCOPE_MODE: 'sample' });
  await client.HeapProfiler.startSampling({ samplingInterval: 16384 });
  const truth = JSON.parse(await tg.command('run'));
  const { profile } = await client.HeapProfiler.stopSampling();
  assertShape(profile, 16384);
  const est = bytesByFunction(profile);
  for (const fn of LIVE) assertEstimate(fn, est[fn] || 0, truth[fn].live, 16384, 'sample mode');
  // No registry, yet the heap's use is known (from the allocator): the live blocks are in it.
  const liveTotal = LIVE.reduce((a, fn) => a + truth[fn].live, 0);
  const usage = await client.Runtime.getHeapUsage();
  assert.ok(usage.usedSize >= liveTotal, `usedSize ${usage.usedSize} covers the ${liveTotal} live bytes`);
  await assert.rejects(
    client.HeapProfiler.takeHeapSnapshot({ reportProgress: false }),
    /needs the live-block registry, which is off in sampling-only mode \(HEAPSCOPE_MODE=sample\)/
  );
});
