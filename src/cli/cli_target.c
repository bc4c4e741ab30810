/*
 * cli_target.c — the subcommands that talk to a running target over the
 * DevTools protocol through libheapscope-client: `heapscope targets` (list what
 * a HOST:PORT or unix:PATH offers) and `heapscope gc` (HeapProfiler.collectGarbage). Owns
 * their option parsing, output and exit status (0 ok, 1 the target failed,
 * 2 bad command line); the protocol work is the client library's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "heapscope/hs_client.h"

static int parse_ms(const char *s, int *ms)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v <= 0 || v > 86400000)
        return -1;
    *ms = (int)v;
    return 0;
}

static int new_client(int timeout_ms, hs_client **c)
{
    hs_client_options o = {.connect_timeout_ms = timeout_ms, .call_timeout_ms = timeout_ms};
    int rc = hs_client_new(&o, c);
    if (rc < 0)
        fprintf(stderr, "heapscope: %s\n", hs_strerror(rc));
    return rc;
}

static void targets_usage(FILE *f)
{
    fprintf(f, "usage: heapscope targets [--json] [--timeout MS] HOST:PORT|unix:PATH\n");
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

int hs_cli_targets(int argc, char **argv)
{
    bool json = false;
    int timeout_ms = 0;
    const char *hostport = NULL, *v;
    for (int i = 0; i < argc; i++) {
        int o = hs_cli_opt_value(argc, argv, &i, "--timeout", &v);
        if (o < 0 || (o > 0 && parse_ms(v, &timeout_ms) < 0)) {
            fprintf(stderr, "heapscope targets: --timeout takes milliseconds (> 0)\n");
            return 2;
        }
        if (o > 0)
            continue;
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            targets_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "heapscope targets: unknown option '%s'\n", argv[i]);
            targets_usage(stderr);
            return 2;
        } else if (hostport) {
            fprintf(stderr, "heapscope targets: one HOST:PORT or unix:PATH only\n");
            return 2;
        } else {
            hostport = argv[i];
        }
    }
    if (!hostport) {
        targets_usage(stderr);
        return 2;
    }
    hs_client *c;
    if (new_client(timeout_ms, &c) < 0)
        return 1;
    hs_target_list l;
    int rc = hs_client_list_targets(c, hostport, &l);
    if (rc < 0) {
        fprintf(stderr, "heapscope: %s\n", hs_client_last_error(c));
        hs_client_free(c);
        return rc == HS_E_INVAL ? 2 : 1;
    }
    if (json) {
        size_t n = strlen(l.json);
        fputs(l.json, stdout);
        if (n == 0 || l.json[n - 1] != '\n')
            putchar('\n');
    } else {
        if (l.count == 0)
            fprintf(stderr, "heapscope: %s lists no targets\n", hostport);
        for (size_t i = 0; i < l.count; i++) {
            const hs_target *t = &l.items[i];
            printf("%s\t%s\t%s\t%s\n", or_dash(t->id), or_dash(t->type), or_dash(t->title),
                   or_dash(t->web_socket_debugger_url));
        }
    }
    int status = fflush(stdout) == 0 ? 0 : 1;
    hs_target_list_free(&l);
    hs_client_free(c);
    return status;
}

static void gc_usage(FILE *f)
{
    fprintf(f, "usage: heapscope gc --target HOST:PORT[/ID-OR-TITLE]|ws://URL|unix:PATH "
               "[--timeout MS]\n");
}

int hs_cli_gc(int argc, char **argv)
{
    const char *target = NULL, *v;
    int timeout_ms = 0;
    for (int i = 0; i < argc; i++) {
        int o = hs_cli_opt_value(argc, argv, &i, "--timeout", &v);
        if (o < 0 || (o > 0 && parse_ms(v, &timeout_ms) < 0)) {
            fprintf(stderr, "heapscope gc: --timeout takes milliseconds (> 0)\n");
            return 2;
        }
        if (o > 0)
            continue;
        o = hs_cli_opt_value(argc, argv, &i, "--target", &v);
        if (o < 0) {
            fprintf(stderr, "heapscope gc: --target needs a value\n");
            return 2;
        }
        if (o > 0) {
            target = v;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            gc_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "heapscope gc: unexpected argument '%s'\n", argv[i]);
            gc_usage(stderr);
            return 2;
        }
    }
    if (!target || !*target) {
        gc_usage(stderr);
        return 2;
    }
    hs_client *c;
    if (new_client(timeout_ms, &c) < 0)
        return 1;
    int rc = hs_client_connect(c, target);
    if (rc < 0) {
        fprintf(stderr, "heapscope: cannot connect to %s: %s\n", target, hs_client_last_error(c));
        hs_client_free(c);
        return rc == HS_E_INVAL ? 2 : 1;
    }
    rc = hs_hp_collect_garbage(c);
    if (rc < 0) {
        fprintf(stderr, "heapscope: HeapProfiler.collectGarbage failed on %s: %s\n",
                hs_client_ws_url(c) ? hs_client_ws_url(c) : target, hs_client_last_error(c));
        hs_client_free(c);
        return 1;
    }
    printf("heapscope: garbage collected on %s\n", hs_client_ws_url(c));
    hs_client_close(c);
    hs_client_free(c);
    return 0;
}
