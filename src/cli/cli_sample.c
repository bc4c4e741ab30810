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
 * is removed and nothing is written. Handler and wait are cli_common.c's,
 * shared with `track`.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_common.h"
#include "heapscope/hs_client.h"

#define SAMPLE_DEFAULT_INTERVAL 32768

static void sample_usage(FILE *f)
{
    fprintf(f, "usage: heapscope sample --target TARGET -o FILE.heapprofile [--interval BYTES]\n"
               "           [--stack-depth N] [--include-major-gc] [--include-minor-gc]\n"
               "           [--duration SECONDS] [--timeout MS]\n"
               "Samples allocations on TARGET (HOST:PORT, HOST:PORT/ID-OR-TITLE, ws://URL or\n"
               "unix:PATH) for SECONDS, or until Ctrl-C or SIGTERM, and writes the profile to\n"
               "FILE.\n");
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
    if (e)
        return errno = e, -1;
    return hs_cli_tmp_commit(path);
}

/* ---- the command ------------------------------------------------------------------------ */

struct sample_opts {
    struct hs_cli_target_opts t;
    hs_start_sampling_params params;
    double duration_s; /* 0: until a signal */
};

/* The options of sample's own (hs_cli_more_opts). */
static int sample_opt(int argc, char **argv, int *i, void *ud, const char **bad)
{
    struct sample_opts *o = ud;
    const char *v = NULL;
    unsigned long long n = 0;
    int t;
    if ((t = hs_cli_opt_value(argc, argv, i, "--interval", &v)) != 0) {
        if (t < 0 || hs_cli_parse_positive(v, 1ULL << 53, &n) < 0)
            *bad = "--interval takes a number of bytes (> 0)";
        o->params.has_sampling_interval = true;
        o->params.sampling_interval = (double)n;
    } else if ((t = hs_cli_opt_value(argc, argv, i, "--stack-depth", &v)) != 0) {
        if (t < 0 || hs_cli_parse_positive(v, INT_MAX, &n) < 0)
            *bad = "--stack-depth takes a number of frames (> 0)";
        o->params.has_stack_depth = true;
        o->params.stack_depth = (double)n;
    } else if ((t = hs_cli_opt_value(argc, argv, i, "--duration", &v)) != 0) {
        if (t < 0 || hs_cli_parse_seconds(v, &o->duration_s) < 0)
            *bad = "--duration takes seconds (> 0)";
    } else if (!strcmp(argv[*i], "--include-major-gc")) {
        o->params.has_include_objects_collected_by_major_gc = true;
        o->params.include_objects_collected_by_major_gc = true;
    } else if (!strcmp(argv[*i], "--include-minor-gc")) {
        o->params.has_include_objects_collected_by_minor_gc = true;
        o->params.include_objects_collected_by_minor_gc = true;
    } else {
        return 0;
    }
    return 1;
}

/* On a terminal, once a second while sampling (hs_cli_wait_stop's tick). */
struct sample_clock {
    const char *where;
    bool forever;
    int64_t shown; /* the seconds on the line, -1 */
};

static void sample_tick(void *ud, int64_t elapsed_ms)
{
    struct sample_clock *k = ud;
    if (elapsed_ms / 1000 == k->shown)
        return;
    k->shown = elapsed_ms / 1000;
    fprintf(stderr, "\rheapscope: sampling %s: %" PRId64 " s%s\033[K", k->where, k->shown,
            k->forever ? " (Ctrl-C to stop)" : "");
}

/* The command after the options: connect, sample, save. *fd is -1 once the
 * writer has taken (and closed) it. */
static int sample_session(hs_client *c, int *fd, void *ud)
{
    const struct sample_opts *o = ud;
    char where[512];
    int rc = hs_cli_connect(c, o->t.target, where, sizeof(where));
    if (rc != 0)
        return rc;
    hs_cli_record_phase(HS_CLI_RECORDING);
    rc = hs_hp_start_sampling(c, &o->params);
    if (rc < 0) {
        fprintf(stderr, "heapscope: HeapProfiler.startSampling failed on %s: %s\n", where,
                hs_client_last_error(c));
        return 1;
    }
    bool tty = isatty(STDERR_FILENO);
    struct sample_clock clock = {where, o->duration_s <= 0, -1};
    rc = hs_cli_wait_stop(c, o->duration_s, tty ? sample_tick : NULL, &clock);
    if (tty)
        hs_cli_clear_line();
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
    rc = save_profile(*fd, o->t.out, &p, &st);
    *fd = -1;
    if (rc < 0) {
        fprintf(stderr, "heapscope: cannot write %s: %s\n", o->t.out, strerror(errno));
        hs_sampling_profile_free(&p);
        return 1;
    }
    char human[32];
    bool with_dead = o->params.include_objects_collected_by_major_gc ||
                     o->params.include_objects_collected_by_minor_gc;
    double bytes = st.self_bytes < 0 ? 0 : st.self_bytes;
    fprintf(stderr, "heapscope: wrote %s: %zu samples, %zu nodes, %.0f bytes sampled %s (%s)\n",
            o->t.out, p.samples_count, st.nodes, bytes, with_dead ? "live and collected" : "live",
            hs_cli_bytes((unsigned long long)bytes, human, sizeof(human)));
    hs_sampling_profile_free(&p);
    return 0;
}

int hs_cli_sample(int argc, char **argv)
{
    struct sample_opts o = {0};
    int rc = hs_cli_target_args("sample", argc, argv, &o.t, sample_usage, sample_opt, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (!o.params.has_sampling_interval) {
        o.params.has_sampling_interval = true;
        o.params.sampling_interval = SAMPLE_DEFAULT_INTERVAL;
    }
    hs_cli_record_begin("sampling");
    return hs_cli_target_session(&o.t, hs_cli_on_record_signal, sample_session, &o);
}
