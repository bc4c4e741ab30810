// A profiled program: started with an endpoint on an ephemeral port, its
// "listening on ws://…" line awaited on stderr, driven by stdin commands
// (one answer line each), and always killed and reaped.
//
//   const p = await startProgram({ kind: 'agent' });   // or 'node'
//   p.ws                      // "127.0.0.1:PORT/ID", as DevTools' ws= wants it
//   await p.command('work 4') // -> "ok …"
//   await p.kill()

import { spawn } from 'node:child_process';
import path from 'node:path';
import { env, requireFile, withTimeout } from './env.mjs';

const LISTEN_RE = /(?:heapscope: DevTools|Debugger) listening on ws:\/\/(\S+)/;

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

export class Program {
  constructor(proc, label) {
    this.proc = proc;
    this.label = label;
    this.stderr = '';
    this.lines = [];
    this.cursor = 0;
    this.waiters = [];
    this.exitInfo = null;
    live.add(proc);
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        live.delete(proc);
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
        this._notify();
      });
    });
    proc.on('error', (e) => {
      this.spawnError = e;
      this._notify();
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
      /* EPIPE once the program is gone: its exit status tells the story */
    });
  }

  _notify() {
    const w = this.waiters.splice(0);
    for (const f of w) f();
  }

  /* check() is re-run on every output and at exit; resolves with its first non-undefined value. */
  _until(check, ms, what) {
    return withTimeout(
      new Promise((resolve, reject) => {
        const poll = () => {
          try {
            if (this.spawnError) throw this.spawnError;
            const v = check();
            if (v !== undefined) resolve(v);
            else this.waiters.push(poll);
          } catch (e) {
            reject(e);
          }
        };
        poll();
      }),
      ms,
      `${what} from ${this.label}`
    ).catch((e) => {
      e.message += `\n--- ${this.label} stderr ---\n${this.stderr.slice(-3000)}\n--- stdout ---\n${this.lines.slice(-10).join('\n')}`;
      throw e;
    });
  }

  async waitListening(ms = env.startMs) {
    const m = await this._until(
      () => {
        const found = LISTEN_RE.exec(this.stderr);
        if (found) return found;
        if (this.exitInfo) throw new Error(`exited (${JSON.stringify(this.exitInfo)}) before it listened`);
        return undefined;
      },
      ms,
      'the "listening on ws://" line'
    );
    this.ws = m[1];
    return this;
  }

  /* Waits for a regular expression to match what the program wrote on stderr; resolves with the match. */
  waitStderr(re, ms = env.actionMs, what = `${re} on stderr`) {
    return this._until(
      () => {
        const m = re.exec(this.stderr);
        if (m) return m;
        if (this.exitInfo) throw new Error(`exited (${JSON.stringify(this.exitInfo)}) while waiting for ${what}`);
        return undefined;
      },
      ms,
      what
    );
  }

  signal(sig) {
    this.proc.kill(sig);
  }

  nextLine(ms, what) {
    return this._until(
      () => {
        if (this.cursor < this.lines.length) return this.lines[this.cursor++];
        if (this.exitInfo) throw new Error(`exited (${JSON.stringify(this.exitInfo)}) while waiting for ${what}`);
        return undefined;
      },
      ms,
      what
    );
  }

  /*
   * Sends one command line and returns its answer; an answer that `expect`
   * does not match ("ok …" by default) is an error.
   */
  async command(cmd, ms = env.actionMs, expect = /^ok/) {
    if (this.cursor === 0) {
      const first = await this.nextLine(ms, 'the "start" line');
      if (!first.startsWith('start ')) throw new Error(`${this.label}: first line should be "start <pid>", not ${JSON.stringify(first)}`);
    }
    this.proc.stdin.write(`${cmd}\n`);
    const answer = await this.nextLine(ms, `the answer to "${cmd}"`);
    if (!expect.test(answer)) throw new Error(`${this.label} answered ${JSON.stringify(answer)} to ${JSON.stringify(cmd)}\n${this.stderr.slice(-2000)}`);
    return answer;
  }

  /* SIGTERM, then SIGKILL if it has not gone within 5 s; always reaped. */
  async kill() {
    if (this.exitInfo || this.spawnError) return this.exitInfo;
    this.proc.stdin.end();
    this.proc.kill('SIGTERM');
    try {
      return await withTimeout(this.exited, 5000, `${this.label} to exit after SIGTERM`);
    } catch {
      this.proc.kill('SIGKILL');
      return this.exited;
    }
  }
}

/*
 * kind 'agent': hs-browser-target with libheapscope.so preloaded and
 * HEAPSCOPE_LISTEN=127.0.0.1:0; kind 'node': targets/node_alloc.js under
 * node --inspect=127.0.0.1:0. Both take the same stdin commands.
 * target: another program (agent) or script (node) instead, e.g.
 * env.cSnapshotTarget / env.nodeSnapshotTarget.
 */
export async function startProgram({ kind, env: extraEnv = {}, target }) {
  let file;
  let argv;
  let name;
  const childEnv = { ...process.env, ...extraEnv };
  if (kind === 'agent') {
    file = requireFile(target || env.cTarget, target ? path.basename(target) : 'hs-browser-target (HS_BROWSER_TARGET)');
    argv = [];
    name = `${path.basename(file)} under libheapscope.so`;
    childEnv.LD_PRELOAD = requireFile(env.agentLib, 'libheapscope.so (HS_AGENT_LIB)');
    childEnv.HEAPSCOPE_LISTEN = '127.0.0.1:0';
  } else if (kind === 'node') {
    const script = requireFile(target || env.nodeTarget, path.basename(target || env.nodeTarget));
    file = process.execPath;
    argv = ['--inspect=127.0.0.1:0', script];
    name = `node --inspect ${path.basename(script)}`;
  } else {
    throw new Error(`unknown program kind ${kind}`);
  }
  const proc = spawn(file, argv, { env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  const p = new Program(proc, name);
  try {
    await p.waitListening();
  } catch (e) {
    await p.kill();
    throw e;
  }
  return p;
}
