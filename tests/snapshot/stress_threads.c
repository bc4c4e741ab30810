/*
 * stress_threads.c — a program for the capture's promises (issue 5 item 1:
 * many threads, threads blocked in system calls, no deadlock on locks held
 * at fork time), driven by test_capture_stress.py, which takes the heap
 * snapshots (HEAPSCOPE_SNAPSHOT_SIGNAL or CDP) while the program does this:
 *
 *   churn N [L] N threads ("churn-<i>") allocate, reallocate and free in a
 *               tight loop (malloc, calloc, posix_memalign, realloc across
 *               the mmap threshold), every byte read back and folded into a
 *               per-thread checksum. Each thread's only pointer to its slot
 *               array (site churn_slots) is a local: a register or its stack.
 *               L more threads ("locker-<i>") call mallinfo2() in a loop: it
 *               holds each malloc arena's lock while it walks the arena.
 *   churn-ref   no threads, for the run without the agent: reads "<i> <n>"
 *               lines and prints each thread's checksum for n iterations.
 *   blocked     threads "blk-<role>" blocked in read (pipe), pthread_cond_wait,
 *               nanosleep, poll, accept (unix socket), futex and epoll_wait,
 *               each holding a buffer (site hold_<role>_buf) only on its stack.
 *   sigmask     "msk-masked" blocks every signal, "msk-normal" does not; both
 *               block in read holding a buffer only on their stacks.
 *   fork        threads fork+exec /bin/true ("fork-exec") and fork, malloc,
 *               _exit(7) ("fork-exit") in a loop; a SIGCHLD handler reaps
 *               with waitpid(-1, WNOHANG) and records every pid it gets.
 *
 * Protocol: lines on stdout (flushed), commands on stdin, one line each.
 *   every mode:  ... "ready <pid>" once set up.
 *   check     → "check progressed=<threads that ran since> of <threads>
 *                waitpid=<rc>/<errno> sigchld=<count>": every worker went once
 *                more round its loop (the stop released it), and what the
 *                program's own waitpid(-1, WNOHANG) sees.
 *   stop      → (churn, fork) the workers stop; their results; "done".
 *   exit      → (churn) exit(0) with every worker still allocating.
 *   wake      → (blocked, sigmask) every blocked thread is woken the way its
 *                call expects; "result <role> ..." lines; "done".
 *   settle    → (blocked, sigmask) "settled" once every thread is in its
 *                system call again (/proc/self/task/TID/syscall).
 *   unmask    → (sigmask) msk-masked reads once (woken), unblocks every signal
 *                (the stops still pending arrive), blocks in read again:
 *                "unmasked pending=<signals pending before>", then "ready".
 * The SIGUSR2 of a snapshot is blocked in every thread but main, so that it
 * interrupts nothing the test counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Allocation sites, exported: the snapshot names blocks by them. */
struct slot;
struct slot *churn_slots(void);
unsigned char *churn_block(uint64_t r, size_t n);
char *hold_read_buf(void);
char *hold_cond_buf(void);
char *hold_sleep_buf(void);
char *hold_poll_buf(void);
char *hold_accept_buf(void);
char *hold_futex_buf(void);
char *hold_epoll_buf(void);
char *hold_masked_buf(void);
char *hold_normal_buf(void);

#define MAX_WORKERS 256
#define SLOTS 32
#define HOLD_SIZE 4096 /* a multiple of 16: see known_heap.c */

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void die(const char *what)
{
    fprintf(stderr, "stress_threads: %s: %s\n", what, strerror(errno));
    exit(3);
}

static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, w, op, val, ts, NULL, 0);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits until *w reaches want (bumped by others, each followed by a wake);
 * 0, or -1 after timeout_ms. */
static int wait_count(_Atomic uint32_t *w, uint32_t want, uint64_t timeout_ms)
{
    uint64_t end = now_ms() + timeout_ms;
    for (;;) {
        uint32_t v = atomic_load(w);
        if (v >= want)
            return 0;
        uint64_t now = now_ms();
        if (now >= end)
            return -1;
        struct timespec ts = {0, 100 * 1000000L};
        futex(w, FUTEX_WAIT_PRIVATE, v, &ts);
    }
}

