/*
 * cli_common.c — what `heapscope sample` and `heapscope snapshot` share (see
 * cli_common.h): the common options, the temporary file, the signal handlers
 * around the session and the connection to the target.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    int fd = create_tmp(o->out);
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
