'use strict';
// Starts the program under test with an endpoint on an ephemeral port, waits
// for its "listening on ws://…" line (no sleeps: an event with a time limit),
// and kills and reaps it when the test ends.
//
//   const tg = await startTarget(t, { args: ['--stdin'] });
//   tg.wsUrl, tg.host, tg.port, tg.id       // from the stderr line
//   await tg.command('rounds 100')          // one stdin command, its answer line
//   const { checksum } = await tg.finish()  // close stdin, wait for `done <sum>`
//
// With HS_TEST_TARGET=agent (default) the program is hs-test-target with
// libheapscope.so preloaded (or through `heapscope run` with via: 'cli');
// with HS_TEST_TARGET=node it is targets/node_target.js under
// `node --inspect=127.0.0.1:0`.

const { spawn } = require('node:child_process');
const config = require('./config');

const LISTEN_RE = /(?:heapscope: DevTools|Debugger) listening on (ws:\/\/(\[[^\]]+\]|[^:/\s]+):(\d+)\/(\S+))/;

const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/* Rejects after ms with an error that says what was awaited. */
function withTimeout(promise, ms, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/*
 * A running program: its stdout lines and stderr, and waits for what it
 * prints or for its exit (until). tests/fault/lib/fault.js's Program is one
 * too, with its own endpoint line and kill.
 */
class Target {
  constructor(proc, opts) {
    this.proc = proc;
    this.opts = opts;
    this.what = 'target'; // what messages call it
    this.stderr = '';
    this.lines = []; // every stdout line, in order
    this.cursor = 0; // lines consumed by nextLine()
    this.waiters = [];
    this.cleanups = []; // run before the kill: clients close while the server is still there
    this.exitInfo = null;
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': 'exit' can come before the last stdout lines are read.
      proc.on('close', (code, signal) => {
        live.delete(proc);
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
        this._notify();
      });
    });
    let partial = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      partial += d;
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        this.lines.push(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
      }
      this._notify();
    });
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      this.stderr += d;
      this._notify();
    });
    proc.stdin.on('error', () => {
      /* EPIPE when the program is gone: the exit status tells the story */
    });
  }

  _notify() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /* Resolves with check()'s first non-undefined value; re-checked on every output or exit. */
  until(check, ms, what) {
    return withTimeout(
      new Promise((resolve, reject) => {
        const poll = () => {
          let v;
          try {
            v = check();
          } catch (e) {
            reject(e);
            return;
          }
          if (v !== undefined) resolve(v);
          else this.waiters.push(poll);
        };
        poll();
      }),
      ms,
      what
    ).catch((e) => {
      e.message += `\n--- ${this.what} stderr ---\n${this.stderr.slice(-4000)}\n--- ${this.what} stdout ---\n${this.lines.slice(-20).join('\n')}`;
      throw e;
    });
  }

  async waitListening(ms = config.startTimeoutMs) {
    const m = await this.until(
      () => {
        const found = LISTEN_RE.exec(this.stderr);
        if (found) return found;
        if (this.exitInfo) throw new Error(`${this.what} exited (${JSON.stringify(this.exitInfo)}) before it listened`);
        return undefined;
      },
      ms,
      'the "listening on ws://" line on stderr'
    );
    this.wsUrl = m[1];
    this.host = m[2].replace(/^\[|\]$/g, '');
    this.port = Number(m[3]);
    this.id = m[4];
    this.wsPath = `/${m[4]}`;
    return this;
  }

  /* The next stdout line not yet consumed. */
  nextLine(ms = config.replyTimeoutMs, what = 'a line on stdout') {
    return this.until(
      () => {
        if (this.cursor < this.lines.length) return this.lines[this.cursor++];
        if (this.exitInfo) throw new Error(`${this.what} exited (${JSON.stringify(this.exitInfo)}) while waiting for ${what}`);
        return undefined;
      },
      ms,
      what
    );
  }

  /* Sends one stdin command and returns its answer line. */
  async command(cmd, ms = config.replyTimeoutMs) {
    if (this.cursor === 0) {
      const first = await this.nextLine(ms, 'the "start" line');
      if (!first.startsWith('start ')) throw new Error(`first line should be "start <pid>", not ${JSON.stringify(first)}`);
    }
    this.proc.stdin.write(`${cmd}\n`);
    return this.nextLine(ms, `the answer to "${cmd}"`);
  }

  /* Closes stdin and waits for `done <checksum>` and a clean exit. */
  async finish(ms = config.replyTimeoutMs * 3) {
    this.proc.stdin.end();
    const info = await withTimeout(this.exited, ms, `the ${this.what} to exit after stdin closed`);
    const done = this.lines.slice(this.cursor).find((l) => l.startsWith('done '));
    if (info.code !== 0 || !done) {
      throw new Error(
        `${this.what} did not finish cleanly: ${JSON.stringify(info)}, stdout tail ${JSON.stringify(this.lines.slice(-5))}\n--- stderr ---\n${this.stderr.slice(-4000)}`
      );
    }
    return { checksum: done.slice(5), exit: info };
  }

  /* fn runs (bounded to 5 s) when the test ends, before the program is killed. */
  onCleanup(fn) {
    this.cleanups.push(fn);
  }

  /* Cleanups, then SIGTERM, then SIGKILL if it does not go within 5 s; always reaped. */
  async kill() {
    const cleanups = this.cleanups.splice(0).reverse();
    for (const fn of cleanups) {
      await withTimeout(Promise.resolve().then(fn), 5000, 'a cleanup').catch(() => {});
    }
    if (this.exitInfo) return this.exitInfo;
    this.proc.kill('SIGTERM');
    try {
      return await withTimeout(this.exited, 5000, 'exit after SIGTERM');
    } catch {
      this.proc.kill('SIGKILL');
      return this.exited;
    }
  }
}

