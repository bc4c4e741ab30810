/*
 * ids.c — resetting object ids (HeapProfiler.disable, spec §2.1). Outside
 * the allocation-free zone: it sorts with qsort, which may allocate, and it
 * runs on the service thread only.
 */
#include <stdlib.h>

#include "agent_int.h"

struct id_list {
    uint32_t *ids;
    uint32_t *dups; /* per rank: blocks already given it (ids may repeat after a wrap) */
    size_t n, cap;
};

static int collect_id(const hs_block *b, void *arg)
{
    struct id_list *l = arg;
    if (l->n < l->cap)
        l->ids[l->n++] = b->id;
    return 0;
}

static int count_block(const hs_block *b, void *arg)
{
    (void)b;
    ++*(size_t *)arg;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The new id of a block is given by the rank of its old one: allocation
 * order survives the reset. Blocks that shared an id (after the 32-bit
 * wrap) get consecutive, distinct ones. */
static uint32_t rank_id(uint32_t id, void *arg)
{
    const struct id_list *l = arg;
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t rank = lo + l->dups[lo]++;
    return (uint32_t)(HS_FIRST_OBJECT_ID + 2 * rank);
}

/* A block whose malloc was between taking its id and recording it while
 * the registry was frozen keeps an id from before the reset; like the wrap
 * of 32-bit ids, that can make two blocks share an id, rarely. */
uint64_t hs__track_reset_ids(void)
{
    struct id_list l = {NULL, NULL, 0, 0};
    hs__registry_freeze();
    hs__registry_foreach(count_block, &l.cap, 1);
    l.ids = l.cap ? hs__real.malloc(l.cap * sizeof(uint32_t)) : NULL;
    l.dups = l.cap ? hs__real.calloc(l.cap, sizeof(uint32_t)) : NULL;
    if (l.cap && (!l.ids || !l.dups)) {
        hs__registry_thaw();
        if (l.ids)
            hs__real.free(l.ids);
        if (l.dups)
            hs__real.free(l.dups);
        return 0;
    }
    hs__registry_foreach(collect_id, &l, 1);
    qsort(l.ids, l.n, sizeof(uint32_t), cmp_u32);
    hs__registry_remap_ids(rank_id, &l);
    uint64_t old = atomic_exchange_explicit(&hs__counters.seq, l.n, memory_order_relaxed);
    atomic_fetch_add_explicit(&hs__counters.seq_before_reset, old - l.n, memory_order_relaxed);
    hs__registry_thaw();
    if (l.ids) {
        hs__real.free(l.ids);
        hs__real.free(l.dups);
    }
    return l.n;
}
