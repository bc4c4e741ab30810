'use strict';
// Reading the Node 20 recordings in ../shared/golden/v8-node20 and comparing
// replies with V8's the way PEERS.md §3.2 says: code, message, and data up to
// " at position" (the position is a CBOR offset inside V8).

const fs = require('node:fs');
const assert = require('node:assert/strict');
const config = require('./config');

/*
 * error-cases.jsonl as a list of cases in recorded order:
 *   { label, sends: [{ msg, raw, binary }], replies: Map(id -> recorded reply) }
 * A "note" line names the case that its following "send" lines belong to.
 * Events (messages with a method) are not replies and are dropped.
 */
function loadErrorCases() {
  const file = config.require(config.golden('error-cases.jsonl'), 'golden error-cases.jsonl (HS_SHARED_DIR)');
  const cases = [];
  let label = null;
  let current = null;
  const byId = new Map();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line);
    if (r.dir === 'note') {
      label = r.text;
      current = null;
    } else if (r.dir === 'send') {
      if (!current) {
        current = { label, sends: [], replies: new Map() };
        cases.push(current);
      }
      current.sends.push({ msg: r.msg, raw: r.raw, binary: !!r.binary });
      if (r.msg && typeof r.msg.id === 'number') byId.set(r.msg.id, current);
    } else if (r.dir === 'recv' && r.msg && !('method' in r.msg) && 'id' in r.msg) {
      const c = byId.get(r.msg.id);
      if (c) c.replies.set(r.msg.id, r.msg);
    }
  }
  return cases;
}

function loadMalformed() {
  const file = config.require(config.golden('malformed-per-connection.json'), 'golden malformed-per-connection.json');
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/* node's spurious second reply to frames its own JSON dispatcher rejects (PEERS.md §3.2). */
function isSpuriousNotFound(msg) {
  return !!(msg && msg.error && msg.error.code === -32601 && msg.error.message === "'' wasn't found");
}

const beforePosition = (s) => (typeof s === 'string' ? s.split(' at position')[0] : s);

/*
 * Asserts that `actual` answers like `expected` (a V8 reply): same id (or
 * both without), error code/message/data-prefix, or a result: {} must be {},
 * anything else must have the same top-level keys (a profile is not the same
 * profile twice).
 */
function assertLikeV8(actual, expected, what) {
  const show = `${what}\n  got      ${JSON.stringify(actual).slice(0, 400)}\n  expected ${JSON.stringify(expected).slice(0, 400)}`;
  assert.equal('id' in actual, 'id' in expected, `id presence differs: ${show}`);
  if ('id' in expected) assert.equal(actual.id, expected.id, `id differs: ${show}`);
  if ('error' in expected) {
    assert.ok(actual.error && !('result' in actual), `expected an error: ${show}`);
    assert.equal(actual.error.code, expected.error.code, `error code differs: ${show}`);
    assert.equal(actual.error.message, expected.error.message, `error message differs: ${show}`);
    assert.equal('data' in actual.error, 'data' in expected.error, `error data presence differs: ${show}`);
    if ('data' in expected.error) {
      assert.equal(beforePosition(actual.error.data), beforePosition(expected.error.data), `error data differs: ${show}`);
      assert.match(actual.error.data, / at position \d+$/, `error data should end with " at position N": ${show}`);
    }
  } else {
    assert.ok('result' in actual && !('error' in actual), `expected a result: ${show}`);
    if (Object.keys(expected.result).length === 0) assert.deepEqual(actual.result, {}, `result should be {}: ${show}`);
    else assert.deepEqual(Object.keys(actual.result).sort(), Object.keys(expected.result).sort(), `result keys differ: ${show}`);
  }
}

module.exports = { loadErrorCases, loadMalformed, isSpuriousNotFound, assertLikeV8, beforePosition };
