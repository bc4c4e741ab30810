/*
 * sampler.c — allocation sampling (docs/design/sampling-plan.md): which
 * allocations are sampled, their stacks, and the table of samples that the
 * profile (src/agent/profile/) reads on the service thread.
 *
 * A Poisson process over allocated bytes, drawn per thread: each thread
 * counts down the bytes to its next sample point in initial-exec TLS, so an
 * allocation costs a subtraction and a branch (hs__sample_alloc in
 * agent_int.h). When the countdown goes negative the allocation is sampled
 * and a new gap is drawn, exponentially distributed with mean `interval`;
 * by memorylessness each allocation of size S is then sampled with
 * probability 1 - e^(-S/interval), which is what V8's ScaleSample undoes.
 * While sampling is off the countdown is re-armed with a check window, so a
 * thread notices a start after at most that many bytes.
 *
 * A free must find out whether its block was sampled without a lock: a filter
 * of 2^16 buckets, indexed by a hash of the address, counts the live samples
 * per bucket and keeps one bit per bucket that is set while its count is
 * not zero; a clear bit (the usual answer) ends the check. Otherwise the shard that
 * owns the bucket is locked and searched. Samples are added and removed only
 * on sampled allocations and frees of sampled blocks.
 *
 * Each start opens an epoch (odd while running). A sample carries its epoch;
 * one recorded by a thread that raced with a stop is ignored by readers and
 * removed when its block is freed or the next start clears the tables.
 *
 * Stacks are interned (one copy per distinct stack) under one lock taken
 * only on sampled allocations. Memory comes from hs__imem_* (the real
 * allocator): the hooks' guard is set whenever this runs.
 */
#include <dlfcn.h>
#include <link.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "../agent_int.h"
#include "heapscope/hs_err.h"
#include "lock.h"

#define IDLE_WINDOW (64 * 1024)
#define SHARDS 64 /* a shard owns the filter buckets equal to it modulo SHARDS */
#define MIN_CAP 16
#define UNWIND_SLACK 32 /* frames of the agent and of wrappers, dropped */
#define WRAPPER_SEARCH 16
#define STACK_BUCKETS_LOG2 14
#define STACK_ARENA_CHUNK (1u << 20)
#define STACK_ARENA_MAX (64u << 20) /* beyond: samples without a stack */

struct sample_slot {
    uintptr_t addr; /* 0 = empty */
    uint64_t size;
    uint64_t ordinal;
    uint64_t born_ns;
    uint32_t stack;
    uint32_t epoch;
};

struct dead_sample {
    uint64_t size;
    uint64_t ordinal;
    uint32_t stack;
    uint32_t epoch;
};

struct shard {
    _Atomic uint32_t lock;
    uint32_t count;
    uint32_t cap; /* power of two, or 0 */
    uint32_t ndead, dead_cap;
    struct sample_slot *slots;
    struct dead_sample *dead;
} __attribute__((aligned(64)));

static struct {
    _Atomic uint32_t epoch; /* odd while sampling */
    uint64_t interval;
    int depth;
    unsigned flags;
    uint64_t young_ns;
    uint64_t seed;
    _Atomic uint64_t ordinal;
    _Atomic uint64_t threads; /* seeds the per-thread generators */
    _Atomic uint64_t dropped; /* samples that could not be recorded */
} S;

_Atomic uint32_t hs__sample_live; /* live samples, any epoch */
/* Live samples per filter bucket (changed under the bucket's shard lock),
 * and one bit per bucket, set while its count is nonzero: the free path
 * reads only the bits, 8 KiB that stay in the first-level cache. */
static uint16_t filter_count[1u << HS_SAMPLE_FILTER_LOG2];
_Atomic uint64_t hs__sample_bits[(1u << HS_SAMPLE_FILTER_LOG2) / 64];
static struct shard shards[SHARDS];

HS_TLS int64_t hs__tls_countdown;
static HS_TLS uint32_t tls_epoch;
static HS_TLS uint64_t tls_rng;
static HS_TLS uintptr_t *tls_pcs; /* unwinding buffer, HS_SAMPLE_MAX_DEPTH + slack */