static void bump(_Atomic uint32_t *w)
{
    atomic_fetch_add(w, 1);
    futex(w, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
}

static void block_snapshot_signal(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static _Atomic unsigned sigchld_count;

static void count_sigchld(int sig)
{
    (void)sig;
    atomic_fetch_add(&sigchld_count, 1);
}

#define MAX_FORKS (1 << 18)
static _Atomic pid_t created[MAX_FORKS];
static _Atomic int created_kind[MAX_FORKS]; /* 0 exec /bin/true, 1 _exit(7) */
static _Atomic unsigned ncreated;
static pid_t reaped[MAX_FORKS];
static int reaped_status[MAX_FORKS];
static _Atomic unsigned nreaped;
static pid_t sigchld_from[MAX_FORKS];
static _Atomic unsigned nsigchld_from;
static _Atomic int forks_stop;

/* Every pid the program's own waits return, whichever thread reaps it. */
static void record_reaped(pid_t p, int st)
{
    unsigned i = atomic_fetch_add(&nreaped, 1);
    if (i < MAX_FORKS) {
        reaped[i] = p;
        reaped_status[i] = st;
    }
}

/* ---- progress: every worker acknowledges a generation ------------------- */

static _Atomic uint32_t gen, acked;
static int nworkers;

static inline void ack_gen(uint32_t *seen)
{
    uint32_t g = atomic_load_explicit(&gen, memory_order_relaxed);
    if (g != *seen) {
        *seen = g;
        bump(&acked);
    }
}

/* "check": every worker ran since (the snapshot's stop released them all),
 * and the program's own waitpid(-1, WNOHANG) sees only its own children. */
static void check(void)
{
    atomic_store(&acked, 0);
    atomic_fetch_add(&gen, 1);
    wait_count(&acked, (uint32_t)nworkers, 10000);
    int st;
    errno = 0;
    pid_t w = waitpid(-1, &st, WNOHANG);
    if (w > 0)
        record_reaped(w, st);
    say("check progressed=%u of %d waitpid=%ld/%d sigchld=%u", atomic_load(&acked), nworkers,
        (long)w, w < 0 ? errno : 0, atomic_load(&sigchld_count));
}

/* ---- churn -------------------------------------------------------------- */

struct slot {
    unsigned char *p;
    size_t n;
    uint64_t seed;
};

struct worker {
    pthread_t th;
    int idx;
    _Atomic pid_t tid;
    uint32_t seen;
    _Atomic int stop;
    uint64_t iters, sum, errors;
};
static struct worker workers[MAX_WORKERS];

static inline uint64_t xs(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static inline unsigned char pat(uint64_t seed, size_t i)
{
    return (unsigned char)((seed >> ((i & 7) << 3)) + (i >> 3));
}

static void fill(unsigned char *p, size_t from, size_t to, uint64_t seed)
{
    for (size_t i = from; i < to; i++)
        p[i] = pat(seed, i);
}

/* Reads p[0, n) back: mismatches into *errors, the bytes into the sum. */
static uint64_t verify(const unsigned char *p, size_t n, uint64_t seed, uint64_t *errors)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != pat(seed, i))
            (*errors)++;
        s = s * 31 + p[i];
    }
    return s;
}

static size_t pick_size(uint64_t r)
{
    if (((r >> 20) & 511) == 0)
        return 128 * 1024 + (size_t)(r >> 32) % (64 * 1024); /* malloc maps these */
    return 1 + (size_t)(r >> 32) % 512;
}

__attribute__((noinline)) struct slot *churn_slots(void)
{
    struct slot *s = calloc(SLOTS, sizeof(*s));
    if (!s)
        die("calloc");
    return s;
}

__attribute__((noinline)) unsigned char *churn_block(uint64_t r, size_t n)
{
    unsigned char *p = NULL;
    switch ((r >> 50) % 8) {
    case 0:
        p = calloc(1, n);
        for (size_t i = 0; p && i < n; i++)
            if (p[i])
                die("calloc gave memory that is not zero");
        break;
    case 1:
        if (posix_memalign((void **)&p, 64, n) != 0)
            p = NULL;
        break;
    default:
        p = malloc(n);
        break;
    }
    if (!p)
        die("malloc");
    return p;
}

/* One thread's work: iterations until limit or *stop, then everything freed.
 * Deterministic in (idx, iterations): the run without the agent repeats it. */
