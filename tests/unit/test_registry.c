/*
 * test_registry.c — unit tests of the live-block registry and of the id and
 * site bookkeeping around it (track.c), linked without the malloc hooks. The
 * registry never dereferences block addresses, so the tests use made-up
 * addresses in disjoint ranges. Also built with ThreadSanitizer.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent_int.h"

#define KiB 1024ull
#define GiB (1024ull * 1024 * 1024)

static int setup(void **state)
{
    (void)state;
    hs__real.malloc = malloc;
    hs__real.calloc = calloc;
    hs__real.free = free;
    return 0;
}

static uint64_t count_blocks(void)
{
    uint64_t n, bytes;
    hs__registry_totals(&n, &bytes);
    return n;
}

static void test_insert_lookup_remove(void **state)
{
    (void)state;
    const uintptr_t base = 0x100000000000ull;
    uint64_t before = count_blocks();
    hs_block b, stale;
    assert_int_equal(hs__registry_insert(base + 0x40, 100, 101, 7, &stale), 0);
    assert_int_equal(hs__registry_insert(base + 0x100, 16, 103, 8, &stale), 0);
    assert_int_equal(count_blocks(), before + 2);

    /* Start and interior addresses find the block; the byte after does not. */
    assert_int_equal(hs__registry_lookup(base + 0x40, &b), 1);
    assert_int_equal(b.addr, base + 0x40);
    assert_int_equal(b.size, 100);
    assert_int_equal(b.id, 101);
    assert_int_equal(b.site, 7);
    assert_int_equal(hs__registry_lookup(base + 0x40 + 99, &b), 1);
    assert_int_equal(b.id, 101);
    assert_int_equal(hs__registry_lookup(base + 0x40 + 100, &b), 0);
    assert_int_equal(hs__registry_lookup(base + 0x3f, &b), 0);
    assert_int_equal(hs__registry_lookup(base + 0x10f, &b), 1);
    assert_int_equal(b.id, 103);

    assert_int_equal(hs__registry_find_id(103, &b), 1);
    assert_int_equal(b.addr, base + 0x100);
    assert_int_equal(hs__registry_find_id(105, &b), 0);

    assert_int_equal(hs__registry_remove(base + 0x40, &b), 1);
    assert_int_equal(b.id, 101);
    assert_int_equal(b.size, 100);
    assert_int_equal(hs__registry_remove(base + 0x40, &b), 0);
    assert_int_equal(hs__registry_lookup(base + 0x50, &b), 0);
    assert_int_equal(hs__registry_remove(base + 0x100, &b), 1);
    assert_int_equal(count_blocks(), before);
}

/* A block that spans many 64 KiB windows is found from its far end. */
static void test_interior_across_windows(void **state)
{
    (void)state;
    const uintptr_t base = 0x110000000000ull;
    hs_block b, stale;
    assert_int_equal(hs__registry_insert(base, 10 * 1024 * KiB, 201, 1, &stale), 0);
    assert_int_equal(hs__registry_insert(base + 20 * 1024 * KiB, 64, 203, 1, &stale), 0);
    assert_int_equal(hs__registry_lookup(base + 10 * 1024 * KiB - 1, &b), 1);
    assert_int_equal(b.id, 201);
    assert_int_equal(hs__registry_lookup(base + 10 * 1024 * KiB, &b), 0);
    assert_int_equal(hs__registry_lookup(base + 20 * 1024 * KiB - 8, &b), 0);
    assert_int_equal(hs__registry_remove(base, &b), 1);
    assert_int_equal(hs__registry_remove(base + 20 * 1024 * KiB, &b), 1);
}

/* Sizes of 4 GiB and more, and starts that are not 8-byte aligned, do not
 * fit a slot and take the overflow path; nothing about them may be lost. */
