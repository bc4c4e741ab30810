/*
 * agent.c — the agent's life cycle: what happens when libheapscope.so is
 * loaded (configuration, fork handlers, keeping children unprofiled), at exit
 * (the summary record) and through the public hs_agent_* API.
 *
 * It does not run inside malloc calls; the hooks (shim/) and the bookkeeping
 * (track/) do.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_int.h"
#include "heapscope/hs_agent.h"
#include "profile/profile.h"
#include "snapshot/snapshot.h"

static _Atomic int started;
/* 0 in a forked child that is not followed: it keeps a consistent registry
 * (its hooks still run) but reports nothing. */
static int reporting = 1;

/* ---- fork ------------------------------------------------------------------ */

/* fork() may be called from a signal handler that interrupted one of our
 * hooks (fork is async-signal-safe): this thread may then hold a registry
 * lock itself, which the interrupted hook releases once the handler
 * returns, in parent and child alike. Freezing would wait for it forever,
 * so a fork from inside a hook takes no locks; glibc does the same for its
 * own malloc locks in a single-threaded process. */
static HS_TLS int fork_guard_was;

static void atfork_prepare(void)
{
    fork_guard_was = hs__shim_guarded();
    if (fork_guard_was)
        return;
    hs__shim_guard(1);
    hs__frames_lock();
    hs__registry_freeze();
    hs__sampler_lock_all();
}

static void atfork_parent(void)
{
    if (fork_guard_was)
        return;
    hs__sampler_unlock_all();
    hs__registry_thaw();
    hs__frames_unlock();
    hs__shim_guard(0);
}

static void atfork_child(void)
{
    if (!hs__config.follow_children)
        reporting = 0;
    /* The service thread stays in the parent; so do its connections. */
    hs__service_after_fork_child();
    if (fork_guard_was)
        return;
    hs__sampler_unlock_all_child();
    hs__registry_thaw_child();
    hs__frames_unlock();
    /* Nobody will read a child's samples unless it is followed. */
    if (!reporting)
        hs__sampler_stop();
    /* The timeline's ticks and clients stay with the parent. */
    hs__timeline_stop();
    hs__shim_guard(0);
}

/* ---- children ----------------------------------------------------------------- */

/* Removes this library from LD_PRELOAD so that programs the process execs
 * run without it, keeping any other preloaded library. */
static void drop_self_from_preload(void)
{
    const char *pre = getenv("LD_PRELOAD");
    Dl_info self;
    if (!pre || !dladdr((void *)drop_self_from_preload, &self) || !self.dli_fname)
        return;
    const char *me = strrchr(self.dli_fname, '/');
    me = me ? me + 1 : self.dli_fname;

    char out[4096];
    size_t o = 0;
    int dropped = 0;
    for (const char *s = pre; *s;) {
        size_t len = strcspn(s, ": ");
        const char *base = s;
        for (size_t i = 0; i < len; i++)
            if (s[i] == '/')
                base = s + i + 1;
        size_t blen = len - (size_t)(base - s);
        if (len && blen == strlen(me) && !memcmp(base, me, blen)) {
            dropped = 1;
        } else if (len) {
            if (o + len + 2 > sizeof(out))
                return; /* too long to rewrite safely: leave it */
            if (o)
                out[o++] = ':';
            memcpy(out + o, s, len);
            o += len;
        }
        s += len;
        while (*s == ':' || *s == ' ')
            s++;
    }
    out[o] = '\0';
    if (!dropped)
        return;
    if (o)
        setenv("LD_PRELOAD", out, 1);
    else
        unsetenv("LD_PRELOAD");
}

/* Which process is profiled. The first process to load the agent records
 * its pid in HEAPSCOPE_PID; a program it becomes by exec keeps that pid and
 * so stays profiled (`heapscope run -- env X=1 prog`, `sh -c 'exec prog'`),
 * while a child it forks or spawns has another pid: it loads the agent (the
 * environment says so) but goes passive and drops the agent from its own
 * environment, so its children do not load it at all. Every process is
 * profiled with HEAPSCOPE_FOLLOW_CHILDREN=1. */
static int is_profiled_process(void)
{
    if (hs__config.follow_children)
        return 1;
    long me = (long)getpid();
    if (hs__config.owner_pid)
        return hs__config.owner_pid == me;
    /* Preloaded without `heapscope run` (which sets it): claim it. */
    char buf[24];
    snprintf(buf, sizeof(buf), "%ld", me);
    /* The environment this grows is the process's own (environ), so its
     * blocks are tracked like any other: an independent counter of the
     * process's allocations must agree with the registry (tests/integ). */
    setenv("HEAPSCOPE_PID", buf, 1);
    hs__config.owner_pid = me;
    return 1;
}

/* ---- load and exit ------------------------------------------------------------ */

