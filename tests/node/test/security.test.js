'use strict';
// The endpoint's two guards against other programs on the machine and web
// pages in a browser (docs/SECURITY.md), as tables over raw sockets:
//
// - the Host check (DNS rebinding): every forged Host form against every
//   endpoint (/json, /json/list, /json/version, /json/protocol and the
//   WebSocket upgrade) is refused with node's 400 and a close; the forms node
//   allows are allowed;
// - the WebSocket path: only the exact target id upgrades (a prefix, another
//   case, one byte more: 400), and the id is a fresh UUID v4 in each run.
//
// The same tables run against node itself (ctest node-security-v8,
// HS_TEST_TARGET=node): the expectations are node's behaviour, not ours. The
// only rows that differ are listed in STRICTER with the reason.

const crypto = require('node:crypto');
const test = require('node:test');
const assert = require('node:assert/strict');
const config = require('../lib/config');
const { startTarget } = require('../lib/target');
const { rawHttp } = require('../lib/http');

const BAD_BODY = 'WebSockets request was expected\r\n';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const DOCUMENTS = ['/json', '/json/list', '/json/version', '/json/protocol'];

/* A GET of path with one Host line per entry of hosts (none: no Host), as an upgrade if asked. */
function request(path, hosts, upgrade) {
  const lines = [`GET ${path} HTTP/1.1`, ...hosts.map((h) => `Host: ${h}`)];
  if (upgrade) {
    lines.push('Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13');
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/* Node's refusal, byte for byte: 400, its one-line body, the connection closed. */
async function expectRefused(port, req, what) {
  const r = await rawHttp(port, req, { waitClose: true });
  assert.equal(r.statusLine, 'HTTP/1.0 400 Bad Request', `${what}: ${JSON.stringify(r.raw.slice(0, 200))}`);
  assert.deepEqual(
    r.headers.map(([n, v]) => `${n}: ${v}`),
    ['Content-Type: text/html; charset=UTF-8'],
    `${what}: the header lines`
  );
  assert.equal(r.body, BAD_BODY, `${what}: the body`);
  assert.equal(r.closedByServer, true, `${what}: the server closes`);
}

async function expectAccepted(port, req, upgrade, what) {
  const r = await rawHttp(port, req);
  const want = upgrade ? 'HTTP/1.1 101 Switching Protocols' : 'HTTP/1.0 200 OK';
  assert.equal(r.statusLine, want, `${what}: ${JSON.stringify(r.raw.slice(0, 200))}`);
}

/* Every endpoint with Host lines `hosts`: refused or accepted, each one. */
async function everyEndpoint(tg, hosts, accepted, what) {
  for (const path of DOCUMENTS) {
    const req = request(path, hosts, false);
    if (accepted) await expectAccepted(tg.port, req, false, `GET ${path}, ${what}`);
    else await expectRefused(tg.port, req, `GET ${path}, ${what}`);
  }
  const req = request(tg.wsPath, hosts, true);
  if (accepted) await expectAccepted(tg.port, req, true, `upgrade, ${what}`);
  else await expectRefused(tg.port, req, `upgrade, ${what}`);
}

/* Host lines by name; PORT is the target's port. */
function forged(port) {
  return {
    'evil.com': ['evil.com'],
    'evil.com:PORT': [`evil.com:${port}`],
    '127.0.0.1.evil.com': ['127.0.0.1.evil.com'],
    '127.0.0.1.evil.com:PORT': [`127.0.0.1.evil.com:${port}`],
    'localhost.evil.com': ['localhost.evil.com'],
    'localhost.evil.com:PORT': [`localhost.evil.com:${port}`],
    'evil.localhost:PORT': [`evil.localhost:${port}`],
    'localhost. (trailing dot)': ['localhost.'],
    '[::1].evil.com': ['[::1].evil.com'],
    '[::1]evil.com:PORT': [`[::1]evil.com:${port}`],
    '[::1 (no closing bracket)': ['[::1'],
    '::1 (IPv6 without brackets)': ['::1'],
    '[evil.com]:PORT': [`[evil.com]:${port}`],
    '[] (empty brackets)': ['[]'],
    '127.0.0.1:PORT:PORT': [`127.0.0.1:${port}:${port}`],
    '[::]:PORT (the unspecified address)': [`[::]:${port}`],
    '0.0.0.0:PORT': [`0.0.0.0:${port}`],
    '0.1.2.3 (0.0.0.0/8)': ['0.1.2.3'],
    '127.1 (inet_aton short form)': ['127.1'],
    '0x7f.0.0.1 (hexadecimal)': ['0x7f.0.0.1'],
    '2130706433 (one number)': ['2130706433'],
    '[fe80::1%25eth0] (zone id)': ['[fe80::1%25eth0]'],
    'lоcalhost (Cyrillic о)': ['lоcalhost'],
    'évil.com (UTF-8)': ['évil.com'],
    'ｌｏｃａｌｈｏｓｔ (full width)': ['ｌｏｃａｌｈｏｓｔ'],
    'a 6000-byte name': [`${'a'.repeat(6000)}.evil.com`],
    'two Host lines: localhost, evil.com': ['localhost', 'evil.com'],
    'two Host lines: evil.com, localhost': ['evil.com', 'localhost'],
    'two Host lines: localhost, localhost': ['localhost', 'localhost'],
  };
}

function allowed(port) {
  return {
    localhost: ['localhost'],
    'localhost:PORT': [`localhost:${port}`],
    'LocalHost:PORT': [`LocalHost:${port}`],
    '127.0.0.1': ['127.0.0.1'],
    '127.0.0.1:PORT': [`127.0.0.1:${port}`],
    '[::1]': ['[::1]'],
    '[::1]:PORT': [`[::1]:${port}`],
    '[::ffff:127.0.0.1]:PORT': [`[::ffff:127.0.0.1]:${port}`],
    '10.1.2.3:PORT (any address literal: nothing to rebind)': [`10.1.2.3:${port}`],
    'no Host line': [],
    'an empty Host': [''],
  };
}

/* Refused by heapscope, allowed by node: node ignores whatever follows the
 * last ':' (its TrimPort); a port that is not a number names no port we serve. */
function stricter(port) {
  return {
    'localhost:abc': ['localhost:abc'],
    'localhost: (empty port)': ['localhost:'],
  };
}

test('forged Host headers are refused on every endpoint, as node refuses them', async (t) => {
  const tg = await startTarget(t, { args: ['--stdin'] });
  for (const [what, hosts] of Object.entries(forged(tg.port))) {
    await t.test(what, async () => everyEndpoint(tg, hosts, false, `Host ${what}`));
  }
  for (const [what, hosts] of Object.entries(stricter(tg.port))) {
    await t.test(`${what} (${config.isNode ? 'node allows it' : 'heapscope refuses it'})`, async () =>
      everyEndpoint(tg, hosts, config.isNode, `Host ${what}`)
    );
  }
});

test('the Host forms node allows are allowed on every endpoint', async (t) => {
  const tg = await startTarget(t, { args: ['--stdin'] });
  for (const [what, hosts] of Object.entries(allowed(tg.port))) {
    await t.test(what, async () => everyEndpoint(tg, hosts, true, `Host ${what}`));
  }
});

test('only the exact WebSocket path upgrades', async (t) => {
  const tg = await startTarget(t, { args: ['--stdin'] });
  const id = tg.id;
  const host = [`127.0.0.1:${tg.port}`];
  const wrong = {
    '/': '/',
    '/json/list': '/json/list',
    'the id without its last character': `/${id.slice(0, -1)}`,
    'the first 8 characters': `/${id.slice(0, 8)}`,
    'the id in upper case': `/${id.toUpperCase()}`,
    'the id and one character more': `/${id}0`,
    'the id and a slash': `/${id}/`,
    'two slashes before the id': `//${id}`,
    'the id and a query': `/${id}?x=1`,
    'the id percent-encoded': `/${id.replace(/-/g, '%2D')}`,
    'another UUID': `/${crypto.randomUUID()}`,
  };
  for (const [what, path] of Object.entries(wrong)) {
    await t.test(what, async () => expectRefused(tg.port, request(path, host, true), `upgrade to ${what}`));
  }
  // The control: the right path, on the same target, upgrades.
  await expectAccepted(tg.port, request(tg.wsPath, host, true), true, 'upgrade to the id');
});

test('the WebSocket path is a fresh random UUID v4 in each run', async (t) => {
  const ids = [];
  for (let run = 0; run < 3; run++) {
    const tg = await startTarget(t, { args: ['--stdin'] });
    assert.match(tg.id, UUID_V4, 'a UUID v4: 122 random bits');
    ids.push(tg.id);
    await tg.kill();
  }
  assert.equal(new Set(ids).size, ids.length, `three runs, three ids: ${ids.join(' ')}`);
});