static uintptr_t agent_lo, agent_hi; /* the agent's own code: never in a stack */

/* ---- stacks --------------------------------------------------------------------------- */

struct stack_rec {
    uint32_t next; /* next id in the bucket, 0 = end */
    uint32_t hash;
    uint32_t depth;
    uint32_t pad;
    _Atomic uint64_t tl_allocs, tl_bytes; /* the timeline's allocations with this stack */
    uintptr_t pcs[];
};

static _Atomic uint32_t stack_lock;
static uint32_t stack_buckets[1u << STACK_BUCKETS_LOG2];
static struct stack_rec **stack_index; /* id - 1 → record */
static uint32_t stack_count, stack_index_cap;
static char *arena_chunk;
static size_t arena_used, arena_total;
struct arena_link {
    struct arena_link *prev;
};
static struct arena_link *arena_chunks;
/* Chunks of a cleared store, reused before new ones: a chunk, once mapped,
 * stays mapped for the process's life (at most STACK_ARENA_MAX), so that a
 * thread reading a record through its cache after a clear reads stale
 * bytes, never unmapped memory. */
static struct arena_link *arena_spare;
/* Bumped by every clear: a thread's cached records from before are void. */
static _Atomic uint32_t store_gen = 1;

static uint32_t hash_pcs(const uintptr_t *pcs, int n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 33;
    }
    return (uint32_t)h;
}

static void *arena_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!arena_chunk || arena_used + n > STACK_ARENA_CHUNK) {
        if (n + sizeof(struct arena_link) > STACK_ARENA_CHUNK ||
            arena_total + STACK_ARENA_CHUNK > STACK_ARENA_MAX)
            return NULL;
        struct arena_link *c = arena_spare;
        if (c)
            arena_spare = c->prev;
        else if (!(c = hs__imem_alloc(STACK_ARENA_CHUNK)))
            return NULL;
        c->prev = arena_chunks;
        arena_chunks = c;
        arena_chunk = (char *)c;
        arena_used = 16;
        arena_total += STACK_ARENA_CHUNK;
    }
    void *p = arena_chunk + arena_used;
    arena_used += n;
    return p;
}

/* The id of this stack (1-based), 0 if it cannot be stored. Caller holds
 * stack_lock. */
static uint32_t intern_hashed_locked(const uintptr_t *pcs, int n, uint32_t h)
{
    uint32_t *bucket = &stack_buckets[h & ((1u << STACK_BUCKETS_LOG2) - 1)];
    for (uint32_t id = *bucket; id; id = stack_index[id - 1]->next) {
        const struct stack_rec *r = stack_index[id - 1];
        if (r->hash == h && r->depth == (uint32_t)n &&
            !memcmp(r->pcs, pcs, (size_t)n * sizeof(*pcs)))
            return id;
    }
    if (stack_count == stack_index_cap) {
        uint32_t cap = stack_index_cap ? 2 * stack_index_cap : 1024;
        struct stack_rec **ni = hs__imem_alloc((size_t)cap * sizeof(*ni));
        if (!ni)
            return 0;
        if (stack_index)
            memcpy(ni, stack_index, (size_t)stack_count * sizeof(*ni));
        hs__imem_free(stack_index, (size_t)stack_index_cap * sizeof(*ni));
        stack_index = ni;
        stack_index_cap = cap;
    }
    struct stack_rec *r = arena_alloc(sizeof(*r) + (size_t)n * sizeof(*pcs));
    if (!r)
        return 0;
    r->hash = h;
    r->depth = (uint32_t)n;
    atomic_store_explicit(&r->tl_allocs, 0, memory_order_relaxed); /* a reused chunk's bytes */
    atomic_store_explicit(&r->tl_bytes, 0, memory_order_relaxed);
    memcpy(r->pcs, pcs, (size_t)n * sizeof(*pcs));
    r->next = *bucket;
    stack_index[stack_count++] = r;
    *bucket = stack_count;
    return stack_count;
}

static uint32_t intern_locked(const uintptr_t *pcs, int n)
{
    return intern_hashed_locked(pcs, n, hash_pcs(pcs, n));
}

