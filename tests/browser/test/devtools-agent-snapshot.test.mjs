// DevTools' Memory panel, "Heap snapshot", against heapscope's agent in a C
// program with a known heap (targets/snapshot_target.c under
// libheapscope.so): 20 blocks from make_list_node in a list held by the
// global g_list, 8 from make_blob in the global table g_blobs, 5 from
// leak_block whose addresses were dropped; `grow 7` adds 7 list nodes.
//
// The graph is docs/design/snapshot.md's: blocks are native nodes named by
// their allocation site "function file.c:LINE" (the lines are read from the
// target's source, where each malloc is marked "site: <function>"), roots are
// "(globals) <module>", "(stack) …", "(TLS) …" and "(leaked: unreachable from
// any root)", leaked blocks have detachedness 2, which DevTools shows as
// "Detached <name>" with its scissors tag and finds with its "Objects
// retained by detached DOM nodes" filter.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { env, artifactPath } from '../lib/env.mjs';
import { memoryPanelOn } from '../lib/session.mjs';
import { HeapSnapshots, describeRows, sourceSites } from '../lib/snapshot.mjs';

const SHOT = 'devtools-agent-snapshot';
const SOURCE = path.join(env.repo, 'tests', 'browser', 'targets', 'snapshot_target.c');
const LIST = 20;
const BLOBS = 8;
const LEAKS = 5;
const GROW = 7;
const NODE_SIZE = 64; // sizeof(struct list_node)
const BLOB_SIZE = 512;
const LEAK_SIZE = 96;

/* function -> "function snapshot_target.c:LINE", from the "site:" marks of the target's source. */
const siteNames = () => sourceSites(SOURCE, ['make_list_node', 'make_blob', 'leak_block']);

