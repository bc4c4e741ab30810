/*
 * capture.c — the program's pause: every thread of the program stopped for
 * an instant (registers saved), the registry frozen, one raw fork, then all
 * released. docs/design/snapshot.md says why.
 *
 * Between the freeze and the release this thread only makes system calls:
 * a stopped thread may hold any lock of libc (malloc's included), so a call
 * that takes one would never return.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../agent_int.h"
#include "heapscope/hs_err.h"
#include "snapshot_int.h"

/* How long to wait for a thread to answer the stop: one that blocks the
 * signal never will; its stack and registers are then not roots. */
#define STOP_TIMEOUT_NS (200 * 1000000ull)
/* A stopped thread gives up waiting after this long (never expected). */
#define HOLD_TIMEOUT_S 10

const char *const hs__reg_names[HS_NREGS] = {
    "%r8",  "%r9",  "%r10", "%r11", "%r12", "%r13", "%r14", "%r15",
    "%rdi", "%rsi", "%rbp", "%rbx", "%rdx", "%rax", "%rcx",
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, w, op, val, ts, NULL, 0);
}

/* ---- agent threads ------------------------------------------------------- */

#define MAX_AGENT_THREADS 16
static _Atomic pid_t agent_tids[MAX_AGENT_THREADS];
static _Atomic uintptr_t agent_stacks[MAX_AGENT_THREADS]; /* an address on each one's stack */

void hs__snapshot_register_agent_thread(void)
{
    pid_t me = (pid_t)syscall(SYS_gettid);
    for (int i = 0; i < MAX_AGENT_THREADS; i++) {
        pid_t old = atomic_load(&agent_tids[i]);
        /* Slots of threads that are gone (or of the parent, in a child) are
         * reused: tgkill tells. */
        if (old == 0 || syscall(SYS_tgkill, getpid(), old, 0) != 0) {
            if (atomic_compare_exchange_strong(&agent_tids[i], &old, me)) {
                atomic_store(&agent_stacks[i], (uintptr_t)__builtin_frame_address(0));
                return;
            }
        }
    }
}

int hs__capture_agent_stack_in(uintptr_t lo, uintptr_t hi)
{
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (here >= lo && here < hi)
        return 1; /* the snapshotting thread's own (the child runs on it) */
    for (int i = 0; i < MAX_AGENT_THREADS; i++) {
        uintptr_t a = atomic_load_explicit(&agent_stacks[i], memory_order_relaxed);
        if (a >= lo && a < hi && atomic_load_explicit(&agent_tids[i], memory_order_relaxed))
            return 1;
    }
    return 0;
}

static int is_agent_thread(pid_t tid)
{
    for (int i = 0; i < MAX_AGENT_THREADS; i++)
        if (atomic_load_explicit(&agent_tids[i], memory_order_relaxed) == tid)
            return 1;
    return 0;
}

/* ---- the stop signal ----------------------------------------------------- */

static int stop_sig;                 /* installed once, kept for the process's life */
static _Atomic uint32_t stw_state;   /* odd while threads must stay stopped */
static _Atomic uint32_t stw_arrived; /* threads that have saved their state */
static struct hs_capture *_Atomic stw_cap;
static _Atomic uint32_t stw_inside; /* threads inside the handler's critical part */
static pid_t stw_pid;

