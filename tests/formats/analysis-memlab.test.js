'use strict';
// hs_analyze (src/formats/analysis.c, through tests/formats/hs_analyze_dump)
// against memlab (@memlab/core's TraceFinder), node for node, on a snapshot
// from node --inspect and one from the agent.
//
// memlab runs the same Lengauer–Tarjan as DevTools (TraceFinder
// computeDominatorsAndRetainedSizes), but feeds it with rules that differ
// from DevTools' (FE HeapSnapshot.ts, spec §4.4) in three documented ways:
//  1. Page-owned flags: memlab's flagReachableNodesFromWindow floods from the
//     root's children EXCEPT its shortcut edges and (Document DOM trees);
//     DevTools' markPageOwnedNodes floods from exactly those. (Inverted: on a
//     node snapshot memlab marks everything under (GC roots), DevTools what
//     the global object reaches.) The flags decide which edges are essential.
//  2. Self sizes: memlab uses the file's self_size; DevTools first moves the
//     sizes of hidden/array nodes with a single owner onto the owner when
//     the snapshot has user roots (calculateShallowSizes).
//  3. Unreached nodes: memlab's hasOnlyWeakReferrers looks at edge types
//     (every retainer weak or shortcut); DevTools' hasOnlyWeakRetainers asks
//     whether any retainer edge is essential. memlab also lacks DevTools'
//     rule that a WeakMap table's ephemeron edge is not essential.
// heapscope follows DevTools (the issue: the numbers must agree with
// DevTools on the same file). So the test runs memlab's own Lengauer–Tarjan
// with DevTools' inputs: DevTools' flags (computed here), DevTools' self
// sizes (computed here, independently of the C code, and compared with
// ours), DevTools' orphan rule, and ephemeron table edges made weak, and
// requires every node's dominator and retained size to equal memlab's
// result. memlab's unmodified run is compared too and its differences
// counted and reported; where there are none (the agent's snapshot: no user
// roots, nothing page-owned for DevTools) they must agree exactly.
// Distances, which memlab does not compute DevTools' way, are compared with
// a transcription of DevTools' calculateDistances (devtoolsDistances).

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');

const modules = process.env.NODE_PATH || path.join(__dirname, '../node/node_modules');
const memlab = require(path.join(modules, '@memlab/core'));

memlab.config.muteConsole = true;
memlab.config.errorHandling = memlab.ErrorHandling.Throw;

const DUMP = process.env.HS_ANALYZE_DUMP;
const SHARED = process.env.HS_SHARED_DIR || path.join(__dirname, '../../../shared');
const os = require('node:os');

// The directories this test made (and only those) are removed when it ends:
// a file's own directory is never removed just for being under /tmp, where a
// checkout (and ../shared beside it, maybe a symbolic link to the real one)
// may well live.
const madeDirs = new Set();

// hs-known-heap's snapshot at exit (2 MB, so made here rather than committed).
function knownHeapSnapshot() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-analysis-'));
  madeDirs.add(dir);
  const file = path.join(dir, 'known-heap.heapsnapshot');
  assert.ok(process.env.HS_KNOWN_HEAP && process.env.HS_AGENT_LIB, 'HS_KNOWN_HEAP and HS_AGENT_LIB are set by ctest');
  execFileSync(process.env.HS_KNOWN_HEAP, [], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env, LD_PRELOAD: process.env.HS_AGENT_LIB, HEAPSCOPE_LISTEN: 'off',
      HEAPSCOPE_SNAPSHOT_AT_EXIT: '1', HEAPSCOPE_SNAPSHOT_OUT: file,
    },
  });
  return file;
}

