// Heap snapshots in Chrome DevTools' Memory panel: take them, and read the
// Summary, Comparison and Retainers grids back, as a user sees them.
//
//   const dt = await openMemoryPanel(browser, { ws: program.ws });
//   const snaps = new HeapSnapshots(dt);
//   const s1 = await snaps.take();                 // "Snapshot 1", loaded and shown
//   await snaps.filterByClass('HsbListNode');
//   const rows = await snaps.rows((rs) => rs.some((r) => r.kind === 'class'));
//                                  // [{kind: 'class', name, count, cells: {Distance, …}, …}]
//   const instances = await snaps.expandClass('HsbListNode');
//   await snaps.selectRow(instances[0]);
//   const retainers = await snaps.retainers((rs) => rs.some((r) => r.edge === 'hsbList'));
//   …program allocates more…
//   const s2 = await snaps.take();
//   await snaps.comparison(s1);                    // Comparison against Snapshot 1
//   (await snaps.classRow('HsbListNode')).row.cells['# New']
//
// What Chromium 156's frontend shows (see tests/browser/README.md):
// - the sidebar's treeitem "Snapshot N, <size>" reads "Snapshot N, 69%",
//   "…, Loading…", "…, Parsing strings…" until the worker has built the
//   snapshot; then the view is selected and its grid filled;
// - the view's toolbar: combobox "Perspective" (Summary, Comparison,
//   Containment, Statistics), textbox "Filter by class" (a contenteditable),
//   combobox "Filter" (All objects, Objects allocated before Snapshot 1,
//   Objects allocated between Snapshot 1 and Snapshot 2, …, Objects retained
//   by detached DOM nodes, …) and, in Comparison, combobox "Base snapshot";
// - the main grid: class rows (the name, then `×N` in span.objects-count
//   when N > 1), instance rows under an expanded class (span.value name,
//   span.object-value-id "@id", a scissors tag "Detached from DOM tree" on a
//   detached native node), numeric cells whose column ids exist only in
//   Comparison (addedCount…), so every cell is also keyed by its header text;
//   a size cell shows kB ("0.1 kB") and its tooltip the bytes below 1 kB ("64 B");
// - the Retainers grid below (.retaining-paths-view): rows "edge in object
//   @id" (span.property-name, span.value, span.object-value-id); DevTools
//   expands the first retaining path by itself.
// Every view change re-renders asynchronously (the worker answers), so reads
// are repeated until the caller's predicate holds, bounded; the caller's
// assertions then say what is wrong.

import fs from 'node:fs';
import path from 'node:path';
import { env } from './env.mjs';

/*
 * The allocation sites of a C target as the agent names its classes,
 * {function: "function file.c:LINE"}: the target's source marks each
 * malloc line with a "site: <function>" comment; each function named in
 * `functions` must have one.
 */
export function sourceSites(file, functions) {
  const sites = {};
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const m = /\/\* site: (\w+) \*\//.exec(line);
      if (m) sites[m[1]] = `${m[1]} ${path.basename(file)}:${i + 1}`;
    });
  for (const fn of functions) if (!sites[fn]) throw new Error(`no "site: ${fn}" mark in ${file}`);
  return sites;
}

const ROW = 'tr.data-grid-data-grid-node';
const SIZE_RE = /^Snapshot (\d+), [\d.,]+\s?[kMG]?B$/;

