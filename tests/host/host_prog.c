/*
 * host_prog.c — a host doing the risky things a test suite may not cover,
 * for test_host.py (issue 9 item 4), which runs it without the agent and
 * under it, takes heap snapshots while it works, and compares its output.
 * One mode per run:
 *
 *   fork     3 threads fork in a loop; each child allocates, reallocates and
 *            frees (work()) and exits with a code computed from what it read
 *            back: through exit() (atexit handlers and the agent's
 *            destructor run in the child), every third through _exit(),
 *            every fourth child execs this program ("child K") instead.
 *   spawn    one thread vfork()s and execs "child K", one posix_spawn()s
 *            "print K" with its stdout on a pipe that it reads.
 *   signals  4 threads run work() in a loop while SIGPROF (ITIMER_PROF, CPU
 *            time: it lands on running threads, inside malloc and free),
 *            SIGALRM (ITIMER_REAL) and a thread sending SIGUSR1 to each
 *            worker keep interrupting them; every handler runs on its
 *            thread's sigaltstack, itself a malloc'd block.
 *   threads  2 spawners start threads continuously, each running work()
 *            with its blocks held on its stack, then exiting: joinable ones
 *            return their result, detached ones add it to a total.
 *   dlopen   commands load (dlopen LIB, host_lib_fill: three blocks held
 *            only by the library's globals), unload (dlclose without freeing
 *            them: they become unreachable) and churn (a thread loads,
 *            fills, releases and unloads the library in a loop).
 *   altstack a thread holding a block on its stack, with a leaked chain
 *            of two blocks allocated after its alternate stack (a malloc'd
 *            block), stays inside a signal handler running on that
 *            alternate stack until "stop" (a snapshot must still see its
 *            stack as its stack, and the heap as heap).
 *   setstack a thread whose stack is a malloc'd block (pthread_attr_setstack,
 *            so glibc puts its control block and static TLS at the top of
 *            that block) holds a block in a _Thread_local only, until
 *            "stop" (a snapshot must give it to the thread's TLS, not its
 *            stack).
 *   child K / print K   what the children run: exit with work(K)'s code, or
 *            print it.
 *
 * Protocol: commands on stdin, lines on stdout (written with write(2): no
 * stdio buffer that a forked child could flush a second time).
 *   "ready <pid>" once the workers run (dlopen: at once);
 *   progress → "progress <n>": loop rounds completed so far, all workers;
 *   stop     → every worker completes at least MIN_ROUNDS rounds and stops;
 *              the results, which depend only on those first rounds; "done".
 * Rounds past MIN_ROUNDS are checked as well (a failure counts as bad) but
 * leave no other trace, so that the output of a run is the same however long
 * the test kept it working.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WORKERS 4
#define MIN_ROUNDS 150
#define ALTSTACK_SIZE (64 * 1024)

extern char **environ;

static const char *self_path;
static atomic_int stop_flag, sender_stop;
static atomic_long rounds_done;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 1)
        n = (int)sizeof(buf) - 1;
    for (int off = 0; off < n;) {
        ssize_t w = write(1, buf + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(3);
        off += (int)w;
    }
}

/* ---- the work every process and thread does ------------------------------ */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* Allocates 8-47 blocks of assorted sizes (one past the mmap threshold now
 * and then), fills them, grows half of them with realloc, reads every byte
 * back into a hash and frees them. The hash depends on k only. */
