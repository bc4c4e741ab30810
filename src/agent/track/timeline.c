/*
 * timeline.c — the allocation timeline's fragments (docs/design/timeline.md):
 * live blocks and bytes per id range, kept on the allocation and free paths
 * so that a tick never walks the heap.
 *
 * Ids grow in allocation order, so a fragment is an id range: fragment k holds
 * the blocks with end(k-1) <= id < end(k). The open fragment's index lives in
 * the high bits of the id counter (hs__counters.seq): the one atomic add that
 * gives an allocation its id also gives its fragment, and a tick closes the
 * fragment with one atomic add on the same word, whose result is the exact
 * end. An allocation adds to its fragment; a free or a resize finds the
 * fragment of the block's id by binary search over the ends (20 a second of
 * recording) and adds there. Atomic adds on the fragment's own cache line;
 * nothing is locked. Fragment 0 also holds every block alive at the start,
 * counted by one walk.
 *
 * Only the newest end can be unpublished when a thread looks (the tick stores
 * it just after its add): a free that needs it waits on it, with a futex.
 *
 * Storage: chunks of fragments under a fixed directory, allocated by the
 * controlling thread before a fragment is opened in them and never freed (a
 * thread may still be adding to one as tracking stops; a later start zeroes
 * and reuses them).
 */
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "../agent_int.h"
#include "heapscope/hs_err.h"
#include "lock.h"

#define CHUNK_LOG2 12
#define CHUNK (1u << CHUNK_LOG2)
#define DIR_SIZE 1024 /* 4 M fragments: 58 hours at 20 ticks a second */

struct frag {
    _Atomic uint32_t end; /* first id past the fragment; 0 while open */
    _Atomic int64_t count;
    _Atomic int64_t bytes;
} __attribute__((aligned(64)));

_Atomic int hs__timeline_on;
static struct frag *_Atomic dir[DIR_SIZE];
static uint32_t max_used = 0; /* fragments touched since the process began */
static uint64_t start_seq;    /* ids handed out before the start */

static inline struct frag *frag_at(uint32_t k)
{
    return &atomic_load_explicit(&dir[k >> CHUNK_LOG2], memory_order_acquire)[k & (CHUNK - 1)];
}

/* The end of closed fragment k, waiting for the tick that is publishing it.
 * UINT32_MAX if the timeline stopped meanwhile (a restart zeroes the ends:
 * nothing would publish this one). */
static uint32_t end_of(uint32_t k)
{
    _Atomic uint32_t *e = &frag_at(k)->end;
    uint32_t v;
    for (unsigned n = 0; (v = atomic_load_explicit(e, memory_order_acquire)) == 0; n++) {
        if (n < 100) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            continue;
        }
        if ((atomic_load_explicit(&hs__counters.seq, memory_order_acquire) >> HS_SEQ_BITS) <= k)
            return UINT32_MAX;
        struct timespec ms = {0, 1000000};
        syscall(SYS_futex, (uint32_t *)e, FUTEX_WAIT_PRIVATE, 0, &ms, NULL, 0);
    }
    return v;
}

/* The fragment of a live block's id: the first closed one whose end is past
 * it, else the open one. The block was allocated before this call, so the
 * counter read here is at least as new as the one its id came from. */
