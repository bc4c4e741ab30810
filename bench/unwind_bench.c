/*
 * unwind_bench.c — what hs__unwind (src/agent/track/unwind.c) costs: ns per
 * unwind in each mode at stack depths 8, 32 and 128 with warm caches, and
 * the cold cost of the first unwinds (modules' CFI opened, new pcs looked
 * up). Run by hand; the figures are in docs/design/unwind.md.
 *
 *   build/bin/hs-bench-unwind [iterations]
 *
 * Built with the agent's flags (frame pointers), so every frame here has
 * one; AUTO's cost per frame does not depend on it (one cached rule each).
 * Warm figures are the best of 20 rounds (the machine may be shared); the
 * cold ones are single events, so run the program a few times.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "agent_int.h"

#define MAX_FRAMES 256

static volatile uintptr_t sink;
static uintptr_t pcs[MAX_FRAMES];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct run {
    enum hs_unwind_mode mode;
    long iters;
    int frames;
    double ns;
};

/* The machine is shared: the best of ROUNDS rounds is the cost of the
 * code, the others include other processes' share of the core. */
#define ROUNDS 20

static __attribute__((noinline)) void measure(struct run *r)
{
    hs__unwind_set_mode(r->mode);
    for (int i = 0; i < 1000; i++) /* warm: rules, libunwind's cache */
        r->frames = hs__unwind(pcs, MAX_FRAMES);
    long per_round = r->iters / ROUNDS + 1;
    r->ns = 1e30;
    for (int k = 0; k < ROUNDS; k++) {
        uint64_t t0 = now_ns();
        for (long i = 0; i < per_round; i++)
            sink += (uintptr_t)hs__unwind(pcs, MAX_FRAMES);
        double ns = (double)(now_ns() - t0) / (double)per_round;
        if (ns < r->ns)
            r->ns = ns;
    }
}

static __attribute__((noinline)) int recurse(int depth, struct run *r)
{
    if (depth <= 0)
        measure(r);
    else
        sink += (uintptr_t)recurse(depth - 1, r);
    return (int)sink & 1;
}

/* Chains of distinct functions: each frame a pc nobody has looked up yet.
 * (The declaration at the end of each lets the macro take a semicolon.) */
typedef void (*leaf_fn)(void);
#define LINK(p, i, next)                                                                           \
    static __attribute__((noinline)) int p##i(leaf_fn leaf)                                        \
    {                                                                                              \
        sink += (uintptr_t)next(leaf);                                                             \
        return (int)sink & 1;                                                                      \
    }                                                                                              \
    extern int p##i##_linked
#define CHAIN16(p)                                                                                 \
    static __attribute__((noinline)) int p##end(leaf_fn leaf)                                      \
    {                                                                                              \
        leaf();                                                                                    \
        return (int)sink & 1;                                                                      \
    }                                                                                              \
    LINK(p, 15, p##end);                                                                           \
    LINK(p, 14, p##15);                                                                            \
    LINK(p, 13, p##14);                                                                            \
    LINK(p, 12, p##13);                                                                            \
    LINK(p, 11, p##12);                                                                            \
    LINK(p, 10, p##11);                                                                            \
    LINK(p, 9, p##10);                                                                             \
    LINK(p, 8, p##9);                                                                              \
    LINK(p, 7, p##8);                                                                              \
    LINK(p, 6, p##7);                                                                              \
    LINK(p, 5, p##6);                                                                              \
    LINK(p, 4, p##5);                                                                              \
    LINK(p, 3, p##4);                                                                              \
    LINK(p, 2, p##3);                                                                              \
    LINK(p, 1, p##2);                                                                              \
    LINK(p, 0, p##1)

CHAIN16(a_);
CHAIN16(b_);
CHAIN16(c_);

static uint64_t cold_ns;
static int cold_frames;

static __attribute__((noinline)) void cold_leaf(void)
{
    uint64_t t0 = now_ns();
    cold_frames = hs__unwind(pcs, MAX_FRAMES);
    cold_ns = now_ns() - t0;
}

static const char *mode_name(enum hs_unwind_mode m)
{
    return m == HS_UNWIND_AUTO ? "auto" : m == HS_UNWIND_FP ? "fp" : "libunwind";
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 200000;
    hs__real.malloc = malloc;
    hs__real.free = free;
    hs__real.calloc = calloc;
    hs__real.realloc = realloc;

    /* Cold first: nothing opened, nothing cached. Nothing is printed in
     * between: a write to the terminal alone makes the next walk take
     * microseconds (caches and TLB refilled after the system call). */
    hs__unwind_set_mode(HS_UNWIND_AUTO);
    a_0(cold_leaf);
    uint64_t first = cold_ns;
    b_0(cold_leaf); /* 18 new return addresses: b_end, b_15..b_0, main */
    uint64_t new_pcs = cold_ns, again = UINT64_MAX;
    for (int k = 0; k < 5; k++) {
        b_0(cold_leaf);
        again = cold_ns < again ? cold_ns : again;
    }
    int auto_frames = cold_frames;
    hs__unwind_set_mode(HS_UNWIND_LIBUNWIND);
    c_0(cold_leaf);
    printf("auto, first unwind of the process (opens the modules' CFI): %.1f us\n",
           (double)first / 1000.0);
    printf("auto, 18 new pcs in open modules: %.1f us (%.2f us per new pc)\n",
           (double)new_pcs / 1000.0, (double)(new_pcs - again) / 1000.0 / 18);
    printf("auto, the same %d frames once cached: %.2f us\n", auto_frames, (double)again / 1000.0);
    printf("libunwind, first unw_backtrace of the process: %.1f us (%d frames)\n",
           (double)cold_ns / 1000.0, cold_frames);

    printf("\n%-10s %6s %7s %12s\n", "mode", "depth", "frames", "ns/unwind");
    const int depths[] = {8, 32, 128};
    const enum hs_unwind_mode modes[] = {HS_UNWIND_AUTO, HS_UNWIND_FP, HS_UNWIND_LIBUNWIND};
    for (int d = 0; d < 3; d++) {
        for (int m = 0; m < 3; m++) {
            struct run r = {.mode = modes[m], .iters = iters};
            /* `depth` counts the frames the walk returns: ours, recursion,
             * then main and libc's start-up (3 frames). */
            recurse(depths[d] - 5, &r);
            printf("%-10s %6d %7d %12.1f\n", mode_name(modes[m]), depths[d], r.frames, r.ns);
        }
    }
    return (int)(sink & 0);
}