static void churn_run(struct worker *w, uint64_t limit)
{
    uint64_t st = 0x9E3779B97F4A7C15ull * (uint64_t)(w->idx + 1);
    struct slot *s = churn_slots();
    uint64_t it = 0;
    for (; it < limit && !atomic_load_explicit(&w->stop, memory_order_relaxed); it++) {
        ack_gen(&w->seen);
        uint64_t r = xs(&st);
        struct slot *k = &s[r % SLOTS];
        if (!k->p) {
            k->n = pick_size(r);
            k->seed = xs(&st);
            k->p = churn_block(r, k->n);
            fill(k->p, 0, k->n, k->seed);
        } else if ((r >> 30) & 1) {
            size_t n = pick_size(xs(&st));
            unsigned char *q = realloc(k->p, n);
            if (!q)
                die("realloc");
            size_t keep = n < k->n ? n : k->n;
            w->sum = w->sum * 1000003u + verify(q, keep, k->seed, &w->errors);
            fill(q, keep, n, k->seed);
            k->p = q;
            k->n = n;
        } else {
            w->sum = w->sum * 1000003u + verify(k->p, k->n, k->seed, &w->errors);
            free(k->p);
            k->p = NULL;
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        if (!s[i].p)
            continue;
        w->sum = w->sum * 1000003u + verify(s[i].p, s[i].n, s[i].seed, &w->errors);
        free(s[i].p);
    }
    free(s);
    w->iters = it;
}

static void *churn_main(void *arg)
{
    struct worker *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "churn-%d", w->idx);
    pthread_setname_np(pthread_self(), name);
    atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
    /* A low priority: 64 busy threads on a small machine would starve
     * the snapshot's child and the test's driver of the CPU; they still
     * allocate whenever a CPU is free, and are always in their loop when a
     * snapshot comes. */
    setpriority(PRIO_PROCESS, (id_t)atomic_load(&w->tid), 10);
    block_snapshot_signal();
    churn_run(w, UINT64_MAX);
    return NULL;
}

/* A thread that holds malloc's arena locks as much as it can: mallinfo2()
 * locks each arena in turn and walks all its free chunks under the lock.
 * A snapshot then often stops it inside, holding the lock of the arena the
 * snapshotting thread (and so the snapshot's child) allocates from. */
static void *locker_main(void *arg)
{
    struct worker *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "locker-%d", w->idx);
    pthread_setname_np(pthread_self(), name);
    atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
    setpriority(PRIO_PROCESS, (id_t)atomic_load(&w->tid), 10); /* as churn_main */
    block_snapshot_signal();
    while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
        ack_gen(&w->seen);
        struct mallinfo2 mi = mallinfo2();
        w->sum += mi.fordblks;
        w->iters++;
    }
    return NULL;
}

static int mode_churn(int n, int lockers)
{
    if (n < 1 || lockers < 0 || n + lockers > MAX_WORKERS)
        return 2;
    nworkers = n + lockers;
    /* The program has no child: a SIGCHLD could only be the snapshot's. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = count_sigchld;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    for (int i = 0; i < n; i++) {
        workers[i].idx = i;
        if (pthread_create(&workers[i].th, NULL, churn_main, &workers[i]) != 0)
            die("pthread_create");
    }
    for (int i = n; i < n + lockers; i++) {
        workers[i].idx = i - n;
        if (pthread_create(&workers[i].th, NULL, locker_main, &workers[i]) != 0)
            die("pthread_create");
    }
    /* Every worker is in its loop before the first snapshot. */
    atomic_store(&acked, 0);
    atomic_fetch_add(&gen, 1);
    if (wait_count(&acked, (uint32_t)nworkers, 10000) < 0)
        die("the workers did not start");
    for (int i = 0; i < n; i++)
        say("thread churn-%d %ld", i, (long)atomic_load(&workers[i].tid));
    for (int i = n; i < n + lockers; i++)
        say("thread locker-%d %ld", i - n, (long)atomic_load(&workers[i].tid));
    say("ready %ld", (long)getpid());
    char line[256];
    while (fgets(line, sizeof(line), stdin)) {
        if (!strcmp(line, "check\n")) {
            check();
        } else if (!strcmp(line, "exit\n")) {
            say("exiting");
            exit(0); /* the workers still allocating */
        } else if (!strcmp(line, "stop\n")) {
            break;
        }
    }
    for (int i = 0; i < n + lockers; i++)
        atomic_store(&workers[i].stop, 1);
    for (int i = n; i < n + lockers; i++) {
        pthread_join(workers[i].th, NULL);
        say("locker %d iters %llu", i - n, (unsigned long long)workers[i].iters);
    }
    uint64_t total = 0, errors = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(workers[i].th, NULL);
        say("worker %d iters %llu sum %016llx errors %llu", i, (unsigned long long)workers[i].iters,
            (unsigned long long)workers[i].sum, (unsigned long long)workers[i].errors);
        total += workers[i].iters;
        errors += workers[i].errors;
    }
    say("done iters %llu errors %llu", (unsigned long long)total, (unsigned long long)errors);
    return 0;
}

