// DevTools on a C program under heapscope's agent: inspecting native blocks
// from a heap snapshot and from the console, the twin of
// devtools-node-inspect.test.mjs (the reference against node --inspect; the
// CDP traffic of each action is in docs/design/devtools-inspection-traffic.md).
//
// The program is tests/inspect/inspect_target.c (HS_INSPECT_TARGET): g_head
// -> a chain of 3 make_record blocks of 32 bytes {next, magic
// 0x1122334455667788 + i, name "rec-<i>"}; `addrs` gives the addresses of
// the first two records, `scratch N` allocates N 4 KiB blocks in
// make_scratch (called by scratch_round), kept until the next scratch.
//
// One UI action a step, each step's CDP traffic recorded from before DevTools
// attaches (lib/traffic.mjs):
// - attach: every request is answered; none that node 20 answers with a
//   result (fixtures/devtools-node-inspection.json's attach step, the golden
//   devtools-frontend-memory-panel-summary.txt) is an error here, -32601 only
//   where node says -32601 too; the context the console needs is created;
//   the methods are those of fixtures/devtools-agent-attach.json, and each
//   is answered the way the fixture says (a result, or which error code).
//   HS_UPDATE_FIXTURES=1 rewrites that file from this run instead;
// - a heap snapshot's Summary shows `make_record inspect_target.c:LINE` ×3,
//   32 B each (LINE: the source's "site:" mark); which row is g_head's
//   record is read from each row's popover title (its address); selecting
//   that row makes it $0
//   (addInspectedHeapObject); hovering it shows a popover titled with its
//   description (site, the address `addrs` printed, 32 bytes) and its slots
//   0 (the next record, by address), 8 (the magic in hex), 16 (the name's
//   bytes), 24 (0) and [[address]]/[[size]]/[[site]]; expanding slot 0 shows
//   the next record's slots (magic + 1, "rec-1");
// - "Store as global variable": temp1 is printed as that record; the console
//   evaluates `*(temp1 + 8)` (the magic), `$0` (the record), `g_head %`
//   (an "Uncaught SyntaxError: Unexpected token '%'" line) and, after it,
//   `g_counter` (42);
// - "Reveal in summary view" on the console's temp1 (with another row
//   selected and another class filter) selects the record's row again;
// - "Collect garbage" is answered {} and DevTools says it completed;
// - Allocation sampling around `scratch 512`: make_scratch is a top-level
//   Heavy (bottom up) row with bytes, under scratch_round in Tree (top down);
// - Allocations on timeline around `scratch 8`: the recording's snapshot
//   loads, with make_scratch ×8 (4 KiB each) and the three records;
// - the steps node's twin also records (select, hover, hover-expand,
//   hover-hide, store-global, collect-garbage) send node's methods; no
//   request of the run is unanswered, and none is answered with an error but
//   node's -32601s; no uncaught error in DevTools, and its own console's
//   errors are only the "Request X failed" of those -32601s.
// Screenshots of each step go to the artifacts, with this run's traffic.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { env, artifactPath } from '../lib/env.mjs';
import { startProgram } from '../lib/proc.mjs';
import { launchChromium } from '../lib/browser.mjs';
import { openMemoryPanel } from '../lib/devtools.mjs';
import { HeapSnapshots, describeRows, sourceSites } from '../lib/snapshot.mjs';
import { Timeline } from '../lib/timeline.mjs';
import { recordTraffic, POLLED } from '../lib/traffic.mjs';
import { POPOVER, ok, chromiumVersion, contextCreated, snapshotRow, selectedRow, hoverName, hidePopover, popoverLine, popoverTitle, popoverTree, lines, contextMenu, typeInConsole, consoleMessage, consoleTexts, lastRequests } from '../lib/inspect.mjs';

