'use strict';
// chrome-remote-interface (the CDP client most Node tooling uses) against the
// endpoint, connected the ordinary way: CDP({host, port}) fetches
// /json/protocol to build its helpers and /json/list to pick the target, then
// opens the WebSocket. No `local: true`: our /json/protocol must be good enough.

const test = require('node:test');
const assert = require('node:assert/strict');
const CDP = require('chrome-remote-interface');
const { connect } = require('../lib/cdp');
const config = require('../lib/config');
const { startTarget, referenceChecksum } = require('../lib/target');

const MiB = 1024 * 1024;

/* Awaits a promise that must reject with a CDP error; returns the error. */
async function protocolError(promise, what) {
  let value;
  try {
    value = await promise;
  } catch (e) {
    assert.ok(e.response, `${what}: rejected without a CDP error object: ${e.stack}`);
    return e;
  }
  assert.fail(`${what}: succeeded with ${JSON.stringify(value)}, an error was expected`);
}

function assertError(err, code, message, dataPrefix) {
  assert.equal(err.response.code, code, JSON.stringify(err.response));
  assert.equal(err.response.message, message, JSON.stringify(err.response));
  if (dataPrefix === undefined) {
    assert.ok(!('data' in err.response), `no data expected: ${JSON.stringify(err.response)}`);
    assert.equal(err.message, message);
  } else {
    assert.ok(err.response.data.startsWith(dataPrefix), `data: ${err.response.data}`);
    assert.match(err.response.data, / at position \d+$/);
    // chrome-remote-interface's ProtocolError text: "<message> (<data>)".
    assert.equal(err.message, `${message} (${err.response.data})`);
  }
}

test('connects through heapscope run; enable, collectGarbage and disable answer {}', async (t) => {
  const args = ['--stdin', '--churn', '--tag', 'cri-basic'];
  const tg = await startTarget(t, { args, via: 'cli' });
  const client = await connect(tg);
  assert.equal(typeof client.HeapProfiler.enable, 'function', 'helpers built from /json/protocol');
  assert.deepEqual(await client.HeapProfiler.enable(), {});
  assert.deepEqual(await client.HeapProfiler.collectGarbage(), {});
  assert.deepEqual(await client.HeapProfiler.collectGarbage(), {});
  assert.deepEqual(await client.HeapProfiler.disable(), {});
  // The same through client.send, and params ignored where the command has none.
  assert.deepEqual(await client.send('HeapProfiler.enable', { bogus: 1 }), {});
  assert.deepEqual(await client.send('HeapProfiler.disable'), {});
  await client.close();
  const { checksum } = await tg.finish();
  assert.equal(checksum, await referenceChecksum(args));
});

test('errors come back as ProtocolError with V8 code, message and data', async (t) => {
  const tg = await startTarget(t, { args: ['--stdin'] });
  const client = await connect(tg);
  await client.HeapProfiler.enable();

  assertError(await protocolError(client.send('HeapProfiler.fooBar', {}), 'fooBar'), -32601, "'HeapProfiler.fooBar' wasn't found");
  assertError(await protocolError(client.send('Foo.bar'), 'Foo.bar'), -32601, "'Foo.bar' wasn't found");
  assertError(await protocolError(client.send('enable'), 'no dot'), -32601, "'enable' wasn't found");
  assertError(
    await protocolError(client.HeapProfiler.startSampling({ samplingInterval: 'x' }), 'samplingInterval "x"'),
    -32602,
    'Invalid parameters',
    'Failed to deserialize params.samplingInterval - BINDINGS: double value expected'
  );
  assertError(
    await protocolError(client.HeapProfiler.takeHeapSnapshot({ reportProgress: 'yes' }), 'reportProgress "yes"'),
    -32602,
    'Invalid parameters',
    'Failed to deserialize params.reportProgress - BINDINGS: bool value expected'
  );
  assertError(
    await protocolError(client.HeapProfiler.getObjectByHeapObjectId({}), 'objectId missing'),
    -32602,
    'Invalid parameters',
    'Failed to deserialize params.objectId - BINDINGS: mandatory field missing'
  );
  assertError(
    await protocolError(client.HeapProfiler.getObjectByHeapObjectId({ objectId: 1 }), 'objectId 1'),
    -32602,
    'Invalid parameters',
    'Failed to deserialize params.objectId - BINDINGS: string value expected'
  );

  // Sampling answers as V8 does; a valid call to a command of a later issue is an error, never a success.
  assert.deepEqual(await client.HeapProfiler.startSampling({ samplingInterval: 32768 }), {});
  const { profile } = await client.HeapProfiler.stopSampling();
  assert.ok(profile.head && Array.isArray(profile.samples));
  // A snapshot: chunks first, the reply after the last one, the whole a snapshot.
  const chunks = [];
  const onChunk = ({ chunk }) => chunks.push(chunk);
  client.on('HeapProfiler.addHeapSnapshotChunk', onChunk);
  assert.deepEqual(await client.HeapProfiler.takeHeapSnapshot({ reportProgress: false }), {});
  client.removeListener('HeapProfiler.addHeapSnapshotChunk', onChunk);
  assert.ok(chunks.length >= 1, 'chunks before the reply');
  const snap = JSON.parse(chunks.join(''));
  assert.equal(snap.strings[0], '<dummy>');
  assert.equal(snap.nodes.length, snap.snapshot.node_count * snap.snapshot.meta.node_fields.length);
  // The session is still fine after all that.
  assert.deepEqual(await client.HeapProfiler.collectGarbage(), {});
});

