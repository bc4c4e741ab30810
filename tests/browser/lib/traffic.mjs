// Every CDP frame a DevTools page exchanges with its target, recorded from
// the page's WebSocket, with requests paired to their replies and each frame
// labelled with the UI step it belongs to.
//
//   const traffic = recordTraffic(browser.context, program.ws); // before openMemoryPanel: attach is recorded too
//   traffic.step('attach');
//   const dt = await openMemoryPanel(browser, { ws: program.ws });
//   traffic.step('hover');
//   …hover a row…
//   const r = await traffic.reply('Runtime.getProperties'); // this step's first one, once answered: {method, params, reply}
//   traffic.methods('hover')   // ['HeapProfiler.getObjectByHeapObjectId', 'Runtime.getProperties', …]
//   traffic.pairs('hover')     // [{id, method, params, reply: {result} | {error}, step}]
//   traffic.events('hover')    // [{method, params, step}]
//   traffic.sequence('hover')  // methods without the periodic getHeapUsage, repeats in a row once
//   traffic.fixture()          // every step's pairs and events, long strings and chunks trimmed, for a JSON file
//
// It watches the pages of a playwright Page or BrowserContext (those open
// now and those opened later) for WebSockets whose URL contains `wsMatch`
// (the "HOST:PORT/ID" DevTools' ws= is given): playwright reports
// `framesent`/`framereceived` for each, in wire order. A frame with an id
// and a method is a request; one with an id and no method its reply; one
// with a method and no id an event. Waits are bounded and re-checked on
// every frame, never timed.

import { env, untilChecked } from './env.mjs';

/* Requests sent on a timer, whatever the UI does. */
export const POLLED = ['Runtime.getHeapUsage'];

/* Events that come by the hundred (snapshot chunks, parsed scripts): fixture() keeps only their number. */
const COUNTED = new Set(['HeapProfiler.addHeapSnapshotChunk', 'HeapProfiler.reportHeapSnapshotProgress', 'HeapProfiler.heapStatsUpdate', 'HeapProfiler.lastSeenObjectId', 'Debugger.scriptParsed']);

export class Traffic {
  constructor(wsMatch) {
    this.wsMatch = wsMatch;
    this.current = 'start';
    this.steps = ['start'];
    this.requests = []; // {id, method, params, step, reply}, in the order sent
    this.byId = new Map(); // id -> request
    this.eventList = []; // {method, params, step}
    this.closed = null;
    this.waiters = new Set();
    this.pages = new WeakSet();
  }

  /* Watches one page (once). */
  watchPage(page) {
    if (this.pages.has(page)) return;
    this.pages.add(page);
    page.on('websocket', (ws) => {
      if (!ws.url().includes(this.wsMatch)) return;
      ws.on('framesent', (f) => this._frame(f.payload, true));
      ws.on('framereceived', (f) => this._frame(f.payload, false));
      ws.on('close', () => this._end('closed'));
      ws.on('socketerror', (e) => this._end(`socket error ${e}`));
    });
  }

  _end(why) {
    this.closed = why;
    this._notify();
  }

  _frame(payload, sent) {
    let msg;
    try {
      msg = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
    } catch {
      return;
    }
    if (sent && typeof msg.method === 'string') {
      const r = { id: msg.id, method: msg.method, params: msg.params, step: this.current, reply: undefined };
      this.requests.push(r);
      this.byId.set(msg.id, r);
    } else if (!sent && msg.id !== undefined && !msg.method) {
      const r = this.byId.get(msg.id);
      if (r) r.reply = msg.error ? { error: msg.error } : { result: msg.result };
    } else if (!sent && typeof msg.method === 'string') {
      this.eventList.push({ method: msg.method, params: msg.params, step: this.current });
    }
    this._notify();
  }

  _notify() {
    for (const f of [...this.waiters]) f();
  }

  /* Frames from now on belong to step `name` (a UI action). */
  step(name) {
    this.current = name;
    if (!this.steps.includes(name)) this.steps.push(name);
  }

