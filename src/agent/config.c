/*
 * config.c — the agent's configuration: one table of HEAPSCOPE_* environment
 * variables, read once when the agent is loaded, printed with
 * HEAPSCOPE_VERBOSE=1. Parsing uses getenv and our own number parser: no
 * allocation, so it is safe before main.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_int.h"
#include "hs_signal.h"

struct hs_config hs__config = {
    .autostart = -1, .unwind_depth = 32, .sample_depth = 128, .young_ms = 100};

enum kind { K_BOOL, K_INT, K_STR };

/* X(NAME, kind, default, help) — the single list of variables. */
#define HS_CONFIG_MAP(X)                                                                           \
    X(VERBOSE, K_BOOL, "0", "print this table and diagnostics on stderr")                          \
    X(SUMMARY, K_STR, "", "at exit, append a one-line record of the counters to this file")        \
    X(FOLLOW_CHILDREN, K_BOOL, "0",                                                                \
      "profile exec'd programs too (keep the agent in LD_PRELOAD) and report forked children")     \
    X(AUTOSTART, K_BOOL, "auto", "start the agent's services at load; auto = when preloaded")      \
    X(WRAPPERS, K_STR, "+",                                                                        \
      "allocation wrappers, comma-separated globs over symbol names; '+' = the defaults, "         \
      "'+a,b' = defaults and a, b; empty = none")                                                  \
    X(UNWIND_DEPTH, K_INT, "32", "frames examined to step out of wrappers (0-64; 0 = off)")        \
    X(LISTEN, K_STR, "127.0.0.1:9229",                                                             \
      "DevTools endpoint: HOST:PORT, [V6]:PORT, PORT or HOST; port 0 = any free one; a busy "      \
      "port moves to the next free one; unix:/PATH = a Unix socket of mode 0600 (a stale one "     \
      "is replaced); 'off' = none")                                                                \
    X(WAIT, K_BOOL, "0",                                                                           \
      "hold the program before main until a client sends "                                         \
      "Runtime.runIfWaitingForDebugger")                                                           \
    X(MODE, K_STR, "full",                                                                         \
      "full = live-block registry and sampling; sample = sampling only, no registry (snapshots, "  \
      "tracking and object ids then answer an error)")                                             \
    X(SAMPLE, K_INT, "",                                                                           \
      "sample allocations from load with this mean interval in bytes (as startSampling)")          \
    X(SAMPLE_DEPTH, K_INT, "128", "frames kept per sample when sampling from load (0-1024)")       \
    X(SAMPLE_SEED, K_INT, "", "seed of the sampling intervals (tests); empty = from the clock")    \
    X(YOUNG_MS, K_INT, "100",                                                                      \
      "a freed block is short-lived (includeObjectsCollectedByMinorGC) if it lived less than "     \
      "this many milliseconds")                                                                    \
    X(UNWIND, K_STR, "auto",                                                                       \
      "stacks of samples: auto (cached CFI rules, libunwind where they fail), fp (frame "          \
      "pointers only) or libunwind")                                                               \
    X(PROFILE_OUT, K_STR, "",                                                                      \
      "write the sampling profile (.heapprofile) here at exit and on HEAPSCOPE_PROFILE_SIGNAL")    \
    X(PROFILE_SIGNAL, K_STR, "",                                                                   \
      "a signal (name like USR1, or number) on which the profile so far is written")               \
    X(SNAPSHOT_OUT, K_STR, HS_SNAPSHOT_OUT_DEFAULT,                                                \
      "where heap snapshots without a client go: %p = pid, %n = 1, 2, ... (each one's number), "   \
      "%% = %")                                                                                    \
    X(SNAPSHOT_AT_EXIT, K_BOOL, "0", "write a heap snapshot to HEAPSCOPE_SNAPSHOT_OUT at exit")    \
    X(SNAPSHOT_SIGNAL, K_STR, "",                                                                  \
      "a signal (name like USR2, or number) on which a heap snapshot is written")                  \
    X(TRACK, K_STR, "off",                                                                         \
      "record the allocation timeline from load (on), with every allocation's stack (stacks); "    \
      "a client's startTrackingHeapObjects then starts its recording afresh")                      \
    X(TRACK_PERIOD_MS, K_INT, "50",                                                                \
      "the allocation timeline's tick, in ms (1-1000; V8's is 50): shorter for tests")             \
    X(PID, K_INT, "",                                                                              \
      "the pid of the process to profile (set by heapscope run); other processes "                 \
      "that load the agent only forward to the real allocator")