static void test_overflow_blocks(void **state)
{
    (void)state;
    const uintptr_t base = 0x120000000000ull;
    uint64_t before_n, before_b, n, bytes;
    hs__registry_totals(&before_n, &before_b);
    hs_block b, stale;
    assert_int_equal(hs__registry_insert(base, 5 * GiB, 301, 2, &stale), 0);
    assert_int_equal(hs__registry_insert(base + 6 * GiB + 3, 10, 303, 3, &stale), 0);
    hs__registry_totals(&n, &bytes);
    assert_int_equal(n, before_n + 2);
    assert_int_equal(bytes, before_b + 5 * GiB + 10);
    assert_int_equal(hs__registry_lookup(base + 4 * GiB, &b), 1);
    assert_int_equal(b.size, 5 * GiB);
    assert_int_equal(hs__registry_lookup(base + 6 * GiB + 5, &b), 1);
    assert_int_equal(b.id, 303);
    assert_int_equal(hs__registry_remove(base, &b), 1);
    assert_int_equal(b.size, 5 * GiB);
    assert_int_equal(b.id, 301);
    assert_int_equal(hs__registry_remove(base + 6 * GiB + 3, &b), 1);
    assert_int_equal(b.site, 3);
    hs__registry_totals(&n, &bytes);
    assert_int_equal(n, before_n);
    assert_int_equal(bytes, before_b);
}

/* A second insert at a live address (its free was never seen) replaces the
 * stale block and reports it. */
static void test_stale_replacement(void **state)
{
    (void)state;
    const uintptr_t base = 0x130000000000ull;
    hs_block b, stale;
    uint64_t before = count_blocks();
    assert_int_equal(hs__registry_insert(base, 48, 401, 1, &stale), 0);
    assert_int_equal(hs__registry_insert(base, 32, 403, 2, &stale), 1);
    assert_int_equal(stale.id, 401);
    assert_int_equal(stale.size, 48);
    assert_int_equal(count_blocks(), before + 1);
    assert_int_equal(hs__registry_remove(base, &b), 1);
    assert_int_equal(b.id, 403);
}

/* Fill one window completely (every 8-byte granule), then empty it in
 * another order: the table grows, shrinks and loses nothing. */
static void test_dense_window(void **state)
{
    (void)state;
    const uintptr_t base = 0x140000000000ull;
    const unsigned n = 65536 / 8;
    hs_block b, stale;
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(hs__registry_insert(base + 8 * i, 8, 1001 + 2 * i, i & 0xff, &stale), 0);
    for (unsigned i = 0; i < n; i += 97) {
        assert_int_equal(hs__registry_lookup(base + 8 * i + 7, &b), 1);
        assert_int_equal(b.id, 1001 + 2 * i);
    }
    for (unsigned k = 0; k < n; k++) {
        unsigned i = (k * 4099u) % n; /* 4099 is prime: a permutation */
        assert_int_equal(hs__registry_remove(base + 8 * i, &b), 1);
        assert_int_equal(b.id, 1001 + 2 * i);
    }
    assert_int_equal(hs__registry_lookup(base + 8, &b), 0);
}

struct collect {
    uintptr_t lo, hi;
    uint64_t n, bytes;
};

static int collect_cb(const hs_block *b, void *arg)
{
    struct collect *c = arg;
    if (b->addr >= c->lo && b->addr < c->hi) {
        c->n++;
        c->bytes += b->size;
    }
    return 0;
}

static void test_foreach_and_freeze(void **state)
{
    (void)state;
    const uintptr_t base = 0x150000000000ull;
    hs_block stale, b;
    for (unsigned i = 0; i < 1000; i++)
        assert_int_equal(hs__registry_insert(base + i * 4096, i + 1, 2001 + 2 * i, 1, &stale), 0);
    struct collect c = {base, base + 1000 * 4096, 0, 0};
    assert_int_equal(hs__registry_foreach(collect_cb, &c, 0), 0);
    assert_int_equal(c.n, 1000);
    assert_int_equal(c.bytes, 1000 * 1001 / 2);

    hs__registry_freeze();
    struct collect d = {base, base + 1000 * 4096, 0, 0};
    assert_int_equal(hs__registry_foreach(collect_cb, &d, 1), 0);
    hs__registry_thaw();
    assert_int_equal(d.n, 1000);

    for (unsigned i = 0; i < 1000; i++)
        assert_int_equal(hs__registry_remove(base + i * 4096, &b), 1);
}

/* Ids from track.c: odd, step 2, in allocation order, above the reserved
 * range; a realloc that moves a block keeps its id; stepping back into the
 * registry at a failed realloc restores the block. */