static uint32_t intern(const uintptr_t *pcs, int n)
{
    hs__lock(&stack_lock);
    uint32_t id = intern_locked(pcs, n);
    hs__unlock(&stack_lock);
    return id;
}

/* While the allocation timeline records stacks, the store is never cleared
 * by a sampling start (the timeline's blocks refer to its ids). */
static int stacks_pinned;

static void stacks_clear_locked(void)
{
    while (arena_chunks) {
        struct arena_link *prev = arena_chunks->prev;
        arena_chunks->prev = arena_spare;
        arena_spare = arena_chunks;
        arena_chunks = prev;
    }
    atomic_fetch_add_explicit(&store_gen, 1, memory_order_release);
    arena_chunk = NULL;
    arena_used = arena_total = 0;
    hs__imem_free(stack_index, (size_t)stack_index_cap * sizeof(*stack_index));
    stack_index = NULL;
    stack_count = stack_index_cap = 0;
    memset(stack_buckets, 0, sizeof(stack_buckets));
}

int hs__sampler_stack(uint32_t id, const uintptr_t **pcs)
{
    int n = 0;
    *pcs = NULL;
    hs__lock(&stack_lock);
    if (id >= 1 && id <= stack_count) {
        *pcs = stack_index[id - 1]->pcs; /* records never move until a start */
        n = (int)stack_index[id - 1]->depth;
    }
    hs__unlock(&stack_lock);
    return n;
}

uint32_t hs__sampler_stack_count(void)
{
    hs__lock(&stack_lock);
    uint32_t n = stack_count;
    hs__unlock(&stack_lock);
    return n;
}

void hs__stack_timeline_totals(uint32_t id, uint64_t *allocs, uint64_t *bytes)
{
    *allocs = *bytes = 0;
    hs__lock(&stack_lock);
    if (id >= 1 && id <= stack_count) {
        *allocs = atomic_load_explicit(&stack_index[id - 1]->tl_allocs, memory_order_relaxed);
        *bytes = atomic_load_explicit(&stack_index[id - 1]->tl_bytes, memory_order_relaxed);
    }
    hs__unlock(&stack_lock);
}

static int capture(uintptr_t site_ra, int depth, uintptr_t **out);

/* A thread's cache of the stacks it recorded last, by hash: the timeline
 * records the stack of every allocation, and most repeat, so that most
 * allocations find theirs here and take no lock. Records never move and
 * their chunks stay mapped (arena_spare); an entry is good while the store's
 * generation is the one it was filled in. */
#define TL_CACHE 256
struct tl_cache_ent {
    uint32_t hash, id, gen, pad;
    const struct stack_rec *rec;
};
static HS_TLS struct tl_cache_ent *tls_cache;

static void count_timeline(struct stack_rec *r, uint64_t size)
{
    atomic_fetch_add_explicit(&r->tl_allocs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->tl_bytes, size, memory_order_relaxed);
}

uint32_t hs__stack_record(uint32_t site, uintptr_t ra, uint64_t size, int depth)
{
    uintptr_t site_ra = hs__site_addr(site);
    uintptr_t *pcs;
    int n = capture(site_ra ? site_ra : ra, depth, &pcs);
    if (n <= 0)
        return 0;
    uint32_t h = hash_pcs(pcs, n);
    if (!tls_cache)
        tls_cache = hs__imem_alloc(TL_CACHE * sizeof(*tls_cache));
    struct tl_cache_ent *c = tls_cache ? &tls_cache[h & (TL_CACHE - 1)] : NULL;
    uint32_t gen = atomic_load_explicit(&store_gen, memory_order_acquire);
    if (c && c->rec && c->hash == h && c->gen == gen && c->rec->depth == (uint32_t)n &&
        !memcmp(c->rec->pcs, pcs, (size_t)n * sizeof(*pcs))) {
        count_timeline((struct stack_rec *)c->rec, size);
        return c->id;
    }
    hs__lock(&stack_lock);
    uint32_t id = intern_hashed_locked(pcs, n, h);
    struct stack_rec *r = id ? stack_index[id - 1] : NULL;
    gen = atomic_load_explicit(&store_gen, memory_order_relaxed);
    hs__unlock(&stack_lock);
    if (!r)
        return 0;
    count_timeline(r, size);
    if (c)
        *c = (struct tl_cache_ent){.hash = h, .id = id, .gen = gen, .rec = r};
    return id;
}

