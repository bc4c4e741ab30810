/*
 * cli_track.c — `heapscope track`: the allocation timeline of a running target
 * (HeapProfiler.startTrackingHeapObjects, a recording, stopTrackingHeapObjects)
 * through libheapscope-client, saved as a .heaptimeline: the heap snapshot
 * that stopTrackingHeapObjects streams, whose `samples` hold one (time, last
 * object id) pair per fragment of the recording and, with --stacks
 * (trackAllocations), `trace_function_infos` and `trace_tree` the allocation
 * stacks. DevTools' Memory panel (Load) opens a file named *.heaptimeline as
 * an "Allocation instrumentation on timeline" profile.
 *
 * While it records, the target closes a fragment on each tick (every 50 ms in
 * V8 and the agent) and sends heapStatsUpdate, the absolute live count and
 * size of every fragment that changed since the last one (spec §2.3), then
 * lastSeenObjectId. We keep each fragment's figures and print, once a second,
 * what is live in all of them and how much of what was allocated in the last
 * second (the fragments that closed in it) is still live; on a terminal as
 * one updating line, otherwise a line each second. These are figures for the
 * user only: the file is the target's snapshot, byte for byte.
 *
 * The recording ends after --duration seconds or at the first SIGINT/SIGTERM
 * (stdin is never read: without --duration only a signal ends it). Then
 * stopTrackingHeapObjects {reportProgress: true}: the target sends a last
 * update, then builds and streams the snapshot as takeHeapSnapshot does, and
 * answers after the last chunk; the chunks go to the file as `snapshot` writes
 * them (cli_common.c's hs_cli_snapfile: a temporary name next to FILE, renamed
 * once the target has answered, a progress bar on a terminal). A signal before
 * tracking started, a second one, or one while the snapshot comes, aborts:
 * the temporary file is removed and nothing is written.
 *
 * Exit status: 0 written, 1 the target or the file failed, 2 bad command line,
 * 128+signal when interrupted before tracking started or aborted.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_common.h"
#include "heapscope/hs_client.h"

/* Fragments kept: a tick every 50 ms fills this in 58 hours. A triplet with
 * a higher index, or a count or size outside [0, TRACK_MAX_FIGURE] (1 TiB in
 * one fragment), is ignored: a target's numbers can neither make us allocate
 * without bound nor overflow the sums (2^22 × 2^40 < 2^63). */
#define TRACK_MAX_FRAGMENTS (1u << 22)
#define TRACK_MAX_FIGURE (INT64_C(1) << 40)

static void track_usage(FILE *f)
{
    fprintf(f, "usage: heapscope track --target TARGET -o FILE.heaptimeline [--stacks]\n"
               "           [--duration SECONDS] [--timeout MS]\n"
               "Records the allocation timeline of TARGET (HOST:PORT, HOST:PORT/ID-OR-TITLE,\n"
               "ws://URL or unix:PATH) for SECONDS, or until Ctrl-C or SIGTERM, printing live "
               "figures each\n"
               "second, then writes the target's heap snapshot with the timeline to FILE\n"
               "(DevTools' Memory panel, Load). --stacks records every allocation's stack\n"
               "(trackAllocations). --timeout MS bounds the connection and each wait for the\n"
               "target's answer or next event (default 5000 and 30000 ms).\n");
}

/* ---- the recording ------------------------------------------------------------------------ */

struct fragment {
    int64_t count, bytes;
};

struct timeline {
    struct fragment *frags; /* by index; what the target last said */
    size_t nfrags, cap;
    int64_t live_count, live_bytes; /* the sums over frags */
    uint64_t closed;                /* lastSeenObjectId events: fragments closed */
    uint64_t ignored;               /* triplets out of range */
    /* The live line. */
    bool tty;
    int64_t shown_s;       /* the last second printed */
    uint64_t first_unseen; /* the first fragment closed since then */
};

