/*
 * heap_profiler.c — the HeapProfiler domain's handlers. Like V8, the state
 * is the heap's, not a session's: sampling and tracking started by one
 * session are seen (and stopped) by all. `enable` only records a flag in V8
 * that no command reads (spec §2.1); here it just succeeds.
 *
 * Commands of later issues are not here: dispatch.c answers them with a
 * -32000 saying so after checking their params, never with a fake success.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "../agent_int.h"
#include "domain.h"

static void hp_enable(hs_call *c, const json_t *params)
{
    (void)params;
    hs__call_ok(c, NULL);
}

/* V8: stops tracking and sampling and clears the id map, so that object ids
 * start again from the first one (spec §2.1). Here ids belong to the blocks
 * themselves; they are renumbered from the first id, in allocation order. */
static void hp_disable(hs_call *c, const json_t *params)
{
    (void)params;
    hs__track_reset_ids();
    hs__call_ok(c, NULL);
}

/* There is no collector: the closest honest thing is to give the
 * allocator's free memory back to the system, as a GC would shrink the heap.
 * Blocks the program still holds are untouched. */
static void hp_collect_garbage(hs_call *c, const json_t *params)
{
    (void)params;
    malloc_trim(0);
    hs__call_ok(c, NULL);
}

const hs_handler hs__heap_profiler_handlers[] = {
    {"HeapProfiler.enable", hp_enable},
    {"HeapProfiler.disable", hp_disable},
    {"HeapProfiler.collectGarbage", hp_collect_garbage},
    {NULL, NULL},
};
