'use strict';
// Schema conformance: the HeapProfiler domain the endpoint serves at
// /json/protocol against the official one (devtools-protocol's
// json/js_protocol.json), then the endpoint's own dispatch and decoders
// against that schema, command by command, over a raw WebSocket.
//
// With HS_TEST_TARGET=node the same checks run against node 20 (V8 11.3),
// whose HeapProfiler predates startSampling's stackDepth: that one known
// difference is allowed there and only there (NODE_KNOWN below).

const test = require('node:test');
const assert = require('node:assert/strict');
const official = require('devtools-protocol/json/js_protocol.json');
const config = require('../lib/config');
const { startTarget } = require('../lib/target');
const { getJson } = require('../lib/http');
const { wsConnect } = require('../lib/ws');

const DOMAIN = 'HeapProfiler';
const NODE_KNOWN = config.isNode ? new Set(['command startSampling: parameter stackDepth missing']) : new Set();

const officialDomain = (name) => official.domains.find((d) => d.domain === name);
const qualify = (ref, domain) => (ref.includes('.') ? ref : `${domain}.${ref}`);

/* A parameter, return value or property reduced to what must match. */
function norm(p, domain) {
  const o = { name: p.name, optional: !!p.optional };
  if (p.$ref) o.$ref = qualify(p.$ref, domain);
  else o.type = p.type;
  if (p.items) o.items = p.items.$ref ? { $ref: qualify(p.items.$ref, domain) } : { type: p.items.type };
  if (p.enum) o.enum = [...p.enum];
  return o;
}

/* Differences between two lists of members (by name), as readable lines. */
function diffMembers(where, kind, ours, theirs, domain) {
  const diffs = [];
  const a = new Map((ours || []).map((p) => [p.name, norm(p, domain)]));
  const b = new Map((theirs || []).map((p) => [p.name, norm(p, domain)]));
  for (const [name, want] of b) {
    if (!a.has(name)) diffs.push(`${where}: ${kind} ${name} missing`);
    else if (JSON.stringify(a.get(name)) !== JSON.stringify(want))
      diffs.push(`${where}: ${kind} ${name} is ${JSON.stringify(a.get(name))}, official ${JSON.stringify(want)}`);
  }
  for (const name of a.keys()) if (!b.has(name)) diffs.push(`${where}: ${kind} ${name} is extra`);
  return diffs;
}

function diffNamed(kind, ours, theirs, key, compare) {
  const diffs = [];
  const a = new Map((ours || []).map((x) => [x[key], x]));
  const b = new Map((theirs || []).map((x) => [x[key], x]));
  for (const [name, want] of b) {
    if (!a.has(name)) diffs.push(`${kind} ${name} missing`);
    else diffs.push(...compare(`${kind} ${name}`, a.get(name), want));
  }
  for (const name of a.keys()) if (!b.has(name)) diffs.push(`${kind} ${name} is extra`);
  return diffs;
}

function diffDomain(ours, theirs, domain) {
  return [
    ...diffNamed('command', ours.commands, theirs.commands, 'name', (w, a, b) => [
      ...diffMembers(w, 'parameter', a.parameters, b.parameters, domain),
      ...diffMembers(w, 'return', a.returns, b.returns, domain),
    ]),
    ...diffNamed('event', ours.events, theirs.events, 'name', (w, a, b) => diffMembers(w, 'parameter', a.parameters, b.parameters, domain)),
    ...diffNamed('type', ours.types, theirs.types, 'id', (w, a, b) => {
      const d = [];
      if (a.type !== b.type) d.push(`${w}: type ${a.type}, official ${b.type}`);
      if (JSON.stringify(a.enum || null) !== JSON.stringify(b.enum || null)) d.push(`${w}: enum differs`);
      const items = (x) => (x.items ? norm({ name: '', items: x.items, type: 'array' }, domain).items : null);
      if (JSON.stringify(items(a)) !== JSON.stringify(items(b))) d.push(`${w}: items differ`);
      d.push(...diffMembers(w, 'property', a.properties, b.properties, domain));
      return d;
    }),
  ];
}

/* Every $ref used anywhere in `node`. */
function refsIn(node, domain, out = new Set()) {
  if (Array.isArray(node)) node.forEach((x) => refsIn(x, domain, out));
  else if (node && typeof node === 'object') {
    if (typeof node.$ref === 'string') out.add(qualify(node.$ref, domain));
    for (const v of Object.values(node)) refsIn(v, domain, out);
  }
  return out;
}