/* In the page: the visible rows of the main grid (retainers = false) or of the Retainers grid. */
function readGrid(trs, retainers) {
  const inRetainers = (el) => {
    for (let n = el; n; n = n.parentElement || n.getRootNode()?.host) {
      if (n.classList && n.classList.contains('retaining-paths-view')) return true;
    }
    return false;
  };
  const headersOf = (tr) => {
    const table = tr.closest('.data-grid');
    if (!table) return [];
    return [...table.querySelectorAll('th')].filter((th) => th.checkVisibility()).map((th) => th.innerText.replace(/\s+/g, ' ').trim());
  };
  const text = (el) => (el ? el.textContent.replace(/\s+/g, ' ').trim() : '');
  return trs
    .filter((tr) => tr.checkVisibility() && inRetainers(tr) === retainers)
    .map((tr) => {
      const tds = [...tr.querySelectorAll('td')].filter((td) => !td.classList.contains('corner'));
      const headers = headersOf(tr);
      const cells = {};
      const exact = {};
      const texts = [];
      tds.forEach((td, i) => {
        const t = (td.getAttribute('aria-label') || td.innerText).replace(/\s+/g, ' ').trim();
        texts.push(td.innerText.replace(/\s+/g, ' ').trim());
        if (headers[i]) cells[headers[i]] = t;
        // A size cell's tooltip: "64 B" below 1 kB, where the cell itself reads "0.1 kB".
        const titled = td.querySelector('span[title]');
        if (headers[i] && titled) exact[headers[i]] = titled.getAttribute('title').replace(/\s+/g, ' ').trim();
        const id = [...td.classList].find((c) => c.endsWith('-column') && c !== 'numeric-column' && c !== 'object-column');
        if (id) cells[id.slice(0, -'-column'.length)] = t;
      });
      const first = tds[0];
      const value = first && first.querySelector('.value');
      const idText = text(first && first.querySelector('.object-value-id'));
      const countText = text(first && first.querySelector('.objects-count'));
      let kind;
      let name;
      if (value) {
        kind = retainers ? 'retainer' : 'instance';
        name = text(value);
      } else if (/^Show (\d+ before|all|\d+ after)/.test(text(first))) {
        kind = 'more'; // "Show 100 before / Show all / Show 100 after"
        name = text(first);
      } else {
        kind = 'class';
        const copy = first ? first.cloneNode(true) : null;
        copy?.querySelectorAll('.objects-count').forEach((e) => e.remove());
        name = text(copy);
      }
      return {
        kind,
        name,
        count: kind === 'class' ? (countText ? Number(countText.replace(/[^\d]/g, '')) : 1) : undefined,
        id: idText ? Number(idText.replace(/[^\d]/g, '')) : undefined,
        edge: text(first && first.querySelector('.property-name')) || undefined,
        // Icons after an instance's name: "scissors" (detached), "frame" (reachable from window).
        tags: first ? [...first.querySelectorAll('.heap-object-tag')].map((e) => e.getAttribute('name') || e.getAttribute('title') || e.className) : [],
        index: trs.indexOf(tr),
        indent: first ? parseFloat(getComputedStyle(first).paddingLeft) || 0 : 0,
        parent: tr.classList.contains('parent'),
        expanded: tr.classList.contains('expanded'),
        selected: tr.classList.contains('selected'),
        cells,
        exact,
        texts,
      };
    });
}

/* One line per row, for failure messages. */
export function describeRows(rows) {
  return rows
    .map((r) => {
      const what = r.kind === 'retainer' ? `${r.edge} in ${r.name} @${r.id}` : r.kind === 'instance' ? `${r.name} @${r.id}` : r.kind === 'class' ? `${r.name} ×${r.count}` : r.name;
      return `${' '.repeat(Math.round(r.indent / 5))}[${r.kind}] ${what}${r.tags && r.tags.length ? ` (tags: ${r.tags.join(', ')})` : ''} | ${r.texts.slice(1).join(' | ')}`;
    })
    .join('\n');
}

export class HeapSnapshots {
  constructor(dt) {
    this.dt = dt;
    this.page = dt.page;
    this.panel = dt.page.getByRole('tabpanel', { name: 'Memory panel' });
  }

  _fail(e, what) {
    e.message += `\n(while ${what})\n--- DevTools console ---\n${this.dt.log.tail()}\n--- uncaught ---\n${this.dt.uncaught().join('\n')}`;
    return e;
  }