static uint64_t work(uint64_t k)
{
    unsigned char *b[48];
    size_t sz[48];
    int n = 8 + (int)(k % 40);
    uint64_t h = k;
    for (int j = 0; j < n; j++) {
        sz[j] = 16 + mix(k * 48 + (uint64_t)j) % 3000;
        if (j == 0 && k % 7 == 0)
            sz[j] = 200000;
        b[j] = j % 3 == 2 ? calloc(1, sz[j]) : malloc(sz[j]);
        if (!b[j])
            abort();
        /* calloc's zeros are part of the result. */
        for (size_t i = 0; j % 3 == 2 && i < sz[j]; i++)
            h += b[j][i];
        memset(b[j], (int)((k + (uint64_t)j) & 0xff), sz[j]);
    }
    for (int j = 0; j < n; j += 2) {
        unsigned char *p = realloc(b[j], sz[j] * 2);
        if (!p)
            abort();
        memset(p + sz[j], (int)(j & 0xff), sz[j]);
        b[j] = p;
        sz[j] *= 2;
    }
    for (int j = 0; j < n; j++) {
        for (size_t i = 0; i < sz[j]; i += 61)
            h = h * 131 + b[j][i];
        free(b[j]);
    }
    return mix(h);
}

static int exit_code(uint64_t k)
{
    return (int)(work(k) % 250);
}

/* ---- workers --------------------------------------------------------------- */

struct worker {
    int idx;
    pthread_t thread;
    uint64_t sum; /* over the first MIN_ROUNDS rounds */
    long bad;     /* rounds, any of them, whose result was wrong */
    long rounds;
};

typedef int (*round_fn)(struct worker *w, uint64_t k, uint64_t *result);

static round_fn round_of;
static struct worker workers[MAX_WORKERS];
static int nworkers;

static void worker_loop(struct worker *w)
{
    for (long i = 0; i < MIN_ROUNDS || !atomic_load(&stop_flag); i++) {
        uint64_t k = (uint64_t)w->idx * 1000000u + (uint64_t)i, r = 0;
        if (round_of(w, k, &r) != 0)
            w->bad++;
        if (i < MIN_ROUNDS)
            w->sum = mix(w->sum ^ r);
        w->rounds++;
        atomic_fetch_add(&rounds_done, 1);
    }
}

static pid_t wait_child(pid_t pid, int *status)
{
    pid_t r;
    while ((r = waitpid(pid, status, 0)) < 0 && errno == EINTR)
        ;
    return r;
}

/* fork: the child's exit status against the parent's own computation. */
static int round_fork(struct worker *w, uint64_t k, uint64_t *result)
{
    (void)w;
    char arg[32];
    snprintf(arg, sizeof(arg), "%llu", (unsigned long long)k);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (k % 4 == 0) {
            execl(self_path, self_path, "child", arg, (char *)NULL);
            _exit(255);
        }
        int code = exit_code(k);
        if (k % 3 == 0)
            _exit(code);
        exit(code);
    }
    int expect = exit_code(k), st;
    *result = (uint64_t)expect;
    if (wait_child(pid, &st) != pid)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == expect ? 0 : -1;
}

/* spawn, worker 0: vfork and exec; worker 1: posix_spawn with a pipe. */
static int round_spawn(struct worker *w, uint64_t k, uint64_t *result)
{
    char arg[32];
    snprintf(arg, sizeof(arg), "%llu", (unsigned long long)k);
    int st;
    if (w->idx == 0) {
        char *argv[] = {(char *)self_path, "child", arg, NULL};
        pid_t pid = vfork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            execve(self_path, argv, environ);
            _exit(255);
        }
        int expect = exit_code(k);
        *result = (uint64_t)expect;
        if (wait_child(pid, &st) != pid)
            return -1;
        return WIFEXITED(st) && WEXITSTATUS(st) == expect ? 0 : -1;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    char *argv[] = {(char *)self_path, "print", arg, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, self_path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    char buf[64];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fds[0], buf + got, sizeof(buf) - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (got += (size_t)n) == sizeof(buf) - 1)
            break;
    }
    close(fds[0]);
    buf[got] = '\0';
    uint64_t expect = work(k);
    *result = expect;
    char want[64];
    snprintf(want, sizeof(want), "%016llx\n", (unsigned long long)expect);
    if (wait_child(pid, &st) != pid)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && !strcmp(buf, want) ? 0 : -1;
}

/* ---- signals --------------------------------------------------------------- */

static _Thread_local char *my_altstack; /* set in workers only */
static atomic_long handler_runs, handler_off_altstack, handler_foreign;

