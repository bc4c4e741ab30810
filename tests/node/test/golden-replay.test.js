'use strict';
// Golden replay: the requests Node 20 / V8 11.3 answered in
// ../shared/golden/v8-node20/error-cases.jsonl and malformed-per-connection.json,
// sent again to the endpoint under test and compared with V8's recorded
// answers (code, message, data up to " at position"; PEERS.md §3.2).
//
// Every recorded case is listed in one of the tables below: none is dropped
// silently. A case whose label is in no table fails the test.
//
// HS_TEST_TARGET=node runs the same replay against `node --inspect`, where
// every case, "excluded" ones included, must match V8 exactly:
// that proves that the expectations (and this client) are right.

const test = require('node:test');
const assert = require('node:assert/strict');
const config = require('../lib/config');
const { startTarget, referenceChecksum } = require('../lib/target');
const { wsConnect } = require('../lib/ws');
const { loadErrorCases, loadMalformed, isSpuriousNotFound, assertLikeV8 } = require('../lib/golden');

// ---- error-cases.jsonl ------------------------------------------------------------------------
// same:    heapscope must answer exactly as V8 did (commands implemented so far,
//          params errors found by the generated decoders, unknown methods, framing).
// exclude: not compared with heapscope at all; the reason says why. (Still sent, in order,
//          so that the V8 state the later cases depend on is the recorded one.)
const SAME = 'same';
const ERROR_CASES = {
  'stopSampling before enable and without start': SAME,
  'getSamplingProfile without start': SAME,
  'stopTrackingHeapObjects without start': SAME,
  'collectGarbage before enable': SAME,
  enable: SAME,
  'enable twice': SAME,
  'stopSampling without start (enabled)': SAME,
  'startSampling samplingInterval 0': SAME,
  'stopSampling after interval 0': SAME,
  'startSampling samplingInterval -5': SAME,
  'stopSampling after -5': SAME,
  'startSampling samplingInterval "x" (wrong type)': SAME, // decoder: -32602 before the handler
  'startSampling samplingInterval 1.5 (non-integer)': SAME,
  'stopSampling after 1.5': SAME,
  'startSampling with GC flags': SAME,
  'startSampling twice': SAME,
  'stopSampling (flags run)': SAME,
  'startSampling with unknown extra param': SAME,
  stopSampling: SAME,
  'startTrackingHeapObjects (no params)': SAME,
  'startTrackingHeapObjects twice': SAME,
  'stopTrackingHeapObjects reportProgress:false': SAME,
  'startTrackingHeapObjects then disable': SAME,
  'disable while tracking': SAME,
  're-enable': SAME,
  'startSampling then takeHeapSnapshot while sampling': SAME,
  'takeHeapSnapshot while sampling (reportProgress false)': SAME,
  'disable while sampling': SAME,
  'stopSampling after disable': SAME,
  're-enable 2': SAME,
  'getObjectByHeapObjectId bogus numeric id': SAME,
  'getObjectByHeapObjectId non-numeric id': SAME,
  'getObjectByHeapObjectId id 0': SAME,
  'getObjectByHeapObjectId numeric (not string) id': SAME,
  'getObjectByHeapObjectId missing params': SAME,
  'getObjectByHeapObjectId empty params': SAME,
  'getHeapObjectId bogus remote objectId': SAME, // Runtime's remote-object id parser
  'getHeapObjectId well-formed but stale remote objectId': SAME, // not this process's context
  'getHeapObjectId missing objectId': SAME,
  'addInspectedHeapObject bogus id': SAME,
  'addInspectedHeapObject non-numeric': SAME,
  'addInspectedHeapObject missing': SAME,
  'unknown HeapProfiler method': SAME,
  'unknown domain': SAME,
  'method without dot': SAME,
  'params is an array': SAME,
  'params is null': SAME, // takeHeapSnapshot with params:null
  'params is a string': SAME,
  'takeHeapSnapshot reportProgress wrong type': SAME,
  disable: SAME,
  'disable twice': SAME,
  'heap snapshot without enable, no progress': SAME,
  'takeHeapSnapshot captureNumericValue+exposeInternals': SAME,
  'sending a binary frame': {
    exclude:
      'node drops the connection without a close frame (1006); heapscope closes with 1003 as RFC 6455 §7.4.1 ' +
      'asks. Not sent here; hostile.test.js checks the 1003.',
    notSent: true,
  },
};

