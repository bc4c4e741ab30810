/*
 * sigwork.c — see hs__sigwork_start in agent_int.h: on a signal, run a
 * function on a thread of the agent (profile_out.c and snapshot_out.c write
 * their files this way).
 *
 * The handler only writes a byte to a pipe (async-signal-safe); a small
 * thread of the agent, with every signal blocked and the hooks' guard set,
 * reads it and calls the function. Users naming the same signal share one
 * handler, which wakes each of them; a handler that was there before ours
 * (the program's, say) is called too.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent_int.h"
#include "snapshot/snapshot.h"

#define MAX_USERS 4

struct user {
    _Atomic int sig; /* set last: the handler looks at a slot only then */
    int rfd, wfd;
    pid_t owner; /* a forked child's signals are its own business */
    void (*fn)(void);
    struct sigaction chained; /* the handler before ours, if not ours */
    sem_t ready;
};

static struct user users[MAX_USERS];
static pthread_mutex_t users_mu = PTHREAD_MUTEX_INITIALIZER;
static int n_users;

static void on_signal(int sig, siginfo_t *info, void *uc)
{
    int e = errno;
    pid_t me = getpid();
    for (int i = 0; i < MAX_USERS; i++) {
        struct user *u = &users[i];
        if (atomic_load(&u->sig) == sig && me == u->owner) {
            char b = 1;
            ssize_t w = write(u->wfd, &b, 1);
            (void)w;
        }
    }
    errno = e;
    for (int i = 0; i < MAX_USERS; i++) {
        struct user *u = &users[i];
        if (atomic_load(&u->sig) != sig)
            continue;
        if (u->chained.sa_flags & SA_SIGINFO) {
            if (u->chained.sa_sigaction)
                u->chained.sa_sigaction(sig, info, uc);
        } else if (u->chained.sa_handler != SIG_DFL && u->chained.sa_handler != SIG_IGN &&
                   u->chained.sa_handler) {
            u->chained.sa_handler(sig);
        }
    }
}

static void *worker_main(void *arg)
{
    struct user *u = arg;
    hs__shim_guard(1);
    hs__snapshot_register_agent_thread();
    /* Before this, a snapshot (at exit) would try to stop the thread like
     * one of the program's. */
    sem_post(&u->ready);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    char buf[64];
    for (;;) {
        ssize_t n = read(u->rfd, buf, sizeof(buf));
        if (n > 0)
            u->fn(); /* signals that came during one call: one more call */
        else if (n == 0 || errno != EINTR)
            return NULL;
    }
}

int hs__sigwork_start(int sig, const char *what, void (*fn)(void))
{
    pthread_mutex_lock(&users_mu);
    if (n_users == MAX_USERS) {
        pthread_mutex_unlock(&users_mu);
        dprintf(2, "heapscope: %s ignored: too many signal writers\n", what);
        return -1;
    }
    struct user *u = &users[n_users];
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
        pthread_mutex_unlock(&users_mu);
        dprintf(2, "heapscope: %s ignored: %s\n", what, strerror(errno));
        return -1;
    }
    /* The reading end blocks; the handler's end never does. */
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) & ~O_NONBLOCK);
    u->rfd = p[0];
    u->wfd = p[1];
    u->owner = getpid();
    u->fn = fn;
    sem_init(&u->ready, 0, 0);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int err = pthread_create(&t, NULL, worker_main, u);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        close(p[0]);
        close(p[1]);
        sem_destroy(&u->ready);
        pthread_mutex_unlock(&users_mu);
        dprintf(2, "heapscope: %s ignored: %s\n", what, strerror(err));
        return -1;
    }
    pthread_detach(t);
    while (sem_wait(&u->ready) != 0 && errno == EINTR)
        ;
    n_users++;
    struct sigaction sa, prev;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_RESTART | SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    /* Our own handler (a user before on this signal) is not chained: it
     * already wakes every user. */
    sigaction(sig, &sa, &prev);
    if (!((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction == on_signal))
        u->chained = prev;
    else
        u->chained.sa_handler = SIG_DFL;
    atomic_store(&u->sig, sig); /* the slot complete, the handler may look */
    pthread_mutex_unlock(&users_mu);
    return 0;
}
