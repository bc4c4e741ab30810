'use strict';
// The JavaScript counterpart of alloc_target.c, run under
// `node --inspect=127.0.0.1:0`: it allocates only when told to, in functions
// with distinctive names, and keeps what it made live until the next command
// (V8's sampling profile keeps live objects only). Object and array literals
// are allocated by the function's own bytecode, so V8 attributes them to it;
// each function runs a handful of times, too few for the optimiser to inline
// it into its caller.
//
// stdin, one command a line, each answered with one stdout line:
//   work N   N rounds of hsbrowserWork() -> "ok <objects kept>"
//   free     drops everything -> "ok 0"
// The first line is "start <pid>"; at end of input it prints "done" and exits.

let kept = [];

function hsbrowserAllocObjects(out) {
  for (let i = 0; i < 8192; i++) out.push({ i, a: i + 1, b: i + 2, c: i + 3, d: i + 4, e: i + 5 });
}

function hsbrowserAllocArrays(out) {
  for (let i = 0; i < 4096; i++) out.push([i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i]);
}

function hsbrowserBuildList(out) {
  let head = null;
  for (let i = 0; i < 4096; i++) head = { next: head, value: i };
  out.push(head);
}

function hsbrowserWork(out) {
  hsbrowserAllocObjects(out);
  hsbrowserAllocArrays(out);
  hsbrowserBuildList(out);
}

require('./commands.js')(
  'node_alloc',
  (line) => {
    const m = /^work (\d+)$/.exec(line);
    if (m && Number(m[1]) >= 1 && Number(m[1]) <= 1000) {
      kept = [];
      for (let k = 0; k < Number(m[1]); k++) hsbrowserWork(kept);
      return `ok ${kept.length}`;
    }
    if (line === 'free') {
      kept = [];
      return 'ok 0';
    }
    return undefined;
  },
  () => {
    kept = [];
  }
);