static int mode_churn_ref(void)
{
    int i;
    unsigned long long n;
    while (scanf("%d %llu", &i, &n) == 2) {
        struct worker w;
        memset(&w, 0, sizeof(w));
        w.idx = i;
        churn_run(&w, n);
        say("worker %d iters %llu sum %016llx errors %llu", i, (unsigned long long)w.iters,
            (unsigned long long)w.sum, (unsigned long long)w.errors);
    }
    return 0;
}

/* ---- blocked in system calls --------------------------------------------- */

/* One allocation site per role: the snapshot names each buffer by it. */
#define HOLD_FN(name)                                                                              \
    __attribute__((noinline)) char *name(void)                                                     \
    {                                                                                              \
        char *p = malloc(HOLD_SIZE);                                                               \
        if (!p)                                                                                    \
            die("malloc");                                                                         \
        memset(p, 'B', HOLD_SIZE);                                                                 \
        return p;                                                                                  \
    }
HOLD_FN(hold_read_buf)
HOLD_FN(hold_cond_buf)
HOLD_FN(hold_sleep_buf)
HOLD_FN(hold_poll_buf)
HOLD_FN(hold_accept_buf)
HOLD_FN(hold_futex_buf)
HOLD_FN(hold_epoll_buf)
HOLD_FN(hold_masked_buf)
HOLD_FN(hold_normal_buf)

enum kind { K_READ, K_COND, K_SLEEP, K_POLL, K_ACCEPT, K_FUTEX, K_EPOLL };

struct blk {
    const char *prefix; /* of the thread's name: "blk" or "msk" */
    const char *role;
    enum kind kind;
    char *(*hold)(void);
    int masked; /* blocks every signal (sigmask mode) */
    int sys[2]; /* the system calls it may be blocked in */
    int fds[2]; /* a pipe (read, poll, epoll, masked) */
    pthread_t th;
    _Atomic pid_t tid;
    _Atomic uint32_t phase; /* bumped when it is about to block */
    /* results */
    long rc;
    int err, eintr, wakeups, intact;
    long rem_s; /* nanosleep: the time left when it was woken */
    char pending[128];
};

static pthread_mutex_t cond_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond_cv = PTHREAD_COND_INITIALIZER;
static int cond_flag;
static _Atomic uint32_t futex_word;
static volatile sig_atomic_t sleep_woken;
static int listen_fd, epoll_fd;
static struct sockaddr_un listen_addr;
static socklen_t listen_len;
static _Atomic uint32_t phase_changed;

static void on_usr1(int sig)
{
    (void)sig;
}

static int buf_intact(volatile char *p)
{
    for (size_t i = 0; i < HOLD_SIZE; i++)
        if (p[i] != 'B')
            return 0;
    return 1;
}

static void announce(struct blk *b)
{
    atomic_fetch_add(&b->phase, 1);
    bump(&phase_changed);
}

static long read_retrying(struct blk *b, int fd)
{
    char c = 0;
    long n;
    while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
        b->eintr++;
    b->err = n < 0 ? errno : 0;
    return n == 1 ? c : -1;
}

