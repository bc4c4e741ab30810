// `heapscope report FILE --format json` against DevTools itself: its classes
// (name, count, shallow = the sum of self sizes, retained = DevTools' maxRet,
// distance = the least) must be the Summary's, byte for byte, for
//   (a) V8's golden snapshot-stopTracking.heapsnapshot (node 20), and
//   (b) a snapshot of tests/snapshot/known_heap.c (hs-known-heap) under the
//       agent, written at exit (HEAPSCOPE_SNAPSHOT_AT_EXIT) at test time.
// Each file is loaded into the Memory panel (Load), and the Summary's first
// TOP class rows, sorted by Retained size as DevTools opens it, are read:
// the text shown (class, ×count, distance, sizes in kB) and the exact figures
// the row was drawn from (lib/summary.mjs), which must round to the text.
//
// Two of DevTools' naming rules are not the report's; the figures are still
// compared, through the rule (HeapSnapshot.ts in devtools-frontend):
// - propagateDOMState: a native node whose detachedness is 2 (heapscope's
//   leaked blocks) and every native node it reaches that is not attached is
//   renamed "Detached <name>", so its class is "Detached <site>"; the report
//   keeps the site's name. A "Detached X" row is compared with the report's
//   class X, which must then have no plain "X" row beside it in DevTools.
// - inferInterfaceDefinitions / applyInterfaceDefinitions: a plain JS object
//   (type object, named "Object") whose property names match an interface
//   that at least 2 objects start with is classed "{a, b, …}" instead of
//   "Object". The report keeps one "Object" class: it must be DevTools'
//   "Object" plus every "{…}" class (found with Filter by class "{"):
//   counts and shallow sizes summed, the least distance, and a retained size
//   between the largest part's and the parts' sum (maxRet of a union).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env, requireFile, withTimeout } from '../lib/env.mjs';
import { launchChromium } from '../lib/browser.mjs';
import { openMemoryPanel } from '../lib/devtools.mjs';
import { heapscopeReport, summaryClasses, filterSummary, summaryTextMismatches, run } from '../lib/summary.mjs';

const SHOT = 'report-vs-devtools';
const TOP = 15;
const GOLDEN = env.golden('snapshot-stopTracking.heapsnapshot');
const KNOWN_HEAP = path.resolve(process.env.HS_KNOWN_HEAP || path.join(env.repo, 'build', 'bin', 'hs-known-heap'));
const DETACHED = 'Detached ';
const isInterface = (name) => name.startsWith('{') && name.endsWith('}');

/* The agent's snapshot of hs-known-heap at its exit, in dir. */
async function knownHeapSnapshot(dir) {
  requireFile(KNOWN_HEAP, 'hs-known-heap (HS_KNOWN_HEAP)');
  const agent = requireFile(env.agentLib, 'libheapscope.so (HS_AGENT_LIB)');
  const out = path.join(dir, 'known.heapsnapshot');
  const childEnv = { ...process.env };
  for (const k of Object.keys(childEnv)) if (k.startsWith('HEAPSCOPE_')) delete childEnv[k];
  Object.assign(childEnv, { HEAPSCOPE_SNAPSHOT_AT_EXIT: '1', HEAPSCOPE_SNAPSHOT_OUT: out, HEAPSCOPE_LISTEN: 'off', LD_PRELOAD: agent });
  // stdin is /dev/null: the program builds its heap, reads EOF and exits.
  const r = await withTimeout(run(KNOWN_HEAP, [], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] }), 60000, 'hs-known-heap to exit');
  assert.equal(r.code, 0, `hs-known-heap under the agent exited ${r.code ?? r.signal}:\n${r.err}`);
  assert.ok(fs.existsSync(out), `no snapshot at ${out} after exit:\n${r.err}`);
  return out;
}

const fmt = (c) => (c ? `count ${c.count}, shallow ${c.shallow}, retained ${c.retained}, distance ${c.distance}` : 'absent');

/*
 * Loads file into DevTools, reads its Summary and compares it with the
 * report; returns {compared: [names], mismatches: [lines]}.
 */
