/*
 * heap_profiler.c — the HeapProfiler domain's handlers. Like V8, the state
 * is the heap's, not a session's: sampling and tracking started by one
 * session are seen (and stopped) by all. `enable` only records a flag in V8
 * that no command reads (spec §2.1); here it just succeeds.
 *
 * The object-id commands hand out Runtime remote objects (objects.c,
 * values.c): a block, found by its id.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../agent_int.h"
#include "../snapshot/snapshot.h"
#include "domain.h"
#include "heapscope/hs_err.h"
#include "inspect.h"
#include "profile.h"

static void hp_enable(hs_call *c, const json_t *params)
{
    (void)params;
    hs__call_done(c);
}

/* V8: stops tracking and sampling and clears the id map, so that object ids
 * start again from the first one (spec §2.1). Here ids belong to the blocks
 * themselves; they are renumbered from the first id, in allocation order. */
static void hp_disable(hs_call *c, const json_t *params)
{
    (void)params;
    hs__timeline_disable();
    hs__profile_discard();
    if (hs__registry_on)
        hs__track_reset_ids();
    hs__call_done(c);
}

/* There is no collector: the closest honest thing is to give the
 * allocator's free memory back to the system, as a GC would shrink the heap.
 * Blocks the program still holds are untouched. */
static void hp_collect_garbage(hs_call *c, const json_t *params)
{
    (void)params;
    malloc_trim(0);
    hs__call_done(c);
}

/* ---- sampling (spec §2.6) ------------------------------------------------------ */

#define NOT_STARTED "V8 sampling heap profiler was not started."

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
    if (hs__flag(params, "includeObjectsCollectedByMajorGC"))
        p.flags |= HS_SAMPLE_KEEP_MAJOR;
    if (hs__flag(params, "includeObjectsCollectedByMinorGC"))
        p.flags |= HS_SAMPLE_KEEP_MINOR;
    /* Already running: success, and the running parameters stay (V8). */
    hs__profile_start(&p);
    hs__call_done(c);
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

/* ---- heap snapshots (spec §2.2, docs/design/snapshot.md) --------------------------- */

/* Current V8's HeapSnapshotOutputStream::GetChunkSize: each chunk but the
 * last is exactly this long. */
#define CHUNK (1u << 20)
/* A client that takes nothing of a chunk for this long is given up on. */
#define DRAIN_TIMEOUT_MS 60000
#define PROGRESS_STEP 10000 /* V8's kProgressReportGranularity */

/* Sends a progress event and pushes it out now (the client shows it while
 * the graph is built). 0, or -1 when the session is gone. */
static int progress(hs_cdp_session *s, uint64_t done, uint64_t total, bool finished)
{
    json_t *p = json_pack("{s:I,s:I}", "done", (json_int_t)done, "total", (json_int_t)total);
    if (p && finished)
        json_object_set_new(p, "finished", json_true());
    hs__session_event(s, "HeapProfiler.reportHeapSnapshotProgress", p);
    if (s->closed)
        return -1;
    int rc = hs_server_drain(hs__service_server(), s->ws, 0, 100);
    return rc == -EPIPE || rc == -ECANCELED ? -1 : 0;
}

/* 0, or -1 when the session is gone or stopped reading. */
static int send_chunk(hs_cdp_session *s, const char *buf, size_t len)
{
    if (s->closed)
        return -1;
    hs__session_string_event(s, "HeapProfiler.addHeapSnapshotChunk", "chunk", buf, len);
    if (s->closed)
        return -1;
    return hs_server_drain(hs__service_server(), s->ws, CHUNK, DRAIN_TIMEOUT_MS) < 0 ? -1 : 0;
}

/* Progress while the child builds the graph: done = blocks scanned. V8
 * never reports done == total before the end ("signalling finished twice
 * breaks the DevTools frontend"). Returns whether an event was sent. */
static bool wait_built(hs_cdp_session *s, struct hs_snap_job *job, bool report, int *gone)
{
    uint64_t last = UINT64_MAX, done = 0, total = 0;
    int built = 0;
    for (;;) {
        hs__snapshot_progress(job, &done, &total, &built);
        if (report && total && !built && done < total &&
            (last == UINT64_MAX || done - last >= PROGRESS_STEP)) {
            last = done;
            if (progress(s, done, total, false) < 0) {
                *gone = 1; /* the client went away: stop building for it */
                break;
            }
        }
        if (built)
            break;
        struct pollfd pf = {.fd = hs__snapshot_fd(job), .events = POLLIN};
        if (poll(&pf, 1, 50) > 0) /* data, or the child is gone */
            break;
    }
    return last != UINT64_MAX;
}