  async _snapshotItems() {
    return this.panel.getByRole('treeitem').evaluateAll((els) =>
      els.map((e) => ({ label: e.getAttribute('aria-label') || '', selected: e.getAttribute('aria-selected') === 'true' })).filter((x) => /^Snapshot \d+,/.test(x.label))
    );
  }

  /*
   * Takes a heap snapshot with the toolbar's "Take heap snapshot" button
   * (choosing the "Heap snapshot" type first if it is not chosen) and
   * resolves once the target answered takeHeapSnapshot (an error answer
   * throws), the sidebar shows the new snapshot with its size (the worker
   * has built it), it is selected and its grid has rows. An exception in
   * DevTools meanwhile fails at once. Returns {title: "Snapshot N", label, reply}.
   */
  async take() {
    // The type's radio is on the launcher page, shown until the first profile is.
    if (this.dt.type?.radio !== 'Heap snapshot') await this.dt.selectProfileType('Heap snapshot');
    const before = new Set((await this._snapshotItems()).map((x) => x.label.split(',')[0]));
    const mark = this.dt.cdp.mark();
    await this.panel.getByRole('button', { name: 'Take heap snapshot' }).click();
    const { reply } = await this.dt.cdp.reply('HeapProfiler.takeHeapSnapshot', mark, env.actionMs);
    if (reply.error) throw new Error(`the target answered DevTools' HeapProfiler.takeHeapSnapshot with error ${JSON.stringify(reply.error)}`);
    // The sidebar item shows the loader's steps, then the size once the worker has built the snapshot.
    let last = [];
    let item;
    for (const deadline = Date.now() + env.actionMs; ; ) {
      last = await this._snapshotItems();
      const fresh = last.find((x) => !before.has(x.label.split(',')[0]));
      if (fresh && SIZE_RE.test(fresh.label) && fresh.selected) {
        item = fresh;
        break;
      }
      if (this.dt.uncaught().length || Date.now() > deadline) {
        const why = this.dt.uncaught().length ? 'DevTools threw while loading the snapshot' : `timed out after ${env.actionMs} ms waiting for the new snapshot to load`;
        throw this._fail(new Error(`${why}; the sidebar reads ${JSON.stringify(last.map((x) => x.label))}`), 'loading a snapshot');
      }
      await this.page.waitForTimeout(50);
    }
    await this.dt.waitForRows();
    return { title: item.label.split(',')[0], label: item.label, reply: reply.result };
  }

  /* Shows an already taken snapshot ("Snapshot 1"). */
  async show(title) {
    await this.panel.getByRole('treeitem', { name: new RegExp(`^${title},`) }).click();
    await this.dt.waitForRows();
  }

  async _select(name, label) {
    const box = this.panel.getByRole('combobox', { name, exact: true });
    await box.selectOption({ label });
    const shown = await box.evaluate((el) => el.options[el.selectedIndex]?.label);
    if (shown !== label) throw new Error(`the ${name} combobox reads ${JSON.stringify(shown)} after choosing ${JSON.stringify(label)}`);
  }

  /* The combobox's options, as shown. */
  async options(name) {
    return this.panel.getByRole('combobox', { name, exact: true }).evaluate((el) => [...el.options].map((o) => o.label));
  }

  /* "Summary", "Comparison", "Containment" or "Statistics". */
  async setPerspective(label) {
    await this._select('Perspective', label);
  }

  /* Comparison's "Base snapshot" ("Snapshot 1"). */
  async setBaseSnapshot(title) {
    await this._select('Base snapshot', title);
  }

  /* The Summary's filter: "All objects", "Objects allocated between Snapshot 1 and Snapshot 2", … */
  async setFilter(label) {
    await this._select('Filter', label);
  }

  /* The shown snapshot compared with base ("Snapshot 1" or take()'s result). */
  async comparison(base) {
    await this.setPerspective('Comparison');
    await this.setBaseSnapshot(typeof base === 'string' ? base : base.title);
  }