const SHOT = 'devtools-agent-inspect';
const SOURCE = path.join(env.repo, 'tests', 'inspect', 'inspect_target.c');
const FIXTURE = path.join(env.repo, 'tests', 'browser', 'fixtures', 'devtools-agent-attach.json');
const NODE_FIXTURE = path.join(env.repo, 'tests', 'browser', 'fixtures', 'devtools-node-inspection.json');
const RECORDS = 3;
const RECORD_SIZE = 32;
const MAGIC = 0x1122334455667788n;
const SCRATCH_SIZE = 4096;
const SAMPLING_SCRATCH = 512; // 2 MiB: ~128 samples at DevTools' 16 KiB mean interval
const TIMELINE_SCRATCH = 8;
/* Steps whose requests must be node's (fixtures/devtools-node-inspection.json): same action, same target state. */
const SAME_AS_NODE = ['select', 'hover', 'hover-expand', 'hover-hide', 'store-global', 'collect-garbage'];

const hex = (v) => `0x${BigInt(v).toString(16)}`;
/* How the agent describes a word that is no pointer to a block: decimal below 2^32, else hex. */
const word = (v) => (BigInt(v) < 2n ** 32n ? String(BigInt(v)) : hex(v));
/* The 8 bytes of a record's name ("rec-0" and NULs) as one little-endian word. */
const nameWord = (i) => {
  const b = Buffer.alloc(8);
  b.write(`rec-${i}`);
  return word(b.readBigUInt64LE());
};

/*
 * How node answered each attach method (fixtures/devtools-node-inspection.json,
 * recorded with this Chromium, and the golden session of an older frontend):
 * method -> 'result' or the error code.
 */
function nodeAttachAnswers() {
  const out = new Map();
  const golden = env.golden('devtools-frontend-memory-panel-summary.txt');
  if (fs.existsSync(golden)) {
    for (const line of fs.readFileSync(golden, 'utf8').split('\n')) {
      const m = /^c1 (\S+) .* => (ok|ERR (-?\d+))/.exec(line);
      if (!m || m[1] === 'HeapProfiler.takeHeapSnapshot') break; // the attach ends where the first action starts
      out.set(m[1], m[2] === 'ok' ? 'result' : Number(m[3]));
    }
  }
  const reference = JSON.parse(fs.readFileSync(NODE_FIXTURE, 'utf8'));
  for (const r of reference.steps.attach.requests) out.set(r.method, r.reply?.error ? r.reply.error.code : 'result');
  return out;
}

const answerOf = (pair) => (!pair.reply ? 'no reply' : pair.reply.error ? pair.reply.error.code : 'result');

