'use strict';
// Object inspection (issue 7) through chrome-remote-interface, against a
// program whose values are known exactly (tests/inspect/inspect_target.c,
// HS_INSPECT_TARGET): Runtime.enable's context, Runtime.evaluate of the
// expression language, getProperties of blocks and globals, the three
// HeapProfiler object-id commands (ids checked against a heap snapshot of the
// same process), releasing objects, the object table's bound, Store as global
// variable, the commands DevTools sends on attach, and every error case with
// V8's texts (spec §2.5, golden/v8-node20). Agent only: node cannot run the C
// program.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { connect } = require('../lib/cdp');
const config = require('../lib/config');
const { startTarget } = require('../lib/target');
const { streamSnapshot, chunksOf, parseSnapshot } = require('../lib/heapsnapshot');

const TARGET = config.require(
  path.resolve(process.env.HS_INSPECT_TARGET || path.join(config.repo, 'build', 'bin', 'hs-inspect-target')),
  'hs-inspect-target (HS_INSPECT_TARGET)'
);
const RECORD_SITE = /^make_record inspect_target\.c:\d+$/;
const MAGIC = 0x1122334455667788n;
const FAN_N = 1024;
const OBJECTS_MAX = 65536;


/* The JSON-RPC error of a call that must fail. */
async function failure(promise) {
  try {
    const r = await promise;
    assert.fail(`expected an error, got ${JSON.stringify(r)}`);
  } catch (e) {
    assert.ok(e.response, `not a protocol error: ${e.stack}`);
    return e.response;
  }
}

const evaluate = (c, expression, extra = {}) => c.send('Runtime.evaluate', { expression, objectGroup: 'test', ...extra });
const props = (c, objectId, extra = {}) => c.send('Runtime.getProperties', { objectId, ownProperties: true, ...extra });
const hex = (a) => `0x${BigInt(a).toString(16)}`;
const slot = (r, name) => r.result.find((p) => p.name === name);
const internal = (r, name) => (r.internalProperties || []).find((p) => p.name === name);