static void on_signal(int sig)
{
    (void)sig;
    char here;
    atomic_fetch_add(&handler_runs, 1);
    if (!my_altstack)
        atomic_fetch_add(&handler_foreign, 1);
    else if (&here < my_altstack || &here >= my_altstack + ALTSTACK_SIZE)
        atomic_fetch_add(&handler_off_altstack, 1);
}

static int round_signals(struct worker *w, uint64_t k, uint64_t *result)
{
    (void)w;
    *result = work(k);
    return *result == work(k) ? 0 : -1;
}

static void *signal_sender(void *arg)
{
    (void)arg;
    while (!atomic_load(&sender_stop)) {
        for (int i = 0; i < nworkers; i++)
            pthread_kill(workers[i].thread, SIGUSR1);
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* fn handles sig on the receiving thread's alternate stack. */
static int handle_on_altstack(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL);
}

static int signals_setup(void)
{
    if (handle_on_altstack(SIGPROF, on_signal) || handle_on_altstack(SIGALRM, on_signal) ||
        handle_on_altstack(SIGUSR1, on_signal))
        return -1;
    struct itimerval prof = {{0, 500}, {0, 500}}, real = {{0, 1000}, {0, 1000}};
    return setitimer(ITIMER_PROF, &prof, NULL) || setitimer(ITIMER_REAL, &real, NULL) ? -1 : 0;
}

static void signals_worker_setup(void)
{
    my_altstack = malloc(ALTSTACK_SIZE);
    stack_t ss = {.ss_sp = my_altstack, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (!my_altstack || sigaltstack(&ss, NULL) < 0)
        abort();
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPROF);
    sigaddset(&s, SIGALRM);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

/* Ends the storm and takes the alternate stack down before it is freed. */
static void signals_worker_teardown(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPROF);
    sigaddset(&s, SIGALRM);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    free(my_altstack);
}

/* ---- threads that exit ----------------------------------------------------- */

#define SPAWN_BATCH 8

static atomic_ulong detached_sum, detached_expect;
static atomic_int detached_live;

static void *thread_body(void *arg)
{
    uint64_t k = (uint64_t)(uintptr_t)arg;
    /* Blocks held on this thread's stack while it works: what a snapshot
     * that stops it finds under its (stack) group. */
    volatile uint64_t r = work(k);
    return (void *)(uintptr_t)r;
}

static void *detached_body(void *arg)
{
    uint64_t r = (uint64_t)(uintptr_t)thread_body(arg);
    atomic_fetch_add(&detached_sum, r);
    atomic_fetch_sub(&detached_live, 1);
    return NULL;
}

/* A round: a batch of threads, half joined (each result checked), half
 * detached (their total checked once all have ended, in the round). */
static int round_threads(struct worker *w, uint64_t k, uint64_t *result)
{
    (void)w;
    pthread_t t[SPAWN_BATCH];
    pthread_attr_t det;
    pthread_attr_init(&det);
    pthread_attr_setdetachstate(&det, PTHREAD_CREATE_DETACHED);
    int bad = 0;
    uint64_t expect_detached = 0;
    *result = 0;
    for (int i = 0; i < SPAWN_BATCH; i++) {
        uint64_t kk = k * SPAWN_BATCH + (uint64_t)i;
        void *arg = (void *)(uintptr_t)kk;
        if (i % 2) {
            atomic_fetch_add(&detached_live, 1);
            if (pthread_create(&t[i], &det, detached_body, arg) != 0) {
                atomic_fetch_sub(&detached_live, 1);
                bad = 1;
            }
            expect_detached += work(kk);
        } else if (pthread_create(&t[i], NULL, thread_body, arg) != 0) {
            t[i] = 0;
            bad = 1;
        }
    }
    for (int i = 0; i < SPAWN_BATCH; i += 2) {
        void *r;
        uint64_t kk = k * SPAWN_BATCH + (uint64_t)i;
        if (!t[i] || pthread_join(t[i], &r) != 0 || (uint64_t)(uintptr_t)r != work(kk))
            bad = 1;
        *result = mix(*result ^ (uint64_t)(uintptr_t)r);
    }
    pthread_attr_destroy(&det);
    atomic_fetch_add(&detached_expect, expect_detached);
    *result = mix(*result ^ expect_detached);
    return bad ? -1 : 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    if (round_of == round_signals)
        signals_worker_setup();
    worker_loop(w);
    if (round_of == round_signals)
        signals_worker_teardown();
    return NULL;
}

/* ---- dlopen ---------------------------------------------------------------- */

static const char *lib_path;

/* Is the library's code mapped? Its file may stay mapped otherwise, for a
 * while, by whoever reads its symbols (the agent's symbolizer does). */
static int lib_mapped(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096], perms[8];
    int found = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, "libhost_lib") && sscanf(line, "%*s %7s", perms) == 1 &&
            strchr(perms, 'x'))
            found = 1;
    fclose(f);
    return found;
}

