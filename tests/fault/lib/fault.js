'use strict';
// What the fault tests share: the program under the agent (hs-test-target,
// whose `done <checksum>` line proves it ran on unchanged), its reference
// checksum without any agent, and a scripted session that sends every
// HeapProfiler command and the Runtime ones after discovery (/json/*),
// checking that each reply is a result or an error (or that the connection
// closed). Every wait is for an
// event, bounded by a deadline; nothing sleeps.
//
// Paths come from the environment (tests/fault/CMakeLists.txt):
//   HS_TARGET        hs-test-target
//   HS_AGENT_LIB     libheapscope.so
//   HS_FAULT_LIB     libheapscope_fault.so (the HS_FAULT twin)

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const { wsConnect } = require('../../node/lib/ws');
const { httpGet } = require('../../node/lib/http');
const targetLib = require('../../node/lib/target');

const { withTimeout, Target } = targetLib;

const LISTEN_RE = /heapscope: DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)(\/\S+)/;
const NO_ENDPOINT_RE = /no DevTools endpoint|cannot start the service thread/;

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through ctest, see tests/fault/CMakeLists.txt)`);
  return v;
}

/*
 * A running program: tests/node/lib/target.js's Target (lines: its stdout
 * lines; stderr: all of it; until(check, ms, what), nextLine, command),
 * started here from a file, arguments and a whole environment, with the
 * endpoint or its absence read from stderr, finish() giving the checksum, and
 * kill() a SIGKILL at once.
 */
class Program extends Target {
  constructor(file, args, env) {
    super(spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'] }), {});
    this.what = 'program';
  }

  /* The endpoint {port, path}, or null when the agent said it has none. */
  endpoint(ms = 15000) {
    return this.until(
      () => {
        const m = LISTEN_RE.exec(this.stderr);
        if (m) return { port: Number(m[1]), path: m[2] };
        if (NO_ENDPOINT_RE.test(this.stderr)) return null;
        if (this.exitInfo) throw new Error(`program exited (${JSON.stringify(this.exitInfo)}) before it listened`);
        return undefined;
      },
      ms,
      'the "listening" line (or "no DevTools endpoint") on stderr'
    );
  }

  /* Closes stdin; the program must end with status 0 and `done <sum>`. */
  async finish(ms = 20000) {
    return (await super.finish(ms)).checksum;
  }

  kill() {
    if (!this.exitInfo) this.proc.kill('SIGKILL');
    return this.exited;
  }
}

const TARGET_ARGS = ['--stdin', '--rounds', '200', '--live', '512'];
/* The stdin commands of a session, the same with and without the agent. */
const SESSION_ROUNDS = ['rounds 100', 'rounds 100', 'rounds 100'];

/* hs-test-target under lib (or without an agent when lib is null). */
function startProgram({ lib, env = {}, args = TARGET_ARGS, listen = '127.0.0.1:0' }) {
  const e = { ...process.env, ...env };
  delete e.LD_PRELOAD;
  if (lib) {
    e.LD_PRELOAD = lib;
    e.HEAPSCOPE_LISTEN = listen;
  }
  return new Program(need('HS_TARGET'), args, e);
}

/* The checksum after args (TARGET_ARGS) and SESSION_ROUNDS without the agent. */
async function referenceChecksum(args = TARGET_ARGS) {
  return targetLib.referenceChecksum(args, SESSION_ROUNDS, need('HS_TARGET'));
}

/*
 * A reply must be {id, result: object} or {id, error: {code: number,
 * message: string}}, and nothing else. Returns a problem, or null.
 */
function replyProblem(j, id) {
  if (!j || typeof j !== 'object' || j.id !== id) return `not the reply to ${id}`;
  const hasResult = 'result' in j;
  const hasError = 'error' in j;
  if (hasResult === hasError) return 'neither a result nor an error (or both)';
  if (hasResult && (typeof j.result !== 'object' || j.result === null)) return 'result is not an object';
  if (hasError && (typeof j.error.code !== 'number' || typeof j.error.message !== 'string')) return 'malformed error';
  return null;
}

/*
 * Runs the scripted session on a connection: every command, with the
 * program doing work between them. Resolves with
 *   { replies, errors, closed, problems: [...] , events }
 * Stops early (not a problem) when the agent closes the connection; a reply
 * that does not come within replyMs is a problem (a hang).
 */
async function scriptedSession(prog, ep, { replyMs = 10000 } = {}) {
  const out = { replies: 0, errors: 0, closed: null, problems: [], events: 0, methods: [], rounds: 0, keys: {} };
  // The program's work is the same whatever happens to the session.
  const work = async () => {
    if (out.rounds < SESSION_ROUNDS.length) await prog.command(SESSION_ROUNDS[out.rounds++]);
  };
  // Discovery, as a client starts: each document whole, or a server error,
  // or the connection closed; never a 404 for a document that exists, never
  // a document cut short.
  const wanted = { '/json/version': ['Browser', 'Protocol-Version'], '/json/list': ['0'], '/json/protocol': ['domains'] };
  for (const [path, keys] of Object.entries(wanted)) {
    let r = null;
    try {
      r = await httpGet(ep.port, path, { timeoutMs: replyMs });
    } catch (e) {
      if (!/ECONNRESET/.test(e.message)) out.problems.push(`GET ${path}: ${e.message}`);
      continue;
    }
    if (!r || !r.status || r.status >= 500) continue; // closed, or a server error
    let doc = null;
    try {
      doc = r.status === 200 ? JSON.parse(r.body) : null;
    } catch {
      /* reported below */
    }
    if (!doc || !keys.every((k) => k in doc)) out.problems.push(`GET ${path}: ${r.statusLine} ${String(r.body).slice(0, 100)}`);
    else if (path === '/json/list' && !doc[0].webSocketDebuggerUrl) out.problems.push(`GET ${path}: no webSocketDebuggerUrl`);
  }
  let ws;
  try {
    ws = await wsConnect({ port: ep.port, path: ep.path, timeoutMs: replyMs });
  } catch (e) {
    // A refused upgrade, or a connection closed before the upgrade's answer
    // (the agent could not set up a session), is an answer too.
    if (e.response || /closed during the handshake|ECONNRESET/.test(e.message)) {
      out.closed = { refused: e.response ? e.response.status : e.message };
      while (out.rounds < SESSION_ROUNDS.length) await work();
      return out;
    }
    throw e;
  }
  let nextId = 1;
  const call = async (method, params) => {
    const id = nextId++;
    const msg = { id, method };
    if (params !== undefined) msg.params = params;
    ws.send(msg);
    const deadline = Date.now() + replyMs;
    for (;;) {
      const m = await ws.next(Math.max(1, deadline - Date.now())).catch((e) => {
        out.problems.push(`${method}: ${e.message}`);
        return null;
      });
      if (!m) return null;
      if (m.type === 'closed') {
        out.closed = { code: m.code, during: method };
        return null;
      }
      let j;
      try {
        j = JSON.parse(m.data);
      } catch {
        out.problems.push(`${method}: a message that is not JSON: ${String(m.data).slice(0, 100)}`);
        continue;
      }
      if (typeof j.method === 'string' && !('id' in j)) {
        out.events++;
        continue;
      }
      const p = replyProblem(j, id);
      if (p) {
        out.problems.push(`${method}: ${p}: ${JSON.stringify(j).slice(0, 200)}`);
        return null;
      }
      out.replies++;
      out.methods.push(method);
      if (j.error) out.errors++;
      else out.keys[method] = Object.keys(j.result).sort().join(',');
      return j;
    }
  };
  const step = async (method, params) => (out.closed || out.problems.length ? null : call(method, params));

  await step('Runtime.enable');
  await step('Runtime.getIsolateId');
  await step('Runtime.getHeapUsage');
  await step('Runtime.runIfWaitingForDebugger');
  const ev = await step('Runtime.evaluate', { expression: 'this', objectGroup: 'g' });
  const objectId = ev && ev.result && ev.result.result && ev.result.result.objectId;
  await step('Runtime.getProperties', { objectId: objectId || 'x.1.1', ownProperties: true });
  await step('Runtime.evaluate', { expression: '$0' });
  await step('Runtime.compileScript', { expression: '1', sourceURL: '', persistScript: false });
  await step('Runtime.globalLexicalScopeNames', {});
  await step('No.suchMethod');
  await step('HeapProfiler.enable');
  await step('HeapProfiler.collectGarbage');
  await step('HeapProfiler.startSampling', { samplingInterval: 4096 });
  await work();
  await step('HeapProfiler.getSamplingProfile');
  await step('HeapProfiler.stopSampling');
  await step('HeapProfiler.takeHeapSnapshot', { reportProgress: true });
  await step('HeapProfiler.getHeapObjectId', { objectId: objectId || 'x.1.1' });
  await step('HeapProfiler.getObjectByHeapObjectId', { objectId: '101', objectGroup: 'g' });
  await step('HeapProfiler.addInspectedHeapObject', { heapObjectId: '101' });
  await step('HeapProfiler.startTrackingHeapObjects', { trackAllocations: true });
  await work();
  await step('HeapProfiler.stopTrackingHeapObjects', { reportProgress: true });
  await step('Runtime.releaseObjectGroup', { objectGroup: 'g' });
  await step('Runtime.disable');
  await step('HeapProfiler.disable');
  if (!out.closed) {
    const info = await withTimeout(ws.close(), replyMs, 'the agent to answer the close').catch((e) => {
      out.problems.push(e.message);
      return null;
    });
    // 1000, or the connection simply ends (1006) when the close frame itself
    // could not be queued; the client sees an end either way.
    if (info && info.code !== 1000 && info.code !== 1006) out.problems.push(`closed with ${info.code}`);
  } else {
    ws.destroy();
  }
  while (out.rounds < SESSION_ROUNDS.length) await work();
  return out;
}

/*
 * Sends a command that streams a snapshot (takeHeapSnapshot,
 * stopTrackingHeapObjects) on a raw connection and reads until its reply or
 * the end of the connection: { reply, closed, chunks, text, progress }.
 * onChunk(count) runs as each chunk arrives (to act in the middle).
 */
async function streamSnapshot(ws, method, params, { ms = 60000, onChunk } = {}) {
  const id = 100000 + Math.floor(Math.random() * 100000);
  ws.send({ id, method, params });
  const out = { reply: null, closed: null, chunks: 0, text: '', progress: 0 };
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await ws.next(Math.max(1, deadline - Date.now()));
    if (m.type === 'closed') {
      out.closed = m;
      return out;
    }
    const j = JSON.parse(m.data);
    if (j.method === 'HeapProfiler.addHeapSnapshotChunk') {
      out.chunks++;
      out.text += j.params.chunk;
      if (onChunk) onChunk(out.chunks);
    } else if (j.method === 'HeapProfiler.reportHeapSnapshotProgress') {
      out.progress++;
    } else if (j.id === id) {
      out.reply = j;
      return out;
    }
  }
}

/* Processes whose command line holds tag (a snapshot child is a clone of its program). */
function processesTagged(tag) {
  const found = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'latin1');
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'latin1');
      if (cmd.includes(tag) && !/\) Z /.test(stat)) found.push(Number(d));
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

/* The live children of pid (a snapshot child not reaped would be one). */
function childrenOf(pid) {
  const kids = [];
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    const text = fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'latin1').trim();
    if (text) kids.push(...text.split(/\s+/).map(Number));
  }
  return kids;
}

module.exports = {
  childrenOf,
  streamSnapshot,
  processesTagged, Program, startProgram, referenceChecksum, scriptedSession, replyProblem, SESSION_ROUNDS, TARGET_ARGS, need };
