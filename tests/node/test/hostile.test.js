'use strict';
// Hostile input over raw sockets: malformed HTTP, oversized headers and
// messages, invalid UTF-8, unmasked and binary frames, connection floods and a
// client that does not read. For each: the answer RFC 6455 / HTTP asks for
// (400 and close, or the close code), another client still served, and the
// program under the agent finishing with the checksum it has without the agent.
//
// These are heapscope's own limits (src/net/hs_limits.h); node differs on
// several (a binary frame makes it drop the connection without a close
// frame), so this file runs against the agent only.

const net = require('node:net');
const test = require('node:test');
const assert = require('node:assert/strict');
const config = require('../lib/config');
const { startTarget, referenceChecksum, withTimeout } = require('../lib/target');
const { rawHttp } = require('../lib/http');
const { wsConnect, encodeFrame } = require('../lib/ws');

const MiB = 1024 * 1024;
// Time limits per test and subtest, so that a hang fails with the name of what hung
// long before ctest's 120 s for the whole file (a run takes about 2 s, 10 s loaded).
const TEST_MS = 60000;
const SUBTEST_MS = 30000;
const ARGS = ['--stdin', '--churn', '--rounds', '300'];
const COMMANDS = ['rounds 500'];

/* A target busy allocating, and at the end the proof that it ran on unchanged. */
async function busyTarget(t) {
  const tg = await startTarget(t, { args: ARGS });
  return tg;
}
async function finishesUnchanged(tg) {
  for (const c of COMMANDS) await tg.command(c);
  const { checksum } = await tg.finish();
  assert.equal(checksum, await referenceChecksum(ARGS, COMMANDS), 'the program computed something else under the agent');
}

/* A fresh client is served: a session answers a call. */
async function freshClientServed(tg, ms = 5000) {
  const ws = await wsConnect({ port: tg.port, path: tg.wsPath, timeoutMs: ms });
  try {
    const r = await ws.call('Runtime.getHeapUsage', undefined, ms);
    assert.ok(r.result && r.result.usedSize > 0, JSON.stringify(r));
  } finally {
    ws.destroy();
  }
}

/* The close the server sends: a close frame with `code`, then TCP closed. */
async function expectClose(ws, code, what) {
  const info = await withTimeout(ws.closed, config.replyTimeoutMs, `the server closing (${what})`);
  assert.equal(info.gotCloseFrame, true, `${what}: a close frame, not just a dropped connection (${JSON.stringify(info)})`);
  assert.equal(info.code, code, `${what}: close code`);
  // Nothing but the close: no reply to what caused it.
  const left = ws.inbox.filter((m) => m.type !== 'closed');
  assert.deepEqual(left, [], `${what}: no message before the close`);
}