static struct fragment *fragment_at(struct timeline *t, int64_t index)
{
    if (index < 0 || (uint64_t)index >= TRACK_MAX_FRAGMENTS)
        return NULL;
    size_t i = (size_t)index;
    if (i >= t->cap) {
        size_t n = t->cap ? t->cap : 256;
        while (n <= i)
            n *= 2;
        struct fragment *p = realloc(t->frags, n * sizeof(*p));
        if (!p)
            return NULL;
        memset(p + t->cap, 0, (n - t->cap) * sizeof(*p));
        t->frags = p;
        t->cap = n;
    }
    if (i >= t->nfrags)
        t->nfrags = i + 1;
    return &t->frags[i];
}

/* heapStatsUpdate: triplets (fragment, count, bytes), absolute values. */
static void on_stats(void *ud, const int64_t *stats, size_t n)
{
    struct timeline *t = ud;
    for (size_t i = 0; i + 3 <= n; i += 3) {
        bool sane = stats[i + 1] >= 0 && stats[i + 1] <= TRACK_MAX_FIGURE && stats[i + 2] >= 0 &&
                    stats[i + 2] <= TRACK_MAX_FIGURE;
        struct fragment *f = sane ? fragment_at(t, stats[i]) : NULL;
        if (!f) {
            t->ignored++;
            continue;
        }
        t->live_count += stats[i + 1] - f->count;
        t->live_bytes += stats[i + 2] - f->bytes;
        f->count = stats[i + 1];
        f->bytes = stats[i + 2];
    }
}

/* lastSeenObjectId closes the fragment the updates before it described. */
static void on_last_seen(void *ud, int64_t id, double timestamp_ms)
{
    struct timeline *t = ud;
    (void)id;
    (void)timestamp_ms;
    t->closed++;
}

/* hs_cli_wait_stop's tick: a line once a whole second has passed. Fragment 0
 * holds the heap from before the recording, so it is never "new". */
static void live_line(void *ud, int64_t elapsed_ms)
{
    struct timeline *t = ud;
    if (elapsed_ms / 1000 <= t->shown_s)
        return;
    t->shown_s = elapsed_ms / 1000;
    int64_t fresh = 0;
    size_t end = t->closed < t->nfrags ? (size_t)t->closed : t->nfrags;
    for (size_t i = t->first_unseen ? (size_t)t->first_unseen : 1; i < end; i++)
        fresh += t->frags[i].bytes;
    t->first_unseen = t->closed;
    char nb[32], lb[32];
    fprintf(
        stderr, "%sheapscope: %" PRId64 " s: +%s new, %s live in %" PRId64 " objects%s",
        t->tty ? "\r" : "", t->shown_s, hs_cli_bytes((unsigned long long)fresh, nb, sizeof(nb)),
        hs_cli_bytes((unsigned long long)(t->live_bytes < 0 ? 0 : t->live_bytes), lb, sizeof(lb)),
        t->live_count, t->tty ? "\033[K" : "\n");
}

/* ---- the command ------------------------------------------------------------------------ */

struct track_opts {
    struct hs_cli_target_opts t;
    bool stacks;
    double duration_s; /* 0: until a signal */
};

