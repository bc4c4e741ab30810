#!/usr/bin/env node
'use strict';
// The load test (issue 9 item 3): many CDP sessions at once against the
// agent in a program that allocates from eight threads (load_target.c).
//
//   node load_clients.js [--clients 100] [--seconds 15] [--warmup 3] [--bound-kib 64]
//
// 1. The program runs without the agent (go, stop, go, stop, EOF): its
//    output is the reference.
// 2. Under the agent, with one idle control session: go, a warm-up round of
//    every client for --warmup seconds and at least one whole session each
//    (so that every cache, table and arena the service thread uses has
//    reached its size), stop, and the program's own `mem` (glibc's bytes in
//    use, all arenas: the agent's memory comes from the same allocator).
//    Then go, the measured round for
//    --seconds, stop, `mem` again. At both measurements the program holds
//    exactly the same blocks (its threads are joined and freed everything),
//    no client but the idle control session is connected and every close
//    has been served (a command on the control session after the last
//    client saw its connection close), so the difference is what the agent
//    kept from the round: it must stay under --bound-kib (see BOUND below).
// 3. The program's output under the agent equals the reference.
//
// In a round each client opens a session (the first through /json/list and
// /json/protocol as chrome-remote-interface does, later ones straight to
// the WebSocket), issues a stream of commands drawn from its own seeded
// generator, and reconnects after 40 to 160 of them (20 to 40 in the warm-up), until the deadline.
// Every message a session receives is checked: a reply must carry the id of
// a request of that session still waiting (each id answered once), its
// result must have the shape (and, where the program fixes them, the values)
// its method requires, or be the exact error V8 gives; an event must be one
// that session asked for (snapshot chunks only while its own snapshot
// streams, the timeline's only on the tracking client). Roles: client 1
// owns sampling (start, getSamplingProfile, stop, exact answers), client 2
// tracks the heap (startTrackingHeapObjects, waits for lastSeenObjectId,
// stopTrackingHeapObjects and its snapshot), clients 3 and 4 take a
// snapshot on each session; every client sends the common mix, malformed
// messages included.
//
// Environment: HS_LOAD_TARGET (hs-load-target), HS_AGENT_LIB (see
// tests/node/lib/config.js). Exit status 0 only if everything held.

const path = require('node:path');
const assert = require('node:assert/strict');
const util = require('node:util');

const NODE_DIR = path.join(__dirname, '..', 'node');
const CDP = require(require.resolve('chrome-remote-interface', { paths: [NODE_DIR] }));
const config = require('../node/lib/config');
const { startTarget, withTimeout } = require('../node/lib/target');
const { parseSnapshot } = require('../node/lib/heapsnapshot');

const { values: opts } = util.parseArgs({
  options: {
    clients: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '3' },
    'bound-kib': { type: 'string', default: '64' },
  },
});
const CLIENTS = Number(opts.clients);
const SECONDS = Number(opts.seconds);
const WARMUP = Number(opts.warmup);
/*
 * BOUND: what the agent may keep from a round without it being a leak. At the
 * two measurements the program's blocks are the same, every session but the
 * control one is closed and glibc keeps no per-thread cache (MALLOC_ENV);
 * what legitimately differs is the size the agent's tables last grew to
 * (the sampler's, the symbolizer's): measured here -7 to +2 KiB in 15 s
 * runs and +2 KiB after 90 s (with glibc's cache it was +3 to +31 KiB):
 * nothing grows with the load. 64 KiB leaves room for tables that grow
 * once more. Any leaked block costs at least 32 bytes: leaked on every
 * command (a round answers 16 000 to 64 000 of them), on every call of one
 * method (each common one is called thousands of times) or for every
 * session (150 to 700 of them: 450 bytes each is enough) it is over the
 * bound. A leak only per snapshot (5 to 20 a round) must be a few KiB.
 */