// A node heap with WeakMaps (ephemeron edges, which the golden snapshot has
// none of), WeakSets and WeakRefs, written by v8.writeHeapSnapshot.
function nodeWeakMapSnapshot() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-analysis-'));
  madeDirs.add(dir);
  const file = path.join(dir, 'node-weakmaps.heapsnapshot');
  const program = `
    const wm = new WeakMap(), keys = []; globalThis.keep = keys;
    for (let i = 0; i < 500; i++) { const k = { i }; keys.push(k); wm.set(k, { v: new Array(i % 7).fill(i) }); }
    const lost = new WeakMap(); for (let i = 0; i < 50; i++) lost.set(keys[i], { only: i });
    globalThis.wm = wm; globalThis.ws = new WeakSet(keys.slice(0, 10)); globalThis.wr = new WeakRef(keys[3]);
    require('v8').writeHeapSnapshot(${JSON.stringify(file)});`;
  execFileSync(process.execPath, ['-e', program], { stdio: 'inherit' });
  return file;
}

const FILES = [
  ['node --inspect', () => path.join(SHARED, 'golden/v8-node20/snapshot-stopTracking.heapsnapshot')],
  ['node, WeakMaps', nodeWeakMapSnapshot],
  // hs-example-leaky under the agent (HEAPSCOPE_SNAPSHOT_AT_EXIT=1), committed.
  ['agent, hs-example-leaky', () => path.join(__dirname, 'data/analysis/agent-leaky.heapsnapshot')],
  ['agent, hs-known-heap', knownHeapSnapshot],
];

// hs_analyze_dump's lines, and its summary (stderr).
function ours(file) {
  const r = require('node:child_process').spawnSync(DUMP, [file], { maxBuffer: 1 << 30, encoding: 'utf8' });
  assert.equal(r.status, 0, `hs_analyze_dump ${file}: ${r.stderr}`);
  const nodes = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  nodes.summary = r.stderr.trim();
  return nodes;
}

const EPHEMERON = /^\d+(?<dup> \/ part of key \(.*? @\d+\) -> value \(.*? @\d+\) pair in WeakMap \(table @(?<table>\d+)\))$/;

// The graph as flat arrays from memlab's parse (memlab's own node order is
// the file's).
function graphOf(heap) {
  const n = heap.nodes.length;
  const type = new Array(n), name = new Array(n), id = new Uint32Array(n), self = new Float64Array(n);
  const out = [];
  for (let i = 0; i < n; i++) {
    const node = heap.nodes.get(i);
    type[i] = node.type;
    name[i] = node.name;
    id[i] = node.id;
    self[i] = node.self_size;
    const edges = [];
    for (const e of node.references) edges.push({ type: e.type, to: e.toNode.nodeIndex, name: e.name_or_index, edgeIndex: e.edgeIndex });
    out.push(edges);
  }
  return { n, type, name, id, self, out };
}

const isDomTrees = (g, v) => g.type[v] === 'synthetic' && g.name[v] === '(Document DOM trees)';
const isUserRoot = (g, v) => g.type[v] !== 'synthetic' || isDomTrees(g, v);

// DevTools' markPageOwnedNodes.
function pageOwned(g) {
  const flags = new Uint32Array(g.n);
  const stack = [];
  for (const e of g.out[0]) {
    if (e.type === 'element') { if (!isDomTrees(g, e.to)) continue; } else if (e.type !== 'shortcut') continue;
    stack.push(e.to);
    flags[e.to] = 1;
  }
  while (stack.length) {
    const v = stack.pop();
    for (const e of g.out[v]) {
      if (flags[e.to] || e.type === 'weak') continue;
      flags[e.to] = 1;
      stack.push(e.to);
    }
  }
  return flags;
}

const isTableEdge = (g, v, e) => {
  if (e.type !== 'internal' || typeof e.name !== 'string') return false;
  const m = EPHEMERON.exec(e.name);
  return Boolean(m) && Number(m.groups.table) === g.id[v];
};

// DevTools' computeIsEssentialEdge.
function essential(g, flags, v, e) {
  if (isTableEdge(g, v, e)) return false;
  if (e.type === 'weak') return false;
  if (v === e.to) return false;
  if (v !== 0) {
    if (e.type === 'shortcut') return false;
    if (flags[e.to] && !flags[v]) return false;
  }
  return true;
}

