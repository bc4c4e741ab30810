// DevTools' "Allocations on timeline" (the old "Allocation instrumentation
// on timeline"): record while a program allocates in phases, then read the
// profile back as a user sees it, and one scenario shared by the node and
// agent tests.
//
//   const tl = new Timeline(dt);
//   const rec = await tl.record(program, { stacks: true, phases: PHASES });
//   const ov = await tl.overview();            // the overview's samples and drawn bars
//   await tl.selectPhase(rec.phases[0]);       // a mouse drag over that phase on the overview
//   const rows = await tl.allocationRows();    // the Allocation perspective's grid
//   await tl.save(file);                       // the Save button, as a download
//
// Timing without sleeping: the target sends lastSeenObjectId once per tick
// (about every 50 ms); sample k of DevTools' overview is the k-th of the
// recording, and fragment k holds the objects allocated between ticks k-1
// and k. A phase is one or more stdin commands; the tick last received
// before its first command and the one last received when its last answer
// came bound it, and QUIET_TICKS ticks with nothing asked of the program
// separate phases. A selection starts and ends in the middle of those quiet
// stretches, so it holds the whole phase and nothing of its neighbours even
// if a tick was still in flight when a command was sent or answered.
//
// What is read from the page:
// - the overview widget (HeapTimelineOverview, the element #heap-recording-view)
//   through the frontend's own UI.Widget.Widget.get(): its profileSamples
//   (ids, timestamps, sizes: what DevTools made of heapStatsUpdate and
//   lastSeenObjectId, or of a loaded file's samples) and its canvas, whose
//   pixels in the live-size colour (--sys-color-primary-bright) are the bars;
// - the range DevTools derives from a drag (its IdsRangeChanged event:
//   minId, maxId, size), the Summary's rows and its "N objects (size)" text;
// - the Allocation perspective's grid: Live count, Count, Live size, Size, Function.

import assert from 'node:assert/strict';
import { env, artifactPath } from './env.mjs';
import { memoryPanelOn } from './session.mjs';
import { HeapSnapshots, describeRows } from './snapshot.mjs';

const TICK = 'HeapProfiler.lastSeenObjectId';
const OVERVIEW = '#heap-recording-view:visible';
const ROW = 'tr.data-grid-data-grid-node';
export const QUIET_TICKS = 10;

export class Timeline {
  constructor(dt) {
    this.dt = dt;
    this.page = dt.page;
    this.snaps = new HeapSnapshots(dt);
    this.base = 0;
    this.scanned = 0;
    this.received = 0;
  }

  /* lastSeenObjectId events received in this recording (counted as the page's WebSocket brings them). */
  ticks() {
    const events = this.dt.cdp.events;
    for (; this.scanned < events.length; this.scanned++) if (events[this.scanned] === TICK) this.received++;
    return this.received - this.base;
  }

  /* Waits until the recording has had at least n ticks. */
  untilTicks(n, what) {
    return this.dt.cdp.until(() => (this.ticks() >= n ? true : undefined), env.actionMs, `${n} lastSeenObjectId events (${what})`);
  }

