// "This .heapprofile loads in DevTools and in speedscope": the checks, for any
// file. What each viewer must show is derived from the file itself, so the
// same checks serve V8's golden files and the agent's.
//
//   const browser = await launchChromium();
//   await checkInDevTools(browser, file, { expectNames: ['hsb_alloc_blocks'] });
//   await checkInSpeedscope(browser, file, { expectNames: ['hsb_alloc_blocks'] });

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openMemoryPanel } from './devtools.mjs';
import { importInSpeedscope } from './speedscope.mjs';

/*
 * From a SamplingHeapProfile: the functions that allocated themselves
 * (selfSize > 0), name -> summed selfSize. DevTools names a function without
 * a name "(anonymous)". Old files keep the frame on the node itself.
 */
export function selfSizesByFunction(profile) {
  const out = new Map();
  const stack = [profile.head];
  let nodes = 0;
  while (stack.length) {
    const n = stack.pop();
    nodes++;
    const frame = n.callFrame || n;
    if (n.selfSize > 0) {
      const name = frame.functionName || '(anonymous)';
      out.set(name, (out.get(name) || 0) + n.selfSize);
    }
    for (const c of n.children || []) stack.push(c);
  }
  return { bySelf: out, nodes };
}

export function readProfile(file) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.ok(profile && profile.head, `${file}: no "head": not a SamplingHeapProfile`);
  return profile;
}

/*
 * Loads the file through the Memory panel's Load button (no target needed)
 * and checks its Heavy (bottom up) view: one top-level row per function that
 * allocated, each with the file's summed selfSize in bytes; then the Tree
 * (top down) view expanded shows every expectNames entry. Returns the rows.
 */
export async function checkInDevTools(browser, file, { expectNames = [], screenshot } = {}) {
  const { bySelf } = selfSizesByFunction(readProfile(file));
  assert.ok(bySelf.size > 0, `${file}: no node with selfSize > 0; nothing to show`);
  const dt = await openMemoryPanel(browser);
  try {
    await dt.loadProfile(file);
    // The view mode is a setting DevTools keeps: choose it, never assume it.
    await dt.setViewMode('Heavy (bottom up)');
    const topRows = (rows) => {
      const top = new Map();
      const minIndent = Math.min(...rows.map((r) => r.indent));
      for (const r of rows.filter((r) => r.indent === minIndent)) top.set(r.name, (top.get(r.name) || 0) + r.self);
      return top;
    };
    const heavy = await dt.rowsUntil((rows) => {
      const top = topRows(rows);
      return [...bySelf.keys()].every((n) => top.has(n));
    });
    const top = topRows(heavy);
    for (const [name, size] of bySelf) {
      assert.equal(top.get(name), size, `DevTools' Heavy view of ${path.basename(file)}: self size of ${name} (rows: ${JSON.stringify([...top])})`);
    }
    await dt.setViewMode('Tree (top down)');
    await dt.expandAll();
    const tree = await dt.rows();
    const names = new Set(tree.map((r) => r.name));
    for (const n of expectNames) assert.ok(names.has(n), `DevTools' tree of ${path.basename(file)} lacks ${n}: ${[...names].join(', ')}`);
    if (screenshot) await dt.screenshot(screenshot);
    assert.deepEqual(dt.uncaught(), [], 'uncaught errors in DevTools');
    return { heavy, tree };
  } finally {
    await dt.close();
  }
}

/*
 * Imports the file in speedscope: it must take it as a Chrome Heap Profile,
 * title the page with the file's name, and list in its Sandwich table every
 * function that allocated, and every expectNames entry.
 */
export async function checkInSpeedscope(browser, file, { expectNames = [], screenshot } = {}) {
  const { bySelf } = selfSizesByFunction(readProfile(file));
  const r = await importInSpeedscope(browser, file, { screenshot });
  assert.equal(r.importer, 'Chrome Heap Profile', `speedscope's importer for ${file}`);
  assert.equal(r.title, `${path.basename(file)} - speedscope`);
  const symbols = new Set(r.symbols);
  for (const n of [...bySelf.keys()].filter((n) => n !== '(anonymous)').concat(expectNames)) {
    assert.ok(symbols.has(n), `speedscope's Sandwich table for ${path.basename(file)} lacks ${n}: ${r.symbols.join(', ')}`);
  }
  assert.deepEqual(r.uncaught, [], 'uncaught errors in speedscope');
  return r;
}