test('heapscope agent: object inspection in DevTools (attach, popover, $0, Store as global variable, console, Reveal in summary view, Collect garbage, sampling, timeline)', { timeout: 85000 }, async (t) => {
  fs.rmSync(artifactPath(`${SHOT}-failed.png`), { force: true });
  const started = Date.now();
  const timings = {};
  const site = sourceSites(SOURCE, ['make_record', 'make_scratch']);
  const program = await startProgram({ kind: 'agent', target: env.inspectTarget });
  let browser = null;
  t.after(async () => {
    await browser?.close();
    await program.kill();
  });
  const a = (await program.command('addrs', env.actionMs, /^addrs /)).split(' ');
  const addrs = { head: hex(a[1]), rec1: hex(a[2]) };
  const headDescription = `${site.make_record} @ ${addrs.head} (${RECORD_SIZE} bytes)`;
  const rec1Description = `${site.make_record} @ ${addrs.rec1} (${RECORD_SIZE} bytes)`;

  browser = await launchChromium();
  // On the context before DevTools opens, so that the attach is recorded too.
  const traffic = recordTraffic(browser.context, program.ws);
  traffic.step('attach');
  const dt = await openMemoryPanel(browser, { ws: program.ws });
  const page = dt.page;
  const snaps = new HeapSnapshots(dt);
  const lap = (name) => {
    timings[name] = Date.now() - started;
  };
  const shot = (name) => dt.screenshot(`${SHOT}-${name}`);
  try {
    // ---- attach ----
    // HeapProfiler.enable is the last of the attach requests (the node
    // recording's order); then every request of the step must be answered.
    await traffic.reply('HeapProfiler.enable');
    const context = await contextCreated(traffic);
    const attach = await traffic
      .until(() => (traffic.pairs('attach').every((r) => r.reply) ? traffic.pairs('attach') : undefined), env.actionMs, 'answers to every attach request')
      .catch((e) => {
        const missing = traffic.pairs('attach').filter((r) => !r.reply);
        e.message += `: the agent never answered ${missing.map((r) => `${r.method} ${JSON.stringify(r.params)}`).join(', ')}`;
        throw e;
      });
    traffic.step('snapshot');
    lap('attach');
    await shot('attach');
    const ctx = context.params.context;
    assert.ok(ctx.id > 0 && ctx.uniqueId && ctx.auxData?.isDefault, `Runtime.executionContextCreated ${JSON.stringify(context.params)}`);
    const answers = new Map();
    for (const r of attach) if (!answers.has(r.method)) answers.set(r.method, answerOf(r));
    // The methods, and whether each got a result or which error, against the committed fixture.
    const attachMethods = [...new Set(attach.map((r) => r.method).filter((m) => !POLLED.includes(m)))];
    const recorded = {
      recorded: { by: 'tests/browser/test/devtools-agent-inspect.test.mjs', chromium: chromiumVersion(), target: 'tests/inspect/inspect_target.c under libheapscope.so' },
      note: 'What DevTools sends when it attaches to the agent (a `node` target), and how the agent answered: `answers` is checked by the test (a result, or the error code), `node` is what node 20 answers (not compared), `attach` is the recorded traffic (Runtime.getHeapUsage is polled and left out of `answers`).',
      answers: Object.fromEntries(attachMethods.map((m) => [m, answers.get(m)])),
      node: Object.fromEntries(attachMethods.map((m) => [m, nodeAttachAnswers().get(m) ?? 'never sent'])),
      attach: traffic.fixture().attach,
    };
    fs.writeFileSync(artifactPath(`${SHOT}-attach.json`), `${JSON.stringify(recorded, null, 1)}\n`);
    if (process.env.HS_UPDATE_FIXTURES === '1') {
      fs.mkdirSync(path.dirname(FIXTURE), { recursive: true });
      fs.writeFileSync(FIXTURE, `${JSON.stringify(recorded, null, 1)}\n`);
    } else {
      const fixture = JSON.parse(fs.readFileSync(FIXTURE, 'utf8'));
      const known = Object.keys(fixture.answers);
      const added = attachMethods.filter((m) => !known.includes(m));
      const gone = known.filter((m) => !attachMethods.includes(m));
      assert.deepEqual(
        { added, gone },
        { added: [], gone: [] },
        `DevTools' attach no longer matches ${path.basename(FIXTURE)}: it now sends ${JSON.stringify(added)} (new: give each the answer node gives, then HS_UPDATE_FIXTURES=1) and no longer sends ${JSON.stringify(gone)}`
      );
      const changed = attachMethods.filter((m) => fixture.answers[m] !== answers.get(m)).map((m) => `${m}: ${JSON.stringify(answers.get(m))} (fixture: ${JSON.stringify(fixture.answers[m])})`);
      assert.deepEqual(changed, [], `attach methods answered otherwise than ${path.basename(FIXTURE)} says`);
    }

    // What node 20 answers with a result must not be an error here; node's -32601s may stay -32601.
    const nodeAnswers = nodeAttachAnswers();
    const wrong = [];
    for (const r of attach) {
      const node = nodeAnswers.get(r.method);
      const mine = answerOf(r);
      if (mine === 'result') continue;
      if (mine === -32601 && node === -32601) continue;
      wrong.push(`${r.method} ${JSON.stringify(r.params)} -> ${JSON.stringify(r.reply)} (node: ${node === undefined ? 'never sent it' : node === 'result' ? 'a result' : `error ${node}`})`);
    }
    assert.deepEqual(wrong, [], 'attach requests the agent answers with an error where node 20 does not');

    // ---- a heap snapshot: the records' class ----
    await snaps.take();
    await snaps.setPerspective('Summary');
    await snaps.filterByClass('make_record');
    const { row: cls, rows: classRows } = await snaps.classRow(site.make_record);
    assert.ok(cls, `the Summary has no class ${site.make_record}:\n${describeRows(classRows)}`);
    assert.equal(cls.count, RECORDS, `the records' class row: ${describeRows([cls])}`);
    const instances = await snaps.expandClass(site.make_record, RECORDS);
    assert.equal(instances.length, RECORDS, `the records:\n${describeRows(instances)}`);
    for (const r of instances) assert.equal(r.exact['Shallow size'], `${RECORD_SIZE} B`, describeRows([r]));
    await shot('summary');
    lap('snapshot');
    const row = (r) => snapshotRow(page, r.id);

    // Which row is which record: each row's popover says the block's address.
    traffic.step('identify');
    const described = {};
    for (const r of instances) {
      if (Object.values(described).includes(headDescription) && Object.values(described).includes(rec1Description)) break;
      await hoverName(row(r));
      const obj = ok(await traffic.reply('HeapProfiler.getObjectByHeapObjectId', { match: (p) => p.objectGroup === 'popover' && p.objectId === String(r.id) }));
      described[r.id] = obj.result.description;
      await page.locator(`${POPOVER} .object-popover-title`).filter({ hasText: obj.result.description }).waitFor();
      await hidePopover(page, snaps);
    }
    const head = instances.find((r) => described[r.id] === headDescription);
    const other = instances.find((r) => described[r.id] === rec1Description);
    assert.ok(head && other, `the records' rows by the addresses "addrs" printed (${addrs.head}, ${addrs.rec1}): ${JSON.stringify(described)}`);

    // ---- select: $0 ----
    traffic.step('select');
    await snaps.selectRow(head);
    assert.deepEqual(ok(await traffic.reply('HeapProfiler.addInspectedHeapObject', { match: (p) => p.heapObjectId === String(head.id) })), {});

    // ---- hover: the popover with the slots ----
    traffic.step('hover');
    await hoverName(row(head));
    const got = ok(await traffic.reply('HeapProfiler.getObjectByHeapObjectId', { match: (p) => p.objectGroup === 'popover' && p.objectId === String(head.id) }));
    assert.equal(got.result.description, headDescription, 'the block the row stands for, by the address the program printed');
    await popoverLine(page, /^24\s*:/).waitFor();
    const title = await popoverTitle(page);
    assert.equal(title, headDescription, 'the popover title');
    const top = await popoverTree(page);
    const topLines = lines(top);
    const expected = [`0: ${rec1Description}`, `8: ${hex(MAGIC)}`, `16: ${nameWord(0)}`, '24: 0', `[[address]]: "${addrs.head}"`, `[[size]]: ${RECORD_SIZE}`, `[[site]]: "${site.make_record}"`];
    for (const l of expected) assert.ok(topLines.includes(l), `the popover's lines ${JSON.stringify(topLines, null, 1)} lack ${JSON.stringify(l)}`);
    const slotNames = topLines.map((l) => l.split(':')[0]).filter((n) => /^\d+$/.test(n));
    assert.deepEqual(slotNames, ['0', '8', '16', '24'], 'the slots, by byte offset, in order');
    await shot('popover');

    // ---- expand slot 0 in the popover: the next record ----
    traffic.step('hover-expand');
    const slot0 = traffic.pairs('hover').find((r) => r.method === 'Runtime.getProperties' && r.params.ownProperties)?.reply?.result?.result?.find((p) => p.name === '0')?.value;
    assert.ok(slot0?.objectId, `slot 0 has an objectId: ${JSON.stringify(slot0)}`);
    await popoverLine(page, /^0\s*:/).first().click();
    ok(await traffic.reply('Runtime.getProperties', { match: (p) => p.objectId === slot0.objectId && p.ownProperties }));
    await popoverLine(page, `${hex(MAGIC + 1n)}`).waitFor();
    const expandedTree = await popoverTree(page);
    const under = expandedTree.find((n) => n.line.startsWith('0: '))?.children || [];
    const underLines = lines(under);
    for (const l of [`8: ${hex(MAGIC + 1n)}`, `16: ${nameWord(1)}`, '24: 0', `[[address]]: "${addrs.rec1}"`]) {
      assert.ok(underLines.includes(l), `the lines under slot 0 ${JSON.stringify(underLines, null, 1)} lack ${JSON.stringify(l)} (whole popover: ${JSON.stringify(expandedTree, null, 1)})`);
    }
    assert.ok(underLines.some((l) => new RegExp(`^0: ${site.make_record} @ 0x[0-9a-f]+ \\(${RECORD_SIZE} bytes\\)$`).test(l)), `rec1's slot 0 points to rec2: ${JSON.stringify(underLines)}`);
    await shot('popover-expanded');

    // Moving away hides it and releases its object group.
    traffic.step('hover-hide');
    await hidePopover(page, snaps);
    ok(await traffic.reply('Runtime.releaseObjectGroup', { match: (p) => p.objectGroup === 'popover' }));
    lap('popover');

    // ---- Store as global variable (right-click beside the name: over it a popover would start) ----
    traffic.step('store-global');
    await contextMenu(page, row(head).locator('td').first(), 'Store as global variable', { x: 0.75 });
    const saved = ok(await traffic.reply('Runtime.callFunctionOn'));
    assert.deepEqual(saved.result, { type: 'string', value: 'temp1' });
    const temp1 = ok(await traffic.reply('Runtime.evaluate', { match: (p) => p.expression === 'temp1' && p.objectGroup === 'console' }));
    assert.equal(temp1.result.description, headDescription);
    // The command DevTools ran for it, then its result.
    const command = page.locator('.console-user-command').first();
    await command.waitFor();
    assert.equal((await command.innerText()).trim(), 'temp1');
    assert.equal((await consoleMessage(page, new RegExp(`^${escapeRe(headDescription)}$`))).text, headDescription);
    await shot('stored');

    // ---- the console ----
    const enter = async (step, expression) => {
      traffic.step(step);
      await typeInConsole(page, expression);
      return traffic.reply('Runtime.evaluate', { match: (p) => p.objectGroup === 'console' && p.expression === expression });
    };
    const magic = await enter('console-magic', '*(temp1 + 8)');
    assert.deepEqual([ok(magic).result.type, ok(magic).result.description], ['number', hex(MAGIC)], '*(temp1 + 8)');
    assert.equal(magic.params.uniqueContextId, ctx.uniqueId);
    await consoleMessage(page, new RegExp(`^${hex(MAGIC)}$`));

    assert.equal(ok(await enter('console-$0', '$0')).result.description, headDescription, '$0 is the selected record');
    await consoleMessage(page, new RegExp(`^${escapeRe(headDescription)}$`), 1);

    const bad = await enter('console-error', 'g_head %');
    const badResult = ok(bad);
    assert.equal(badResult.exceptionDetails?.exception?.description, "SyntaxError: Unexpected token '%'", JSON.stringify(badResult));
    await consoleMessage(page, /^Uncaught SyntaxError: Unexpected token '%'$/);
    // …and the console still works.
    assert.deepEqual(ok(await enter('console-after-error', 'g_counter')).result, { type: 'number', value: 42, description: '42' });
    await consoleMessage(page, /^42$/);
    await shot('console');
    lap('console');

    // ---- Reveal in summary view from the console's temp1, with another row selected and another filter ----
    traffic.step('reveal-prepare');
    await snaps.selectRow(other);
    await snaps.filterByClass('make_scratch');
    await snaps.rows((rs) => !rs.some((r) => r.name === site.make_record));
    traffic.step('reveal-from-console');
    await contextMenu(page, (await consoleMessage(page, new RegExp(`^${escapeRe(headDescription)}$`))).handle, 'Reveal in summary view');
    assert.equal(ok(await traffic.reply('HeapProfiler.getHeapObjectId')).heapSnapshotObjectId, String(head.id));
    // Selecting the revealed row makes it $0 again.
    ok(await traffic.reply('HeapProfiler.addInspectedHeapObject', { match: (p) => p.heapObjectId === String(head.id) }));
    const revealed = await snaps.rows((rs) => selectedRow(rs)?.id === head.id);
    assert.equal(selectedRow(revealed)?.id, head.id, `the selected row after revealing temp1:\n${describeRows(revealed)}`);
    await shot('revealed');
    lap('reveal');

    // ---- Collect garbage ----
    traffic.step('collect-garbage');
    await page.getByRole('button', { name: 'Collect garbage' }).click();
    assert.deepEqual(ok(await traffic.reply('HeapProfiler.collectGarbage')), {});
    await page.getByText('Garbage collection completed', { exact: true }).waitFor();
    await shot('collect-garbage');

    // ---- Allocation sampling around `scratch 512` ----
    traffic.step('sampling');
    await page.getByRole('treeitem', { name: 'Profiles', exact: true }).click();
    await dt.selectProfileType('Allocation sampling');
    await dt.start();
    await program.command(`scratch ${SAMPLING_SCRATCH}`);
    const sampled = await dt.stop();
    assert.ok(sampled?.profile?.head, `stopSampling's answer: ${JSON.stringify(sampled).slice(0, 300)}`);
    fs.writeFileSync(artifactPath(`${SHOT}.heapprofile`), JSON.stringify(sampled.profile));
    await dt.setViewMode('Heavy (bottom up)');
    const topOf = (rs) => rs.filter((r) => r.indent === Math.min(...rs.map((x) => x.indent)));
    const heavy = await dt.rowsUntil((rs) => topOf(rs).some((r) => r.name === 'make_scratch'));
    const scratchRow = topOf(heavy).find((r) => r.name === 'make_scratch');
    assert.ok(scratchRow && scratchRow.self > 0 && /inspect_target\.c:\d+$/.test(scratchRow.url), `Heavy (bottom up): make_scratch allocated ${SAMPLING_SCRATCH} × ${SCRATCH_SIZE} bytes:\n${heavy.map((r) => `${r.name} self=${r.self} ${r.url}`).join('\n')}`);
    await shot('sampling-heavy');
    await dt.setViewMode('Tree (top down)');
    await dt.expandAll();
    const tree = await dt.rows();
    const i = tree.findIndex((r) => r.name === 'make_scratch');
    const parent = tree
      .slice(0, Math.max(i, 0))
      .reverse()
      .find((r) => r.indent < tree[i]?.indent);
    assert.equal(parent?.name, 'scratch_round', `Tree (top down): make_scratch under scratch_round:\n${tree.map((r) => `${' '.repeat(r.indent / 4)}${r.name}`).join('\n')}`);
    await shot('sampling-tree');
    lap('sampling');

    // ---- Allocations on timeline around `scratch 8` ----
    traffic.step('timeline');
    const tl = new Timeline(dt);
    const rec = await tl.record(program, { stacks: false, phases: [{ name: 'scratch', commands: [`scratch ${TIMELINE_SCRATCH}`] }] });
    assert.deepEqual(rec.phases[0].answers, [`ok scratch ${TIMELINE_SCRATCH}`]);
    ok(traffic.pairs('timeline').find((r) => r.method === 'HeapProfiler.stopTrackingHeapObjects'));
    await snaps.setPerspective('Summary');
    await snaps.filterByClass('inspect_target.c');
    const tlRows = await snaps.rows((rs) => rs.some((r) => r.kind === 'class' && r.name === site.make_scratch));
    const counts = Object.fromEntries(tlRows.filter((r) => r.kind === 'class').map((r) => [r.name, r.count]));
    assert.equal(counts[site.make_scratch], TIMELINE_SCRATCH, `the timeline's snapshot, filtered by inspect_target.c:\n${describeRows(tlRows)}`);
    assert.equal(counts[site.make_record], RECORDS, `the timeline's snapshot, filtered by inspect_target.c:\n${describeRows(tlRows)}`);
    const scratchClass = tlRows.find((r) => r.kind === 'class' && r.name === site.make_scratch);
    assert.equal(scratchClass.exact['Shallow size'], `${((TIMELINE_SCRATCH * SCRATCH_SIZE) / 1000).toFixed(1)} kB`, `make_scratch's ${TIMELINE_SCRATCH} blocks of ${SCRATCH_SIZE} bytes: ${describeRows([scratchClass])}`);
    await shot('timeline');
    lap('timeline');
    traffic.step('end');

    // ---- DevTools itself ----
    // Every request of the run was answered, and with a result but for node's -32601s.
    const unanswered = traffic.pairs().filter((r) => !r.reply && r.step !== 'end');
    assert.deepEqual(unanswered.map((r) => `[${r.step}] ${r.method}`), [], 'requests the agent never answered');
    const nodeFails = new Set([...nodeAttachAnswers()].filter(([, v]) => v !== 'result').map(([m]) => m));
    const errors = traffic.pairs().filter((r) => r.reply?.error && !(r.reply.error.code === -32601 && nodeFails.has(r.method)));
    assert.deepEqual(
      errors.map((r) => `[${r.step}] ${r.method} ${JSON.stringify(r.params)} -> ${JSON.stringify(r.reply.error)}`),
      [],
      'requests of the run the agent answered with an error'
    );
    // The UI actions node's twin records send the same requests here: DevTools
    // treats the agent's answers as it treats node's.
    const reference = JSON.parse(fs.readFileSync(NODE_FIXTURE, 'utf8'));
    for (const st of SAME_AS_NODE) assert.deepEqual(traffic.sequence(st), reference.steps[st]?.sequence, `step ${st}: this run's methods (left) against node's in ${path.basename(NODE_FIXTURE)}`);
    const steps = traffic.fixture();
    fs.writeFileSync(artifactPath(`${SHOT}-traffic.json`), `${JSON.stringify({ recorded: recorded.recorded, timings, steps }, null, 1)}\n`);
    // DevTools' own console: errors only for requests node fails too (and
    // the page's favicon, which Chromium's DevTools server does not serve).
    const ownErrors = dt.log.errors
      .filter((e) => {
        const m = /^Request (\S+) failed\b/.exec(e.text);
        if (m && nodeFails.has(m[1])) return false;
        return !(/^Failed to load resource\b/.test(e.text) && e.url === `http://127.0.0.1:${browser.devtoolsPort}/favicon.ico`);
      })
      .map((e) => `${e.text} (${e.url})`);
    assert.deepEqual(ownErrors, [], "errors in DevTools' own console other than node's -32601s");
    assert.deepEqual(dt.uncaught(), [], 'uncaught errors in DevTools');
    lap('total');
    t.diagnostic(`timings (ms since start): ${JSON.stringify(timings)}`);
  } catch (e) {
    await dt.screenshot(`${SHOT}-failed`).catch(() => {});
    const shown = await consoleTexts(page);
    const last = lastRequests(traffic, { replyChars: 300 });
    throw new Error(
      `${e.message}\n--- DevTools' Console panel ---\n${shown.join('\n')}\n--- DevTools' own console ---\n${dt.log.tail()}\n--- last requests ---\n${last.join('\n')}\n--- agent stderr ---\n${program.stderr.slice(-2000)}`,
      { cause: e }
    );
  } finally {
    await dt.close();
  }
});

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