  /*
   * Chooses "Allocations on timeline", sets "Allocation stack traces (more
   * overhead)" to `stacks`, starts (the target's startTrackingHeapObjects
   * answer is awaited and must carry trackAllocations: stacks), runs the
   * phases ({name, commands}: one command per tick when there are several)
   * with QUIET_TICKS quiet ticks before, between and after them, and stops
   * (the stopTrackingHeapObjects answer and the snapshot's rows awaited).
   * Returns {stacks, ticks, phases: [{name, answers, first, last}]}: first
   * and last are tick indices (0-based), see above.
   */
  async record(program, { stacks, phases }) {
    // The launcher (type radios, the checkbox, Start) is under the sidebar's "Profiles" once a profile is shown.
    await this.page.getByRole('treeitem', { name: 'Profiles', exact: true }).click();
    await this.dt.selectProfileType('Allocations on timeline');
    await this.page.getByRole('checkbox', { name: 'Allocation stack traces (more overhead)' }).setChecked(stacks);
    this.ticks();
    this.base = this.received;
    await this.dt.start();
    const sent = this.dt.cdp.sent.filter((r) => r.method === 'HeapProfiler.startTrackingHeapObjects').at(-1);
    assert.equal(sent.params?.trackAllocations, stacks, `DevTools sent startTrackingHeapObjects(${JSON.stringify(sent.params)}) with the checkbox ${stacks ? 'on' : 'off'}`);
    await this.untilTicks(QUIET_TICKS, 'before the first phase');
    const done = [];
    for (const phase of phases) {
      const first = this.ticks() - 1;
      const answers = [];
      for (const [i, cmd] of phase.commands.entries()) {
        if (i > 0) await this.untilTicks(this.ticks() + 1, `between the commands of ${phase.name}`);
        answers.push(await program.command(cmd));
      }
      const last = this.ticks() - 1;
      done.push({ name: phase.name, answers, first, last });
      await this.untilTicks(last + 1 + QUIET_TICKS, `quiet after ${phase.name}`);
    }
    await this.dt.stop();
    return { stacks, ticks: this.ticks(), phases: done };
  }

  /*
   * The shown profile's overview: {ids, timestamps (ms, from the first
   * sample), sizes, totalTime, grid: {x, y, width, height} of the element a
   * drag selects on, bars: canvas x (CSS px) of every column with pixels in
   * the live-size colour}.
   */
  async overview() {
    const ov = await this.page.locator(OVERVIEW).evaluate(async (el) => {
      const UI = await import('/devtools/ui/legacy/legacy.js');
      const w = UI.Widget.Widget.get(el);
      if (!w || !w.profileSamples || !w.overviewCanvas) return { error: `no HeapTimelineOverview widget on #${el.id} (${w && w.constructor.name})` };
      const s = w.profileSamples;
      const grid = w.overviewGrid.element;
      const r = grid.getBoundingClientRect();
      // The colour DevTools strokes the live sizes with, as canvas pixels.
      const probe = document.createElement('canvas').getContext('2d');
      probe.fillStyle = getComputedStyle(document.documentElement).getPropertyValue('--sys-color-primary-bright').trim();
      probe.fillRect(0, 0, 1, 1);
      const [cr, cg, cb] = probe.getImageData(0, 0, 1, 1).data;
      // Read from a copy: reading DevTools' own canvas back makes it warn in its console.
      const canvas = document.createElement('canvas');
      canvas.width = w.overviewCanvas.width;
      canvas.height = w.overviewCanvas.height;
      const bars = [];
      if (canvas.width && canvas.height) {
        const copy = canvas.getContext('2d', { willReadFrequently: true });
        copy.drawImage(w.overviewCanvas, 0, 0);
        const img = copy.getImageData(0, 0, canvas.width, canvas.height).data;
        for (let x = 0; x < canvas.width; x++) {
          let n = 0;
          for (let y = 0; y < canvas.height; y++) {
            const o = (y * canvas.width + x) * 4;
            if (img[o + 3] > 200 && Math.abs(img[o] - cr) + Math.abs(img[o + 1] - cg) + Math.abs(img[o + 2] - cb) < 60) n++;
          }
          if (n >= 2) bars.push(x / devicePixelRatio);
        }
      }
      const t0 = s.timestamps[0];
      return {
        ids: [...s.ids],
        timestamps: s.timestamps.map((t) => t - t0),
        sizes: [...s.sizes],
        totalTime: s.totalTime,
        grid: { x: r.x, y: r.y, width: grid.clientWidth, height: r.height },
        bars,
        colour: [cr, cg, cb],
      };
    });
    if (ov.error) throw new Error(ov.error);
    return ov;
  }

  /* Canvas x (CSS px) of a time on the overview (ms from the first sample), as DevTools draws it. */
  static xOf(ov, ms) {
    return (ms / ov.totalTime) * ov.grid.width;
  }

