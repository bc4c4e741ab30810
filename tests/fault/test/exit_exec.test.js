'use strict';
// fault-exit-exec: the program exits, or calls exec, while a heap snapshot
// streams to a client (hs-fault-exec-target under libheapscope.so, the
// command sent on the first chunk). The client sees an end — its connection
// closes — within a deadline instead of waiting for ever; the program's exit
// status and output, or the exec'd program's, are what they are without the
// agent; no snapshot child outlives it.

const test = require('node:test');
const assert = require('node:assert/strict');
const { wsConnect } = require('../../node/lib/ws');
const { withTimeout } = require('../../node/lib/target');
const { Program, streamSnapshot, processesTagged, need } = require('../lib/fault');

const BLOCKS = '300000'; // a snapshot of some 20 MB: it streams for a while
const END_MS = 20000;

function start(t, tag, { agent = true } = {}) {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  if (agent) {
    env.LD_PRELOAD = need('HS_AGENT_LIB');
    env.HEAPSCOPE_LISTEN = '127.0.0.1:0';
  }
  // The exec'd program: hs-test-target, whose checksum proves it ran whole.
  // It waits for stdin: the client's end must come while it still runs.
  const prog = new Program(need('HS_EXEC_TARGET'), [BLOCKS, need('HS_TARGET'), '--stdin', '--rounds', '300', '--tag', tag], env);
  t.after(() => prog.kill());
  return prog;
}

/* The outcome of a run: stdout lines, exit status. */
async function run(t, cmd, { agent }) {
  const tag = `fault-exit-exec-${process.pid}-${cmd}-${agent ? 'agent' : 'plain'}`;
  const prog = start(t, tag, { agent });
  const ready = await prog.nextLine(20000, 'the "ready" line');
  assert.match(ready, /^ready [0-9a-f]{16}$/);
  let snap = null;
  if (agent) {
    const ep = await prog.endpoint();
    const ws = await wsConnect({ port: ep.port, path: ep.path });
    t.after(() => ws.destroy());
    let sent = false;
    snap = await withTimeout(
      streamSnapshot(ws, 'HeapProfiler.takeHeapSnapshot', { reportProgress: true }, {
        ms: END_MS,
        onChunk: () => {
          if (!sent) prog.proc.stdin.write(`${cmd}\n`);
          sent = true;
        },
      }),
      END_MS,
      `the end of the snapshot's connection after "${cmd}"`
    );
    assert.ok(sent, `a chunk came before the end (${JSON.stringify(snap.reply || snap.closed)})`);
    // After exec the end must come from the agent's sockets closing at the
    // exec (close-on-exec), not from the new program's exit.
    if (cmd === 'exec') assert.equal(prog.exitInfo, null, 'the exec\'d program still runs when the client sees the end');
  } else {
    prog.proc.stdin.write(`${cmd}\n`);
  }
  if (cmd === 'exec') {
    await prog.until(() => (prog.lines.some((l) => l.startsWith('start ')) ? true : undefined), END_MS, 'the exec\'d program to start');
    prog.proc.stdin.end();
  }
  const info = await withTimeout(prog.exited, END_MS, 'the program to end');
  // Nothing of the program, its snapshot child included, is left.
  await prog.until(() => (processesTagged(tag).length === 0 ? true : undefined), 5000, 'no process left').catch(() => {
    assert.deepEqual(processesTagged(tag), [], 'no process of the run left');
  });
  return { info, lines: prog.lines.slice(1), ready, snap, stderr: prog.stderr };
}

for (const cmd of ['exit', 'exec']) {
  test(`${cmd} while a snapshot streams: the client sees the end; the program's status and output are its own`, async (t) => {
    const plain = await run(t, cmd, { agent: false });
    const withAgent = await run(t, cmd, { agent: true });
    assert.ok(withAgent.snap.closed || withAgent.snap.reply, 'an end');
    t.diagnostic(`${cmd}: ${withAgent.snap.chunks} chunks, then ${JSON.stringify(withAgent.snap.closed || withAgent.snap.reply)}`);
    assert.equal(withAgent.ready, plain.ready);
    assert.deepEqual(withAgent.info, plain.info, `exit status\n${withAgent.stderr.slice(-2000)}`);
    // The exec'd program's `start <pid>` names a pid: compare the rest.
    const stable = (lines) => lines.filter((l) => !l.startsWith('start '));
    assert.deepEqual(stable(withAgent.lines), stable(plain.lines));
    assert.ok(plain.lines.some((l) => (cmd === 'exit' ? /^bye / : /^done /).test(l)), JSON.stringify(plain.lines));
  });
}
