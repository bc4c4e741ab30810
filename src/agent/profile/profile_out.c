/*
 * profile_out.c — sampling without a client: HEAPSCOPE_SAMPLE starts the
 * sampler at load, the profile is written to HEAPSCOPE_PROFILE_OUT at exit
 * and, with HEAPSCOPE_PROFILE_SIGNAL, whenever that signal arrives (sampling
 * goes on). `heapscope run --sample` sets these variables.
 *
 * The signal handler only writes a byte to a pipe (async-signal-safe); a
 * small thread of the agent, with every signal blocked and the hooks' guard
 * set, reads it and writes the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../snapshot/snapshot.h"
#include "heapscope/hs_err.h"
#include "profile.h"

static int sig_pipe[2] = {-1, -1};
static pid_t owner; /* a forked child's signals are its own business */
static char out_path[600];

static const char *path_of_output(void)
{
    if (!out_path[0]) {
        if (hs__config.profile_out[0])
            snprintf(out_path, sizeof(out_path), "%s", hs__config.profile_out);
        else
            snprintf(out_path, sizeof(out_path), "heapscope-%ld.heapprofile", (long)getpid());
    }
    return out_path;
}

static void write_now(const char *why)
{
    const char *path = path_of_output();
    int rc = hs__profile_write(path);
    if (rc == 0)
        dprintf(2, "heapscope: wrote the sampling profile (%s) to %s\n", why, path);
    else if (rc != HS_E_STATE)
        dprintf(2, "heapscope: cannot write the sampling profile to %s: %s\n", path,
                hs_strerror(rc));
}

static void on_signal(int sig)
{
    (void)sig;
    int e = errno;
    if (getpid() == owner && sig_pipe[1] >= 0) {
        char b = 1;
        ssize_t w = write(sig_pipe[1], &b, 1);
        (void)w;
    }
    errno = e;
}

static void *writer_main(void *arg)
{
    (void)arg;
    hs__shim_guard(1);
    hs__snapshot_register_agent_thread();
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    char buf[64];
    for (;;) {
        ssize_t n = read(sig_pipe[0], buf, sizeof(buf));
        if (n > 0)
            write_now("on signal");
        else if (n == 0 || errno != EINTR)
            return NULL;
    }
}

static void start_signal_writer(int sig)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        dprintf(2, "heapscope: HEAPSCOPE_PROFILE_SIGNAL ignored: %s\n", strerror(errno));
        return;
    }
    /* The reading end blocks; the handler's end never does. */
    fcntl(sig_pipe[0], F_SETFL, fcntl(sig_pipe[0], F_GETFL) & ~O_NONBLOCK);
    owner = getpid();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int err = pthread_create(&t, NULL, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        dprintf(2, "heapscope: HEAPSCOPE_PROFILE_SIGNAL ignored: %s\n", strerror(err));
        return;
    }
    pthread_detach(t);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

void hs__profile_out_load(void)
{
    if (hs__config.sample <= 0)
        return;
    int was = hs__shim_guarded();
    hs__shim_guard(1);
    struct hs_sample_params p = {
        .interval = (uint64_t)hs__config.sample,
        .depth = hs__config.sample_depth,
        .young_ns = (uint64_t)hs__config.young_ms * 1000000u,
        .seed = hs__config.sample_seed,
    };
    hs__profile_start(&p);
    if (hs__config.profile_signal)
        start_signal_writer(hs__config.profile_signal);
    hs__shim_guard(was);
}

void hs__profile_out_exit(void)
{
    if (hs__config.sample <= 0)
        return;
    int was = hs__shim_guarded();
    hs__shim_guard(1);
    write_now("at exit");
    hs__shim_guard(was);
}