static void test_ids_and_realloc(void **state)
{
    (void)state;
    char *p = (char *)0x160000000000ull;
    hs_block b1, b2, b3;
    struct hs_realloc_ctx ctx;
    hs__track_alloc(p, 10, 0, 0);
    hs__track_alloc(p + 64, 20, 0, 0);
    hs__track_alloc(p + 128, 30, 0, 0);
    assert_int_equal(hs__registry_lookup((uintptr_t)p, &b1), 1);
    assert_int_equal(hs__registry_lookup((uintptr_t)p + 64, &b2), 1);
    assert_int_equal(hs__registry_lookup((uintptr_t)p + 128, &b3), 1);
    assert_true(b1.id >= HS_FIRST_OBJECT_ID);
    assert_int_equal(b1.id % 2, 1);
    assert_int_equal(b2.id, b1.id + 2);
    assert_int_equal(b3.id, b2.id + 2);

    /* Move b2 far away: same id, new size. */
    hs__track_realloc_begin(p + 64, &ctx);
    assert_int_equal(ctx.had_block, 1);
    hs__track_realloc_end(&ctx, p + (1 << 20), 4000, 0, 0, 0);
    hs_block moved;
    assert_int_equal(hs__registry_lookup((uintptr_t)p + (1 << 20), &moved), 1);
    assert_int_equal(moved.id, b2.id);
    assert_int_equal(moved.size, 4000);
    assert_int_equal(hs__registry_lookup((uintptr_t)p + 64, &moved), 0);

    /* A failed realloc leaves the block where it was. */
    hs__track_realloc_begin(p + 128, &ctx);
    assert_int_equal(ctx.had_block, 1);
    hs__track_realloc_end(&ctx, NULL, 1 << 30, 0, 0, 0);
    assert_int_equal(hs__registry_lookup((uintptr_t)p + 128, &moved), 1);
    assert_int_equal(moved.id, b3.id);
    assert_int_equal(moved.size, 30);

    /* realloc(p, 0) that freed. */
    hs__track_realloc_begin(p + 128, &ctx);
    assert_int_equal(ctx.had_block, 1);
    hs__track_realloc_end(&ctx, NULL, 0, 0, 0, 1);
    assert_int_equal(hs__registry_lookup((uintptr_t)p + 128, &moved), 0);

    hs__track_free(p);
    hs__track_free(p + (1 << 20));
    assert_int_equal(hs__registry_lookup((uintptr_t)p, &moved), 0);
}

/* ---- concurrency ------------------------------------------------------------ */

#define THREADS 4
#define OPS 200000
#define SLOTS 512

struct worker {
    pthread_t t;
    unsigned idx;
    uintptr_t base;
    uint64_t live_n, live_bytes;
    unsigned errors; /* cmocka's asserts may only run on the test's thread */
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint32_t rng = 2463534242u * (w->idx + 1);
    uint64_t sizes[SLOTS] = {0};
    hs_block b, stale;
    for (unsigned op = 0; op < OPS; op++) {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        unsigned s = rng % SLOTS;
        /* Threads share windows: slot s of thread k sits at base + s*64 +
         * k*16, so neighbouring blocks of different threads are in the
         * same leaf. */
        uintptr_t a = w->base + (uintptr_t)s * 64 + w->idx * 16;
        if (sizes[s]) {
            if (hs__registry_remove(a, &b) != 1 || b.size != sizes[s])
                w->errors++;
            sizes[s] = 0;
        } else {
            uint64_t size = 1 + (rng >> 20) % 16;
            if (hs__registry_insert(a, size, 2 * op + 101, 1, &stale) != 0)
                w->errors++;
            sizes[s] = size;
        }
    }
    for (unsigned i = 0; i < SLOTS; i++) {
        if (sizes[i]) {
            w->live_n++;
            w->live_bytes += sizes[i];
        }
    }
    return NULL;
}

struct reader_arg {
    _Atomic int stop;
    uintptr_t base;
    uint64_t walks;
};

static int count_cb(const hs_block *b, void *arg)
{
    (void)b;
    (*(uint64_t *)arg)++;
    return 0;
}

static void *reader_main(void *arg)
{
    struct reader_arg *r = arg;
    hs_block b;
    while (!atomic_load(&r->stop)) {
        uint64_t n = 0;
        hs__registry_foreach(count_cb, &n, 0);
        (void)hs__registry_lookup(r->base + 8 * (r->walks % 4096), &b);
        r->walks++;
    }
    return NULL;
}

