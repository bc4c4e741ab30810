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
#include "heapscope/hs_err.h"
#include "profile.h"

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
    hs__profile_discard();
    if (hs__registry_on)
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

/* ---- sampling (spec §2.6) ------------------------------------------------------ */

#define NOT_STARTED "V8 sampling heap profiler was not started."

static bool flag(const json_t *params, const char *name)
{
    return json_is_true(json_object_get(params, name));
}

static void hp_start_sampling(hs_call *c, const json_t *params)
{
    struct hs_sample_params p = {
        .interval = 32768,
        .depth = 128,
        .young_ns = (uint64_t)hs__config.young_ms * 1000000u,
        .seed = hs__config.sample_seed,
    };
    const json_t *iv = json_object_get(params, "samplingInterval");
    if (iv) {
        double v = json_number_value(iv);
        if (!(v > 0)) {
            hs__call_error(c, -32000, "Invalid sampling interval");
            return;
        }
        /* V8 truncates the double; an interval that truncates to 0 acts
         * as the smallest one. */
        p.interval = v >= 1e18 ? (uint64_t)1e18 : (uint64_t)v;
    }
    const json_t *depth = json_object_get(params, "stackDepth");
    if (depth) {
        double d = json_number_value(depth);
        p.depth = d < 0 ? 0 : d > HS_SAMPLE_MAX_DEPTH ? HS_SAMPLE_MAX_DEPTH : (int)d;
    }
    if (flag(params, "includeObjectsCollectedByMajorGC"))
        p.flags |= HS_SAMPLE_KEEP_MAJOR;
    if (flag(params, "includeObjectsCollectedByMinorGC"))
        p.flags |= HS_SAMPLE_KEEP_MINOR;
    /* Already running: success, and the running parameters stay (V8). */
    hs__profile_start(&p);
    hs__call_ok(c, NULL);
}

static void finish_profile(hs_call *c, json_t *profile, int err)
{
    if (profile)
        hs__call_ok(c, json_pack("{s:o}", "profile", profile));
    else if (err == HS_E_STATE)
        hs__call_error(c, -32000, NOT_STARTED);
    else
        hs__call_error(c, -32000, hs_strerror(err));
}

static void hp_get_sampling_profile(hs_call *c, const json_t *params)
{
    (void)params;
    int err = 0;
    json_t *p = hs__profile_get(&err);
    finish_profile(c, p, err);
}

static void hp_stop_sampling(hs_call *c, const json_t *params)
{
    (void)params;
    int err = 0;
    json_t *p = hs__profile_stop(&err);
    finish_profile(c, p, err);
}

const hs_handler hs__heap_profiler_handlers[] = {
    {"HeapProfiler.startSampling", hp_start_sampling},
    {"HeapProfiler.getSamplingProfile", hp_get_sampling_profile},
    {"HeapProfiler.stopSampling", hp_stop_sampling},
    {"HeapProfiler.enable", hp_enable},
    {"HeapProfiler.disable", hp_disable},
    {"HeapProfiler.collectGarbage", hp_collect_garbage},
    {NULL, NULL},
};
