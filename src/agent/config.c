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

struct hs_config hs__config = {.autostart = -1, .unwind_depth = 32};

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
      "port moves to the next free one; 'off' = none")                                             \
    X(WAIT, K_BOOL, "0",                                                                           \
      "hold the program before main until a client sends "                                         \
      "Runtime.runIfWaitingForDebugger")                                                           \
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

static int parse_int(const char *v, int dflt, int lo, int hi)
{
    if (!v || !*v)
        return dflt;
    long n = 0;
    for (const char *s = v; *s; s++) {
        if (*s < '0' || *s > '9' || n > hi)
            return dflt;
        n = n * 10 + (*s - '0');
    }
    return n < lo ? lo : n > hi ? hi : (int)n;
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
    static char buf[16];
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