// DevTools' calculateShallowSizes.
function shallowSizes(g) {
  const self = Float64Array.from(g.self);
  if (!g.out[0].some((e) => isUserRoot(g, e.to))) return self;
  const UNVISITED = 0xffffffff, MULTIPLE = 0xfffffffe;
  const owners = new Uint32Array(g.n);
  const work = [];
  for (let i = 0; i < g.n; i++) {
    if (g.type[i] === 'hidden' || g.type[i] === 'array') owners[i] = UNVISITED;
    else { owners[i] = i; work.push(i); }
  }
  while (work.length) {
    const v = work.pop();
    const owner = owners[v];
    for (const e of g.out[v]) {
      if (e.type === 'weak') continue;
      const t = e.to, o = owners[t];
      if (o === UNVISITED) { owners[t] = owner; work.push(t); }
      else if (o !== t && o !== owner && o !== MULTIPLE) { owners[t] = MULTIPLE; work.push(t); }
    }
  }
  for (let i = 0; i < g.n; i++) {
    const o = owners[i];
    if (o === UNVISITED || o === MULTIPLE || o === i) continue;
    if (g.type[o] === 'synthetic' || o === 0) continue;
    self[o] += self[i];
    self[i] = 0;
  }
  return self;
}

function compare(label, g, mine, dominators, retained) {
  let domDiff = 0, retDiff = 0;
  const examples = [];
  for (let i = 0; i < g.n; i++) {
    const d = g.id[dominators[i]];
    const dBad = mine[i].dominator !== d, rBad = mine[i].retained !== retained[i];
    if (dBad) domDiff++;
    if (rBad) retDiff++;
    if ((dBad || rBad) && examples.length < 5) {
      examples.push(`@${g.id[i]} ${g.type[i]} ${JSON.stringify(g.name[i]).slice(0, 40)}: ours dom @${mine[i].dominator} ret ${mine[i].retained}, ${label} dom @${d} ret ${retained[i]}`);
    }
  }
  return { domDiff, retDiff, examples };
}

// DevTools' distances (HeapSnapshot.calculateDistances with JSHeapSnapshot's
// filter): BFS from the user roots at 1, then from the root at 10^8 when
// there are user roots (else 0); weak edges never followed; the JS skips
// (sloppy_function_map of a NativeContext, descriptor links of
// (map descriptors), the first edge of each WeakMap ephemeron pair met).
// memlab computes no such distances, so this transcription of DevTools'
// rules is the reference for ours.
function devtoolsDistances(g) {
  const NONE = -5, BASE = 100000000;
  const dist = new Int32Array(g.n).fill(NONE);
  const pending = new Set();
  const filter = (v, e) => {
    const name = String(e.name);
    if (g.type[v] === 'hidden' && name === 'sloppy_function_map' && g.name[v] === 'system / NativeContext') return false;
    if (g.type[v] === 'array' && g.name[v] === '(map descriptors)') {
      const index = parseInt(name, 10);
      return index < 2 || (index % 3) !== 1;
    }
    if (e.type === 'internal') {
      const m = EPHEMERON.exec(name);
      if (m && !pending.delete(m.groups.dup)) { pending.add(m.groups.dup); return false; }
    }
    return true;
  };
  const bfs = (queue) => {
    for (let i = 0; i < queue.length; i++) {
      const v = queue[i], d = dist[v] + 1;
      for (const e of g.out[v]) {
        if (e.type === 'weak' || dist[e.to] !== NONE || !filter(v, e)) continue;
        dist[e.to] = d;
        queue.push(e.to);
      }
    }
  };
  const roots = [];
  for (const e of g.out[0]) if (isUserRoot(g, e.to)) { dist[e.to] = 1; roots.push(e.to); }
  const userRoots = roots.length;
  bfs(roots);
  dist[0] = userRoots > 0 ? BASE : 0;
  bfs([0]);
  return dist;
}

