/*
 * runtime.c — the little of the Runtime domain that a heap-only target can
 * answer truthfully and that DevTools asks for when it connects (spec §5.1,
 * §5.3): enable/disable (there are no execution contexts to report),
 * runIfWaitingForDebugger (releases HEAPSCOPE_WAIT), getIsolateId and
 * getHeapUsage (from the registry and the allocator). Everything else in
 * Runtime is a -32601, as for any domain we do not serve.
 */
#include <malloc.h>
#include <stdio.h>

#include "../agent_int.h"
#include "cdp_gen.h"
#include "domain.h"
#include "heapscope/hs_agent.h"

/* enable/disable: there are no execution contexts to report. */
static void rt_ok(hs_call *c, const json_t *params)
{
    (void)params;
    hs__call_ok(c, NULL);
}

static void rt_run_if_waiting(hs_call *c, const json_t *params)
{
    (void)params;
    hs__service_release_wait();
    hs__call_ok(c, NULL);
}

/* One process, one heap: the target id names it. */
static void rt_get_isolate_id(hs_call *c, const json_t *params)
{
    (void)params;
    hs__call_ok(c, json_pack("{ss}", "id", hs__service_target_id()));
}

/* usedSize: bytes the program's live blocks hold (requested sizes).
 * totalSize: what the allocator holds from the system (glibc's arenas and
 * mmapped chunks), never less than usedSize (another allocator under us
 * reports nothing to mallinfo2). */
static void rt_get_heap_usage(hs_call *c, const json_t *params)
{
    (void)params;
    hs_agent_stats st;
    hs_agent_get_stats(&st);
    struct mallinfo2 mi = mallinfo2();
    /* Sampling-only mode keeps no registry: glibc's count of bytes in use
     * (chunk sizes, a little above the requested ones) stands in. */
    double used = hs__registry_on ? (double)st.live_bytes : (double)mi.uordblks + (double)mi.hblkhd;
    double total = (double)mi.arena + (double)mi.hblkhd;
    if (total < used)
        total = used;
    /* No embedder heap and no backing stores in a native program. */
    cdp_runtime_get_heap_usage_returns r = {.used_size = used,
                                            .total_size = total,
                                            .has_embedder_heap_used_size = true,
                                            .has_backing_storage_size = true,
                                            .backing_storage_size = 0};
    hs__call_ok(c, cdp_runtime_get_heap_usage_returns_encode(&r));
}

const hs_handler hs__runtime_handlers[] = {
    {"Runtime.enable", rt_ok},
    {"Runtime.disable", rt_ok},
    {"Runtime.runIfWaitingForDebugger", rt_run_if_waiting},
    {"Runtime.getIsolateId", rt_get_isolate_id},
    {"Runtime.getHeapUsage", rt_get_heap_usage},
    {NULL, NULL},
};
