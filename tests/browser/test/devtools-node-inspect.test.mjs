// DevTools on `node --inspect`: inspecting objects of a heap snapshot and
// from the console, the reference the agent's twin test mirrors (the CDP
// traffic of each action is in docs/design/devtools-inspection-traffic.md).
// targets/node_inspect.js holds globalThis.probe, an HsiProbe {kind: 'probe',
// count: 42, nested: HsiNested {depth: 1, label: 'inner'}, items: [1, 2, 3]},
// and globalThis.probeMany, an array of 150 numbers.
//
// One UI action a step, each step's CDP traffic recorded (lib/traffic.mjs):
// selecting the HsiProbe row of the Summary makes it $0; hovering it shows a
// popover with its properties, and `nested` expands in it; "Store as global
// variable" makes temp1 (in the program too) and the console prints it;
// the console evaluates temp1.nested.label and $0; a 150-item array expands
// into index ranges; "Reveal in summary view" on the console's temp1 selects
// the HsiProbe row again, and on the Retainers' `probe in global` selects the
// global; "Collect garbage". No uncaught error in DevTools.
//
// The steps whose traffic does not depend on timing are compared with
// tests/browser/fixtures/devtools-node-inspection.json (methods, without the
// periodic getHeapUsage); HS_UPDATE_FIXTURES=1 rewrites that file from this
// run instead. Each run's traffic goes to the artifacts too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { env, artifactPath } from '../lib/env.mjs';
import { startProgram } from '../lib/proc.mjs';
import { launchChromium } from '../lib/browser.mjs';
import { openMemoryPanel } from '../lib/devtools.mjs';
import { HeapSnapshots, describeRows } from '../lib/snapshot.mjs';
import { recordTraffic } from '../lib/traffic.mjs';
import { ROW, ok, chromiumVersion, contextCreated, snapshotRow, selectedRow, hoverName, hidePopover, popoverLine, popoverTitle, popoverLines, contextMenu, typeInConsole, consoleMessage, consoleTexts, lastRequests } from '../lib/inspect.mjs';

const SHOT = 'devtools-node-inspect';
const TARGET = path.join(env.repo, 'tests', 'browser', 'targets', 'node_inspect.js');
const FIXTURE = path.join(env.repo, 'tests', 'browser', 'fixtures', 'devtools-node-inspection.json');

/* Steps whose methods are the same on every run (no typing, no timer). */
const STABLE_STEPS = ['select', 'hover', 'hover-expand', 'hover-hide', 'store-global', 'console-array-expand', 'reveal-from-console', 'reveal-from-retainers', 'collect-garbage'];
/* All that typing in the console may send (eager evaluation, autocompletion). */
const CONSOLE_METHODS = new Set([
  'Runtime.compileScript',
  'Runtime.evaluate',
  'Runtime.releaseObject',
  'Runtime.releaseObjectGroup',
  'Runtime.globalLexicalScopeNames',
  'Runtime.getProperties',
  'Runtime.getHeapUsage',
]);