describe('inspection of a native process', () => {
  let tg;
  let c;
  let addrs; // g_head, rec1, doomed, big, &g_counter
  before(async (t) => {
    tg = await startTarget(null, { program: TARGET });
    const line = await tg.command('addrs');
    const m = line.match(/^addrs (\S+) (\S+) (\S+) (\S+) (\S+)$/);
    assert.ok(m, line);
    addrs = { head: BigInt(m[1]), rec1: BigInt(m[2]), doomed: BigInt(m[3]), big: BigInt(m[4]), counter: BigInt(m[5]) };
    c = await connect(tg);
  });
  after(() => tg && tg.kill());

  it('Runtime.enable reports the one context, before its reply and once', async () => {
    const events = [];
    const onEvent = (m) => events.push(m.method);
    c.on('event', onEvent);
    let context;
    c.once('Runtime.executionContextCreated', (p) => (context = p.context));
    const replied = c.send('Runtime.enable').then(() => events.slice());
    assert.deepEqual(await replied, ['Runtime.executionContextCreated']);
    assert.equal(context.id, 1);
    assert.equal(context.origin, '');
    assert.match(context.name, /^hs-inspect-targ\[\d+\]$/);
    assert.match(context.uniqueId, /^\d+\.\d+$/);
    assert.deepEqual(context.auxData, { isDefault: true });
    await c.send('Runtime.enable');
    await c.send('Runtime.getIsolateId'); // a reply after any second event
    c.removeListener('event', onEvent);
    assert.deepEqual(events, ['Runtime.executionContextCreated'], 'a second enable reports nothing again');
  });

  it('evaluates globals, pointers, offsets and indexing to the known values', async () => {
    const head = (await evaluate(c, 'g_head')).result;
    assert.equal(head.type, 'object');
    assert.match(head.className, RECORD_SITE);
    assert.equal(head.description, `${head.className} @ ${hex(addrs.head)} (32 bytes)`);
    assert.match(head.objectId, /^\d+\.1\.\d+$/);

    const rec1 = (await evaluate(c, '*g_head')).result;
    assert.equal(rec1.description, `${head.className} @ ${hex(addrs.rec1)} (32 bytes)`);
    assert.equal((await evaluate(c, 'g_head[0]')).result.description, rec1.description);
    assert.equal((await evaluate(c, '(g_head)[0][0][0]')).result.type, 'number', 'the last record points nowhere');
    assert.deepEqual((await evaluate(c, '*(*g_head)[0]')).result, { type: 'number', value: 0, description: '0' });

    assert.deepEqual((await evaluate(c, 'g_counter')).result, { type: 'number', value: 42, description: '42' });
    const amp = (await evaluate(c, '&g_counter')).result;
    assert.equal(amp.className, 'g_counter');
    assert.equal(amp.description, `&g_counter @ ${hex(addrs.counter)} (4 bytes)`);
    assert.equal((await evaluate(c, 'g_ptrs[1]')).result.description, amp.description);
    assert.equal((await evaluate(c, '*g_ptrs[1]')).result.value, 42);
    assert.equal((await evaluate(c, `*${hex(addrs.counter)}`)).result.value & 0xffffffff, 42, 'a hex address');

    const magic = (await evaluate(c, '*(g_head + 8)')).result;
    assert.equal(magic.type, 'number');
    assert.equal(magic.description, hex(MAGIC));
    assert.equal((await evaluate(c, ' * ( g_head+16-8 ) ')).result.description, hex(MAGIC), 'spaces, + and -');
    const inner = (await evaluate(c, 'g_head + 8')).result;
    assert.equal(inner.description, `${head.className} @ ${hex(addrs.head)} +8 (32 bytes)`);
    assert.deepEqual((await evaluate(c, '(g_head + 24) - g_head')).result, { type: 'number', value: 24, description: '24' });

    const arr = (await evaluate(c, 'g_ptrs')).result;
    assert.equal(arr.description.startsWith('&g_ptrs @ '), true, 'a global wider than a word is its storage');
    const glob = (await evaluate(c, 'this')).result;
    assert.equal(glob.className, 'global');
  });

  it('answers what does not evaluate with an exception result, never an error or a crash', async () => {
    const cases = [
      ['1 +', 'SyntaxError', 'SyntaxError: Unexpected end of input', 3],
      ['g_head %', 'SyntaxError', "SyntaxError: Unexpected token '%'", 7],
      ['no_such_symbol', 'ReferenceError', 'ReferenceError: no_such_symbol is not defined', 0],
      ['*0x10', 'Error', 'Error: cannot read memory at 0x10', 0],
      ['0x1ffffffffffffffff', 'RangeError', 'RangeError: the number does not fit in 64 bits', 0],
      ['12abc', 'SyntaxError', 'SyntaxError: Invalid or unexpected token', 0],
      ['g_head + g_head', 'TypeError', 'TypeError: cannot add two addresses', 7],
      ['&$0', 'TypeError', 'TypeError: & takes the name of a global variable, not $0', 1],
      ['*this', 'TypeError', 'TypeError: the global object is not an address', 0],
      ['', 'SyntaxError', 'SyntaxError: Unexpected end of input', 0],
      ['a\u0000b', 'SyntaxError', 'SyntaxError: Invalid or unexpected token', 1],
      [`${'*'.repeat(100)}g_head`, 'RangeError', 'RangeError: the expression is nested too deeply', 64],
      [`g_counter${' + 1'.repeat(1100)}`, 'RangeError', 'RangeError: the expression is longer than 4096 characters', 0],
    ];
    for (const [expression, cls, text, col] of cases) {
      const r = await evaluate(c, expression);
      const what = JSON.stringify(expression).slice(0, 40);
      assert.deepEqual(r.result, { type: 'object', subtype: 'error', className: cls, description: text }, what);
      assert.equal(r.exceptionDetails.text, 'Uncaught', what);
      assert.equal(r.exceptionDetails.columnNumber, col, what);
      assert.equal(r.exceptionDetails.lineNumber, 0, what);
      assert.deepEqual(r.exceptionDetails.exception, r.result, what);
    }
    // Params are checked as V8 checks them, before evaluating.
    const bad = await failure(c.send('Runtime.evaluate', {}));
    assert.equal(bad.code, -32602);
    assert.equal((await failure(evaluate(c, '1', { contextId: 7 }))).message, 'Cannot find context with specified id');
    assert.equal((await evaluate(c, '1', { contextId: 1 })).result.value, 1);
  });

  it("getProperties shows a block's slots: pointers as objects, other words as numbers, and its bytes", async () => {
    const head = (await evaluate(c, 'g_head')).result;
    const r = await props(c, head.objectId);
    assert.deepEqual(r.result.map((p) => p.name), ['0', '8', '16', '24']);
    const next = slot(r, '0').value;
    assert.equal(next.type, 'object');
    assert.equal(next.description, `${head.className} @ ${hex(addrs.rec1)} (32 bytes)`);
    assert.equal(slot(r, '8').value.description, hex(MAGIC));
    assert.equal(slot(r, '16').value.description, hex(Buffer.from('rec-0\0\0\0').readBigUInt64LE()));
    for (const p of r.result) assert.equal(p.enumerable && p.isOwn, true);
    assert.equal(internal(r, '[[address]]').value.value, hex(addrs.head));
    assert.equal(internal(r, '[[size]]').value.value, 32);
    assert.equal(internal(r, '[[site]]').value.value, head.className);
    assert.match(internal(r, '[[bytes]]').value.value, /\|.{16}rec-0.{11}\|$/);
    // The next record, through the object the slot handed out.
    const r1 = await props(c, next.objectId);
    assert.equal(slot(r1, '8').value.description, hex(MAGIC + 1n));
    // No accessors on a native block.
    assert.deepEqual(await props(c, head.objectId, { accessorPropertiesOnly: true }), { result: [] });
    // A global's storage, slot by slot.
    const ptrs = await props(c, (await evaluate(c, '&g_ptrs')).result.objectId);
    assert.deepEqual(ptrs.result.map((p) => p.name), ['0', '8', '16', '24']);
    assert.equal(slot(ptrs, '0').value.description, head.description);
    assert.equal(slot(ptrs, '8').value.className, 'g_counter');
    assert.equal(slot(ptrs, '24').value.value, 0);
    // A big block: the first 8 KiB, then how to see the rest.
    const big = await props(c, (await evaluate(c, 'g_big')).result.objectId);
    assert.equal(big.result.length, 1024);
    assert.equal(slot(big, '8184').value.value, 1023);
    assert.match(internal(big, '[[shown]]').value.value, /^the first 8192 of 20000 bytes/);
    const rest = await props(c, (await evaluate(c, 'g_big + 8192')).result.objectId);
    assert.equal(slot(rest, '0').value.value, 1024);
    // The global object: the program's globals by name.
    const glob = await props(c, (await evaluate(c, 'this')).result.objectId);
    assert.equal(slot(glob, 'g_counter').value.value, 42);
    assert.equal(slot(glob, 'g_head').value.description, head.description);
  });

  it('getHeapObjectId gives the id the heap snapshot gives the block, also from inside it; "0" for what is no block', async () => {
    const head = (await evaluate(c, 'g_head')).result;
    const { heapSnapshotObjectId: id } = await c.send('HeapProfiler.getHeapObjectId', { objectId: head.objectId });
    assert.match(id, /^\d+$/);
    assert.equal(Number(id) % 2, 1, 'block ids are odd');
    const again = await c.send('HeapProfiler.getHeapObjectId', { objectId: (await evaluate(c, 'g_head + 8')).result.objectId });
    assert.equal(again.heapSnapshotObjectId, id, 'an interior place is its block');
    for (const e of ['&g_counter', 'this'])
      assert.deepEqual(await c.send('HeapProfiler.getHeapObjectId', { objectId: (await evaluate(c, e)).result.objectId }), { heapSnapshotObjectId: '0' }, e);

    const snap = parseSnapshot(chunksOf(await streamSnapshot(c, 'HeapProfiler.takeHeapSnapshot', {})).join(''));
    const node = snap.nodes.find((n) => n.id === Number(id));
    assert.ok(node, `no snapshot node has id ${id}`);
    assert.match(node.name, RECORD_SITE);
    assert.equal(node.self, 32);
    assert.ok(node.retainers.some((e) => e.name === 'g_head'), 'held by g_head');

    // Back from the id: the same block, in the group asked for.
    const back = await c.send('HeapProfiler.getObjectByHeapObjectId', { objectId: id, objectGroup: 'by-id' });
    assert.equal(back.result.description, head.description);
    await c.send('Runtime.releaseObjectGroup', { objectGroup: 'by-id' });
    assert.equal((await failure(props(c, back.result.objectId))).message, 'Could not find object with given id');
    assert.equal((await props(c, head.objectId)).result.length, 4, 'another group is untouched');
  });

  it('addInspectedHeapObject makes the block $0, and moves the earlier ones to $1…', async () => {
    const idOf = async (e) => (await c.send('HeapProfiler.getHeapObjectId', { objectId: (await evaluate(c, e)).result.objectId })).heapSnapshotObjectId;
    assert.deepEqual((await evaluate(c, '$0')).result, { type: 'undefined' }, 'nothing inspected yet');
    await c.send('HeapProfiler.addInspectedHeapObject', { heapObjectId: await idOf('g_head') });
    await c.send('HeapProfiler.addInspectedHeapObject', { heapObjectId: await idOf('g_big') });
    assert.equal((await evaluate(c, '$0')).result.description, (await evaluate(c, 'g_big')).result.description);
    assert.equal((await evaluate(c, '$1')).result.description, (await evaluate(c, 'g_head')).result.description);
    assert.equal((await evaluate(c, '*($1 + 8)')).result.description, hex(MAGIC));
    assert.equal((await evaluate(c, '$_')).result.description, hex(MAGIC), '$_ is the last value');
    assert.match((await evaluate(c, '$5')).result.description, /ReferenceError/);
  });

  it('a freed block is no longer available, wherever it was handed out', async () => {
    const doomed = (await evaluate(c, 'g_ptrs[2]')).result;
    assert.match(doomed.description, new RegExp(`^make_doomed inspect_target\\.c:\\d+ @ ${hex(addrs.doomed)} \\(64 bytes\\)$`));
    const { heapSnapshotObjectId: id } = await c.send('HeapProfiler.getHeapObjectId', { objectId: doomed.objectId });
    await c.send('HeapProfiler.addInspectedHeapObject', { heapObjectId: id });
    await c.send('Runtime.callFunctionOn', saveArgs((await evaluate(c, 'this')).result.objectId, doomed.objectId)).then((r) => assert.equal(r.result.type, 'string'));
    assert.equal(await tg.command('free'), 'freed');
    assert.equal((await failure(props(c, doomed.objectId))).message, 'Object is not available');
    assert.deepEqual(await c.send('HeapProfiler.getHeapObjectId', { objectId: doomed.objectId }), { heapSnapshotObjectId: '0' });
    for (const m of ['getObjectByHeapObjectId', 'addInspectedHeapObject']) {
      const key = m === 'addInspectedHeapObject' ? 'heapObjectId' : 'objectId';
      assert.equal((await failure(c.send(`HeapProfiler.${m}`, { [key]: id }))).message, 'Object is not available', m);
    }
    assert.match((await evaluate(c, '$0')).result.description, /^Error: \$0 was freed/);
    assert.equal((await evaluate(c, 'g_ptrs[2]')).result.type, 'number', 'the stale pointer is a number now');
  });

  it('Store as global variable: the console\'s saveToTempVariable call names the value temp<N>', async () => {
    const global = (await evaluate(c, 'this')).result.objectId;
    const head = (await evaluate(c, 'g_head')).result;
    const r = await c.send('Runtime.callFunctionOn', saveArgs(global, head.objectId));
    assert.equal(r.result.type, 'string');
    const name = r.result.value;
    assert.match(name, /^temp\d+$/);
    await c.send('Runtime.releaseObjectGroup', { objectGroup: 'test' });
    assert.equal((await evaluate(c, name)).result.description, head.description, 'it outlives its object group');
    assert.equal((await evaluate(c, `*(${name} + 8)`)).result.description, hex(MAGIC));
    const next = await c.send('Runtime.callFunctionOn', saveArgs((await evaluate(c, 'this')).result.objectId, (await evaluate(c, 'g_big')).result.objectId));
    assert.equal(next.result.value, `temp${Number(name.slice(4)) + 1}`);
    // A primitive comes by value: a slot's number is stored as that number.
    const num = await c.send('Runtime.callFunctionOn', { ...saveArgs((await evaluate(c, 'this')).result.objectId, null), arguments: [{ value: 42 }] });
    assert.equal(next.result.value, `temp${Number(num.result.value.slice(4)) - 1}`);
    assert.deepEqual((await evaluate(c, num.result.value)).result, { type: 'number', value: 42, description: '42' });
    // Any other function: heapscope runs no JavaScript.
    const other = await c.send('Runtime.callFunctionOn', { functionDeclaration: 'function(){return 1}', objectId: (await evaluate(c, 'this')).result.objectId });
    assert.equal(other.exceptionDetails.text, 'Uncaught');
    assert.match(other.result.description, /^EvalError: heapscope runs no JavaScript/);
    const none = await failure(c.send('Runtime.callFunctionOn', { functionDeclaration: 'function(){}' }));
    assert.equal(none.message, 'Either ObjectId or executionContextId or uniqueContextId must be specified');
  });

  it('object ids: V8\'s errors for malformed, foreign and released ones; releaseObject', async () => {
    const head = (await evaluate(c, 'g_head')).result;
    const [isolate] = head.objectId.split('.');
    const cases = [
      ['bogus', 'Invalid remote object id'],
      ['1.2', 'Invalid remote object id'],
      ['123.1.99999', 'Cannot find context with specified id'],
      [`${isolate}.2.1`, 'Cannot find context with specified id'],
      [`${isolate}.1.999999999`, 'Could not find object with given id'],
    ];
    for (const [objectId, message] of cases) {
      assert.equal((await failure(props(c, objectId))).message, message, objectId);
      assert.equal((await failure(c.send('HeapProfiler.getHeapObjectId', { objectId }))).message, message, objectId);
    }
    await c.send('Runtime.releaseObject', { objectId: head.objectId });
    assert.equal((await failure(props(c, head.objectId))).message, 'Could not find object with given id');
    await c.send('Runtime.releaseObject', { objectId: head.objectId }); // already gone: not an error
    assert.equal((await failure(c.send('Runtime.releaseObject', { objectId: 'bogus' }))).message, 'Invalid remote object id');

    // A session sees only its own objects.
    const other = await connect(tg);
    const mine = (await evaluate(c, 'g_head')).result.objectId;
    assert.equal((await failure(props(other, mine))).message, 'Could not find object with given id');
    const theirs = (await evaluate(other, 'g_head')).result.objectId;
    await other.close();
    assert.equal((await failure(props(c, theirs))).message, 'Could not find object with given id');
  });

  it('heap ids: V8\'s errors for malformed and unknown ones (golden error-cases)', async () => {
    for (const m of ['getObjectByHeapObjectId', 'addInspectedHeapObject']) {
      const key = m === 'addInspectedHeapObject' ? 'heapObjectId' : 'objectId';
      for (const [id, message] of [
        ['abc', 'Invalid heap snapshot object id'],
        ['12x', 'Invalid heap snapshot object id'],
        ['', 'Invalid heap snapshot object id'],
        ['0', 'Object is not available'],
        ['-1', 'Object is not available'],
        ['999999999', 'Object is not available'],
        ['99999999999999999999', 'Object is not available'],
        ['2', 'Object is not available'], // even: no block has it
      ])
        assert.equal((await failure(c.send(`HeapProfiler.${m}`, { [key]: id }))).message, message, `${m}(${id})`);
    }
  });

  it('the object table is bounded: past 65536 objects a clear error, and room again once a group is released', async () => {
    await c.send('Runtime.releaseObjectGroup', { objectGroup: 'test' });
    const fan = (await evaluate(c, '&g_fan', { objectGroup: 'fan' })).result.objectId;
    let handed = 1;
    let err;
    while (!err && handed < 2 * OBJECTS_MAX) {
      try {
        handed += (await props(c, fan)).result.length;
      } catch (e) {
        err = e.response;
      }
    }
    assert.ok(err, 'never refused');
    assert.ok(handed <= OBJECTS_MAX + FAN_N && handed >= OBJECTS_MAX - 2 * FAN_N, `refused after ${handed}`);
    assert.equal(err.code, -32000);
    assert.match(err.message, /at most 65536 remote objects: release object groups/);
    assert.match((await failure(evaluate(c, 'g_head'))).message, /at most 65536/);
    await c.send('Runtime.releaseObjectGroup', { objectGroup: 'fan' });
    assert.equal((await evaluate(c, 'g_head')).result.type, 'object', 'room again');
  });

  it('answers what DevTools sends on attach as node does', async () => {
    assert.deepEqual(await c.send('Profiler.enable'), {});
    const { debuggerId } = await c.send('Debugger.enable', { maxScriptsCacheSize: 10000000 });
    assert.match(debuggerId, /^\d+\.\d+$/);
    for (const [m, p] of [
      ['Debugger.setPauseOnExceptions', { state: 'none' }],
      ['Debugger.setAsyncCallStackDepth', { maxDepth: 32 }],
      ['Debugger.setBlackboxPatterns', { patterns: ['/node_modules/|^node:'], skipAnonymous: false }],
      ['Network.enable', { maxPostDataSize: 65536 }],
      ['Runtime.runIfWaitingForDebugger', {}],
      ['Debugger.disable', {}],
      ['Runtime.globalLexicalScopeNames', {}],
    ])
      assert.ok(await c.send(m, p), m);
    for (const m of ['Network.setBlockedURLs', 'Network.configureDurableMessages', 'Debugger.pause', 'Runtime.queryObjects']) {
      const e = await failure(c.send(m, {}));
      assert.deepEqual(e, { code: -32601, message: `'${m}' wasn't found` }, m);
    }
  });

  it("the console's compileScript: syntax errors as V8 reports them, anything else compiles", async () => {
    const ctx = { executionContextId: 1, persistScript: false, sourceURL: '' };
    const open = await c.send('Runtime.compileScript', { expression: 'g_head +', ...ctx });
    assert.equal(open.exceptionDetails.exception.description, 'SyntaxError: Unexpected end of input', 'Enter starts a new line');
    assert.equal(open.exceptionDetails.columnNumber, 8);
    assert.deepEqual(await c.send('Runtime.compileScript', { expression: '*(g_head + 8)', ...ctx }), {});
    assert.deepEqual(await c.send('Runtime.compileScript', { expression: 'no_such_symbol', ...ctx }), {}, 'a ReferenceError happens when it runs');
    assert.equal((await failure(c.send('Runtime.compileScript', { ...ctx, expression: '1', executionContextId: 2 }))).message, 'Cannot find context with specified id');
    // DevTools names the context by its uniqueId once it has it.
    let context;
    const other = await connect(tg);
    other.once('Runtime.executionContextCreated', (p) => (context = p.context));
    await other.send('Runtime.enable');
    assert.equal((await evaluate(other, 'g_counter', { uniqueContextId: context.uniqueId })).result.value, 42);
    assert.equal((await failure(evaluate(other, 'g_counter', { uniqueContextId: '1.2' }))).message, 'Cannot find context with specified id');
    await other.close();
  });

  it('the program ran on unharmed', async () => {
    const { checksum } = await tg.finish();
    assert.equal(checksum, '0');
  });
});

