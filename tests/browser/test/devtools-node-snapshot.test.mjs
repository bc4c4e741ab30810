// DevTools' Memory panel, "Heap snapshot", against `node --inspect`: V8's
// own snapshots, the reference the agent's test mirrors. targets/node_snapshot.js
// holds 300 HsbListNode (a list from globalThis.hsbList) and 40 HsbBlob
// (globalThis.hsbBlobs); `grow 25` adds 25 HsbListNode.
//
// Summary: the classes with their counts; an HsbListNode instance's
// Retainers name the global that holds the list; after `grow 25` a second
// snapshot's Comparison with the first shows HsbListNode "# New" 25, and the
// Summary's "Objects allocated between Snapshot 1 and Snapshot 2" shows
// exactly those 25. No uncaught error in DevTools.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { env, artifactPath } from '../lib/env.mjs';
import { memoryPanelOn } from '../lib/session.mjs';
import { HeapSnapshots, describeRows } from '../lib/snapshot.mjs';

const SHOT = 'devtools-node-snapshot';
const LIST = 300;
const BLOBS = 40;
const GROW = 25;

test('node --inspect: heap snapshots in DevTools (Summary counts, Retainers, Comparison, objects allocated between)', { timeout: 80000 }, async (t) => {
  const { program, dt } = await memoryPanelOn(t, { kind: 'node', target: env.nodeSnapshotTarget, screenshot: SHOT });
  const snaps = new HeapSnapshots(dt);
  try {
    // Snapshot 1: the Summary's rows for the two classes, with their counts.
    const s1 = await snaps.take();
    assert.equal(s1.title, 'Snapshot 1');
    await snaps.setPerspective('Summary');
    await snaps.setFilter('All objects');
    await snaps.filterByClass('Hsb');
    const summary = await snaps.rows((rs) => ['HsbListNode', 'HsbBlob'].every((n) => rs.some((r) => r.kind === 'class' && r.name === n)));
    await snaps.screenshot(`${SHOT}-summary`);
    const list = summary.find((r) => r.kind === 'class' && r.name === 'HsbListNode');
    const blob = summary.find((r) => r.kind === 'class' && r.name === 'HsbBlob');
    assert.ok(list && blob, `Summary filtered by "Hsb" lacks HsbListNode or HsbBlob:\n${describeRows(summary)}`);
    assert.equal(list.count, LIST, `HsbListNode's count:\n${describeRows(summary)}`);
    assert.equal(blob.count, BLOBS, `HsbBlob's count:\n${describeRows(summary)}`);

    // Its instances; the one nearest the root is the list's head, held by the global.
    const instances = await snaps.expandClass('HsbListNode');
    assert.ok(instances.length > 0 && instances.every((r) => r.name === 'HsbListNode' && r.id > 0), `HsbListNode's instances:\n${describeRows(instances)}`);
    const distance = (r) => Number(r.cells.Distance);
    const head = instances.reduce((a, b) => (distance(b) < distance(a) ? b : a));
    await snaps.selectRow(head);
    const retainers = await snaps.retainers((rs) => rs.some((r) => r.edge === 'hsbList'));
    await snaps.screenshot(`${SHOT}-retainers`);
    const byGlobal = retainers.find((r) => r.edge === 'hsbList');
    assert.ok(byGlobal, `the list head's Retainers lack the global hsbList:\n${describeRows(retainers)}`);
    assert.match(byGlobal.name, /^global\b/, `hsbList's holder:\n${describeRows(retainers)}`);

    // Snapshot 2 after the program made 25 more: Comparison with Snapshot 1.
    assert.equal(await program.command(`grow ${GROW}`), `ok ${LIST + GROW}`);
    const s2 = await snaps.take();
    assert.equal(s2.title, 'Snapshot 2');
    await snaps.comparison(s1);
    await snaps.filterByClass('Hsb');
    const cmp = await snaps.rows((rs) => rs.some((r) => r.kind === 'class' && r.name === 'HsbListNode' && r.cells['# New'] !== undefined));
    await snaps.screenshot(`${SHOT}-comparison`);
    const added = cmp.find((r) => r.kind === 'class' && r.name === 'HsbListNode');
    assert.ok(added, `Comparison lacks HsbListNode:\n${describeRows(cmp)}`);
    assert.equal(added.cells['# New'], String(GROW), `HsbListNode's # New:\n${describeRows(cmp)}`);
    assert.equal(added.cells['# Deleted'], '0', `HsbListNode's # Deleted:\n${describeRows(cmp)}`);
    assert.equal(added.cells['# Delta'], `+${GROW}`, `HsbListNode's # Delta:\n${describeRows(cmp)}`);
    const blobCmp = cmp.find((r) => r.kind === 'class' && r.name === 'HsbBlob');
    assert.ok(!blobCmp || blobCmp.cells['# New'] === '0', `HsbBlob did not change:\n${describeRows(cmp)}`);

    // Summary, "Objects allocated between Snapshot 1 and Snapshot 2": the 25 new ones only.
    await snaps.setPerspective('Summary');
    await snaps.setFilter('Objects allocated between Snapshot 1 and Snapshot 2');
    await snaps.filterByClass('Hsb');
    const between = await snaps.rows((rs) => rs.some((r) => r.kind === 'class' && r.name === 'HsbListNode' && r.count === GROW));
    await snaps.screenshot(`${SHOT}-between`);
    const classes = between.filter((r) => r.kind === 'class');
    assert.deepEqual(
      classes.map((r) => [r.name, r.count]),
      [['HsbListNode', GROW]],
      `objects allocated between the snapshots:\n${describeRows(between)}`
    );

    assert.deepEqual(dt.uncaught(), [], 'uncaught errors in DevTools');
  } catch (e) {
    await dt.screenshot(`${SHOT}-failed`).catch(() => {});
    throw e;
  } finally {
    await dt.close();
  }
});
