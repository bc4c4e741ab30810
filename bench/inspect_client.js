// inspect_client.js — the CDP side of bench/inspect.py (object inspection, issue 7):
// connects to one target (the agent in hs-bench-inspect, or node --inspect), checks
// the answers, times each command, and reads the target's RSS around many
// getProperties + releaseObjectGroup cycles. Uses chrome-remote-interface from
// tests/node (scripts/deps.sh test installs it).
//
//   node bench/inspect_client.js SPEC.json
//
// SPEC (written by inspect.py): {ws, pid, tool: "heapscope"|"node", reps, cycles,
// snapshot, blocks, fan, step, miss_id, exprs: {global, first, last, fan, fanArr?},
// and for heapscope head, tail, fan_targets (addresses as "0x…")}.
// Prints one JSON line on stdout: {times: {measure: [ms, …]}, snapshot, ids, rss,
// checks: [what was checked]}. Any wrong answer: a message on stderr, exit 1.
'use strict';
const fs = require('fs');
const path = require('path');

const CDP = require(path.join(__dirname, '..', 'tests', 'node', 'node_modules',
  'chrome-remote-interface'));

// What DevTools sends for a hover card (docs/design/devtools-inspection-traffic.md):
// the accessor-only call and the own-properties call, together.
const OWN = { ownProperties: true, accessorPropertiesOnly: false, nonIndexedPropertiesOnly: false,
  generatePreview: true };
const ACCESSORS = { ownProperties: false, accessorPropertiesOnly: true,
  nonIndexedPropertiesOnly: false, generatePreview: true };

function fail(msg) {
  throw new Error(msg);
}

function check(cond, msg) {
  if (!cond) fail(msg);
}

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

function rssKib(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)/m);
  return m ? Number(m[1]) : null;
}