/* The official definition of a $ref'd type. */
function resolveType(ref) {
  const [d, id] = ref.split('.');
  const t = officialDomain(d).types.find((x) => x.id === id);
  assert.ok(t, `official type ${ref}`);
  return t;
}

/* The JSON type a parameter finally has (through $refs), and V8's word for it in -32602 data. */
function baseType(p, domain) {
  return p.$ref ? resolveType(qualify(p.$ref, domain)).type : p.type;
}
const V8_WORD = { string: 'string', number: 'double', integer: 'int32', boolean: 'bool', array: 'array', object: 'map start' };

/* A valid value for a parameter of HeapProfiler. */
function validValue(p) {
  switch (baseType(p, DOMAIN)) {
    case 'string':
      return '1';
    case 'number':
      return p.name === 'samplingInterval' ? 32768 : 16;
    case 'integer':
      return 16;
    case 'boolean':
      return false;
    default:
      throw new Error(`no valid value for ${p.name}`);
  }
}

/* A value of the wrong JSON type for a parameter. */
function wrongValue(p) {
  return baseType(p, DOMAIN) === 'string' ? 1 : 'x';
}

async function servedProtocol(t) {
  const tg = await startTarget(t, { args: ['--stdin'] });
  return { tg, protocol: await getJson(tg.port, '/json/protocol') };
}

test('/json/protocol serves HeapProfiler exactly as devtools-protocol defines it', async (t) => {
  const { protocol } = await servedProtocol(t);
  const ours = protocol.domains.find((d) => d.domain === DOMAIN);
  assert.ok(ours, `no ${DOMAIN} domain in /json/protocol`);
  const diffs = diffDomain(ours, officialDomain(DOMAIN), DOMAIN).filter((d) => !NODE_KNOWN.has(d));
  assert.deepEqual(diffs, [], 'differences from devtools-protocol');
  assert.ok(ours.commands.length >= 12 && ours.events.length >= 5 && ours.types.length >= 4, 'the whole domain');
  // The version block CDP clients read: devtools-protocol's (node 20 still says 1.0).
  assert.deepEqual(protocol.version, config.isNode ? { major: '1', minor: '0' } : official.version);
});

test('/json/protocol: every $ref resolves, and the Runtime subset matches devtools-protocol', async (t) => {
  const { protocol } = await servedProtocol(t);
  const served = new Set();
  for (const d of protocol.domains) for (const ty of d.types || []) served.add(`${d.domain}.${ty.id}`);
  const ours = protocol.domains.find((d) => d.domain === DOMAIN);
  const missing = [...refsIn(ours, DOMAIN)].filter((r) => !served.has(r));
  assert.deepEqual(missing, [], 'HeapProfiler refers to types the document does not define');

  const runtime = protocol.domains.find((d) => d.domain === 'Runtime');
  assert.ok(runtime, 'Runtime is served (getHeapUsage, getIsolateId…)');
  const off = officialDomain('Runtime');
  const diffs = [];
  // node serves all of its (older) Runtime; compare only what heapscope serves there.
  const HEAPSCOPE_RUNTIME = ['getHeapUsage', 'getIsolateId', 'runIfWaitingForDebugger', 'enable', 'disable', 'evaluate', 'getProperties',
    'releaseObject', 'releaseObjectGroup', 'callFunctionOn', 'globalLexicalScopeNames'];
  const servedCommands = (runtime.commands || []).filter((c) => !config.isNode || HEAPSCOPE_RUNTIME.includes(c.name));
  for (const c of servedCommands) {
    const o = off.commands.find((x) => x.name === c.name);
    if (!o) {
      diffs.push(`Runtime.${c.name} is not in devtools-protocol`);
      continue;
    }
    // A subset is fine (node serves getHeapUsage without the newer fields); what is served must match.
    for (const [kind, key] of [
      ['parameter', 'parameters'],
      ['return', 'returns'],
    ]) {
      diffs.push(...diffMembers(`Runtime.${c.name}`, kind, c[key], o[key], 'Runtime').filter((d) => !d.endsWith(' missing')));
    }
  }
  const refs = refsIn(ours, DOMAIN);
  const servedTypes = (runtime.types || []).filter((ty) => !config.isNode || refs.has(`Runtime.${ty.id}`));
  for (const ty of servedTypes) {
    const o = off.types.find((x) => x.id === ty.id);
    if (!o) diffs.push(`type Runtime.${ty.id} is not in devtools-protocol`);
    else if (o.type !== ty.type) diffs.push(`type Runtime.${ty.id} is ${ty.type}, official ${o.type}`);
  }
  assert.deepEqual(diffs, []);
  const names = (runtime.commands || []).map((c) => c.name);
  for (const n of HEAPSCOPE_RUNTIME)
    assert.ok(names.includes(n), `Runtime.${n} served`);
});

