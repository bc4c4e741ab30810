/*
 * cli_main.c — the heapscope command: dispatches to one cli_<subcommand>.c
 * per subcommand and prints usage. Owns no subcommand logic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: heapscope <command> [options]\n"
               "\n"
               "commands:\n"
               "  run [--follow-children] [--summary-file FILE] [--listen ADDR] [--wait]\n"
               "      [--sample[=INTERVAL] [-o FILE] [--sample-signal SIG]]\n"
               "      [--snapshot-at-exit] [--snapshot-signal[=SIG]] [--snapshot-out PATTERN]\n"
               "      -- PROGRAM [ARGS...]\n"
               "        run PROGRAM with the heapscope agent preloaded: it serves DevTools on\n"
               "        ADDR (HOST:PORT, default 127.0.0.1:9229 or the next free port;\n"
               "        unix:PATH for a Unix socket only its owner can connect to; 'off' for\n"
               "        none) and prints the URL; --wait holds PROGRAM before main until a\n"
               "        client sends Runtime.runIfWaitingForDebugger; a summary at exit.\n"
               "        --sample samples allocations from the start (mean INTERVAL bytes apart,\n"
               "        default 32768) and writes a .heapprofile to FILE (default\n"
               "        heapscope-PID.heapprofile here) at exit and on signal SIG (USR1, 12, ...)\n"
               "        --snapshot-at-exit and --snapshot-signal write heap snapshots without a\n"
               "        client, at exit and on signal SIG (default USR2), to PATTERN (%%p = pid,\n"
               "        %%n = 1, 2, ..., %%%% = %%; default heapscope-%%p-%%n.heapsnapshot here)\n"
               "  targets [--json] [--timeout MS] HOST:PORT|unix:PATH\n"
               "        list the DevTools targets there (id, type, title, WebSocket URL)\n"
               "  gc --target TARGET [--timeout MS]\n"
               "        make TARGET collect garbage (HeapProfiler.collectGarbage)\n"
               "  sample --target TARGET -o FILE [--interval BYTES] [--stack-depth N]\n"
               "      [--include-major-gc] [--include-minor-gc] [--duration S] [--timeout MS]\n"
               "        sample allocations on TARGET (mean BYTES between samples, default\n"
               "        32768) for S seconds or until Ctrl-C/SIGTERM (a second one aborts) and\n"
               "        write the profile to FILE (.heapprofile: DevTools' Memory panel, Load;\n"
               "        or speedscope)\n"
               "  snapshot --target TARGET -o FILE [--no-progress] [--expose-internals]\n"
               "      [--capture-numeric-value] [--timeout MS]\n"
               "        take a heap snapshot of TARGET and write it to FILE as it arrives\n"
               "        (.heapsnapshot: DevTools' Memory panel, Load); a progress bar on a\n"
               "        terminal, then the size and the node and edge counts\n"
               "  track --target TARGET -o FILE [--stacks] [--duration S] [--timeout MS]\n"
               "        record the allocation timeline of TARGET for S seconds or until\n"
               "        Ctrl-C/SIGTERM (a second one aborts), printing live figures each second,\n"
               "        then write its snapshot to FILE (.heaptimeline: DevTools' Memory panel,\n"
               "        Load); --stacks records each allocation's stack\n"
               "  report FILE [--top N] [--filter TEXT] [--format text|json]\n"
               "        what a .heapsnapshot/.heaptimeline (heapscope's or V8's) holds, with\n"
               "        DevTools' rules: totals, classes (sites) by retained size, the biggest\n"
               "        retainers and their paths from the root, leaks by site with stacks\n"
               "  diff A B [--fail-if-grown BYTES] [--top N] [--filter TEXT] [--format text|json]\n"
               "        what was added and freed per class between two snapshots of one process\n"
               "        (objects matched by id); exit 1 when live bytes grew by more than BYTES\n"
               "  convert IN.heapprofile -o OUT [--to pprof|collapsed|html]\n"
               "        convert a sampling heap profile (heapscope's or V8's) to pprof (gzip'd\n"
               "        protobuf: go tool pprof), collapsed stacks (flamegraph.pl, speedscope) or\n"
               "        a self-contained HTML flame graph; without --to, OUT's extension decides\n"
               "        (.pb.gz/.pprof, .collapsed/.txt, .html); exits 1 on a bad profile\n"
               "  help  show this text\n"
               "  version\n"
               "\n"
               "TARGET is HOST:PORT (the first target there), HOST:PORT/ID-OR-TITLE (the target\n"
               "with that id, or whose title contains it), a ws:// URL, or the same on a Unix\n"
               "socket: unix:PATH, unix:PATH:ID-OR-TITLE or a ws+unix://PATH:/ID URL. HOST is\n"
               "an IPv4 address, [IPv6] or a name. targets, gc, sample, snapshot and track exit\n"
               "with 0 on success, 1 when the target cannot be reached or fails, 2 on a usage\n"
               "error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run"))
        return hs_cli_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "targets"))
        return hs_cli_targets(argc - 2, argv + 2);
    if (!strcmp(cmd, "gc"))
        return hs_cli_gc(argc - 2, argv + 2);
    if (!strcmp(cmd, "sample"))
        return hs_cli_sample(argc - 2, argv + 2);
    if (!strcmp(cmd, "snapshot"))
        return hs_cli_snapshot(argc - 2, argv + 2);
    if (!strcmp(cmd, "track"))
        return hs_cli_track(argc - 2, argv + 2);
    if (!strcmp(cmd, "convert"))
        return hs_cli_convert(argc - 2, argv + 2);
    if (!strcmp(cmd, "report"))
        return hs_cli_report(argc - 2, argv + 2);
    if (!strcmp(cmd, "diff"))
        return hs_cli_diff(argc - 2, argv + 2);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("heapscope %s\n", HS_VERSION);
        return 0;
    }
    fprintf(stderr, "heapscope: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}

int hs_cli_opt_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=' && name[1] == '-') {
        *value = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

const char *hs_cli_bytes(unsigned long long n, char *buf, unsigned long size)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%llu B", n);
    else
        snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

int hs_cli_table_opt(int argc, char **argv, int *i, struct hs_cli_table_opts *o)
{
    const char *v = NULL;
    int r;
    if ((r = hs_cli_opt_value(argc, argv, i, "--top", &v)) != 0) {
        char *end;
        long n = r > 0 ? strtol(v, &end, 10) : 0;
        if (r < 0 || *end || n < 1 || n > 1000000)
            return -1;
        o->top = (int)n;
        return 1;
    }
    if ((r = hs_cli_opt_value(argc, argv, i, "--filter", &v)) != 0) {
        o->filter = v;
        return r;
    }
    if ((r = hs_cli_opt_value(argc, argv, i, "--format", &v)) != 0) {
        if (r < 0 || (strcmp(v, "json") && strcmp(v, "text")))
            return -1;
        o->json = !strcmp(v, "json");
        return 1;
    }
    return 0;
}