void hs__stacks_pin(int on)
{
    hs__lock(&stack_lock);
    if (on)
        for (uint32_t i = 0; i < stack_count; i++) {
            atomic_store_explicit(&stack_index[i]->tl_allocs, 0, memory_order_relaxed);
            atomic_store_explicit(&stack_index[i]->tl_bytes, 0, memory_order_relaxed);
        }
    stacks_pinned = on;
    hs__unlock(&stack_lock);
}

/* ---- the sample table ----------------------------------------------------------------- */

static inline struct shard *shard_of(uint32_t fi)
{
    return &shards[fi % SHARDS];
}

static inline uint32_t home_slot(uint64_t h, uint32_t cap)
{
    return (uint32_t)(h >> 8) & (cap - 1);
}

static int find_locked(const struct shard *sh, uintptr_t addr, uint64_t h)
{
    if (!sh->cap)
        return -1;
    for (uint32_t i = home_slot(h, sh->cap), n = 0; n < sh->cap; i = (i + 1) & (sh->cap - 1), n++) {
        if (sh->slots[i].addr == addr)
            return (int)i;
        if (sh->slots[i].addr == 0)
            return -1;
    }
    return -1;
}

static void place_locked(struct shard *sh, const struct sample_slot *s)
{
    uint32_t i = home_slot(hs__sample_addr_hash(s->addr), sh->cap);
    while (sh->slots[i].addr)
        i = (i + 1) & (sh->cap - 1);
    sh->slots[i] = *s;
}

static int grow_locked(struct shard *sh)
{
    uint32_t cap = sh->cap ? 2 * sh->cap : MIN_CAP;
    struct sample_slot *old = sh->slots, *ns = hs__imem_alloc((size_t)cap * sizeof(*ns));
    if (!ns)
        return HS_E_NOMEM;
    uint32_t oldcap = sh->cap;
    sh->slots = ns;
    sh->cap = cap;
    for (uint32_t i = 0; i < oldcap; i++)
        if (old[i].addr)
            place_locked(sh, &old[i]);
    hs__imem_free(old, (size_t)oldcap * sizeof(*old));
    return HS_OK;
}

/* Backward-shift deletion: no tombstones. */
static void delete_locked(struct shard *sh, uint32_t i)
{
    uint32_t mask = sh->cap - 1;
    for (uint32_t j = (i + 1) & mask; sh->slots[j].addr; j = (j + 1) & mask) {
        uint32_t home = home_slot(hs__sample_addr_hash(sh->slots[j].addr), sh->cap);
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            sh->slots[i] = sh->slots[j];
            i = j;
        }
    }
    memset(&sh->slots[i], 0, sizeof(sh->slots[i]));
    sh->count--;
}

static void filter_inc(uint32_t fi)
{
    if (filter_count[fi]++ == 0)
        atomic_fetch_or_explicit(&hs__sample_bits[fi / 64], 1ull << (fi % 64),
                                 memory_order_relaxed);
    atomic_fetch_add_explicit(&hs__sample_live, 1, memory_order_relaxed);
}