test('every HeapProfiler command is dispatched, and its decoder matches the schema', async (t) => {
  const { tg } = await servedProtocol(t);
  const ws = await wsConnect({ port: tg.port, path: tg.wsPath });
  tg.onCleanup(() => ws.destroy());
  const commands = officialDomain(DOMAIN).commands;

  /* Success, or a -32000 (V8: any; heapscope: V8's message for the case). */
  const NOT_STARTED = ['V8 sampling heap profiler was not started.'];
  const BY_HEAP_ID = ['Object is not available', 'Invalid heap snapshot object id'];
  const V8_ERRORS = {
    'HeapProfiler.getSamplingProfile': NOT_STARTED,
    'HeapProfiler.stopSampling': NOT_STARTED,
    'HeapProfiler.getObjectByHeapObjectId': BY_HEAP_ID,
    'HeapProfiler.addInspectedHeapObject': BY_HEAP_ID,
    'HeapProfiler.getHeapObjectId': ['Invalid remote object id', 'Cannot find context with specified id', 'Could not find object with given id'],
  };
  const assertKnown = (reply, method, what) => {
    const show = `${what}: ${JSON.stringify(reply).slice(0, 300)}`;
    if ('result' in reply) return;
    assert.ok(reply.error, show);
    assert.notEqual(reply.error.code, -32601, `not dispatched: ${show}`);
    assert.equal(reply.error.code, -32000, show);
    if (config.isNode) return;
    // Each fails as V8's does on such values: no sampling profiler, an id that names nothing.
    assert.ok((V8_ERRORS[method] || []).includes(reply.error.message), show);
  };

  for (const c of commands) {
    const method = `${DOMAIN}.${c.name}`;
    await t.test(c.name, async () => {
      const params = c.parameters || [];
      const known = (p) => !NODE_KNOWN.has(`command ${c.name}: parameter ${p.name} missing`);
      const required = Object.fromEntries(params.filter((p) => !p.optional).map((p) => [p.name, validValue(p)]));
      const all = Object.fromEntries(params.map((p) => [p.name, validValue(p)]));

      assertKnown(await ws.call(method, all, 30000), method, `${method} with every parameter`);
      assertKnown(await ws.call(method, required, 30000), method, `${method} with the required ones`);
      if (params.length === 0) assertKnown(await ws.call(method, undefined, 30000), method, `${method} without params`);

      for (const p of params.filter(known)) {
        const bad = { ...required, [p.name]: wrongValue(p) };
        const reply = await ws.call(method, bad);
        const show = `${method} ${JSON.stringify(bad)}: ${JSON.stringify(reply)}`;
        assert.ok(reply.error, `a wrongly typed ${p.name} must fail: ${show}`);
        assert.equal(reply.error.code, -32602, show);
        assert.equal(reply.error.message, 'Invalid parameters', show);
        const word = V8_WORD[baseType(p, DOMAIN)];
        assert.ok(
          reply.error.data.startsWith(`Failed to deserialize params.${p.name} - BINDINGS: ${word} value expected at position `),
          show
        );
      }
      for (const p of params.filter((x) => !x.optional)) {
        const { [p.name]: _, ...without } = required;
        const reply = await ws.call(method, without);
        const show = `${method} without ${p.name}: ${JSON.stringify(reply)}`;
        assert.equal(reply.error && reply.error.code, -32602, show);
        assert.ok(reply.error.data.startsWith(`Failed to deserialize params.${p.name} - BINDINGS: mandatory field missing at position `), show);
      }
    });
  }
  // A command of no domain we know, for contrast: that one is -32601.
  const r = await ws.call(`${DOMAIN}.notACommand`, {});
  assert.deepEqual(r.error, { code: -32601, message: `'${DOMAIN}.notACommand' wasn't found` });
});