async function compareFile(t, label, file) {
  const report = await heapscopeReport(file);
  const byName = new Map(report.classes.map((c) => [c.name, c]));
  const browser = await launchChromium();
  t.after(() => browser.close());
  const dt = await openMemoryPanel(browser);
  const mismatches = [];
  const compared = [];
  try {
    await dt.loadProfile(file);
    const summary = await summaryClasses(dt.page, { min: Math.min(TOP, report.classes.length) });
    await dt.screenshot(`${SHOT}-${label}-summary`);
    const retainedHeader = summary.headers.find((h) => h.text === 'Retained size');
    assert.equal(retainedHeader?.sort, 'descending', `the Summary is sorted by Retained size, descending: ${JSON.stringify(summary.headers)}`);
    const all = summary.rows;
    const rows = all.slice(0, TOP);
    for (let i = 1; i < rows.length; i++) {
      assert.ok(rows[i - 1].retained >= rows[i].retained, `the rows are in retained order: ${rows[i - 1].name} ${rows[i - 1].retained} before ${rows[i].name} ${rows[i].retained}`);
    }
    for (const row of all) {
      for (const m of summaryTextMismatches(row)) mismatches.push(`${label}: DevTools' row ${JSON.stringify(row.name)}: ${m}`);
    }
    const shownNames = new Set(all.map((r) => r.name));
    const compare = (what, dev, rep) => {
      const diffs = ['count', 'shallow', 'retained', 'distance'].filter((k) => dev[k] !== rep?.[k]);
      if (!rep || diffs.length) mismatches.push(`${label}: ${what}: DevTools ${fmt(dev)}; report ${fmt(rep)}${rep ? ` (differ: ${diffs.join(', ')})` : ''}`);
      compared.push(what);
    };

    let interfaces = null;
    for (const row of rows) {
      if (row.name === 'Object') {
        // compared below, with the "{…}" classes
      } else if (byName.has(row.name)) {
        compare(JSON.stringify(row.name), row, byName.get(row.name));
      } else if (row.name.startsWith(DETACHED) && byName.has(row.name.slice(DETACHED.length))) {
        const plain = row.name.slice(DETACHED.length);
        // The report's class holds every block of the site; DevTools' "Detached" row only the detached ones.
        if (shownNames.has(plain)) mismatches.push(`${label}: DevTools shows both ${JSON.stringify(row.name)} and ${JSON.stringify(plain)}; the report has one class`);
        compare(`${JSON.stringify(row.name)} (report: ${JSON.stringify(plain)})`, row, byName.get(plain));
      } else if (isInterface(row.name) && byName.has('Object')) {
        interfaces = interfaces || row; // compared with "Object" below
      } else {
        mismatches.push(`${label}: ${JSON.stringify(row.name)}: DevTools ${fmt(row)}; the report has no such class`);
      }
    }

    // DevTools' "Object" and its "{…}" classes together are the report's "Object".
    const object = rows.find((r) => r.name === 'Object');
    if (object && !byName.has('Object')) mismatches.push(`${label}: "Object": DevTools ${fmt(object)}; the report has no such class`);
    if ((object || interfaces) && byName.has('Object')) {
      const objectRow = object || all.find((r) => r.name === 'Object');
      const filtered = await filterSummary(dt.page, '{');
      await dt.screenshot(`${SHOT}-${label}-interfaces`);
      const parts = [objectRow, ...filtered.rows.filter((r) => isInterface(r.name))].filter(Boolean);
      for (const p of parts) for (const m of summaryTextMismatches(p)) mismatches.push(`${label}: DevTools' row ${JSON.stringify(p.name)}: ${m}`);
      const rep = byName.get('Object');
      const sum = (k) => parts.reduce((s, p) => s + p[k], 0);
      const union = {
        count: sum('count'),
        shallow: sum('shallow'),
        distance: Math.min(...parts.map((p) => p.distance)),
        retainedMin: Math.max(...parts.map((p) => p.retained)),
        retainedMax: sum('retained'),
      };
      const named = parts.slice(1, 4).map((p) => JSON.stringify(p.name));
      const what = `"Object" = DevTools' "Object" + ${parts.length - 1} "{…}" classes (${named.join(', ')}${parts.length > 4 ? ', …' : ''})`;
      if (rep.count !== union.count || rep.shallow !== union.shallow || rep.distance !== union.distance || !(rep.retained >= union.retainedMin && rep.retained <= union.retainedMax)) {
        mismatches.push(
          `${label}: ${what}: DevTools count ${union.count}, shallow ${union.shallow}, distance ${union.distance}, retained in [${union.retainedMin}, ${union.retainedMax}]; report ${fmt(rep)}`
        );
      }
      compared.push(what);
      await filterSummary(dt.page, '');
    }
    assert.deepEqual(dt.uncaught(), [], 'uncaught errors in DevTools');
  } catch (e) {
    await dt.screenshot(`${SHOT}-${label}-failed`).catch(() => {});
    throw e;
  }
  if (mismatches.length) await dt.screenshot(`${SHOT}-${label}-failed`).catch(() => {});
  return { compared, mismatches };
}

test("heapscope report's classes are DevTools' Summary: V8's golden snapshot", { timeout: 85000 }, async (t) => {
  fs.rmSync(path.join(env.artifacts, `${SHOT}-golden-failed.png`), { force: true });
  const { compared, mismatches } = await compareFile(t, 'golden', requireFile(GOLDEN, 'the golden snapshot (HS_SHARED_DIR)'));
  t.diagnostic(`golden: ${compared.length} classes compared: ${compared.join(', ')}`);
  assert.deepEqual(mismatches, [], `heapscope report and DevTools' Summary disagree:\n${mismatches.join('\n')}`);
  assert.ok(compared.length >= TOP - 1, `only ${compared.length} classes compared`);
});

test("heapscope report's classes are DevTools' Summary: the agent's snapshot of hs-known-heap", { timeout: 85000 }, async (t) => {
  fs.rmSync(path.join(env.artifacts, `${SHOT}-known-failed.png`), { force: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-report-vs-devtools-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = await knownHeapSnapshot(dir);
  const report = await heapscopeReport(file);
  const { compared, mismatches } = await compareFile(t, 'known', file);
  t.diagnostic(`known: ${compared.length} classes compared: ${compared.join(', ')}`);
  assert.deepEqual(mismatches, [], `heapscope report and DevTools' Summary disagree:\n${mismatches.join('\n')}`);
  assert.equal(compared.length, Math.min(TOP, report.classes.length), 'every class of the known heap compared');
  for (const site of ['make_list_node known_heap.c:', 'make_blob known_heap.c:', 'make_leak known_heap.c:']) {
    assert.ok(compared.some((c) => c.includes(site)), `${site}… among the classes compared: ${compared.join(', ')}`);
  }
});