/* The options of track's own (hs_cli_more_opts). */
static int track_opt(int argc, char **argv, int *i, void *ud, const char **bad)
{
    struct track_opts *o = ud;
    const char *v = NULL;
    int t;
    if ((t = hs_cli_opt_value(argc, argv, i, "--duration", &v)) != 0) {
        if (t < 0 || hs_cli_parse_seconds(v, &o->duration_s) < 0)
            *bad = "--duration takes seconds (> 0)";
    } else if (!strcmp(argv[*i], "--stacks")) {
        o->stacks = true;
    } else {
        return 0;
    }
    return 1;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Records until the duration or a signal; 0, or the exit status after saying
 * what failed. *recorded_ms: how long it ran. */
static int record(hs_client *c, const struct track_opts *o, const char *where, struct timeline *t,
                  int64_t *recorded_ms)
{
    hs_client_events ev = {.heap_stats_update = on_stats, .last_seen_object_id = on_last_seen};
    hs_client_set_events(c, &ev, t);
    hs_cli_record_phase(HS_CLI_RECORDING);
    hs_start_tracking_params p = {.has_track_allocations = true, .track_allocations = o->stacks};
    int rc = hs_hp_start_tracking_heap_objects(c, &p);
    if (rc < 0) {
        fprintf(stderr, "heapscope: HeapProfiler.startTrackingHeapObjects failed on %s: %s\n",
                where, hs_client_last_error(c));
        return 1;
    }
    char until[64];
    if (o->duration_s > 0)
        snprintf(until, sizeof(until), "for %g s", o->duration_s);
    else
        snprintf(until, sizeof(until), "until Ctrl-C or SIGTERM");
    fprintf(stderr, "heapscope: recording the allocation timeline of %s%s %s\n", where,
            o->stacks ? " with allocation stacks" : "", until);
    int64_t start = hs_cli_now_ms();
    rc = hs_cli_wait_stop(c, o->duration_s, live_line, t);
    *recorded_ms = hs_cli_now_ms() - start;
    if (t->tty)
        hs_cli_clear_line();
    if (rc < 0) {
        fprintf(stderr,
                "heapscope: the target went away while recording the allocation timeline (%s): "
                "%s (no file written)\n",
                where, hs_client_last_error(c));
        return 1;
    }
    return 0;
}

/* The command after the options: connect, record, stop, save. */
static int track_session(hs_client *c, const struct track_opts *o, struct hs_cli_snapfile *s,
                         struct timeline *t)
{
    static const struct hs_cli_snapfile_words words = {
        "stopTrackingHeapObjects", "sending the timeline's snapshot", "no file written"};
    char where[512];
    int rc = hs_cli_connect(c, o->t.target, where, sizeof(where));
    if (rc != 0)
        return rc;
    int64_t recorded_ms = 0;
    rc = record(c, o, where, t, &recorded_ms);
    if (rc != 0)
        return rc;

    hs_cli_record_phase(HS_CLI_SAVING);
    fprintf(stderr, "heapscope: stopped after %.1f s; taking the timeline's snapshot%s",
            (double)recorded_ms / 1000, t->tty ? "" : "\n");
    hs_snapshot_params p = {.has_report_progress = true, .report_progress = true};
    hs_snapshot_sink sink = hs_cli_snapfile_sink(s);
    rc = hs_hp_stop_tracking_heap_objects(c, &p, &sink);
    if (hs_cli_snapfile_end(s, c, rc, where, o->t.out, &words) != 0)
        return 1;

    char what[160], lb[32];
    fprintf(
        stderr,
        "heapscope: wrote %s: %s; %" PRIu64 " fragments in %.1f s, %s live in %" PRId64
        " objects%s\n",
        o->t.out, hs_cli_snapfile_describe(s, what, sizeof(what)), t->closed,
        (double)recorded_ms / 1000,
        hs_cli_bytes((unsigned long long)(t->live_bytes < 0 ? 0 : t->live_bytes), lb, sizeof(lb)),
        t->live_count, o->stacks ? ", with allocation stacks" : "");
    if (t->ignored)
        fprintf(stderr,
                "heapscope: ignored %" PRIu64 " heapStatsUpdate triplet%s (a fragment or a figure "
                "out of range)\n",
                t->ignored, t->ignored == 1 ? "" : "s");
    fprintf(stderr, "heapscope: open it in Chrome DevTools (Memory panel, Load)%s\n",
            ends_with(o->t.out, ".heaptimeline")
                ? ""
                : "; DevTools shows the timeline only for a name ending in .heaptimeline");
    return 0;
}

/* hs_cli_session_fn: the snapshot goes to *fd, closed once the file is in place. */
static int track_run_session(hs_client *c, int *fd, void *ud)
{
    const struct track_opts *o = ud;
    struct hs_cli_snapfile *s = hs_cli_snapfile_new(*fd);
    if (!s)
        return 1;
    struct timeline t = {.tty = s->tty};
    int rc = track_session(c, o, s, &t);
    *fd = s->fd;
    free(s);
    free(t.frags);
    return rc;
}

int hs_cli_track(int argc, char **argv)
{
    struct track_opts o = {0};
    int rc = hs_cli_target_args("track", argc, argv, &o.t, track_usage, track_opt, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    hs_cli_record_begin("recording");
    return hs_cli_target_session(&o.t, hs_cli_on_record_signal, track_run_session, &o);
}
