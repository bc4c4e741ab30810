// Where things are for the browser tests, and the npm packages they use.
//
// ctest passes every path through the environment (tests/browser/CMakeLists.txt);
// run by hand, the defaults assume a build in <repo>/build, ../shared next to
// the repository and the node_modules of tests/node (scripts/deps.sh test).

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..');

function pathFrom(name, fallback) {
  return path.resolve(process.env[name] || fallback);
}

export const env = {
  repo,
  chromium: pathFrom('HS_CHROMIUM', '/usr/bin/chromium'),
  nodeModules: pathFrom('HS_NODE_MODULES', path.join(repo, 'tests', 'node', 'node_modules')),
  artifacts: pathFrom('HS_BROWSER_ARTIFACTS', path.join(repo, 'build', 'artifacts', 'browser')),
  agentLib: pathFrom('HS_AGENT_LIB', path.join(repo, 'build', 'lib', 'libheapscope.so')),
  cTarget: pathFrom('HS_BROWSER_TARGET', path.join(repo, 'build', 'bin', 'hs-browser-target')),
  nodeTarget: path.join(here, '..', 'targets', 'node_alloc.js'),
  cSnapshotTarget: pathFrom('HS_BROWSER_SNAPSHOT_TARGET', path.join(repo, 'build', 'bin', 'hs-browser-snapshot-target')),
  nodeSnapshotTarget: path.join(here, '..', 'targets', 'node_snapshot.js'),
  cTimelineTarget: pathFrom('HS_BROWSER_TIMELINE_TARGET', path.join(repo, 'build', 'bin', 'hs-browser-timeline-target')),
  nodeTimelineTarget: path.join(here, '..', 'targets', 'node_timeline.js'),
  inspectTarget: pathFrom('HS_INSPECT_TARGET', path.join(repo, 'build', 'bin', 'hs-inspect-target')),
  sharedDir: pathFrom('HS_SHARED_DIR', path.join(repo, '..', 'shared')),
  // Limits for a loaded 2-core machine. Every wait is for an event or a page
  // state with one of these as its bound, never a sleep.
  startMs: 15000, // a program's "listening" line, Chromium, DevTools' UI
  actionMs: 20000, // one UI step: a profile to load, a reply to arrive
};

env.golden = (name) => path.join(env.sharedDir, 'golden', 'v8-node20', name);

/* Fails (never skips) with a clear message when something the suite needs is missing. */
export function requireFile(p, what) {
  if (!fs.existsSync(p)) {
    throw new Error(`${what} not found at ${p} (build first, run scripts/deps.sh test, or set the variable named in tests/browser/README.md)`);
  }
  return p;
}

/* A package from tests/node/node_modules (installed by `npm ci` from its lock file). */
export function nodePackage(name) {
  requireFile(path.join(env.nodeModules, name, 'package.json'), `the npm package ${name}`);
  const req = createRequire(path.join(env.nodeModules, 'noop.js'));
  return req(name);
}

export function packageDir(name) {
  return path.dirname(requireFile(path.join(env.nodeModules, name, 'package.json'), `the npm package ${name}`));
}

/* The artifacts directory (created), and a file name in it safe for any test name. */
export function artifactPath(name) {
  fs.mkdirSync(env.artifacts, { recursive: true });
  return path.join(env.artifacts, name.replace(/[^A-Za-z0-9._-]+/g, '_'));
}

/* Rejects after ms with an error that says what was awaited. */
export function withTimeout(promise, ms, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/*
 * Resolves with check()'s first value other than undefined, or rejects with
 * what check() throws, or after ms (withTimeout). check() runs now and then
 * each time the owner of `waiters` (a Set) calls the functions in it, as the
 * CDP watchers do on every frame; the waiter is removed either way.
 */
export function untilChecked(waiters, check, ms, what) {
  let w;
  return withTimeout(
    new Promise((resolve, reject) => {
      w = () => {
        try {
          const v = check();
          if (v !== undefined) resolve(v);
        } catch (e) {
          reject(e);
        }
      };
      waiters.add(w);
      w();
    }),
    ms,
    what
  ).finally(() => waiters.delete(w));
}
