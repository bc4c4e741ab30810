/*
 * cli_sample.c — `heapscope sample`: allocation sampling of a running target
 * (HeapProfiler.startSampling, a wait, stopSampling) through libheapscope-client,
 * saved as a .heapprofile: the SamplingHeapProfile as compact JSON, byte for
 * byte the shape DevTools saves ({"head":…,"samples":[…]}, no newline), so the
 * Memory panel (Load) and speedscope open it.
 *
 * The wait ends after --duration seconds, or at SIGINT/SIGTERM: the handler
 * only sets a flag, which the wait loop looks at between slices of reading the
 * session (so a target that goes away is noticed while we wait). A signal
 * before sampling started, or a second one, aborts at once: the temporary file
 * is removed and nothing is written.
 * The file is written to a temporary name next to FILE, created before we
 * connect (an unwritable place fails before any sampling), then renamed.
 *
 * Exit status: 0 written, 1 the target or the file failed, 2 bad command line,
 * 128+signal when interrupted before sampling started or aborted.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "heapscope/hs_client.h"

#define SAMPLE_DEFAULT_INTERVAL 32768
/* How long one read of the session may block: the latency of Ctrl-C. */
#define SAMPLE_SLICE_MS 100

static volatile sig_atomic_t stop_signal;
/* Set once startSampling is sent: from then on a signal means "stop and save". */
static volatile sig_atomic_t sampling;
/* The temporary file, for the handler to remove; set before armed. */
static char tmp_path[PATH_MAX];
static volatile sig_atomic_t tmp_armed;

/* Before sampling there is nothing to save, and after a first signal the
 * user wants out: both end the process here (a connect or a call could
 * otherwise keep it for its whole time-out). */
static void on_stop_signal(int sig)
{
    if (!sampling || stop_signal) {
        static const char before[] = "heapscope: interrupted before sampling started (no file "
                                     "written)\n";
        static const char again[] = "\nheapscope: interrupted again: aborted (no file written)\n";
        if (tmp_armed)
            unlink(tmp_path);
        ssize_t n = stop_signal ? write(STDERR_FILENO, again, sizeof(again) - 1)
                                : write(STDERR_FILENO, before, sizeof(before) - 1);
        (void)n;
        _exit(128 + sig);
    }
    stop_signal = sig;
}

static void sample_usage(FILE *f)
{
    fprintf(f, "usage: heapscope sample --target TARGET -o FILE.heapprofile [--interval BYTES]\n"
               "           [--stack-depth N] [--include-major-gc] [--include-minor-gc]\n"
               "           [--duration SECONDS] [--timeout MS]\n"
               "Samples allocations on TARGET (HOST:PORT, HOST:PORT/ID-OR-TITLE or ws://URL)\n"
               "for SECONDS, or until Ctrl-C or SIGTERM, and writes the profile to FILE.\n");
}

/* A decimal integer in [1, max], nothing else (no sign, no spaces, no suffix). */
static int parse_positive(const char *s, unsigned long long max, unsigned long long *out)
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

/* Seconds, decimals allowed, in (0, 1e7]. */
static int parse_seconds(const char *s, double *out)
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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the .heapprofile writer ------------------------------------------------------------ */