  /*
   * Drags the mouse over the overview from one time to another (ms from the
   * first sample) and resolves with the range DevTools derived from it (its
   * IdsRangeChanged event: {minId, maxId, size}).
   */
  async selectTimes(fromMs, toMs) {
    const ov = await this.overview();
    const overview = this.page.locator(OVERVIEW);
    await overview.evaluate(async (el) => {
      const UI = await import('/devtools/ui/legacy/legacy.js');
      const w = UI.Widget.Widget.get(el);
      el.hsRange = null;
      w.addEventListener('IdsRangeChanged', (e) => (el.hsRange = e.data));
    });
    // Below the dividers' label bar, which drags the window instead of selecting.
    const y = ov.grid.y + ov.grid.height * 0.75;
    const x1 = ov.grid.x + Timeline.xOf(ov, fromMs);
    const x2 = ov.grid.x + Timeline.xOf(ov, toMs);
    await this.page.mouse.move(x1, y);
    await this.page.mouse.down();
    await this.page.mouse.move(x2, y, { steps: 4 });
    await this.page.mouse.up();
    const handle = await overview.elementHandle();
    const range = await this.page.waitForFunction((el) => el.hsRange, handle, { timeout: env.actionMs });
    return range.jsonValue();
  }

  /*
   * Selects a phase of rec on the shown profile's overview: from the middle
   * of the quiet ticks before it to the middle of those after it. Returns
   * DevTools' range and the sample indices the drag started and ended between.
   */
  async selectPhase(phase) {
    const ov = await this.overview();
    const half = QUIET_TICKS / 2;
    const from = phase.first - half;
    const to = phase.last + half;
    if (from < 1 || to + 1 >= ov.timestamps.length) {
      throw new Error(`phase ${phase.name} (ticks ${phase.first}..${phase.last}) lies outside the overview's ${ov.timestamps.length} samples`);
    }
    const mid = (k) => (ov.timestamps[k] + ov.timestamps[k + 1]) / 2;
    const range = await this.selectTimes(mid(from - 1), mid(to));
    return { ...range, from, to };
  }

  /* The Summary's "N objects (size)" text as {count, text}, once pred(count) holds (the last read either way). */
  async objectCount(pred = () => true) {
    const parse = (text) => Number(text.replace(/ objects.*$/, '').replace(/[^\d]/g, ''));
    const text = await this.snaps.status((s) => pred(parse(s)));
    return { count: parse(text), text };
  }

  /*
   * The Allocation perspective's rows: {name (the function), url, indent,
   * live, count (numbers), liveSize, size (as shown)}, read until pred holds.
   */
  async allocationRows(pred = (rows) => rows.length > 0) {
    const headers = async () =>
      this.page
        .locator(`${ROW}:visible`)
        .first()
        .evaluate((tr) => [...tr.closest('table').querySelectorAll('thead th')].map((th) => th.innerText.replace(/\s+/g, ' ').trim()));
    const read = async () => {
      const names = await headers();
      const col = (name) => names.findIndex((h) => h.toLowerCase() === name);
      const num = (s) => Number(String(s).replace(/[^\d]/g, ''));
      return (await this.dt.rows()).map((r) => ({
        name: r.name,
        url: r.url,
        indent: r.indent,
        live: num(r.texts[col('live count')]),
        count: num(r.texts[col('count')]),
        liveSize: r.texts[col('live size')],
        size: r.texts[col('size')],
      }));
    };
    let rows = await read();
    for (const deadline = Date.now() + 10000; !pred(rows) && Date.now() < deadline; ) {
      await this.page.waitForTimeout(50);
      rows = await read();
    }
    return rows;
  }

  /* Clicks the toolbar's Save button and stores the download (the frontend's own serialisation) as file. */
  async save(file) {
    const download = this.page.waitForEvent('download', { timeout: env.actionMs });
    await this.page.getByRole('button', { name: /^Save profile/ }).click();
    const d = await download;
    await d.saveAs(file);
    return d.suggestedFilename();
  }

  async screenshotOverview(name) {
    const file = artifactPath(`${name}.png`);
    await this.page.locator(OVERVIEW).screenshot({ path: file });
    return file;
  }
}