__attribute__((constructor(101))) static void agent_load(void)
{
    hs__shim_resolve();
    hs__config_load();
    if (!is_profiled_process()) {
        /* Hooks only forward from now on: nothing else to set up, not
         * even the fork handlers (no lock of ours is taken any more). */
        atomic_store(&hs__shim_passive, 1);
        reporting = 0;
        drop_self_from_preload();
        return;
    }
    int npat = hs__sites_set_wrappers(hs__config.wrappers);
    if (npat < 0) {
        dprintf(2, "heapscope: HEAPSCOPE_WRAPPERS too long; using the defaults\n");
        hs__sites_set_wrappers(NULL);
    }
    hs__sites_enable(1, hs__config.unwind_depth);
    hs__track_init();
    hs__registry_on = !hs__config.sample_only;
    hs__unwind_set_mode((enum hs_unwind_mode)hs__config.unwind_mode);
    hs__sampler_init();
    hs__profile_out_load();
    hs__snapshot_out_load();
    hs__timeline_load();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    int autostart = hs__config.autostart < 0 ? hs__config.preloaded : hs__config.autostart;
    if (hs__config.verbose)
        hs__config_print(2);
    if (autostart) {
        hs_agent_start();
        if (hs__config.wait) {
            hs__service_wait_for_debugger();
            /* Once: a program this one execs into does not wait again. */
            unsetenv("HEAPSCOPE_WAIT");
        }
    }
}

static void write_summary(void)
{
    if (!hs__config.summary[0])
        return;
    hs_agent_stats st;
    hs_agent_get_stats(&st);
    /* The program's name, without spaces, so that the record stays one
     * line of key=value fields. */
    char prog[64];
    snprintf(prog, sizeof(prog), "%s", program_invocation_short_name);
    for (char *c = prog; *c; c++)
        if (*c == ' ' || *c == '\n' || *c == '=')
            *c = '_';
    char tl[160];
    hs__timeline_summary(tl, sizeof(tl));
    char line[480];
    int n = snprintf(line, sizeof(line),
                     "heapscope-summary pid=%ld live_blocks=%llu live_bytes=%llu peak_bytes=%llu "
                     "allocs=%llu frees=%llu prog=%s %s\n",
                     (long)getpid(), (unsigned long long)st.live_blocks,
                     (unsigned long long)st.live_bytes, (unsigned long long)st.peak_bytes,
                     (unsigned long long)st.allocs, (unsigned long long)st.frees, prog, tl);
    int fd = open(hs__config.summary, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        dprintf(2, "heapscope: cannot write summary to %s: %s\n", hs__config.summary,
                strerror(errno));
        return;
    }
    /* One write with O_APPEND: records of several processes never mix. */
    ssize_t w = write(fd, line, (size_t)n);
    (void)w;
    close(fd);
}

/* Destructors run last of all at exit (after atexit handlers), so the record
 * shows what is still allocated when the program is done. */
__attribute__((destructor(101))) static void agent_unload(void)
{
    if (reporting) {
        hs__profile_out_exit();
        hs__snapshot_out_exit();
    }
    if (atomic_load(&started) && reporting)
        write_summary();
    if (reporting)
        hs__service_stop();
}

/* ---- public API ------------------------------------------------------------- */

int hs_agent_start(void)
{
    if (atomic_exchange(&started, 1))
        return HS_OK;
    /* Without an endpoint the agent still tracks and reports: a failure to
     * listen is printed, not fatal. */
    hs__service_start();
    return HS_OK;
}

int hs_agent_stop(void)
{
    if (!atomic_exchange(&started, 0))
        return HS_OK;
    hs__service_stop();
    return HS_OK;
}

int hs_agent_get_stats(hs_agent_stats *out)
{
    if (!out)
        return HS_E_INVAL;
    hs__track_flush();
    hs__registry_totals(&out->live_blocks, &out->live_bytes);
    out->allocs = hs__track_allocs();
    out->frees = out->allocs - out->live_blocks;
    out->peak_bytes = atomic_load_explicit(&hs__counters.peak_bytes, memory_order_relaxed);
    if (out->peak_bytes < out->live_bytes)
        out->peak_bytes = out->live_bytes;
    out->sites = hs__site_count();
    out->registry_bytes = hs__imem_in_use();
    return HS_OK;
}

int hs_agent_block_info(const void *p, hs_agent_block *out)
{
    if (!out)
        return HS_E_INVAL;
    hs_block b;
    if (!hs__registry_lookup((uintptr_t)p, &b))
        return HS_E_NOTFOUND;
    out->start = b.addr;
    out->size = b.size;
    out->id = b.id;
    out->site = hs__site_addr(b.site);
    return HS_OK;
}

const char *hs_agent_version(void)
{
    return HS_VERSION;
}
