/*
 * cli_convert.c — `heapscope convert IN.heapprofile -o OUT [--to FORMAT]`: a
 * sampling heap profile (ours or V8's) as pprof (gzip'd protobuf, for `go tool
 * pprof` and continuous-profiling systems), collapsed stacks (flamegraph.pl,
 * speedscope) or a self-contained HTML flame graph. The reader and the
 * writers are src/formats' (profile.h); this file only picks the format
 * (--to, else OUT's extension) and writes OUT through a temporary file next
 * to it, renamed once complete ("-o -": standard output).
 *
 * Exit status: 0 written, 1 the input is not a profile or OUT cannot be
 * written, 2 bad command line.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_common.h"
#include "profile.h"

enum format { F_NONE, F_PPROF, F_COLLAPSED, F_HTML };

static const char *format_names[] = {"", "pprof", "collapsed", "html"};

static void convert_usage(FILE *f)
{
    fprintf(f, "usage: heapscope convert IN.heapprofile -o OUT [--to pprof|collapsed|html]\n"
               "Converts a sampling heap profile (heapscope's or V8's .heapprofile) to pprof\n"
               "(gzip'd protobuf: go tool pprof), collapsed stacks (flamegraph.pl, speedscope)\n"
               "or a self-contained HTML flame graph. Without --to, OUT's extension decides:\n"
               ".pb.gz, .pprof, .pb: pprof; .collapsed, .txt: collapsed; .html, .htm: html.\n"
               "IN may be - (standard input); OUT may be - (standard output) with --to.\n");
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

static enum format format_of(const char *name)
{
    for (int f = F_PPROF; f <= F_HTML; f++)
        if (!strcmp(name, format_names[f]))
            return (enum format)f;
    return F_NONE;
}

static enum format format_from_path(const char *path)
{
    if (ends_with(path, ".pb.gz") || ends_with(path, ".pprof") || ends_with(path, ".pb"))
        return F_PPROF;
    if (ends_with(path, ".collapsed") || ends_with(path, ".txt"))
        return F_COLLAPSED;
    if (ends_with(path, ".html") || ends_with(path, ".htm"))
        return F_HTML;
    return F_NONE;
}

static int write_format(enum format fmt, const struct hs_profile *p, const char *title, FILE *f,
                        char *err, size_t err_size)
{
    switch (fmt) {
    case F_PPROF:
        return hs_profile_write_pprof(p, f, err, err_size);
    case F_COLLAPSED:
        return hs_profile_write_collapsed(p, f, err, err_size);
    default:
        return hs_profile_write_html(p, title, f, err, err_size);
    }
}

/* Writes OUT through OUT.tmp-XXXXXX; 0 or 1 after saying what failed. */
static int write_out(enum format fmt, const struct hs_profile *p, const char *in, const char *out)
{
    char err[512] = "";
    if (!strcmp(out, "-")) {
        if (write_format(fmt, p, in, stdout, err, sizeof err) < 0 || fflush(stdout) != 0) {
            fprintf(stderr, "heapscope: convert: standard output: %s\n",
                    err[0] ? err : strerror(errno));
            return 1;
        }
        return 0;
    }
    int fd = hs_cli_tmp_create(out);
    if (fd < 0) {
        fprintf(stderr, "heapscope: convert: %s: cannot create a temporary file next to it: %s\n",
                out, strerror(errno));
        return 1;
    }
    FILE *f = fdopen(fd, "wb");
    int rc = 0;
    if (!f) {
        close(fd);
        snprintf(err, sizeof err, "%s", strerror(errno));
        rc = -1;
    } else {
        rc = write_format(fmt, p, in, f, err, sizeof err);
        if (fclose(f) != 0 && rc == 0) {
            snprintf(err, sizeof err, "%s", strerror(errno));
            rc = -1;
        }
    }
    if (rc == 0 && hs_cli_tmp_commit(out) != 0) {
        snprintf(err, sizeof err, "cannot rename the temporary file: %s", strerror(errno));
        rc = -1;
    }
    if (rc < 0) {
        hs_cli_tmp_unlink();
        fprintf(stderr, "heapscope: convert: %s: %s\n", out, err);
    }
    return rc < 0 ? 1 : 0;
}

int hs_cli_convert(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *to = NULL;
    for (int i = 0; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            convert_usage(stdout);
            return 0;
        }
        if ((r = hs_cli_opt_value(argc, argv, &i, "--output", &out)) == 0 &&
            (r = hs_cli_opt_value(argc, argv, &i, "-o", &out)) == 0 &&
            (r = hs_cli_opt_value(argc, argv, &i, "--to", &to)) == 0) {
            if (argv[i][0] == '-' && argv[i][1] != '\0') {
                fprintf(stderr, "heapscope: convert: unknown option '%s'\n", argv[i]);
                convert_usage(stderr);
                return 2;
            }
            if (in) {
                fprintf(stderr, "heapscope: convert: one input only ('%s' and '%s')\n", in,
                        argv[i]);
                convert_usage(stderr);
                return 2;
            }
            in = argv[i];
        } else if (r < 0) {
            fprintf(stderr, "heapscope: convert: %s needs a value\n", argv[i]);
            convert_usage(stderr);
            return 2;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "heapscope: convert: %s\n", !in ? "no input file" : "no -o OUT");
        convert_usage(stderr);
        return 2;
    }
    enum format fmt = F_NONE;
    if (to) {
        if ((fmt = format_of(to)) == F_NONE) {
            fprintf(stderr, "heapscope: convert: --to %s: expected pprof, collapsed or html\n", to);
            return 2;
        }
    } else if ((fmt = format_from_path(out)) == F_NONE) {
        fprintf(stderr,
                "heapscope: convert: cannot tell the format from '%s': use --to pprof, "
                "collapsed or html (or OUT ending .pb.gz, .collapsed, .html)\n",
                out);
        return 2;
    }

    struct hs_profile p;
    char err[512];
    if (hs_profile_read_file(in, &p, err, sizeof err) < 0) {
        fprintf(stderr, "heapscope: convert: %s\n", err);
        return 1;
    }
    int rc = write_out(fmt, &p, in, out);
    if (rc == 0 && strcmp(out, "-") != 0) {
        char b[32];
        unsigned long long total = hs_profile_total(&p);
        fprintf(stderr, "heapscope: wrote %s (%s): %u nodes, %u samples, %llu bytes (%s)\n", out,
                format_names[fmt], p.node_count, p.sample_count, total,
                hs_cli_bytes(total, b, sizeof b));
    }
    hs_profile_free(&p);
    return rc;
}
