/*
 * hazards.c — situations in which a malloc interposer can break its host,
 * each a subcommand run as its own ctest (a hang shows as a time-out):
 *   peak-threads     threads that free what others allocated, then exit:
 *                    the peak must not drift with their pending counts
 *   fork-in-handler  fork() from a signal handler that interrupts malloc
 *                    (fork is async-signal-safe): no self-deadlock
 *   cancel           a thread cancelled while its malloc reads unwind
 *                    information must leave no lock held (fork afterwards)
 *   fd               a malloc call must not keep one of the program's file
 *                    descriptors: close(0), allocate, open() must give 0
 * Linked with libheapscope.so; -rdynamic so that xmalloc_wrapper is
 * classified as a wrapper through HEAPSCOPE_WRAPPERS.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heapscope/hs_agent.h"

__attribute__((noinline)) void *xmalloc_wrapper(size_t n);
__attribute__((noinline)) void *xmalloc_wrapper(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

static void *free_and_exit(void *p)
{
    free(p);
    return NULL;
}

static int peak_threads(void)
{
    hs_agent_stats st;
    for (int i = 0; i < 2000; i++) {
        pthread_t t;
        void *p = malloc(60 * 1024);
        if (!p || pthread_create(&t, NULL, free_and_exit, p))
            return 1;
        pthread_join(t, NULL);
    }
    hs_agent_get_stats(&st);
    printf("peak-threads: peak %llu bytes after 2000 x 60 KiB handed to exiting threads\n",
           (unsigned long long)st.peak_bytes);
    /* Real peak: one 60 KiB block plus thread start-up; 2000 lost frees
     * would show as ~120 MB. */
    return st.peak_bytes > 8u * 1024 * 1024;
}

static void on_alarm(int sig)
{
    (void)sig;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
}

static int fork_in_handler(void)
{
    struct sigaction sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct sigaction chld = {.sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT};
    sigaction(SIGCHLD, &chld, NULL);
    struct itimerval it = {{0, 200}, {0, 200}};
    setitimer(ITIMER_REAL, &it, NULL);
    unsigned long sum = 0;
    for (int i = 0; i < 3000000; i++) {
        char *p = malloc(16 + i % 200);
        if (!p)
            return 1;
        p[0] = (char)i;
        sum += (unsigned char)p[0];
        free(p);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("fork-in-handler: done (%lu)\n", sum);
    return 0;
}

static pthread_barrier_t barrier;

static void *cancelled_thread(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&barrier); /* not a cancellation point */
    /* A first call through a wrapper: its unwind rule is read from the
     * executable's file, with open(), a cancellation point. */
    void *p = xmalloc_wrapper(32);
    free(p);
    pthread_testcancel();
    return NULL;
}

static int cancel(void)
{
    pthread_t t;
    pthread_barrier_init(&barrier, NULL, 2);
    if (pthread_create(&t, NULL, cancelled_thread, NULL))
        return 1;
    pthread_cancel(t);
    pthread_barrier_wait(&barrier);
    void *res;
    pthread_join(t, &res);
    pid_t pid = fork(); /* hangs if a lock was left held */
    if (pid == 0)
        _exit(0);
    int st;
    waitpid(pid, &st, 0);
    printf("cancel: thread %s, fork ok\n", res == PTHREAD_CANCELED ? "cancelled" : "finished");
    return res != PTHREAD_CANCELED;
}

static int fd(void)
{
    close(0);
    void *p = xmalloc_wrapper(64); /* first call through this wrapper */
    int f = open("/dev/null", O_RDONLY);
    printf("fd: open after close(0) and malloc gave %d\n", f);
    free(p);
    return f != 0;
}

int main(int argc, char **argv)
{
    hs_agent_start();
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "peak-threads"))
        return peak_threads();
    if (!strcmp(argv[1], "fork-in-handler"))
        return fork_in_handler();
    if (!strcmp(argv[1], "cancel"))
        return cancel();
    if (!strcmp(argv[1], "fd"))
        return fd();
    return 2;
}