int hs__snapshot_stream(hs_cdp_session *s, bool report, const struct hs_snap_samples *samples)
{
    char *buf = malloc(CHUNK);
    struct hs_snap_job *job = NULL;
    if (!buf || hs__snapshot_begin(&job, samples) < 0) {
        free(buf);
        return HS_E_NOMEM;
    }
    int gone = 0;
    bool sent = wait_built(s, job, report, &gone);
    uint64_t done, total;
    int built;
    hs__snapshot_progress(job, &done, &total, &built);
    if (report && !gone) {
        if (!sent)
            gone |= progress(s, 0, total, false) < 0; /* V8 always starts at 0 */
        gone |= progress(s, total, total, false) < 0;
        gone |= progress(s, total, total, true) < 0;
    }
    int fd = hs__snapshot_fd(job);
    size_t have = 0;
    while (!gone) {
        ssize_t n = read(fd, buf + have, CHUNK - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        if (have == CHUNK) {
            if ((gone = send_chunk(s, buf, have) < 0))
                break;
            have = 0;
        }
    }
    if (!gone && have)
        gone = send_chunk(s, buf, have) < 0;
    free(buf);
    struct hs_snap_stats st;
    int rc = hs__snapshot_end(job, gone, &st);
    if (hs__config.verbose)
        dprintf(2,
                "heapscope: snapshot: %llu blocks, %llu leaked (%llu bytes), %llu edges, "
                "pause %.1f ms, %.0f ms in all%s\n",
                (unsigned long long)st.blocks, (unsigned long long)st.leaked_blocks,
                (unsigned long long)st.leaked_bytes, (unsigned long long)st.edges,
                (double)st.pause_ns / 1e6, (double)st.wall_ns / 1e6, gone ? " (client gone)" : "");
    return rc;
}

static void hp_take_heap_snapshot(hs_call *c, const json_t *params)
{
    if (!hs__registry_on) {
        hs__call_error_no_registry(c, "HeapProfiler.takeHeapSnapshot");
        return;
    }
    if (hs__snapshot_stream(hs__call_session(c), hs__flag(params, "reportProgress"), NULL) == 0)
        hs__call_done(c);
    else
        hs__call_error(c, -32000, "Failed to take heap snapshot");
}

/* ---- object ids (spec §2.5) ---------------------------------------------------- */

/* A HeapSnapshotObjectId as V8 reads it (a decimal integer): 1 and the id of
 * the block it can name, 0 if it is well formed but names no block (0,
 * negative, too large), -1 if it is not an integer. */
static int parse_heap_id(const char *text, uint32_t *id)
{
    const char *p = text ? text : "";
    int neg = *p == '-';
    p += neg;
    if (*p < '0' || *p > '9')
        return -1;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        v = v > UINT32_MAX ? v : v * 10 + (uint64_t)(*p - '0');
    if (*p)
        return -1;
    *id = (uint32_t)v;
    return !neg && v > 0 && v <= UINT32_MAX;
}

/* The live block a heap id names, or the call answered with V8's error. */
static bool block_of_heap_id(hs_call *c, const char *method, const char *text, hs_val *out)
{
    uint32_t id = 0;
    int rc = parse_heap_id(text, &id);
    if (rc < 0) {
        hs__call_error(c, -32000, "Invalid heap snapshot object id");
        return false;
    }
    if (!hs__registry_on) {
        hs__call_error_no_registry(c, method);
        return false;
    }
    if (rc == 0 || !hs__val_of_id(id, out)) {
        hs__call_error(c, -32000, "Object is not available");
        return false;
    }
    return true;
}

static void hp_get_object_by_heap_object_id(hs_call *c, const json_t *params)
{
    hs_val v;
    if (!block_of_heap_id(c, "HeapProfiler.getObjectByHeapObjectId",
                          json_string_value(json_object_get(params, "objectId")), &v))
        return;
    hs_inspect ix = {0};
    const char *msg = "Internal error";
    json_t *ro =
        hs__val_remote(&ix, hs__call_session(c),
                       json_string_value(json_object_get(params, "objectGroup")), &v, &msg);
    hs__inspect_end(&ix);
    if (ro)
        hs__call_ok(c, json_pack("{so}", "result", ro));
    else
        hs__call_error(c, -32000, msg);
}

/* The block becomes $0; the earlier ones move to $1 … $4. */
static void hp_add_inspected_heap_object(hs_call *c, const json_t *params)
{
    hs_val v;
    if (!block_of_heap_id(c, "HeapProfiler.addInspectedHeapObject",
                          json_string_value(json_object_get(params, "heapObjectId")), &v))
        return;
    hs_cdp_session *s = hs__call_session(c);
    memmove(&s->inspected[1], &s->inspected[0], sizeof(s->inspected) - sizeof(s->inspected[0]));
    s->inspected[0] = v;
    hs__call_done(c);
}

/* A block's id, also from inside it; "0" for anything that is not a live
 * block (V8's kUnknownObjectId for an object it has not seen). */
static void hp_get_heap_object_id(hs_call *c, const json_t *params)
{
    hs_val v;
    const char *msg = NULL;
    if (hs__objects_get(hs__call_session(c), json_string_value(json_object_get(params, "objectId")),
                        &v, NULL, &msg) < 0) {
        hs__call_error(c, -32000, msg);
        return;
    }
    char id[16] = "0";
    if (v.kind == HS_VAL_BLOCK && hs__val_live(&v))
        snprintf(id, sizeof(id), "%" PRIu32, v.id);
    hs__call_ok(c, json_pack("{ss}", "heapSnapshotObjectId", id));
}

const hs_handler hs__heap_profiler_handlers[] = {
    {"HeapProfiler.getObjectByHeapObjectId", hp_get_object_by_heap_object_id},
    {"HeapProfiler.addInspectedHeapObject", hp_add_inspected_heap_object},
    {"HeapProfiler.getHeapObjectId", hp_get_heap_object_id},
    {"HeapProfiler.takeHeapSnapshot", hp_take_heap_snapshot},
    {"HeapProfiler.startSampling", hp_start_sampling},
    {"HeapProfiler.getSamplingProfile", hp_get_sampling_profile},
    {"HeapProfiler.stopSampling", hp_stop_sampling},
    {"HeapProfiler.enable", hp_enable},
    {"HeapProfiler.disable", hp_disable},
    {"HeapProfiler.collectGarbage", hp_collect_garbage},
    {NULL, NULL},
};
