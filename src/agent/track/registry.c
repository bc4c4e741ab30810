/*
 * registry.c — the live-block registry: every block the program holds, with
 * its requested size, object id and allocation site.
 *
 * Layout (why: docs/design/registry.md). The address space is cut into 64 KiB
 * windows. A two-level radix table (16 + 16 bits of a 48-bit address) maps a
 * window to its leaf; a leaf is a small open-addressing hash table of 12-byte
 * slots keyed by the block's 8-byte granule inside the window, with its own
 * lock. Allocators place consecutive blocks next to each other, so consecutive
 * operations hit the same leaf and the same few cache lines: the locality that
 * a single big hash table keyed by address lacks (it costs a cache and TLB
 * miss per operation). There is no global lock on the fast path: a per-leaf
 * lock (spin briefly, then futex), held for a few dozen instructions.
 * Windows get a leaf once and keep it; leaves never move, so lock-free
 * readers of the radix table are safe. Blocks that do not fit the slot
 * format (a start that is not 8-byte aligned or above 2^48, a size of 4 GiB
 * or more) also go to a small overflow table under its own lock.
 *
 * Lock ranks: structure lock < leaf locks < overflow lock. Nothing here calls
 * the program's malloc: memory comes from hs__imem_* and mmap.
 *
 * This file does not assign ids, count, or resolve sites (track.c, sites.c).
 */
#include <string.h>
#include <sys/mman.h>

#include "../agent_int.h"
#include "heapscope/hs_err.h"
#include "lock.h"

#define LEAF_SHIFT 16
#define GRAN_SHIFT 3
#define KEY_BITS (LEAF_SHIFT - GRAN_SHIFT) /* 13: granule inside a window */
#define KEY_MASK ((1u << KEY_BITS) - 1)
#define SITE_SHIFT KEY_BITS /* sites get the other 19 bits */
#define SITE_MAX ((1u << (32 - KEY_BITS)) - 1)
#define ADDR_BITS 48
#define L2_BITS 16
#define L1_BITS (ADDR_BITS - LEAF_SHIFT - L2_BITS)
#define SIZE_HUGE UINT32_MAX /* real size is in the overflow table */
#define MIN_CAP_LOG2 3

struct slot {
    uint32_t id; /* 0 = empty; object ids are odd */
    uint32_t size;
    uint32_t ks; /* key | site << SITE_SHIFT */
};

struct leaf {
    _Atomic uint32_t lock;
    uint32_t count;
    uint32_t cap_log2; /* 0 while slots is NULL */
    uint32_t pad;
    uint64_t bytes; /* sizes of the blocks recorded here, huge ones included */
    uintptr_t base;
    struct slot *slots;
    struct leaf *_Atomic next; /* list of all leaves, for walks */
};

struct ovf_entry {
    uintptr_t addr;
    uint64_t size;
    uint32_t id;
    uint32_t site;
    int full; /* 1: the block is only here; 0: a huge block's size */
};

typedef struct leaf *_Atomic leaf_ptr;

static leaf_ptr *_Atomic l1[1u << L1_BITS];
static struct leaf *_Atomic all_leaves;
static _Atomic uint32_t struct_lock;
static _Atomic uint64_t max_block_size;

static _Atomic uint32_t ovf_lock;
static struct ovf_entry *ovf;
static size_t ovf_len, ovf_cap;
static _Atomic size_t ovf_full_count;

/* ---- radix table ---------------------------------------------------------- */

static inline struct leaf *leaf_peek(uintptr_t window)
{
    leaf_ptr *l2 = atomic_load_explicit(&l1[window >> L2_BITS], memory_order_acquire);
    if (!l2)
        return NULL;
    return atomic_load_explicit(&l2[window & ((1u << L2_BITS) - 1)], memory_order_acquire);
}

