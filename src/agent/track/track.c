/*
 * track.c — what a hook does once the real allocator has answered: give the
 * block an object id, find its site, record it in the registry, and keep the
 * peak of live bytes. A malloc costs one shared atomic (the id counter) plus
 * the registry leaf it touches; a free only the leaf. Live bytes are counted
 * per thread and folded into the shared counter every HS_FLUSH_BYTES, which
 * is what makes the peak approximate (see agent_int.h).
 *
 * Object ids follow the HeapProfiler domain (spec §4.2): odd, in steps of 2,
 * in allocation order, starting above the ids reserved for synthetic nodes.
 * Ids are 32 bits wide like V8's SnapshotObjectId (DevTools reads them into a
 * Uint32Array): after 2^31 allocations they wrap, skipping the reserved range.
 */
#include <pthread.h>

#include "../agent_int.h"

struct hs_counters hs__counters;
int hs__registry_on = 1;

static HS_TLS int64_t tls_pending;
/* A thread's pending bytes are folded in when it exits, through a key
 * destructor; otherwise threads that free what others allocated would make
 * the shared counter, and so the peak, drift without bound. */
static HS_TLS int tls_exit_hooked;
static pthread_key_t exit_key;
static _Atomic int exit_key_ready;

static void thread_exit_flush(void *arg)
{
    (void)arg;
    hs__track_flush();
    hs__sample_thread_exit();
}

void hs__track_init(void)
{
    if (pthread_key_create(&exit_key, thread_exit_flush) == 0)
        atomic_store_explicit(&exit_key_ready, 1, memory_order_release);
}

void hs__track_thread_hook(void)
{
    if (tls_exit_hooked)
        return;
    if (!atomic_load_explicit(&exit_key_ready, memory_order_acquire))
        return; /* before the agent's constructor: tried again later */
    tls_exit_hooked = 1;
    /* Keys below PTHREAD_KEY_2NDLEVEL_SIZE (32) never allocate; above, the
     * allocation happens under the hook's guard and is not tracked. */
    pthread_setspecific(exit_key, (void *)1);
}

/* The next id, and in *frag the timeline's open fragment it belongs to. */
static inline uint32_t new_id(uint32_t *frag)
{
    for (;;) {
        uint64_t w = atomic_fetch_add_explicit(&hs__counters.seq, 1, memory_order_relaxed);
        uint32_t id = (uint32_t)(HS_FIRST_OBJECT_ID + 2 * (w & HS_SEQ_MASK));
        *frag = (uint32_t)(w >> HS_SEQ_BITS);
        if (HS_LIKELY(id >= HS_FIRST_OBJECT_ID))
            return id;
        atomic_fetch_add_explicit(&hs__counters.unrecorded, 1, memory_order_relaxed);
    }
}

void hs__track_flush(void)
{
    int64_t d = tls_pending;
    tls_pending = 0;
    int64_t now = atomic_fetch_add_explicit(&hs__counters.live_bytes, d, memory_order_relaxed) + d;
    uint64_t peak = atomic_load_explicit(&hs__counters.peak_bytes, memory_order_relaxed);
    while (now > 0 && (uint64_t)now > peak &&
           !atomic_compare_exchange_weak_explicit(&hs__counters.peak_bytes, &peak, (uint64_t)now,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

static inline void live_delta(int64_t d)
{
    if (HS_UNLIKELY(!tls_exit_hooked))
        hs__track_thread_hook();
    tls_pending += d;
    if (HS_UNLIKELY(tls_pending > HS_FLUSH_BYTES || tls_pending < -HS_FLUSH_BYTES))
        hs__track_flush();
}

uint64_t hs__track_allocs(void)
{
    return (atomic_load_explicit(&hs__counters.seq, memory_order_relaxed) & HS_SEQ_MASK) +
           atomic_load_explicit(&hs__counters.seq_before_reset, memory_order_relaxed) -
           atomic_load_explicit(&hs__counters.unrecorded, memory_order_relaxed);
}

/* Records a block under an id. A stale entry at the same address (its free
 * happened where the hooks could not record it) is simply replaced: the
 * registry, not a counter, says what is live. */
static int record(uintptr_t addr, uint64_t size, uint32_t id, uint32_t site)
{
    hs_block stale = {0, 0, 0, 0};
    int rc = hs__registry_insert(addr, size, id, site, &stale);
    if (HS_UNLIKELY(stale.id != 0)) { /* gone, even if the insert then failed */
        live_delta(-(int64_t)stale.size);
        hs__timeline_free(stale.id, stale.size);
    }
    return rc;
}

void hs__track_alloc(void *p, size_t size, uintptr_t ra, uintptr_t sp)
{
    if (HS_LIKELY(hs__registry_on)) {
        uint32_t site = hs__site_resolve(ra, sp);
        uint32_t frag;
        uint32_t id = new_id(&frag);
        if (HS_UNLIKELY(record((uintptr_t)p, size, id, site) < 0)) {
            /* Out of memory for the registry: the block goes unrecorded. */
            atomic_fetch_add_explicit(&hs__counters.unrecorded, 1, memory_order_relaxed);
        } else {
            live_delta((int64_t)size);
            hs__timeline_alloc(frag, id, size, site, ra);
        }
    }
    hs__sample_alloc((uintptr_t)p, size, ra, sp);
}

void hs__track_free(void *p)
{
    hs_block b;
    if (HS_LIKELY(hs__registry_on) && hs__registry_remove((uintptr_t)p, &b)) {
        live_delta(-(int64_t)b.size);
        hs__timeline_free(b.id, b.size);
    }
    if (hs__sample_maybe((uintptr_t)p))
        hs__sample_free_slow((uintptr_t)p);
}

void hs__track_realloc_begin(void *p, struct hs_realloc_ctx *c)
{
    c->had_block = hs__registry_on && hs__registry_remove((uintptr_t)p, &c->old);
    c->had_sample = hs__sample_maybe((uintptr_t)p) && hs__sampler_take((uintptr_t)p, &c->sample);
}

/* For sampling, a realloc that succeeds is the free of the old block and the
 * allocation of the new one, whether it moved or not. */
void hs__track_realloc_end(const struct hs_realloc_ctx *c, void *q, size_t size, uintptr_t ra,
                           uintptr_t sp, int freed)
{
    if (!q && !freed) { /* failed: p is untouched and still live */
        if (c->had_block)
            (void)record(c->old.addr, c->old.size, c->old.id, c->old.site);
        if (c->had_sample)
            hs__sampler_put_back(&c->sample);
        return;
    }
    if (c->had_sample)
        hs__sampler_retire(&c->sample);
    if (freed) { /* realloc(p, 0) released p */
        if (c->had_block) {
            live_delta(-(int64_t)c->old.size);
            hs__timeline_free(c->old.id, c->old.size);
        }
        return;
    }
    if (!c->had_block) { /* realloc(NULL, n), a block we never saw, or no registry */
        hs__track_alloc(q, size, ra, sp);
        return;
    }
    /* Same object, same id and site, wherever it now lives. */
    if (HS_UNLIKELY(record((uintptr_t)q, size, c->old.id, c->old.site) < 0)) {
        live_delta(-(int64_t)c->old.size);
        hs__timeline_free(c->old.id, c->old.size);
    } else {
        live_delta((int64_t)size - (int64_t)c->old.size);
        hs__timeline_resize(c->old.id, (int64_t)size - (int64_t)c->old.size);
    }
    hs__sample_alloc((uintptr_t)q, size, ra, sp);
}
