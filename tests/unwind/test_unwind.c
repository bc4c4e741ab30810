/*
 * test_unwind.c — the stack unwinder (src/agent/track/unwind.c) against
 * libunwind's answer for the same stacks: frames with and without frame
 * pointers in one stack, libc's qsort and libstdc++ in the middle, a
 * realigned frame, recursion deeper than max, several threads, rbp full of
 * garbage, and an alternate signal stack.
 *
 * capture() takes every stack from one call site, so hs__unwind's pcs[0]
 * (the return address into capture) is the same in every mode; the raw
 * unw_backtrace is called from another line of capture, so it agrees from
 * index 1 on (capture's own return address).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "agent_int.h"
#include "track/frames.h"
#include "unwind_test.h"

volatile uintptr_t unwind_test_sink;

/* Found by name with dladdr (the executable exports its symbols), so not
 * static. */
int cmp_capture(const void *a, const void *b);
void *thr_main(void *arg);
void raise_here(void);
void check_garbage_rbp(uintptr_t garbage);
void test_max_small(void **state);
void test_mixed_frames(void **state);
void test_fp_only(void **state);
void test_qsort_callback(void **state);
void test_cxx_sort(void **state);
void test_cxx_libstdcxx(void **state);
void test_realigned_frame(void **state);
void test_deep_recursion(void **state);
void test_threads(void **state);
void test_garbage_rbp(void **state);
void test_sigaltstack(void **state);
void test_lying_cfi(void **state);

#define M_AUTO (1u << HS_UNWIND_AUTO)
#define M_FP (1u << HS_UNWIND_FP)
#define M_LIBUNWIND (1u << HS_UNWIND_LIBUNWIND)
#define M_ALL (M_AUTO | M_FP | M_LIBUNWIND)

__attribute__((noinline)) void capture(struct shot *s)
{
    uint64_t fb = hs__unwind_fallbacks();
    /* Threads share the mode: they ask for AUTO only and leave it alone. */
    int switching = s->modes != M_AUTO;
    for (int m = 0; m < 3; m++) {
        if (!(s->modes & (1u << m)))
            continue;
        if (switching)
            hs__unwind_set_mode((enum hs_unwind_mode)m);
        s->n[m] = hs__unwind(s->pcs[m], s->max);
    }
    if (switching)
        hs__unwind_set_mode(HS_UNWIND_AUTO);
    s->nfull = hs__unwind(s->full, SHOT_FRAMES);
    s->fallbacks = hs__unwind_fallbacks() - fb;
    if (!s->no_raw)
        s->nraw = unw_backtrace((void **)s->raw, SHOT_FRAMES);
    unwind_test_sink++;
}

static struct shot *new_shot(int max, unsigned modes)
{
    struct shot *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->max = max;
    s->modes = modes;
    return s;
}

static void dump(const char *what, const uintptr_t *pcs, int n)
{
    fprintf(stderr, "%s (%d frames):\n", what, n);
    for (int i = 0; i < n; i++) {
        Dl_info info;
        const char *name = "?";
        if (dladdr((void *)(pcs[i] - 1), &info) && info.dli_sname)
            name = info.dli_sname;
        fprintf(stderr, "  #%-3d %#lx %s\n", i, (unsigned long)pcs[i], name);
    }
}

