// DevTools' Memory panel, "Allocations on timeline" (the old "Allocation
// instrumentation on timeline"), against `node --inspect`: V8's own
// heap-object tracking, the reference the agent's test mirrors.
// targets/node_timeline.js allocates in phases on command: HsbTimelineKept
// kept by hsbTimelineKeep, HsbTimelineTemp dropped at once by
// hsbTimelineChurn, HsbTimelineLeak kept by hsbTimelineTrickle.
//
// Recorded once without and once with "Allocation stack traces": the
// overview has a sample per tick and bars where the kept bursts were; the
// Summary shows the kept and trickled objects, none of the freed burst; a
// mouse drag over a phase on the overview leaves only that phase's objects;
// with stacks the Allocation perspective lists the three functions; the
// recording saved with the Save button loads back with the same Summary.
// V8 allocates for itself too, so counts of other objects are relations.
// The scenario is lib/timeline.mjs's.

import { test } from 'node:test';
import { env } from '../lib/env.mjs';
import { runTimelineInDevTools } from '../lib/timeline.mjs';

test('node --inspect: Allocations on timeline in DevTools (overview, Summary, range selection, Allocation view, save and load)', { timeout: 85000 }, async (t) => {
  await runTimelineInDevTools(t, {
    kind: 'node',
    target: env.nodeTimelineTarget,
    screenshot: 'devtools-node-timeline',
    names: {
      filter: 'HsbTimeline',
      classes: { keep: 'HsbTimelineKept', churn: 'HsbTimelineTemp', trickle: 'HsbTimelineLeak' },
      functions: { keep: 'hsbTimelineKeep', churn: 'hsbTimelineChurn', trickle: 'hsbTimelineTrickle' },
    },
    exact: false,
  });
});
