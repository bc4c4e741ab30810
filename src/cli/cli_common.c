/*
 * cli_common.c — what `heapscope sample`, `snapshot` and `track` share (see
 * cli_common.h): the common options, the temporary file, the signal handlers
 * around the session, the connection to the target, the wait while a
 * recording runs, and the .heapsnapshot streamed into the temporary file.
 * The commands' own output (summaries, live figures) stays with them.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_common.h"

int hs_cli_parse_positive(const char *s, unsigned long long max, unsigned long long *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v == 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

int hs_cli_parse_seconds(const char *s, double *out)
{
    if ((*s < '0' || *s > '9') && *s != '.')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v <= 0 || v > 1e7)
        return -1;
    *out = v;
    return 0;
}

int64_t hs_cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --target, -o/--output or --timeout at argv[*i]: 1 when it was one of them. */
static int target_opt(int argc, char **argv, int *i, struct hs_cli_target_opts *o, const char **bad)
{
    const char *v = NULL;
    unsigned long long n = 0;
    int t;
    if ((t = hs_cli_opt_value(argc, argv, i, "--target", &v)) != 0) {
        if (t < 0 || !*v)
            *bad = "--target needs a value";
        o->target = v;
    } else if ((t = hs_cli_opt_value(argc, argv, i, "-o", &v)) != 0 ||
               (t = hs_cli_opt_value(argc, argv, i, "--output", &v)) != 0) {
        if (t < 0 || !*v)
            *bad = "-o needs a file name";
        o->out = v;
    } else if ((t = hs_cli_opt_value(argc, argv, i, "--timeout", &v)) != 0) {
        if (t < 0 || hs_cli_parse_positive(v, 86400000, &n) < 0)
            *bad = "--timeout takes milliseconds (> 0)";
        o->timeout_ms = (int)n;
    } else {
        return 0;
    }
    return 1;
}

int hs_cli_target_args(const char *cmd, int argc, char **argv, struct hs_cli_target_opts *o,
                       void (*usage)(FILE *), hs_cli_more_opts more, void *ud)
{
    for (int i = 0; i < argc; i++) {
        const char *bad = NULL;
        if (target_opt(argc, argv, &i, o, &bad) || more(argc, argv, &i, ud, &bad)) {
            /* taken */
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 1;
        } else {
            fprintf(stderr, "heapscope %s: unexpected argument '%s'\n", cmd, argv[i]);
            usage(stderr);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "heapscope %s: %s\n", cmd, bad);
            return -1;
        }
    }
    if (!o->target || !o->out) {
        fprintf(stderr, "heapscope %s: %s\n", cmd,
                !o->target ? "--target is required" : "-o FILE is required");
        usage(stderr);
        return -1;
    }
    return 0;
}

/* ---- the temporary file ------------------------------------------------------------------ */

/* For the handlers to remove; set before armed. */
static char tmp_path[PATH_MAX];
static volatile sig_atomic_t tmp_armed;

void hs_cli_tmp_unlink(void)
{
    if (tmp_armed)
        unlink(tmp_path);
}

static void drop_tmp(void)
{
    if (tmp_armed) {
        tmp_armed = 0;
        unlink(tmp_path);
    }
}