static void stop_handler(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    int e = errno;
    if (si->si_code != SI_TKILL || si->si_pid != stw_pid) {
        errno = e;
        return;
    }
    /* The releaser waits for stw_inside to drop to 0 before the capture's
     * memory may go: enter first, then look. */
    atomic_fetch_add(&stw_inside, 1);
    uint32_t st = atomic_load(&stw_state);
    struct hs_capture *cap = atomic_load(&stw_cap);
    if (!(st & 1) || !cap) {
        atomic_fetch_sub(&stw_inside, 1);
        errno = e;
        return;
    }
    pid_t me = (pid_t)syscall(SYS_gettid);
    ucontext_t *uc = ucv;
    for (int i = 0; i < cap->nthreads; i++) {
        struct hs_thread *t = &cap->threads[i];
        if (t->tid != me || t->captured)
            continue;
#if defined(__x86_64__)
        static const int order[HS_NREGS] = {REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12,
                                            REG_R13, REG_R14, REG_R15, REG_RDI, REG_RSI,
                                            REG_RBP, REG_RBX, REG_RDX, REG_RAX, REG_RCX};
        for (int r = 0; r < HS_NREGS; r++)
            t->regs[r] = (uintptr_t)uc->uc_mcontext.gregs[order[r]];
        t->sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#else
        t->sp = (uintptr_t)__builtin_frame_address(0);
#endif
        t->tp = (uintptr_t)__builtin_thread_pointer();
        t->captured = 1;
        atomic_fetch_add(&stw_arrived, 1);
        futex(&stw_arrived, FUTEX_WAKE_PRIVATE, 1, NULL);
        break;
    }
    struct timespec hold = {HOLD_TIMEOUT_S, 0};
    while (atomic_load(&stw_state) == st)
        if (futex(&stw_state, FUTEX_WAIT_PRIVATE, st, &hold) < 0 && errno == ETIMEDOUT)
            break;
    atomic_fetch_sub(&stw_inside, 1);
    errno = e;
}

/* The highest real-time signal nobody handles: its default action would
 * kill the process, so nothing sends it; the handler then stays installed
 * for good (a stop that timed out may still be pending somewhere). */
static int install_stop_signal(void)
{
    if (stop_sig) {
        struct sigaction cur;
        if (sigaction(stop_sig, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
            cur.sa_sigaction == stop_handler)
            return stop_sig;
        stop_sig = 0; /* the program took it over: find another */
    }
    for (int s = SIGRTMAX; s > SIGRTMIN + 2; s--) {
        struct sigaction cur;
        if (sigaction(s, NULL, &cur) != 0 || (cur.sa_flags & SA_SIGINFO) ||
            cur.sa_handler != SIG_DFL)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = stop_handler;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigfillset(&sa.sa_mask);
        if (sigaction(s, &sa, NULL) == 0) {
            stop_sig = s;
            return s;
        }
    }
    return HS_E_STATE;
}

/* ---- listing threads without allocating ---------------------------------- */

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

void hs__capture_read_comm(pid_t pid, pid_t tid, char *out, size_t size)
{
    char path[80] = "/proc/", *p = path + 6;
    p = hs__put_u64(p, (uint64_t)pid);
    memcpy(p, "/task/", 6);
    p = hs__put_u64(p + 6, (uint64_t)tid);
    memcpy(p, "/comm", 6);
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t r = read(fd, out, size - 1);
    close(fd);
    if (r <= 0)
        r = 0;
    while (r > 0 && (out[r - 1] == '\n' || out[r - 1] == '\0'))
        r--;
    out[r] = '\0';
}

/* Fills cap->threads with the program's threads (not this one, not the
 * agent's); returns how many there are in all (may exceed cap). */
static int list_threads(struct hs_capture *cap, pid_t self)
{
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[4096] __attribute__((aligned(8)));
    int total = 0;
    cap->nthreads = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            off += d->d_reclen;
            pid_t tid = (pid_t)atoi(d->d_name);
            if (tid <= 0 || tid == self || is_agent_thread(tid))
                continue;
            total++;
            if (cap->nthreads < cap->cap) {
                struct hs_thread *t = &cap->threads[cap->nthreads++];
                memset(t, 0, sizeof(*t));
                t->tid = tid;
            }
        }
    }
    close(fd);
    return total;
}

int hs__capture_count_threads(void)
{
    struct hs_thread one;
    struct hs_capture probe = {.threads = &one, .cap = 0};
    return list_threads(&probe, (pid_t)syscall(SYS_gettid));
}

/* ---- the capture --------------------------------------------------------- */

