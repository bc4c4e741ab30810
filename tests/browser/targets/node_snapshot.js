'use strict';
// The heap the node heap-snapshot test reads back, run under
// `node --inspect=127.0.0.1:0`: objects of classes with distinctive names,
// in known numbers, held from known places, and more of them on command.
//
//   globalThis.hsbList    a linked list of HsbListNode (`next` links), LIST_NODES at start
//   globalThis.hsbBlobs   an array holding BLOBS HsbBlob
//
// stdin, one command a line, each answered with one stdout line:
//   grow N   prepends N more HsbListNode to hsbList -> "ok <list length>"
// The first line is "start <pid>"; at end of input it prints "done" and exits.

const LIST_NODES = 300;
const BLOBS = 40;

class HsbListNode {
  constructor(next, value) {
    this.next = next;
    this.value = value;
  }
}

class HsbBlob {
  constructor(i) {
    this.index = i;
    this.bytes = new Uint8Array(256);
  }
}

let length = 0;
function grow(n) {
  for (let i = 0; i < n; i++) globalThis.hsbList = new HsbListNode(globalThis.hsbList, length++);
}

globalThis.hsbList = null;
grow(LIST_NODES);
globalThis.hsbBlobs = [];
for (let i = 0; i < BLOBS; i++) globalThis.hsbBlobs.push(new HsbBlob(i));

require('./commands.js')('node_snapshot', (line) => {
  const m = /^grow (\d+)$/.exec(line);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 100000) return undefined;
  grow(Number(m[1]));
  return `ok ${length}`;
});
