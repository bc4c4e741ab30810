/*
 * timeline.c — the allocation timeline on the wire (spec §2.3, §5.2;
 * docs/design/timeline.md): startTrackingHeapObjects, the ticks that send
 * heapStatsUpdate and lastSeenObjectId, and stopTrackingHeapObjects with its
 * snapshot. The counting itself is track/timeline.c's, on the hooks' paths;
 * here a tick only closes a fragment and reads the counters of every
 * fragment, sending those that changed.
 *
 * As in V8 the timeline is the heap's, not a session's: every session that
 * started it receives the events, a stop from any session ends it, and it
 * ends with the last session that receives them (V8 stops tracking when its
 * session goes). One started at load (HEAPSCOPE_TRACK) has no session; the
 * first client's start begins the recording afresh, so that its fragments
 * count from 0 with its lastSeenObjectId events, as DevTools requires.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../agent_int.h"
#include "../snapshot/snapshot.h"
#include "domain.h"
#include "heapscope/hs_err.h"

/* The tick's period: V8's kDefaultTimerDelay, 50 ms, unless
 * HEAPSCOPE_TRACK_PERIOD_MS says otherwise (tests). */
#define TICK_MS ((unsigned)hs__config.track_period_ms)
#define TRIPLETS_PER_EVENT 1024 /* V8's OutputStream::GetChunkSize */
#define MAX_SESSIONS 16

struct counts {
    int64_t count, bytes;
};

static struct {
    bool on;
    int timer; /* 0 = none */
    unsigned delay_ms;
    uint64_t t0_ns;      /* the first tick, 0 before it */
    struct counts *sent; /* what each fragment's last triplet said */
    size_t nsent, cap_sent;
    uint64_t *samples; /* pairs: µs since the first tick, last id */
    size_t nsamples, cap_samples;
    hs_cdp_session *sessions[MAX_SESSIONS];
    int nsessions;
} T;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return HS_E_NOMEM;
    memset((char *)q + *cap * elem, 0, (n - *cap) * elem);
    *p = q;
    *cap = n;
    return 0;
}

static void broadcast(const char *method, json_t *params)
{
    if (!params) /* out of memory: no event rather than one without its params */
        return;
    for (int i = 0; i < T.nsessions; i++)
        hs__session_event(T.sessions[i], method, json_incref(params));
    json_decref(params);
}

static void send_triplets(json_t *a)
{
    if (json_array_size(a))
        broadcast("HeapProfiler.heapStatsUpdate", json_pack("{s:o}", "statsUpdate", a));
    else
        json_decref(a);
}

static void tick(void *ud);

static void arm(unsigned ms)
{
    if (T.timer)
        hs_server_timer_cancel(hs__service_server(), T.timer);
    T.delay_ms = ms;
    int id = hs_server_timer_add(hs__service_server(), ms, true, tick, NULL);
    T.timer = id > 0 ? id : 0;
}

/* V8's requestHeapStatsUpdate: close the fragment, send every fragment whose
 * count or size changed (absolute values, at most 1024 triplets an event),
 * then the last id handed out and the time. Then adapt the period as V8
 * does when a tick is slow. */
static void tick(void *ud)
{
    (void)ud;
    if (!T.on)
        return;
    uint64_t t = mono_ns();
    uint32_t k, end;
    /* Room first: a fragment closed must be followed by its lastSeenObjectId. */
    if (grow((void **)&T.sent, &T.cap_sent, T.nsent + 1, sizeof(*T.sent)) < 0 ||
        grow((void **)&T.samples, &T.cap_samples, T.nsamples + 2, sizeof(*T.samples)) < 0 ||
        hs__timeline_close(&k, &end) < 0)
        return; /* out of fragments or memory: this tick is skipped */
    if (!T.t0_ns)
        T.t0_ns = t;
    uint32_t last_id = end - 2;
    T.samples[T.nsamples++] = (t - T.t0_ns) / 1000;
    T.samples[T.nsamples++] = last_id;
    T.nsent = (size_t)k + 1;
    /* Nobody listens (HEAPSCOPE_TRACK from load): count, send nothing. */
    bool quiet = T.nsessions == 0;
    json_t *a = quiet ? NULL : json_array();
    size_t n = 0;
    for (uint32_t f = 0; f <= k && (a || quiet); f++) {
        int64_t count, bytes;
        hs__timeline_read(f, &count, &bytes);
        count = count < 0 ? 0 : count;
        bytes = bytes < 0 ? 0 : bytes;
        if (T.sent[f].count == count && T.sent[f].bytes == bytes)
            continue;
        T.sent[f] = (struct counts){count, bytes};
        if (quiet)
            continue;
        json_array_append_new(a, json_integer(f));
        json_array_append_new(a, json_integer(count));
        json_array_append_new(a, json_integer(bytes));
        if (++n % TRIPLETS_PER_EVENT == 0) {
            send_triplets(a);
            a = json_array();
        }
    }
    if (a)
        send_triplets(a);
    if (!quiet)
        broadcast("HeapProfiler.lastSeenObjectId",
                  json_pack("{s:I,s:f}", "lastSeenObjectId", (json_int_t)last_id, "timestamp",
                            wall_ms()));
    unsigned e = (unsigned)((mono_ns() - t) / 1000000u);
    unsigned lo = 2 * e > TICK_MS ? 2 * e : TICK_MS, hi = 4 * e > TICK_MS ? 4 * e : TICK_MS;
    if (T.timer && (T.delay_ms < lo || T.delay_ms > hi))
        arm(3 * e > TICK_MS ? 3 * e : TICK_MS);
}

