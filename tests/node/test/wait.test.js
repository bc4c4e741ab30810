'use strict';
// HEAPSCOPE_WAIT=1: the program is held before main until a client sends
// Runtime.runIfWaitingForDebugger (node's --inspect-brk without the pause).
// Observed from outside: nothing on stdout (hs-test-target's first act in
// main is to print `start <pid>`) while sessions come and go and answer,
// then `start` once the command is sent, then the normal end.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startTarget, referenceChecksum } = require('../lib/target');
const { wsConnect } = require('../lib/ws');
const { getJson } = require('../lib/http');

const ARGS = ['--stdin', '--rounds', '3000', '--tag', 'wait'];

async function heldThenReleased(t, via) {
  const tg = await startTarget(t, { args: ARGS, wait: true, via });
  // The endpoint is fully there while the program waits: discovery and a session.
  const [target] = await getJson(tg.port, '/json/list');
  assert.equal(target.id, tg.id);
  const first = await wsConnect({ port: tg.port, path: tg.wsPath });
  assert.deepEqual(await first.call('HeapProfiler.enable'), { id: 1, result: {} });
  const usage = await first.call('Runtime.getHeapUsage');
  assert.ok(usage.result.usedSize >= 0, JSON.stringify(usage));
  assert.equal(typeof (await first.call('Runtime.getIsolateId')).result.id, 'string');
  // A session that leaves without releasing the program does not release it.
  first.destroy();
  const second = await wsConnect({ port: tg.port, path: tg.wsPath });
  t.after(() => second.destroy());
  assert.deepEqual(await second.call('HeapProfiler.collectGarbage'), { id: 1, result: {} });
  // Several round trips later, main has still not printed anything, nor exited.
  assert.deepEqual(tg.lines, [], 'stdout stays empty while the program waits');
  assert.equal(tg.exitInfo, null, 'the program is still there');

  assert.deepEqual(await second.call('Runtime.runIfWaitingForDebugger'), { id: 2, result: {} });
  const line = await tg.nextLine(10000, 'the program to start after runIfWaitingForDebugger');
  assert.match(line, /^start \d+$/);
  // The session stays usable while the program runs, and a second release is harmless.
  assert.deepEqual(await second.call('Runtime.runIfWaitingForDebugger'), { id: 3, result: {} });
  const { checksum } = await tg.finish();
  assert.equal(checksum, await referenceChecksum(ARGS), 'the program ran as it does without the agent');
}

test('HEAPSCOPE_WAIT=1 with LD_PRELOAD: held before main until runIfWaitingForDebugger', (t) => heldThenReleased(t, 'preload'));

test('HEAPSCOPE_WAIT=1 through heapscope run: the same', (t) => heldThenReleased(t, 'cli'));

test('without HEAPSCOPE_WAIT the program does not wait for anyone', async (t) => {
  const tg = await startTarget(t, { args: ARGS });
  assert.match(await tg.nextLine(10000, 'start without any client'), /^start \d+$/);
  const { checksum } = await tg.finish();
  assert.equal(checksum, await referenceChecksum(ARGS));
});
