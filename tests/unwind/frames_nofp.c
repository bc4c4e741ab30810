/*
 * frames_nofp.c — frames without frame pointers (built -fomit-frame-pointer):
 * their CFA is rsp + N and rbp is whatever their callers left in it.
 */
#include "unwind_test.h"

__attribute__((noinline)) int nofp_chain(int depth, struct shot *s)
{
    volatile uintptr_t locals[5] = {(uintptr_t)depth};
    if (depth <= 0)
        capture(s);
    else
        locals[1] = (uintptr_t)fp_chain(depth - 1, s);
    unwind_test_sink += locals[0] + locals[1];
    return (int)locals[1] + 1;
}

__attribute__((noinline)) int thr_nofp_chain(int depth, struct shot *s)
{
    volatile uintptr_t locals[3] = {(uintptr_t)depth};
    if (depth <= 0)
        capture(s);
    else
        locals[1] = (uintptr_t)thr_fp_chain(depth - 1, s);
    unwind_test_sink += locals[0] + locals[1];
    return (int)locals[1] + 1;
}

__attribute__((noinline)) int realign_chain(int n, struct shot *s)
{
    char vla[n];
    char aligned[64] __attribute__((aligned(64)));
    vla[0] = (char)n;
    aligned[0] = (char)n;
    unwind_test_sink += (uintptr_t)vla + (uintptr_t)aligned;
    capture(s);
    return vla[0] + aligned[0];
}
