'use strict';
// Where things are, and which server the tests talk to.
//
// ctest passes every path through the environment (tests/node/CMakeLists.txt);
// run by hand, the defaults assume a build in <repo>/build and ../shared next
// to the repository, as every checkout has it.
//
// HS_TEST_TARGET=agent (default): hs-test-target under libheapscope.so.
// HS_TEST_TARGET=node: a Node.js program under `node --inspect=127.0.0.1:0`,
// the stand-in that proves the expectations are V8's own (see README.md).

const fs = require('node:fs');
const path = require('node:path');

const repo = path.resolve(__dirname, '..', '..', '..');
const mode = process.env.HS_TEST_TARGET || 'agent';
if (mode !== 'agent' && mode !== 'node') {
  throw new Error(`HS_TEST_TARGET must be "agent" or "node", not "${mode}"`);
}

function pathFrom(name, fallback) {
  const p = process.env[name] || fallback;
  return path.resolve(p);
}

const config = {
  mode,
  isNode: mode === 'node',
  repo,
  heapscope: pathFrom('HS_HEAPSCOPE', path.join(repo, 'build', 'bin', 'heapscope')),
  agentLib: pathFrom('HS_AGENT_LIB', path.join(repo, 'build', 'lib', 'libheapscope.so')),
  target: pathFrom('HS_TARGET', path.join(repo, 'build', 'bin', 'hs-test-target')),
  nodeTarget: path.join(__dirname, '..', 'targets', 'node_target.js'),
  sharedDir: pathFrom('HS_SHARED_DIR', path.join(repo, '..', 'shared')),
  // Generous for a loaded 2-core machine; every wait is for an event, never a sleep.
  startTimeoutMs: 15000,
  replyTimeoutMs: 10000,
};

config.golden = (name) => path.join(config.sharedDir, 'golden', 'v8-node20', name);

/* Fails (never skips) with a clear message when something the suite needs is missing. */
config.require = function requireFile(p, what) {
  if (!fs.existsSync(p)) {
    throw new Error(`${what} not found at ${p} (build first, or set the variable named in tests/node/README.md)`);
  }
  return p;
};

module.exports = config;