function programArgs(args) {
  if (config.isNode) {
    return { file: process.execPath, argv: [config.require(config.nodeTarget, 'node_target.js'), ...args] };
  }
  return { file: config.require(config.target, 'hs-test-target (HS_TARGET)'), argv: args };
}

/*
 * opts: program (another executable to run under the agent instead of
 * hs-test-target), args (program arguments), env (extra environment), via ('preload' |
 * 'cli'), listen (false: start without an endpoint, for reference runs),
 * wait (HEAPSCOPE_WAIT=1). `t` is the node:test context: the process is
 * killed and reaped in t.after().
 */
async function startTarget(t, opts = {}) {
  const args = opts.args || [];
  const env = { ...process.env, ...(opts.env || {}) };
  delete env.LD_PRELOAD;
  delete env.NODE_OPTIONS;
  const prog = opts.program ? { file: opts.program, argv: args } : programArgs(args);
  let file = prog.file;
  let argv = prog.argv;
  const listen = opts.listen !== false;
  if (listen && config.isNode) {
    argv = ['--inspect=127.0.0.1:0', ...argv];
  } else if (listen) {
    env.HEAPSCOPE_LISTEN = '127.0.0.1:0';
    if (opts.wait) env.HEAPSCOPE_WAIT = '1';
    if (opts.via === 'cli') {
      argv = ['run', '--', file, ...argv];
      file = config.require(config.heapscope, 'heapscope CLI (HS_HEAPSCOPE)');
    } else {
      env.LD_PRELOAD = config.require(config.agentLib, 'libheapscope.so (HS_AGENT_LIB)');
    }
  }
  const proc = spawn(file, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(proc);
  const tg = new Target(proc, opts);
  tg.file = file;
  tg.argv = argv;
  tg.programArgs = args;
  if (t) t.after(() => tg.kill());
  await new Promise((resolve, reject) => {
    proc.once('spawn', resolve);
    proc.once('error', reject);
  });
  if (listen) await tg.waitListening();
  return tg;
}

/*
 * The checksum the program prints without any endpoint, for the same
 * arguments and commands; program as startTarget's (default hs-test-target,
 * or node_target.js with HS_TEST_TARGET=node).
 */
const referenceCache = new Map();
async function referenceChecksum(args, commands = [], program = undefined) {
  const key = JSON.stringify([args, commands, program]);
  if (!referenceCache.has(key)) {
    referenceCache.set(
      key,
      (async () => {
        const tg = await startTarget(null, { args, listen: false, program });
        try {
          for (const c of commands) await tg.command(c);
          return (await tg.finish()).checksum;
        } finally {
          await tg.kill();
        }
      })()
    );
  }
  return referenceCache.get(key);
}

module.exports = { startTarget, referenceChecksum, withTimeout, LISTEN_RE, Target };