static uint32_t frag_of(uint32_t id)
{
    uint32_t c =
        (uint32_t)(atomic_load_explicit(&hs__counters.seq, memory_order_acquire) >> HS_SEQ_BITS);
    if (c == 0 || id >= end_of(c - 1))
        return c;
    uint32_t lo = 0, hi = c - 1; /* the answer is in [lo, hi] */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (id < atomic_load_explicit(&frag_at(mid)->end, memory_order_relaxed))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static inline void add(uint32_t k, int64_t n, int64_t bytes)
{
    struct frag *f = frag_at(k);
    if (n)
        atomic_fetch_add_explicit(&f->count, n, memory_order_relaxed);
    if (bytes)
        atomic_fetch_add_explicit(&f->bytes, bytes, memory_order_relaxed);
}

/* ---- stacks: a stack id per block id ------------------------------------------ */

/* Ids are dense and handed out in order, so a block's stack is kept at index
 * id / 2 of a flat array: written once by the allocating thread, sequential
 * like the ids, with nothing to do on free (a freed block's entry is simply
 * never read). Chunks are mapped on first use and never unmapped (a thread
 * may be writing as stacks stop): a stop gives their memory back with
 * MADV_DONTNEED. Per recording at most MAX_STACKED allocations keep a stack. */
#define SID_CHUNK_LOG2 20
#define SID_CHUNK_BYTES ((size_t)sizeof(uint32_t) << SID_CHUNK_LOG2)
#define SID_CHUNKS (1u << (31 - SID_CHUNK_LOG2))
#define MAX_STACKED (256u << 20) /* 1 GiB of entries */

static uint32_t *_Atomic sid_dir[SID_CHUNKS];
static _Atomic int stacks_on;
static int stacks_depth;
static uint32_t stacks_first; /* the first id with a stack in this recording */
static _Atomic uint64_t stacks_dropped;

static void put_stack(uint32_t id, uint32_t stack)
{
    uint32_t ix = id >> 1;
    if (ix - (stacks_first >> 1) >= MAX_STACKED) {
        atomic_fetch_add_explicit(&stacks_dropped, 1, memory_order_relaxed);
        return;
    }
    uint32_t *_Atomic *slot = &sid_dir[ix >> SID_CHUNK_LOG2];
    uint32_t *p = atomic_load_explicit(slot, memory_order_acquire);
    if (HS_UNLIKELY(!p)) {
        void *m = mmap(NULL, SID_CHUNK_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            atomic_fetch_add_explicit(&stacks_dropped, 1, memory_order_relaxed);
            return;
        }
        uint32_t *none = NULL;
        if (atomic_compare_exchange_strong_explicit(slot, &none, (uint32_t *)m,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            p = m;
        } else {
            munmap(m, SID_CHUNK_BYTES);
            p = none;
        }
    }
    atomic_store_explicit((_Atomic uint32_t *)&p[ix & ((1u << SID_CHUNK_LOG2) - 1)], stack,
                          memory_order_relaxed);
}

uint32_t hs__timeline_stack_of(uint32_t id)
{
    uint32_t ix = id >> 1;
    if (ix - (stacks_first >> 1) >= MAX_STACKED)
        return 0;
    uint32_t *p = atomic_load_explicit(&sid_dir[ix >> SID_CHUNK_LOG2], memory_order_acquire);
    return p ? atomic_load_explicit((_Atomic uint32_t *)&p[ix & ((1u << SID_CHUNK_LOG2) - 1)],
                                    memory_order_relaxed)
             : 0;
}

int hs__timeline_stacks_on(int depth)
{
    if (atomic_load(&stacks_on))
        return 0;
    hs__stacks_pin(1);
    stacks_depth = depth;
    stacks_first = (uint32_t)(HS_FIRST_OBJECT_ID +
                              2 * (atomic_load_explicit(&hs__counters.seq, memory_order_relaxed) &
                                   HS_SEQ_MASK));
    atomic_store_explicit(&stacks_dropped, 0, memory_order_relaxed);
    atomic_store_explicit(&stacks_on, 1, memory_order_release);
    return 0;
}

void hs__timeline_stacks_off(void)
{
    if (!atomic_exchange(&stacks_on, 0))
        return;
    hs__stacks_pin(0);
    for (uint32_t c = 0; c < SID_CHUNKS; c++) {
        uint32_t *p = atomic_load_explicit(&sid_dir[c], memory_order_acquire);
        if (p) /* zero pages from now on, even under a late writer */
            madvise(p, SID_CHUNK_BYTES, MADV_DONTNEED);
    }
}

int hs__timeline_stacks_active(void)
{
    return atomic_load_explicit(&stacks_on, memory_order_acquire);
}

uint64_t hs__timeline_stacks_dropped(void)
{
    return atomic_load_explicit(&stacks_dropped, memory_order_relaxed);
}

void hs__timeline_alloc_slow(uint32_t frag, uint32_t id, uint64_t size, uint32_t site, uintptr_t ra)
{
    add(frag, 1, (int64_t)size);
    if (atomic_load_explicit(&stacks_on, memory_order_relaxed))
        put_stack(id, hs__stack_record(site, ra, size, stacks_depth));
}

void hs__timeline_free_slow(uint32_t id, uint64_t size)
{
    add(frag_of(id), -1, -(int64_t)size);
}

void hs__timeline_resize_slow(uint32_t id, int64_t delta)
{
    add(frag_of(id), 0, delta);
}

/* ---- control: one thread at a time (the service thread, or load) ------------ */

/* Makes sure fragment k has storage (and zeroes it the first time it is used
 * in this process's life, or again after a restart). */
static int ensure(uint32_t k)
{
    uint32_t d = k >> CHUNK_LOG2;
    if (d >= DIR_SIZE)
        return HS_E_NOMEM;
    if (!atomic_load_explicit(&dir[d], memory_order_relaxed)) {
        struct frag *c = hs__imem_alloc(CHUNK * sizeof(struct frag));
        if (!c)
            return HS_E_NOMEM;
        atomic_store_explicit(&dir[d], c, memory_order_release);
    }
    return 0;
}

static int count_block(const hs_block *b, void *arg)
{
    (void)arg;
    add(0, 1, (int64_t)b->size);
    return 0;
}

int hs__timeline_start(void)
{
    if (atomic_load(&hs__timeline_on))
        hs__timeline_stop();
    if (ensure(0) < 0 || ensure(1) < 0)
        return HS_E_NOMEM;
    for (uint32_t k = 0; k <= max_used + 1 && k < DIR_SIZE * CHUNK; k++) {
        if (!atomic_load_explicit(&dir[k >> CHUNK_LOG2], memory_order_relaxed))
            break;
        struct frag *f = frag_at(k);
        atomic_store_explicit(&f->end, 0, memory_order_relaxed);
        atomic_store_explicit(&f->count, 0, memory_order_relaxed);
        atomic_store_explicit(&f->bytes, 0, memory_order_relaxed);
    }
    /* Frozen: no block is added or removed while fragment 0 is counted and
     * the hooks start counting. Only an allocation between its id and its
     * insertion as this happens can be missed (at most one per thread). */
    hs__registry_freeze();
    start_seq = atomic_fetch_and_explicit(&hs__counters.seq, HS_SEQ_MASK, memory_order_seq_cst) &
                HS_SEQ_MASK;
    atomic_store_explicit(&hs__timeline_on, 1, memory_order_seq_cst);
    hs__registry_foreach(count_block, NULL, 1);
    hs__registry_thaw();
    return 0;
}

int hs__timeline_close(uint32_t *closed, uint32_t *end)
{
    uint32_t k =
        (uint32_t)(atomic_load_explicit(&hs__counters.seq, memory_order_relaxed) >> HS_SEQ_BITS);
    /* The next fragment's storage exists before anyone can be sent there. */
    if (ensure(k + 2) < 0)
        return HS_E_NOMEM;
    uint64_t w =
        atomic_fetch_add_explicit(&hs__counters.seq, 1ull << HS_SEQ_BITS, memory_order_seq_cst);
    uint32_t e = (uint32_t)(HS_FIRST_OBJECT_ID + 2 * (w & HS_SEQ_MASK));
    if (e == 0) /* wrapped exactly to 0: 0 means unpublished */
        e = 1;
    _Atomic uint32_t *ep = &frag_at(k)->end;
    atomic_store_explicit(ep, e, memory_order_release);
    hs__futex(ep, FUTEX_WAKE_PRIVATE, INT32_MAX);
    if (k + 1 > max_used)
        max_used = k + 1;
    *closed = k;
    *end = e;
    return 0;
}

void hs__timeline_read(uint32_t k, int64_t *count, int64_t *bytes)
{
    struct frag *f = frag_at(k);
    *count = atomic_load_explicit(&f->count, memory_order_relaxed);
    *bytes = atomic_load_explicit(&f->bytes, memory_order_relaxed);
}

uint64_t hs__timeline_allocs(void)
{
    if (!atomic_load(&hs__timeline_on))
        return 0;
    return (atomic_load_explicit(&hs__counters.seq, memory_order_relaxed) & HS_SEQ_MASK) -
           start_seq;
}

void hs__timeline_stop(void)
{
    hs__timeline_stacks_off();
    atomic_store_explicit(&hs__timeline_on, 0, memory_order_seq_cst);
    atomic_fetch_and_explicit(&hs__counters.seq, HS_SEQ_MASK, memory_order_seq_cst);
}