/* Blocks the way its role says until main wakes it; counts what it saw. */
static void block_in(struct blk *b)
{
    switch (b->kind) {
    case K_READ:
        b->rc = read_retrying(b, b->fds[0]);
        break;
    case K_COND:
        pthread_mutex_lock(&cond_mu);
        while (!cond_flag) {
            int e = pthread_cond_wait(&cond_cv, &cond_mu);
            if (e == EINTR)
                b->eintr++;
            b->wakeups++;
        }
        pthread_mutex_unlock(&cond_mu);
        b->rc = 0;
        break;
    case K_SLEEP: {
        struct timespec ts = {3600, 0}, rem;
        for (;;) {
            int r = nanosleep(&ts, &rem);
            if (r == 0 || errno != EINTR) {
                b->err = r ? errno : 0;
                b->rc = r;
                break;
            }
            if (sleep_woken) {
                b->rc = 0;
                b->rem_s = (long)rem.tv_sec;
                break;
            }
            b->eintr++;
            ts = rem;
        }
        break;
    }
    case K_POLL: {
        struct pollfd pfd = {.fd = b->fds[0], .events = POLLIN};
        int r;
        while ((r = poll(&pfd, 1, -1)) < 0 && errno == EINTR)
            b->eintr++;
        b->err = r < 0 ? errno : 0;
        b->rc = r == 1 && (pfd.revents & POLLIN) ? read_retrying(b, b->fds[0]) : -1;
        break;
    }
    case K_ACCEPT: {
        int fd;
        while ((fd = accept(listen_fd, NULL, NULL)) < 0 && errno == EINTR)
            b->eintr++;
        b->err = fd < 0 ? errno : 0;
        b->rc = fd >= 0 ? read_retrying(b, fd) : -1;
        if (fd >= 0)
            close(fd);
        break;
    }
    case K_FUTEX:
        while (atomic_load(&futex_word) == 0) {
            long r = futex(&futex_word, FUTEX_WAIT_PRIVATE, 0, NULL);
            if (r < 0 && errno == EINTR)
                b->eintr++;
            else
                b->wakeups++;
        }
        b->rc = 0;
        break;
    case K_EPOLL: {
        struct epoll_event ev;
        int r;
        while ((r = epoll_wait(epoll_fd, &ev, 1, -1)) < 0 && errno == EINTR)
            b->eintr++;
        b->err = r < 0 ? errno : 0;
        b->rc = r == 1 ? read_retrying(b, b->fds[0]) : -1;
        break;
    }
    }
}

static void *blk_main(void *arg)
{
    struct blk *b = arg;
    char name[16];
    snprintf(name, sizeof(name), "%s-%s", b->prefix, b->role);
    pthread_setname_np(pthread_self(), name);
    block_snapshot_signal();
    if (b->masked) {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, NULL);
    }
    if (b->kind == K_SLEEP) {
        sigset_t u;
        sigemptyset(&u);
        sigaddset(&u, SIGUSR1);
        pthread_sigmask(SIG_UNBLOCK, &u, NULL);
    }
    atomic_store(&b->tid, (pid_t)syscall(SYS_gettid));
    /* The only pointer to the buffer: this local, on this thread's stack. */
    char *volatile buf = b->hold();
    announce(b);
    block_in(b);
    if (b->masked) {
        /* Woken once: what is pending, then every signal let in (the stops
         * that came while masked arrive now), and block again. */
        sigset_t p;
        sigpending(&p);
        char *o = b->pending;
        for (int s = 1; s < NSIG && o < b->pending + sizeof(b->pending) - 8; s++)
            if (sigismember(&p, s) == 1)
                o += sprintf(o, "%s%d", o == b->pending ? "" : ",", s);
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_UNBLOCK, &all, NULL);
        block_snapshot_signal();
        announce(b);
        b->rc = read_retrying(b, b->fds[0]);
    }
    b->intact = buf_intact(buf);
    free(buf);
    return NULL;
}

/* Waits until b's thread sits in one of its system calls (read from
 * /proc/self/task/TID/syscall: the number first, "running" else). */
static int wait_blocked(struct blk *b, uint64_t timeout_ms)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/task/%ld/syscall", (long)atomic_load(&b->tid));
    uint64_t end = now_ms() + timeout_ms;
    while (now_ms() < end) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        char buf[256];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n > 0) {
            buf[n] = '\0';
            char *e;
            long nr = strtol(buf, &e, 10);
            if (e != buf && (nr == b->sys[0] || nr == b->sys[1]))
                return 0;
        }
        sched_yield();
    }
    return -1;
}

