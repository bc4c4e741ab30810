'use strict';
// HTTP discovery, byte for byte where node's is (../shared/golden/v8-node20/
// discovery-http.json, PEERS.md §3.3): every recorded request is sent again
// with our port and target id, and the status line, the header lines (names,
// order, values; Content-Length = the body's bytes), the 400 body and the
// connection close are compared. JSON bodies are compared by structure, since
// the target is another program. Then what the recording does not cover:
// /json/protocol, more Host forms, the title, and the target id's quality.

const fs = require('node:fs');
const test = require('node:test');
const assert = require('node:assert/strict');
const config = require('../lib/config');
const { startTarget } = require('../lib/target');
const { rawHttp, httpGet } = require('../lib/http');
const { wsConnect } = require('../lib/ws');

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const BAD_BODY = 'WebSockets request was expected\r\n';

function golden() {
  const file = config.require(config.golden('discovery-http.json'), 'golden discovery-http.json');
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function splitResponse(text) {
  const end = text.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  return { statusLine, headers: lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]), body: text.slice(end + 4) };
}

/* The host:port a client that sent `request` should be told to use (node echoes the Host header). */
function hostFor(request, port) {
  const m = /\r\nHost: ([^\r]+)\r\n/i.exec(request);
  return m ? m[1] : `127.0.0.1:${port}`;
}

function checkTargetList(list, tg, request) {
  assert.ok(Array.isArray(list) && list.length === 1, `one target: ${JSON.stringify(list)}`);
  const [t] = list;
  for (const k of ['id', 'type', 'title', 'webSocketDebuggerUrl', 'devtoolsFrontendUrl'])
    assert.equal(typeof t[k], 'string', `${k} in ${JSON.stringify(t)}`);
  assert.equal(t.type, 'node');
  assert.equal(t.id, tg.id);
  const host = hostFor(request, tg.port);
  assert.equal(t.webSocketDebuggerUrl, `ws://${host}/${tg.id}`, 'webSocketDebuggerUrl names the host the client used, as node does');
  assert.ok(
    t.devtoolsFrontendUrl.startsWith('devtools://devtools/bundled/') && t.devtoolsFrontendUrl.endsWith(`ws=${host}/${tg.id}`),
    `devtoolsFrontendUrl: ${t.devtoolsFrontendUrl}`
  );
}

test('every request of discovery-http.json is answered as node answered it', async (t) => {
  const tg = await startTarget(t, { args: ['--stdin', '--tag', 'discovery'] });
  const g = golden();
  assert.ok(g.cases.length >= 20);
  for (const c of g.cases) {
    await t.test(c.label, async () => {
      const subst = (s) => s.split('9229').join(String(tg.port)).split(g.target_id).join(tg.id);
      const request = subst(c.request);
      const want = splitResponse(subst(c.response));
      const bad = want.statusLine.startsWith('HTTP/1.0 400');
      const upgrade = want.statusLine.startsWith('HTTP/1.1 101');
      const r = await rawHttp(tg.port, request, { waitClose: bad });
      const got = splitResponse(r.raw);
      assert.equal(got.statusLine, want.statusLine, r.raw.slice(0, 300));
      assert.deepEqual(
        got.headers.map(([n]) => n),
        want.headers.map(([n]) => n),
        `header lines: ${JSON.stringify(got.headers)}`
      );
      for (const [name, value] of want.headers) {
        const mine = r.header(name);
        if (name === 'Content-Length') assert.equal(Number(mine), r.bodyBytes, 'Content-Length is the body length');
        else assert.equal(mine, value, `${name}`);
      }
      if (bad) {
        assert.equal(r.body, BAD_BODY);
        assert.equal(c.server_closed_ms !== null, true, 'node closed these');
        assert.equal(r.closedByServer, true, 'the server closes after a 400');
      } else if (upgrade) {
        assert.equal(r.body, '', 'nothing after the 101 until a message is sent');
      } else {
        const body = JSON.parse(r.body);
        const path = request.split(' ')[1];
        if (path.startsWith('/json/version')) {
          assert.deepEqual(Object.keys(body).sort(), ['Browser', 'Protocol-Version']);
          assert.equal(body['Protocol-Version'], '1.1');
          assert.ok(body.Browser.length > 0);
        } else {
          checkTargetList(body, tg, request);
        }
      }
    });
  }
});

