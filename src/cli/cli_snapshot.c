/*
 * cli_snapshot.c — `heapscope snapshot`: a heap snapshot of a running target
 * (HeapProfiler.takeHeapSnapshot) through libheapscope-client, saved as a
 * .heapsnapshot: the text of the target's addHeapSnapshotChunk events, joined
 * byte for byte, as DevTools saves it (Memory panel, Load opens it).
 *
 * Works against any CDP target: our agent, node --inspect, Chrome. Chunks are
 * written to the file as they arrive, so memory stays bounded by one chunk
 * (the client keeps none of them); the node and edge counts of the summary
 * come from the snapshot's header. That stream is cli_common.c's
 * (hs_cli_snapfile), shared with `track`, whose stopTrackingHeapObjects sends
 * the same.
 *
 * With reportProgress (the default; --no-progress leaves it out) the target
 * sends reportHeapSnapshotProgress while it builds the graph: on a terminal we
 * draw a bar on stderr from them, then the bytes received; otherwise nothing
 * until the one summary line, which also counts the progress events.
 *
 * The file is written to a temporary name next to FILE, created before we
 * connect (an unwritable place fails before the target does any work), and
 * renamed once the target has answered after its last chunk; on any failure,
 * or SIGINT/SIGTERM, it is removed.
 *
 * Exit status: 0 written, 1 the target or the file failed, 2 bad command line,
 * 128+signal when interrupted.
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

static void on_stop_signal(int sig)
{
    static const char msg[] = "\nheapscope: interrupted: no snapshot written\n";
    hs_cli_tmp_unlink();
    ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)n;
    _exit(128 + sig);
}

static void snapshot_usage(FILE *f)
{
    fprintf(
        f,
        "usage: heapscope snapshot --target TARGET -o FILE.heapsnapshot [--no-progress]\n"
        "           [--expose-internals] [--capture-numeric-value] [--timeout MS]\n"
        "Takes a heap snapshot of TARGET (HOST:PORT, HOST:PORT/ID-OR-TITLE, ws://URL or\n"
        "unix:PATH) and writes it to FILE as it arrives. --timeout MS bounds the connection and\n"
        "each wait for the target's next event (default 5000 and 30000 ms).\n");
}

/* ---- the command ------------------------------------------------------------------------ */

struct snapshot_opts {
    struct hs_cli_target_opts t;
    hs_snapshot_params params;
    bool no_progress;
};

/* The options of snapshot's own (hs_cli_more_opts). */
static int snapshot_opt(int argc, char **argv, int *i, void *ud, const char **bad)
{
    struct snapshot_opts *o = ud;
    (void)argc;
    (void)bad;
    if (!strcmp(argv[*i], "--no-progress")) {
        o->no_progress = true;
    } else if (!strcmp(argv[*i], "--expose-internals")) {
        o->params.has_expose_internals = true;
        o->params.expose_internals = true;
    } else if (!strcmp(argv[*i], "--capture-numeric-value")) {
        o->params.has_capture_numeric_value = true;
        o->params.capture_numeric_value = true;
    } else {
        return 0;
    }
    return 1;
}

/* The command after the options: connect, take the snapshot, save. */
static int snapshot_session(hs_client *c, const struct snapshot_opts *o, struct hs_cli_snapfile *s)
{
    static const struct hs_cli_snapfile_words words = {"takeHeapSnapshot", "taking the snapshot",
                                                       "no snapshot written"};
    char where[512];
    int rc = hs_cli_connect(c, o->t.target, where, sizeof(where));
    if (rc != 0)
        return rc;
    if (s->tty)
        fprintf(stderr, "heapscope: taking a heap snapshot of %s", where);
    hs_snapshot_sink sink = hs_cli_snapfile_sink(s);
    rc = hs_hp_take_heap_snapshot(c, &o->params, &sink);
    if (hs_cli_snapfile_end(s, c, rc, where, o->t.out, &words) != 0)
        return 1;
    char what[160], progress[96];
    if (!o->params.report_progress)
        snprintf(progress, sizeof(progress), "progress not asked for");
    else if (s->progress_events == 0)
        snprintf(progress, sizeof(progress), "no progress reports");
    else
        snprintf(progress, sizeof(progress), "%llu progress reports (%" PRId64 "/%" PRId64 "%s)",
                 s->progress_events, s->done, s->total, s->finished ? ", finished" : "");
    fprintf(stderr, "heapscope: wrote %s: %s; %s\n", o->t.out,
            hs_cli_snapfile_describe(s, what, sizeof(what)), progress);
    return 0;
}

/* hs_cli_session_fn: the snapshot goes to *fd, closed once the file is in place. */
static int snapshot_run_session(hs_client *c, int *fd, void *ud)
{
    const struct snapshot_opts *o = ud;
    struct hs_cli_snapfile *s = hs_cli_snapfile_new(*fd);
    if (!s)
        return 1;
    int rc = snapshot_session(c, o, s);
    *fd = s->fd;
    free(s);
    return rc;
}

int hs_cli_snapshot(int argc, char **argv)
{
    struct snapshot_opts o = {0};
    int rc = hs_cli_target_args("snapshot", argc, argv, &o.t, snapshot_usage, snapshot_opt, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (!o.no_progress) {
        o.params.has_report_progress = true;
        o.params.report_progress = true;
    }
    return hs_cli_target_session(&o.t, on_stop_signal, snapshot_run_session, &o);
}
