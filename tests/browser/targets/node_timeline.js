'use strict';
// The JavaScript counterpart of timeline_target.c, run under
// `node --inspect=127.0.0.1:0` for the "Allocations on timeline" test: it
// allocates only when told to, each phase in its own named function and of
// its own class, so that the recording's Summary and Allocation views can be
// checked against what was asked for.
//
//   hsbTimelineKeep(n)     n HsbTimelineKept, kept in globalThis.hsbKept
//   hsbTimelineChurn(n)    n HsbTimelineTemp, dropped at once (garbage)
//   hsbTimelineTrickle(n)  n HsbTimelineLeak, kept in globalThis.hsbLeaks
//
// stdin, one command a line, each answered with one stdout line:
//   keep N    -> "ok <HsbTimelineKept alive>"
//   churn N   -> "ok N"
//   trickle N -> "ok <HsbTimelineLeak alive>"
// The first line is "start <pid>"; at end of input it prints "done" and exits.

globalThis.hsbKept = [];
globalThis.hsbLeaks = [];

class HsbTimelineKept {
  constructor(i) {
    this.index = i;
    this.payload = [i, i + 1, i + 2, i + 3];
  }
}

class HsbTimelineTemp {
  constructor(i) {
    this.index = i;
    this.payload = [i, i, i, i, i, i, i, i];
  }
}

class HsbTimelineLeak {
  constructor(i) {
    this.index = i;
  }
}

function hsbTimelineKeep(n) {
  for (let i = 0; i < n; i++) globalThis.hsbKept.push(new HsbTimelineKept(i));
  return globalThis.hsbKept.length;
}

function hsbTimelineChurn(n) {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += new HsbTimelineTemp(i).payload.length;
  return sum / 8;
}

function hsbTimelineTrickle(n) {
  for (let i = 0; i < n; i++) globalThis.hsbLeaks.push(new HsbTimelineLeak(i));
  return globalThis.hsbLeaks.length;
}

const COMMANDS = { keep: hsbTimelineKeep, churn: hsbTimelineChurn, trickle: hsbTimelineTrickle };

require('./commands.js')('node_timeline', (line) => {
  const m = /^(\w+) (\d+)$/.exec(line);
  if (!m || !COMMANDS[m[1]] || Number(m[2]) < 1 || Number(m[2]) > 100000) return undefined;
  return `ok ${COMMANDS[m[1]](Number(m[2]))}`;
});
