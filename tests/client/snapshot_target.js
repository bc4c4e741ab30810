// A node --inspect target for test_cli_snapshot.sh: it builds a known graph
// (MARKERS objects of class HeapscopeMarker, each holding a string of its
// own, kept alive by one array), prints "ready" and then only idles, so that
// two snapshots taken one after the other see nearly the same heap.
'use strict';
const MARKERS = 5000;
class HeapscopeMarker {
  constructor(i) {
    this.index = i;
    this.label = 'heapscope-marker-' + i;
  }
}
globalThis.heapscopeMarkers = Array.from({ length: MARKERS }, (_, i) => new HeapscopeMarker(i));
// Nothing allocates from now on but the timer that keeps the process alive.
setInterval(() => {}, 60000);
console.error('ready');
