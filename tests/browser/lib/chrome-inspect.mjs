// chrome://inspect, headless: Chromium's own discovery of Node-style targets
// ("Remote Target", localhost:9229) and its "inspect" link.
//
//   await requirePortFree();                        // 9229 (and [::1]:9229) or a clear failure
//   const program = await startOnDefaultPort({ kind: 'agent', target });   // or 'node'
//   const browser = await launchChromium();
//   const ci = await ChromeInspect.open(browser);   // chrome://inspect/#devices
//   await ci.discoverySettings();                   // {enabled, locations}
//   const entry = await ci.waitForTarget(title);    // {browser, name, url, actions}
//   const devtools = await ci.inspect();            // the DevTools window, as a page
//
// How discovery happens with no settings: chrome://inspect's "Discover
// network targets" is on in a fresh profile (pref devtools.discover_tcp_targets)
// and its list (devtools.tcp_discovery_config) is localhost:9222 and
// localhost:9229. While the page is open Chromium polls each of them,
// GET /json/version then GET /json/list, about once a second (it resolves
// "localhost" itself: the requests carry "Host: 127.0.0.1:9229"), and lists
// every target under "Remote Target #LOCALHOST", in the element whose id is
// "localhost:9229", headed "localhost:9229 (<version>)", the version being
// what follows "/" in /json/version's "Browser". Our own
// --remote-debugging-port=0 plays no part (a browser on 9222 would list itself).
//
// "inspect" on a target of type "node" opens a DevTools window on
// devtools://devtools/bundled/js_app.html?remoteBase=… with no ws= (the
// browser process holds the WebSocket to the target and tunnels the
// protocol), so the page's own WebSocket events show nothing: the tests wait
// for the UI. DevTools windows are CDP targets of type "other", which
// playwright detaches from unless PW_CHROMIUM_ATTACH_TO_OTHER is set
// (playwright-core's CRBrowser._onAttachedToTarget): this module sets it, so
// the window arrives as a 'page' event of the context.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { env, artifactPath, requireFile } from './env.mjs';
import { PageLog } from './browser.mjs';
import { Program } from './proc.mjs';

// Read by playwright each time a target attaches; set before any browser starts.
process.env.PW_CHROMIUM_ATTACH_TO_OTHER = '1';

export const DISCOVERY_PORT = 9229;
export const BROWSER_ID = `localhost:${DISCOVERY_PORT}`;

/* Whether host:port can be bound now (null) or the bind error's code. */
function tryBind(host, port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (e) => resolve(e.code || String(e)));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(null)));
  });
}

/* What answers /json/list on 127.0.0.1:port, for the failure message. */
async function whoIsThere(port) {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(2000) });
    return `What holds it answers /json/list with: ${(await r.text()).slice(0, 600)}`;
  } catch (e) {
    return `What holds it does not answer /json/list (${e.cause?.code || e.message}).`;
  }
}

/*
 * Fails (never skips) when something already listens on the discovery port:
 * chrome://inspect would show that program, and ours could not take the port.
 * [::1] too where IPv6 exists (Chromium could resolve localhost to it).
 */
export async function requirePortFree(port = DISCOVERY_PORT) {
  const v4 = await tryBind('127.0.0.1', port);
  const v6 = await tryBind('::1', port);
  const busy = [v4 && v4 !== 'EADDRNOTAVAIL' ? `127.0.0.1:${port} (${v4})` : null, v6 === 'EADDRINUSE' ? `[::1]:${port} (${v6})` : null].filter(Boolean);
  if (busy.length) {
    throw new Error(
      `port ${port} is taken (${busy.join(', ')}): chrome://inspect discovers localhost:${port}, so this test needs it free. ` +
        `Another program (node --inspect, a program under heapscope with the default HEAPSCOPE_LISTEN) holds it; ` +
        `ctest entries that bind it share the RESOURCE_LOCK "port9229". ${await whoIsThere(port)}`
    );
  }
}

/*
 * The program on the default endpoint, as a user starts it: `node --inspect
 * script` (node's default 127.0.0.1:9229), or the C program with
 * libheapscope.so preloaded and no HEAPSCOPE_* variable (the agent's default
 * 127.0.0.1:9229). Resolves once it listens there; a program that listens
 * elsewhere (the agent moves to the next port when 9229 is taken) fails.
 */
