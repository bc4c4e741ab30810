// Chrome DevTools' Memory panel, the frontend that ships inside Chromium,
// driven headless.
//
//   const browser = await launchChromium();
//   const dt = await openMemoryPanel(browser, { ws: program.ws }); // or {} to only load files
//   await dt.selectProfileType('Allocation sampling');
//   await dt.start();                 // resolves once the target answered startSampling
//   …make the program allocate…
//   await dt.stop();                  // resolves once stopSampling's answer is shown
//   const rows = await dt.rows();     // [{name, url, self, total, indent, …}]
//   await dt.screenshot('name');
//   assert.deepEqual(dt.uncaught(), []);
//   await browser.close();
//
// How: Chromium serves its bundled frontend over HTTP on its remote debugging
// port: http://127.0.0.1:<port>/devtools/js_app.html?ws=HOST:PORT/ID&panel=heap-profiler
// opens the Node-style DevTools (what `node --inspect` advertises) straight on
// the Memory panel; without ws= it opens with no target, which is enough to
// load saved profiles. The UI lives in open shadow roots, which playwright's
// CSS and role locators pierce. The page's WebSocket to the target is watched
// (playwright's websocket events), so steps wait for the protocol answers
// that the UI waits for, never for time.

import path from 'node:path';
import { env, artifactPath, untilChecked } from './env.mjs';

/* The radio labels of Chromium 156's Memory panel; the brief's older name maps to the new one. */
const PROFILE_TYPES = {
  'Heap snapshot': { radio: 'Heap snapshot', start: 'HeapProfiler.takeHeapSnapshot', stop: null },
  'Allocations on timeline': {
    radio: 'Allocations on timeline',
    start: 'HeapProfiler.startTrackingHeapObjects',
    stop: 'HeapProfiler.stopTrackingHeapObjects',
  },
  'Allocation sampling': { radio: 'Allocation sampling', start: 'HeapProfiler.startSampling', stop: 'HeapProfiler.stopSampling' },
};
PROFILE_TYPES['Allocation instrumentation on timeline'] = PROFILE_TYPES['Allocations on timeline'];

const ROW = 'tr.data-grid-data-grid-node';

/*
 * The CDP traffic between the frontend and the target, as the page's
 * WebSocket carries it. reply(method, mark) waits for the answer to the first
 * request of that method sent after mark().
 */
export class CdpWatch {
  constructor(page, wsMatch) {
    this.sent = []; // {id, method, params}
    this.replies = new Map(); // id -> message
    this.events = []; // method names, in order
    this.closed = null;
    this.socketUrl = null;
    this.waiters = new Set();
    page.on('websocket', (ws) => {
      if (!ws.url().includes(wsMatch)) return;
      this.socketUrl = ws.url();
      ws.on('framesent', (f) => {
        const msg = parse(f.payload);
        if (msg && typeof msg.method === 'string') this.sent.push({ id: msg.id, method: msg.method, params: msg.params });
        this._notify();
      });
      ws.on('framereceived', (f) => {
        const msg = parse(f.payload);
        if (msg && msg.id !== undefined && !msg.method) this.replies.set(msg.id, msg);
        else if (msg && msg.method) this.events.push(msg.method);
        this._notify();
      });
      ws.on('close', () => {
        this.closed = 'closed';
        this._notify();
      });
      ws.on('socketerror', (e) => {
        this.closed = `socket error ${e}`;
        this._notify();
      });
      this._notify();
    });
  }

  _notify() {
    for (const f of [...this.waiters]) f();
  }

  mark() {
    return this.sent.length;
  }

  until(check, ms, what) {
    return untilChecked(this.waiters, check, ms, what);
  }

  /* {request, reply}; reply is the whole message ({id, result} or {id, error}). */
  reply(method, mark = 0, ms = env.actionMs) {
    return this.until(
      () => {
        const request = this.sent.slice(mark).find((r) => r.method === method);
        if (request && this.replies.has(request.id)) return { request, reply: this.replies.get(request.id) };
        if (this.closed) throw new Error(`the connection to the target ended (${this.closed}) before ${method} was answered`);
        return undefined;
      },
      ms,
      `DevTools to send ${method} and the target to answer it`
    );
  }
}

function parse(payload) {
  try {
    return JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return null;
  }
}

function cdpError(method, reply) {
  return new Error(`the target answered DevTools' ${method} with error ${JSON.stringify(reply.error)}`);
}

export class MemoryPanel {
  constructor(browser, page, cdp, ws) {
    this.browser = browser;
    this.page = page;
    this.log = page.log;
    this.cdp = cdp;
    this.ws = ws;
    this.type = null;
  }

  /* Exceptions DevTools did not catch (pageerror, "Uncaught …" console errors). */
  uncaught() {
    return this.log.uncaught();
  }