static int begin(bool stacks, bool ticks)
{
    int rc = hs__timeline_start();
    if (rc < 0)
        return rc;
    T.on = true;
    T.nsent = T.nsamples = 0;
    memset(T.sent, 0, T.cap_sent * sizeof(*T.sent));
    T.t0_ns = 0;
    T.timer = 0;
    if (ticks)
        arm(TICK_MS);
    if (stacks)
        hs__timeline_stacks_on(hs__config.sample_depth);
    return 0;
}

/* Ends tracking; idempotent. */
static void finish(void)
{
    if (T.timer)
        hs_server_timer_cancel(hs__service_server(), T.timer);
    T.timer = 0;
    uint64_t dropped = hs__timeline_stacks_dropped();
    if (hs__timeline_stacks_active() && dropped)
        dprintf(2, "heapscope: the timeline kept no stack for %llu allocations (past its bound)\n",
                (unsigned long long)dropped);
    if (T.on)
        hs__timeline_stop(); /* stacks too */
    T.on = false;
    T.nsessions = 0;
    free(T.sent);
    free(T.samples);
    T.sent = NULL;
    T.samples = NULL;
    T.nsent = T.cap_sent = T.nsamples = T.cap_samples = 0;
}

static void subscribe(hs_cdp_session *s)
{
    for (int i = 0; i < T.nsessions; i++)
        if (T.sessions[i] == s)
            return;
    if (T.nsessions < MAX_SESSIONS)
        T.sessions[T.nsessions++] = s;
}

static void tl_start(hs_call *c, const json_t *params)
{
    if (!hs__registry_on) {
        hs__call_error_no_registry(c, "HeapProfiler.startTrackingHeapObjects");
        return;
    }
    bool stacks = hs__flag(params, "trackAllocations");
    if (T.on && T.nsessions == 0) /* started at load: the client's recording starts now */
        finish();
    int rc = 0;
    if (!T.on)
        rc = begin(stacks, true);
    else if (stacks) /* V8 installs the allocation tracker on a second start */
        hs__timeline_stacks_on(hs__config.sample_depth);
    if (rc < 0) {
        hs__call_error(c, -32000, hs_strerror(rc));
        return;
    }
    subscribe(hs__call_session(c));
    hs__call_done(c);
}

/* V8: a last update, a snapshot streamed as by takeHeapSnapshot (with the
 * ticks as its samples), then tracking ends. Without a start there is just
 * the snapshot. The reply is a success even if the snapshot failed. */
static void tl_stop(hs_call *c, const json_t *params)
{
    if (!hs__registry_on) {
        hs__call_error_no_registry(c, "HeapProfiler.stopTrackingHeapObjects");
        return;
    }
    struct hs_snap_samples sm = {NULL, 0};
    if (T.on) {
        tick(NULL);
        /* No tick while the snapshot streams (the counting goes on). */
        if (T.timer)
            hs_server_timer_cancel(hs__service_server(), T.timer);
        T.timer = 0;
        sm = (struct hs_snap_samples){T.samples, T.nsamples};
    }
    hs__snapshot_stream(hs__call_session(c), hs__flag(params, "reportProgress"), &sm);
    finish();
    hs__call_done(c);
}

void hs__timeline_disable(void)
{
    finish();
}

void hs__timeline_session_closed(hs_cdp_session *s)
{
    for (int i = 0; i < T.nsessions; i++)
        if (T.sessions[i] == s) {
            T.sessions[i] = T.sessions[--T.nsessions];
            if (T.nsessions == 0)
                finish();
            return;
        }
}

int hs__timeline_summary(char *buf, size_t n)
{
    return snprintf(buf, n,
                    "timeline=%s timeline_allocs=%llu timeline_ticks=%llu timeline_stacks=%u",
                    !T.on                          ? "off"
                    : hs__timeline_stacks_active() ? "stacks"
                                                   : "on",
                    (unsigned long long)hs__timeline_allocs(), (unsigned long long)(T.nsamples / 2),
                    hs__timeline_stacks_active() ? hs__sampler_stack_count() : 0u);
}

void hs__timeline_load(void)
{
    if (hs__config.track && hs__registry_on && begin(hs__config.track == 2, false) < 0)
        dprintf(2, "heapscope: HEAPSCOPE_TRACK: cannot start the timeline\n");
}

void hs__timeline_autostart(void)
{
    if (T.on && !T.timer)
        arm(TICK_MS);
}

const hs_handler hs__timeline_handlers[] = {
    {"HeapProfiler.startTrackingHeapObjects", tl_start},
    {"HeapProfiler.stopTrackingHeapObjects", tl_stop},
    {NULL, NULL},
};
