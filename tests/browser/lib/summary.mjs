// A loaded heap snapshot's Summary in DevTools' Memory panel, class by class,
// with exact bytes, and `heapscope report --format json` of the same file.
//
//   const dt = await openMemoryPanel(browser);     // no target: files only
//   await dt.loadProfile(file);
//   const rows = await summaryClasses(dt.page);    // [{name, count, distance, shallow, retained, shown}]
//   await filterSummary(dt.page, '{');             // "Filter by class", once the grid shows only matches
//   const report = await heapscopeReport(file);    // {classes: [{name, count, shallow, retained, distance}], …}
//
// Exact bytes: a class row shows its sizes in kB with three significant
// digits ("2,314 kB", "8.7 kB", "0.0 kB"), its tooltip in the largest unit
// ("2.3 MB"; bytes only below 1 kB), and its aria-label the cell's text. The
// exact figures are those the row was drawn from: the grid's DataGridNode for
// the <tr> (DataGridImpl.elementToDataGridNode; for a Summary class row a
// HeapSnapshotConstructorNode with count, distance, shallowSize and
// retainedSize, the worker's aggregate), found through the frontend's own
// UI.Widget.Widget.get() on the grid's container. Each row's shown text is
// returned too and checked against them (summaryTextMismatches), so the
// exact values are tied to what the user sees.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { env, requireFile, withTimeout } from './env.mjs';

export const HEAPSCOPE = path.resolve(process.env.HS_HEAPSCOPE || path.join(env.repo, 'build', 'bin', 'heapscope'));

/* DevTools shows "−" as the distance of what the root does not reach (its baseSystemDistance and above). */
export const SYSTEM_DISTANCE = 100000000;

/* Runs a program to completion: {code, signal, out, err}. */
export function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

/* `heapscope report FILE --format json --top N`, parsed. */
export async function heapscopeReport(file, top = 1000) {
  requireFile(HEAPSCOPE, 'heapscope (HS_HEAPSCOPE)');
  const args = ['report', file, '--format', 'json', '--top', String(top)];
  const r = await withTimeout(run(HEAPSCOPE, args), 60000, `heapscope ${args.join(' ')}`);
  if (r.code !== 0) throw new Error(`heapscope ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.err}`);
  try {
    return JSON.parse(r.out);
  } catch (e) {
    throw new Error(`heapscope ${args.join(' ')} printed no JSON (${e.message}): ${r.out.slice(0, 500)}`);
  }
}

/*
 * In the page: the main grid's visible class rows, in order, each with its
 * text and the exact figures of its DataGridNode, once there are at least
 * `min` and every name contains `needle` (if given); false until then, or
 * {error} when the grid or a row's node cannot be found.
 */
async function readSummary({ min, needle }) {
  const trs = [];
  // The grid lives in open shadow roots: collect its rows across them.
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.matches('tr.data-grid-data-grid-node')) trs.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  const inRetainers = (el) => {
    for (let n = el; n; n = n.parentElement || n.getRootNode()?.host) if (n.classList && n.classList.contains('retaining-paths-view')) return true;
    return false;
  };
  const rows = trs.filter((tr) => tr.checkVisibility() && !inRetainers(tr));
  if (!rows.length) return false;
  const UI = await import('/devtools/ui/legacy/legacy.js');
  let grid = null;
  for (let n = rows[0]; n && !grid; n = n.parentElement || n.getRootNode()?.host) {
    const w = UI.Widget.Widget.get(n);
    if (w && w.dataGrid && w.dataGrid.elementToDataGridNode) grid = w.dataGrid;
  }
  if (!grid) return { error: 'no DataGrid widget above the rows' };
  const table = rows[0].closest('.data-grid');
  const headers = [...table.querySelectorAll('th')].filter((th) => th.checkVisibility()).map((th) => ({
    text: th.innerText.replace(/\s+/g, ' ').trim(),
    sort: th.classList.contains('sort-descending') ? 'descending' : th.classList.contains('sort-ascending') ? 'ascending' : null,
  }));
  const text = (el) => (el ? el.textContent.replace(/\s+/g, ' ').trim() : '');
  const out = [];
  for (const tr of rows) {
    const node = grid.elementToDataGridNode.get(tr);
    const tds = [...tr.querySelectorAll('td')].filter((td) => !td.classList.contains('corner'));
    const first = tds[0];
    if (!first || first.querySelector('.value')) continue; // an instance row of an expanded class
    const copy = first.cloneNode(true);
    copy.querySelectorAll('.objects-count').forEach((e) => e.remove());
    // A size cell: its figure (span[title]) without the percentage beside it.
    const size = (td) => text(td && (td.querySelector('span[title]') || td));
    const shown = {
      name: text(copy),
      count: text(first.querySelector('.objects-count')),
      distance: text(tds[1]),
      shallow: size(tds[2]),
      retained: size(tds[3]),
      shallowTitle: tds[2]?.querySelector('span[title]')?.getAttribute('title') ?? null,
      retainedTitle: tds[3]?.querySelector('span[title]')?.getAttribute('title') ?? null,
    };
    if (!node || typeof node.retainedSize !== 'number') return { error: `no Summary class node for the row ${JSON.stringify(shown)}` };
    out.push({
      name: node.nameInternal ?? shown.name,
      count: node.count,
      distance: node.distance,
      shallow: node.shallowSize,
      retained: node.retainedSize,
      shown,
    });
  }
  if (out.length < min || (needle !== null && !out.every((r) => r.name.includes(needle)))) return false;
  return { headers, rows: out, populated: grid.rootNode().children.length };
}