/* Every thread back in its system call (after a snapshot, a thread whose
 * call returned EINTR needs a moment to call again): "settled". */
static void settle(struct blk *v, int n)
{
    for (int i = 0; i < n; i++) {
        if (wait_blocked(&v[i], 10000) < 0) {
            fprintf(stderr, "stress_threads: %s never blocked in its system call\n", v[i].role);
            exit(3);
        }
    }
}

static void print_ready(struct blk *v, int n)
{
    settle(v, n);
    for (int i = 0; i < n; i++)
        say("thread %s %ld %s-%s hold_%s_buf", v[i].role, (long)atomic_load(&v[i].tid), v[i].prefix,
            v[i].role, v[i].role);
    say("ready %ld", (long)getpid());
}

static void start_blocked(struct blk *v, int n)
{
    phase_changed = 0;
    for (int i = 0; i < n; i++) {
        if (pipe2(v[i].fds, O_CLOEXEC) < 0)
            die("pipe");
        if (pthread_create(&v[i].th, NULL, blk_main, &v[i]) != 0)
            die("pthread_create");
    }
    if (wait_count(&phase_changed, (uint32_t)n, 10000) < 0)
        die("the threads did not start");
}

static void wake(struct blk *b)
{
    char c = 'w';
    switch (b->kind) {
    case K_READ:
    case K_POLL:
    case K_EPOLL:
        if (write(b->fds[1], &c, 1) != 1)
            die("write");
        break;
    case K_COND:
        pthread_mutex_lock(&cond_mu);
        cond_flag = 1;
        pthread_cond_broadcast(&cond_cv);
        pthread_mutex_unlock(&cond_mu);
        break;
    case K_SLEEP:
        sleep_woken = 1;
        pthread_kill(b->th, SIGUSR1);
        break;
    case K_ACCEPT: {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&listen_addr, listen_len) < 0)
            die("connect");
        if (write(fd, &c, 1) != 1)
            die("write");
        close(fd);
        break;
    }
    case K_FUTEX:
        atomic_store(&futex_word, 1);
        futex(&futex_word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
        break;
    }
}

static void report(struct blk *b)
{
    say("result %s rc=%ld err=%d eintr=%d wakeups=%d intact=%d rem=%ld", b->role, b->rc, b->err,
        b->eintr, b->wakeups, b->intact, b->rem_s);
}

static int mode_blocked(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1; /* no SA_RESTART: it is there to interrupt */
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t u;
    sigemptyset(&u);
    sigaddset(&u, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &u, NULL); /* only the sleeper takes it */

    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&listen_addr, 0, sizeof(listen_addr));
    listen_addr.sun_family = AF_UNIX;
    /* Abstract: nothing to clean up. */
    int len = snprintf(listen_addr.sun_path + 1, sizeof(listen_addr.sun_path) - 1, "hs-stress-%ld",
                       (long)getpid());
    listen_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&listen_addr, listen_len) < 0 ||
        listen(listen_fd, 4) < 0)
        die("listen");

    static struct blk v[] = {
        {.prefix = "blk",
         .role = "read",
         .kind = K_READ,
         .hold = hold_read_buf,
         .sys = {SYS_read, SYS_read}},
        {.prefix = "blk",
         .role = "cond",
         .kind = K_COND,
         .hold = hold_cond_buf,
         .sys = {SYS_futex, SYS_futex}},
        {.prefix = "blk",
         .role = "sleep",
         .kind = K_SLEEP,
         .hold = hold_sleep_buf,
         .sys = {SYS_nanosleep, SYS_clock_nanosleep}},
        {.prefix = "blk",
         .role = "poll",
         .kind = K_POLL,
         .hold = hold_poll_buf,
         .sys = {SYS_poll, SYS_ppoll}},
        {.prefix = "blk",
         .role = "accept",
         .kind = K_ACCEPT,
         .hold = hold_accept_buf,
         .sys = {SYS_accept, SYS_accept4}},
        {.prefix = "blk",
         .role = "futex",
         .kind = K_FUTEX,
         .hold = hold_futex_buf,
         .sys = {SYS_futex, SYS_futex}},
        {.prefix = "blk",
         .role = "epoll",
         .kind = K_EPOLL,
         .hold = hold_epoll_buf,
         .sys = {SYS_epoll_wait, SYS_epoll_pwait}},
    };
    int n = (int)(sizeof(v) / sizeof(v[0]));
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0)
        die("epoll_create1");
    start_blocked(v, n);
    for (int i = 0; i < n; i++) {
        if (v[i].kind == K_EPOLL) {
            struct epoll_event ev = {.events = EPOLLIN};
            if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, v[i].fds[0], &ev) < 0)
                die("epoll_ctl");
        }
    }
    print_ready(v, n);
    char line[256];
    while (fgets(line, sizeof(line), stdin) && strcmp(line, "wake\n"))
        if (!strcmp(line, "settle\n")) {
            settle(v, n);
            say("settled");
        }
    for (int i = 0; i < n; i++)
        wake(&v[i]);
    for (int i = 0; i < n; i++) {
        pthread_join(v[i].th, NULL);
        report(&v[i]);
    }
    say("done");
    return 0;
}

