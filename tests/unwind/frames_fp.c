/*
 * frames_fp.c — frames with frame pointers (built -fno-omit-frame-pointer),
 * calling the frames without them in frames_nofp.c.
 */
#include "unwind_test.h"

__attribute__((noinline)) int fp_chain(int depth, struct shot *s)
{
    volatile int local = depth;
    if (depth <= 0)
        capture(s);
    else
        local += nofp_chain(depth - 1, s);
    unwind_test_sink += (uintptr_t)local;
    return local;
}

__attribute__((noinline)) int fp_only_chain(int depth, struct shot *s)
{
    volatile int local = depth;
    if (depth <= 0)
        capture(s);
    else
        local += fp_only_chain(depth - 1, s);
    unwind_test_sink += (uintptr_t)local;
    return local;
}

__attribute__((noinline)) int thr_fp_chain(int depth, struct shot *s)
{
    volatile int local = depth;
    if (depth <= 0)
        capture(s);
    else
        local += thr_nofp_chain(depth - 1, s);
    unwind_test_sink += (uintptr_t)local;
    return local;
}

__attribute__((noinline)) void fp_probe(void *arg)
{
    capture(arg);
    unwind_test_sink++;
}