/* A JSON string as JSON.stringify writes it: UTF-8 passes through. */
static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\b':
            fputs("\\b", f);
            break;
        case '\f':
            fputs("\\f", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* A number as JSON.stringify writes it: integers without a fraction, else the
 * shortest text that reads back as the same double. */
static void put_number(FILE *f, double v)
{
    if (!isfinite(v)) {
        fputs("null", f);
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        fprintf(f, "%" PRId64, (int64_t)v);
        return;
    }
    char buf[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
}

struct profile_stats {
    size_t nodes;
    double self_bytes;
};

static void put_node(FILE *f, const hs_sampling_node *n, struct profile_stats *st)
{
    const hs_call_frame *cf = &n->call_frame;
    st->nodes++;
    st->self_bytes += n->self_size;
    fputs("{\"callFrame\":{\"functionName\":", f);
    put_string(f, cf->function_name);
    fputs(",\"scriptId\":", f);
    put_string(f, cf->script_id);
    fputs(",\"url\":", f);
    put_string(f, cf->url);
    fprintf(f, ",\"lineNumber\":%" PRId64 ",\"columnNumber\":%" PRId64 "},\"selfSize\":",
            cf->line_number, cf->column_number);
    put_number(f, n->self_size);
    if (n->id != 0) /* targets older than 2018 send no id */
        fprintf(f, ",\"id\":%" PRId64, n->id);
    fputs(",\"children\":[", f);
    for (size_t i = 0; i < n->children_count; i++) {
        if (i)
            fputc(',', f);
        put_node(f, &n->children[i], st);
    }
    fputs("]}", f);
}

static void put_profile(FILE *f, const hs_sampling_profile *p, struct profile_stats *st)
{
    fputs("{\"head\":", f);
    put_node(f, &p->head, st);
    fputs(",\"samples\":[", f);
    for (size_t i = 0; i < p->samples_count; i++) {
        const hs_sampling_sample *s = &p->samples[i];
        fputs(i ? ",{\"size\":" : "{\"size\":", f);
        put_number(f, s->size);
        fprintf(f, ",\"nodeId\":%" PRId64 ",\"ordinal\":", s->node_id);
        put_number(f, s->ordinal);
        fputc('}', f);
    }
    fputs("]}", f);
}

static void drop_tmp(void)
{
    if (tmp_armed) {
        tmp_armed = 0;
        unlink(tmp_path);
    }
}

/* Creates the temporary file next to path, readable as a file created by the
 * user would be (mkstemp makes it 0600). Returns its descriptor or -1. */
static int create_tmp(const char *path)
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

/* Writes the profile through fd (closed here) and renames it to path. */
static int save_profile(int fd, const char *path, const hs_sampling_profile *p,
                        struct profile_stats *st)
{
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    errno = 0;
    put_profile(f, p, st);
    int e = 0;
    if (ferror(f) || fflush(f) != 0 || fsync(fd) != 0)
        e = errno ? errno : EIO;
    if (fclose(f) != 0 && !e)
        e = errno;
    if (!e && rename(tmp_path, path) != 0)
        e = errno;
    if (e)
        return errno = e, -1;
    tmp_armed = 0;
    return 0;
}

/* ---- the command ------------------------------------------------------------------------ */

struct sample_opts {
    const char *target, *out;
    hs_start_sampling_params params;
    double duration_s; /* 0: until a signal */
    int timeout_ms;
};

/* Returns -1 after printing what is wrong, 1 for --help, 0 when o is complete. */
static int parse_sample_args(int argc, char **argv, struct sample_opts *o)
{
    for (int i = 0; i < argc; i++) {
        const char *v = NULL, *bad = NULL;
        unsigned long long n = 0;
        int t;
        if ((t = hs_cli_opt_value(argc, argv, &i, "--target", &v)) != 0) {
            if (t < 0 || !*v)
                bad = "--target needs a value";
            o->target = v;
        } else if ((t = hs_cli_opt_value(argc, argv, &i, "-o", &v)) != 0 ||
                   (t = hs_cli_opt_value(argc, argv, &i, "--output", &v)) != 0) {
            if (t < 0 || !*v)
                bad = "-o needs a file name";
            o->out = v;
        } else if ((t = hs_cli_opt_value(argc, argv, &i, "--interval", &v)) != 0) {
            if (t < 0 || parse_positive(v, 1ULL << 53, &n) < 0)
                bad = "--interval takes a number of bytes (> 0)";
            o->params.has_sampling_interval = true;
            o->params.sampling_interval = (double)n;
        } else if ((t = hs_cli_opt_value(argc, argv, &i, "--stack-depth", &v)) != 0) {
            if (t < 0 || parse_positive(v, INT_MAX, &n) < 0)
                bad = "--stack-depth takes a number of frames (> 0)";
            o->params.has_stack_depth = true;
            o->params.stack_depth = (double)n;
        } else if ((t = hs_cli_opt_value(argc, argv, &i, "--duration", &v)) != 0) {
            if (t < 0 || parse_seconds(v, &o->duration_s) < 0)
                bad = "--duration takes seconds (> 0)";
        } else if ((t = hs_cli_opt_value(argc, argv, &i, "--timeout", &v)) != 0) {
            if (t < 0 || parse_positive(v, 86400000, &n) < 0)
                bad = "--timeout takes milliseconds (> 0)";
            o->timeout_ms = (int)n;
        } else if (!strcmp(argv[i], "--include-major-gc")) {
            o->params.has_include_objects_collected_by_major_gc = true;
            o->params.include_objects_collected_by_major_gc = true;
        } else if (!strcmp(argv[i], "--include-minor-gc")) {
            o->params.has_include_objects_collected_by_minor_gc = true;
            o->params.include_objects_collected_by_minor_gc = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            sample_usage(stdout);
            return 1;
        } else {
            fprintf(stderr, "heapscope sample: unexpected argument '%s'\n", argv[i]);
            sample_usage(stderr);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "heapscope sample: %s\n", bad);
            return -1;
        }
    }
    if (!o->target || !o->out) {
        fprintf(stderr, "heapscope sample: %s\n",
                !o->target ? "--target is required" : "-o FILE is required");
        sample_usage(stderr);
        return -1;
    }
    if (!o->params.has_sampling_interval) {
        o->params.has_sampling_interval = true;
        o->params.sampling_interval = SAMPLE_DEFAULT_INTERVAL;
    }
    return 0;
}

/* Waits for the duration or a signal while reading the session. Returns 0, or the
 * client's error when the session failed (the target went away). */
static int wait_sampling(hs_client *c, const char *where, double duration_s)
{
    int64_t start = now_ms();
    int64_t end = duration_s > 0 ? start + (int64_t)(duration_s * 1000 + 0.5) : INT64_MAX;
    bool tty = isatty(STDERR_FILENO);
    int64_t shown = -1;
    while (!stop_signal) {
        int64_t now = now_ms();
        if (now >= end)
            break;
        if (tty && (now - start) / 1000 != shown) {
            shown = (now - start) / 1000;
            fprintf(stderr, "\rheapscope: sampling %s: %" PRId64 " s%s\033[K", where, shown,
                    duration_s > 0 ? "" : " (Ctrl-C to stop)");
        }
        int64_t left = end - now;
        int rc = hs_client_wait_events(c, left < SAMPLE_SLICE_MS ? (int)left : SAMPLE_SLICE_MS);
        if (rc < 0) {
            if (tty)
                fputs("\r\033[K", stderr);
            return rc;
        }
    }
    if (tty)
        fputs("\r\033[K", stderr);
    return 0;
}

/* The command after the options: connect, sample, save. *fd is -1 once the
 * writer has taken (and closed) it. */
static int sample_session(hs_client *c, const struct sample_opts *o, int *fd)
{
    int rc = hs_client_connect(c, o->target);
    if (rc < 0) {
        fprintf(stderr, "heapscope: cannot connect to %s: %s\n", o->target,
                hs_client_last_error(c));
        return rc == HS_E_INVAL ? 2 : 1;
    }
    /* A copy: the client forgets the URL when the session closes. */
    char where[512];
    snprintf(where, sizeof(where), "%s", hs_client_ws_url(c) ? hs_client_ws_url(c) : o->target);
    /* As DevTools does first; a target without it may still sample. */
    rc = hs_hp_enable(c);
    if (rc < 0 && rc != HS_E_REMOTE) {
        fprintf(stderr, "heapscope: HeapProfiler.enable failed on %s: %s\n", where,
                hs_client_last_error(c));
        return 1;
    }
    sampling = 1;
    rc = hs_hp_start_sampling(c, &o->params);
    if (rc < 0) {
        fprintf(stderr, "heapscope: HeapProfiler.startSampling failed on %s: %s\n", where,
                hs_client_last_error(c));
        return 1;
    }
    rc = wait_sampling(c, where, o->duration_s);
    if (rc < 0) {
        fprintf(stderr,
                "heapscope: the target went away while sampling (%s): %s (no file written)\n",
                where, hs_client_last_error(c));
        return 1;
    }
    hs_sampling_profile p;
    rc = hs_hp_stop_sampling(c, &p);
    if (rc < 0) {
        fprintf(stderr, "heapscope: HeapProfiler.stopSampling failed on %s: %s (no file written)\n",
                where, hs_client_last_error(c));
        return 1;
    }
    hs_client_close(c);
    struct profile_stats st = {0};
    rc = save_profile(*fd, o->out, &p, &st);
    *fd = -1;
    if (rc < 0) {
        fprintf(stderr, "heapscope: cannot write %s: %s\n", o->out, strerror(errno));
        hs_sampling_profile_free(&p);
        return 1;
    }
    char human[32];
    bool with_dead = o->params.include_objects_collected_by_major_gc ||
                     o->params.include_objects_collected_by_minor_gc;
    double bytes = st.self_bytes < 0 ? 0 : st.self_bytes;
    fprintf(stderr, "heapscope: wrote %s: %zu samples, %zu nodes, %.0f bytes sampled %s (%s)\n",
            o->out, p.samples_count, st.nodes, bytes, with_dead ? "live and collected" : "live",
            hs_cli_bytes((unsigned long long)bytes, human, sizeof(human)));
    hs_sampling_profile_free(&p);
    return 0;
}

int hs_cli_sample(int argc, char **argv)
{
    struct sample_opts o = {0};
    int rc = parse_sample_args(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;

    struct sigaction sa = {.sa_handler = on_stop_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    int fd = create_tmp(o.out);
    if (fd < 0) {
        fprintf(stderr, "heapscope: cannot write %s: %s\n", o.out, strerror(errno));
        return 1;
    }
    hs_client_options co = {.connect_timeout_ms = o.timeout_ms, .call_timeout_ms = o.timeout_ms};
    hs_client *c;
    rc = hs_client_new(&co, &c);
    if (rc < 0) {
        fprintf(stderr, "heapscope: %s\n", hs_strerror(rc));
        close(fd);
        drop_tmp();
        return 1;
    }
    rc = sample_session(c, &o, &fd);
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        drop_tmp();
    hs_client_free(c);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}