static int mode_sigmask(void)
{
    static struct blk v[] = {
        {.prefix = "msk",
         .role = "masked",
         .kind = K_READ,
         .hold = hold_masked_buf,
         .masked = 1,
         .sys = {SYS_read, SYS_read}},
        {.prefix = "msk",
         .role = "normal",
         .kind = K_READ,
         .hold = hold_normal_buf,
         .sys = {SYS_read, SYS_read}},
    };
    start_blocked(v, 2);
    print_ready(v, 2);
    char line[256];
    while (fgets(line, sizeof(line), stdin)) {
        if (!strcmp(line, "unmask\n")) {
            uint32_t before = atomic_load(&phase_changed);
            wake(&v[0]);
            if (wait_count(&phase_changed, before + 1, 10000) < 0)
                die("the masked thread did not come back");
            say("unmasked pending=%s", v[0].pending[0] ? v[0].pending : "none");
            print_ready(v, 2);
        } else if (!strcmp(line, "settle\n")) {
            settle(v, 2);
            say("settled");
        } else if (!strcmp(line, "wake\n")) {
            break;
        }
    }
    for (int i = 0; i < 2; i++)
        wake(&v[i]);
    for (int i = 0; i < 2; i++) {
        pthread_join(v[i].th, NULL);
        report(&v[i]);
    }
    say("done");
    return 0;
}

/* ---- fork ---------------------------------------------------------------- */

static void reap_all_nohang(void)
{
    int e = errno, st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0)
        record_reaped(p, st);
    errno = e;
}

static void on_sigchld(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    atomic_fetch_add(&sigchld_count, 1);
    unsigned i = atomic_fetch_add(&nsigchld_from, 1);
    if (i < MAX_FORKS)
        sigchld_from[i] = si->si_pid;
    reap_all_nohang();
}

static void *forker_main(void *arg)
{
    struct worker *w = arg;
    int exec = w->idx % 2 == 0;
    char name[16];
    snprintf(name, sizeof(name), "fork-%s-%d", exec ? "exec" : "exit", (w->idx / 2) % 100);
    pthread_setname_np(pthread_self(), name);
    block_snapshot_signal();
    while (!atomic_load(&forks_stop)) {
        ack_gen(&w->seen);
        unsigned i = atomic_fetch_add(&ncreated, 1);
        if (i >= MAX_FORKS) {
            atomic_fetch_sub(&ncreated, 1);
            break;
        }
        atomic_store(&created_kind[i], exec ? 0 : 1);
        pid_t p = fork();
        if (p == 0) {
            if (exec) {
                execl("/bin/true", "true", (char *)NULL);
                _exit(127);
            }
            /* The agent's hooks in the child of a threaded parent. */
            char *m = malloc(100);
            if (m)
                memset(m, 1, 100);
            free(m);
            _exit(7);
        }
        if (p < 0) {
            w->errors++;
            atomic_store(&created[i], -1);
            continue;
        }
        atomic_store(&created[i], p);
        w->iters++;
    }
    return NULL;
}