test('malformed HTTP: 400 and close, then business as usual', { timeout: TEST_MS }, async (t) => {
  const tg = await busyTarget(t);
  const requests = {
    'garbage bytes': Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x0d, 0x0a, 0x0d, 0x0a]),
    'text that is not HTTP': 'HELLO WORLD\r\n\r\n',
    'request line without version': 'GET /json\r\n\r\n',
    'header without colon': 'GET /json HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n',
    'NUL in the path': 'GET /js\0on HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
    'oversized header (9 KiB)': `GET /json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(9 * 1024)}\r\n\r\n`,
    'oversized request line (9 KiB)': `GET /${'b'.repeat(9 * 1024)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    'headers over 8 KiB in many lines': `GET /json HTTP/1.1\r\nHost: 127.0.0.1\r\n${'X-Pad: 0123456789abcdef0123456789abcdef0123456789abcdef\r\n'.repeat(170)}\r\n`,
    'too many header lines (65 short ones)': `GET /json HTTP/1.1\r\nHost: 127.0.0.1\r\n${'X: y\r\n'.repeat(65)}\r\n`,
    'oversized upgrade request': `GET ${tg.wsPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Big: ${'c'.repeat(9000)}\r\n\r\n`,
  };
  for (const [what, req] of Object.entries(requests)) {
    await t.test(what, { timeout: SUBTEST_MS }, async () => {
      const r = await rawHttp(tg.port, req, { waitClose: true });
      assert.equal(r.statusLine, 'HTTP/1.0 400 Bad Request', `${what}: ${JSON.stringify(r.raw.slice(0, 200))}`);
      assert.equal(r.closedByServer, true);
    });
  }
  // 64 header lines are fine (the limit is on the 65th), and a 7 KiB header too.
  const ok = await rawHttp(tg.port, `GET /json/version HTTP/1.1\r\nHost: 127.0.0.1\r\n${'X: y\r\n'.repeat(62)}X-Big: ${'d'.repeat(7 * 1024)}\r\n\r\n`);
  assert.equal(ok.statusLine, 'HTTP/1.0 200 OK', ok.raw.slice(0, 200));
  await freshClientServed(tg);
  await finishesUnchanged(tg);
});

test('WebSocket frames the server must refuse, each with its close code', { timeout: TEST_MS }, async (t) => {
  const tg = await busyTarget(t);
  const bigText = (n) => `{"id":1,"method":"HeapProfiler.enable","params":{"pad":"${'x'.repeat(n)}"}}`;
  const pad = (total) => total - bigText(0).length; // pad length for a message of `total` bytes
  const cases = [
    ['a message over 1 MiB', 1009, (ws) => ws.sendFrame({ opcode: 1, payload: bigText(pad(MiB + 1)) })],
    [
      'a fragmented message over 1 MiB',
      1009,
      (ws) => {
        const text = Buffer.from(bigText(pad(MiB + 100)));
        const half = text.length >> 1;
        ws.sendFrame({ opcode: 1, payload: text.subarray(0, half), fin: false });
        ws.sendFrame({ opcode: 0, payload: text.subarray(half), fin: true });
      },
    ],
    ['invalid UTF-8 in a text frame', 1007, (ws) => ws.sendFrame({ opcode: 1, payload: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) })],
    ['an overlong UTF-8 encoding', 1007, (ws) => ws.sendFrame({ opcode: 1, payload: Buffer.from([0x22, 0xc0, 0xaf, 0x22]) })],
    [
      'a UTF-16 surrogate encoded in UTF-8',
      1007,
      (ws) => ws.sendFrame({ opcode: 1, payload: Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]) }),
    ],
    ['an unmasked client frame', 1002, (ws) => ws.sendFrame({ opcode: 1, payload: '{"id":1,"method":"HeapProfiler.enable"}', mask: false })],
    ['a binary frame', 1003, (ws) => ws.sendFrame({ opcode: 2, payload: '{"id":9999,"method":"HeapProfiler.collectGarbage"}' })],
    ['a reserved opcode', 1002, (ws) => ws.sendFrame({ opcode: 3, payload: 'x' })],
    ['RSV bits set', 1002, (ws) => ws.sendFrame({ opcode: 1, payload: '{}', rsv: 4 })],
    ['a control frame over 125 bytes', 1002, (ws) => ws.sendFrame({ opcode: 9, payload: Buffer.alloc(126, 0x61) })],
    ['a fragmented control frame', 1002, (ws) => ws.sendFrame({ opcode: 9, payload: 'ping', fin: false })],
    ['a continuation with no message', 1002, (ws) => ws.sendFrame({ opcode: 0, payload: 'x' })],
  ];
  for (const [what, code, send] of cases) {
    await t.test(what, { timeout: SUBTEST_MS }, async () => {
      const ws = await wsConnect({ port: tg.port, path: tg.wsPath });
      try {
        // A session that works first: the close is about the frame, not the session.
        assert.deepEqual(await ws.call('HeapProfiler.enable'), { id: 1, result: {} });
        send(ws);
        await expectClose(ws, code, what);
        assert.deepEqual(ws.protocolErrors, [], 'server frames follow RFC 6455');
      } finally {
        ws.destroy();
      }
      await freshClientServed(tg);
    });
  }
  // Just under the limit is a message like any other (unknown params are ignored).
  await t.test('a message of exactly 1 MiB is answered', { timeout: SUBTEST_MS }, async () => {
    const ws = await wsConnect({ port: tg.port, path: tg.wsPath });
    try {
      ws.sendFrame({ opcode: 1, payload: bigText(pad(MiB)) });
      assert.deepEqual(await ws.nextJson(), { id: 1, result: {} });
      // Pings are answered with the same payload, and a client close is echoed.
      ws.sendFrame({ opcode: 9, payload: 'are you there' });
      assert.deepEqual(await ws.call('HeapProfiler.collectGarbage'), { id: 1, result: {} });
      const info = await withTimeout(ws.close(1000), config.replyTimeoutMs, 'the server answering our close');
      assert.equal(info.gotCloseFrame, true);
      assert.equal(info.code, 1000);
    } finally {
      ws.destroy();
    }
  });
  await finishesUnchanged(tg);
});

/*
 * Opens a raw TCP connection and does one of several half-finished things with it.
 *
 * allowHalfOpen: when the server closes first (a connection over the limit is accepted
 * and closed at once), node must not answer with its own FIN. Left to itself it calls
 * end(), a uv_shutdown() that is pending until the next turn of the loop; a
 * resetAndDestroy() in that window fails with EINVAL (libuv's uv_tcp_close_reset
 * refuses to follow a shutdown) and Node 20 then never closes the handle: no 'close',
 * the descriptor stays open, and at exit the process spins for ever in its handle
 * cleanup. Every subtest passes and ctest times out. Here node never shuts down on its
 * own, so a reset is always allowed; drop() checks that each socket really closes.
 */
function halfOpen(port, path, kind, opened) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    opened.add(s);
    s.on('error', () => resolve(s)); // refused or reset by the server: dropped all the same
    s.on('connect', () => {
      if (kind === 1) s.write('GET /json/li');
      if (kind === 2 || kind === 3) {
        s.write(
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
        );
        if (kind === 3) s.write(encodeFrame({ opcode: 1, payload: '{"id":1,"method":"HeapProfiler.enable"}' }).subarray(0, 9));
      }
      resolve(s);
    });
    s.on('end', () => resolve(s)); // closed by the server (half-open on our side until dropped)
    s.on('close', () => resolve(s));
    s.once('timeout', () => {
      s.destroy();
      reject(new Error('connect timed out'));
    });
    s.setTimeout(config.replyTimeoutMs);
  });
}

/* Drops sockets (reset: RST, else FIN) and waits, bounded, until node has closed every one. */
async function drop(socks, reset) {
  const errors = [];
  const closed = socks.map(
    (s, i) =>
      new Promise((resolve) => {
        s.on('error', (e) => errors.push(`socket ${i}: ${e.code || e.message}`));
        if (s.closed) resolve();
        else s.once('close', resolve);
        // A reset is only allowed while no shutdown was ever asked for (see halfOpen).
        if (reset(i) && !s.writableEnded) s.resetAndDestroy();
        else s.destroy();
      })
  );
  await withTimeout(Promise.all(closed), config.replyTimeoutMs, `${socks.length} dropped sockets to close (${errors.slice(0, 5).join(', ')})`);
}

test('200 connections opened and dropped: the agent still answers a fresh client', { timeout: TEST_MS }, async (t) => {
  const tg = await busyTarget(t);
  const opened = new Set(); // every socket, destroyed at the end whatever happened
  t.after(() => opened.forEach((s) => s.destroy()));
  // In waves below the connection limit, each connection left in a different state...
  for (let wave = 0; wave < 4; wave++) {
    const socks = await Promise.all(Array.from({ length: 50 }, (_, i) => halfOpen(tg.port, tg.wsPath, i % 4, opened)));
    await drop(socks, (i) => i % 2 === 1);
  }
  await freshClientServed(tg);
  // ...then 200 at once, far over it (64): the surplus is closed by the server.
  const socks = await Promise.all(Array.from({ length: 200 }, (_, i) => halfOpen(tg.port, tg.wsPath, i % 4, opened)));
  await drop(socks, () => true);
  // The resets reach the agent in no particular order relative to a new connect: a new
  // client may land while the slots are still full and be closed. It must get in within
  // a few immediate retries (no waiting between them).
  let lastError;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await freshClientServed(tg);
      lastError = null;
      break;
    } catch (e) {
      lastError = e;
    }
  }
  assert.equal(lastError, null, `no fresh client got in: ${lastError && lastError.message}`);
  await finishesUnchanged(tg);
});

test('a client that sends 20000 requests without reading does not stall another', { timeout: TEST_MS }, async (t) => {
  const tg = await busyTarget(t);
  const N = 20000;
  const slow = await wsConnect({ port: tg.port, path: tg.wsPath });
  t.after(() => slow.destroy());
  slow.pause();
  const frames = [];
  for (let id = 1; id <= N; id++) {
    const method = id % 3 === 0 ? 'HeapProfiler.enable' : 'Runtime.getHeapUsage';
    frames.push(encodeFrame({ opcode: 1, payload: `{"id":${id},"method":"${method}"}` }));
  }
  slow.sendRaw(Buffer.concat(frames));

  // Meanwhile another client is served promptly, several times over.
  for (let i = 0; i < 3; i++) {
    const started = Date.now();
    await freshClientServed(tg, 3000);
    assert.ok(Date.now() - started < 3000, 'served within 3 s');
  }
  assert.equal(slow.closeInfo, null, 'the slow client is not dropped (its queue is far below the limit)');

  // The slow reader now reads: every reply, in order.
  slow.resume();
  for (let id = 1; id <= N; id++) {
    const m = await slow.nextJson(config.replyTimeoutMs);
    assert.equal(m.id, id, `reply ${id} in order (got ${JSON.stringify(m).slice(0, 120)})`);
    if (id % 3 === 0) assert.deepEqual(m.result, {});
    else assert.ok(m.result && m.result.usedSize > 0, JSON.stringify(m));
  }
  assert.deepEqual(await slow.call('HeapProfiler.collectGarbage'), { id: 1, result: {} });
  await finishesUnchanged(tg);
});
