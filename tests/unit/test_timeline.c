/*
 * test_timeline.c — the allocation timeline's fragment counters
 * (track/timeline.c) through the hooks' bookkeeping (track.c), linked without
 * the malloc hooks, with made-up block addresses as in test_registry.c.
 *
 * The invariant: once the threads are quiet, every fragment's count and bytes
 * equal those of the live blocks whose ids fall in its range, however the
 * allocations, frees and reallocs raced with the ticks that closed the
 * fragments. Also built with ThreadSanitizer.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent_int.h"

#define THREADS 4
#define SLOTS 4096
#define ROUNDS 60000
#define MAX_FRAGS 4096

static int setup(void **state)
{
    (void)state;
    hs__real.malloc = malloc;
    hs__real.calloc = calloc;
    hs__real.free = free;
    /* As the agent starts: threads give their stack buffers back as they
     * exit (LeakSanitizer, in the sanitizer tree, checks that they do). */
    hs__track_init();
    return 0;
}

struct worker {
    pthread_t t;
    uintptr_t base;
    unsigned seed;
};

/* Each thread owns SLOTS addresses: allocates, frees and reallocs (in place
 * and moving between its two halves) at random. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    static _Thread_local uint8_t live[SLOTS];
    memset(live, 0, sizeof(live));
    for (int r = 0; r < ROUNDS; r++) {
        unsigned i = (unsigned)rand_r(&w->seed) % SLOTS;
        void *p = (void *)(w->base + (uintptr_t)i * 64);
        size_t size = 1 + (unsigned)rand_r(&w->seed) % 48;
        if (!live[i]) {
            hs__track_alloc(p, size, 0, 0);
            live[i] = 1;
        } else if (r % 3 == 0) {
            unsigned j = (i + SLOTS / 2) % SLOTS;
            struct hs_realloc_ctx c;
            hs__track_realloc_begin(p, &c);
            if (live[j]) { /* in place */
                hs__track_realloc_end(&c, p, size, 0, 0, 0);
            } else { /* moves to slot j */
                hs__track_realloc_end(&c, (void *)(w->base + (uintptr_t)j * 64), size, 0, 0, 0);
                live[i] = 0;
                live[j] = 1;
            }
        } else {
            hs__track_free(p);
            live[i] = 0;
        }
    }
    return NULL;
}

struct tally {
    uint32_t ends[MAX_FRAGS]; /* end id of each closed fragment */
    uint32_t nclosed;
    int64_t count[MAX_FRAGS + 1], bytes[MAX_FRAGS + 1];
    uintptr_t lo, hi;
};

static int tally_cb(const hs_block *b, void *arg)
{
    struct tally *t = arg;
    if (b->addr < t->lo || b->addr >= t->hi)
        return 0;
    uint32_t k = 0;
    while (k < t->nclosed && b->id >= t->ends[k])
        k++;
    t->count[k]++;
    t->bytes[k] += (int64_t)b->size;
    return 0;
}

static void test_fragments_exact_under_races(void **state)
{
    (void)state;
    static struct tally t;
    memset(&t, 0, sizeof(t));
    const uintptr_t base = 0x180000000000ull;
    t.lo = base;
    t.hi = base + (uintptr_t)THREADS * SLOTS * 64 * 2;
    /* Blocks from before the start: fragment 0. */
    for (int i = 0; i < 100; i++)
        hs__track_alloc((void *)(base - 64 * (uintptr_t)(i + 1)), 8, 0, 0);
    assert_int_equal(hs__timeline_start(), 0);

    struct worker w[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.base = base + (uintptr_t)i * SLOTS * 64 * 2, .seed = 7 + i};
        assert_int_equal(pthread_create(&w[i].t, NULL, worker_main, &w[i]), 0);
    }
    /* Ticks while they run: as many as the threads take. */
    uint32_t closed, end;
    for (int k = 0; k < 200 && t.nclosed < MAX_FRAGS - 1; k++) {
        assert_int_equal(hs__timeline_close(&closed, &end), 0);
        assert_int_equal(closed, t.nclosed);
        t.ends[t.nclosed++] = end;
        for (volatile int spin = 0; spin < 20000; spin++)
            ;
    }
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(w[i].t, NULL);
    assert_int_equal(hs__timeline_close(&closed, &end), 0);
    t.ends[t.nclosed++] = end;

    /* The truth, from the registry; fragment 0 also holds the 100 old blocks. */
    t.lo = base - 64 * 100;
    hs__registry_foreach(tally_cb, &t, 0);
    assert_int_equal(t.count[0] >= 100, 1);
    int64_t total = 0;
    for (uint32_t k = 0; k < t.nclosed; k++) {
        int64_t count, bytes;
        hs__timeline_read(k, &count, &bytes);
        if (count != t.count[k])
            print_error("fragment %u of %u: %lld != %lld\n", k, t.nclosed, (long long)count,
                        (long long)t.count[k]);
        assert_int_equal(count, t.count[k]);
        assert_int_equal(bytes, t.bytes[k]);
        total += count;
    }
    assert_true(total > 100);
    assert_true(t.nclosed > 10);
    hs__timeline_stop();

    /* Stopped: the hooks no longer count. */
    int64_t c0, b0, c1, b1;
    hs__timeline_read(1, &c0, &b0);
    hs__track_free((void *)(base - 64));
    hs__timeline_read(1, &c1, &b1);
    assert_int_equal(c0, c1);
}