test('node --inspect: object inspection in DevTools (popover, $0, Store as global variable, console, Reveal in summary view, Collect garbage)', { timeout: 60000 }, async (t) => {
  fs.rmSync(artifactPath(`${SHOT}-failed.png`), { force: true });
  const program = await startProgram({ kind: 'node', target: TARGET });
  let browser = null;
  t.after(async () => {
    await browser?.close();
    await program.kill();
  });
  browser = await launchChromium();
  // On the context before DevTools opens, so that the attach is recorded too.
  const traffic = recordTraffic(browser.context, program.ws);
  traffic.step('attach');
  const dt = await openMemoryPanel(browser, { ws: program.ws });
  const page = dt.page;
  const snaps = new HeapSnapshots(dt);
  try {
    // Attach: what the frontend enables, and the execution context the console needs.
    ok(await traffic.reply('HeapProfiler.enable'));
    const context = await contextCreated(traffic);
    assert.ok(context.params.context.id > 0 && context.params.context.uniqueId && context.params.context.auxData?.isDefault, JSON.stringify(context.params));
    for (const m of ['Runtime.enable', 'Debugger.enable', 'Runtime.runIfWaitingForDebugger']) ok(await traffic.reply(m));

    traffic.step('snapshot');
    await snaps.take();
    await snaps.setPerspective('Summary');
    await snaps.filterByClass('HsiProbe');
    const [probe] = await snaps.expandClass('HsiProbe');
    assert.ok(probe && probe.name === 'HsiProbe' && probe.id > 0, `the HsiProbe instance row: ${JSON.stringify(probe)}`);
    const row = () => snapshotRow(page, probe.id);

    // Selecting the row makes it the console's $0.
    traffic.step('select');
    await snaps.selectRow(probe);
    ok(await traffic.reply('HeapProfiler.addInspectedHeapObject', { match: (p) => p.heapObjectId === String(probe.id) }));

    // Hovering its name: a popover with the object's properties.
    traffic.step('hover');
    await hoverName(row());
    const got = ok(await traffic.reply('HeapProfiler.getObjectByHeapObjectId', { match: (p) => p.objectGroup === 'popover' }));
    assert.equal(got.result.className, 'HsiProbe');
    await popoverLine(page, /^nested:/).waitFor();
    const title = await popoverTitle(page);
    assert.equal(title, 'HsiProbe');
    const lines = await popoverLines(page);
    for (const line of ['kind: "probe"', 'count: 42', 'items: (3) [1, 2, 3]']) assert.ok(lines.includes(line), `popover lines ${JSON.stringify(lines)} lack ${line}`);
    assert.ok(lines.some((l) => /^nested: HsiNested\b/.test(l)), `popover lines ${JSON.stringify(lines)}`);
    await dt.screenshot(`${SHOT}-popover`);

    // Expanding `nested` in the popover.
    traffic.step('hover-expand');
    const nestedId = traffic.pairs('hover').find((r) => r.method === 'Runtime.getProperties' && r.params.ownProperties)?.reply?.result?.result?.find((p) => p.name === 'nested')?.value?.objectId;
    assert.ok(nestedId, 'the popover\'s getProperties gave nested an objectId');
    await popoverLine(page, /^nested:/).click();
    ok(await traffic.reply('Runtime.getProperties', { match: (p) => p.objectId === nestedId && p.ownProperties }));
    await popoverLine(page, /^label:/).waitFor();
    const nestedLines = await popoverLines(page);
    for (const line of ['depth: 1', 'label: "inner"']) assert.ok(nestedLines.includes(line), `popover lines ${JSON.stringify(nestedLines)} lack ${line}`);
    await dt.screenshot(`${SHOT}-popover-nested`);
    // Moving away hides it and releases its object group.
    traffic.step('hover-hide');
    await hidePopover(page, snaps);
    ok(await traffic.reply('Runtime.releaseObjectGroup', { match: (p) => p.objectGroup === 'popover' }));

    // "Store as global variable" (right-click beside the name: over it a popover would start).
    traffic.step('store-global');
    await contextMenu(page, row().locator('td').first(), 'Store as global variable', { x: 0.5 });
    ok(await traffic.reply('Runtime.evaluate', { match: (p) => p.expression === 'temp1' && p.objectGroup === 'console' }));
    const saved = ok(await traffic.reply('Runtime.callFunctionOn'));
    assert.deepEqual(saved.result, { type: 'string', value: 'temp1' });
    const temp1 = await consoleMessage(page, /^HsiProbe \{kind: 'probe', count: 42\b/);
    assert.equal(temp1.text, "HsiProbe {kind: 'probe', count: 42, nested: HsiNested, items: Array(3)}");
    assert.equal(await program.command('check'), 'ok probe 42 object', 'temp1 is a global of the program now');
    await dt.screenshot(`${SHOT}-stored`);

    // The console: an expression, then Enter.
    traffic.step('console-type');
    await typeInConsole(page, 'temp1.nested.label', { enter: false });
    // Once typing stops, the console evaluates the text "without side effects" for its preview.
    await traffic.reply('Runtime.evaluate', { match: (p) => p.throwOnSideEffect && p.expression === 'temp1.nested.label' });
    traffic.step('console-evaluate');
    await page.keyboard.press('Enter');
    const label = await traffic.reply('Runtime.evaluate', { match: (p) => p.objectGroup === 'console' && p.expression === 'temp1.nested.label' });
    assert.deepEqual(ok(label).result, { type: 'string', value: 'inner' });
    assert.deepEqual(
      Object.fromEntries(['includeCommandLineAPI', 'replMode', 'generatePreview', 'userGesture', 'silent', 'returnByValue'].map((k) => [k, label.params[k]])),
      { includeCommandLineAPI: true, replMode: true, generatePreview: true, userGesture: true, silent: false, returnByValue: false }
    );
    assert.equal(label.params.uniqueContextId, context.params.context.uniqueId);
    assert.equal((await consoleMessage(page, /^'inner'$/)).text, "'inner'");

    // $0: the row selected in the Summary.
    traffic.step('console-$0');
    await typeInConsole(page, '$0');
    assert.equal(ok(await traffic.reply('Runtime.evaluate', { match: (p) => p.objectGroup === 'console' && p.expression === '$0' })).result.className, 'HsiProbe');
    await consoleMessage(page, /^HsiProbe \{kind: 'probe', count: 42\b/, 1);

    // An array of more than 100 items expands into ranges, found by a function called on it.
    traffic.step('console-array');
    await typeInConsole(page, 'probeMany');
    assert.equal(ok(await traffic.reply('Runtime.evaluate', { match: (p) => p.objectGroup === 'console' && p.expression === 'probeMany' })).result.description, 'Array(150)');
    const many = (await consoleMessage(page, /^\(150\) \[0, 1, 2, 3/)).handle;
    traffic.step('console-array-expand');
    await many.click();
    const ranges = ok(await traffic.reply('Runtime.callFunctionOn', { match: (p) => p.returnByValue }));
    assert.deepEqual(ranges.result.value, { ranges: [[0, 99, 100], [100, 149, 50]] });
    await page.getByText('[0 … 99]', { exact: true }).waitFor();
    await page.getByText('[100 … 149]', { exact: true }).waitFor();
    ok(await traffic.reply('Runtime.getProperties', { match: (p) => p.nonIndexedPropertiesOnly && p.ownProperties }));
    await dt.screenshot(`${SHOT}-console`);

    // "Reveal in summary view" on the console's temp1: the HsiProbe row is selected again.
    traffic.step('reveal-from-console');
    await contextMenu(page, (await consoleMessage(page, /^HsiProbe \{kind: 'probe', count: 42\b/)).handle, 'Reveal in summary view');
    const revealed = ok(await traffic.reply('HeapProfiler.getHeapObjectId'));
    assert.equal(revealed.heapSnapshotObjectId, String(probe.id));
    let rows = await snaps.rows((rs) => selectedRow(rs)?.id === probe.id);
    assert.equal(selectedRow(rows)?.id, probe.id, `the selected row after revealing temp1:\n${describeRows(rows)}`);
    await dt.screenshot(`${SHOT}-revealed`);

    // "Reveal in summary view" on a Retainers row: done in the page, and the revealed object becomes $0.
    traffic.step('reveal-from-retainers');
    const retainers = await snaps.retainers((rs) => rs.some((r) => r.edge === 'probe'));
    const holder = retainers.find((r) => r.edge === 'probe');
    assert.ok(holder && /^global\b/.test(holder.name) && holder.id > 0, `probe's retainer:\n${describeRows(retainers)}`);
    await contextMenu(page, page.locator(ROW).nth(holder.index).locator('td').first(), 'Reveal in summary view', { x: 0.5 });
    rows = await snaps.rows((rs) => selectedRow(rs)?.id === holder.id);
    assert.equal(selectedRow(rows)?.id, holder.id, `the selected row after revealing probe's holder:\n${describeRows(rows)}`);
    ok(await traffic.reply('HeapProfiler.addInspectedHeapObject', { match: (p) => p.heapObjectId === String(holder.id) }));

    traffic.step('collect-garbage');
    await page.getByRole('button', { name: 'Collect garbage' }).click();
    assert.deepEqual(ok(await traffic.reply('HeapProfiler.collectGarbage')), {});
    traffic.step('end');

    // Typing sends only what eager evaluation and autocompletion need.
    for (const s of ['console-type', 'console-evaluate', 'console-$0', 'console-array']) {
      const other = traffic.methods(s).filter((m) => !CONSOLE_METHODS.has(m));
      assert.deepEqual(other, [], `step ${s} sent more than the console's methods`);
    }
    assert.ok(!traffic.methods('reveal-from-retainers').includes('HeapProfiler.getHeapObjectId'), 'a Retainers row is revealed without asking the target');

    // This run's traffic, and the reference's.
    const recorded = {
      recorded: { by: 'tests/browser/test/devtools-node-inspect.test.mjs', chromium: chromiumVersion(), node: process.version, target: 'tests/browser/targets/node_inspect.js' },
      stableSteps: STABLE_STEPS,
      steps: traffic.fixture(),
    };
    fs.writeFileSync(artifactPath(`${SHOT}-traffic.json`), `${JSON.stringify(recorded, null, 1)}\n`);
    if (process.env.HS_UPDATE_FIXTURES === '1') {
      fs.mkdirSync(path.dirname(FIXTURE), { recursive: true });
      fs.writeFileSync(FIXTURE, `${JSON.stringify(recorded, null, 1)}\n`);
    } else {
      const reference = JSON.parse(fs.readFileSync(FIXTURE, 'utf8'));
      for (const s of STABLE_STEPS) assert.deepEqual(traffic.sequence(s), reference.steps[s]?.sequence, `step ${s}: this run's methods (left) against ${path.basename(FIXTURE)}'s`);
      const set = (list) => [...new Set(list)].sort();
      assert.deepEqual(set(traffic.methods('attach')), set(reference.steps.attach.requests.map((r) => r.method)), 'the methods sent on attach');
    }

    assert.deepEqual(dt.uncaught(), [], 'uncaught errors in DevTools');
  } catch (e) {
    await dt.screenshot(`${SHOT}-failed`).catch(() => {});
    const shown = await consoleTexts(page);
    const last = lastRequests(traffic);
    // A new error: the reporter prints the stack, written when the message was still short.
    const err = new Error(
      `${e.message}\n--- DevTools' Console panel ---\n${shown.join('\n')}\n--- DevTools' own console ---\n${dt.log.tail()}\n--- last requests ---\n${last.join('\n')}`,
      { cause: e }
    );
    throw err;
  } finally {
    await dt.close();
  }
});
