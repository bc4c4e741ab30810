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
static void free_list(struct id_list *l)
{
    if (l->ids)
        hs__real.free(l->ids);
    if (l->dups)
        hs__real.free(l->dups);
    l->ids = l->dups = NULL;
}

/* The arrays are allocated before the registry is frozen (the program's
 * threads wait while it is), with room for the blocks made meanwhile; if
 * that was not enough, again. Frozen: one walk to collect, a sort, one walk
 * to renumber. */
uint64_t hs__track_reset_ids(void)
{
    struct id_list l = {NULL, NULL, 0, 0};
    uint64_t blocks, bytes;
    hs__registry_totals(&blocks, &bytes);
    size_t want = (size_t)blocks + (size_t)blocks / 8 + 1024;
    for (int attempt = 0; attempt < 4; attempt++) {
        l.cap = want;
        l.n = 0;
        l.ids = hs__real.malloc(l.cap * sizeof(uint32_t));
        l.dups = hs__real.calloc(l.cap, sizeof(uint32_t));
        if (!l.ids || !l.dups) {
            free_list(&l);
            return 0;
        }
        hs__registry_freeze();
        size_t now = 0;
        hs__registry_foreach(count_block, &now, 1);
        if (now <= l.cap) {
            hs__registry_foreach(collect_id, &l, 1);
            qsort(l.ids, l.n, sizeof(uint32_t), cmp_u32);
            hs__registry_remap_ids(rank_id, &l);
            uint64_t old = atomic_exchange_explicit(&hs__counters.seq, l.n, memory_order_relaxed) &
                           HS_SEQ_MASK;
            atomic_fetch_add_explicit(&hs__counters.seq_before_reset, old - l.n,
                                      memory_order_relaxed);
            hs__registry_thaw();
            free_list(&l);
            return l.n;
        }
        hs__registry_thaw();
        free_list(&l);
        want = now + now / 8 + 1024;
    }
    return 0; /* the heap grows faster than we can catch it: ids are kept */
}
