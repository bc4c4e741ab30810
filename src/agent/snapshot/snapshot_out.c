/*
 * snapshot_out.c — heap snapshots without a client: written to
 * HEAPSCOPE_SNAPSHOT_OUT (a pattern: %p the pid, %n the snapshot's number in
 * this process, 1, 2, …) at exit with HEAPSCOPE_SNAPSHOT_AT_EXIT=1 and
 * whenever HEAPSCOPE_SNAPSHOT_SIGNAL arrives. `heapscope run
 * --snapshot-at-exit / --snapshot-signal` sets these variables.
 *
 * As profile_out.c does, on the signal the file is written by a thread of the
 * agent (hs__sigwork_start, sigwork.c). When HEAPSCOPE_PROFILE_SIGNAL names
 * the same signal, both files are written; a handler that was there before
 * (the program's) is called too.
 *
 * A number is used up only by a snapshot that was written: the files of a
 * process are numbered without gaps (heapscope run lists them that way).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../agent_int.h"
#include "heapscope/hs_err.h"
#include "hs_outpath.h"
#include "snapshot.h"

/* One snapshot at a time from here (signal thread, exit), and its number. */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long next_seq = 1;

static void write_now(const char *why)
{
    pthread_mutex_lock(&out_lock);
    char path[1024];
    if (hs_outpath_expand(hs__config.snapshot_out, (long)getpid(), next_seq, path, sizeof(path)) <
        0) {
        dprintf(2,
                "heapscope: cannot write a heap snapshot (%s): HEAPSCOPE_SNAPSHOT_OUT makes "
                "a path too long\n",
                why);
        pthread_mutex_unlock(&out_lock);
        return;
    }
    struct hs_snap_stats st;
    memset(&st, 0, sizeof(st));
    int rc = hs__snapshot_write_file(path, &st);
    if (rc == 0) {
        next_seq++;
        dprintf(2,
                "heapscope: wrote a heap snapshot (%s) to %s: %llu blocks, %llu leaked (%llu "
                "bytes), pause %.1f ms\n",
                why, path, (unsigned long long)st.blocks, (unsigned long long)st.leaked_blocks,
                (unsigned long long)st.leaked_bytes, (double)st.pause_ns / 1e6);
    } else if (rc == HS_E_STATE) {
        dprintf(2,
                "heapscope: no heap snapshot (%s): HEAPSCOPE_MODE=sample keeps no registry of "
                "live blocks\n",
                why);
    } else {
        dprintf(2, "heapscope: cannot write a heap snapshot (%s) to %s: %s\n", why, path,
                hs_strerror(rc));
    }
    pthread_mutex_unlock(&out_lock);
}

static void write_on_signal(void)
{
    write_now("on signal"); /* signals that came during one: one more snapshot */
}

void hs__snapshot_out_load(void)
{
    if (!hs__config.snapshot_signal && !hs__config.snapshot_at_exit)
        return;
    if (hs__config.sample_only) {
        dprintf(2,
                "heapscope: HEAPSCOPE_SNAPSHOT_%s ignored: HEAPSCOPE_MODE=sample keeps no "
                "registry of live blocks\n",
                hs__config.snapshot_signal ? "SIGNAL" : "AT_EXIT");
        hs__config.snapshot_signal = 0;
        hs__config.snapshot_at_exit = 0;
        return;
    }
    if (!hs__config.snapshot_signal)
        return;
    int was = hs__shim_guarded();
    hs__shim_guard(1);
    hs__sigwork_start(hs__config.snapshot_signal, "HEAPSCOPE_SNAPSHOT_SIGNAL", write_on_signal);
    hs__shim_guard(was);
}

void hs__snapshot_out_exit(void)
{
    if (!hs__config.snapshot_at_exit)
        return;
    int was = hs__shim_guarded();
    hs__shim_guard(1);
    write_now("at exit");
    hs__shim_guard(was);
}