export async function startOnDefaultPort({ kind, target }) {
  const childEnv = { ...process.env };
  delete childEnv.NODE_OPTIONS;
  delete childEnv.LD_PRELOAD;
  for (const k of Object.keys(childEnv)) if (k.startsWith('HEAPSCOPE_')) delete childEnv[k];
  let file;
  let argv;
  let label;
  if (kind === 'agent') {
    file = requireFile(target, path.basename(target));
    argv = [];
    childEnv.LD_PRELOAD = requireFile(env.agentLib, 'libheapscope.so (HS_AGENT_LIB)');
    label = `${path.basename(file)} under libheapscope.so (default HEAPSCOPE_LISTEN)`;
  } else if (kind === 'node') {
    requireFile(target, path.basename(target));
    file = process.execPath;
    argv = ['--inspect', target];
    label = `node --inspect ${path.basename(target)}`;
  } else {
    throw new Error(`unknown program kind ${kind}`);
  }
  const p = new Program(spawn(file, argv, { env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] }), label);
  p.file = file;
  p.argv = argv;
  try {
    // node says "Starting inspector on … failed" when the port is taken, and runs on without one.
    const m = await p.waitStderr(
      /(?:heapscope: DevTools|Debugger) listening on ws:\/\/(\S+)|(Starting inspector on .* failed.*)/,
      env.startMs,
      'the "listening on ws://" line'
    );
    if (m[2]) throw new Error(`${label}: ${m[2]}`);
    p.ws = m[1];
    if (!p.ws.startsWith(`127.0.0.1:${DISCOVERY_PORT}/`)) {
      throw new Error(`${label} listens on ws://${p.ws}, not on 127.0.0.1:${DISCOVERY_PORT} (was the port taken?)\n${p.stderr.slice(-2000)}`);
    }
  } catch (e) {
    await p.kill();
    throw e;
  }
  return p;
}

/* GET http://127.0.0.1:port + path, parsed. */
export async function discoveryJson(pathname, port = DISCOVERY_PORT) {
  const r = await fetch(`http://127.0.0.1:${port}${pathname}`, { signal: AbortSignal.timeout(env.actionMs) });
  if (!r.ok) throw new Error(`GET ${pathname} on ${port}: HTTP ${r.status}`);
  return r.json();
}

export class ChromeInspect {
  constructor(browser, page) {
    this.browser = browser;
    this.page = page;
    this.entry = page.locator(`[id="${BROWSER_ID}"]`);
  }

  /* chrome://inspect/#devices in a new tab, once its Devices section shows. */
  static async open(browser) {
    const page = await browser.newPage();
    await page.goto('chrome://inspect/#devices');
    await page.getByRole('checkbox', { name: 'Discover network targets' }).waitFor({ timeout: env.startMs });
    return new ChromeInspect(browser, page);
  }