static int mode_fork(int n)
{
    if (n < 1 || n > MAX_WORKERS)
        return 2;
    nworkers = n;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigchld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    for (int i = 0; i < n; i++) {
        workers[i].idx = i;
        if (pthread_create(&workers[i].th, NULL, forker_main, &workers[i]) != 0)
            die("pthread_create");
    }
    atomic_store(&acked, 0);
    atomic_fetch_add(&gen, 1);
    if (wait_count(&acked, (uint32_t)n, 10000) < 0)
        die("the forkers did not start");
    say("ready %ld", (long)getpid());
    char line[256];
    while (fgets(line, sizeof(line), stdin)) {
        if (!strcmp(line, "check\n"))
            check();
        else if (!strcmp(line, "stop\n"))
            break;
    }
    atomic_store(&forks_stop, 1);
    for (int i = 0; i < n; i++)
        pthread_join(workers[i].th, NULL);
    /* Reap what is left: SIGCHLD blocked here and waited for (the handler
     * may run on another thread of the agent's all the same). */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, NULL);
    unsigned made = atomic_load(&ncreated);
    unsigned failed = 0;
    for (unsigned i = 0; i < made; i++)
        failed += atomic_load(&created[i]) < 0;
    uint64_t end = now_ms() + 10000;
    while (atomic_load(&nreaped) < made - failed && now_ms() < end) {
        reap_all_nohang();
        if (atomic_load(&nreaped) >= made - failed)
            break;
        struct timespec ts = {0, 200 * 1000000L};
        sigtimedwait(&chld, NULL, &ts);
    }
    errno = 0;
    int st;
    pid_t last = waitpid(-1, &st, WNOHANG);
    int last_errno = errno;

    /* Every reaped pid one we created, once, with the status its kind gives. */
    unsigned r = atomic_load(&nreaped), foreign = 0, dup = 0, badstatus = 0;
    unsigned char *seen = calloc(made ? made : 1, 1);
    for (unsigned j = 0; j < r && j < MAX_FORKS; j++) {
        unsigned i;
        for (i = 0; i < made; i++)
            if (atomic_load(&created[i]) == reaped[j])
                break;
        if (i == made) {
            foreign++;
            say("foreign child %ld status %d", (long)reaped[j], reaped_status[j]);
            continue;
        }
        if (seen[i]++)
            dup++;
        int want = atomic_load(&created_kind[i]) ? 7 : 0;
        if (!WIFEXITED(reaped_status[j]) || WEXITSTATUS(reaped_status[j]) != want) {
            badstatus++;
            say("child %ld (%s) status %#x", (long)reaped[j],
                atomic_load(&created_kind[i]) ? "_exit(7)" : "/bin/true", reaped_status[j]);
        }
    }
    unsigned unreaped = 0;
    for (unsigned i = 0; i < made; i++) {
        if (atomic_load(&created[i]) > 0 && !seen[i]) {
            unreaped++;
            say("unreaped child %ld", (long)atomic_load(&created[i]));
        }
    }
    unsigned sigfrom_foreign = 0, nfrom = atomic_load(&nsigchld_from);
    for (unsigned j = 0; j < nfrom && j < MAX_FORKS; j++) {
        unsigned i;
        for (i = 0; i < made; i++)
            if (atomic_load(&created[i]) == sigchld_from[j])
                break;
        if (i == made) {
            sigfrom_foreign++;
            say("SIGCHLD from pid %ld we did not create", (long)sigchld_from[j]);
        }
    }
    free(seen);
    say("forks created=%u failed=%u reaped=%u foreign=%u dup=%u badstatus=%u unreaped=%u "
        "sigchld=%u sigchld_foreign=%u last_waitpid=%ld/%d",
        made, failed, r, foreign, dup, badstatus, unreaped, atomic_load(&sigchld_count),
        sigfrom_foreign, (long)last, last ? last_errno : 0);
    say("done");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "churn"))
        return mode_churn(atoi(argv[2]), argc >= 4 ? atoi(argv[3]) : 0);
    if (argc >= 2 && !strcmp(argv[1], "churn-ref"))
        return mode_churn_ref();
    if (argc >= 2 && !strcmp(argv[1], "blocked"))
        return mode_blocked();
    if (argc >= 2 && !strcmp(argv[1], "sigmask"))
        return mode_sigmask();
    if (argc >= 3 && !strcmp(argv[1], "fork"))
        return mode_fork(atoi(argv[2]));
    fprintf(stderr, "usage: %s churn N [LOCKERS] | churn-ref | blocked | sigmask | fork N\n",
            argv[0]);
    return 2;
}