/* a and b agree from index 1 on, frame for frame. */
static int same_from_1(const uintptr_t *a, int na, const uintptr_t *b, int nb)
{
    if (na != nb || na < 2)
        return 0;
    for (int i = 1; i < na; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static void assert_same_from_1(const char *wa, const uintptr_t *a, int na, const char *wb,
                               const uintptr_t *b, int nb)
{
    if (!same_from_1(a, na, b, nb)) {
        dump(wa, a, na);
        dump(wb, b, nb);
        fail_msg("%s and %s differ", wa, wb);
    }
}

static void assert_same(const char *wa, const uintptr_t *a, int na, const char *wb,
                        const uintptr_t *b, int nb)
{
    if (na != nb || memcmp(a, b, (size_t)na * sizeof(*a)) != 0) {
        dump(wa, a, na);
        dump(wb, b, nb);
        fail_msg("%s and %s differ", wa, wb);
    }
}

/* Every frame of AUTO's answer was walked with a cached rule, not by the
 * libunwind fallback: each pc has a rule AUTO can follow. */
static void assert_walkable(const uintptr_t *pcs, int n)
{
    for (int i = 0; i < n; i++) {
        struct hs_cfi_rule r;
        int kind = hs__frames_cfi(pcs[i], &r);
        if (kind != HS_CFI_STEP && kind != HS_CFI_END) {
            dump("stack", pcs, n);
            fail_msg("frame #%d has no rule AUTO can follow", i);
        }
    }
}

/* ... and no AUTO walk of the shot (not threads': they share the counter)
 * went to libunwind. */
static void assert_walkable_shot(const struct shot *s)
{
    assert_walkable(s->pcs[0], s->n[0]);
    assert_int_equal(s->fallbacks, 0);
}

static int frame_in(const uintptr_t *pcs, int n, const char *sym)
{
    for (int i = 0; i < n; i++) {
        Dl_info info;
        if (dladdr((void *)(pcs[i] - 1), &info) && info.dli_sname &&
            strcmp(info.dli_sname, sym) == 0)
            return i;
    }
    return -1;
}

static int frame_in_module(const uintptr_t *pcs, int n, const char *module)
{
    for (int i = 0; i < n; i++) {
        Dl_info info;
        if (dladdr((void *)(pcs[i] - 1), &info) && info.dli_fname && strstr(info.dli_fname, module))
            return i;
    }
    return -1;
}

/* fp is a subsequence of full: following rbp skips frames, never adds. */
static int subsequence(const uintptr_t *fp, int nfp, const uintptr_t *full, int nfull)
{
    int j = 0;
    for (int i = 0; i < nfp; i++) {
        while (j < nfull && full[j] != fp[i])
            j++;
        if (j == nfull)
            return 0;
        j++;
    }
    return 1;
}

static int setup(void **state)
{
    (void)state;
    /* No shim here: frames.c frees libdw's frames with the real free. */
    hs__real.malloc = malloc;
    hs__real.free = free;
    hs__real.calloc = calloc;
    hs__real.realloc = realloc;
    return 0;
}

/* ---- tests ------------------------------------------------------------- */

void test_max_small(void **state)
{
    (void)state;
    uintptr_t pcs[4] = {0};
    for (int m = 0; m < 3; m++) {
        hs__unwind_set_mode((enum hs_unwind_mode)m);
        assert_int_equal(hs__unwind(pcs, 0), 0);
        assert_int_equal(hs__unwind(pcs, -1), 0);
        assert_int_equal(hs__unwind(pcs, 1), 1);
        assert_int_equal(frame_in(pcs, 1, "test_max_small"), 0);
    }
    hs__unwind_set_mode(HS_UNWIND_AUTO);
}

/* fp, no fp, fp, ...: CFA = rbp + 16 and CFA = rsp + N in one stack. */
void test_mixed_frames(void **state)
{
    (void)state;
    struct shot *s = new_shot(SHOT_FRAMES, M_ALL);
    fp_chain(7, s);
    assert_same("auto", s->pcs[0], s->n[0], "libunwind mode", s->pcs[2], s->n[2]);
    assert_same_from_1("auto", s->pcs[0], s->n[0], "unw_backtrace", s->raw, s->nraw);
    assert_true(frame_in(s->pcs[0], s->n[0], "nofp_chain") > 0);
    assert_true(frame_in(s->pcs[0], s->n[0], "fp_chain") > 0);
    assert_true(frame_in(s->pcs[0], s->n[0], "test_mixed_frames") > 0);
    assert_true(frame_in(s->pcs[0], s->n[0], "main") > 0);
    assert_walkable_shot(s);
    /* Following rbp skips the frames without a frame pointer (up to this
     * test's frame: beyond, cmocka's frames may hold anything in rbp). */
    int t = frame_in(s->pcs[0], s->n[0], "test_mixed_frames"), k = 0;
    while (k < s->n[1] && s->pcs[1][k] != s->pcs[0][t])
        k++;
    assert_true(k < s->n[1]);
    assert_true(k < t);
    assert_true(subsequence(s->pcs[1], k + 1, s->pcs[0], t + 1));
    free(s);
}

/* Frame pointers throughout our frames: FP mode sees the same stack as AUTO
 * up to this test's frame (cmocka's, beyond, may have none). */
void test_fp_only(void **state)
{
    (void)state;
    struct shot *s = new_shot(SHOT_FRAMES, M_ALL);
    fp_only_chain(10, s);
    assert_same_from_1("auto", s->pcs[0], s->n[0], "unw_backtrace", s->raw, s->nraw);
    int top = frame_in(s->pcs[0], s->n[0], "test_fp_only");
    assert_true(top > 10);
    assert_true(s->n[1] > top);
    assert_same("fp", s->pcs[1], top + 1, "auto", s->pcs[0], top + 1);
    free(s);
}

struct qsort_ctx {
    struct shot *s;
    int taken;
};
static struct qsort_ctx qctx;

int cmp_capture(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    if (!qctx.taken) {
        qctx.taken = 1;
        capture(qctx.s);
    }
    return (x > y) - (x < y);
}

/* libc is built without frame pointers: qsort's frames have CFA = rsp+N. */
void test_qsort_callback(void **state)
{
    (void)state;
    int v[100];
    for (int i = 0; i < 100; i++)
        v[i] = (i * 37) % 101;
    qctx.s = new_shot(SHOT_FRAMES, M_ALL);
    qctx.taken = 0;
    qsort(v, 100, sizeof(v[0]), cmp_capture);
    struct shot *s = qctx.s;
    assert_true(qctx.taken);
    assert_same("auto", s->pcs[0], s->n[0], "libunwind mode", s->pcs[2], s->n[2]);
    assert_same_from_1("auto", s->pcs[0], s->n[0], "unw_backtrace", s->raw, s->nraw);
    int in_libc = frame_in_module(s->pcs[0], s->n[0], "libc.so");
    int test = frame_in(s->pcs[0], s->n[0], "test_qsort_callback");
    assert_true(frame_in(s->pcs[0], s->n[0], "cmp_capture") > 0);
    assert_true(in_libc > 0 && test > in_libc);
    assert_walkable_shot(s);
    free(s);
}

void test_cxx_sort(void **state)
{
    (void)state;
    struct shot *s = new_shot(SHOT_FRAMES, M_ALL);
    cxx_sort_capture(s);
    assert_int_not_equal(s->n[0], 0);
    assert_same("auto", s->pcs[0], s->n[0], "libunwind mode", s->pcs[2], s->n[2]);
    assert_same_from_1("auto", s->pcs[0], s->n[0], "unw_backtrace", s->raw, s->nraw);
    assert_true(frame_in(s->pcs[0], s->n[0], "cxx_sort_capture") > 2);
    assert_walkable_shot(s);
    free(s);
}

/* A virtual call from libstdc++.so's ostream code into ours. */
void test_cxx_libstdcxx(void **state)
{
    (void)state;
    struct shot *s = new_shot(SHOT_FRAMES, M_ALL);
    cxx_stream_capture(s);
    assert_int_not_equal(s->n[0], 0);
    assert_same("auto", s->pcs[0], s->n[0], "libunwind mode", s->pcs[2], s->n[2]);
    assert_same_from_1("auto", s->pcs[0], s->n[0], "unw_backtrace", s->raw, s->nraw);
    int lib = frame_in_module(s->pcs[0], s->n[0], "libstdc++.so");
    assert_true(lib > 0);
    assert_true(frame_in(s->pcs[0], s->n[0], "cxx_stream_capture") > lib);
    assert_walkable_shot(s);
    free(s);
}

/* GCC realigns a frame with a VLA and an over-aligned local through a
 * saved copy of the CFA: CFA = *(rbp - 8), rbp saved at rbp + 0. */
void test_realigned_frame(void **state)
{
    (void)state;
    struct shot *s = new_shot(SHOT_FRAMES, M_ALL);
    realign_chain(33, s);
    assert_same("auto", s->pcs[0], s->n[0], "libunwind mode", s->pcs[2], s->n[2]);
    assert_same_from_1("auto", s->pcs[0], s->n[0], "unw_backtrace", s->raw, s->nraw);
    assert_int_equal(frame_in(s->pcs[0], s->n[0], "realign_chain"), 1);
    struct hs_cfi_rule r;
    assert_int_equal(hs__frames_cfi(s->pcs[0][1], &r), HS_CFI_STEP);
    assert_true(r.cfa_deref && r.cfa_rbp);
    assert_int_equal(r.rbp_how, HS_CFI_RBP_AT_RBP);
    assert_walkable_shot(s);
    free(s);
}

/* Deeper than max: the innermost max frames are kept, in every mode, both
 * when libunwind's answer fits a local buffer and when it does not. */
static void check_truncated(int max, int fp_only)
{
    struct shot *s = new_shot(max, M_ALL);
    if (fp_only)
        fp_only_chain(300, s);
    else
        fp_chain(300, s);
    assert_true(s->nfull > 300);
    assert_same_from_1("auto full", s->full, s->nfull, "unw_backtrace", s->raw, s->nraw);
    assert_int_equal(s->n[0], max);
    assert_int_equal(s->n[2], max);
    assert_same("auto", s->pcs[0], s->n[0], "libunwind mode", s->pcs[2], s->n[2]);
    /* full was taken from the next line of capture: same frames from 1 on. */
    assert_same_from_1("auto", s->pcs[0], max, "auto full", s->full, max);
    assert_int_equal(s->fallbacks, 0);
    if (fp_only) {
        assert_int_equal(s->n[1], max);
        assert_same("fp", s->pcs[1], s->n[1], "auto", s->pcs[0], s->n[0]);
    } else {
        assert_true(s->n[1] >= 1 && s->n[1] <= max);
        assert_true(subsequence(s->pcs[1] + 1, s->n[1] - 1, s->full + 1, s->nfull - 1));
    }
    free(s);
}

void test_deep_recursion(void **state)
{
    (void)state;
    check_truncated(20, 0);
    check_truncated(60, 0);
    check_truncated(61, 0);
    check_truncated(130, 0);
    check_truncated(299, 0);
    check_truncated(130, 1);
}

/* ---- threads ------------------------------------------------------------- */

#define THREADS 4
#define ROUNDS 400

struct thr {
    pthread_barrier_t *start;
    int id;
    int mismatches, walked;
};

void *thr_main(void *arg)
{
    struct thr *t = arg;
    struct shot *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->max = SHOT_FRAMES;
    s->modes = M_AUTO;
    pthread_barrier_wait(t->start);
    for (int r = 0; r < ROUNDS; r++) {
        int depth = 3 + t->id * 5 + r % 11;
        if (r & 1)
            thr_fp_chain(depth, s);
        else
            thr_nofp_chain(depth, s);
        t->walked++;
        if (!same_from_1(s->pcs[0], s->n[0], s->raw, s->nraw) ||
            frame_in(s->pcs[0], s->n[0], "thr_main") < depth) {
            if (t->mismatches++ == 0) {
                dump("auto", s->pcs[0], s->n[0]);
                dump("unw_backtrace", s->raw, s->nraw);
            }
        }
    }
    free(s);
    return NULL;
}

/* Threads walk at once, filling the rule cache concurrently (their frames
 * are seen by no other test) and each reading only its own stack. */
void test_threads(void **state)
{
    (void)state;
    pthread_barrier_t start;
    pthread_t th[THREADS];
    struct thr t[THREADS];
    hs__unwind_set_mode(HS_UNWIND_AUTO);
    uint64_t fb = hs__unwind_fallbacks();
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (int i = 0; i < THREADS; i++) {
        t[i] = (struct thr){.start = &start, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, thr_main, &t[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);
    assert_int_equal(hs__unwind_fallbacks(), fb);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(t[i].walked, ROUNDS);
        assert_int_equal(t[i].mismatches, 0);
    }
}

/* ---- rbp as a general register --------------------------------------------- */

__attribute__((noinline)) void check_garbage_rbp(uintptr_t garbage)
{
    struct shot *s = new_shot(SHOT_FRAMES, M_ALL);
    call_with_rbp(fp_probe, s, garbage);
    /* AUTO restores the real rbp from call_with_rbp's CFI. */
    assert_same("auto", s->pcs[0], s->n[0], "libunwind mode", s->pcs[2], s->n[2]);
    assert_same_from_1("auto", s->pcs[0], s->n[0], "unw_backtrace", s->raw, s->nraw);
    assert_true(frame_in(s->pcs[0], s->n[0], "check_garbage_rbp") >
                frame_in(s->pcs[0], s->n[0], "call_with_rbp"));
    assert_walkable_shot(s);
    /* FP: capture, then fp_probe's return into call_with_rbp, then the
     * garbage, which must end the walk without a fault. */
    assert_true(s->n[1] >= 3);
    assert_same("fp", s->pcs[1], 3, "auto", s->pcs[0], 3);
    free(s);
}

void test_garbage_rbp(void **state)
{
    (void)state;
    /* A fake frame on our own stack: saved rbp pointing at itself. */
    uintptr_t fake[4];
    fake[0] = (uintptr_t)&fake[0];
    fake[1] = 0x4141;
    fake[2] = (uintptr_t)&fake[2] + 1;
    fake[3] = 0x4242;
    const uintptr_t values[] = {
        0,
        1,
        0x10,
        0xdeadbeefcafebabeull,
        (uintptr_t)-16,
        (uintptr_t)&fake[0],
        (uintptr_t)&fake[2],
        (uintptr_t)&fake[1] + 3,
        (uintptr_t)__builtin_frame_address(0),
        (uintptr_t)&values,
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        check_garbage_rbp(values[i]);
    unwind_test_sink += fake[0];
}

/* CFI that puts the CFA far above the top of the stack: AUTO stops there
 * (libunwind would fault, so it is not asked). */
void test_lying_cfi(void **state)
{
    (void)state;
    struct shot *s = new_shot(SHOT_FRAMES, M_AUTO | M_FP);
    s->no_raw = 1;
    call_with_bad_cfi(fp_probe, s);
    int at = frame_in(s->pcs[0], s->n[0], "call_with_bad_cfi");
    assert_true(at >= 2);
    assert_int_equal(s->n[0], at + 1);
    assert_int_equal(s->nfull, at + 1);
    assert_int_equal(s->fallbacks, 0);
    struct hs_cfi_rule r;
    assert_int_equal(hs__frames_cfi(s->pcs[0][at], &r), HS_CFI_STEP);
    assert_true(r.cfa_off > 0x7ff000);
    free(s);
}

/* ---- an alternate signal stack ------------------------------------------------ */

static struct shot *sig_shot;

static void on_signal(int sig)
{
    (void)sig;
    capture(sig_shot);
}

__attribute__((noinline)) void raise_here(void)
{
    raise(SIGUSR1);
    unwind_test_sink++;
}

/* On the alternate stack: FP stops at its edge, AUTO hands the signal frame
 * to libunwind, which crosses into the interrupted stack. */
void test_sigaltstack(void **state)
{
    (void)state;
    static char altstack[256 * 1024] __attribute__((aligned(16)));
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)}, old;
    assert_int_equal(sigaltstack(&ss, &old), 0);
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old_sa), 0);
    sig_shot = new_shot(SHOT_FRAMES, M_ALL);
    raise_here();
    sigaction(SIGUSR1, &old_sa, NULL);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);

    struct shot *s = sig_shot;
    uintptr_t lo = (uintptr_t)altstack, hi = lo + sizeof(altstack);
    assert_true(s->pcs[1][0] && s->n[1] >= 2);
    assert_same("auto", s->pcs[0], s->n[0], "libunwind mode", s->pcs[2], s->n[2]);
    assert_same_from_1("auto", s->pcs[0], s->n[0], "unw_backtrace", s->raw, s->nraw);
    assert_true(frame_in(s->pcs[0], s->n[0], "raise_here") > 2);
    assert_true(frame_in(s->pcs[0], s->n[0], "test_sigaltstack") > 2);
    /* FP saw only the handler's frames: none from below the signal. */
    assert_int_equal(frame_in(s->pcs[1], s->n[1], "raise_here"), -1);
    assert_same("fp", s->pcs[1], s->n[1], "auto", s->pcs[0], s->n[1]);
    /* The signal frame's rule is libunwind's: AUTO and the full walk. */
    assert_int_equal(s->fallbacks, 2);
    (void)lo;
    (void)hi;
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),        cmocka_unit_test(test_max_small),
        cmocka_unit_test(test_mixed_frames),   cmocka_unit_test(test_fp_only),
        cmocka_unit_test(test_qsort_callback), cmocka_unit_test(test_cxx_sort),
        cmocka_unit_test(test_cxx_libstdcxx),  cmocka_unit_test(test_realigned_frame),
        cmocka_unit_test(test_deep_recursion), cmocka_unit_test(test_garbage_rbp),
        cmocka_unit_test(test_lying_cfi),      cmocka_unit_test(test_sigaltstack),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