test('/json/protocol is served like the other documents', async (t) => {
  const tg = await startTarget(t, { args: ['--stdin'] });
  const r = await httpGet(tg.port, '/json/protocol');
  assert.equal(r.statusLine, 'HTTP/1.0 200 OK');
  assert.deepEqual(
    r.headers.map(([n]) => n),
    ['Content-Type', 'Cache-Control', 'Content-Length']
  );
  assert.equal(r.header('Content-Type'), 'application/json; charset=UTF-8');
  assert.equal(r.header('Cache-Control'), 'no-cache');
  assert.equal(Number(r.header('Content-Length')), r.bodyBytes);
  const doc = JSON.parse(r.body);
  assert.ok(doc.domains.some((d) => d.domain === 'HeapProfiler'));
  for (const p of ['/json/protocol?x=1', '/json/protocolx']) {
    const b = await httpGet(tg.port, p, { waitClose: true });
    assert.equal(b.statusLine, 'HTTP/1.0 400 Bad Request', `${p}: ${b.raw.slice(0, 200)}`);
    assert.equal(b.body, BAD_BODY);
  }
});

test('Host header: names refused, localhost and IP literals accepted (HTTP and upgrade)', async (t) => {
  const tg = await startTarget(t, { args: ['--stdin'] });
  const port = tg.port;
  for (const host of ['evil.example', `evil.example:${port}`, `localhost.evil.example:${port}`, `127.0.0.1.evil.example:${port}`]) {
    for (const path of ['/json', '/json/list', '/json/version', '/json/protocol']) {
      const r = await httpGet(port, path, { hostHeader: host, waitClose: true });
      assert.equal(r.statusLine, 'HTTP/1.0 400 Bad Request', `GET ${path} Host: ${host}`);
      assert.equal(r.body, BAD_BODY);
      assert.equal(r.closedByServer, true);
    }
    await assert.rejects(wsConnect({ port, path: tg.wsPath, hostHeader: host }), (e) => {
      assert.equal(e.status, 'HTTP/1.0 400 Bad Request', `upgrade with Host: ${host}: ${e.message}`);
      return true;
    });
  }
  for (const host of [`localhost:${port}`, 'localhost', `127.0.0.1:${port}`, '127.0.0.1', `10.1.2.3:${port}`, `[::1]:${port}`]) {
    const r = await httpGet(port, '/json/list', { hostHeader: host });
    assert.equal(r.statusLine, 'HTTP/1.0 200 OK', `Host: ${host}`);
    checkTargetList(JSON.parse(r.body), tg, `GET /json/list HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    const ws = await wsConnect({ port, path: tg.wsPath, hostHeader: host });
    const reply = await ws.call('HeapProfiler.collectGarbage');
    assert.deepEqual(reply, { id: 1, result: {} }, `session after an upgrade with Host: ${host}`);
    ws.destroy();
  }
});

test('the target: title names the program and its arguments, id is a fresh UUID v4', async (t) => {
  const tag = `title-check-${process.pid}`;
  const a = await startTarget(t, { args: ['--stdin', '--tag', tag] });
  const b = await startTarget(t, { args: ['--stdin', '--tag', tag] });
  const [ta] = JSON.parse((await httpGet(a.port, '/json/list')).body);
  const [tb] = JSON.parse((await httpGet(b.port, '/json')).body);
  if (config.isNode) {
    assert.ok(ta.title.includes('node_target.js'), ta.title); // node: the script only
  } else {
    assert.ok(ta.title.includes('hs-test-target'), `program in title: ${ta.title}`);
    assert.ok(ta.title.includes(`--tag ${tag}`), `arguments in title: ${ta.title}`);
  }
  for (const [tg, target] of [
    [a, ta],
    [b, tb],
  ]) {
    assert.match(target.id, UUID_V4);
    assert.equal(target.id, tg.id, 'the id in /json/list is the one in the listening line');
    assert.equal(target.webSocketDebuggerUrl, tg.wsUrl);
  }
  assert.notEqual(ta.id, tb.id, 'two runs, two ids');
  // The id is the only way in: a WebSocket to another path is refused.
  const wrongId = tg2Wrong(a.id);
  await assert.rejects(wsConnect({ port: a.port, path: `/${wrongId}` }), /upgrade refused: HTTP\/1\.0 400/);
});

/* The same id with its last hex digit changed. */
function tg2Wrong(id) {
  const last = id[id.length - 1];
  return id.slice(0, -1) + (last === '0' ? '1' : '0');
}