// ---- malformed-per-connection.json: every case is "same" ---------------------------------------
// Each case runs on a fresh connection after a valid call ({"id":77}), as recorded. node's
// spurious second reply `'' wasn't found` is dropped from V8's frames (PEERS.md §3.2); from
// heapscope it is a failure. The end of a case's replies is found without waiting: a sentinel
// request ({"id":78}, collectGarbage) follows the malformed frame and its reply closes the case.
const MALFORMED_EXCLUDED = {}; // label -> reason; none

test('error-cases.jsonl: every recorded case is classified', () => {
  const labels = loadErrorCases().map((c) => c.label);
  const unknown = labels.filter((l) => !(l in ERROR_CASES));
  assert.deepEqual(unknown, [], 'cases in the recording that no table here names');
  const stale = Object.keys(ERROR_CASES).filter((l) => !labels.includes(l));
  assert.deepEqual(stale, [], 'table entries that name no recorded case');
});

test('error-cases.jsonl replayed in order on one connection', async (t) => {
  const args = ['--stdin', '--churn', '--rounds', '500'];
  const tg = await startTarget(t, { args });
  const ws = await wsConnect({ port: tg.port, path: tg.wsPath });
  const cases = loadErrorCases();
  let compared = 0;
  for (const c of cases) {
    const how = ERROR_CASES[c.label];
    if (how && how.notSent) continue;
    await t.test(c.label, async () => {
      assert.ok(how, `case "${c.label}" is in no table`);
      for (const s of c.sends) {
        ws.stash = [];
        ws.send(s.raw);
        const expected = c.replies.get(s.msg.id);
        assert.ok(expected, `the recording has no reply to id ${s.msg.id}`);
        // Snapshots from V8 take a while and stream megabytes first.
        const actual = await ws.reply(s.msg.id, 30000);
        const what = `${c.label}: ${s.raw}`;
        if (config.isNode || how === SAME) {
          assertLikeV8(actual, expected, what);
          compared++;
        } else {
          assert.ok('result' in actual || 'error' in actual, `${what}: no answer`);
        }
      }
    });
  }
  assert.ok(compared >= 50, `only ${compared} replies compared`);
  ws.close();
  await ws.closed;
  const { checksum } = await tg.finish();
  assert.equal(checksum, await referenceChecksum(args), 'the target computed something else under the endpoint');
});

test('malformed-per-connection.json: each frame on a fresh connection', async (t) => {
  const args = ['--stdin', '--rounds', '200'];
  const tg = await startTarget(t, { args });
  const cases = loadMalformed();
  assert.ok(cases.length >= 20, 'recording has the malformed cases');
  for (const c of cases) {
    await t.test(c.label, async () => {
      assert.ok(!(c.label in MALFORMED_EXCLUDED), MALFORMED_EXCLUDED[c.label]);
      assert.equal(c.closed, null, 'V8 kept every one of these connections open');
      const ws = await wsConnect({ port: tg.port, path: tg.wsPath });
      try {
        ws.send({ id: 77, method: 'HeapProfiler.enable' });
        assertLikeV8(await ws.nextJson(), { id: 77, result: {} }, 'the valid call before');
        const sent = Array.isArray(c.sent) ? c.sent : [c.sent];
        for (const s of sent) ws.send(s);
        // collectGarbage, not enable: V8 answers collectGarbage from a later task, so a
        // sentinel of another kind could overtake the replies it is meant to follow.
        ws.send({ id: 78, method: 'HeapProfiler.collectGarbage' });
        // V8's frames after the send, minus node's spurious second reply.
        const sendAt = c.frames.findIndex((f) => 'send' in f);
        const expected = c.frames
          .slice(sendAt + 1)
          .filter((f) => 'recv' in f)
          .map((f) => JSON.parse(f.recv))
          .filter((m) => !isSpuriousNotFound(m));
        const got = [];
        for (;;) {
          const m = await ws.nextJson();
          if (m.id === 78 && 'result' in m) break;
          if (config.isNode && isSpuriousNotFound(m)) continue;
          got.push(m);
        }
        assert.equal(got.length, expected.length, `replies: got ${JSON.stringify(got)}, V8 ${JSON.stringify(expected)}`);
        got.forEach((m, i) => assertLikeV8(m, expected[i], `${c.label} reply ${i + 1}`));
        assert.equal(ws.closeInfo, null, 'the connection stays open, as with V8');
      } finally {
        ws.close();
        await ws.closed;
      }
    });
  }
  const { checksum } = await tg.finish();
  assert.equal(checksum, await referenceChecksum(args), 'the target computed something else under the endpoint');
});