const FILE = path.basename(SOURCE);
const sorted = (pairs) => [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
const classes = (rows) => rows.filter((r) => r.kind === 'class');
const named = (rows, name) => classes(rows).find((r) => r.name === name);

test('heapscope agent: heap snapshots of a C program in DevTools (sites, counts, globals in Retainers, leaks as Detached, Comparison, objects allocated between)', { timeout: 85000 }, async (t) => {
  const site = siteNames();
  const { program, dt } = await memoryPanelOn(t, { kind: 'agent', target: env.cSnapshotTarget, screenshot: SHOT });
  const snaps = new HeapSnapshots(dt);
  const context = () => `\n--- DevTools console ---\n${dt.log.tail()}\n--- agent stderr ---\n${program.stderr.slice(-2000)}`;
  try {
    // Snapshot 1, Summary filtered by the source file's name (DevTools matches
    // a substring of the class): one row per allocation site, with its count;
    // the leaked blocks' row is "Detached <site>".
    const s1 = await snaps.take();
    assert.equal(s1.title, 'Snapshot 1');
    await snaps.setPerspective('Summary');
    await snaps.setFilter('All objects');
    await snaps.filterByClass(FILE);
    const summary = await snaps.rows((rs) => [site.make_list_node, site.make_blob, `Detached ${site.leak_block}`].every((n) => named(rs, n)));
    await snaps.screenshot(`${SHOT}-summary`);
    assert.deepEqual(
      sorted(classes(summary).map((r) => [r.name, r.count])),
      sorted([
        [site.make_list_node, LIST],
        [site.make_blob, BLOBS],
        [`Detached ${site.leak_block}`, LEAKS],
      ]),
      `the Summary filtered by "${FILE}" (one class per site, named "function file.c:LINE"):\n${describeRows(summary)}${context()}`
    );

    // The list's head is held by the global g_list of the program's (globals) group.
    // (One class at a time: the grid only renders the rows in its viewport.)
    await snaps.filterByClass(site.make_list_node);
    const instances = await snaps.expandClass(site.make_list_node, LIST);
    assert.equal(instances.length, LIST, `make_list_node's instances:\n${describeRows(instances)}`);
    for (const r of instances) {
      assert.equal(r.name, site.make_list_node);
      assert.equal(r.exact['Shallow size'], `${NODE_SIZE} B`, `a block's shallow size is its requested size: ${describeRows([r])}`);
      assert.ok(r.id % 2 === 1, `a block's id is the registry's odd id: ${r.name} @${r.id}`);
      assert.deepEqual(r.tags, [], `a reachable block carries no detached tag: ${describeRows([r])}`);
    }
    const distance = (r) => Number(r.cells.Distance);
    const byDistance = [...instances].sort((a, b) => distance(a) - distance(b));
    assert.deepEqual(
      byDistance.map(distance),
      byDistance.map((_, i) => distance(byDistance[0]) + i),
      `the list's nodes are one further from the root each:\n${describeRows(byDistance)}`
    );
    const [head, second] = byDistance;
    await snaps.selectRow(head);
    const headRetainers = await snaps.retainers((rs) => rs.some((r) => r.edge === 'g_list'));
    await snaps.screenshot(`${SHOT}-retainers-head`);
    const byGlobal = headRetainers.find((r) => r.edge === 'g_list');
    assert.ok(byGlobal, `the list head's Retainers lack g_list:\n${describeRows(headRetainers)}${context()}`);
    assert.match(byGlobal.name, /^\(globals\) \/.*\/hs-browser-snapshot-target$/, `g_list's holder is the program's (globals) group:\n${describeRows(headRetainers)}`);

    // The second node: held by the head's first word ([0] in make_list_node …), and through it by g_list.
    // (Each wait is for a row the previous selection's pane did not have.)
    await snaps.selectRow(second);
    const isByHead = (r) => r.edge === '[0]' && r.name === site.make_list_node && r.id === head.id;
    const secondRetainers = await snaps.retainers((rs) => rs.some(isByHead) && rs.some((r) => r.edge === 'g_list'));
    await snaps.screenshot(`${SHOT}-retainers-second`);
    const byHead = secondRetainers.find(isByHead);
    assert.ok(byHead, `the second node's Retainers lack "[0] in ${site.make_list_node} @${head.id}":\n${describeRows(secondRetainers)}`);
    const viaGlobal = secondRetainers.find((r) => r.edge === 'g_list');
    assert.ok(viaGlobal && viaGlobal.indent > byHead.indent, `the path continues to g_list under the head:\n${describeRows(secondRetainers)}`);

    // The blobs are held by the slots of g_blobs.
    await snaps.filterByClass(site.make_blob);
    const blobs = await snaps.expandClass(site.make_blob, BLOBS);
    assert.deepEqual(blobs.map((r) => r.exact['Shallow size']), Array(BLOBS).fill(`${BLOB_SIZE} B`), `make_blob's sizes:\n${describeRows(blobs)}`);
    await snaps.selectRow(blobs[0]);
    const blobRetainers = await snaps.retainers((rs) => rs.some((r) => /^g_blobs(\+\d+)?$/.test(r.edge || '')));
    const slot = blobRetainers.find((r) => /^g_blobs(\+\d+)?$/.test(r.edge || ''));
    assert.ok(slot && slot.name === byGlobal.name, `a make_blob block's Retainers lack g_blobs[+off] in ${byGlobal.name}:\n${describeRows(blobRetainers)}`);

    // The leaks: detachedness 2 -> "Detached leak_block …", the scissors tag, held only by the (leaked…) group.
    await snaps.filterByClass(site.leak_block);
    const leaks = await snaps.expandClass(`Detached ${site.leak_block}`, LEAKS);
    assert.equal(leaks.length, LEAKS);
    for (const r of leaks) {
      assert.deepEqual(r.tags, ['scissors'], `a leaked block carries DevTools' "Detached from DOM tree" tag: ${describeRows([r])}`);
      assert.equal(r.exact['Shallow size'], `${LEAK_SIZE} B`, `a leaked block's size: ${describeRows([r])}`);
    }
    await snaps.selectRow(leaks[0]);
    const leakRetainers = await snaps.retainers((rs) => rs.some((r) => r.name === '(leaked: unreachable from any root)'));
    await snaps.screenshot(`${SHOT}-leak`);
    assert.deepEqual(
      leakRetainers.filter((r) => r.indent === Math.min(...leakRetainers.map((x) => x.indent))).map((r) => r.name),
      ['(leaked: unreachable from any root)'],
      `a leaked block's only retainer is the (leaked…) group:\n${describeRows(leakRetainers)}`
    );

    // DevTools' filter for detached nodes finds the leaks, and shows nothing that is not detached.
    await snaps.filterByClass('');
    await snaps.setFilter('Objects retained by detached DOM nodes');
    const detached = await snaps.rows((rs) => !!named(rs, `Detached ${site.leak_block}`) && classes(rs).every((r) => r.name.startsWith('Detached ')));
    await snaps.screenshot(`${SHOT}-detached`);
    assert.equal(named(detached, `Detached ${site.leak_block}`)?.count, LEAKS, `"Objects retained by detached DOM nodes":\n${describeRows(detached)}`);
    for (const r of classes(detached)) assert.match(r.name, /^Detached /, `"Objects retained by detached DOM nodes" shows a class that is not detached:\n${describeRows(detached)}`);

    // Snapshot 2 after `grow 7`: Comparison with Snapshot 1 shows 7 new make_list_node blocks.
    assert.equal(await program.command(`grow ${GROW}`), `ok ${LIST + GROW}`);
    const s2 = await snaps.take();
    assert.equal(s2.title, 'Snapshot 2');
    await snaps.comparison(s1);
    await snaps.filterByClass(FILE);
    const cmp = await snaps.rows((rs) => named(rs, site.make_list_node)?.cells['# New'] !== undefined);
    await snaps.screenshot(`${SHOT}-comparison`);
    const added = named(cmp, site.make_list_node);
    assert.ok(added, `Comparison lacks ${site.make_list_node}:\n${describeRows(cmp)}${context()}`);
    assert.deepEqual(
      [added.cells['# New'], added.cells['# Deleted'], added.cells['# Delta']],
      [String(GROW), '0', `+${GROW}`],
      `${site.make_list_node} in Comparison (# New, # Deleted, # Delta):\n${describeRows(cmp)}`
    );
    for (const same of [site.make_blob, `Detached ${site.leak_block}`]) {
      const row = named(cmp, same);
      assert.ok(!row || (row.cells['# New'] === '0' && row.cells['# Deleted'] === '0'), `${same} did not change:\n${describeRows(cmp)}`);
    }

    // Summary, "Objects allocated between Snapshot 1 and Snapshot 2": the 7 new blocks, none of the others.
    await snaps.setPerspective('Summary');
    await snaps.setFilter('Objects allocated between Snapshot 1 and Snapshot 2');
    await snaps.filterByClass(FILE);
    const between = await snaps.rows((rs) => named(rs, site.make_list_node)?.count === GROW);
    await snaps.screenshot(`${SHOT}-between`);
    assert.deepEqual(
      classes(between).map((r) => [r.name, r.count]),
      [[site.make_list_node, GROW]],
      `objects allocated between the snapshots (the blobs and leaks were allocated before Snapshot 1):\n${describeRows(between)}`
    );

    assert.deepEqual(dt.uncaught(), [], 'uncaught errors in DevTools');
  } catch (e) {
    await dt.screenshot(`${SHOT}-failed`).catch(() => {});
    e.message += context();
    throw e;
  } finally {
    await dt.close();
  }
});
