'use strict';
// memlab's side of bench/report.py (issue 8): what `memlab heap` / `memlab
// analyze` do to a snapshot before any plugin runs, on the file heapscope
// reports, timed phase by phase:
//   load     utils.getSnapshotFromFile(file, {buildNodeIdIndex: true}):
//            memlab's parser (HeapParser: the nodes/edges arrays read into
//            typed arrays, strings parsed), HeapSnapshot built;
//   analyze  analysis.preparePathFinder(snapshot), as memlab's analyses call
//            it: shortest paths from the roots (annotateShortestPaths), the
//            dominator tree and retained sizes (calculateAllNodesRetainedSizes,
//            Lengauer–Tarjan), Fiber marks;
//   classes  an aggregate by node name (count, self size, retained size of
//            the class's dominator-tree tops), the top 5 by retained size, and
//            the unreachable node count: the figures `heapscope report` prints.
// Prints one JSON object on stdout. Usage:
//   node --max-old-space-size=20000 bench/report_memlab.js FILE [NODE_MODULES]
const path = require('node:path');

const file = process.argv[2];
const modules = process.argv[3] || process.env.NODE_PATH ||
  path.join(__dirname, '../tests/node/node_modules');
const memlab = require(path.join(modules, '@memlab/core'));
memlab.config.muteConsole = true;
memlab.config.errorHandling = memlab.ErrorHandling.Throw;

function mib() { return Math.round(process.memoryUsage().rss / 1048576); }

async function main() {
  const out = { file, memlab: require(path.join(modules, '@memlab/core/package.json')).version, phases: {} };
  let t = process.hrtime.bigint();
  const lap = (name) => {
    const now = process.hrtime.bigint();
    out.phases[name] = { s: Number(now - t) / 1e9, rss_mib: mib() };
    t = now;
  };
  const heap = await memlab.utils.getSnapshotFromFile(file, { buildNodeIdIndex: true });
  lap('load');
  out.nodes = heap.nodes.length;
  out.edges = heap.edges.length;
  memlab.analysis.preparePathFinder(heap);
  lap('analyze');
  // class aggregates: retained of a class = sum over its nodes whose dominator
  // is not of the same class (DevTools' Summary rule, roughly)
  const classes = new Map();
  let unreachable = 0;
  heap.nodes.forEach((node) => {
    const dom = node.dominatorNode;
    if (!dom || (dom.nodeIndex === node.nodeIndex && node.nodeIndex !== 0)) unreachable++;
    let c = classes.get(node.name);
    if (!c) classes.set(node.name, (c = { name: node.name, count: 0, shallow: 0, retained: 0 }));
    c.count++;
    c.shallow += node.self_size;
    if (!dom || dom.name !== node.name) c.retained += node.retainedSize || 0;
  });
  out.classes = classes.size;
  out.unreachable_nodes = unreachable;
  out.top = [...classes.values()].filter((c) => c.name !== '')
    .sort((a, b) => b.retained - a.retained).slice(0, 5);
  out.root_retained = heap.nodes.get(0).retainedSize;
  lap('classes');
  out.max_rss_mib = Math.round(process.resourceUsage().maxRSS / 1024);
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`report_memlab: ${e && e.stack || e}\n`);
  process.exit(1);
});