static void filter_dec(uint32_t fi)
{
    if (--filter_count[fi] == 0)
        atomic_fetch_and_explicit(&hs__sample_bits[fi / 64], ~(1ull << (fi % 64)),
                                  memory_order_relaxed);
    atomic_fetch_sub_explicit(&hs__sample_live, 1, memory_order_relaxed);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A sample whose block is gone: kept as a "collected" one when the flags
 * ask for it (docs/design/sampling-plan.md: major = every freed block,
 * minor = blocks freed younger than young_ns). Caller holds sh->lock. */
static void retire_locked(struct shard *sh, const struct hs_sample *s)
{
    uint32_t ep = atomic_load_explicit(&S.epoch, memory_order_acquire);
    if (s->epoch != ep || !(ep & 1))
        return;
    int keep = (S.flags & HS_SAMPLE_KEEP_MAJOR) ||
               ((S.flags & HS_SAMPLE_KEEP_MINOR) && now_ns() - s->born_ns < S.young_ns);
    if (!keep)
        return;
    if (sh->ndead == sh->dead_cap) {
        uint32_t cap = sh->dead_cap ? 2 * sh->dead_cap : 64;
        struct dead_sample *nd = hs__imem_alloc((size_t)cap * sizeof(*nd));
        if (!nd) {
            atomic_fetch_add_explicit(&S.dropped, 1, memory_order_relaxed);
            return;
        }
        if (sh->dead)
            memcpy(nd, sh->dead, (size_t)sh->ndead * sizeof(*nd));
        hs__imem_free(sh->dead, (size_t)sh->dead_cap * sizeof(*nd));
        sh->dead = nd;
        sh->dead_cap = cap;
    }
    sh->dead[sh->ndead++] = (struct dead_sample){s->size, s->ordinal, s->stack, s->epoch};
}

static int insert_sample(const struct hs_sample *s)
{
    uint64_t h = hs__sample_addr_hash(s->addr);
    uint32_t fi = hs__sample_filter_index(h);
    struct shard *sh = shard_of(fi);
    hs__lock(&sh->lock);
    int i = find_locked(sh, s->addr, h);
    if (i >= 0) { /* a stale sample: its free was not seen */
        struct sample_slot *o = &sh->slots[i];
        struct hs_sample old = {o->addr, o->size, o->ordinal, o->born_ns, o->stack, o->epoch};
        delete_locked(sh, (uint32_t)i);
        filter_dec(fi);
        retire_locked(sh, &old);
    }
    if (filter_count[fi] == UINT16_MAX ||
        ((sh->count + 1) * 4 > sh->cap * 3 && grow_locked(sh) < 0)) {
        hs__unlock(&sh->lock);
        atomic_fetch_add_explicit(&S.dropped, 1, memory_order_relaxed);
        return HS_E_NOMEM;
    }
    struct sample_slot slot = {s->addr, s->size, s->ordinal, s->born_ns, s->stack, s->epoch};
    place_locked(sh, &slot);
    sh->count++;
    filter_inc(fi);
    hs__unlock(&sh->lock);
    return HS_OK;
}

int hs__sampler_take(uintptr_t addr, struct hs_sample *out)
{
    uint64_t h = hs__sample_addr_hash(addr);
    uint32_t fi = hs__sample_filter_index(h);
    if (!(atomic_load_explicit(&hs__sample_bits[fi / 64], memory_order_relaxed) &
          (1ull << (fi % 64))))
        return 0;
    struct shard *sh = shard_of(fi);
    hs__lock(&sh->lock);
    int i = find_locked(sh, addr, h);
    if (i >= 0) {
        const struct sample_slot *o = &sh->slots[i];
        *out = (struct hs_sample){o->addr, o->size, o->ordinal, o->born_ns, o->stack, o->epoch};
        delete_locked(sh, (uint32_t)i);
        filter_dec(fi);
    }
    hs__unlock(&sh->lock);
    return i >= 0;
}

void hs__sampler_put_back(const struct hs_sample *s)
{
    (void)insert_sample(s);
}

void hs__sampler_retire(const struct hs_sample *s)
{
    struct shard *sh = shard_of(hs__sample_filter_index(hs__sample_addr_hash(s->addr)));
    hs__lock(&sh->lock);
    retire_locked(sh, s);
    hs__unlock(&sh->lock);
}

void hs__sample_free_slow(uintptr_t addr)
{
    struct hs_sample s;
    if (hs__sampler_take(addr, &s))
        hs__sampler_retire(&s);
}

/* ---- drawing -------------------------------------------------------------------------- */

static uint64_t rng_next(void)
{
    if (HS_UNLIKELY(tls_rng == 0)) {
        uint64_t k = atomic_fetch_add_explicit(&S.threads, 1, memory_order_relaxed) + 1;
        uint64_t seed = S.seed ? S.seed : now_ns() ^ (uint64_t)(uintptr_t)&tls_rng;
        tls_rng = (seed ^ (k * 0x9E3779B97F4A7C15ull)) | 1;
    }
    /* xorshift64* */
    uint64_t x = tls_rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    tls_rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* An exponentially distributed gap with mean S.interval, at least 1 byte. */
static int64_t draw_gap(void)
{
    double u = (double)((rng_next() >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
    double g = -log(u) * (double)S.interval;
    if (g < 1)
        return 1;
    if (g > (double)(INT64_MAX / 4))
        return INT64_MAX / 4;
    return (int64_t)g;
}

/* ---- sampling ------------------------------------------------------------------------- */

static int in_agent(uintptr_t pc)
{
    return pc >= agent_lo && pc < agent_hi;
}

/* The stack of the allocation, without the agent's frames and the wrapper
 * frames between them and the allocation's site; at most `depth` frames,
 * innermost first (the outermost are the ones dropped, as V8 does). */
static int capture(uintptr_t site_ra, int depth, uintptr_t **out)
{
    if (!tls_pcs) {
        tls_pcs = hs__imem_alloc((HS_SAMPLE_MAX_DEPTH + UNWIND_SLACK) * sizeof(uintptr_t));
        if (!tls_pcs)
            return 0;
        hs__track_thread_hook();
    }
    int n = hs__unwind(tls_pcs, depth + UNWIND_SLACK);
    int first = 0;
    while (first < n && in_agent(tls_pcs[first]))
        first++;
    for (int i = first; i < n && i < first + WRAPPER_SEARCH; i++)
        if (tls_pcs[i] == site_ra) {
            first = i;
            break;
        }
    n -= first;
    if (n > depth)
        n = depth;
    *out = tls_pcs + first;
    return n;
}

void hs__sample_thread_exit(void)
{
    if (tls_cache) {
        hs__imem_free(tls_cache, TL_CACHE * sizeof(*tls_cache));
        tls_cache = NULL;
    }
    if (tls_pcs) {
        hs__imem_free(tls_pcs, (HS_SAMPLE_MAX_DEPTH + UNWIND_SLACK) * sizeof(uintptr_t));
        tls_pcs = NULL;
    }
}

static void take_sample(uintptr_t addr, uint64_t size, uintptr_t ra, uintptr_t sp, uint32_t ep)
{
    uintptr_t site_ra = hs__site_addr(hs__site_resolve(ra, sp));
    uintptr_t *pcs;
    int n = capture(site_ra ? site_ra : ra, S.depth, &pcs);
    struct hs_sample s = {
        .addr = addr,
        .size = size,
        .ordinal = atomic_fetch_add_explicit(&S.ordinal, 1, memory_order_relaxed) + 1,
        .born_ns = now_ns(),
        .stack = n > 0 ? intern(pcs, n) : 0,
        .epoch = ep,
    };
    (void)insert_sample(&s);
}

void hs__sample_alloc_slow(uintptr_t addr, uint64_t size, uintptr_t ra, uintptr_t sp)
{
    uint32_t ep = atomic_load_explicit(&S.epoch, memory_order_acquire);
    if (!(ep & 1)) {
        hs__tls_countdown = IDLE_WINDOW;
        tls_epoch = ep;
        return;
    }
    if (tls_epoch != ep) {
        /* The process starts afresh at this allocation (memoryless): the
         * bytes since the start that fell in the check window are lost. */
        tls_epoch = ep;
        hs__tls_countdown = draw_gap() - (int64_t)size;
        if (hs__tls_countdown >= 0)
            return;
    }
    /* As V8: one sample however many sample points the block covers, and a
     * fresh gap from the end of it. */
    hs__tls_countdown = draw_gap();
    take_sample(addr, size, ra, sp, ep);
}

/* ---- control (service thread, or at load and exit) ------------------------------------ */

static void clear_tables(void)
{
    for (int k = 0; k < SHARDS; k++) {
        struct shard *sh = &shards[k];
        hs__lock(&sh->lock);
        for (uint32_t i = 0; i < sh->cap; i++)
            if (sh->slots[i].addr)
                filter_dec(hs__sample_filter_index(hs__sample_addr_hash(sh->slots[i].addr)));
        hs__imem_free(sh->slots, (size_t)sh->cap * sizeof(*sh->slots));
        hs__imem_free(sh->dead, (size_t)sh->dead_cap * sizeof(*sh->dead));
        sh->slots = NULL;
        sh->dead = NULL;
        sh->cap = sh->count = sh->ndead = sh->dead_cap = 0;
        hs__unlock(&sh->lock);
    }
    hs__lock(&stack_lock);
    if (!stacks_pinned)
        stacks_clear_locked();
    hs__unlock(&stack_lock);
}

int hs__sampler_start(const struct hs_sample_params *p)
{
    uint32_t ep = atomic_load_explicit(&S.epoch, memory_order_acquire);
    if (ep & 1)
        return 1; /* as V8: the running profiler keeps its parameters */
    clear_tables();
    S.interval = p->interval ? p->interval : 1;
    S.depth = p->depth < 0 ? 0 : p->depth > HS_SAMPLE_MAX_DEPTH ? HS_SAMPLE_MAX_DEPTH : p->depth;
    S.flags = p->flags;
    S.young_ns = p->young_ns;
    S.seed = p->seed;
    atomic_store_explicit(&S.ordinal, 0, memory_order_relaxed);
    atomic_store_explicit(&S.dropped, 0, memory_order_relaxed);
    atomic_store_explicit(&S.epoch, ep + 1, memory_order_release);
    return 0;
}

void hs__sampler_stop(void)
{
    uint32_t ep = atomic_load_explicit(&S.epoch, memory_order_acquire);
    if (!(ep & 1))
        return;
    atomic_store_explicit(&S.epoch, ep + 1, memory_order_release);
    clear_tables();
}

int hs__sampler_running(struct hs_sample_params *p)
{
    uint32_t ep = atomic_load_explicit(&S.epoch, memory_order_acquire);
    if (p && (ep & 1))
        *p = (struct hs_sample_params){S.interval, S.depth, S.flags, S.young_ns, S.seed};
    return ep & 1;
}

uint64_t hs__sampler_dropped(void)
{
    return atomic_load_explicit(&S.dropped, memory_order_relaxed);
}

int hs__sampler_foreach(int (*cb)(const struct hs_sample_view *v, void *arg), void *arg)
{
    uint32_t ep = atomic_load_explicit(&S.epoch, memory_order_acquire);
    if (!(ep & 1))
        return HS_E_STATE;
    int rc = 0;
    for (int k = 0; k < SHARDS && !rc; k++) {
        struct shard *sh = &shards[k];
        hs__lock(&sh->lock);
        for (uint32_t i = 0; i < sh->cap && !rc; i++) {
            const struct sample_slot *s = &sh->slots[i];
            if (s->addr && s->epoch == ep) {
                struct hs_sample_view v = {s->size, s->ordinal, s->stack, 1, s->addr};
                rc = cb(&v, arg);
            }
        }
        for (uint32_t i = 0; i < sh->ndead && !rc; i++) {
            const struct dead_sample *d = &sh->dead[i];
            if (d->epoch == ep) {
                struct hs_sample_view v = {d->size, d->ordinal, d->stack, 0, 0};
                rc = cb(&v, arg);
            }
        }
        hs__unlock(&sh->lock);
    }
    return rc;
}

/* ---- fork and set-up ------------------------------------------------------------------ */

void hs__sampler_lock_all(void)
{
    hs__lock(&stack_lock);
    for (int k = 0; k < SHARDS; k++)
        hs__lock(&shards[k].lock);
}

void hs__sampler_unlock_all(void)
{
    for (int k = SHARDS - 1; k >= 0; k--)
        hs__unlock(&shards[k].lock);
    hs__unlock(&stack_lock);
}

void hs__sampler_unlock_all_child(void)
{
    for (int k = 0; k < SHARDS; k++)
        atomic_store_explicit(&shards[k].lock, 0, memory_order_relaxed);
    atomic_store_explicit(&stack_lock, 0, memory_order_relaxed);
}

static int find_agent_text(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t self = (uintptr_t)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (self >= lo && self < hi) {
            agent_lo = lo;
            agent_hi = hi;
            return 1;
        }
    }
    return 0;
}

void hs__sampler_init(void)
{
    dl_iterate_phdr(find_agent_text, (void *)(uintptr_t)&hs__sampler_init);
}
