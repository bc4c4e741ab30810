'use strict';
// Reading heap snapshots in the node tests: collecting a streamed one (its
// progress events, chunks and reply, in arrival order) and parsing one into
// nodes with edges and retainers, checking the framing invariants every
// reader relies on (spec §4.1, §4.3). Used by snapshot.test.js and
// timeline.test.js.

const assert = require('node:assert/strict');
const memlab = require('@memlab/core');
const { withTimeout } = require('./target');

const SNAPSHOT_MS = 60000;

memlab.config.muteConsole = true;
memlab.config.errorHandling = memlab.ErrorHandling.Throw;

/*
 * A command that streams a snapshot (takeHeapSnapshot, stopTrackingHeapObjects),
 * with every progress event, chunk and the reply recorded
 * in the order they arrive (the callback form of client.send runs as the reply
 * is read, so its place in the log is exact), then a second command as a
 * fence: anything the agent sent after the reply arrives before its answer.
 */
function streamSnapshot(client, method, params) {
  const log = [];
  const onChunk = (p) => log.push({ kind: 'chunk', chunk: p.chunk });
  const onProgress = (p) => log.push({ kind: 'progress', p });
  client.on('HeapProfiler.addHeapSnapshotChunk', onChunk);
  client.on('HeapProfiler.reportHeapSnapshotProgress', onProgress);
  const done = new Promise((resolve, reject) => {
    client.send(method, params, (isError, result) => {
      log.push({ kind: 'reply', isError, result });
      client.send('Runtime.getHeapUsage', {}, () => {
        client.removeListener('HeapProfiler.addHeapSnapshotChunk', onChunk);
        client.removeListener('HeapProfiler.reportHeapSnapshotProgress', onProgress);
        if (isError) reject(Object.assign(new Error(`${method}: ${JSON.stringify(result)}`), { response: result, log }));
        else resolve(log);
      });
    });
  });
  return withTimeout(done, SNAPSHOT_MS, `the snapshot of ${method}`);
}

const chunksOf = (log) => log.filter((e) => e.kind === 'chunk').map((e) => e.chunk);

/* ---------- reading a .heapsnapshot ---------- */

/*
 * The whole graph as objects: nodes with their outgoing edges (in file order)
 * and incoming ones. Checks the framing invariants every reader relies on
 * (spec §4.1, §4.3) on the way.
 */
function parseSnapshot(text) {
  const s = JSON.parse(text);
  const meta = s.snapshot.meta;
  const NF = meta.node_fields.length;
  const EF = meta.edge_fields.length;
  const nf = (name) => meta.node_fields.indexOf(name);
  const ef = (name) => meta.edge_fields.indexOf(name);
  const [fType, fName, fId, fSelf, fCount, fDet] = ['type', 'name', 'id', 'self_size', 'edge_count', 'detachedness'].map(nf);
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map(ef);
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  assert.equal(s.nodes.length, NF * s.snapshot.node_count, 'nodes array length');
  assert.equal(s.edges.length, EF * s.snapshot.edge_count, 'edges array length');
  const nodes = [];
  for (let i = 0; i < s.snapshot.node_count; i++) {
    const b = i * NF;
    nodes.push({
      index: i,
      type: nodeTypes[s.nodes[b + fType]],
      name: s.strings[s.nodes[b + fName]],
      id: s.nodes[b + fId],
      self: s.nodes[b + fSelf],
      det: fDet >= 0 ? s.nodes[b + fDet] : undefined,
      edgeCount: s.nodes[b + fCount],
      edges: [],
      retainers: [],
    });
  }
  let e = 0;
  for (const n of nodes) {
    for (let k = 0; k < n.edgeCount; k++, e++) {
      const b = e * EF;
      const type = edgeTypes[s.edges[b + eType]];
      const raw = s.edges[b + eName];
      const to = s.edges[b + eTo];
      assert.equal(to % NF, 0, `edge ${e}: to_node ${to} not a multiple of ${NF}`);
      assert.ok(to / NF < nodes.length, `edge ${e}: to_node ${to} past the last node`);
      const edge = { type, name: type === 'element' || type === 'hidden' ? raw : s.strings[raw], from: n, to: nodes[to / NF] };
      n.edges.push(edge);
      edge.to.retainers.push(edge);
    }
  }
  assert.equal(e, s.snapshot.edge_count, 'the nodes\' edge_count add up to edge_count');
  return { raw: s, meta, nodes, byName: (name) => nodes.filter((n) => n.name === name) };
}

/* "function file:LINE" → function; a name without a file:line stays whole. */
function siteFunction(name) {
  const m = /^(.*) (\S+):(\d+)$/.exec(name);
  return m ? m[1] : name;
}

/* Blocks allocated by fn: the site's function is fn, or fn(args) for C++. */
function blocksOf(snap, fn) {
  return snap.nodes.filter((n) => {
    if (n.type !== 'native') return false;
    const f = siteFunction(n.name);
    return f === fn || f.startsWith(`${fn}(`);
  });
}

/*
 * The trace tree ([id, function_info_index, count, size, [children...]] from
 * the root, id 1) as a map from node id to {count, size, path}, path being
 * the function names from (root) down to the node.
 */
function traceNodes(s) {
  const T = s.snapshot.trace_function_count;
  const byId = new Map();
  const walk = (a, off, path) => {
    const [id, fi, count, size, kids] = a.slice(off, off + 5);
    assert.ok(fi < T, `function index ${fi} < trace_function_count ${T}`);
    const here = [...path, s.strings[s.trace_function_infos[fi * 6 + 1]]];
    assert.ok(!byId.has(id), `trace node id ${id} twice`);
    byId.set(id, { count, size, path: here });
    for (let k = 0; k < kids.length; k += 5) walk(kids, k, here);
  };
  if (s.trace_tree.length) walk(s.trace_tree, 0, []);
  return byId;
}

/* memlab, like DevTools, names a detached native node "Detached <name>". */
const memlabName = (n) => (n.type === 'native' && n.det === 2 ? `Detached ${n.name}` : n.name);

/* memlab's parser, then its dominator tree and retained sizes (TraceFinder). */
async function memlabLoad(file) {
  const heap = await memlab.utils.getSnapshotFromFile(file, { buildNodeIdIndex: true });
  new memlab.TraceFinder().calculateAllNodesRetainedSizes(heap);
  return heap;
}

/* ---------- the program ---------- */

module.exports = { streamSnapshot, chunksOf, parseSnapshot, traceNodes, siteFunction, blocksOf, memlabName, memlabLoad, SNAPSHOT_MS };
