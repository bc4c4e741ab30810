/*
 * unwind.c — the return addresses of the calling thread's stack, for sampled
 * allocations (docs/design/sampling-plan.md). Placeholder: libunwind only;
 * the cached-rule unwinder replaces it.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "../agent_int.h"

static enum hs_unwind_mode unwind_mode = HS_UNWIND_AUTO;

void hs__unwind_set_mode(enum hs_unwind_mode m)
{
    unwind_mode = m;
}

int hs__unwind(uintptr_t *pcs, int max)
{
    (void)unwind_mode;
    if (max <= 0)
        return 0;
    int n = unw_backtrace((void **)pcs, max);
    return n < 0 ? 0 : n;
}
