'use strict';
// Heap snapshots through the agent (issue 5), checked against a program whose
// heap graph is known exactly (tests/snapshot/known_heap.c, HS_KNOWN_HEAP):
// the graph of docs/design/snapshot.md — every site's count and bytes, who
// retains what (globals by symbol, a thread's stack, block to block), leaks
// and their group, ids — then the stream itself (progress, 1 MiB chunks, the
// reply last), errors, a client that goes away mid-stream, and memlab's
// parser and dominator computation on the result, with Node's own golden
// snapshot as the control. Agent only: node cannot run the C program.

const { describe, it, before, after, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const CDP = require('chrome-remote-interface');
const { connect } = require('../lib/cdp');
const config = require('../lib/config');
const { startTarget, withTimeout } = require('../lib/target');
const { streamSnapshot, chunksOf, parseSnapshot, siteFunction, blocksOf, memlabName, memlabLoad, traceNodes } = require('../lib/heapsnapshot');

const KNOWN = config.require(
  path.resolve(process.env.HS_KNOWN_HEAP || path.join(config.repo, 'build', 'bin', 'hs-known-heap')),
  'hs-known-heap (HS_KNOWN_HEAP)'
);
const CHUNK = 1048576; // current V8's chunk size, the agent's (spec §2.2)
const LEAKED_GROUP = '(leaked: unreachable from any root)';
// The children vectors' buffers come from operator new called by libstdc++'s
// allocator template, instantiated in known_heap_tree.cpp: that frame is the
// site (operator new is a wrapper).
const VECTOR_SITE = 'std::__new_allocator<cxx::TreeNode*>::allocate';


/* ---------- talking to the agent ---------- */


const takeSnapshot = (client, params) => streamSnapshot(client, 'HeapProfiler.takeHeapSnapshot', params);

const sum = (arr, f = (x) => x) => arr.reduce((a, x) => a + f(x), 0);
const edgeTo = (from, name) => from.edges.filter((e) => e.name === name);

/* The one group named so, or a failure that lists the groups there are. */
function group(snap, pred, what) {
  const found = snap.nodes.filter((n) => n.type === 'synthetic' && pred(n.name));
  const all = snap.nodes[0].edges.map((e) => e.to.name);
  assert.equal(found.length, 1, `${what}: ${found.length} groups match; the root's children: ${JSON.stringify(all)}`);
  return found[0];
}

/* Follows the chain from head through the element edge at byte offset 0. */
function chain(head) {
  const out = [];
  const seen = new Set();
  for (let n = head; n && !seen.has(n); ) {
    seen.add(n);
    out.push(n);
    const next = edgeTo(n, 0);
    assert.ok(next.length <= 1, `${n.name} #${n.id}: ${next.length} edges at offset 0`);
    n = next.length ? next[0].to : null;
  }
  return out;
}

/*
 * Retained sizes computed here, independently of memlab: immediate dominators
 * with Cooper, Harvey and Kennedy's iterative algorithm over every edge (the
 * agent's graph has only element and property edges, all essential: spec
 * §4.4), from node 0. Returns null for a node the root does not reach.
 */
function retainedSizes(nodes) {
  const n = nodes.length;
  const post = new Int32Array(n).fill(-1);
  const order = [];
  const stack = [[nodes[0], 0]];
  const seen = new Uint8Array(n);
  seen[0] = 1;
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top[1] < top[0].edges.length) {
      const to = top[0].edges[top[1]++].to;
      if (!seen[to.index]) {
        seen[to.index] = 1;
        stack.push([to, 0]);
      }
    } else {
      post[top[0].index] = order.length;
      order.push(top[0].index);
      stack.pop();
    }
  }
  const idom = new Int32Array(n).fill(-1);
  idom[0] = 0;
  const intersect = (a, b) => {
    while (a !== b) {
      while (post[a] < post[b]) a = idom[a];
      while (post[b] < post[a]) b = idom[b];
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = order.length - 1; k >= 0; k--) {
      const v = order[k];
      if (v === 0) continue;
      let d = -1;
      for (const r of nodes[v].retainers) {
        const p = r.from.index;
        if (idom[p] === -1) continue;
        d = d === -1 ? p : intersect(p, d);
      }
      if (d !== idom[v]) {
        idom[v] = d;
        changed = true;
      }
    }
  }
  const ret = nodes.map((x) => (seen[x.index] ? x.self : null));
  for (const v of order) if (v !== 0) ret[idom[v]] += ret[v];
  return ret;
}