static int parse_bool(const char *v, int dflt)
{
    if (!v || !*v)
        return dflt;
    if (!strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on"))
        return 1;
    if (!strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off"))
        return 0;
    return dflt;
}

static long parse_long(const char *v, long dflt, long lo, long hi)
{
    if (!v || !*v)
        return dflt;
    long n = 0;
    for (const char *s = v; *s; s++) {
        if (*s < '0' || *s > '9' || n > hi)
            return dflt;
        n = n * 10 + (*s - '0');
    }
    return n < lo ? lo : n > hi ? hi : n;
}

static int parse_int(const char *v, int dflt, int lo, int hi)
{
    return (int)parse_long(v, dflt, lo, hi);
}

void hs__config_load(void)
{
    struct hs_config *c = &hs__config;
    c->verbose = parse_bool(getenv("HEAPSCOPE_VERBOSE"), 0);
    c->follow_children = parse_bool(getenv("HEAPSCOPE_FOLLOW_CHILDREN"), 0);
    const char *as = getenv("HEAPSCOPE_AUTOSTART");
    c->autostart = (as && strcmp(as, "auto") != 0) ? parse_bool(as, -1) : -1;
    c->unwind_depth = parse_int(getenv("HEAPSCOPE_UNWIND_DEPTH"), 32, 0, 64);
    const char *sum = getenv("HEAPSCOPE_SUMMARY");
    c->summary[0] = '\0';
    if (sum && strlen(sum) < sizeof(c->summary))
        strcpy(c->summary, sum);
    c->wrappers = getenv("HEAPSCOPE_WRAPPERS");
    c->listen = getenv("HEAPSCOPE_LISTEN");
    /* Read now, before the agent sets anything: a program with its own
     * getenv/setenv (bash) answers from its own table once we have set a
     * variable, and that table does not have LD_PRELOAD yet. */
    const char *pre = getenv("LD_PRELOAD");
    c->preloaded = pre && strstr(pre, "libheapscope") != NULL;
    c->wait = parse_bool(getenv("HEAPSCOPE_WAIT"), 0);
    const char *mode = getenv("HEAPSCOPE_MODE");
    c->sample_only = mode && !strcmp(mode, "sample");
    c->sample = parse_long(getenv("HEAPSCOPE_SAMPLE"), 0, 1, 1L << 40);
    c->sample_depth = parse_int(getenv("HEAPSCOPE_SAMPLE_DEPTH"), 128, 0, 1024);
    c->young_ms = parse_long(getenv("HEAPSCOPE_YOUNG_MS"), 100, 0, 1L << 30);
    const char *seed = getenv("HEAPSCOPE_SAMPLE_SEED");
    c->sample_seed = seed && *seed ? strtoull(seed, NULL, 10) : 0;
    const char *uw = getenv("HEAPSCOPE_UNWIND");
    c->unwind_mode = !uw || !strcmp(uw, "auto") ? HS_UNWIND_AUTO
                     : !strcmp(uw, "fp")        ? HS_UNWIND_FP
                     : !strcmp(uw, "libunwind") ? HS_UNWIND_LIBUNWIND
                                                : HS_UNWIND_AUTO;
    const char *out = getenv("HEAPSCOPE_PROFILE_OUT");
    c->profile_out[0] = '\0';
    if (out && strlen(out) < sizeof(c->profile_out))
        strcpy(c->profile_out, out);
    int sig = hs_signal_parse(getenv("HEAPSCOPE_PROFILE_SIGNAL"));
    c->profile_signal = sig > 0 ? sig : 0;
    const char *snap = getenv("HEAPSCOPE_SNAPSHOT_OUT");
    snprintf(c->snapshot_out, sizeof(c->snapshot_out), "%s",
             snap && *snap && strlen(snap) < sizeof(c->snapshot_out) ? snap
                                                                     : HS_SNAPSHOT_OUT_DEFAULT);
    c->snapshot_at_exit = parse_bool(getenv("HEAPSCOPE_SNAPSHOT_AT_EXIT"), 0);
    sig = hs_signal_parse(getenv("HEAPSCOPE_SNAPSHOT_SIGNAL"));
    c->snapshot_signal = sig > 0 ? sig : 0;
    const char *track = getenv("HEAPSCOPE_TRACK");
    c->track = !track ? 0 : !strcmp(track, "stacks") ? 2 : parse_bool(track, 0) ? 1 : 0;
    c->track_period_ms = parse_int(getenv("HEAPSCOPE_TRACK_PERIOD_MS"), 50, 1, 1000);
    const char *pid = getenv("HEAPSCOPE_PID");
    c->owner_pid = 0;
    if (pid && *pid) {
        char *end;
        long v = strtol(pid, &end, 10);
        c->owner_pid = (*end == '\0' && v > 0) ? v : 0;
    }
}

static const char *current(const char *name)
{
    const struct hs_config *c = &hs__config;
    static char buf[32];
    if (!strcmp(name, "VERBOSE"))
        return c->verbose ? "1" : "0";
    if (!strcmp(name, "SUMMARY"))
        return c->summary;
    if (!strcmp(name, "FOLLOW_CHILDREN"))
        return c->follow_children ? "1" : "0";
    if (!strcmp(name, "AUTOSTART"))
        return c->autostart < 0 ? "auto" : c->autostart ? "1" : "0";
    if (!strcmp(name, "WRAPPERS"))
        return c->wrappers ? c->wrappers : "+";
    if (!strcmp(name, "LISTEN"))
        return c->listen ? c->listen : "127.0.0.1:9229";
    if (!strcmp(name, "WAIT"))
        return c->wait ? "1" : "0";
    if (!strcmp(name, "PID")) {
        snprintf(buf, sizeof(buf), "%ld", c->owner_pid);
        return buf;
    }
    if (!strcmp(name, "MODE"))
        return c->sample_only ? "sample" : "full";
    if (!strcmp(name, "SAMPLE")) {
        snprintf(buf, sizeof(buf), "%ld", c->sample);
        return c->sample ? buf : "";
    }
    if (!strcmp(name, "SAMPLE_DEPTH")) {
        snprintf(buf, sizeof(buf), "%d", c->sample_depth);
        return buf;
    }
    if (!strcmp(name, "SAMPLE_SEED")) {
        snprintf(buf, sizeof(buf), "%llu", c->sample_seed);
        return c->sample_seed ? buf : "";
    }
    if (!strcmp(name, "YOUNG_MS")) {
        snprintf(buf, sizeof(buf), "%ld", c->young_ms);
        return buf;
    }
    if (!strcmp(name, "UNWIND"))
        return c->unwind_mode == HS_UNWIND_FP          ? "fp"
               : c->unwind_mode == HS_UNWIND_LIBUNWIND ? "libunwind"
                                                       : "auto";
    if (!strcmp(name, "PROFILE_OUT"))
        return c->profile_out;
    if (!strcmp(name, "PROFILE_SIGNAL")) {
        snprintf(buf, sizeof(buf), "%d", c->profile_signal);
        return c->profile_signal ? buf : "";
    }
    if (!strcmp(name, "SNAPSHOT_OUT"))
        return c->snapshot_out;
    if (!strcmp(name, "SNAPSHOT_AT_EXIT"))
        return c->snapshot_at_exit ? "1" : "0";
    if (!strcmp(name, "SNAPSHOT_SIGNAL")) {
        snprintf(buf, sizeof(buf), "%d", c->snapshot_signal);
        return c->snapshot_signal ? buf : "";
    }
    if (!strcmp(name, "TRACK_PERIOD_MS")) {
        snprintf(buf, sizeof(buf), "%d", c->track_period_ms);
        return buf;
    }
    if (!strcmp(name, "TRACK"))
        return c->track == 2 ? "stacks" : c->track ? "on" : "off";
    if (!strcmp(name, "UNWIND_DEPTH")) {
        snprintf(buf, sizeof(buf), "%d", c->unwind_depth);
        return buf;
    }
    return "?";
}

void hs__config_print(int fd)
{
    dprintf(fd, "heapscope: configuration (HEAPSCOPE_*):\n");
#define HS__CONFIG_PRINT(name, kind, dflt, help)                                                   \
    dprintf(fd, "heapscope:   %-22s = %-8s (default %s) %s\n", "HEAPSCOPE_" #name, current(#name), \
            dflt, help);
    HS_CONFIG_MAP(HS__CONFIG_PRINT)
#undef HS__CONFIG_PRINT
    dprintf(fd, "heapscope:   default wrappers: %s\n", hs__default_wrappers);
}