function compareDistances(g, mine, where) {
  const dist = devtoolsDistances(g);
  let system = 0, none = 0;
  for (let i = 0; i < g.n; i++) {
    assert.equal(mine[i].distance, dist[i], `${where}: distance of @${g.id[i]} (${g.type[i]} ${g.name[i]})`);
    if (dist[i] === -5) none++; else if (dist[i] >= 100000000) system++;
  }
  return { system, none };
}

// memlab's own Lengauer–Tarjan (TraceFinder.computeDominatorsAndRetainedSizes)
// fed DevTools' inputs: its page-owned flags, its self sizes (written into
// memlab's node array), its orphan rule (hasOnlyWeakReferrers replaced for
// the call), and WeakMap table edges retyped weak (DevTools never counts
// them; memlab has no such rule). Modifies heap.
function memlabWithDevToolsRules(heap, g, finder) {
  const self = shallowSizes(g);
  const flags = pageOwned(g);
  const snap = heap.snapshot;
  const NF = heap._nodeFieldsCount, EF = heap._edgeFieldsCount;
  for (let i = 0; i < g.n; i++) snap.nodes[i * NF + heap._nodeSelfSizeOffset] = self[i];
  let tableEdges = 0;
  const weakType = heap._edgeTypes.indexOf('weak');
  const hasEssentialRetainer = new Uint8Array(g.n);
  for (let v = 0; v < g.n; v++) {
    for (const e of g.out[v]) {
      if (essential(g, flags, v, e)) hasEssentialRetainer[e.to] = 1;
      if (isTableEdge(g, v, e)) { snap.edges[e.edgeIndex * EF + heap._edgeTypeOffset] = weakType; tableEdges++; }
    }
  }
  const utils = memlab.utils;
  const original = utils.hasOnlyWeakReferrers;
  utils.hasOnlyWeakReferrers = (node) => !hasEssentialRetainer[node.nodeIndex];
  let result;
  try {
    result = finder.computeDominatorsAndRetainedSizes(heap, flags);
  } finally {
    utils.hasOnlyWeakReferrers = original;
  }
  return {
    tableEdges, self,
    compare: (mine) => compare('memlab+DevTools rules', g, mine, result.dominatorOrdinals, result.retainedSizes),
  };
}

for (const [what, fileOf] of FILES) {
  test(`dominators and retained sizes agree with memlab node for node (${what})`, async (t) => {
    const file = fileOf();
    assert.ok(DUMP, 'HS_ANALYZE_DUMP (the hs_analyze_dump tool) is set by ctest');
    assert.ok(fs.existsSync(file), `${file} exists`);
    const mine = ours(file);
    t.diagnostic(`${what}: hs_analyze ${mine.summary}`);
    if (madeDirs.has(path.dirname(file))) t.after(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));
    const heap = await memlab.utils.getSnapshotFromFile(file, { buildNodeIdIndex: true });
    const g = graphOf(heap);
    assert.equal(mine.length, g.n, 'node count');
    for (let i = 0; i < g.n; i++) assert.equal(mine[i].id, g.id[i], `node ${i}'s id`);

    // memlab unchanged: counted and reported.
    const finder = new memlab.TraceFinder();
    finder.calculateAllNodesRetainedSizes(heap);
    const asIs = compare('memlab', g, mine,
      Array.from({ length: g.n }, (_, i) => heap.nodes.get(i).dominatorNode.nodeIndex),
      Array.from({ length: g.n }, (_, i) => heap.nodes.get(i).retainedSize));
    t.diagnostic(`${what}: ${g.n} nodes; memlab unchanged differs on ${asIs.domDiff} dominators and ${asIs.retDiff} retained sizes`);
    for (const ex of asIs.examples) t.diagnostic(`  ${ex}`);

    // DevTools' self sizes, computed here, equal ours.
    const self = shallowSizes(g);
    const flags = pageOwned(g);
    let moved = 0;
    for (let i = 0; i < g.n; i++) {
      assert.equal(mine[i].self, self[i], `self size of @${g.id[i]} (${g.type[i]} ${g.name[i]})`);
      if (self[i] !== g.self[i]) moved++;
    }
    t.diagnostic(`${what}: redistribution changed ${moved} self sizes`);
    const d = compareDistances(g, mine, what);
    t.diagnostic(`${what}: distances equal DevTools' rules (${d.system} system, ${d.none} unreached)`);

    const devtools = memlabWithDevToolsRules(heap, g, finder);
    for (const ex of devtools.compare(mine).examples) t.diagnostic(`  ${ex}`);
    const r = devtools.compare(mine);
    t.diagnostic(`${what}: ${devtools.tableEdges} WeakMap table edges made weak; memlab with DevTools' rules differs on ${r.domDiff} dominators and ${r.retDiff} retained sizes`);
    assert.equal(r.domDiff, 0, 'dominators equal memlab\'s with DevTools\' rules');
    assert.equal(r.retDiff, 0, 'retained sizes equal memlab\'s with DevTools\' rules');

    // Where memlab's own rules cannot differ (no user roots, so DevTools
    // marks nothing page-owned and moves no size), memlab unchanged agrees.
    if (!g.out[0].some((e) => isUserRoot(g, e.to)) && !flags.some((f) => f)) {
      assert.equal(asIs.domDiff, 0, 'dominators equal memlab\'s');
      assert.equal(asIs.retDiff, 0, 'retained sizes equal memlab\'s');
    }
  });
}