  /*
   * "Discover network targets" and the hosts of its "Configure..." dialog
   * (closed again with Done, nothing changed): {enabled, locations}.
   */
  async discoverySettings() {
    const enabled = await this.page.getByRole('checkbox', { name: 'Discover network targets' }).isChecked();
    await this.page.getByRole('button', { name: 'Configure...' }).click();
    const dialog = this.page.locator('#config-dialog');
    await dialog.getByText('Target discovery settings').waitFor();
    const locations = (await dialog.locator('#config-list input.location').evaluateAll((es) => es.map((e) => e.value))).filter((v) => v);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'hidden' });
    return { enabled, locations };
  }

  /* The targets listed under localhost:9229 now: [{name, url, actions}]. */
  async targets() {
    return this.entry.locator('.list.pages .row').evaluateAll((rows) =>
      rows.map((r) => ({
        name: r.querySelector('.name')?.textContent.trim() ?? null,
        url: r.querySelector('.url')?.textContent.trim() ?? null,
        actions: [...r.querySelectorAll('.actions .action')].map((a) => a.textContent.trim()),
      }))
    );
  }

  /*
   * Waits until "Remote Target" lists a target named `name` under
   * localhost:9229, and if `heading` is given until the heading reads so;
   * returns {device, serial, browser (the heading), name, url, actions, all
   * (every row there)}.
   *
   * The heading is written once, when the page first hears of the host: a
   * page open before the program started made it while nothing answered
   * there, so it stays "localhost:9229" without the version until the page
   * is loaded again (reload()).
   */
  async waitForTarget(name, heading = null, ms = env.actionMs) {
    const row = this.entry.locator('.list.pages .row').filter({ has: this.page.locator('.name', { hasText: name }) });
    try {
      await row.first().waitFor({ timeout: ms });
      if (heading) await this.entry.locator('.browser-name', { hasText: new RegExp(`^${heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }).waitFor({ timeout: ms });
    } catch (e) {
      e.message += `\n--- chrome://inspect reads ---\n${await this.page.evaluate(() => document.body.innerText)}`;
      throw e;
    }
    const device = this.page.locator('.device').filter({ has: this.entry });
    return {
      device: (await device.locator('.device-name').first().textContent()).trim(),
      serial: (await device.locator('.device-serial').first().textContent()).trim(),
      browser: (await this.entry.locator('.browser-name').textContent()).trim(),
      ...(await this.targets()).find((t) => t.name === name),
      all: await this.targets(),
    };
  }

  /* Loads chrome://inspect again: it renders what the browser has discovered so far afresh. */
  async reload() {
    await this.page.reload();
    await this.page.getByRole('checkbox', { name: 'Discover network targets' }).waitFor({ timeout: env.startMs });
  }

  /* Waits until nothing is listed under localhost:9229 (the program is gone). */
  async waitForNoTarget(ms = env.actionMs) {
    await this.entry.locator('.list.pages .row').first().waitFor({ state: 'detached', timeout: ms });
  }

  /*
   * Clicks the "inspect" link of the target named `name` and resolves with
   * the DevTools window it opens, as a playwright page (its console recorded
   * in page.log).
   */
  async inspect(name) {
    const row = this.entry.locator('.list.pages .row').filter({ has: this.page.locator('.name', { hasText: name }) });
    const opened = this.browser.context.waitForEvent('page', {
      predicate: (p) => p.url().startsWith('devtools://'),
      timeout: env.actionMs,
    });
    await row.locator('.actions .action', { hasText: /^inspect$/ }).click();
    let page;
    try {
      page = await opened;
    } catch (e) {
      e.message += `\nno DevTools window reached playwright after "inspect" (it attaches to type "other" targets only with PW_CHROMIUM_ATTACH_TO_OTHER=1); pages: ${JSON.stringify(this.browser.context.pages().map((p) => p.url()))}`;
      throw e;
    }
    page.log = new PageLog(page);
    page.setDefaultTimeout(env.actionMs);
    return page;
  }

  async screenshot(name) {
    const file = artifactPath(`${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }
}

/*
 * In a DevTools window: shows the Memory panel and waits for its "JavaScript
 * VM instances" list to have an entry; returns {name, size} of the first.
 */
export async function showMemoryPanel(page) {
  await page.getByRole('tab', { name: 'Memory' }).click();
  await page.getByRole('tab', { name: 'Memory', selected: true }).waitFor();
  await page.getByRole('radiogroup', { name: 'Select profiling type' }).waitFor();
  const option = page.getByRole('listbox', { name: 'JavaScript VM instances' }).getByRole('option').first();
  await option.waitFor();
  const read = () =>
    option.evaluate((el) => ({
      name: el.querySelector('.profile-memory-usage-item-name')?.textContent.trim() ?? '',
      size: el.querySelector('.profile-memory-usage-item-size')?.textContent.replace(/\s+/g, ' ').trim() ?? '',
      count: el.parentElement.querySelectorAll('[role=option]').length,
    }));
  // The size is Runtime.getHeapUsage's answer, shown when it arrives.
  await page.waitForFunction((el) => /\d/.test(el.querySelector('.profile-memory-usage-item-size')?.textContent || ''), await option.elementHandle());
  return read();
}

/*
 * Takes a heap snapshot with the launcher's "Take snapshot" button and waits
 * until the sidebar shows "Snapshot 1, <size>" (loaded and built by the
 * worker). Returns that label.
 */
export async function takeFirstSnapshot(page) {
  await page.getByRole('radio', { name: 'Heap snapshot', exact: true }).check();
  await page.getByText('Take snapshot', { exact: true }).click();
  const item = page.getByRole('tabpanel', { name: 'Memory panel' }).getByRole('treeitem', { name: /^Snapshot 1, [\d.,]+\s?[kMG]?B$/ });
  await item.waitFor();
  return item.getAttribute('aria-label');
}

/* The program's file as a file:// URL, the way both node and the agent put it in /json/list. */
export function fileUrl(p) {
  return `file://${fs.realpathSync(p)}`;
}