test('Runtime.getHeapUsage: positive, grows when the program allocates, falls when it frees', async (t) => {
  const tg = await startTarget(t, { args: ['--stdin', '--churn'] });
  const client = await connect(tg);
  const usage = async () => {
    const u = await client.Runtime.getHeapUsage();
    assert.equal(typeof u.usedSize, 'number', JSON.stringify(u));
    assert.equal(typeof u.totalSize, 'number', JSON.stringify(u));
    assert.ok(u.usedSize > 0 && u.totalSize > 0, `positive sizes: ${JSON.stringify(u)}`);
    assert.ok(u.totalSize >= u.usedSize, `totalSize >= usedSize as in V8: ${JSON.stringify(u)}`);
    return u;
  };
  const before = await usage();
  assert.equal(await tg.command('grow 64'), 'grown 64');
  const grown = await usage();
  assert.ok(
    grown.usedSize - before.usedSize >= 48 * MiB,
    `usedSize should grow by about 64 MiB: ${before.usedSize} -> ${grown.usedSize}`
  );
  assert.ok(grown.totalSize >= before.totalSize, `totalSize should not shrink while growing: ${before.totalSize} -> ${grown.totalSize}`);
  assert.equal(await tg.command('shrink'), 'shrunk');
  await client.HeapProfiler.collectGarbage(); // V8 needs a GC to notice; a malloc heap does not
  const shrunk = await usage();
  assert.ok(
    grown.usedSize - shrunk.usedSize >= 48 * MiB,
    `usedSize should fall by about 64 MiB: ${grown.usedSize} -> ${shrunk.usedSize}`
  );
});

test('Runtime.getIsolateId returns a non-empty string, the same each time', async (t) => {
  const tg = await startTarget(t, { args: ['--stdin'] });
  const client = await connect(tg);
  const a = await client.Runtime.getIsolateId();
  assert.equal(typeof a.id, 'string', JSON.stringify(a));
  assert.ok(a.id.length > 0);
  assert.deepEqual(await client.Runtime.getIsolateId(), a);
  // Runtime.enable/disable and runIfWaitingForDebugger answer too (DevTools sends them on connect).
  assert.deepEqual(await client.Runtime.runIfWaitingForDebugger(), {});
  await client.Runtime.enable();
  assert.deepEqual(await client.Runtime.disable(), {});
});

test('two clients at once both get their answers', async (t) => {
  const args = ['--stdin', '--churn', '--tag', 'cri-two'];
  const tg = await startTarget(t, { args });
  const a = await connect(tg);
  const b = await connect(tg);
  const round = (c) =>
    Promise.all([c.HeapProfiler.enable(), c.HeapProfiler.collectGarbage(), c.Runtime.getHeapUsage(), c.Runtime.getIsolateId()]);
  const [ra, rb] = await Promise.all([round(a), round(b), round(a), round(b)]);
  for (const r of [ra, rb]) {
    assert.deepEqual(r[0], {});
    assert.deepEqual(r[1], {});
    assert.ok(r[2].usedSize > 0);
    assert.equal(typeof r[3].id, 'string');
  }
  // One client going away leaves the other working.
  await a.close();
  assert.deepEqual(await b.HeapProfiler.disable(), {});
  const c = await connect(tg);
  assert.deepEqual(await c.HeapProfiler.collectGarbage(), {});
  await b.close();
  await c.close();
  const { checksum } = await tg.finish();
  assert.equal(checksum, await referenceChecksum(args));
});

test('CDP.List, CDP.Version and CDP.Protocol work against the endpoint', async (t) => {
  const tg = await startTarget(t, { args: ['--stdin', '--tag', 'cri-list'] });
  const opts = { host: '127.0.0.1', port: tg.port };
  const list = await CDP.List(opts);
  assert.equal(list.length, 1, JSON.stringify(list));
  const [target] = list;
  assert.equal(target.type, 'node');
  assert.equal(target.id, tg.id);
  assert.equal(target.webSocketDebuggerUrl, tg.wsUrl);
  assert.ok(target.devtoolsFrontendUrl.includes(`ws=127.0.0.1:${tg.port}/${tg.id}`), target.devtoolsFrontendUrl);
  assert.ok(typeof target.title === 'string' && target.title.length > 0);

  const version = await CDP.Version(opts);
  assert.equal(typeof version.Browser, 'string');
  assert.equal(version['Protocol-Version'], '1.1');

  const protocol = await CDP.Protocol(opts);
  const domains = protocol.domains.map((d) => d.domain);
  assert.ok(domains.includes('HeapProfiler'), domains.join());
  assert.ok(domains.includes('Runtime'), domains.join());

  // Connecting by the listed target (object and id) works as well.
  const byObject = await CDP({ ...opts, target: target });
  assert.deepEqual(await byObject.HeapProfiler.collectGarbage(), {});
  await byObject.close();
  const byId = await CDP({ ...opts, target: target.id });
  assert.deepEqual(await byId.HeapProfiler.collectGarbage(), {});
  await byId.close();
});
