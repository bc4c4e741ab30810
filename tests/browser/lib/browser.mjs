// Debian's Chromium, headless, driven by playwright-core.
//
//   const browser = await launchChromium();
//   browser.devtoolsPort   // where Chromium serves its bundled DevTools over HTTP
//   const page = await browser.newPage();   // console errors and page errors recorded
//   await browser.close();                  // always: kills Chromium, removes its profile dir
//
// Chromium is started with --remote-debugging-port=0 (playwright itself talks
// to it over --remote-debugging-pipe): the port it picks is in
// <user-data-dir>/DevToolsActivePort, and on that port it serves the DevTools
// frontend it ships, /devtools/js_app.html, which is what the tests open.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env, nodePackage, requireFile, withTimeout } from './env.mjs';

const open = new Set();
process.on('exit', () => {
  for (const b of open) {
    try {
      // playwright closes its browsers at exit too; this reaps a stuck one.
      b.context.browser()?.process?.()?.kill('SIGKILL');
    } catch {
      /* gone */
    }
    fs.rmSync(b.userDataDir, { recursive: true, force: true });
  }
});

/*
 * Records what a page reports about itself: console messages of type error
 * and warning, uncaught exceptions (pageerror) and dialogs (dismissed).
 * uncaught() is what a test asserts empty: exceptions nobody caught, which
 * Chromium reports both as pageerror and as "Uncaught …" console errors.
 */
export class PageLog {
  constructor(page) {
    this.page = page;
    this.console = []; // {type, text, url}
    this.errors = []; // console errors
    this.pageErrors = []; // uncaught exceptions
    this.dialogs = [];
    this.listeners = new Set();
    page.on('console', (msg) => {
      const entry = { type: msg.type(), text: msg.text(), url: msg.location()?.url || '' };
      this.console.push(entry);
      if (entry.type === 'error') this.errors.push(entry);
      this._notify();
    });
    page.on('pageerror', (e) => {
      this.pageErrors.push(`${e.name}: ${e.message}\n${e.stack || ''}`);
      this._notify();
    });
    page.on('dialog', (d) => {
      this.dialogs.push(`${d.type()}: ${d.message()}`);
      this._notify();
      d.dismiss().catch(() => {});
    });
  }

  _notify() {
    for (const f of [...this.listeners]) f();
  }

  /*
   * Resolves with check()'s first non-undefined value, re-checked on every
   * console message, error or dialog; rejects after ms, or at dispose().
   */
  until(check, ms, what) {
    return new Promise((resolve, reject) => {
      const w = { done: null };
      const timer = setTimeout(() => w.done(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      w.done = (err, v) => {
        clearTimeout(timer);
        this.listeners.delete(w.poll);
        if (err) reject(err);
        else resolve(v);
      };
      w.poll = () => {
        try {
          const v = check();
          if (v !== undefined) w.done(null, v);
        } catch (e) {
          w.done(e);
        }
      };
      w.poll.cancel = () => w.done(new Error(`stopped waiting for ${what}: the page is closing`));
      this.listeners.add(w.poll);
      w.poll();
    });
  }

  /* Ends every pending until() (their timers would keep the process alive). */
  dispose() {
    for (const f of [...this.listeners]) f.cancel();
  }

  uncaught() {
    const fromConsole = this.errors.filter((e) => /^Uncaught\b/.test(e.text)).map((e) => `${e.text} (${e.url})`);
    return [...this.pageErrors, ...fromConsole];
  }

  /* For failure messages: the last console lines. */
  tail(n = 30) {
    return this.console
      .slice(-n)
      .map((e) => `[${e.type}] ${e.text.slice(0, 400)}`)
      .join('\n');
  }
}

export class Chromium {
  constructor(context, userDataDir, devtoolsPort) {
    this.context = context;
    this.userDataDir = userDataDir;
    this.devtoolsPort = devtoolsPort;
    this.closed = false;
  }

  /* A new tab whose console and errors are recorded in page.log (a PageLog). */
  async newPage() {
    const existing = this.context.pages().find((p) => p.url() === 'about:blank' && !p.log);
    const page = existing || (await this.context.newPage());
    page.log = new PageLog(page);
    page.setDefaultTimeout(env.actionMs);
    return page;
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    open.delete(this);
    try {
      await withTimeout(this.context.close(), 10000, 'Chromium to close');
    } catch {
      this.context.browser()?.process?.()?.kill('SIGKILL');
    } finally {
      fs.rmSync(this.userDataDir, { recursive: true, force: true });
    }
  }
}

export async function launchChromium() {
  const { chromium } = nodePackage('playwright-core');
  requireFile(env.chromium, 'Chromium (HS_CHROMIUM; Debian package chromium)');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-browser-'));
  const args = [
    '--remote-debugging-port=0',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ];
  // Chromium refuses to run as root with its sandbox (CI runs as root).
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: env.chromium,
      headless: true,
      args,
      viewport: { width: 1400, height: 900 },
      timeout: env.startMs,
    });
  } catch (e) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw e;
  }
  // Chromium writes the port before it accepts the pipe connection, so it is there by now.
  let port;
  try {
    const text = fs.readFileSync(path.join(userDataDir, 'DevToolsActivePort'), 'utf8');
    port = Number(text.split('\n')[0]);
    if (!(port > 0)) throw new Error(`DevToolsActivePort says ${JSON.stringify(text)}`);
  } catch (e) {
    await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw new Error(`Chromium did not say its remote debugging port: ${e.message}`);
  }
  const b = new Chromium(context, userDataDir, port);
  open.add(b);
  return b;
}
