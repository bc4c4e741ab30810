'use strict';
// fault-port: the configured port is taken. The agent says which port was
// taken and where it listens instead (the next free one, after 16 taken in a
// row any free one), or, when it cannot listen at all, that there is no
// endpoint; the program runs on unchanged in every case.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { wsConnect } = require('../../node/lib/ws');
const { startProgram, referenceChecksum, SESSION_ROUNDS, need } = require('../lib/fault');

function listenOn(port) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((s) => s.destroy());
    srv.once('error', reject);
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(srv));
  });
}

/* count consecutive ports, all taken by us: [first port, servers]. */
async function takeRange(t, count) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const servers = [];
    try {
      for (let i = 0; i < count; i++) servers.push(await listenOn(base + i));
      t.after(() => servers.forEach((s) => s.close()));
      return base;
    } catch {
      servers.forEach((s) => s.close());
    }
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

async function runsUnchanged(prog) {
  for (const c of SESSION_ROUNDS) await prog.command(c);
  assert.equal(await prog.finish(), await referenceChecksum(), 'the program ran on unchanged');
}

for (const taken of [1, 16]) {
  test(`${taken} port(s) taken from the configured one: the agent says so and listens elsewhere`, async (t) => {
    const port = await takeRange(t, taken);
    const prog = startProgram({ lib: need('HS_AGENT_LIB'), listen: `127.0.0.1:${port}` });
    t.after(() => prog.kill());
    const ep = await prog.endpoint();
    assert.ok(ep, prog.stderr);
    if (taken === 1) assert.ok(ep.port > port && ep.port < port + 16, `one of the next ports: ${ep.port}`);
    else assert.ok(ep.port < port || ep.port >= port + taken, `any free port, not one of the taken: ${ep.port}`);
    assert.match(prog.stderr, new RegExp(`heapscope: port ${port} is taken; listening on port ${ep.port} instead\\n`));
    const ws = await wsConnect({ port: ep.port, path: ep.path });
    assert.ok((await ws.call('Runtime.getHeapUsage')).result.usedSize > 0);
    await ws.close();
    await runsUnchanged(prog);
  });
}

test('an address it cannot listen on: no endpoint, said once, and the program runs on', async (t) => {
  // TEST-NET-1 (RFC 5737): never a local address.
  const prog = startProgram({ lib: need('HS_AGENT_LIB'), listen: '192.0.2.1:9229' });
  t.after(() => prog.kill());
  assert.equal(await prog.endpoint(), null);
  assert.match(prog.stderr, /heapscope: cannot listen on 192\.0\.2\.1:9229: .+; no DevTools endpoint\n/);
  await runsUnchanged(prog);
});