async function startKnown(t, env = {}) {
  const tg = await startTarget(t, { program: KNOWN, env });
  const truth = JSON.parse(await tg.command('truth'));
  return { tg, truth };
}

/* Its checksum and truth without the agent, for "the program is unaffected". */
let reference;
function referenceRun() {
  if (!reference) {
    reference = (async () => {
      const tg = await startTarget(null, { program: KNOWN, listen: false });
      try {
        const truth = JSON.parse(await tg.command('truth'));
        const { checksum } = await tg.finish();
        return { truth, checksum };
      } finally {
        await tg.kill();
      }
    })();
  }
  return reference;
}

/* The truth less what differs from run to run (pid, thread id, addresses). */
function stableTruth(truth) {
  const { pid, holder, cycle_lowest: lowest, ...rest } = truth;
  return rest;
}

/* Child processes of pid still there (running or zombie), from /proc. */
function childrenOf(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let status;
    try {
      status = fs.readFileSync(`/proc/${d}/status`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const m = /^PPid:\s+(\d+)$/m.exec(status);
    if (m && Number(m[1]) === pid) out.push(`${d} ${/^State:\s+(.*)$/m.exec(status)[1]}`);
  }
  return out;
}

/* Every structure of the truth, as [what, site function, count, bytes]. */
function expectedSites(truth, vectorSite = VECTOR_SITE) {
  return [
    ['list', truth.list.site, truth.list.count, truth.list.bytes],
    ['more', truth.more.site, truth.more.count, truth.more.bytes],
    ['table', truth.table.site, truth.table.count, truth.table.bytes],
    ['stack', truth.stack.site, truth.stack.count, truth.stack.bytes],
    ['leaks', truth.leaks.site, truth.leaks.count, truth.leaks.bytes],
    ['cycle', truth.cycle.site, truth.cycle.count, truth.cycle.bytes],
    ['tree', truth.tree.site, truth.tree.count, truth.tree.bytes],
    ['tree nodes', truth.tree_nodes.site, truth.tree_nodes.count, truth.tree_nodes.bytes],
    ['tree buffers', vectorSite, truth.tree_buffers.count, truth.tree_buffers.bytes],
  ];
}

function assertSites(snap, truth) {
  for (const [what, fn, count, bytes] of expectedSites(truth)) {
    const blocks = blocksOf(snap, fn);
    assert.equal(blocks.length, count, `${what}: blocks from ${fn}`);
    assert.equal(sum(blocks, (n) => n.self), bytes, `${what}: bytes from ${fn}`);
  }
}

/* The module's globals group: "(globals) <path of hs-known-heap>". */
const programGlobals = (snap) => group(snap, (name) => name === `(globals) ${KNOWN}` || (name.startsWith('(globals) ') && name.endsWith(`/${path.basename(KNOWN)}`)), 'the program\'s (globals)');

/* ---------- the tests ---------- */

describe('a snapshot of the known heap', () => {
  let tg;
  let client;
  let truth;
  let log; // the first snapshot's events, with reportProgress
  let text;
  let snap;
  let file;

  before(async () => {
    tg = await startTarget(null, { program: KNOWN });
    truth = JSON.parse(await tg.command('truth'));
    client = await CDP({ host: '127.0.0.1', port: tg.port });
    log = await takeSnapshot(client, { reportProgress: true });
    text = chunksOf(log).join('');
    snap = parseSnapshot(text);
    file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hs-snapshot-test-')), 'known.heapsnapshot');
    fs.writeFileSync(file, text);
  });

  after(async () => {
    if (client) await client.close().catch(() => {});
    if (tg) await tg.kill();
    if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });

  it('streams progress first, then 1 MiB chunks, then the reply {}', () => {
    const kinds = log.map((e) => e.kind);
    const firstChunk = kinds.indexOf('chunk');
    const lastProgress = kinds.lastIndexOf('progress');
    assert.ok(firstChunk > 0, 'chunks came');
    assert.ok(lastProgress >= 1 && lastProgress < firstChunk, `every progress event before the first chunk: ${kinds.join(' ')}`);
    assert.equal(kinds[kinds.length - 1], 'reply', 'the reply after the last chunk, and nothing after it');
    assert.equal(kinds.filter((k) => k === 'reply').length, 1);
    assert.deepEqual(log[log.length - 1].result, {});
    assert.equal(log[log.length - 1].isError, false);

    const progress = log.filter((e) => e.kind === 'progress').map((e) => e.p);
    const T = progress[progress.length - 1].total;
    assert.deepEqual(progress[progress.length - 2], { done: T, total: T });
    assert.deepEqual(progress[progress.length - 1], { done: T, total: T, finished: true });
    for (let i = 0; i < progress.length; i++) {
      assert.equal(progress[i].total, T, `progress ${i}: total`);
      if (i > 0) assert.ok(progress[i].done >= progress[i - 1].done, `progress ${i}: done never goes back`);
      if (i < progress.length - 1) assert.ok(!('finished' in progress[i]), `progress ${i}: finished only on the last`);
    }
    // done = blocks scanned, total = blocks (docs/design/snapshot.md, Streaming).
    assert.equal(T, snap.nodes.filter((n) => n.type === 'native').length, 'total = the blocks in the snapshot');

    const chunks = chunksOf(log);
    assert.ok(chunks.length >= 2, `the known heap's snapshot spans several chunks (${text.length} characters)`);
    chunks.slice(0, -1).forEach((c, i) => assert.equal(c.length, CHUNK, `chunk ${i} of ${chunks.length}`));
    const last = chunks[chunks.length - 1].length;
    assert.ok(last > 0 && last <= CHUNK, `the last chunk: ${last} characters`);
  });

  it('has V8\'s framing: six node fields, every section in order, counts that match', () => {
    assert.ok(text.startsWith('{"snapshot":{"meta":{'), text.slice(0, 40));
    assert.deepEqual(snap.meta.node_fields, ['type', 'name', 'id', 'self_size', 'edge_count', 'detachedness']);
    assert.deepEqual(snap.meta.edge_fields, ['type', 'name_or_index', 'to_node']);
    assert.deepEqual(Object.keys(snap.raw), ['snapshot', 'nodes', 'edges', 'trace_function_infos', 'trace_tree', 'samples', 'locations', 'strings']);
    assert.equal(snap.raw.snapshot.trace_function_count, 0);
    assert.deepEqual(snap.raw.samples, []);
    assert.deepEqual(snap.raw.locations, []);
    assert.equal(snap.raw.strings[0], '<dummy>');
    assert.ok(/\n"nodes":\[/.test(text) && /\n"edges":\[/.test(text) && /\n"strings":\[/.test(text));
    assert.ok(/^[\x00-\x7f]*$/.test(text), 'ASCII only');
  });

  it('every site has the program\'s count and bytes', () => {
    assertSites(snap, truth);
    // One site per allocating function, named "function file:LINE".
    for (const [what, fn] of expectedSites(truth)) {
      const names = [...new Set(blocksOf(snap, fn).map((n) => n.name))];
      if (what === 'more') continue; // none yet
      assert.equal(names.length, 1, `${what}: one site, not ${JSON.stringify(names)}`);
      const file = what.startsWith('tree buffers') ? 'new_allocator.h' : what.startsWith('tree') ? 'known_heap_tree.cpp' : 'known_heap.c';
      assert.match(names[0], new RegExp(` (\\S*/)?${file.replace('.', '\\.')}:\\d+$`), `${what}: ${names[0]}`);
    }
  });

  it('the root is node 0, id 1, with element edges 1… to every group, and nothing else', () => {
    const root = snap.nodes[0];
    assert.deepEqual([root.type, root.name, root.id, root.self], ['synthetic', '', 1, 0]);
    assert.deepEqual(root.edges.map((e) => e.type), root.edges.map(() => 'element'));
    assert.deepEqual(root.edges.map((e) => e.name), root.edges.map((_, i) => i + 1));
    const groups = snap.nodes.filter((n) => n.type === 'synthetic' && n.index !== 0);
    assert.deepEqual(root.edges.map((e) => e.to).sort((a, b) => a.index - b.index), groups);
    for (const g of groups) {
      assert.match(g.name, /^\((globals|stack|TLS)\) |^\(anonymous memory\) 0x[0-9a-f]+$|^\(leaked: unreachable from any root\)$/, g.name);
      assert.equal(g.id % 2, 0, `${g.name}: even id ${g.id}`);
      assert.equal(g.self, 0, `${g.name}: no bytes of its own`);
      assert.deepEqual(g.retainers.map((r) => r.from.index), [0], `${g.name}: only the root holds it`);
    }
    // Only the program's two threads: the agent's own are not roots. The
    // holder's stack holds its buffer; the main thread's may hold no block
    // (a group with no edges is left out); of the TLS, only the holder's
    // (its DTV is malloc'd: tcb+8).
    const threads = [`${truth.pid} ${path.basename(KNOWN)}`, `${truth.holder.tid} ${truth.holder.comm}`];
    const stacks = groups.filter((g) => g.name.startsWith('(stack) ')).map((g) => g.name.slice(8));
    assert.ok(stacks.includes(threads[1]) && stacks.every((x) => threads.includes(x)), `stack groups: ${JSON.stringify(stacks)}`);
    const tls = groups.filter((g) => g.name.startsWith('(TLS) ')).map((g) => g.name.slice(6));
    assert.ok(tls.includes(threads[1]) && tls.every((x) => threads.includes(x)), `TLS groups: ${JSON.stringify(tls)}`);
    // The agent's own module is not a root.
    assert.deepEqual(groups.filter((g) => /^\(globals\) .*libheapscope/.test(g.name)).map((g) => g.name), []);
    // Blocks are native, with odd ids; every node is reachable from the root.
    for (const n of snap.nodes.slice(1)) {
      if (n.type === 'synthetic') continue;
      assert.equal(n.type, 'native', `#${n.index} ${n.name}`);
      assert.equal(n.id % 2, 1, `${n.name}: odd id ${n.id}`);
    }
    assert.equal(new Set(snap.nodes.map((n) => n.id)).size, snap.nodes.length, 'ids are unique');
    assert.ok(retainedSizes(snap.nodes).every((r) => r !== null), 'every node is reachable from the root');
  });

  it('g_list: the head is held by (globals) through property g_list, each node by the one before', () => {
    const globals = programGlobals(snap);
    const edges = edgeTo(globals, 'g_list');
    assert.equal(edges.length, 1, 'one edge named g_list');
    assert.equal(edges[0].type, 'property');
    const head = edges[0].to;
    assert.deepEqual(head.retainers.map((r) => [r.from.name, r.type, r.name]), [[globals.name, 'property', 'g_list']], 'the head\'s only retainer');
    const list = chain(head);
    assert.equal(list.length, truth.list.count);
    assert.deepEqual(new Set(list.map((n) => siteFunction(n.name))), new Set([truth.list.site]));
    for (let i = 1; i < list.length; i++) {
      const r = list[i].retainers;
      assert.ok(r.length === 1 && r[0].from === list[i - 1] && r[0].type === 'element' && r[0].name === 0, `list node ${i}: retainers ${JSON.stringify(r.map((x) => [x.from.name, x.type, x.name]))}`);
    }
    assert.equal(sum(list, (n) => n.self), truth.list.bytes);
  });

  it('g_table: bucket i is held through g_table+8i, its chain through offset 0', () => {
    const globals = programGlobals(snap);
    truth.chains.forEach((want, b) => {
      const name = b === 0 ? 'g_table' : `g_table+${8 * b}`;
      const edges = edgeTo(globals, name);
      assert.equal(edges.length, 1, `one edge named ${name}`);
      assert.equal(edges[0].type, 'property');
      const blobs = chain(edges[0].to);
      assert.deepEqual([blobs.length, sum(blobs, (n) => n.self)], [want.count, want.bytes], `bucket ${b}`);
      assert.ok(blobs.every((n) => siteFunction(n.name) === truth.table.site));
      assert.ok(blobs.every((n) => n.retainers.length === 1), `bucket ${b}: one retainer each`);
    });
  });

  it('the holder thread\'s buffer is held by its (stack) group only', () => {
    const [buf] = blocksOf(snap, truth.stack.site);
    const stack = group(snap, (name) => name === `(stack) ${truth.holder.tid} ${truth.holder.comm}`, 'the holder\'s (stack)');
    assert.ok(buf.retainers.length >= 1);
    for (const r of buf.retainers) {
      assert.equal(r.from, stack, `retained by ${r.from.name}`);
      // A stack slot (element: byte offset above the stack pointer) or a register (property %r…).
      assert.ok((r.type === 'element' && Number.isInteger(r.name)) || (r.type === 'property' && /^%[a-z0-9]+$/.test(r.name)), `${r.type} ${r.name}`);
    }
    assert.equal(buf.edges.length, 0, 'its bytes hold no pointer');
  });

  it('the C++ tree: cxx::g_tree → Tree → TreeNodes, children through full vector buffers', () => {
    const globals = programGlobals(snap);
    const edges = edgeTo(globals, 'cxx::g_tree');
    assert.equal(edges.length, 1, 'the global is named demangled');
    const tree = edges[0].to;
    assert.equal(siteFunction(tree.name).split('(')[0], truth.tree.site);
    assert.equal(tree.self, truth.tree.bytes);
    const [root] = edgeTo(tree, 0).map((e) => e.to);
    const nodes = [];
    const buffers = [];
    const walk = (n, depth) => {
      nodes.push(n);
      assert.equal(siteFunction(n.name).split('(')[0], truth.tree_nodes.site);
      if (depth === truth.tree_buffers.depth) {
        assert.equal(n.edges.length, 0, 'a leaf points nowhere');
        return;
      }
      // The vector's start pointer at offset 8; its end and capacity point past the full buffer.
      assert.deepEqual(n.edges.map((e) => e.name), [8], `inner node: ${JSON.stringify(n.edges.map((e) => e.name))}`);
      const buf = n.edges[0].to;
      buffers.push(buf);
      assert.equal(buf.self, truth.tree_buffers.fanout * 8);
      assert.deepEqual(buf.edges.map((e) => e.name), [...Array(truth.tree_buffers.fanout).keys()].map((i) => 8 * i));
      for (const e of buf.edges) walk(e.to, depth + 1);
    };
    walk(root, 1);
    assert.deepEqual([nodes.length, sum(nodes, (n) => n.self)], [truth.tree_nodes.count, truth.tree_nodes.bytes]);
    assert.deepEqual([buffers.length, sum(buffers, (n) => n.self)], [truth.tree_buffers.count, truth.tree_buffers.bytes]);
    assert.deepEqual(new Set(buffers.map((n) => siteFunction(n.name))).size, 1);
    for (const n of [...nodes, ...buffers]) assert.equal(n.retainers.length, 1, `${n.name} #${n.id}: one retainer`);
  });

  it('leaks: exactly the 300 dropped blocks and the ring are detached; the group holds the leak roots', () => {
    const leaks = blocksOf(snap, truth.leaks.site);
    const ring = blocksOf(snap, truth.cycle.site).sort((a, b) => a.id - b.id);
    assert.equal(leaks.length, 300);
    const detached = snap.nodes.filter((n) => n.det === 2);
    assert.deepEqual(
      detached.map((n) => n.index).sort((a, b) => a - b),
      [...leaks, ...ring].map((n) => n.index).sort((a, b) => a - b),
      `detached: ${JSON.stringify([...new Set(detached.map((n) => n.name))])}`
    );
    assert.equal(sum(detached, (n) => n.self), truth.leaks.bytes + truth.cycle.bytes);
    for (const n of snap.nodes) if (n.type === 'native' && n.det !== 2) assert.equal(n.det, 1, `${n.name} #${n.id}: attached`);

    const g = group(snap, (name) => name === LEAKED_GROUP, 'the leaked group');
    assert.ok(g.edges.every((e) => e.type === 'element'));
    const want = [...leaks, ring[truth.cycle_lowest]].map((n) => n.index).sort((a, b) => a - b);
    assert.deepEqual(g.edges.map((e) => e.to.index).sort((a, b) => a - b), want, 'the 300 leaks and the ring\'s lowest-addressed block');
    // The ring: each member points at the next, in allocation order.
    ring.forEach((n, i) => assert.deepEqual(n.edges.map((e) => [e.name, e.to]), [[0, ring[(i + 1) % ring.length]]], `ring member ${i}`));
    for (const n of leaks) assert.deepEqual(n.retainers.map((r) => r.from), [g], `${n.name}: only the group holds it`);
  });

  it('ids are stable: a second snapshot has the same nodes; after "more", new ids are above the old maximum', async () => {
    const key = (n) => `${n.id} ${n.type} ${n.name} ${n.self}`;
    const second = parseSnapshot(chunksOf(await takeSnapshot(client, { reportProgress: false })).join(''));
    assert.deepEqual(second.nodes.map(key).sort(), snap.nodes.map(key).sort(), 'the same blocks and groups, with the same ids');
    const maxOdd = Math.max(...second.nodes.filter((n) => n.id % 2 === 1).map((n) => n.id));

    const more = JSON.parse(await tg.command('more'));
    assert.ok(more.more.count > 0);
    const third = parseSnapshot(chunksOf(await takeSnapshot(client, { reportProgress: false })).join(''));
    const before2 = new Set(second.nodes.map((n) => n.id));
    const added = third.nodes.filter((n) => !before2.has(n.id));
    assert.ok(added.length > 0);
    for (const n of added) assert.ok(n.id > maxOdd && n.id % 2 === 1, `new ${n.name}: id ${n.id} > ${maxOdd}`);
    assert.deepEqual([...new Set(added.map((n) => siteFunction(n.name)))], [more.more.site]);
    assert.deepEqual([added.length, sum(added, (n) => n.self)], [more.more.count, more.more.bytes]);
    const after3 = new Set(third.nodes.map((n) => n.id));
    assert.ok(second.nodes.every((n) => after3.has(n.id)), 'nothing was freed: every old id is still there');
    assertSites(third, more);
    // Appended at the tail: the list now runs on into the new nodes.
    const head = edgeTo(programGlobals(third), 'g_list')[0].to;
    assert.equal(chain(head).length, more.list.count + more.more.count);
  });

  it('memlab parses it: same nodes and edges, retained sizes as the structures say', async () => {
    const heap = await memlabLoad(file);
    assert.equal(heap.nodes.length, snap.nodes.length);
    assert.equal(heap.edges.length, snap.raw.snapshot.edge_count);
    for (const n of snap.nodes) {
      const m = heap.nodes.get(n.index);
      assert.ok(m.id === n.id && m.name === memlabName(n) && m.self_size === n.self && m.type === n.type, `node ${n.index}: memlab ${m.id} ${m.name}`);
    }
    const R = (n) => heap.getNodeById(n.id).retainedSize;
    // memlab's dominators agree with a textbook computation on every node.
    const mine = retainedSizes(snap.nodes);
    snap.nodes.forEach((n, i) => assert.equal(heap.nodes.get(i).retainedSize, mine[i], `retained size of ${n.name} #${n.id}`));

    const globals = programGlobals(snap);
    assert.equal(R(snap.nodes[0]), sum(snap.nodes, (n) => n.self), 'the root retains everything');
    assert.equal(R(edgeTo(globals, 'g_list')[0].to), truth.list.bytes, 'g_list\'s head retains the list');
    truth.chains.forEach((c, b) => assert.equal(R(edgeTo(globals, b ? `g_table+${8 * b}` : 'g_table')[0].to), c.bytes, `bucket ${b}`));
    assert.equal(R(edgeTo(globals, 'cxx::g_tree')[0].to), truth.tree.bytes + truth.tree_nodes.bytes + truth.tree_buffers.bytes, 'the Tree retains the whole tree');
    assert.equal(R(blocksOf(snap, truth.stack.site)[0]), truth.stack.bytes);
    const leaked = group(snap, (name) => name === LEAKED_GROUP, 'the leaked group');
    assert.equal(R(leaked), truth.leaks.bytes + truth.cycle.bytes, 'the leaked group retains the leaked bytes');
    const ring = blocksOf(snap, truth.cycle.site).sort((a, b) => a.id - b.id);
    assert.equal(R(ring[truth.cycle_lowest]), truth.cycle.bytes, 'the ring\'s leak root retains the ring');
    assert.equal(heap.getNodeById(ring[truth.cycle_lowest].id).dominatorNode.id, leaked.id);
  });
});

test('memlab on Node 20\'s own snapshot (the control): parses, and its retained sizes add up', async () => {
  const golden = config.require(config.golden('snapshot-stopTracking.heapsnapshot'), 'the golden Node 20 snapshot');
  const snap = parseSnapshot(fs.readFileSync(golden, 'utf8'));
  const heap = await memlabLoad(golden);
  assert.equal(heap.nodes.length, snap.raw.snapshot.node_count);
  assert.equal(heap.edges.length, snap.raw.snapshot.edge_count);
  for (const n of snap.nodes) {
    const m = heap.nodes.get(n.index);
    assert.ok(m.id === n.id && m.name === memlabName(n) && m.self_size === n.self, `node ${n.index}: memlab ${m.id} ${m.name}`);
  }
  const root = heap.nodes.get(0);
  assert.equal(root.id, 1);
  assert.equal(root.retainedSize, sum(snap.nodes, (n) => n.self), 'the root retains everything (unreachable nodes hang under it)');
  // Retained size = own size + the retained sizes of the nodes it dominates.
  const dominated = new Float64Array(snap.nodes.length);
  heap.nodes.forEach((m) => {
    if (m.nodeIndex !== 0) dominated[m.dominatorNode.nodeIndex] += m.retainedSize;
  });
  heap.nodes.forEach((m) => {
    assert.ok(m.retainedSize >= m.self_size);
    assert.equal(m.retainedSize, m.self_size + dominated[m.nodeIndex], `node ${m.nodeIndex} ${m.name}`);
  });
});

test('HEAPSCOPE_MODE=sample: takeHeapSnapshot answers -32000 and sends nothing else', async (t) => {
  const { tg } = await startKnown(t, { HEAPSCOPE_MODE: 'sample' });
  const client = await connect(tg);
  const err = await takeSnapshot(client, { reportProgress: true }).then(
    () => assert.fail('takeHeapSnapshot succeeded without the registry'),
    (e) => e
  );
  assert.ok(err.response, err.stack);
  assert.equal(err.response.code, -32000, JSON.stringify(err.response));
  assert.ok(err.response.message.length > 0);
  assert.deepEqual(err.log.map((e) => e.kind), ['reply'], 'no progress, no chunk');
  // Still serving, and the program unaffected.
  assert.ok((await client.Runtime.getHeapUsage()).usedSize > 0);
  await client.close();
  assert.equal((await tg.finish()).checksum, (await referenceRun()).checksum);
});

for (const how of ['close', 'reset']) {
  test(`a client that goes away mid-stream (${how} after the first chunk) leaves the agent healthy`, async (t) => {
    const { tg, truth } = await startKnown(t);
    assert.deepEqual(stableTruth(truth), stableTruth((await referenceRun()).truth));
    // "held" waits in the program's stdout buffer while snapshots are taken: a
    // child that flushed the program's stdio would print it a second time.
    assert.equal(await tg.command('hold'), 'ack hold');

    const quitter = await CDP({ host: '127.0.0.1', port: tg.port });
    let chunks = 0;
    const gone = new Promise((resolve) => {
      quitter.on('HeapProfiler.addHeapSnapshotChunk', () => {
        if (chunks++ > 0) return;
        if (how === 'close') {
          // A close frame; resolves when the agent has answered it and closed
          // (ws would give up on it only after 30 s).
          resolve(quitter.close());
        } else {
          quitter.on('disconnect', resolve);
          quitter._ws.terminate(); // no close frame: the socket just ends
        }
      });
    });
    quitter.send('HeapProfiler.takeHeapSnapshot', { reportProgress: true }, () => {});
    await withTimeout(gone, 20000, 'the first client to be gone');

    const client = await connect(tg);
    const snap = parseSnapshot(chunksOf(await takeSnapshot(client, { reportProgress: true })).join(''));
    assertSites(snap, truth);
    assert.equal(snap.nodes.filter((n) => n.det === 2).length, truth.leaks.count + truth.cycle.count);
    assert.deepEqual(childrenOf(tg.proc.pid), [], 'no snapshot child left, running or zombie');

    // The program's output is its own: "held" once, then the answers.
    assert.equal(await tg.command('flush'), 'held');
    assert.equal(await tg.nextLine(), 'ack flush');
    assert.deepEqual(JSON.parse(await tg.command('truth')), truth);
    await client.close();
    const { checksum } = await tg.finish();
    assert.equal(checksum, (await referenceRun()).checksum);
    assert.equal(tg.lines.filter((l) => l === 'held').length, 1);
    assert.equal(tg.lines.filter((l) => l.startsWith('start ')).length, 1);
  });
}

test('while sampling, sampled blocks carry their allocation stack (trace_function_infos, trace_tree, trace_node_id)', async (t) => {
  const { tg } = await startKnown(t);
  const client = await connect(tg);
  // A mean interval of 1 byte samples every allocation from now on (V8 draws
  // the gaps from an exponential with that mean).
  assert.deepEqual(await client.HeapProfiler.startSampling({ samplingInterval: 1 }), {});
  // A thread notices a start within 64 KiB of its own allocation (the
  // sampler's check window): batches first until that much is allocated,
  // then the blocks to check are those of the last batch, newer than
  // anything in a snapshot taken between.
  let warm = JSON.parse(await tg.command('more'));
  const batch = warm.more.count;
  while (warm.more.bytes < 2 * 65536) warm = JSON.parse(await tg.command('more'));
  const between = parseSnapshot(chunksOf(await takeSnapshot(client, { reportProgress: false })).join(''));
  const maxId = Math.max(...between.nodes.filter((n) => n.type === 'native').map((n) => n.id));
  const more = JSON.parse(await tg.command('more'));
  const text = chunksOf(await takeSnapshot(client, { reportProgress: false })).join('');
  await client.HeapProfiler.stopSampling();
  const s = JSON.parse(text);
  const meta = s.snapshot.meta;
  // As V8 with an allocation tracker: seven fields, trace_node_id before detachedness.
  assert.deepEqual(meta.node_fields, ['type', 'name', 'id', 'self_size', 'edge_count', 'trace_node_id', 'detachedness']);
  assert.equal(meta.node_types.length, 7);
  const NF = 7;
  const T = s.snapshot.trace_function_count;
  assert.ok(T > 1, `trace_function_count ${T}`);
  assert.equal(s.trace_function_infos.length, 6 * T);
  assert.deepEqual(s.trace_function_infos.slice(0, 6), [0, s.strings.indexOf('(root)'), s.strings.indexOf(''), 0, 0, 0]);
  for (let e = 0; e < s.edges.length; e += 3) assert.equal(s.edges[e + 2] % NF, 0, 'to_node counts 7 fields');
  const byId = traceNodes(s);
  assert.equal(byId.get(1).path[0], '(root)');
  // Every block of "more" (allocated while sampling) has a trace node whose
  // innermost function is its site's; blocks made before sampling have none.
  let sampled = 0;
  const leafCounts = new Map();
  for (let i = 0; i < s.snapshot.node_count; i++) {
    const name = s.strings[s.nodes[i * NF + 1]];
    const trace = s.nodes[i * NF + 5];
    if (s.nodes[i * NF] !== meta.node_types[0].indexOf('native')) continue;
    const fn = siteFunction(name);
    if (fn === more.more.site && s.nodes[i * NF + 2] > maxId) {
      assert.ok(trace > 0, `${name} has a trace node`);
      const node = byId.get(trace);
      assert.ok(node, `trace node ${trace} exists`);
      assert.equal(node.path[node.path.length - 1], more.more.site, node.path.join(' > '));
      leafCounts.set(trace, (leafCounts.get(trace) || 0) + 1);
      sampled++;
    } else if (fn === 'make_list_node' || fn === 'make_blob') {
      assert.equal(trace, 0, `${name}: allocated before sampling started`);
    }
  }
  assert.equal(sampled, more.more.count - warm.more.count, 'every block of the last batch');
  assert.equal(sampled, batch);
  // Each node's count estimates the allocations behind it: at a 1-byte
  // interval every sample stands for one allocation, and here all are live.
  for (const [id, live] of leafCounts) assert.ok(byId.get(id).count >= live, `node ${id}: count ${byId.get(id).count} >= ${live} live`);
  await client.close();
});
