'use strict';
// Internal allocation failure at every point (issue 9, fault injection).
//
// hs-test-target runs under libheapscope_fault.so with
// HEAPSCOPE_FAULT_ALLOC=N: the N-th allocation the agent makes for itself
// fails. For each N the scripted session (lib/fault.js: discovery, every
// HeapProfiler command, the Runtime ones, a snapshot, sampling, a timeline)
// must get a result or an error for every command, or see the connection
// close; a result must have the members it has without a fault (never a
// success emptied by a failure); a fresh client must then be served; the
// program must end with status 0 and the checksum it prints without any
// agent; nothing may crash or hang (every wait has a deadline).
//
// HEAPSCOPE_FAULT_SPARE=jansson,libdw (set by ctest) leaves out the
// allocations of jansson's parser and serialiser and of libdw, which corrupt
// memory, crash or exit the process when one fails (src/agent/shim/fault.c);
// without it this sweep shows them.
//
// A first run with N = 0 counts the session's allocations (K, printed by the
// fault build at exit). Then N runs over 1..K+margin: every N with --all,
// else a stride chosen to fit --budget runs plus every N in the first
// --head (the endpoint's start-up).
//
//   node alloc_sweep.js [--all] [--budget RUNS] [--head N] [--jobs J] [--only N,N...]

const assert = require('node:assert/strict');
const { startProgram, referenceChecksum, scriptedSession } = require('./lib/fault');
const { wsConnect } = require('../node/lib/ws');

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const ALL = argv.includes('--all');
const BUDGET = opt('--budget', 120);
const HEAD = opt('--head', 40);
const JOBS = opt('--jobs', 2);
const ONLY = argv.includes('--only') ? argv[argv.indexOf('--only') + 1].split(',').map(Number) : [];
const COUNT_RE = /heapscope-fault: (\d+) allocations, (\d+) failed/;

const lib = process.env.HS_FAULT_LIB;
if (!lib) throw new Error('HS_FAULT_LIB is not set (run through ctest)');

/* One program and one session with HEAPSCOPE_FAULT_ALLOC=n. */
async function runOne(n, reference) {
  const prog = startProgram({ lib, env: { HEAPSCOPE_FAULT_ALLOC: String(n), HEAPSCOPE_TRACK_PERIOD_MS: '5' } });
  const problems = [];
  let session = null;
  try {
    const ep = await prog.endpoint();
    if (ep) {
      session = await scriptedSession(prog, ep);
      problems.push(...session.problems);
      // Whatever the failure broke, the next client is served. When N falls
      // after the session, the failure may hit this client: then the one after.
      let served = null;
      for (let attempt = 0; attempt < 2 && !served; attempt++) {
        try {
          const ws = await wsConnect({ port: ep.port, path: ep.path });
          const r = await ws.call('Runtime.getHeapUsage', undefined, 10000);
          if (r.result && r.result.usedSize > 0) served = ws;
          else ws.destroy();
        } catch (e) {
          if (attempt === 1) problems.push(`a fresh client: ${e.message}`);
        }
      }
      if (served) await served.close();
      else problems.push('no fresh client was served Runtime.getHeapUsage');
    } else {
      // No endpoint: the program runs on all the same.
      for (let i = 0; i < 3; i++) await prog.command('rounds 100');
    }
    const sum = await prog.finish();
    if (sum !== reference) problems.push(`checksum ${sum}, without the agent ${reference}`);
  } catch (e) {
    problems.push(e.message);
  } finally {
    await prog.kill();
  }
  const m = COUNT_RE.exec(prog.stderr);
  const failed = new RegExp(`heapscope-fault: failing allocation ${n}\\n`).test(prog.stderr);
  if (prog.exitInfo && prog.exitInfo.signal) problems.push(`killed by ${prog.exitInfo.signal}`);
  return { n, problems, session, count: m ? Number(m[1]) : null, failed, stderr: prog.stderr };
}

async function main() {
  const reference = await referenceChecksum();
  const base = await runOne(0, reference);
  assert.deepEqual(base.problems, [], `the session without a fault:\n${base.stderr.slice(-3000)}`);
  assert.ok(base.count > 0, 'the fault build reports its count at exit');
  assert.equal(base.session.closed, null, 'the session without a fault is not closed');
  const K = base.count;
  const top = K + 20; // a little past the end: the count varies with timing
  let points = [];
  if (ONLY.length) {
    points = ONLY;
  } else if (ALL) {
    for (let n = 1; n <= top; n++) points.push(n);
  } else {
    const stride = Math.max(1, Math.ceil((top - HEAD) / Math.max(1, BUDGET - HEAD)));
    for (let n = 1; n <= Math.min(HEAD, top); n++) points.push(n);
    for (let n = HEAD + 1; n <= top; n += stride) points.push(n);
  }
  console.log(`session without a fault: ${base.session.replies} replies (${base.session.errors} errors), ${base.session.events} events; K = ${K} agent allocations; testing ${points.length} values of N`);

  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < points.length) {
      const n = points[next++];
      const r = await runOne(n, reference);
      results.push(r);
      r.logged = r.problems.length > 0;
      if (r.logged) console.log(`N=${n}: FAILED: ${r.problems.join('; ')}\n${r.stderr.slice(-1500)}`);
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: JOBS }, worker));
  results.sort((a, b) => a.n - b.n);
  // A success must carry what it carries without a fault: a result whose
  // members could not be made is an error, never a success without them.
  for (const r of results) {
    if (!r.session) continue;
    for (const [m, k] of Object.entries(r.session.keys)) {
      if (base.session.keys[m] !== undefined && k !== base.session.keys[m]) {
        r.problems.push(`${m}: a result {${k}} instead of {${base.session.keys[m]}}`);
      }
    }
  }
  for (const r of results) if (r.problems.length && !r.logged) console.log(`N=${r.n}: FAILED: ${r.problems.join('; ')}`);
  const bad = results.filter((r) => r.problems.length);
  const injected = results.filter((r) => r.failed).length;
  const closed = results.filter((r) => r.session && r.session.closed).length;
  const noEndpoint = results.filter((r) => !r.session).length;
  const withErrors = results.filter((r) => r.session && r.session.errors > base.session.errors).length;
  console.log(
    `${results.length} runs in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${injected} with the failure injected, ` +
      `${withErrors} sessions with more error replies than without a fault, ${closed} closed by the agent, ` +
      `${noEndpoint} without an endpoint; ${bad.length} failed`
  );
  assert.deepEqual(bad.map((r) => `N=${r.n}: ${r.problems.join('; ')}`), []);
  // The points must really have been reached: the count varies a little with
  // timing (ticks, reads), so most but not necessarily all of them.
  assert.ok(injected >= 0.9 * results.filter((r) => r.n <= K).length, `only ${injected} of ${results.length} runs reached their N`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e.stack || e.message);
    process.exit(1);
  }
);