static struct leaf *leaf_create(uintptr_t window)
{
    struct leaf *lf = NULL;
    hs__lock(&struct_lock);
    leaf_ptr *l2 = atomic_load_explicit(&l1[window >> L2_BITS], memory_order_acquire);
    if (!l2) {
        /* 512 KiB of address space; pages are touched only where leaves
         * are, and never returned (leaves are never removed). */
        void *m = mmap(NULL, sizeof(leaf_ptr) << L2_BITS, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            goto out;
        l2 = m;
        atomic_store_explicit(&l1[window >> L2_BITS], l2, memory_order_release);
    }
    leaf_ptr *slotp = &l2[window & ((1u << L2_BITS) - 1)];
    lf = atomic_load_explicit(slotp, memory_order_acquire);
    if (lf)
        goto out;
    lf = hs__imem_alloc(sizeof(*lf));
    if (!lf)
        goto out;
    lf->base = window << LEAF_SHIFT;
    atomic_store_explicit(&lf->next, atomic_load_explicit(&all_leaves, memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(&all_leaves, lf, memory_order_release);
    atomic_store_explicit(slotp, lf, memory_order_release);
out:
    hs__unlock(&struct_lock);
    return lf;
}

/* ---- one leaf's hash table (caller holds the leaf lock) -------------------- */

static inline uint32_t home_of(uint32_t key, uint32_t log2)
{
    return (key * 0x9E3779B1u) >> (32 - log2);
}

static inline uint32_t key_of(uintptr_t addr)
{
    return (uint32_t)(addr >> GRAN_SHIFT) & KEY_MASK;
}

/* Index of key's slot, or -1. */
static inline int64_t leaf_find(const struct leaf *lf, uint32_t key)
{
    if (!lf->slots)
        return -1;
    uint32_t mask = (1u << lf->cap_log2) - 1;
    for (uint32_t i = home_of(key, lf->cap_log2);; i = (i + 1) & mask) {
        const struct slot *s = &lf->slots[i];
        if (s->id == 0)
            return -1;
        if ((s->ks & KEY_MASK) == key)
            return i;
    }
}

static void leaf_place(struct slot *slots, uint32_t log2, const struct slot *s)
{
    uint32_t mask = (1u << log2) - 1;
    uint32_t i = home_of(s->ks & KEY_MASK, log2);
    while (slots[i].id != 0)
        i = (i + 1) & mask;
    slots[i] = *s;
}

/* Rebuilds lf's table with 2^log2 slots. Returns 0, or -1 if out of memory
 * (the old table is then kept unchanged). */
static int leaf_resize(struct leaf *lf, uint32_t log2)
{
    struct slot *ns = hs__imem_alloc(sizeof(struct slot) << log2);
    if (!ns)
        return -1;
    if (lf->slots) {
        for (uint32_t i = 0; i < (1u << lf->cap_log2); i++)
            if (lf->slots[i].id)
                leaf_place(ns, log2, &lf->slots[i]);
        hs__imem_free(lf->slots, sizeof(struct slot) << lf->cap_log2);
    }
    lf->slots = ns;
    lf->cap_log2 = log2;
    return 0;
}

/* Linear probing with backward-shift deletion: no tombstones, so probe
 * sequences stay as short as the load factor says. */
static void leaf_delete_at(struct leaf *lf, uint32_t i)
{
    uint32_t mask = (1u << lf->cap_log2) - 1;
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        struct slot *s = &lf->slots[j];
        if (s->id == 0)
            break;
        uint32_t k = home_of(s->ks & KEY_MASK, lf->cap_log2);
        /* Move s back into the hole unless its home lies cyclically in
         * (i, j]: then the hole is not on its probe path. */
        int stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            lf->slots[i] = *s;
            i = j;
        }
    }
    lf->slots[i].id = 0;
    lf->count--;
    if (lf->count == 0) {
        hs__imem_free(lf->slots, sizeof(struct slot) << lf->cap_log2);
        lf->slots = NULL;
        lf->cap_log2 = 0;
    } else if (lf->cap_log2 > MIN_CAP_LOG2 && lf->count < (1u << lf->cap_log2) / 4) {
        /* Load stays within [1/4, 3/4] (12 to 48 bytes a block); the gap
         * to the growth threshold keeps resizes amortised O(1). */
        (void)leaf_resize(lf, lf->cap_log2 - 1); /* failure: just stay big */
    }
}

/* ---- overflow table (caller holds ovf_lock) ------------------------------- */

static struct ovf_entry *ovf_find(uintptr_t addr)
{
    for (size_t i = 0; i < ovf_len; i++)
        if (ovf[i].addr == addr)
            return &ovf[i];
    return NULL;
}

static int ovf_put(const struct ovf_entry *e)
{
    struct ovf_entry *o = ovf_find(e->addr);
    if (!o) {
        if (ovf_len == ovf_cap) {
            size_t ncap = ovf_cap ? ovf_cap * 2 : 16;
            struct ovf_entry *n = hs__imem_alloc(ncap * sizeof(*n));
            if (!n)
                return -1;
            if (ovf)
                memcpy(n, ovf, ovf_len * sizeof(*n));
            hs__imem_free(ovf, ovf_cap * sizeof(*ovf));
            ovf = n;
            ovf_cap = ncap;
        }
        o = &ovf[ovf_len++];
    } else if (o->full) {
        atomic_fetch_sub_explicit(&ovf_full_count, 1, memory_order_relaxed);
    }
    *o = *e;
    if (o->full)
        atomic_fetch_add_explicit(&ovf_full_count, 1, memory_order_relaxed);
    return 0;
}

static void ovf_del(struct ovf_entry *o)
{
    if (o->full)
        atomic_fetch_sub_explicit(&ovf_full_count, 1, memory_order_relaxed);
    *o = ovf[--ovf_len];
}

static uint64_t ovf_size_of(uintptr_t addr)
{
    hs__lock(&ovf_lock);
    struct ovf_entry *o = ovf_find(addr);
    uint64_t size = o ? o->size : 0;
    hs__unlock(&ovf_lock);
    return size;
}

/* ---- public operations ---------------------------------------------------- */

static inline int fits_slot_addr(uintptr_t addr)
{
    return (addr & ((1u << GRAN_SHIFT) - 1)) == 0 && (addr >> ADDR_BITS) == 0;
}

static void note_size(uint64_t size)
{
    uint64_t cur = atomic_load_explicit(&max_block_size, memory_order_relaxed);
    while (size > cur &&
           !atomic_compare_exchange_weak_explicit(&max_block_size, &cur, size, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

static int insert_full_ovf(uintptr_t addr, uint64_t size, uint32_t id, uint32_t site,
                           hs_block *replaced)
{
    struct ovf_entry e = {addr, size, id, site, 1};
    int was = 0;
    hs__lock(&ovf_lock);
    struct ovf_entry *o = ovf_find(addr);
    if (o && o->full) {
        *replaced = (hs_block){o->addr, o->size, o->id, o->site};
        was = 1;
    }
    int rc = ovf_put(&e);
    hs__unlock(&ovf_lock);
    note_size(size);
    return rc ? HS_E_NOMEM : was;
}

int hs__registry_insert(uintptr_t addr, uint64_t size, uint32_t id, uint32_t site,
                        hs_block *replaced)
{
    if (site > SITE_MAX)
        site = 0;
    if (HS_UNLIKELY(!fits_slot_addr(addr)))
        return insert_full_ovf(addr, size, id, site, replaced);

    uintptr_t window = addr >> LEAF_SHIFT;
    struct leaf *lf = leaf_peek(window);
    if (HS_UNLIKELY(!lf)) {
        lf = leaf_create(window);
        if (!lf)
            return HS_E_NOMEM;
    }
    uint32_t key = key_of(addr);
    struct slot s = {id, size >= SIZE_HUGE ? SIZE_HUGE : (uint32_t)size,
                     key | (site << SITE_SHIFT)};
    int was = 0;

    hs__lock(&lf->lock);
    int64_t at = leaf_find(lf, key);
    if (HS_UNLIKELY(at >= 0)) {
        /* A stale entry (its free went unseen): hand it back, then reuse
         * its slot. A huge one's true size is in the overflow table. */
        struct slot *o = &lf->slots[at];
        *replaced = (hs_block){addr, o->size, o->id, o->ks >> SITE_SHIFT};
        if (o->size == SIZE_HUGE) {
            hs__lock(&ovf_lock); /* rank: leaf, then overflow */
            struct ovf_entry *oe = ovf_find(addr);
            if (oe) {
                replaced->size = oe->size;
                ovf_del(oe);
            }
            hs__unlock(&ovf_lock);
        }
    }
    if (HS_UNLIKELY(s.size == SIZE_HUGE)) {
        struct ovf_entry e = {addr, size, id, site, 0};
        hs__lock(&ovf_lock);
        int rc = ovf_put(&e);
        hs__unlock(&ovf_lock);
        if (rc) {
            if (at >= 0) { /* the stale entry is gone either way */
                lf->bytes -= replaced->size;
                leaf_delete_at(lf, (uint32_t)at);
            }
            hs__unlock(&lf->lock);
            return HS_E_NOMEM;
        }
    }
    if (HS_UNLIKELY(at >= 0)) {
        lf->bytes -= replaced->size;
        lf->slots[at] = s;
        was = 1;
    } else {
        if (HS_UNLIKELY((lf->count + 1) * 4 > (3u << lf->cap_log2))) {
            uint32_t nlog2 = lf->cap_log2 ? lf->cap_log2 + 1 : MIN_CAP_LOG2;
            if (leaf_resize(lf, nlog2)) {
                hs__unlock(&lf->lock);
                return HS_E_NOMEM;
            }
        }
        leaf_place(lf->slots, lf->cap_log2, &s);
        lf->count++;
    }
    lf->bytes += size;
    hs__unlock(&lf->lock);
    if (HS_UNLIKELY(size > atomic_load_explicit(&max_block_size, memory_order_relaxed)))
        note_size(size);
    return was;
}

static int remove_full_ovf(uintptr_t addr, hs_block *out)
{
    int found = 0;
    hs__lock(&ovf_lock);
    struct ovf_entry *o = ovf_find(addr);
    if (o && o->full) {
        *out = (hs_block){o->addr, o->size, o->id, o->site};
        ovf_del(o);
        found = 1;
    }
    hs__unlock(&ovf_lock);
    return found;
}

int hs__registry_remove(uintptr_t addr, hs_block *out)
{
    if (HS_UNLIKELY(!fits_slot_addr(addr)))
        return remove_full_ovf(addr, out);
    struct leaf *lf = leaf_peek(addr >> LEAF_SHIFT);
    if (HS_UNLIKELY(!lf))
        return 0;
    hs__lock(&lf->lock);
    int64_t at = leaf_find(lf, key_of(addr));
    if (at < 0) {
        hs__unlock(&lf->lock);
        return 0;
    }
    struct slot s = lf->slots[at];
    out->addr = addr;
    out->size = s.size;
    out->id = s.id;
    out->site = s.ks >> SITE_SHIFT;
    if (HS_UNLIKELY(s.size == SIZE_HUGE)) {
        hs__lock(&ovf_lock);
        struct ovf_entry *oe = ovf_find(addr);
        if (oe) {
            out->size = oe->size;
            ovf_del(oe);
        }
        hs__unlock(&ovf_lock);
    }
    lf->bytes -= out->size;
    leaf_delete_at(lf, (uint32_t)at);
    hs__unlock(&lf->lock);
    return 1;
}

static inline void slot_to_block(const struct leaf *lf, const struct slot *s, hs_block *b)
{
    b->addr = lf->base + ((uintptr_t)(s->ks & KEY_MASK) << GRAN_SHIFT);
    b->size = s->size;
    b->id = s->id;
    b->site = s->ks >> SITE_SHIFT;
}

static inline int block_covers(const hs_block *b, uintptr_t addr)
{
    return addr == b->addr || addr - b->addr < b->size;
}

int hs__registry_lookup(uintptr_t addr, hs_block *out)
{
    if (atomic_load_explicit(&ovf_full_count, memory_order_relaxed)) {
        int found = 0;
        hs__lock(&ovf_lock);
        for (size_t i = 0; i < ovf_len && !found; i++) {
            hs_block b = {ovf[i].addr, ovf[i].size, ovf[i].id, ovf[i].site};
            if (ovf[i].full && addr >= b.addr && block_covers(&b, addr)) {
                *out = b;
                found = 1;
            }
        }
        hs__unlock(&ovf_lock);
        if (found)
            return 1;
    }
    if (addr >> ADDR_BITS)
        return 0;

    /* Live blocks never overlap, so the block with the greatest start at or
     * below addr is the only candidate. Walk windows downwards from addr's
     * until one has a block, but no further than the largest block ever
     * recorded could reach. */
    uintptr_t w = addr >> LEAF_SHIFT;
    uint64_t reach =
        (atomic_load_explicit(&max_block_size, memory_order_relaxed) >> LEAF_SHIFT) + 1;
    uintptr_t wmin = w > reach ? w - reach : 0;
    for (;; w--) {
        struct leaf *lf = leaf_peek(w);
        if (lf) {
            hs_block best = {0, 0, 0, 0};
            int have = 0;
            hs__lock(&lf->lock);
            /* Most addresses asked about are a block's start (a pointer to
             * it): its granule's key finds it with one probe, and no other
             * block can start between it and addr. Else scan the window. */
            int64_t at = w == addr >> LEAF_SHIFT ? leaf_find(lf, key_of(addr)) : -1;
            if (at >= 0) {
                slot_to_block(lf, &lf->slots[at], &best);
                have = 1;
            }
            for (uint32_t i = 0; !(at >= 0) && lf->slots && i < (1u << lf->cap_log2); i++) {
                if (!lf->slots[i].id)
                    continue;
                hs_block b;
                slot_to_block(lf, &lf->slots[i], &b);
                if (b.addr <= addr && (!have || b.addr > best.addr)) {
                    best = b;
                    have = 1;
                }
            }
            hs__unlock(&lf->lock);
            if (have) {
                if (best.size == SIZE_HUGE)
                    best.size = ovf_size_of(best.addr);
                if (!block_covers(&best, addr))
                    return 0;
                *out = best;
                return 1;
            }
        }
        if (w == wmin)
            return 0;
    }
}

int hs__registry_foreach(hs_block_fn cb, void *arg, int locked)
{
    for (struct leaf *lf = atomic_load_explicit(&all_leaves, memory_order_acquire); lf;
         lf = atomic_load_explicit(&lf->next, memory_order_relaxed)) {
        if (!locked)
            hs__lock(&lf->lock);
        int rc = 0;
        for (uint32_t i = 0; lf->slots && i < (1u << lf->cap_log2) && !rc; i++) {
            if (!lf->slots[i].id)
                continue;
            hs_block b;
            slot_to_block(lf, &lf->slots[i], &b);
            if (b.size == SIZE_HUGE) {
                if (locked) {
                    struct ovf_entry *o = ovf_find(b.addr);
                    b.size = o ? o->size : 0;
                } else {
                    b.size = ovf_size_of(b.addr);
                }
            }
            rc = cb(&b, arg);
        }
        if (!locked)
            hs__unlock(&lf->lock);
        if (rc)
            return rc;
    }
    if (!atomic_load_explicit(&ovf_full_count, memory_order_relaxed))
        return 0;
    if (!locked)
        hs__lock(&ovf_lock);
    int rc = 0;
    for (size_t i = 0; i < ovf_len && !rc; i++) {
        if (!ovf[i].full)
            continue;
        hs_block b = {ovf[i].addr, ovf[i].size, ovf[i].id, ovf[i].site};
        rc = cb(&b, arg);
    }
    if (!locked)
        hs__unlock(&ovf_lock);
    return rc;
}

struct find_id_arg {
    uint32_t id;
    hs_block *out;
};

static int find_id_cb(const hs_block *b, void *arg)
{
    struct find_id_arg *a = arg;
    if (b->id != a->id)
        return 0;
    *a->out = *b;
    return 1;
}

int hs__registry_find_id(uint32_t id, hs_block *out)
{
    struct find_id_arg a = {id, out};
    return id != 0 && hs__registry_foreach(find_id_cb, &a, 0) == 1;
}

void hs__registry_remap_ids(uint32_t (*map)(uint32_t id, void *arg), void *arg)
{
    for (struct leaf *lf = atomic_load_explicit(&all_leaves, memory_order_acquire); lf;
         lf = atomic_load_explicit(&lf->next, memory_order_relaxed))
        for (uint32_t i = 0; lf->slots && i < (1u << lf->cap_log2); i++)
            if (lf->slots[i].id)
                lf->slots[i].id = map(lf->slots[i].id, arg);
    for (size_t i = 0; i < ovf_len; i++)
        if (ovf[i].full)
            ovf[i].id = map(ovf[i].id, arg);
}

void hs__registry_freeze(void)
{
    hs__lock(&struct_lock);
    for (struct leaf *lf = atomic_load_explicit(&all_leaves, memory_order_acquire); lf;
         lf = atomic_load_explicit(&lf->next, memory_order_relaxed))
        hs__lock(&lf->lock);
    hs__lock(&ovf_lock);
}

void hs__registry_thaw(void)
{
    hs__unlock(&ovf_lock);
    for (struct leaf *lf = atomic_load_explicit(&all_leaves, memory_order_acquire); lf;
         lf = atomic_load_explicit(&lf->next, memory_order_relaxed))
        hs__unlock(&lf->lock);
    hs__unlock(&struct_lock);
}

void hs__registry_thaw_child(void)
{
    /* The locks are plain words; the thread that took them is the one that
     * continues in the child, so releasing them is all there is to do. */
    hs__registry_thaw();
}

void hs__registry_totals(uint64_t *blocks, uint64_t *bytes)
{
    uint64_t nb = 0, sz = 0;
    for (struct leaf *lf = atomic_load_explicit(&all_leaves, memory_order_acquire); lf;
         lf = atomic_load_explicit(&lf->next, memory_order_relaxed)) {
        hs__lock(&lf->lock);
        nb += lf->count;
        sz += lf->bytes;
        hs__unlock(&lf->lock);
    }
    hs__lock(&ovf_lock);
    for (size_t i = 0; i < ovf_len; i++) {
        if (ovf[i].full) {
            nb++;
            sz += ovf[i].size;
        }
    }
    hs__unlock(&ovf_lock);
    *blocks = nb;
    *bytes = sz;
}