async function main() {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const hs = spec.tool === 'heapscope';
  const c = await CDP({ target: spec.ws, local: true });
  const send = (m, p = {}) => c.send(m, p);
  const out = { times: {}, checks: [] };
  const timed = async (name, fn) => {
    const t0 = process.hrtime.bigint();
    const r = await fn();
    (out.times[name] = out.times[name] || []).push(ms(t0));
    return r;
  };
  const failure = async (promise) => {
    try {
      const r = await promise;
      fail(`expected an error, got ${JSON.stringify(r).slice(0, 200)}`);
    } catch (e) {
      if (!e.response) throw e;
      return e.response;
    }
  };

  await send('HeapProfiler.enable');
  await send('Runtime.enable');

  // V8 knows heap ids only after a snapshot (or with tracking on); one snapshot,
  // for both tools, before anything else. Chunks are counted, then dropped.
  if (spec.snapshot) {
    let bytes = 0;
    let head = '';
    c.on('HeapProfiler.addHeapSnapshotChunk', ({ chunk }) => {
      if (head.length < 4096) head += chunk.slice(0, 4096);
      bytes += Buffer.byteLength(chunk);
    });
    const t0 = process.hrtime.bigint();
    await send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    const m = head.match(/"node_count":(\d+),"edge_count":(\d+)/);
    out.snapshot = { ms: ms(t0), bytes, nodes: m ? Number(m[1]) : null,
      edges: m ? Number(m[2]) : null };
    c.removeAllListeners('HeapProfiler.addHeapSnapshotChunk');
    out.snapshot.rss_after_kib = rssKib(spec.pid); // before any collectGarbage
  }

  // Ids, from the objects the globals give.
  const evaluate = (expression, objectGroup = 'bench') =>
    send('Runtime.evaluate', { expression, objectGroup });
  const idOf = async (expr) => {
    const r = await evaluate(expr, 'ids');
    check(r.result && r.result.objectId && !r.exceptionDetails,
      `${expr}: not an object: ${JSON.stringify(r).slice(0, 300)}`);
    const { heapSnapshotObjectId: id } = await send('HeapProfiler.getHeapObjectId',
      { objectId: r.result.objectId });
    check(/^[1-9]\d*$/.test(id), `${expr}: heap id ${id}`);
    return { id, description: r.result.description };
  };
  const first = await idOf(spec.exprs.first);
  const last = await idOf(spec.exprs.last);
  await send('Runtime.releaseObjectGroup', { objectGroup: 'ids' });
  out.ids = { first: first.id, last: last.id, miss: spec.miss_id };

  // ---- the answers, checked once before timing ----------------------------------
  const hex = (a) => `0x${BigInt(a).toString(16)}`;
  const slotValue = (props, name) => {
    const p = props.result.find((q) => q.name === name);
    check(p && p.value, `no property ${name}`);
    return p.value;
  };
  const indexOf = async (objectId) => {
    const props = await send('Runtime.getProperties', { objectId, ...OWN });
    const v = slotValue(props, hs ? '8' : 'a');
    check(v.type === 'number', `index slot: ${JSON.stringify(v)}`);
    return v.value;
  };
  const g = (await evaluate(spec.exprs.global)).result;
  if (hs) {
    check(g.type === 'object' && g.description.includes(`@ ${hex(spec.head)} (16 bytes)`),
      `${spec.exprs.global}: ${JSON.stringify(g)}`);
    check(/^make_node inspect_bench\.c:\d+$/.test(g.className), `site: ${g.className}`);
  } else {
    check(g.type === 'object' && g.subtype === 'array' && g.description === `Array(${spec.blocks})`,
      `${spec.exprs.global}: ${JSON.stringify(g)}`);
  }
  out.checks.push(`evaluate ${spec.exprs.global}: ${g.description}`);
  for (const [what, o, index] of [['first', first, 0], ['last', last, spec.blocks - 1]]) {
    const r = await send('HeapProfiler.getObjectByHeapObjectId', { objectId: o.id, objectGroup: 'bench' });
    check(r.result.description === o.description,
      `getObjectByHeapObjectId(${o.id}): ${r.result.description}, evaluate said ${o.description}`);
    if (hs) {
      const addr = what === 'first' ? spec.head : spec.tail;
      check(r.result.description.includes(`@ ${hex(addr)} `), `${what}: ${r.result.description}`);
    }
    const i = await indexOf(r.result.objectId);
    check(i === index, `getObjectByHeapObjectId(${o.id}) is object ${i}, not ${index}`);
    out.checks.push(`getObjectByHeapObjectId ${o.id} → the ${what} object (index ${i}, ${r.result.description})`);
  }
  const miss = await failure(send('HeapProfiler.getObjectByHeapObjectId', { objectId: spec.miss_id }));
  check(miss.code === -32000 && miss.message === 'Object is not available',
    `getObjectByHeapObjectId(${spec.miss_id}): ${JSON.stringify(miss)}`);
  out.checks.push(`getObjectByHeapObjectId ${spec.miss_id} → ${miss.code} ${miss.message}`);

  const checkFan = (props, kind) => {
    for (let k = 0; k < spec.fan; k++) {
      if (hs) {
        const v = slotValue(props, String(8 * k));
        check(v.type === 'object' && v.description.includes(`@ ${hex(spec.fan_targets[k])} (16 bytes)`),
          `fan slot ${8 * k}: ${JSON.stringify(v)}, expected ${spec.fan_targets[k]}`);
      } else {
        const v = slotValue(props, kind === 'array' ? String(k) : `p${k}`);
        const a = v.preview && v.preview.properties.find((q) => q.name === 'a');
        check(v.type === 'object' && a && a.value === String(k * spec.step),
          `fan ${kind} ${k}: ${JSON.stringify(v).slice(0, 300)}`);
      }
    }
    const names = props.result.filter((p) => (hs ? /^\d+$/.test(p.name) :
      kind === 'array' ? /^\d+$/.test(p.name) : /^p\d+$/.test(p.name)));
    check(names.length === spec.fan, `${names.length} slots, expected ${spec.fan}`);
    return props.result.length;
  };
  const fanProps = async (expr) => {
    const o = (await evaluate(expr)).result;
    check(o.objectId, `${expr}: ${JSON.stringify(o)}`);
    return o.objectId;
  };
  out.reply_bytes = {};
  for (const [name, kind] of [['props', 'object'], ['propsArr', 'array']]) {
    const expr = spec.exprs[name === 'props' ? 'fan' : 'fanArr'];
    if (!expr) continue;
    const r = await send('Runtime.getProperties', { objectId: await fanProps(expr), ...OWN });
    const n = checkFan(r, kind);
    out.reply_bytes[name] = Buffer.byteLength(JSON.stringify(r));
    out.checks.push(`getProperties ${expr}: ${spec.fan} objects, each the expected one (${n} properties in all, ` +
      `${out.reply_bytes[name]} bytes of JSON)`);
  }
  await send('Runtime.releaseObjectGroup', { objectGroup: 'bench' });

  // ---- timed: each rep runs every measure once ----------------------------------
  const release = (objectGroup = 'bench') => send('Runtime.releaseObjectGroup', { objectGroup });
  for (let rep = 0; rep < spec.reps; rep++) {
    const e = await timed('miss', () => failure(send('HeapProfiler.getObjectByHeapObjectId',
      { objectId: spec.miss_id, objectGroup: 'bench' })));
    check(e.message === 'Object is not available', `miss: ${e.message}`);
    for (const [name, o] of [['first', first], ['last', last]]) {
      const r = await timed(name, () => send('HeapProfiler.getObjectByHeapObjectId',
        { objectId: o.id, objectGroup: 'bench' }));
      check(r.result.description === o.description, `${name}: ${r.result.description}`);
      await release();
    }
    // A hover card on the first object: DevTools' three commands, then the release.
    await timed('hover', async () => {
      const r = await send('HeapProfiler.getObjectByHeapObjectId', { objectId: first.id, objectGroup: 'popover' });
      const [acc, own] = await Promise.all([
        send('Runtime.getProperties', { objectId: r.result.objectId, ...ACCESSORS }),
        send('Runtime.getProperties', { objectId: r.result.objectId, ...OWN })]);
      check(Array.isArray(acc.result) && own.result.length > 0, 'hover: no properties');
      await release('popover');
    });
    const g2 = await timed('evaluate', () => evaluate(spec.exprs.global));
    check(g2.result.description === g.description, `evaluate: ${g2.result.description}`);
    await release();
    for (const [name, expr] of [['props', spec.exprs.fan], ['propsArr', spec.exprs.fanArr]]) {
      if (!expr) continue;
      const objectId = await fanProps(expr);
      const r = await timed(name, () => send('Runtime.getProperties', { objectId, ...OWN }));
      check(r.result.length >= spec.fan, `${name}: ${r.result.length} properties`);
      await release();
    }
  }

  // ---- RSS around getProperties + releaseObjectGroup cycles ---------------------
  // HeapProfiler.collectGarbage before each reading: V8, a full GC; the agent, malloc_trim.
  const reading = async () => {
    await send('HeapProfiler.collectGarbage');
    return rssKib(spec.pid);
  };
  const cycles = async () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < spec.cycles; i++) {
      const objectId = (await evaluate(spec.exprs.fan, 'rss')).result.objectId;
      const r = await send('Runtime.getProperties', { objectId, ...OWN });
      if (r.result.length < spec.fan) fail(`cycle ${i}: ${r.result.length} properties`);
      await send('Runtime.releaseObjectGroup', { objectGroup: 'rss' });
    }
    return ms(t0) / spec.cycles;
  };
  const r0 = await reading();
  const c1 = await cycles();
  const r1 = await reading();
  const c2 = await cycles();
  const r2 = await reading();
  out.rss = { before_kib: r0, after1_kib: r1, after2_kib: r2, cycle_ms: [c1, c2], cycles: spec.cycles };
  // The objects were released: the last one handed out is gone.
  out.checks.push(`${2 * spec.cycles} evaluate + getProperties + releaseObjectGroup cycles, each ${spec.fan}+ properties`);
  await c.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`inspect_client: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