pid_t hs__capture_fork(struct hs_capture *cap, int (*child_fn)(struct hs_capture *, void *),
                       void *arg)
{
    if (install_stop_signal() < 0)
        return HS_E_STATE;
    pid_t self = (pid_t)syscall(SYS_gettid);
    stw_pid = getpid();

    /* The calling thread, when it is one of the program's (a snapshot at
     * exit): its callee-saved registers go to this frame, its stack from
     * here up is a root like any other thread's. */
    __builtin_unwind_init();
    /* Its lowest local: what lies below is dead stack (exit handlers and
     * whatever ran before), whose stale words would keep leaks alive. */
    volatile uintptr_t here = (uintptr_t)&here;
    int self_is_program = !is_agent_thread(self);

    /* The pause: from the freeze (allocating threads wait from then on)
     * to the release. */
    uint64_t t0 = now_ns();
    hs__registry_freeze();
    int total = list_threads(cap, self);
    cap->missed = total > cap->nthreads ? total - cap->nthreads : 0;
    if (self_is_program && cap->nthreads < cap->cap) {
        struct hs_thread *t = &cap->threads[cap->nthreads++];
        memset(t, 0, sizeof(*t));
        t->tid = self;
        t->sp = here;
        t->tp = (uintptr_t)__builtin_thread_pointer();
        t->captured = 1;
    }

    atomic_store(&stw_arrived, 0);
    atomic_store(&stw_cap, cap);
    uint32_t st = atomic_load(&stw_state) + 1; /* odd: stopping */
    atomic_store(&stw_state, st);
    uint32_t sent = 0;
    for (int i = 0; i < cap->nthreads; i++) {
        if (cap->threads[i].captured)
            continue;
        if (syscall(SYS_tgkill, stw_pid, cap->threads[i].tid, stop_sig) == 0)
            sent++;
        else
            cap->threads[i].tid = 0; /* gone */
    }
    uint64_t deadline = now_ns() + STOP_TIMEOUT_NS;
    for (;;) {
        uint32_t a = atomic_load(&stw_arrived);
        if (a >= sent)
            break;
        uint64_t now = now_ns();
        if (now >= deadline)
            break;
        struct timespec ts = {0, (long)(deadline - now < 10000000u ? deadline - now : 10000000u)};
        futex(&stw_arrived, FUTEX_WAIT_PRIVATE, a, &ts);
    }
    for (int i = 0; i < cap->nthreads; i++) {
        struct hs_thread *t = &cap->threads[i];
        if (t->tid && !t->captured)
            cap->missed++;
    }

    /* Every thread of the program is stopped outside the registry's locks
     * (it was stopped after the freeze took them all): the registry stays
     * consistent without them. Releasing them now, before the fork, spares
     * the parent a copy-on-write fault on every leaf when it unlocks. A
     * thread that did not stop may be inside the registry: then keep it
     * frozen across the fork. */
    int frozen = 1;
    if (cap->missed == 0) {
        hs__registry_thaw();
        frozen = 0;
    }
    /* Not fork(): it would run the program's atfork handlers and take
     * glibc's malloc locks, which a stopped thread may hold. No exit signal:
     * the program gets no SIGCHLD, and its wait() calls cannot reap this
     * child (only a wait with __WALL can). */
#ifdef HS_FAULT
    pid_t pid = hs__fault_fork_fails() ? -1 : (pid_t)syscall(SYS_clone, 0, 0, NULL, NULL, 0);
#else
    pid_t pid = (pid_t)syscall(SYS_clone, 0, 0, NULL, NULL, 0);
#endif
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != stw_pid)
            _exit(3);
        int rc = child_fn(cap, arg);
        _exit(rc == 0 ? 0 : 2);
    }
    int err = errno;

    atomic_store(&stw_cap, NULL);
    atomic_store(&stw_state, st + 1);
    futex(&stw_state, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
    if (frozen)
        hs__registry_thaw();
    cap->pause_ns = now_ns() - t0;
    /* Only now, with the program running again: a thread's name is read
     * by the child (from the parent's /proc), not during the pause. */
    /* A thread that answered late may still be writing into cap: the
     * caller frees it once every handler has left (they leave at once). */
    for (uint64_t until = now_ns() + 1000000000u; atomic_load(&stw_inside) && now_ns() < until;)
        sched_yield();
    return pid < 0 ? -err : pid;
}