  /* DevTools' console errors (e.g. its "Request X failed" for -32601 answers). */
  consoleErrors() {
    return this.log.errors.map((e) => e.text);
  }

  async selectProfileType(name) {
    const t = PROFILE_TYPES[name];
    if (!t) throw new Error(`unknown profile type ${JSON.stringify(name)} (one of ${Object.keys(PROFILE_TYPES).join(', ')})`);
    await this.page.getByRole('radio', { name: t.radio, exact: true }).check();
    this.type = t;
  }

  /*
   * Clicks the launcher's button ("Start", or "Take snapshot"). Connected to
   * a target, resolves with the target's answer to the command it sends
   * (startSampling, startTrackingHeapObjects, or takeHeapSnapshot, answered
   * after its last chunk); an error answer throws.
   */
  async start() {
    if (!this.type) throw new Error('selectProfileType first');
    const mark = this.cdp.mark();
    const label = this.type.stop ? 'Start' : 'Take snapshot';
    // By text: the button's accessible name can be a stale tooltip ("Another profiler is already active").
    await this.page.getByText(label, { exact: true }).click();
    const { reply } = await this.cdp.reply(this.type.start, mark);
    if (reply.error) throw cdpError(this.type.start, reply);
    return reply.result;
  }

  /* Clicks the toolbar's stop button; resolves with the target's answer once the profile's view shows rows. */
  async stop() {
    if (!this.type || !this.type.stop) throw new Error('nothing to stop for this profile type');
    const mark = this.cdp.mark();
    await this.page.getByRole('button', { name: /^Stop (heap profiling|recording heap profile)/ }).click();
    const { reply } = await this.cdp.reply(this.type.stop, mark);
    if (reply.error) throw cdpError(this.type.stop, reply);
    await this.waitForRows();
    return reply.result;
  }

  /* Loads a saved profile (.heapprofile, .heapsnapshot, .heaptimeline) with the panel's Load button's file input, and shows it. */
  async loadProfile(file) {
    const input = this.page.getByRole('tabpanel', { name: 'Memory panel' }).locator('input[type=file]');
    await input.setInputFiles(file);
    // The sidebar lists it under its file name without the extension.
    const title = path.basename(file).replace(/\.[^.]*$/, '');
    const item = this.page.getByRole('treeitem', { name: new RegExp(`^${escapeRe(title)}\\b`) });
    await item.waitFor();
    // Its name carries the status ("…, Loading…") until the file is read and parsed.
    await this.page.waitForFunction((el) => !/…/.test(el.textContent), await item.elementHandle(), { timeout: env.actionMs });
    await item.click();
    await this.waitForRows();
    return title;
  }

  /* Waits until the shown profile's grid has at least one visible row. */
  async waitForRows(ms = env.actionMs) {
    try {
      await this.page.locator(`${ROW}:visible`).first().waitFor({ timeout: ms });
    } catch (e) {
      e.message += `\n--- DevTools console ---\n${this.log.tail()}\n--- uncaught ---\n${this.uncaught().join('\n')}`;
      throw e;
    }
  }

  /*
   * "Heavy (bottom up)", "Tree (top down)" or "Chart" in a sampling
   * profile's view (the change handler rebuilds the grid synchronously).
   */
  async setViewMode(label) {
    const select = this.page.getByRole('combobox', { name: 'Profile view mode' });
    await select.selectOption({ label });
    const shown = await select.evaluate((el) => el.options[el.selectedIndex]?.label);
    if (shown !== label) throw new Error(`the view mode reads ${JSON.stringify(shown)} after choosing ${JSON.stringify(label)}`);
    if (label !== 'Chart') await this.waitForRows();
  }

  /*
   * rows(), read again until pred(rows) holds or ms pass; returns the last
   * rows either way (the caller's assertions then say what is wrong). A grid
   * re-renders some time after its view mode changes: until then it still
   * shows the previous view's rows.
   */
  async rowsUntil(pred, ms = 10000) {
    let rows = await this.rows();
    for (const deadline = Date.now() + ms; !pred(rows) && Date.now() < deadline; ) {
      await this.page.waitForTimeout(50);
      rows = await this.rows();
    }
    return rows;
  }