/* The phases both targets run: two kept bursts, a freed burst and a trickle, one command a tick. */
export const PHASES = [
  { name: 'keep1', kind: 'keep', n: 400, commands: ['keep 400'] },
  { name: 'churn', kind: 'churn', n: 3000, commands: ['churn 3000'] },
  { name: 'trickle', kind: 'trickle', n: 60, commands: Array(6).fill('trickle 10') },
  { name: 'keep2', kind: 'keep', n: 150, commands: ['keep 150'] },
];
const total = (kind) => PHASES.filter((p) => p.kind === kind).reduce((a, p) => a + p.n, 0);

function matches(m, name) {
  return m instanceof RegExp ? m.test(name) : m === name;
}

/* The summed count of the class rows whose name matches m (a string or RegExp). */
function classCount(rows, m) {
  return rows.filter((r) => r.kind === 'class' && matches(m, r.name)).reduce((a, r) => a + r.count, 0);
}

/*
 * The scenario. names: {filter (typed into "Filter by class"), classes:
 * {keep, churn, trickle} (a class row's name or RegExp), functions: {keep,
 * churn, trickle}}. exact: the program allocates nothing but what it is
 * told (the agent's C target), so the overview's sizes (bytes: {keep,
 * trickle}), a selection's object count and the Allocation view's counts
 * must be exactly the phases'; otherwise (node) the checks are relations.
 *
 * 1. Recording without stacks: DevTools built one sample per tick; the
 *    kept bursts and the trickle have sizes in their fragments and bars on
 *    the canvas; the Summary shows every kept and trickled object and none
 *    of the freed burst; no Allocation perspective; a drag over keep1 shows
 *    its objects only (the count drops to keep1's), one over the trickle
 *    the trickle's.
 * 2. Recording with stacks: the same, plus the Allocation perspective lists
 *    the three functions (kept ones live, freed ones not); saved with the
 *    Save button and loaded back with the Load button: the same Summary
 *    counts and total, and a drag over keep1 of the loaded file again shows
 *    keep1's objects.
 */