/* A restart counts afresh: fragment 0 = everything live now, later ones empty. */
static void test_restart(void **state)
{
    (void)state;
    uint64_t blocks, bytes;
    hs__registry_totals(&blocks, &bytes);
    assert_int_equal(hs__timeline_start(), 0);
    int64_t count, b;
    hs__timeline_read(0, &count, &b);
    assert_int_equal((uint64_t)count, blocks);
    assert_int_equal((uint64_t)b, bytes);
    uint32_t closed, end;
    assert_int_equal(hs__timeline_close(&closed, &end), 0);
    assert_int_equal(closed, 0);
    hs__track_alloc((void *)0x190000000000ull, 77, 0, 0);
    hs__timeline_read(1, &count, &b);
    assert_int_equal(count, 1);
    assert_int_equal(b, 77);
    hs__timeline_read(0, &count, &b);
    assert_int_equal((uint64_t)count, blocks);
    hs__track_free((void *)0x190000000000ull);
    hs__timeline_read(1, &count, &b);
    assert_int_equal(count, 0);
    hs__timeline_stop();
}

/* Stacks by id: a block allocated while they are on has one, kept under its
 * id, counted in its stack's totals; one from before has none; a stop
 * forgets them. */
static void test_stacks_by_id(void **state)
{
    (void)state;
    const uintptr_t a = 0x1a0000000000ull;
    hs__track_alloc((void *)a, 16, 0, 0);
    assert_int_equal(hs__timeline_start(), 0);
    assert_int_equal(hs__timeline_stacks_on(32), 0);
    assert_true(hs__timeline_stacks_active());
    hs__track_alloc((void *)(a + 64), 40, 0, 0);
    hs__track_alloc((void *)(a + 128), 24, 0, 0);
    hs_block old, b1, b2;
    assert_int_equal(hs__registry_lookup(a, &old), 1);
    assert_int_equal(hs__registry_lookup(a + 64, &b1), 1);
    assert_int_equal(hs__registry_lookup(a + 128, &b2), 1);
    assert_int_equal(hs__timeline_stack_of(old.id), 0);
    uint32_t s1 = hs__timeline_stack_of(b1.id);
    assert_true(s1 != 0);
    /* Same call site, same stack: interned once, counted twice. */
    uint64_t allocs, bytes;
    hs__stack_timeline_totals(s1, &allocs, &bytes);
    if (hs__timeline_stack_of(b2.id) == s1) {
        assert_int_equal(allocs, 2);
        assert_int_equal(bytes, 64);
    } else {
        assert_int_equal(allocs, 1);
        assert_int_equal(bytes, 40);
    }
    /* A free leaves the entry; nobody reads it for a dead block. */
    hs__track_free((void *)(a + 64));
    hs__timeline_stop();
    assert_false(hs__timeline_stacks_active());
    assert_int_equal(hs__timeline_stack_of(b2.id), 0);
    hs__track_free((void *)a);
    hs__track_free((void *)(a + 128));
}

/* Many threads allocating from one call site: one stack, every allocation
 * counted under it (most of them found in the thread's cache, no lock). */
struct same_site {
    pthread_t t;
    uintptr_t base;
};

static void *same_site_main(void *arg)
{
    struct same_site *w = arg;
    for (int i = 0; i < 1000; i++)
        hs__track_alloc((void *)(w->base + (uintptr_t)i * 64), 8, 0, 0);
    for (int i = 0; i < 1000; i++)
        hs__track_free((void *)(w->base + (uintptr_t)i * 64));
    return NULL;
}

static void test_stacks_one_site_many_threads(void **state)
{
    (void)state;
    assert_int_equal(hs__timeline_start(), 0);
    assert_int_equal(hs__timeline_stacks_on(32), 0);
    struct same_site w[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (struct same_site){.base = 0x1b0000000000ull + (uintptr_t)i * (1u << 20)};
        assert_int_equal(pthread_create(&w[i].t, NULL, same_site_main, &w[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(w[i].t, NULL);
    /* The loop's call: the stack with the most allocations, all of them. */
    uint64_t best = 0, best_bytes = 0, total = 0;
    for (uint32_t id = 1; id <= hs__sampler_stack_count(); id++) {
        uint64_t allocs, bytes;
        hs__stack_timeline_totals(id, &allocs, &bytes);
        total += allocs;
        if (allocs > best) {
            best = allocs;
            best_bytes = bytes;
        }
    }
    assert_int_equal(total, THREADS * 1000);
    assert_int_equal(best, THREADS * 1000);
    assert_int_equal(best_bytes, THREADS * 1000 * 8);
    hs__timeline_stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fragments_exact_under_races),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_stacks_by_id),
        cmocka_unit_test(test_stacks_one_site_many_threads),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