/* Wipes the stack below the caller so that no dead local keeps a stale copy
 * of a pointer the library returned: the blocks must be held by its globals
 * only. */
__attribute__((noinline)) static void scrub_stack(void)
{
    volatile char pad[32768];
    memset((char *)pad, 0, sizeof(pad));
}

static void *load_lib(size_t base, int *filled)
{
    void *h = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return NULL;
    int (*fill)(size_t) = (int (*)(size_t))dlsym(h, "host_lib_fill");
    *filled = fill ? fill(base) : -1;
    return h;
}

static void *churn_main(void *arg)
{
    struct worker *w = arg;
    for (long i = 0; i < MIN_ROUNDS || !atomic_load(&stop_flag); i++) {
        int filled = 0;
        void *h = load_lib(4096 + (size_t)(i % 64), &filled);
        void (*release)(void) = h ? (void (*)(void))dlsym(h, "host_lib_release") : NULL;
        /* Half of the round with the library loaded, half without: a
         * snapshot may list it, then find it gone after its pause. */
        uint64_t r = work((uint64_t)i);
        if (!h || filled != 3 || !release)
            w->bad++;
        else
            release();
        if (h && dlclose(h) != 0)
            w->bad++;
        r ^= work((uint64_t)i + 1);
        if (i < MIN_ROUNDS)
            w->sum = mix(w->sum ^ r);
        w->rounds++;
        atomic_fetch_add(&rounds_done, 1);
    }
    return NULL;
}

/* ---- commands -------------------------------------------------------------- */