  /*
   * The visible grid rows, in order: name (the function or class cell's own
   * text, without its source link), url (that link's text), indent (the
   * disclosure cell's left padding in px: depth in the tree), parent,
   * expanded, cells: {column id: accessible text} for the cells that have an
   * id (e.g. self: "3247680 bytes, 98.87 %"), texts: every cell's text in
   * order (a snapshot's numeric cells have no id); self and total in bytes
   * where the grid has them.
   */
  async rows() {
    return this.page.locator(ROW).evaluateAll((trs) =>
      trs
        .filter((tr) => tr.checkVisibility())
        .map((tr) => {
          const cells = {};
          const texts = [];
          let nameCell = null;
          for (const td of tr.querySelectorAll('td')) {
            if (td.classList.contains('corner')) continue;
            texts.push(td.innerText.replace(/\s+/g, ' ').trim());
            // Its id is its "<id>-column" class ("numeric-column" only says how it aligns).
            const id = [...td.classList].find((c) => c.endsWith('-column') && c !== 'numeric-column');
            if (!id) continue;
            cells[id.slice(0, -'-column'.length)] = (td.getAttribute('aria-label') || td.innerText).replace(/\s+/g, ' ').trim();
            if (td.classList.contains('disclosure')) nameCell = td;
          }
          nameCell = nameCell || tr.querySelector('td');
          let name = '';
          let url = '';
          if (nameCell) {
            const copy = nameCell.cloneNode(true);
            const links = copy.querySelectorAll('devtools-widget, button[role=link], .devtools-link');
            url = [...links].map((l) => l.textContent.trim()).filter(Boolean).join(' ');
            links.forEach((l) => l.remove());
            name = copy.textContent.replace(/\s+/g, ' ').trim();
          }
          const bytes = (s) => {
            const m = /^([\d,]+) bytes/.exec(s || '');
            return m ? Number(m[1].replace(/,/g, '')) : undefined;
          };
          return {
            name,
            url,
            indent: nameCell ? parseFloat(getComputedStyle(nameCell).paddingLeft) || 0 : 0,
            parent: tr.classList.contains('parent'),
            expanded: tr.classList.contains('expanded'),
            self: bytes(cells.self),
            total: bytes(cells.total),
            cells,
            texts,
          };
        })
    );
  }

  /*
   * Expands the whole shown tree the way a keyboard user does: select the
   * first row, then ArrowRight on a collapsed parent (expand) and again (step
   * into its first child), ArrowDown otherwise, until the last row. Stepping
   * onto each row makes the grid attach it: its Alt+ArrowRight recursive
   * expansion leaves rows unattached until something reveals them.
   */
  async expandAll(maxSteps = 2000) {
    const first = this.page.locator(`${ROW}:visible`).first();
    await first.locator('td').first().click();
    const selected = this.page.locator(`${ROW}.selected:visible`);
    await selected.waitFor();
    for (let i = 0; i < maxSteps; i++) {
      const st = await selected.evaluate((tr) => {
        let n = tr.nextElementSibling;
        while (n && !n.classList.contains('data-grid-data-grid-node')) n = n.nextElementSibling;
        return { collapsed: tr.classList.contains('parent') && !tr.classList.contains('expanded'), last: !n };
      });
      if (st.collapsed) {
        await this.page.keyboard.press('ArrowRight');
        await this.page.locator(`${ROW}.selected.expanded:visible`).waitFor();
        await this.page.keyboard.press('ArrowRight');
      } else if (st.last) {
        return;
      } else {
        await this.page.keyboard.press('ArrowDown');
      }
    }
    throw new Error(`expandAll: not at the last row after ${maxSteps} steps`);
  }

  async screenshot(name) {
    const file = artifactPath(`${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  async close() {
    await this.page.close().catch(() => {});
  }
}

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/*
 * Opens DevTools (js_app.html, Chromium's own copy) on the Memory panel.
 * ws: "HOST:PORT/ID" of a target (the part after ws:// of its
 * webSocketDebuggerUrl); omitted, DevTools opens with no target, for loading
 * files. With a target, resolves once the panel lists its VM instance, i.e.
 * once a profile can be started.
 */
export async function openMemoryPanel(browser, { ws } = {}) {
  const page = await browser.newPage();
  const cdp = new CdpWatch(page, ws || '\u0000none');
  const query = ws ? `ws=${ws}&panel=heap-profiler` : 'panel=heap-profiler';
  const dt = new MemoryPanel(browser, page, cdp, ws);
  await page.goto(`http://127.0.0.1:${browser.devtoolsPort}/devtools/js_app.html?${query}`);
  try {
    await page.getByRole('tab', { name: 'Memory', selected: true }).waitFor({ timeout: env.startMs });
    await page.getByRole('radiogroup', { name: 'Select profiling type' }).waitFor({ timeout: env.startMs });
    if (ws) {
      await page
        .getByRole('listbox', { name: 'JavaScript VM instances' })
        .getByRole('option')
        .first()
        .waitFor({ timeout: env.startMs });
    }
  } catch (e) {
    e.message += `\n--- DevTools console ---\n${page.log.tail()}\n--- websocket ---\n${cdp.socketUrl || 'none'} ${cdp.closed || ''}`;
    throw e;
  }
  return dt;
}