// ---------- random graphs ----------
//
// Real snapshots have few of the hard cases (the files above have no
// unreached node). Random ones in V8's format have them all: unreached
// cycles, nodes with only weak or shortcut retainers, garbage pointing into
// live nodes, self edges, WeakMap ephemeron pairs, hidden/array nodes with
// one or several owners, with and without user roots.

function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 4294967296;
  };
}

const NODE_TYPES = ['hidden', 'array', 'string', 'object', 'code', 'closure', 'regexp', 'number', 'native',
  'synthetic', 'concatenated string', 'sliced string', 'symbol', 'bigint', 'object shape'];
const EDGE_TYPES = ['context', 'element', 'property', 'internal', 'hidden', 'shortcut', 'weak'];

function randomSnapshot(seed, n) {
  const r = rng(seed);
  const pick = (a) => a[Math.floor(r() * a.length)];
  const strings = ['<dummy>', ''];
  const str = (s) => { strings.push(s); return strings.length - 1; };
  const userRoots = r() < 0.6;
  const types = [], names = [], sizes = [], out = [];
  const add = (type, name, size) => { types.push(type); names.push(str(name)); sizes.push(size); out.push([]); return types.length - 1; };
  add('synthetic', '', 0);
  const gc = add('synthetic', '(GC roots)', 0);
  out[0].push(['element', 1, gc]);
  if (userRoots) out[0].push(['shortcut', str('global'), add('object', 'Window', 40)]);
  if (r() < 0.3) out[0].push(['element', 3, add('synthetic', '(Document DOM trees)', 0)]);
  const garbageFrom = Math.floor(n * (0.5 + 0.4 * r()));
  while (types.length < n) {
    add(pick(['hidden', 'hidden', 'array', 'array', 'object', 'object', 'native', 'closure', 'string', 'code', 'synthetic']),
      pick(['A', 'B', '<div id=x>', 'system / Context', 'Object', '(map descriptors)', 'system / NativeContext']),
      Math.floor(r() * 100));
  }
  const live = (lo) => lo + Math.floor(r() * (garbageFrom - lo));
  const any = () => Math.floor(r() * n);
  for (const e of out[0]) if (e[2] >= garbageFrom) throw new Error('root child in garbage');
  for (let v = 1; v < n; v++) {
    const k = Math.floor(r() * 4);
    for (let j = 0; j < k; j++) {
      // Live nodes point at live ones (and weakly anywhere); garbage anywhere.
      let type = pick(['property', 'property', 'element', 'internal', 'hidden', 'context', 'weak', 'shortcut']);
      let to = v < garbageFrom ? (type === 'weak' || type === 'shortcut' ? any() : live(1)) : any();
      if (r() < 0.03) to = v;
      const name = type === 'element' || type === 'hidden' ? Math.floor(r() * 12)
        : str(pick([`p${j}`, 'sloppy_function_map', '7', '8x']));
      out[v].push([type, name, to]);
    }
    if (v < garbageFrom && r() < 0.05) out[gc].push(['element', v, v]);
  }
  // WeakMap ephemeron pairs: table -> value and key -> value, same name part.
  const id = (v) => (v === 0 ? 1 : 2 * v + 1);
  for (let j = 0; j < Math.floor(n / 20); j++) {
    const table = live(2), key = any(), value = any();
    const part = ` / part of key (K @${id(key)}) -> value (V @${id(value)}) pair in WeakMap (table @${id(table)})`;
    out[table].push(['internal', str(`${j * 2}${part}`), value]);
    out[key].push(['internal', str(`${j * 2 + 1}${part}`), value]);
  }
  const nodes = [], edges = [];
  let edgeCount = 0;
  for (let v = 0; v < n; v++) {
    nodes.push(NODE_TYPES.indexOf(types[v]), names[v], id(v), sizes[v], out[v].length, 0);
    for (const [type, name, to] of out[v]) { edges.push(EDGE_TYPES.indexOf(type), name, to * 6); edgeCount++; }
  }
  return JSON.stringify({
    snapshot: {
      meta: {
        node_fields: ['type', 'name', 'id', 'self_size', 'edge_count', 'trace_node_id'],
        node_types: [NODE_TYPES, 'string', 'number', 'number', 'number', 'number'],
        edge_fields: ['type', 'name_or_index', 'to_node'],
        edge_types: [EDGE_TYPES, 'string_or_number', 'node'],
        trace_function_info_fields: ['function_id', 'name', 'script_name', 'script_id', 'line', 'column'],
        trace_node_fields: ['id', 'function_info_index', 'count', 'size', 'children'],
        sample_fields: ['timestamp_us', 'last_assigned_id'],
        location_fields: ['object_index', 'script_id', 'line', 'column'],
      },
      node_count: n, edge_count: edgeCount, trace_function_count: 0,
    },
    nodes, edges, trace_function_infos: [], trace_tree: [], samples: [], locations: [], strings,
  });
}

