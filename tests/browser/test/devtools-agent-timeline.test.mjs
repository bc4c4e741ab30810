// DevTools' Memory panel, "Allocations on timeline", against heapscope's
// agent in a C program (targets/timeline_target.c under libheapscope.so):
// the node test's scenario (lib/timeline.mjs), with exact numbers, since
// the program allocates nothing but what it is told: burst_keep's blocks
// are kept, burst_free's freed before it answers, trickle_leak's leaked.
//
// The snapshot's classes are allocation sites, "function
// timeline_target.c:LINE" (the lines marked "site: <function>" in the
// source); trickle_leak's blocks are unreachable, so DevTools may call them
// "Detached trickle_leak …". Exact: each phase's fragments on the overview
// hold its blocks' bytes and the quiet ones none; a drag over a phase
// leaves exactly its blocks in the Summary's total; the Allocation view's
// live count and count are burst_keep's kept blocks, burst_free's 0 of all
// it allocated, trickle_leak's every block.

import { test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { env } from '../lib/env.mjs';
import { sourceSites } from '../lib/snapshot.mjs';
import { runTimelineInDevTools } from '../lib/timeline.mjs';

const SOURCE = path.join(env.repo, 'tests', 'browser', 'targets', 'timeline_target.c');

/* A #define of the target's source (the block sizes). */
function defined(name) {
  const m = new RegExp(`^#define ${name} (\\d+)$`, 'm').exec(fs.readFileSync(SOURCE, 'utf8'));
  if (!m) throw new Error(`no #define ${name} in ${SOURCE}`);
  return Number(m[1]);
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('heapscope agent: Allocations on timeline of a C program in DevTools (overview, Summary, range selection, Allocation view, save and load)', { timeout: 85000 }, async (t) => {
  const site = sourceSites(SOURCE, ['burst_keep', 'burst_free', 'trickle_leak']);
  await runTimelineInDevTools(t, {
    kind: 'agent',
    target: env.cTimelineTarget,
    screenshot: 'devtools-agent-timeline',
    names: {
      filter: path.basename(SOURCE),
      classes: {
        keep: site.burst_keep,
        churn: new RegExp(`^(Detached )?${escape(site.burst_free)}$`),
        trickle: new RegExp(`^(Detached )?${escape(site.trickle_leak)}$`),
      },
      functions: { keep: 'burst_keep', churn: 'burst_free', trickle: 'trickle_leak' },
    },
    exact: true,
    bytes: { keep: defined('KEEP_SIZE'), trickle: defined('LEAK_SIZE') },
  });
});
