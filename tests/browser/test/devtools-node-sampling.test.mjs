// DevTools' Memory panel, "Allocation sampling", against `node --inspect`:
// V8's own sampler, the reference the agent's test below mirrors. The named
// functions of targets/node_alloc.js must show in the profile's tree.

import { test } from 'node:test';
import { runSamplingInDevTools } from '../lib/sampling.mjs';

test('node --inspect: Allocation sampling in DevTools shows the allocating functions', { timeout: 60000 }, async (t) => {
  await runSamplingInDevTools(t, {
    kind: 'node',
    screenshot: 'devtools-node-sampling',
    // Allocate by their own bytecode (object and array literals): each is a top-level row of the Heavy view.
    selfAllocating: ['hsbrowserAllocObjects', 'hsbrowserAllocArrays', 'hsbrowserBuildList'],
    caller: 'hsbrowserWork',
  });
});