int hs_cli_tmp_create(const char *path)
{
    if ((size_t)snprintf(tmp_path, sizeof(tmp_path), "%s.tmp-XXXXXX", path) >= sizeof(tmp_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = mkstemp(tmp_path);
    if (fd < 0)
        return -1;
    tmp_armed = 1;
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) {
        int e = errno;
        close(fd);
        drop_tmp();
        return errno = e, -1;
    }
    return fd;
}

int hs_cli_tmp_commit(const char *path)
{
    if (rename(tmp_path, path) != 0)
        return -1;
    tmp_armed = 0;
    return 0;
}

/* ---- the session ---------------------------------------------------------------------- */

int hs_cli_target_session(const struct hs_cli_target_opts *o, void (*on_signal)(int),
                          hs_cli_session_fn session, void *ud)
{
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    int rc = 1;
    hs_client *c = NULL;
    int fd = hs_cli_tmp_create(o->out);
    if (fd < 0) {
        fprintf(stderr, "heapscope: cannot write %s: %s\n", o->out, strerror(errno));
        goto out;
    }
    hs_client_options co = {.connect_timeout_ms = o->timeout_ms, .call_timeout_ms = o->timeout_ms};
    int err = hs_client_new(&co, &c);
    if (err < 0) {
        fprintf(stderr, "heapscope: %s\n", hs_strerror(err));
        close(fd);
        drop_tmp();
        goto out;
    }
    rc = session(c, &fd, ud);
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        drop_tmp();
    hs_client_free(c);
out:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}

int hs_cli_connect(hs_client *c, const char *target, char *where, size_t size)
{
    int rc = hs_client_connect(c, target);
    if (rc < 0) {
        fprintf(stderr, "heapscope: cannot connect to %s: %s\n", target, hs_client_last_error(c));
        return rc == HS_E_INVAL ? 2 : 1;
    }
    snprintf(where, size, "%s", hs_client_ws_url(c) ? hs_client_ws_url(c) : target);
    rc = hs_hp_enable(c);
    if (rc < 0 && rc != HS_E_REMOTE) {
        fprintf(stderr, "heapscope: HeapProfiler.enable failed on %s: %s\n", where,
                hs_client_last_error(c));
        return 1;
    }
    return 0;
}

void hs_cli_clear_line(void)
{
    fputs("\r\033[K", stderr);
}

/* ---- recording until told to stop ------------------------------------------------------- */

/* How long one read of the session may block: the latency of Ctrl-C. */
#define WAIT_SLICE_MS 100

volatile sig_atomic_t hs_cli_stop_signal;
static volatile sig_atomic_t phase;
/* The handler's line for a signal before the recording, formatted beforehand. */
static char before_line[128];
static size_t before_len;

void hs_cli_record_begin(const char *what)
{
    int n = snprintf(before_line, sizeof(before_line),
                     "heapscope: interrupted before %s started (no file written)\n", what);
    before_len = n < 0 ? 0 : (size_t)n < sizeof(before_line) ? (size_t)n : sizeof(before_line) - 1;
    hs_cli_stop_signal = 0;
    phase = HS_CLI_BEFORE;
}

void hs_cli_record_phase(enum hs_cli_phase p)
{
    phase = p;
}

/* A connect or a call could otherwise keep the process for its whole time-out. */
void hs_cli_on_record_signal(int sig)
{
    if (phase == HS_CLI_RECORDING && !hs_cli_stop_signal) {
        hs_cli_stop_signal = sig;
        return;
    }
    static const char again[] = "\nheapscope: interrupted again: aborted (no file written)\n";
    static const char saving[] = "\nheapscope: interrupted: aborted (no file written)\n";
    hs_cli_tmp_unlink();
    ssize_t n;
    if (hs_cli_stop_signal)
        n = write(STDERR_FILENO, again, sizeof(again) - 1);
    else if (phase == HS_CLI_SAVING)
        n = write(STDERR_FILENO, saving, sizeof(saving) - 1);
    else
        n = write(STDERR_FILENO, before_line, before_len);
    (void)n;
    _exit(128 + sig);
}

int hs_cli_wait_stop(hs_client *c, double duration_s, void (*tick)(void *ud, int64_t elapsed_ms),
                     void *ud)
{
    int64_t start = hs_cli_now_ms();
    int64_t end = duration_s > 0 ? start + (int64_t)(duration_s * 1000 + 0.5) : INT64_MAX;
    while (!hs_cli_stop_signal) {
        int64_t now = hs_cli_now_ms();
        if (now >= end)
            break;
        if (tick)
            tick(ud, now - start);
        int64_t left = end - now;
        int rc = hs_client_wait_events(c, left < WAIT_SLICE_MS ? (int)left : WAIT_SLICE_MS);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- a .heapsnapshot streamed to the temporary file ------------------------------------------ */

#define BAR_WIDTH 30

struct hs_cli_snapfile *hs_cli_snapfile_new(int fd)
{
    struct hs_cli_snapfile *s = calloc(1, sizeof(*s));
    if (!s) {
        fprintf(stderr, "heapscope: out of memory\n");
        return NULL;
    }
    s->fd = fd;
    s->tty = isatty(STDERR_FILENO);
    s->shown_pct = -1;
    return s;
}

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

static void look_at_head(struct hs_cli_snapfile *s, const char *data, size_t len)
{
    if (s->have_counts || s->head_len >= HS_CLI_SNAP_HEAD_MAX)
        return;
    size_t room = HS_CLI_SNAP_HEAD_MAX - s->head_len;
    size_t n = len < room ? len : room;
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

static void draw_bar(struct hs_cli_snapfile *s)
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

static void draw_bytes(struct hs_cli_snapfile *s)
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
    struct hs_cli_snapfile *s = ud;
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
    struct hs_cli_snapfile *s = ud;
    s->progress_events++;
    s->done = done;
    s->total = total;
    if (finished)
        s->finished = true;
    if (s->tty)
        draw_bar(s);
}

hs_snapshot_sink hs_cli_snapfile_sink(struct hs_cli_snapfile *s)
{
    return (hs_snapshot_sink){.write = on_chunk, .progress = on_progress, .ud = s};
}

/* Closes s->fd (set to -1) and renames the file into place. Returns 0 or -1 (errno). */
static int finish_file(struct hs_cli_snapfile *s, const char *path)
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

int hs_cli_snapfile_end(struct hs_cli_snapfile *s, hs_client *c, int rc, const char *where,
                        const char *path, const struct hs_cli_snapfile_words *w)
{
    if (s->tty)
        hs_cli_clear_line();
    if (rc == HS_E_ABORTED && s->err) {
        fprintf(stderr, "heapscope: cannot write %s: %s (%s)\n", path, strerror(s->err), w->lost);
        return 1;
    }
    if (rc == HS_E_CLOSED) {
        fprintf(stderr, "heapscope: the target went away while %s (%s): %s (%s)\n", w->doing, where,
                hs_client_last_error(c), w->lost);
        return 1;
    }
    if (rc < 0) {
        fprintf(stderr, "heapscope: HeapProfiler.%s failed on %s: %s (%s)\n", w->method, where,
                hs_client_last_error(c), w->lost);
        return 1;
    }
    hs_client_close(c);
    if (s->bytes == 0) {
        fprintf(stderr, "heapscope: %s answered %s without sending a snapshot (%s)\n", where,
                w->method, w->lost);
        return 1;
    }
    if (s->tail[0] != ']' || s->tail[1] != '}') {
        fprintf(stderr,
                "heapscope: the snapshot from %s is cut short (%llu bytes, not ending in ']}'; "
                "%s)\n",
                where, s->bytes, w->lost);
        return 1;
    }
    if (finish_file(s, path) < 0) {
        fprintf(stderr, "heapscope: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

const char *hs_cli_snapfile_describe(const struct hs_cli_snapfile *s, char *buf, size_t size)
{
    char human[32];
    hs_cli_bytes(s->bytes, human, sizeof(human));
    if (s->have_counts)
        snprintf(buf, size, "%llu bytes (%s), %llu nodes, %llu edges", s->bytes, human,
                 s->node_count, s->edge_count);
    else
        snprintf(buf, size, "%llu bytes (%s), node and edge counts not found in the header",
                 s->bytes, human);
    return buf;
}