/* One line from stdin, without stdio (see the header); 0 at its end. */
static int read_line(char *buf, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        ssize_t r = read(0, buf + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return n > 0;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = '\0';
    return 1;
}

/* ---- a thread parked in a handler on its alternate stack ------------------- */

static int park_pipe[2];
static atomic_int parked;
static atomic_long parked_tid;

static void park_handler(int sig)
{
    (void)sig;
    char c;
    atomic_store(&parked, 1);
    while (read(park_pipe[0], &c, 1) < 0 && errno == EINTR)
        ;
}

__attribute__((noinline)) static void *stack_only_block(void)
{
    void *p = malloc(50001);
    if (p)
        memset(p, 1, 50001);
    return p;
}

/* Two blocks, the first pointing to the second, and nothing to the first:
 * both unreachable. */
__attribute__((noinline)) static void leak_chain(void)
{
    void **a = calloc(1, 50002);
    if (a)
        a[0] = calloc(1, 50003);
    /* The compiler may not drop what nothing reads. */
    __asm__ volatile("" : : "r"(a) : "memory");
}

/* The alternate stack is a malloc'd block like any other; the leaked chain is
 * allocated after it, so above it in this thread's arena. While the handler
 * runs on it, the thread's stack pointer is inside the heap. */
static void *parked_main(void *arg)
{
    (void)arg;
    void *volatile held = stack_only_block(); /* on this thread's own stack only */
    char *alt = malloc(ALTSTACK_SIZE);
    stack_t ss = {.ss_sp = alt, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (!alt || sigaltstack(&ss, NULL) < 0)
        abort();
    leak_chain();
    scrub_stack();
    atomic_store(&parked_tid, (long)gettid());
    pthread_kill(pthread_self(), SIGUSR1);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    free(alt);
    free(held);
    return NULL;
}

/* Names the parked thread t, waits until it is parked, says so, then serves
 * the test's commands until "stop", which lets it go and joins it. */
static int serve_parked(pthread_t t, const char *name, const char *ended)
{
    pthread_setname_np(t, name);
    while (!atomic_load(&parked))
        sched_yield();
    say("parked %ld\n", atomic_load(&parked_tid));
    say("ready %d\n", (int)getpid());
    char line[256];
    while (read_line(line, sizeof(line))) {
        if (!strcmp(line, "stop")) {
            if (write(park_pipe[1], "w", 1) != 1)
                return 1;
            pthread_join(t, NULL);
            say("%s\n", ended);
            say("done\n");
            return 0;
        }
        say("unknown command %s\n", line);
    }
    return 1;
}

static int run_altstack(void)
{
    pthread_t t;
    if (pipe(park_pipe) < 0 || handle_on_altstack(SIGUSR1, park_handler) < 0 ||
        pthread_create(&t, NULL, parked_main, NULL) != 0)
        return 1;
    return serve_parked(t, "hs-parked", "altstack: the handler returned, the thread ended");
}

#define SETSTACK_SIZE (256 * 1024)
static _Thread_local void *tls_held;
static void *setstack_mem; /* the thread's stack, a block of ours */

__attribute__((noinline)) static void hold_in_tls(void)
{
    tls_held = calloc(1, 50004);
}

static void *setstack_main(void *arg)
{
    (void)arg;
    hold_in_tls();
    scrub_stack();
    atomic_store(&parked_tid, (long)gettid());
    atomic_store(&parked, 1);
    char c;
    while (read(park_pipe[0], &c, 1) < 0 && errno == EINTR)
        ;
    free(tls_held);
    return NULL;
}

static int run_setstack(void)
{
    pthread_attr_t at;
    pthread_t t;
    if (pipe(park_pipe) < 0 || posix_memalign(&setstack_mem, 4096, SETSTACK_SIZE) != 0 ||
        pthread_attr_init(&at) != 0 ||
        pthread_attr_setstack(&at, setstack_mem, SETSTACK_SIZE) != 0 ||
        pthread_create(&t, &at, setstack_main, NULL) != 0)
        return 1;
    int rc = serve_parked(t, "hs-setstack", "setstack: the thread ended");
    pthread_attr_destroy(&at);
    if (rc == 0)
        free(setstack_mem); /* the thread is joined: its stack is ours again */
    return rc;
}

static void stop_workers(const char *mode)
{
    atomic_store(&stop_flag, 1);
    long bad = 0;
    for (int i = 0; i < nworkers; i++) {
        pthread_join(workers[i].thread, NULL);
        bad += workers[i].bad;
        say("%s worker %d: sum=%016llx rounds>=%d: %s\n", mode, i,
            (unsigned long long)workers[i].sum, MIN_ROUNDS,
            workers[i].rounds >= MIN_ROUNDS ? "yes" : "no");
    }
    say("%s bad=%ld\n", mode, bad);
}

static int run_workers(const char *mode, int n)
{
    pthread_t sender;
    int have_sender = 0;
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGPROF);
    sigaddset(&s, SIGALRM);
    sigaddset(&s, SIGUSR1);
    /* The storm is for the workers: this thread reads commands. */
    pthread_sigmask(SIG_BLOCK, &s, &old);
    if (round_of == round_signals && signals_setup() < 0)
        return 1;
    nworkers = n;
    for (int i = 0; i < n; i++) {
        workers[i].idx = i;
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
            return 1;
    }
    if (round_of == round_signals)
        have_sender = pthread_create(&sender, NULL, signal_sender, NULL) == 0;
    say("ready %d\n", (int)getpid());
    char line[256];
    while (read_line(line, sizeof(line))) {
        if (!strcmp(line, "progress")) {
            say("progress %ld signal-handlers %ld\n", atomic_load(&rounds_done),
                atomic_load(&handler_runs));
        } else if (!strcmp(line, "stop")) {
            if (round_of == round_signals) {
                struct itimerval off = {{0, 0}, {0, 0}};
                setitimer(ITIMER_PROF, &off, NULL);
                setitimer(ITIMER_REAL, &off, NULL);
            }
            /* The sender names the workers' threads: it ends before they do. */
            atomic_store(&sender_stop, 1);
            if (have_sender)
                pthread_join(sender, NULL);
            stop_workers(mode);
            if (round_of == round_signals)
                say("signals: handlers ran: %s, off the alternate stack: %ld, on a thread "
                    "without one: %ld\n",
                    atomic_load(&handler_runs) > 0 ? "yes" : "no",
                    atomic_load(&handler_off_altstack), atomic_load(&handler_foreign));
            if (round_of == round_threads) {
                while (atomic_load(&detached_live) > 0)
                    sched_yield();
                say("threads: detached threads' total %s\n",
                    atomic_load(&detached_sum) == atomic_load(&detached_expect) ? "matches"
                                                                                : "differs");
            }
            say("done\n");
            return 0;
        } else {
            say("unknown command %s\n", line);
        }
    }
    return 1;
}

static int run_dlopen(void)
{
    void *h = NULL;
    char line[256];
    say("ready %d\n", (int)getpid());
    while (read_line(line, sizeof(line))) {
        if (!strcmp(line, "load")) {
            int filled = 0;
            h = load_lib(70000, &filled);
            scrub_stack();
            say("loaded %d blocks, mapped=%d\n", h ? filled : -1, lib_mapped());
        } else if (!strcmp(line, "unload")) {
            /* Nothing frees the blocks: once the globals are gone, they leak. */
            int rc = h ? dlclose(h) : -1;
            h = NULL;
            say("unloaded rc=%d mapped=%d\n", rc, lib_mapped());
        } else if (!strcmp(line, "churn")) {
            nworkers = 1;
            workers[0].idx = 0;
            if (pthread_create(&workers[0].thread, NULL, churn_main, &workers[0]) != 0)
                return 1;
            say("churning\n");
        } else if (!strcmp(line, "progress")) {
            say("progress %ld\n", atomic_load(&rounds_done));
        } else if (!strcmp(line, "stop")) {
            stop_workers("dlopen");
            say("done\n");
            return 0;
        } else {
            say("unknown command %s\n", line);
        }
    }
    return 1;
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc == 3 && !strcmp(argv[1], "child"))
        return exit_code(strtoull(argv[2], NULL, 10));
    if (argc == 3 && !strcmp(argv[1], "print")) {
        say("%016llx\n", (unsigned long long)work(strtoull(argv[2], NULL, 10)));
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "altstack"))
        return run_altstack();
    if (argc == 2 && !strcmp(argv[1], "setstack"))
        return run_setstack();
    if (argc == 3 && !strcmp(argv[1], "dlopen")) {
        lib_path = argv[2];
        return run_dlopen();
    }
    static const struct {
        const char *mode;
        round_fn fn;
        int n;
    } modes[] = {{"fork", round_fork, 3},
                 {"spawn", round_spawn, 2},
                 {"signals", round_signals, 4},
                 {"threads", round_threads, 2}};
    for (size_t i = 0; argc == 2 && i < sizeof(modes) / sizeof(modes[0]); i++)
        if (!strcmp(argv[1], modes[i].mode)) {
            round_of = modes[i].fn;
            return run_workers(modes[i].mode, modes[i].n);
        }
    fprintf(stderr, "usage: host_prog fork|spawn|signals|threads|altstack|setstack | dlopen LIB | "
                    "child K | print K\n");
    return 2;
}
