/*
 * imem.c — the agent's own memory. It comes from the real allocator (found by
 * the shim with dlsym(RTLD_NEXT)), so it is never seen by the hooks and never
 * tracked, and it is counted so that the registry's footprint can be measured.
 * This file owns nothing else.
 */
#include <string.h>

#include "../agent_int.h"

struct hs_real_fns hs__real;

static _Atomic uint64_t imem_in_use;

void *hs__imem_alloc(size_t n)
{
#ifdef HS_FAULT
    if (hs__fault_scoped_alloc_fails())
        return NULL;
#endif
    void *p = hs__real.calloc(1, n);
    if (p)
        atomic_fetch_add_explicit(&imem_in_use, n, memory_order_relaxed);
    return p;
}

void hs__imem_free(void *p, size_t n)
{
    if (!p)
        return;
    atomic_fetch_sub_explicit(&imem_in_use, n, memory_order_relaxed);
    hs__real.free(p);
}

uint64_t hs__imem_in_use(void)
{
    return atomic_load_explicit(&imem_in_use, memory_order_relaxed);
}