const BOUND = Number(opts['bound-kib']) * 1024;
/*
 * No per-thread cache in glibc's malloc for the program (both runs): its
 * chunks count as in use in mallinfo2, so the service thread's cache (up to
 * 7 chunks of each of 64 sizes, about 230 KiB) would be noise in the
 * measurement as large as the leaks it looks for.
 */
const MALLOC_ENV = { GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0' };
const TARGET = config.require(
  path.resolve(process.env.HS_LOAD_TARGET || path.join(config.repo, 'build', 'bin', 'hs-load-target')),
  'hs-load-target (HS_LOAD_TARGET)'
);

const REPLY_MS = 30000; // a snapshot of another client holds the service thread meanwhile
const LOAD_MAGIC = 0x0123456789abcdefn;
const RECORD_SITE = /^make_load_record load_target\.c:\d+$/;
const RAW_ID0 = 1000000000; // ids of raw messages, far above chrome-remote-interface's own
const hex = (a) => `0x${BigInt(a).toString(16)}`;

const failures = [];
const stats = { sessions: 0, commands: 0, raw: 0, events: 0, snapshots: 0, profiles: 0, byMethod: {}, slowest: {} };

function fail(what, detail) {
  failures.push(`${what}: ${detail}`);
  if (failures.length <= 10) console.error(`FAIL ${what}: ${detail}`);
}

/* The failures by kind (numbers taken out), most frequent first. */
function failureKinds() {
  const kinds = new Map();
  for (const f of failures) {
    const key = f.split('\n')[0].replace(/\d+/g, 'N').slice(0, 300);
    kinds.set(key, (kinds.get(key) || 0) + 1);
  }
  return [...kinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${String(n).padStart(6)} x ${k}`);
}

/* Deterministic per-client choices (xorshift32). */
function rng(seed) {
  let x = seed * 2654435761 >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

/*
 * One CDP session: chrome-remote-interface for the ordinary requests, and a
 * second listener on its WebSocket that sees every message as it arrives, to
 * check ids and events (chrome-remote-interface drops a reply whose id it
 * does not know).
 */
class Session {
  constructor(client, label) {
    this.client = client;
    this.label = label;
    this.pending = new Map(); // id -> method, every request not yet answered
    this.rawWaiters = new Map(); // id -> resolve, for raw messages
    this.idless = []; // resolvers of raw messages answered without an id, in order
    this.allowed = new Set(['Runtime.executionContextCreated']);
    this.closed = false;
    this.nextRaw = RAW_ID0;
    client._ws.on('message', (data) => this.onMessage(data));
    client.on('disconnect', () => (this.closed = true));
  }

  onMessage(data) {
    let msg;
    try {
      msg = JSON.parse(data.toString());
    } catch (e) {
      fail(this.label, `a message that is not JSON: ${String(data).slice(0, 200)}`);
      return;
    }
    if ('id' in msg) {
      if (!this.pending.has(msg.id)) {
        fail(this.label, `a reply to no waiting request of this session: ${JSON.stringify(msg).slice(0, 300)}`);
        return;
      }
      this.pending.delete(msg.id);
      const w = this.rawWaiters.get(msg.id);
      if (w) {
        this.rawWaiters.delete(msg.id);
        w(msg);
      }
    } else if (typeof msg.method === 'string') {
      stats.events++;
      if (!this.allowed.has(msg.method)) fail(this.label, `an event it did not ask for: ${JSON.stringify(msg).slice(0, 300)}`);
    } else if (msg.error) {
      const w = this.idless.shift();
      if (!w) fail(this.label, `an error without id to no malformed message: ${JSON.stringify(msg)}`);
      else w(msg);
    } else {
      fail(this.label, `neither reply nor event: ${JSON.stringify(msg).slice(0, 300)}`);
    }
  }

  /* {result} or {error} (the JSON-RPC error object); throws on anything else. */
  async send(method, params = {}) {
    const id = this.client._nextCommandId;
    this.pending.set(id, method);
    stats.commands++;
    stats.byMethod[method] = (stats.byMethod[method] || 0) + 1;
    const t0 = Date.now();
    try {
      return { result: await withTimeout(this.client.send(method, params), REPLY_MS, `${this.label} ${method}`) };
    } catch (e) {
      if (e.response) return { error: e.response };
      throw e;
    } finally {
      stats.slowest[method] = Math.max(stats.slowest[method] || 0, Date.now() - t0);
    }
  }

  /* A text sent as it is; resolves with the reply message. withId: the id the text carries. */
  raw(text, withId) {
    stats.raw++;
    const reply = new Promise((resolve) => {
      if (withId === undefined) this.idless.push(resolve);
      else {
        this.pending.set(withId, 'raw');
        this.rawWaiters.set(withId, resolve);
      }
    });
    this.client._ws.send(text);
    return withTimeout(reply, REPLY_MS, `${this.label} reply to ${text.slice(0, 60)}`);
  }

  async close() {
    if (this.pending.size) fail(this.label, `requests never answered: ${[...this.pending.values()].join(', ')}`);
    if (this.idless.length) fail(this.label, `${this.idless.length} malformed messages never answered`);
    if (this.closed) fail(this.label, 'the agent closed the session');
    // Resolves when the socket is closed, so that the agent has seen the
    // close before the memory is measured.
    await withTimeout(this.client.close(), REPLY_MS, `${this.label} close`);
  }
}

async function openSession(tg, label, direct) {
  const client = direct
    ? await CDP({ target: tg.wsUrl, local: true })
    : await CDP({ host: '127.0.0.1', port: tg.port });
  stats.sessions++;
  const s = new Session(client, label);
  let ctx = null;
  client.once('Runtime.executionContextCreated', (p) => (ctx = p.context));
  expectEqual(s, 'HeapProfiler.enable', await s.send('HeapProfiler.enable'), { result: {} });
  expectEqual(s, 'Runtime.enable', await s.send('Runtime.enable'), { result: {} });
  // The event comes before the reply (V8's order), so it is here by now.
  expect(s, 'executionContextCreated before the reply of Runtime.enable', ctx && ctx.id === 1, ctx);
  return s;
}

function expectEqual(s, what, got, want) {
  try {
    assert.deepEqual(got, want);
  } catch {
    fail(`${s.label} ${what}`, `got ${JSON.stringify(got).slice(0, 400)}, want ${JSON.stringify(want)}`);
  }
}

function expect(s, what, cond, got) {
  if (!cond) fail(`${s.label} ${what}`, `got ${JSON.stringify(got).slice(0, 400)}`);
  return cond;
}

/* ---- what the program's memory looks like, through the agent ---- */

class Known {
  constructor(addrs) {
    this.addrs = addrs; // the records, in chain order
    this.headClass = null; // learnt from the first evaluate, then fixed
    this.headId = null; // the head's heap object id: the same for every client
  }
  headDescription(i) {
    return `${this.headClass} @ ${hex(this.addrs[i])} (32 bytes)`;
  }
}

async function evalHead(s, k) {
  const r = await s.send('Runtime.evaluate', { expression: 'g_load_head', objectGroup: 'load' });
  const o = r.result && r.result.result;
  if (!expect(s, 'evaluate g_load_head', o && o.type === 'object' && RECORD_SITE.test(o.className) && !r.result.exceptionDetails, r)) return null;
  if (!k.headClass) k.headClass = o.className;
  expectEqual(s, 'g_load_head description', o.description, k.headDescription(0));
  expect(s, 'g_load_head objectId', /^\d+\.1\.\d+$/.test(o.objectId), o);
  return o;
}

const steps = {
  async counter(s) {
    const r = await s.send('Runtime.evaluate', { expression: 'g_load_counter' });
    expectEqual(s, 'evaluate g_load_counter', r, { result: { result: { type: 'number', value: 4242, description: '4242' } } });
  },
  async magic(s) {
    const r = await s.send('Runtime.evaluate', { expression: '*(g_load_head[0][0] + 8)' });
    const o = r.result && r.result.result;
    expect(s, 'evaluate the third record\'s magic', o && o.type === 'number' && o.description === hex(LOAD_MAGIC + 2n), r);
  },
  async chain(s, k) {
    const head = await evalHead(s, k);
    if (!head) return;
    const r = await s.send('Runtime.getProperties', { objectId: head.objectId, ownProperties: true });
    const p = r.result && r.result.result;
    if (!expect(s, 'getProperties of g_load_head', Array.isArray(p) && p.map((x) => x.name).join() === '0,8,16,24', r)) return;
    expectEqual(s, 'record 0 magic', p[1].value.description, hex(LOAD_MAGIC));
    expectEqual(s, 'record 0 next', p[0].value.description, k.headDescription(1));
    const r1 = await s.send('Runtime.getProperties', { objectId: p[0].value.objectId, ownProperties: true });
    const p1 = r1.result && r1.result.result;
    if (!expect(s, 'getProperties of record 1', Array.isArray(p1) && p1.length === 4, r1)) return;
    expectEqual(s, 'record 1 magic', p1[1].value.description, hex(LOAD_MAGIC + 1n));
    expectEqual(s, 'record 1 next', p1[0].value.description, k.headDescription(2));
  },
  async heapId(s, k) {
    const head = await evalHead(s, k);
    if (!head) return;
    const r = await s.send('HeapProfiler.getHeapObjectId', { objectId: head.objectId });
    const id = r.result && r.result.heapSnapshotObjectId;
    if (!expect(s, 'getHeapObjectId', typeof id === 'string' && /^\d+$/.test(id) && Number(id) % 2 === 1, r)) return;
    if (!k.headId) k.headId = id;
    expectEqual(s, 'the head\'s heap object id, the same for every client', id, k.headId);
    const back = await s.send('HeapProfiler.getObjectByHeapObjectId', { objectId: id, objectGroup: 'load' });
    expectEqual(s, 'getObjectByHeapObjectId', back.result && back.result.result.description, k.headDescription(0));
  },
  async usage(s) {
    const r = await s.send('Runtime.getHeapUsage');
    const u = r.result || {};
    expect(s, 'getHeapUsage', typeof u.usedSize === 'number' && u.usedSize > 0 && u.totalSize >= u.usedSize, r);
  },
  async gc(s) {
    expectEqual(s, 'collectGarbage', await s.send('HeapProfiler.collectGarbage'), { result: {} });
  },
  async release(s) {
    expectEqual(s, 'releaseObjectGroup', await s.send('Runtime.releaseObjectGroup', { objectGroup: 'load' }), { result: {} });
  },
  async profileAny(s) {
    // Sampling is the heap's, started and stopped by client 1: either answer is right here.
    const r = await s.send('HeapProfiler.getSamplingProfile');
    const ok = (r.result && r.result.profile && r.result.profile.head && Array.isArray(r.result.profile.samples)) ||
      (r.error && r.error.code === -32000 && r.error.message === 'V8 sampling heap profiler was not started.');
    expect(s, 'getSamplingProfile', ok, r);
  },
  async errors(s, k, pick) {
    switch (pick(8)) {
      case 0:
        expectEqual(s, 'Foo.bar', await s.send('Foo.bar'), { error: { code: -32601, message: "'Foo.bar' wasn't found" } });
        break;
      case 1: {
        const r = await s.send('HeapProfiler.getObjectByHeapObjectId', {});
        const e = r.error || {};
        expect(s, 'getObjectByHeapObjectId without objectId', e.code === -32602 && e.message === 'Invalid parameters' &&
          /^Failed to deserialize params\.objectId - BINDINGS: mandatory field missing at position \d+$/.test(e.data), r);
        break;
      }
      case 2: {
        const r = await s.send('Runtime.evaluate', { expression: 'no_such_symbol' });
        const o = r.result || {};
        expect(s, 'evaluate no_such_symbol', o.exceptionDetails && o.result.className === 'ReferenceError' &&
          o.result.description === 'ReferenceError: no_such_symbol is not defined', r);
        break;
      }
      case 3: {
        // An id of this process (its isolate) that was never handed out.
        const head = await evalHead(s, k);
        if (!head) break;
        const never = head.objectId.replace(/\.\d+$/, '.999999999999');
        expectEqual(s, 'getProperties of an unknown object', await s.send('Runtime.getProperties', { objectId: never }),
          { error: { code: -32000, message: 'Could not find object with given id' } });
        break;
      }
      case 4: {
        const id = s.nextRaw++;
        const r = await s.raw(`{"id":${id},"method":"Runtime.getHeapUsage","bogus":1}`, id);
        expectEqual(s, 'an unknown member', r, { id, error: { code: -32600, message: "Message has property other than 'id', 'method', 'sessionId', 'params'" } });
        break;
      }
      case 5: {
        const r = await s.raw('{"id":7,"method":"HeapProfiler.collectGarbage"');
        expectEqual(s, 'truncated JSON', r, { error: { code: -32700, message: 'Message must be a valid JSON' } });
        break;
      }
      case 6: {
        const r = await s.raw('{"method":"Runtime.getHeapUsage"}');
        expectEqual(s, 'no id', r, { error: { code: -32600, message: "Message must have integer 'id' property" } });
        break;
      }
      default: {
        const r = await s.send('HeapProfiler.startSampling', { samplingInterval: 'x' });
        const e = r.error || {};
        expect(s, 'startSampling interval "x"', e.code === -32602 && e.message === 'Invalid parameters' &&
          e.data.startsWith('Failed to deserialize params.samplingInterval - BINDINGS: double value expected'), r);
      }
    }
  },
};
const MIX = [
  ['counter', 3], ['magic', 2], ['chain', 3], ['heapId', 2], ['usage', 3], ['gc', 1], ['release', 3],
  ['profileAny', 1], ['errors', 3],
];
const MIX_TOTAL = MIX.reduce((a, [, w]) => a + w, 0);

function drawStep(pick) {
  let r = pick(MIX_TOTAL);
  for (const [name, w] of MIX) {
    if (r < w) return name;
    r -= w;
  }
  throw new Error('unreachable');
}

/* A streamed snapshot on s (takeHeapSnapshot or stopTrackingHeapObjects), checked whole. */
async function snapshot(s, k, method, params) {
  const chunks = [];
  let replied = false;
  let late = 0;
  const onChunk = ({ chunk }) => (replied ? late++ : chunks.push(chunk));
  s.allowed.add('HeapProfiler.addHeapSnapshotChunk');
  s.allowed.add('HeapProfiler.reportHeapSnapshotProgress');
  s.client.on('HeapProfiler.addHeapSnapshotChunk', onChunk);
  const r = await s.send(method, params);
  replied = true;
  // A fence: whatever the agent sent before this reply belongs to the snapshot.
  await s.send('Runtime.getHeapUsage');
  s.client.removeListener('HeapProfiler.addHeapSnapshotChunk', onChunk);
  s.allowed.delete('HeapProfiler.addHeapSnapshotChunk');
  s.allowed.delete('HeapProfiler.reportHeapSnapshotProgress');
  expectEqual(s, method, r, { result: {} });
  expect(s, `${method}: chunks after its reply`, late === 0, late);
  stats.snapshots++;
  let snap;
  try {
    snap = parseSnapshot(chunks.join(''));
  } catch (e) {
    fail(`${s.label} ${method}`, `not a valid snapshot: ${e.message}`);
    return;
  }
  expect(s, `${method}: nodes`, snap.nodes.length > 100, snap.nodes.length);
  if (k.headId) {
    const node = snap.nodes.find((n) => n.id === Number(k.headId));
    expect(s, `${method}: the head record by its id`, node && RECORD_SITE.test(node.name) && node.self === 32 &&
      node.retainers.some((e) => e.name === 'g_load_head'), node && { name: node.name, self: node.self });
  }
}

function profileFunctions(profile) {
  const names = new Set();
  const walk = (n) => {
    if (n.selfSize > 0) names.add(n.callFrame.functionName);
    (n.children || []).forEach(walk);
  };
  if (profile && profile.head) walk(profile.head);
  return names;
}

async function sampling(s) {
  expectEqual(s, 'startSampling', await s.send('HeapProfiler.startSampling', { samplingInterval: 4096 }), { result: {} });
  const checkProfile = (what, r) => {
    const p = r.result && r.result.profile;
    expect(s, what, p && p.head && typeof p.head.id === 'number' && Array.isArray(p.head.children) && Array.isArray(p.samples), r);
    stats.profiles++;
  };
  // Until a sample of the program's threads is in (they allocate megabytes a
  // second; bounded by the deadline): the sampler's stack store then has its
  // first chunk, kept for the process's life, before the first measurement.
  const until = Date.now() + REPLY_MS;
  for (;;) {
    const r = await s.send('HeapProfiler.getSamplingProfile');
    checkProfile('getSamplingProfile', r);
    if (r.result && profileFunctions(r.result.profile).has('alloc_block')) break;
    if (Date.now() > until) {
      fail(s.label, 'no sample in alloc_block while the program allocates');
      break;
    }
  }
  checkProfile('stopSampling', await s.send('HeapProfiler.stopSampling'));
  expectEqual(s, 'stopSampling again', await s.send('HeapProfiler.stopSampling'),
    { error: { code: -32000, message: 'V8 sampling heap profiler was not started.' } });
}

async function tracking(s, k) {
  s.allowed.add('HeapProfiler.heapStatsUpdate');
  s.allowed.add('HeapProfiler.lastSeenObjectId');
  const seen = new Promise((resolve) => s.client.once('HeapProfiler.lastSeenObjectId', resolve));
  expectEqual(s, 'startTrackingHeapObjects', await s.send('HeapProfiler.startTrackingHeapObjects', { trackAllocations: false }), { result: {} });
  const ev = await withTimeout(seen, REPLY_MS, `${s.label} lastSeenObjectId`);
  expect(s, 'lastSeenObjectId', Number.isInteger(ev.lastSeenObjectId) && ev.timestamp > 0, ev);
  await snapshot(s, k, 'HeapProfiler.stopTrackingHeapObjects', { reportProgress: false });
  s.allowed.delete('HeapProfiler.heapStatsUpdate');
  s.allowed.delete('HeapProfiler.lastSeenObjectId');
}

async function runClient(tg, k, i, deadline, minSessions) {
  const pick = rng(i + 1);
  for (let n = 0; Date.now() < deadline || n < minSessions; n++) {
    const label = `client ${i} session ${n}`;
    let s;
    try {
      s = await openSession(tg, label, n > 0);
    } catch (e) {
      fail(label, `could not open the session: ${e.message}`);
      return;
    }
    // The warm-up's sessions are shorter: it needs every kind of work once
    // at full concurrency, not volume.
    const budget = minSessions ? 20 + pick(21) : 40 + pick(121);
    try {
      if (i === 3 || i === 4) await snapshot(s, k, 'HeapProfiler.takeHeapSnapshot', { reportProgress: n % 2 === 0 });
      for (let c = 0; c < budget && (Date.now() < deadline || n < minSessions); c++) {
        if (c === 10 && i === 1) await sampling(s);
        else if (c === 10 && i === 2) await tracking(s, k);
        else await steps[drawStep(pick)](s, k, pick);
      }
      await s.close();
    } catch (e) {
      fail(label, e.stack);
      await s.client.close().catch(() => {});
      return;
    }
  }
}

/* Until the deadline, and until every client has finished minSessions whole sessions. */
async function round(tg, k, seconds, name, minSessions) {
  const t0 = Date.now();
  const before = { ...stats };
  const deadline = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => runClient(tg, k, i, deadline, minSessions)));
  const ms = Date.now() - t0;
  console.log(`${name}: ${CLIENTS} clients, ${ms} ms, ${stats.sessions - before.sessions} sessions, ` +
    `${stats.commands - before.commands} commands and ${stats.raw - before.raw} raw messages answered, ` +
    `${stats.snapshots - before.snapshots} snapshots, ${stats.profiles - before.profiles} profiles`);
}

const parseMem = (line) => {
  const m = /^mem inuse=(\d+) arena=(\d+) mmap=(\d+) rss=(\d+) registry=(\d+)$/.exec(line);
  assert.ok(m, `not a mem line: ${line}`);
  return { inuse: Number(m[1]), arena: Number(m[2]), mmap: Number(m[3]), rss: Number(m[4]), registry: Number(m[5]) };
};

async function main() {
  const script = ['go', 'stop', 'go', 'stop'];
  const ref = await startTarget(null, { program: TARGET, listen: false, env: MALLOC_ENV });
  const refOut = [];
  try {
    for (const c of script) refOut.push(await ref.command(c));
    refOut.push(`done ${(await ref.finish()).checksum}`);
  } finally {
    await ref.kill();
  }

  const tg = await startTarget(null, { program: TARGET, env: MALLOC_ENV });
  const out = [];
  let control;
  try {
    const a = (await tg.command('addrs')).split(' ');
    const k = new Known(a.slice(1).map((x) => BigInt(x)));
    control = await CDP({ host: '127.0.0.1', port: tg.port });
    const fence = () => control.send('Runtime.getHeapUsage');

    out.push(await tg.command('go'));
    // Every client finishes a whole session in it, so that every kind of
    // work (the roles' included) has run at full concurrency before the
    // first measurement.
    await round(tg, k, WARMUP, 'warm-up', 1);
    out.push(await tg.command('stop'));
    await fence();
    const m0 = parseMem(await tg.command('mem'));

    out.push(await tg.command('go'));
    await round(tg, k, SECONDS, 'load', 0);
    out.push(await tg.command('stop'));
    await fence();
    const m1 = parseMem(await tg.command('mem'));
    const epochs = await tg.command('epochs');

    const grown = m1.inuse - m0.inuse;
    console.log(`program: ${epochs.split(' ')[1]} epochs of its 8 threads in both rounds`);
    console.log(`glibc bytes in use after warm-up ${m0.inuse}, after the load ${m1.inuse}: ${grown >= 0 ? '+' : ''}${grown} ` +
      `(bound ${BOUND}); registry ${m0.registry} -> ${m1.registry}, arena ${m0.arena} -> ${m1.arena}, ` +
      `mmapped ${m0.mmap} -> ${m1.mmap}, rss ${m0.rss} -> ${m1.rss}`);
    if (grown > BOUND) fail('agent memory', `grew by ${grown} bytes over the load, more than ${BOUND}`);

    await control.close();
    control = null;
    out.push(`done ${(await tg.finish()).checksum}`);
  } finally {
    if (control) await control.close().catch(() => {});
    await tg.kill();
  }
  try {
    assert.deepEqual(out, refOut);
  } catch {
    fail('program output', `under the agent ${JSON.stringify(out)}, without it ${JSON.stringify(refOut)}`);
  }
  console.log(`commands: ${JSON.stringify(stats.byMethod)}`);
  console.log(`slowest reply, ms: ${JSON.stringify(stats.slowest)}`);
  if (failures.length) {
    console.error(`${failures.length} failures (the first 10 above), by kind:\n${failureKinds().join('\n')}`);
    if (failures.some((f) => /could not open the session: (socket hang up|read ECONNRESET)/.test(f)))
      console.error('(the agent serves HS_LIMIT_CONNECTIONS connections at once, src/common/hs_limits.h; more wait in the listen backlog)');
    process.exitCode = 1;
  } else {
    console.log('load: every reply correct, agent memory within bound, program output unchanged');
  }
}

main().catch((e) => {
  console.error(e.stack);
  process.exitCode = 1;
});
