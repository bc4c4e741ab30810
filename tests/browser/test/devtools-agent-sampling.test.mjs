// DevTools' Memory panel, "Allocation sampling", against heapscope's agent
// in a C program (targets/alloc_target.c under libheapscope.so): the same
// checks as against node. The C functions that call malloc/calloc must be
// the top-level rows of the Heavy (bottom up) view with their bytes, and
// sit under their caller in the Tree (top down) view.

import { test } from 'node:test';
import { runSamplingInDevTools } from '../lib/sampling.mjs';

test('heapscope agent: Allocation sampling in DevTools shows the C functions that allocated', { timeout: 60000 }, async (t) => {
  await runSamplingInDevTools(t, {
    kind: 'agent',
    screenshot: 'devtools-agent-sampling',
    selfAllocating: ['hsb_alloc_blocks', 'hsb_alloc_strings', 'hsb_build_list'],
    caller: 'hsb_work',
  });
});
