/*
 * cli_snapshot.c — `heapscope snapshot`: a heap snapshot of a running target
 * (HeapProfiler.takeHeapSnapshot) through libheapscope-client, saved as a
 * .heapsnapshot: the text of the target's addHeapSnapshotChunk events, joined
 * byte for byte, as DevTools saves it (Memory panel, Load opens it).
 *
 * Works against any CDP target: our agent, node --inspect, Chrome. Chunks are
 * written to the file as they arrive, so memory stays bounded by one chunk
 * (the client keeps none of them); the node and edge counts of the summary
 * come from the snapshot's header, at the start of the first chunk
 * ({"snapshot":{"meta":{…},"node_count":N,"edge_count":E,…}), of which only
 * the first HEAD_MAX bytes are kept.
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
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_common.h"
#include "heapscope/hs_client.h"

/* The header is ~1 KiB in V8's snapshots; a target whose header does not end
 * within this many bytes gets a file without counts in the summary. */
#define HEAD_MAX 65536
#define BAR_WIDTH 30

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
    fprintf(f, "usage: heapscope snapshot --target TARGET -o FILE.heapsnapshot [--no-progress]\n"
               "           [--expose-internals] [--capture-numeric-value] [--timeout MS]\n"
               "Takes a heap snapshot of TARGET (HOST:PORT, HOST:PORT/ID-OR-TITLE or ws://URL)\n"
               "and writes it to FILE as it arrives. --timeout MS bounds the connection and\n"
               "each wait for the target's next event (default 5000 and 30000 ms).\n");
}

/* ---- the file and the stream ---------------------------------------------------------- */

struct stream {
    int fd;
    int err; /* errno of a failed write, 0 */
    unsigned long long bytes;
    unsigned long long chunks;
    /* The start of the text, until the header's counts are found. */
    char head[HEAD_MAX + 1];
    size_t head_len;
    bool have_counts;
    unsigned long long node_count, edge_count;
    /* The last two bytes that were not white space: a whole snapshot ends "]}". */
    char tail[2];
    /* Progress events. */
    unsigned long long progress_events;
    int64_t done, total;
    bool finished;
    /* Drawing. */
    bool tty;
    int shown_pct;
    unsigned long long shown_mib;
};

/* "key":N in the header text; the number must be followed by something (a
 * number cut by the end of what we have is not read). */
static bool header_number(const char *text, const char *key, unsigned long long *out)
{
    const char *p = strstr(text, key);
    if (!p)
        return false;
    p += strlen(key);
    if (*p < '0' || *p > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || !*end)
        return false;
    *out = v;
    return true;
}

static void look_at_head(struct stream *s, const char *data, size_t len)
{
    if (s->have_counts || s->head_len >= HEAD_MAX)
        return;
    size_t n = len < HEAD_MAX - s->head_len ? len : HEAD_MAX - s->head_len;
    memcpy(s->head + s->head_len, data, n);
    s->head_len += n;
    s->head[s->head_len] = '\0';
    /* Only the header object: "node_count" in the arrays or strings after it
     * would be something else. */
    char *nodes = strstr(s->head, "\"nodes\":");
    if (nodes)
        *nodes = '\0';
    s->have_counts = header_number(s->head, "\"node_count\":", &s->node_count) &&
                     header_number(s->head, "\"edge_count\":", &s->edge_count);
    if (nodes)
        *nodes = '"';
}

static void draw_bar(struct stream *s)
{
    int pct = s->total > 0 ? (int)(s->done * 100 / s->total) : 0;
    if (pct > 100)
        pct = 100;
    if (pct == s->shown_pct)
        return;
    s->shown_pct = pct;
    char bar[BAR_WIDTH + 1];
    int full = pct * BAR_WIDTH / 100;
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < full ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\rheapscope: building the snapshot [%s] %3d%% (%" PRId64 "/%" PRId64 ")\033[K",
            bar, pct, s->done, s->total);
}

static void draw_bytes(struct stream *s)
{
    unsigned long long mib = s->bytes >> 20;
    if (s->chunks > 1 && mib == s->shown_mib)
        return;
    s->shown_mib = mib;
    char human[32];
    fprintf(stderr, "\rheapscope: receiving the snapshot: %s\033[K",
            hs_cli_bytes(s->bytes, human, sizeof(human)));
}

static int on_chunk(void *ud, const char *data, size_t len)
{
    struct stream *s = ud;
    look_at_head(s, data, len);
    /* The last two bytes other than white space, across chunks. */
    char last[2];
    int found = 0;
    for (size_t i = len; i-- > 0 && found < 2;) {
        char ch = data[i];
        if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t')
            last[found++] = ch;
    }
    if (found == 2) {
        s->tail[0] = last[1];
        s->tail[1] = last[0];
    } else if (found == 1) {
        s->tail[0] = s->tail[1];
        s->tail[1] = last[0];
    }
    while (len > 0) {
        ssize_t w = write(s->fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->err = w < 0 ? errno : EIO;
            return -1; /* the client reads the rest off the wire and fails the call */
        }
        data += w;
        len -= (size_t)w;
        s->bytes += (unsigned long long)w;
    }
    s->chunks++;
    if (s->tty)
        draw_bytes(s);
    return 0;
}

