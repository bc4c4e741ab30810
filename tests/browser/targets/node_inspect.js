'use strict';
// The objects the node inspection test looks at, run under
// `node --inspect=127.0.0.1:0`: one global object of a distinctive class
// with a few kinds of property, reachable from a global so that a heap
// snapshot's Summary lists it and its Retainers name the global.
//
//   globalThis.probe       an HsiProbe {kind: 'probe', count: 42, nested: HsiNested {depth: 1, label: 'inner'}, items: [1, 2, 3]}
//   globalThis.probeMany   an array of 150 numbers (0…149): past 100 items DevTools groups an array's indices in ranges
//
// stdin, one command a line, each answered with one stdout line:
//   check    -> "ok <probe.kind> <probe.count> <typeof temp1>" (what the console may have changed)
// The first line is "start <pid>"; at end of input it prints "done" and exits.

class HsiNested {
  constructor() {
    this.depth = 1;
    this.label = 'inner';
  }
}

class HsiProbe {
  constructor() {
    this.kind = 'probe';
    this.count = 42;
    this.nested = new HsiNested();
    this.items = [1, 2, 3];
  }
}

globalThis.probe = new HsiProbe();
globalThis.probeMany = Array.from({ length: 150 }, (_, i) => i);

require('./commands.js')('node_inspect', (line) => {
  if (line !== 'check') return undefined;
  return `ok ${globalThis.probe.kind} ${globalThis.probe.count} ${typeof globalThis.temp1}`;
});