test('random graphs: dominators, retained and self sizes agree with memlab fed DevTools\' rules, distances with DevTools\'', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-analysis-random-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let nodes = 0, weakOnly = 0, unreachable = 0, tables = 0, graphs = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const n = seed <= 50 ? 20 + ((seed * 37) % 300) : 3000 + seed * 40;
    const file = path.join(dir, `g${seed}.heapsnapshot`);
    fs.writeFileSync(file, randomSnapshot(seed, n));
    const mine = ours(file);
    const sum = JSON.parse(mine.summary);
    const heap = await memlab.utils.getSnapshotFromFile(file, { buildNodeIdIndex: true });
    const g = graphOf(heap);
    const devtools = memlabWithDevToolsRules(heap, g, new memlab.TraceFinder());
    for (let i = 0; i < g.n; i++) assert.equal(mine[i].self, devtools.self[i], `seed ${seed}: self size of @${g.id[i]}`);
    compareDistances(g, mine, `seed ${seed}`);
    const r = devtools.compare(mine);
    assert.equal(r.domDiff + r.retDiff, 0, `seed ${seed}: ${r.domDiff} dominators and ${r.retDiff} retained sizes differ:\n${r.examples.join('\n')}`);
    nodes += g.n; weakOnly += sum.weak_only; unreachable += sum.unreachable; tables += devtools.tableEdges; graphs++;
  }
  t.diagnostic(`${graphs} graphs, ${nodes} nodes compared: ${weakOnly} DFS'd from weak-only orphans, ${unreachable} hung under the root, ${tables} WeakMap table edges`);
  assert.ok(weakOnly > 0 && unreachable > 0 && tables > 0, 'the hard cases occurred');
});
