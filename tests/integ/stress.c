/*
 * stress.c — a multi-threaded allocation stress test for the heapscope agent:
 * 8 pthreads make 10 million malloc/calloc/free/realloc calls in total with
 * random sizes (mostly 1..512 bytes, some up to 64 KiB, occasionally 1 MiB),
 * each thread on its own array of slots, driven by a xorshift generator with
 * a fixed seed, so that every thread's sequence of calls, and therefore the
 * totals printed, are the same on every run whatever the scheduling. Each
 * block carries a tag in its first and last byte that is checked before the
 * block is released or resized. At the end each thread frees all its blocks
 * but a deterministic subset, which stays live until exit; the last line,
 * "deliberately-live blocks=N bytes=M", gives their number and size.
 * Exit 0 on success, 1 with a message on stderr on any failed check.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTHREADS 8
#define TOTAL_OPS 10000000L
#define NSLOTS 4096
#define KEEP_EVERY 61 /* slots kept live at the end: index % KEEP_EVERY == 0 */

struct worker {
    pthread_t th;
    unsigned id;
    uint64_t seed;
    long ops;
    /* results */
    uint64_t mallocs, callocs, frees, reallocs, checksum;
    uint64_t kept_blocks, kept_bytes;
    int failed;
    unsigned char *slot[NSLOTS];
    size_t len[NSLOTS];
};

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static size_t pick_size(uint64_t *s)
{
    uint64_t r = xorshift(s);
    unsigned cls = (unsigned)(r % 10000);
    r >>= 16;
    if (cls == 0)
        return (1u << 20) + (size_t)(r % 4096); /* about 1 MiB: 0.01 % */
    if (cls < 500)
        return 513 + (size_t)(r % (65536 - 512)); /* up to 64 KiB: 5 % */
    return 1 + (size_t)(r % 512);
}

static unsigned char tag_of(size_t n, unsigned id)
{
    return (unsigned char)(n * 131u + id * 7u + 1u);
}

static void put_tags(unsigned char *p, size_t n, unsigned id)
{
    p[0] = tag_of(n, id);
    p[n - 1] = tag_of(n, id);
}

static int check_tags(const unsigned char *p, size_t n, unsigned id)
{
    return p[0] == tag_of(n, id) && p[n - 1] == tag_of(n, id);
}

static void fail(struct worker *w, const char *what, size_t n)
{
    if (!w->failed)
        fprintf(stderr, "stress: thread %u: %s (size %zu)\n", w->id, what, n);
    w->failed = 1;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    uint64_t s = w->seed;
    for (long i = 0; i < w->ops; i++) {
        uint64_t r = xorshift(&s);
        unsigned k = (unsigned)(r % NSLOTS);
        unsigned what = (unsigned)((r >> 20) % 100);
        unsigned char *p = w->slot[k];
        if (!p) {
            size_t n = pick_size(&s);
            if (what < 10) {
                p = calloc(1, n);
                w->callocs++;
                if (p && (p[0] != 0 || p[n - 1] != 0))
                    fail(w, "calloc block not zeroed", n);
            } else {
                p = malloc(n);
                w->mallocs++;
            }
            if (!p) {
                fail(w, "allocation failed", n);
                continue;
            }
            put_tags(p, n, w->id);
            w->slot[k] = p;
            w->len[k] = n;
        } else if (what < 55) {
            if (!check_tags(p, w->len[k], w->id))
                fail(w, "block corrupted before free", w->len[k]);
            w->checksum += w->len[k];
            free(p);
            w->frees++;
            w->slot[k] = NULL;
        } else {
            size_t old = w->len[k];
            size_t n = pick_size(&s);
            if (!check_tags(p, old, w->id))
                fail(w, "block corrupted before realloc", old);
            unsigned char first = p[0];
            unsigned char *q = realloc(p, n);
            w->reallocs++;
            if (!q) {
                fail(w, "realloc failed", n);
                continue;
            }
            if (q[0] != first)
                fail(w, "realloc lost the first byte", n);
            w->checksum += n ^ old;
            put_tags(q, n, w->id);
            w->slot[k] = q;
            w->len[k] = n;
        }
    }
    for (unsigned k = 0; k < NSLOTS; k++) {
        if (!w->slot[k])
            continue;
        if (!check_tags(w->slot[k], w->len[k], w->id))
            fail(w, "block corrupted at the end", w->len[k]);
        if (k % KEEP_EVERY == 0) {
            w->kept_blocks++;
            w->kept_bytes += w->len[k];
        } else {
            free(w->slot[k]);
            w->slot[k] = NULL;
        }
    }
    return NULL;
}

int main(void)
{
    static struct worker w[NTHREADS];
    for (unsigned t = 0; t < NTHREADS; t++) {
        w[t].id = t;
        w[t].seed = 0x243F6A8885A308D3ull ^ ((uint64_t)(t + 1) * 0x9E3779B97F4A7C15ull);
        w[t].ops = TOTAL_OPS / NTHREADS;
    }
    for (unsigned t = 0; t < NTHREADS; t++) {
        int rc = pthread_create(&w[t].th, NULL, run, &w[t]);
        if (rc != 0) {
            fprintf(stderr, "stress: pthread_create: %s\n", strerror(rc));
            return 1;
        }
    }
    uint64_t ops = 0, mallocs = 0, callocs = 0, frees = 0, reallocs = 0, sum = 0;
    uint64_t kept = 0, kept_bytes = 0;
    int failed = 0;
    for (unsigned t = 0; t < NTHREADS; t++) {
        pthread_join(w[t].th, NULL);
        ops += (uint64_t)w[t].ops;
        mallocs += w[t].mallocs;
        callocs += w[t].callocs;
        frees += w[t].frees;
        reallocs += w[t].reallocs;
        sum += w[t].checksum;
        kept += w[t].kept_blocks;
        kept_bytes += w[t].kept_bytes;
        failed |= w[t].failed;
    }
    if (mallocs + callocs + frees + reallocs != ops) {
        fprintf(stderr, "stress: %" PRIu64 " calls made, %" PRIu64 " planned\n",
                mallocs + callocs + frees + reallocs, ops);
        failed = 1;
    }
    printf("stress: threads=%d ops=%" PRIu64 " malloc=%" PRIu64 " calloc=%" PRIu64 " free=%" PRIu64
           " realloc=%" PRIu64 " checksum=%" PRIu64 "\n",
           NTHREADS, ops, mallocs, callocs, frees, reallocs, sum);
    printf("deliberately-live blocks=%" PRIu64 " bytes=%" PRIu64 "\n", kept, kept_bytes);
    return failed ? 1 : 0;
}