/*
 * The Summary's class rows as shown, once there are at least `min` (and,
 * with `needle`, once each name contains it), waited for in the page a frame
 * at a time up to env.actionMs: {headers: [{text, sort}], rows: [{name,
 * count, distance, shallow, retained, shown: {the cells' text}}], populated
 * (the grid's top-level nodes)}.
 */
export async function summaryClasses(page, { min = 1, needle = null } = {}) {
  let r;
  try {
    const handle = await page.waitForFunction(readSummary, { min, needle }, { timeout: env.actionMs, polling: 'raf' });
    r = await handle.jsonValue();
  } catch (e) {
    e.message += `\n(waiting for the Summary to show ${min}+ class rows${needle !== null ? ` containing ${JSON.stringify(needle)}` : ''})`;
    throw e;
  }
  if (r.error) throw new Error(`reading the Summary: ${r.error}`);
  return r;
}

/* Types into "Filter by class" and waits until the grid shows only classes containing it. */
export async function filterSummary(page, needle) {
  const box = page.getByRole('tabpanel', { name: 'Memory panel' }).getByRole('textbox', { name: 'Filter by class' });
  await box.fill(needle);
  await box.press('Enter');
  return summaryClasses(page, { needle });
}

/* "2,314 kB" / "8.7 kB" / "0.0 kB" / "64 B" → [low, high] bytes that round to it. */
function shownRange(s) {
  const m = /^([\d,]+(?:\.(\d+))?)\s?(kB|B)$/.exec(s.replace(/\u00a0|\u2009/g, ' '));
  if (!m) return null;
  const v = Number(m[1].replace(/,/g, ''));
  const unit = m[3] === 'kB' ? 1000 : 1;
  const half = (m[2] ? 0.5 / 10 ** m[2].length : 0.5) * unit;
  return [v * unit - half, v * unit + half];
}

/*
 * What a row's text says that its exact figures do not: the ×count, the
 * distance ("−" from SYSTEM_DISTANCE on), and each size, which must round to
 * what the cell shows. [] when they agree.
 */
export function summaryTextMismatches(row) {
  const bad = [];
  const s = row.shown;
  const count = s.count ? Number(s.count.replace(/[^\d]/g, '')) : 1;
  if (count !== row.count) bad.push(`count shown ${JSON.stringify(s.count)} but the row's node has ${row.count}`);
  const distance = row.distance >= SYSTEM_DISTANCE ? '−' : String(row.distance);
  if (s.distance !== distance) bad.push(`distance shown ${JSON.stringify(s.distance)} but the row's node has ${row.distance}`);
  for (const k of ['shallow', 'retained']) {
    const range = shownRange(s[k]);
    if (!range) bad.push(`${k} shown ${JSON.stringify(s[k])}: not a size`);
    else if (row[k] < range[0] || row[k] >= range[1] + 1e-9) bad.push(`${k} shown ${JSON.stringify(s[k])} but the row's node has ${row[k]} bytes`);
  }
  return bad;
}
