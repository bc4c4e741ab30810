/*
 * snapshot_out.c — heap snapshots without a client: written to
 * HEAPSCOPE_SNAPSHOT_OUT (a pattern: %p the pid, %n the snapshot's number in
 * this process, 1, 2, …) at exit with HEAPSCOPE_SNAPSHOT_AT_EXIT=1 and
 * whenever HEAPSCOPE_SNAPSHOT_SIGNAL arrives. `heapscope run
 * --snapshot-at-exit / --snapshot-signal` sets these variables.
 *
 * As profile_out.c does: the signal handler only writes a byte to a pipe
 * (async-signal-safe); a small thread of the agent, with every signal blocked
 * and the hooks' guard set, reads it and writes the file. A handler that was
 * there before ours (HEAPSCOPE_PROFILE_SIGNAL's, when both name the same
 * signal, or the program's) is called too, so one signal can serve both.
 *
 * A number is used up only by a snapshot that was written: the files of a
 * process are numbered without gaps (heapscope run lists them that way).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../agent_int.h"
#include "heapscope/hs_err.h"
#include "hs_outpath.h"
#include "snapshot.h"

#define DEFAULT_PATTERN "heapscope-%p-%n.heapsnapshot"

static int sig_pipe[2] = {-1, -1};
static pid_t owner; /* a forked child's signals are its own business */
static struct sigaction chained;
/* Posted once the writer thread is known to the snapshot engine: before, a
 * snapshot (at exit) would try to stop it like one of the program's. */
static sem_t writer_ready;
/* One snapshot at a time from here (signal thread, exit), and its number. */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long next_seq = 1;

static const char *pattern(void)
{
    return hs__config.snapshot_out[0] ? hs__config.snapshot_out : DEFAULT_PATTERN;
}

static void write_now(const char *why)
{
    pthread_mutex_lock(&out_lock);
    char path[1024];
    if (hs_outpath_expand(pattern(), (long)getpid(), next_seq, path, sizeof(path)) < 0) {
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

static void on_signal(int sig, siginfo_t *info, void *uc)
{
    int e = errno;
    if (getpid() == owner && sig_pipe[1] >= 0) {
        char b = 1;
        ssize_t w = write(sig_pipe[1], &b, 1);
        (void)w;
    }
    errno = e;
    if (chained.sa_flags & SA_SIGINFO) {
        if (chained.sa_sigaction)
            chained.sa_sigaction(sig, info, uc);
    } else if (chained.sa_handler != SIG_DFL && chained.sa_handler != SIG_IGN &&
               chained.sa_handler) {
        chained.sa_handler(sig);
    }
}

static void *writer_main(void *arg)
{
    (void)arg;
    hs__shim_guard(1);
    hs__snapshot_register_agent_thread();
    sem_post(&writer_ready);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    char buf[64];
    for (;;) {
        ssize_t n = read(sig_pipe[0], buf, sizeof(buf));
        if (n > 0)
            write_now("on signal"); /* signals that came during one: one more snapshot */
        else if (n == 0 || errno != EINTR)
            return NULL;
    }
}

static void start_signal_writer(int sig)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        dprintf(2, "heapscope: HEAPSCOPE_SNAPSHOT_SIGNAL ignored: %s\n", strerror(errno));
        return;
    }
    /* The reading end blocks; the handler's end never does. */
    fcntl(sig_pipe[0], F_SETFL, fcntl(sig_pipe[0], F_GETFL) & ~O_NONBLOCK);
    owner = getpid();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    sem_init(&writer_ready, 0, 0);
    pthread_t t;
    int err = pthread_create(&t, NULL, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        dprintf(2, "heapscope: HEAPSCOPE_SNAPSHOT_SIGNAL ignored: %s\n", strerror(err));
        return;
    }
    pthread_detach(t);
    while (sem_wait(&writer_ready) != 0 && errno == EINTR)
        ;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_RESTART | SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, &chained);
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
    start_signal_writer(hs__config.snapshot_signal);
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