static void test_concurrent_mutation(void **state)
{
    (void)state;
    const uintptr_t base = 0x170000000000ull;
    uint64_t n0, b0, n1, b1;
    hs__registry_totals(&n0, &b0);
    struct worker w[THREADS];
    struct reader_arg r = {0, base, 0};
    pthread_t reader;
    assert_int_equal(pthread_create(&reader, NULL, reader_main, &r), 0);
    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.idx = i, .base = base};
        assert_int_equal(pthread_create(&w[i].t, NULL, worker_main, &w[i]), 0);
    }
    uint64_t live_n = 0, live_bytes = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(w[i].t, NULL);
        assert_int_equal(w[i].errors, 0);
        live_n += w[i].live_n;
        live_bytes += w[i].live_bytes;
    }
    atomic_store(&r.stop, 1);
    pthread_join(reader, NULL);
    hs__registry_totals(&n1, &b1);
    assert_int_equal(n1 - n0, live_n);
    assert_int_equal(b1 - b0, live_bytes);
    struct collect c = {base, base + SLOTS * 64, 0, 0};
    hs__registry_foreach(collect_cb, &c, 0);
    assert_int_equal(c.n, live_n);
    assert_int_equal(c.bytes, live_bytes);
    assert_true(r.walks > 0);
}

struct id_scan {
    uint32_t *ids;
    size_t n, cap;
};

static int id_scan_cb(const hs_block *b, void *arg)
{
    struct id_scan *s = arg;
    if (s->n < s->cap)
        s->ids[s->n] = b->id;
    s->n++;
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* HeapProfiler.disable: every live block gets a new id, the first ones
 * again, in the order of the old ids; the allocation count goes on. */
static void test_reset_ids(void **state)
{
    (void)state;
    const uintptr_t base = 0x180000000000ull;
    hs_block stale, b;
    /* Inserted out of id order, one of them huge (overflow table). */
    assert_int_equal(hs__registry_insert(base + 0x10, 8, 90001, 1, &stale), 0);
    assert_int_equal(hs__registry_insert(base + 0x20, 8, 70001, 1, &stale), 0);
    assert_int_equal(hs__registry_insert(base + 0x40, 5 * GiB, 80001, 1, &stale), 0);
    atomic_store(&hs__counters.seq, 50000);
    uint64_t allocs_before = hs__track_allocs();

    uint64_t n = hs__track_reset_ids();
    assert_true(n >= 3);
    assert_int_equal(atomic_load(&hs__counters.seq), n);
    assert_int_equal(hs__track_allocs(), allocs_before);

    struct id_scan sc = {calloc(n, sizeof(uint32_t)), 0, n};
    hs__registry_foreach(id_scan_cb, &sc, 0);
    assert_int_equal(sc.n, n);
    qsort(sc.ids, n, sizeof(uint32_t), cmp_id);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sc.ids[i], HS_FIRST_OBJECT_ID + 2 * i);
    free(sc.ids);

    /* Relative order kept: 70001 < 80001 < 90001. */
    uint32_t a, h, z;
    assert_int_equal(hs__registry_lookup(base + 0x20, &b), 1);
    a = b.id;
    assert_int_equal(hs__registry_lookup(base + 0x40, &b), 1);
    h = b.id;
    assert_int_equal(b.size, 5 * GiB);
    assert_int_equal(hs__registry_lookup(base + 0x10, &b), 1);
    z = b.id;
    assert_true(a < h && h < z);
    assert_int_equal(hs__registry_find_id(h, &b), 1);
    assert_int_equal(b.addr, base + 0x40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_lookup_remove),
        cmocka_unit_test(test_interior_across_windows),
        cmocka_unit_test(test_overflow_blocks),
        cmocka_unit_test(test_stale_replacement),
        cmocka_unit_test(test_dense_window),
        cmocka_unit_test(test_foreach_and_freeze),
        cmocka_unit_test(test_ids_and_realloc),
        cmocka_unit_test(test_concurrent_mutation),
        cmocka_unit_test(test_reset_ids), /* last: renumbers every block */
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