/* What ConsoleModel.saveToTempVariable sends (tests/browser/fixtures). */
function saveArgs(globalId, valueId) {
  return {
    objectId: globalId,
    functionDeclaration: SAVE_VARIABLE,
    arguments: [{ objectId: valueId }],
    silent: true,
  };
}
const SAVE_VARIABLE = `function saveVariable(value) {
      const prefix = 'temp';
      let index = 1;
      while ((prefix + index) in this) {
        ++index;
      }
      const name = prefix + index;
      this[name] = value;
      return name;
    }`;

describe('inspection in sampling-only mode', () => {
  it('evaluates globals; the object-id commands need the registry', async (t) => {
    const tg = await startTarget(t, { program: TARGET, env: { HEAPSCOPE_MODE: 'sample' } });
    const c = await connect(tg);
    assert.deepEqual((await evaluate(c, 'g_counter')).result.value, 42);
    assert.equal((await evaluate(c, 'g_head')).result.type, 'number', 'no registry: a pointer is a number');
    const e = await failure(c.send('HeapProfiler.getObjectByHeapObjectId', { objectId: '1' }));
    assert.match(e.message, /needs the live-block registry/);
    assert.deepEqual(await c.send('HeapProfiler.getHeapObjectId', { objectId: (await evaluate(c, '&g_counter')).result.objectId }), { heapSnapshotObjectId: '0' });
  });
});