static void on_progress(void *ud, int64_t done, int64_t total, bool finished)
{
    struct stream *s = ud;
    s->progress_events++;
    s->done = done;
    s->total = total;
    if (finished)
        s->finished = true;
    if (s->tty)
        draw_bar(s);
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

static void clear_line(const struct stream *s)
{
    if (s->tty)
        hs_cli_clear_line();
}

/* Closes s->fd (set to -1) and renames the file into place. Returns 0 or -1 (errno). */
static int finish_file(struct stream *s, const char *path)
{
    int e = 0;
    if (fsync(s->fd) != 0)
        e = errno;
    if (close(s->fd) != 0 && !e)
        e = errno;
    s->fd = -1;
    if (e)
        return errno = e, -1;
    return hs_cli_tmp_commit(path);
}

/* The command after the options: connect, take the snapshot, save. */
static int snapshot_session(hs_client *c, const struct snapshot_opts *o, struct stream *s)
{
    char where[512];
    int rc = hs_cli_connect(c, o->t.target, where, sizeof(where));
    if (rc != 0)
        return rc;
    if (s->tty)
        fprintf(stderr, "heapscope: taking a heap snapshot of %s", where);
    hs_snapshot_sink sink = {.write = on_chunk, .progress = on_progress, .ud = s};
    rc = hs_hp_take_heap_snapshot(c, &o->params, &sink);
    clear_line(s);
    if (rc == HS_E_ABORTED && s->err) {
        fprintf(stderr, "heapscope: cannot write %s: %s (no snapshot written)\n", o->t.out,
                strerror(s->err));
        return 1;
    }
    if (rc == HS_E_CLOSED) {
        fprintf(stderr,
                "heapscope: the target went away while taking the snapshot (%s): %s (no "
                "snapshot written)\n",
                where, hs_client_last_error(c));
        return 1;
    }
    if (rc < 0) {
        fprintf(stderr,
                "heapscope: HeapProfiler.takeHeapSnapshot failed on %s: %s (no snapshot "
                "written)\n",
                where, hs_client_last_error(c));
        return 1;
    }
    hs_client_close(c);
    if (s->bytes == 0) {
        fprintf(stderr,
                "heapscope: %s answered takeHeapSnapshot without sending a snapshot (no "
                "snapshot written)\n",
                where);
        return 1;
    }
    if (s->tail[0] != ']' || s->tail[1] != '}') {
        fprintf(stderr,
                "heapscope: the snapshot from %s is cut short (%llu bytes, not ending in ']}'; "
                "no snapshot written)\n",
                where, s->bytes);
        return 1;
    }
    if (finish_file(s, o->t.out) < 0) {
        fprintf(stderr, "heapscope: cannot write %s: %s\n", o->t.out, strerror(errno));
        return 1;
    }
    char human[32], counts[96], progress[96];
    hs_cli_bytes(s->bytes, human, sizeof(human));
    if (s->have_counts)
        snprintf(counts, sizeof(counts), "%llu nodes, %llu edges", s->node_count, s->edge_count);
    else
        snprintf(counts, sizeof(counts), "node and edge counts not found in the header");
    if (!o->params.report_progress)
        snprintf(progress, sizeof(progress), "progress not asked for");
    else if (s->progress_events == 0)
        snprintf(progress, sizeof(progress), "no progress reports");
    else
        snprintf(progress, sizeof(progress), "%llu progress reports (%" PRId64 "/%" PRId64 "%s)",
                 s->progress_events, s->done, s->total, s->finished ? ", finished" : "");
    fprintf(stderr, "heapscope: wrote %s: %llu bytes (%s), %s; %s\n", o->t.out, s->bytes, human,
            counts, progress);
    return 0;
}

struct snapshot_run {
    const struct snapshot_opts *o;
    struct stream *s;
};

/* hs_cli_session_fn: the stream writes through *fd. */
static int snapshot_run_session(hs_client *c, int *fd, void *ud)
{
    struct snapshot_run *r = ud;
    r->s->fd = *fd;
    int rc = snapshot_session(c, r->o, r->s);
    *fd = r->s->fd;
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

    struct stream *s = calloc(1, sizeof(*s));
    if (!s) {
        fprintf(stderr, "heapscope: out of memory\n");
        return 1;
    }
    s->tty = isatty(STDERR_FILENO);
    s->shown_pct = -1;
    struct snapshot_run r = {.o = &o, .s = s};
    rc = hs_cli_target_session(&o.t, on_stop_signal, snapshot_run_session, &r);
    free(s);
    return rc;
}