export async function runTimelineInDevTools(t, { kind, target, screenshot: shot, names, exact, bytes }) {
  const { program, dt } = await memoryPanelOn(t, { kind, target, screenshot: shot });
  const tl = new Timeline(dt);
  const context = () => `\n--- DevTools console ---\n${dt.log.tail()}\n--- ${program.label} stderr ---\n${program.stderr.slice(-2000)}`;
  const { classes, functions } = names;
  const summaryOf = (rows) => ({ keep: classCount(rows, classes.keep), churn: classCount(rows, classes.churn), trickle: classCount(rows, classes.trickle) });

  /* The Summary's All objects filtered by names.filter, once it shows at least `keep` kept objects. */
  async function summary(keep) {
    await tl.snaps.setPerspective('Summary');
    await tl.snaps.filterByClass(names.filter);
    const rows = await tl.snaps.rows((rs) => classCount(rs, classes.keep) >= keep);
    return { rows, counts: summaryOf(rows), objects: await tl.objectCount() };
  }

  /* Drags over a phase; the Summary then shows only what was allocated in it. */
  async function select(rec, name, expect, allObjects, label) {
    const phase = rec.phases.find((p) => p.name === name);
    const range = await tl.selectPhase(phase);
    const want = { keep: 0, churn: 0, trickle: 0, ...expect };
    const rows = await tl.snaps.rows((rs) => JSON.stringify(summaryOf(rs)) === JSON.stringify(want));
    const objects = await tl.objectCount((n) => n < allObjects.count);
    await dt.screenshot(`${shot}-${label}`);
    const where = `a drag over ${name} (between samples ${range.from} and ${range.to + 1}: ids ${range.minId}..${range.maxId}, ${range.size} bytes) on ${label}`;
    assert.deepEqual(summaryOf(rows), want, `the Summary after ${where}:\n${describeRows(rows)}${context()}`);
    assert.ok(objects.count < allObjects.count, `the object count should drop after ${where}: "${objects.text}" vs "${allObjects.text}"`);
    if (exact) {
      const n = Object.values(want).reduce((a, b) => a + b, 0);
      assert.equal(objects.count, n, `after ${where} the Summary's total should be the phase's objects only: "${objects.text}"`);
    }
    return range;
  }

  /* The overview of the shown profile: samples, sizes per phase, bars. */
  async function checkOverview(rec, label, liveIds) {
    const ov = await tl.overview();
    await tl.screenshotOverview(`${shot}-${label}-overview`);
    const show = `ids ${JSON.stringify(ov.ids)}\nsizes ${JSON.stringify(ov.sizes)}\ntimes ${JSON.stringify(ov.timestamps.map(Math.round))}`;
    if (liveIds) {
      assert.deepEqual(ov.ids, liveIds, `the loaded file's samples (last_assigned_id) should be the recording's lastSeenObjectId values:\n${show}`);
    } else {
      assert.equal(ov.ids.length, rec.ticks, `DevTools' overview should have one sample per lastSeenObjectId (${rec.ticks}):\n${show}`);
    }
    for (let k = 1; k < ov.ids.length; k++) {
      assert.ok(ov.ids[k] >= ov.ids[k - 1] && ov.timestamps[k] > ov.timestamps[k - 1], `samples ${k - 1} and ${k} go backwards:\n${show}`);
    }
    const sizeIn = (p) => ov.sizes.slice(p.first + 1, p.last + QUIET_TICKS / 2 + 1).reduce((a, b) => a + (b || 0), 0);
    for (const p of rec.phases) {
      const def = PHASES.find((d) => d.name === p.name);
      const size = sizeIn(p);
      if (def.kind === 'churn') {
        if (exact) assert.equal(size, 0, `${p.name}'s blocks were freed at once, yet its fragments hold ${size} bytes:\n${show}`);
        continue;
      }
      if (exact) assert.equal(size, def.n * bytes[def.kind], `${p.name}'s fragments (samples ${p.first + 1}..${p.last + QUIET_TICKS / 2}):\n${show}`);
      else assert.ok(size > 0, `${p.name}'s fragments (samples ${p.first + 1}..${p.last + QUIET_TICKS / 2}) have no size:\n${show}`);
      if (def.kind !== 'keep') continue;
      // Drawn: a column in the live-size colour where the burst's samples are.
      const lo = Timeline.xOf(ov, ov.timestamps[p.first]) - 2;
      const hi = Timeline.xOf(ov, ov.timestamps[Math.min(p.last + 3, ov.timestamps.length - 1)]) + 2;
      assert.ok(
        ov.bars.some((x) => x >= lo && x <= hi),
        `no bar drawn for ${p.name} between x=${lo.toFixed(1)} and ${hi.toFixed(1)} on the overview's canvas; bars at ${JSON.stringify(ov.bars)} (colour ${ov.colour}):\n${show}`
      );
    }
    if (exact) {
      // Nothing else allocated: every fragment outside the phases (but the first, what lived before) is empty.
      const inPhase = new Set();
      for (const p of rec.phases) for (let k = p.first + 1; k <= p.last + QUIET_TICKS / 2; k++) inPhase.add(k);
      const stray = ov.sizes.map((s, k) => [k, s]).filter(([k, s]) => k > 0 && !inPhase.has(k) && s);
      assert.deepEqual(stray, [], `fragments outside the phases hold bytes:\n${show}`);
    }
    return ov;
  }

  try {
    // 1. Without stack traces.
    const rec1 = await tl.record(program, { stacks: false, phases: PHASES });
    await dt.screenshot(`${shot}-nostacks`);
    await checkOverview(rec1, 'nostacks');
    const all1 = await summary(total('keep'));
    await dt.screenshot(`${shot}-nostacks-summary`);
    assert.deepEqual(all1.counts, { keep: total('keep'), churn: 0, trickle: total('trickle') }, `the Summary (All objects) filtered by "${names.filter}":\n${describeRows(all1.rows)}${context()}`);
    const perspectives1 = await tl.snaps.options('Perspective');
    assert.ok(!perspectives1.includes('Allocation'), `no Allocation perspective without stack traces: ${JSON.stringify(perspectives1)}`);
    await select(rec1, 'keep1', { keep: 400 }, all1.objects, 'nostacks-keep1');
    await select(rec1, 'trickle', { trickle: 60 }, all1.objects, 'nostacks-trickle');

    // 2. With stack traces; the first recording's objects are still alive.
    const rec2 = await tl.record(program, { stacks: true, phases: PHASES });
    const ov2 = await checkOverview(rec2, 'stacks');
    const all2 = await summary(2 * total('keep'));
    await dt.screenshot(`${shot}-stacks-summary`);
    assert.deepEqual(all2.counts, { keep: 2 * total('keep'), churn: 0, trickle: 2 * total('trickle') }, `the Summary (All objects) of the second recording:\n${describeRows(all2.rows)}${context()}`);
    await select(rec2, 'keep1', { keep: 400 }, all2.objects, 'stacks-keep1');

    const perspectives2 = await tl.snaps.options('Perspective');
    assert.ok(perspectives2.includes('Allocation'), `the Allocation perspective with stack traces: ${JSON.stringify(perspectives2)}`);
    await tl.snaps.setPerspective('Allocation');
    const top = (rows) => rows.filter((r) => r.indent === Math.min(...rows.map((x) => x.indent)));
    const alloc = await tl.allocationRows((rows) => Object.values(functions).every((fn) => top(rows).some((r) => r.name === fn)));
    await dt.screenshot(`${shot}-allocation`);
    const showAlloc = alloc.map((r) => `${' '.repeat(r.indent / 4)}${r.name} live=${r.live} count=${r.count} ${r.liveSize} ${r.size} ${r.url}`).join('\n');
    const fn = {};
    for (const [k, name] of Object.entries(functions)) {
      fn[k] = top(alloc).find((r) => r.name === name);
      assert.ok(fn[k], `the Allocation view has no top-level row for ${name}:\n${showAlloc}${context()}`);
    }
    if (exact) {
      assert.deepEqual([fn.keep.live, fn.keep.count], [total('keep'), total('keep')], `${functions.keep} (live count, count):\n${showAlloc}`);
      assert.deepEqual([fn.churn.live, fn.churn.count], [0, total('churn')], `${functions.churn} (live count, count):\n${showAlloc}`);
      assert.deepEqual([fn.trickle.live, fn.trickle.count], [total('trickle'), total('trickle')], `${functions.trickle} (live count, count):\n${showAlloc}`);
    } else {
      // Counts only: node 20's V8 now and then writes the snapshot with most
      // objects' trace_node_id lost (3 of 550 kept objects had one in a failed
      // run: only its live counts drop to 0), so its live counts are no reference.
      assert.ok(fn.keep.count >= total('keep'), `${functions.keep} made ${total('keep')} objects, its count:\n${showAlloc}`);
      assert.ok(fn.trickle.count >= total('trickle'), `${functions.trickle} made ${total('trickle')} objects, its count:\n${showAlloc}`);
      assert.ok(fn.churn.count > 0, `${functions.churn} allocated, its count:\n${showAlloc}`);
    }

    // Saved with the Save button, loaded back with the Load button.
    const file = artifactPath(`${shot}.heaptimeline`);
    await tl.save(file);
    await dt.loadProfile(file);
    await checkOverview(rec2, 'loaded', ov2.ids);
    const loaded = await summary(2 * total('keep'));
    await dt.screenshot(`${shot}-loaded-summary`);
    assert.deepEqual(loaded.counts, all2.counts, `the loaded file's Summary filtered by "${names.filter}":\n${describeRows(loaded.rows)}`);
    assert.equal(loaded.objects.text, all2.objects.text, "the loaded file's Summary total");
    await select(rec2, 'keep1', { keep: 400 }, loaded.objects, 'loaded-keep1');

    assert.deepEqual(dt.uncaught(), [], 'uncaught errors in DevTools');
  } catch (e) {
    await dt.screenshot(`${shot}-failed`).catch(() => {});
    e.message += context();
    throw e;
  } finally {
    await dt.close();
  }
}