  /*
   * The toolbar's count of what the grid holds, e.g. "5 objects (480 B)",
   * read until pred(text) holds or ms pass (the last read either way).
   */
  async status(pred = () => true, ms = 10000) {
    const t = this.panel.getByText(/^[\d,]+ objects \(/).filter({ visible: true }).first();
    await t.waitFor({ timeout: env.actionMs });
    let text = (await t.innerText()).trim();
    for (const deadline = Date.now() + ms; !pred(text) && Date.now() < deadline; ) {
      await this.page.waitForTimeout(50);
      text = (await t.innerText()).trim();
    }
    return text;
  }

  /* Types into "Filter by class" (a contenteditable prompt); '' clears it. */
  async filterByClass(text) {
    const box = this.panel.getByRole('textbox', { name: 'Filter by class' });
    await box.fill(text);
    await box.press('Enter');
  }

  /* The main grid's visible rows, read until pred(rows) holds or ms pass (the last read either way). */
  async rows(pred = (rows) => rows.length > 0, ms = 10000) {
    return this._until(false, pred, ms);
  }

  /* The Retainers grid's visible rows, likewise. */
  async retainers(pred = (rows) => rows.length > 0, ms = 10000) {
    return this._until(true, pred, ms);
  }

  async _until(retainers, pred, ms) {
    const read = () => this.page.locator(ROW).evaluateAll(readGrid, retainers);
    let rows = await read();
    for (const deadline = Date.now() + ms; !pred(rows) && Date.now() < deadline; ) {
      await this.page.waitForTimeout(50);
      rows = await read();
    }
    return rows;
  }

  /*
   * The class row whose name is `name` (or matches it, a RegExp), after the
   * grid has shown one; undefined if it never did (the caller asserts).
   */
  async classRow(name, pred = () => true, ms = 10000) {
    const match = (r) => r.kind === 'class' && (name instanceof RegExp ? name.test(r.name) : r.name === name) && pred(r);
    const rows = await this.rows((rs) => rs.some(match), ms);
    return { row: rows.find(match), rows };
  }

  /*
   * Expands the class row (click, then ArrowRight as a keyboard user does)
   * and returns the rows of its instances once at least `min` are shown.
   */
  async expandClass(name, min = 1) {
    const { row, rows } = await this.classRow(name);
    if (!row) throw new Error(`no class row ${name} to expand:\n${describeRows(rows)}`);
    await this.selectRow(row);
    if (!row.expanded) await this.page.keyboard.press('ArrowRight');
    const under = (rs) => {
      const i = rs.findIndex((r) => r.kind === 'class' && r.name === row.name);
      if (i < 0) return [];
      const out = [];
      for (let k = i + 1; k < rs.length && rs[k].indent > rs[i].indent; k++) if (rs[k].kind === 'instance' && rs[k].indent > rs[i].indent) out.push(rs[k]);
      return out;
    };
    const after = await this.rows((rs) => under(rs).length >= min);
    return under(after);
  }

  /*
   * Selects a row of the main grid (a class or instance row from rows(),
   * found again by kind, name and id) by clicking its first cell; the
   * Retainers pane then follows it.
   */
  async selectRow(row) {
    const same = (r) => r.kind === row.kind && r.name === row.name && r.id === row.id;
    const rows = await this.rows((rs) => rs.some(same));
    const found = rows.find(same);
    if (!found) throw new Error(`row ${row.kind} ${row.name} @${row.id} is not shown:\n${describeRows(rows)}`);
    const tr = this.page.locator(ROW).nth(found.index);
    await tr.locator('td').first().click();
    await this.page.waitForFunction((el) => el.classList.contains('selected'), await tr.elementHandle(), { timeout: env.actionMs });
  }

  async screenshot(name) {
    return this.dt.screenshot(name);
  }
}