  /* The requests of a step (all steps without one), each with its reply once it came. */
  pairs(step) {
    return this.requests.filter((r) => step === undefined || r.step === step);
  }

  /* The methods a step sent, in order. */
  methods(step) {
    return this.pairs(step).map((r) => r.method);
  }

  /*
   * methods(step) without the periodic ones (`ignore`: the Memory panel's
   * getHeapUsage every 2 s) and with a method repeated in a row counted
   * once: what two runs of the same UI action can be compared on.
   */
  sequence(step, ignore = POLLED) {
    const out = [];
    for (const m of this.methods(step)) if (!ignore.includes(m) && out[out.length - 1] !== m) out.push(m);
    return out;
  }

  events(step) {
    return this.eventList.filter((e) => step === undefined || e.step === step);
  }

  /* Resolves with check()'s first non-undefined value, re-checked on every frame. */
  until(check, ms = env.actionMs, what = 'a CDP frame') {
    return untilChecked(
      this.waiters,
      () => {
        const v = check();
        if (v === undefined && this.closed) throw new Error(`the connection to the target ended (${this.closed}) while waiting for ${what}`);
        return v;
      },
      ms,
      what
    );
  }

  /*
   * The first request of `method` in `step` (default: the current step)
   * that match(params) accepts, once it is answered: {id, method, params, step, reply}.
   * An error reply is returned, not thrown: the caller says whether it is one.
   */
  reply(method, { step = this.current, match = () => true, ms = env.actionMs } = {}) {
    return this.until(
      () => this.requests.find((r) => r.step === step && r.method === method && match(r.params || {}) && r.reply),
      ms,
      `DevTools to send ${method} (step "${step}") and the target to answer it`
    );
  }

  /*
   * Every step: its sequence(), requests ({method, params, reply}), events,
   * and the number of each COUNTED event, trimmed by trim() (a JSON-able object).
   */
  fixture() {
    const out = {};
    for (const s of this.steps) {
      const requests = this.pairs(s).map((r) => trim({ method: r.method, params: r.params, reply: r.reply ?? 'no reply' }));
      const events = [];
      const counts = {};
      for (const e of this.events(s)) {
        if (COUNTED.has(e.method)) counts[e.method] = (counts[e.method] || 0) + 1;
        else events.push(trim({ method: e.method, params: e.params }));
      }
      if (requests.length || events.length || Object.keys(counts).length) out[s] = { sequence: this.sequence(s), requests, events, counted: counts };
    }
    return out;
  }
}

/* Strings kept whole whatever their length: what a backend has to recognise. */
const WHOLE = new Set(['functionDeclaration', 'expression']);

/*
 * A copy of v where strings longer than maxString are cut ("…(N chars)"),
 * except under the keys in WHOLE, and arrays longer than maxArray keep their
 * first maxArray items and a last "…(N more)".
 */
export function trim(v, { maxString = 300, maxArray = 40 } = {}) {
  const opts = { maxString, maxArray };
  if (typeof v === 'string') return v.length > maxString ? `${v.slice(0, maxString)}…(${v.length} chars)` : v;
  if (Array.isArray(v)) {
    const kept = v.slice(0, maxArray).map((x) => trim(x, opts));
    if (v.length > maxArray) kept.push(`…(${v.length - maxArray} more)`);
    return kept;
  }
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, WHOLE.has(k) ? x : trim(x, opts)]));
  return v;
}

/*
 * Starts recording on a playwright Page, or on every page of a
 * BrowserContext (those open now and those it opens later), for the
 * WebSocket whose URL contains wsMatch.
 */
export function recordTraffic(pageOrContext, wsMatch) {
  const t = new Traffic(wsMatch);
  if (typeof pageOrContext.pages === 'function') {
    for (const p of pageOrContext.pages()) t.watchPage(p);
    pageOrContext.on('page', (p) => t.watchPage(p));
  } else {
    t.watchPage(pageOrContext);
  }
  return t;
}
