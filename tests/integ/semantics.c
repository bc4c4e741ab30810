/*
 * semantics.c — prints, one line per case, the observable results of
 * malloc-family edge cases (NULL or not, errno, return codes, alignment and
 * size checks as booleans), so that a run under the heapscope agent can be
 * compared byte for byte with a plain run: an interposer must not change any
 * of them. It never prints an address. Single-threaded; exits 0 unless the C
 * library itself misbehaves in a way that makes a later case meaningless.
 *
 * Sizes and pointers go through volatile objects so that the compiler can
 * neither fold a call away nor assume an alignment the attributes promise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile size_t v_zero = 0;
static volatile size_t v_max = SIZE_MAX;
static volatile size_t v_half = SIZE_MAX / 2 + 1;
static void *volatile sink;

/* Hides p from the optimiser. */
static void *opaque(void *p)
{
    void *volatile v = p;
    return v;
}

static uintptr_t addr(void *p)
{
    return (uintptr_t)opaque(p);
}

static const char *errname(int e)
{
    static char buf[32];
    switch (e) {
    case 0:
        return "0";
    case ENOMEM:
        return "ENOMEM";
    case EINVAL:
        return "EINVAL";
    case 1234:
        return "unchanged(1234)";
    default:
        snprintf(buf, sizeof buf, "errno%d", e);
        return buf;
    }
}

static int all_bytes(const void *p, size_t n, unsigned char v)
{
    const unsigned char *c = opaque((void *)p);
    for (size_t i = 0; i < n; i++)
        if (c[i] != v)
            return 0;
    return 1;
}

static void fail(const char *what)
{
    fprintf(stderr, "semantics: %s\n", what);
    exit(2);
}

/* Allocates and writes n bytes, or fails: later cases need a real block. */
static void *must_malloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        fail("malloc of a small block failed");
    memset(p, 0x5a, n);
    return opaque(p);
}

static void case_malloc(void)
{
    void *p = malloc(v_zero);
    printf("malloc(0): nonnull=%d\n", p != NULL);
    free(p);

    errno = 1234;
    p = malloc(v_max);
    printf("malloc(SIZE_MAX): null=%d errno=%s\n", p == NULL, errname(errno));
    free(p);

    errno = 1234;
    p = malloc(v_half);
    printf("malloc(SIZE_MAX/2+1): null=%d errno=%s\n", p == NULL, errname(errno));
    free(p);

    errno = 1234;
    p = malloc(100);
    int e1 = errno;
    free(p);
    printf("malloc(100)+free: nonnull=%d errno_after_malloc=%s errno_after_free=%s\n", p != NULL,
           errname(e1), errname(errno));

    errno = 1234;
    free(NULL);
    printf("free(NULL): errno=%s\n", errname(errno));

    /* Big enough for the C library to mmap it. */
    errno = 1234;
    p = malloc(8u << 20);
    e1 = errno;
    if (p)
        memset(p, 1, 8u << 20);
    free(p);
    printf("malloc(8MiB)+free: nonnull=%d errno_after_malloc=%s errno_after_free=%s\n", p != NULL,
           errname(e1), errname(errno));
}

static void case_calloc(void)
{
    errno = 1234;
    void *p = calloc(v_half, 4);
    printf("calloc(SIZE_MAX/2+1,4): null=%d errno=%s\n", p == NULL, errname(errno));
    free(p);

    errno = 1234;
    p = calloc(4, v_half);
    printf("calloc(4,SIZE_MAX/2+1): null=%d errno=%s\n", p == NULL, errname(errno));
    free(p);

    errno = 1234;
    p = calloc(v_max, v_max);
    printf("calloc(SIZE_MAX,SIZE_MAX): null=%d errno=%s\n", p == NULL, errname(errno));
    free(p);

    p = calloc(0, 5);
    printf("calloc(0,5): nonnull=%d\n", p != NULL);
    free(p);

    /* Dirty a block, free it, and ask for one of the same size again: the
     * memory is likely reused and must still come back zeroed. */
    static const size_t sizes[] = {1, 24, 1000, 4096, 70000, 300000, 5u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *d = must_malloc(n);
        memset(d, 0xa5, n);
        free(d);
        errno = 1234;
        p = calloc(1, n);
        int e = errno;
        printf("calloc(1,%zu) after dirty free: nonnull=%d zeroed=%d errno=%s\n", n, p != NULL,
               p && all_bytes(p, n, 0), errname(e));
        free(p);
        p = calloc(n, 3);
        printf("calloc(%zu,3): nonnull=%d zeroed=%d\n", n, p != NULL, p && all_bytes(p, n * 3, 0));
        free(p);
    }
}

static void case_realloc(void)
{
    errno = 1234;
    unsigned char *p = realloc(NULL, 40);
    printf("realloc(NULL,40): nonnull=%d errno=%s\n", p != NULL, errname(errno));
    if (!p)
        fail("realloc(NULL,40) failed");
    for (int i = 0; i < 40; i++)
        p[i] = (unsigned char)i;

    int ok = 1;
    static const size_t steps[] = {100, 5000, 200000, 3u << 20, 64, 10, 300, 17};
    size_t prev = 40, valid = 40; /* valid: prefix still holding 0,1,2,... */
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        size_t n = steps[s];
        errno = 1234;
        unsigned char *q = realloc(p, n);
        if (!q)
            fail("realloc to a small or medium size failed");
        if (errno != 1234)
            ok = 0;
        if (n < valid)
            valid = n;
        for (size_t i = 0; i < valid; i++)
            if (q[i] != (unsigned char)i)
                ok = 0;
        if (n > prev)
            memset(q + prev, 0x77, n - prev);
        prev = n;
        p = q;
    }
    printf("realloc chain grow/shrink: contents_kept_and_errno_unchanged=%d\n", ok);

    unsigned char *old = opaque(p); /* read only if realloc failed */
    errno = 1234;
    unsigned char *q = realloc(p, v_max);
    int e = errno;
    int intact = q == NULL;
    for (size_t i = 0; !q && i < valid; i++)
        if (old[i] != (unsigned char)i)
            intact = 0;
    printf("realloc(p,SIZE_MAX): null=%d errno=%s old_block_intact=%d\n", q == NULL, errname(e),
           intact);
    if (q)
        p = q;

    errno = 1234;
    q = realloc(p, 0);
    printf("realloc(p,0): null=%d errno=%s\n", q == NULL, errname(errno));
    free(q); /* NULL if realloc released p */

    errno = 1234;
    q = realloc(NULL, 0);
    printf("realloc(NULL,0): nonnull=%d errno=%s\n", q != NULL, errname(errno));
    free(q);
}

static void case_reallocarray(void)
{
    unsigned char *p = reallocarray(NULL, 10, 8);
    printf("reallocarray(NULL,10,8): nonnull=%d\n", p != NULL);
    if (!p)
        fail("reallocarray(NULL,10,8) failed");
    for (int i = 0; i < 80; i++)
        p[i] = (unsigned char)(i * 3);

    /* old: the same pointer, hidden from -Wuse-after-free (read only when
     * reallocarray failed and so left the block alone). */
    unsigned char *old = opaque(p);
    errno = 1234;
    unsigned char *q = reallocarray(p, v_half, 2);
    int intact = 1;
    for (int i = 0; !q && i < 80; i++)
        if (old[i] != (unsigned char)(i * 3))
            intact = 0;
    printf("reallocarray(p,SIZE_MAX/2+1,2): null=%d errno=%s old_block_intact=%d\n", q == NULL,
           errname(errno), q == NULL && intact);
    if (q)
        p = q;

    errno = 1234;
    q = reallocarray(p, 20, 50);
    intact = q != NULL;
    for (int i = 0; q && i < 80; i++)
        if (q[i] != (unsigned char)(i * 3))
            intact = 0;
    printf("reallocarray(p,20,50): nonnull=%d errno=%s contents_kept=%d\n", q != NULL,
           errname(errno), intact);
    if (q)
        p = q;

    errno = 1234;
    q = reallocarray(p, 0, 50);
    printf("reallocarray(p,0,50): null=%d errno=%s\n", q == NULL, errname(errno));
    free(q);
}

static void case_posix_memalign(void)
{
    static const size_t bad[] = {3, 0, sizeof(void *) / 2, 24, sizeof(void *) + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *p = &p; /* a marker: is the out pointer left alone on failure? */
        errno = 1234;
        int rc = posix_memalign(&p, bad[i], 64);
        printf("posix_memalign(align=%zu): rc=%s errno=%s out_untouched=%d\n", bad[i], errname(rc),
               errname(errno), p == (void *)&p);
        if (rc == 0)
            free(p);
    }

    {
        void *p = &p;
        errno = 1234;
        int rc = posix_memalign(&p, 64, v_max);
        printf("posix_memalign(64,SIZE_MAX): rc=%s errno=%s out_untouched=%d\n", errname(rc),
               errname(errno), p == (void *)&p);
        if (rc == 0)
            free(p);
    }
    {
        void *p = &p;
        errno = 1234;
        int rc = posix_memalign(&p, v_half, 64);
        printf("posix_memalign(SIZE_MAX/2+1,64): rc=%s errno=%s\n", errname(rc), errname(errno));
        if (rc == 0)
            free(p);
    }

    for (size_t a = sizeof(void *); a <= (1u << 20); a *= 4) {
        void *p = NULL;
        errno = 1234;
        int rc = posix_memalign(&p, a, 100);
        int aligned = rc == 0 && addr(p) % a == 0;
        if (rc == 0)
            memset(p, 0x11, 100);
        printf("posix_memalign(%zu,100): rc=%s aligned=%d usable_ge_n=%d errno=%s\n", a,
               errname(rc), aligned, rc == 0 && malloc_usable_size(p) >= 100, errname(errno));
        if (rc == 0)
            free(p);
    }
}

static void case_aligned_alloc(void)
{
    static const size_t bad[] = {0, 3, 24};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 1234;
        void *p = aligned_alloc(bad[i], 48);
        printf("aligned_alloc(%zu,48): null=%d errno=%s\n", bad[i], p == NULL, errname(errno));
        if (p)
            memset(p, 0x22, 48);
        free(p);
    }
    errno = 1234;
    void *p = aligned_alloc(64, v_max & ~(size_t)63);
    printf("aligned_alloc(64,huge): null=%d errno=%s\n", p == NULL, errname(errno));
    free(p);

    for (size_t a = sizeof(void *); a <= (1u << 16); a *= 2) {
        errno = 1234;
        p = aligned_alloc(a, 2 * a);
        printf("aligned_alloc(%zu,%zu): nonnull=%d aligned=%d usable_ge_n=%d errno=%s\n", a, 2 * a,
               p != NULL, p && addr(p) % a == 0, p && malloc_usable_size(p) >= 2 * a,
               errname(errno));
        if (p)
            memset(p, 0x33, 2 * a);
        free(p);
    }
}

static void case_memalign_valloc(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    for (size_t a = 1; a <= (1u << 16); a *= 2) {
        errno = 1234;
        void *p = memalign(a, 77);
        printf("memalign(%zu,77): nonnull=%d aligned=%d usable_ge_n=%d errno=%s\n", a, p != NULL,
               p && addr(p) % a == 0, p && malloc_usable_size(p) >= 77, errname(errno));
        if (p)
            memset(p, 0x44, 77);
        free(p);
    }
    static const size_t odd[] = {0, 3, 24, 1000};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        errno = 1234;
        void *p = memalign(odd[i], 50);
        size_t np2 = 16;
        while (np2 < odd[i])
            np2 *= 2;
        printf("memalign(%zu,50): nonnull=%d aligned_to_%zu=%d errno=%s\n", odd[i], p != NULL, np2,
               p && addr(p) % np2 == 0, errname(errno));
        free(p);
    }
    errno = 1234;
    void *p = memalign(v_half, 16);
    printf("memalign(SIZE_MAX/2+1,16): null=%d errno=%s\n", p == NULL, errname(errno));
    free(p);
    errno = 1234;
    p = memalign(16, v_max);
    printf("memalign(16,SIZE_MAX): null=%d errno=%s\n", p == NULL, errname(errno));
    free(p);

    static const size_t vs[] = {0, 1, 100, 4096, 5000, 200000};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        size_t n = vs[i];
        errno = 1234;
        p = valloc(n);
        printf("valloc(%zu): nonnull=%d page_aligned=%d usable_ge_n=%d errno=%s\n", n, p != NULL,
               p && addr(p) % page == 0, p && malloc_usable_size(p) >= n, errname(errno));
        if (p)
            memset(p, 0x55, n);
        free(p);

        errno = 1234;
        p = pvalloc(n);
        size_t rounded = (n + page - 1) / page * page; /* 0 stays 0 */
        printf("pvalloc(%zu): nonnull=%d page_aligned=%d usable_ge_rounded=%d errno=%s\n", n,
               p != NULL, p && addr(p) % page == 0, p && malloc_usable_size(p) >= rounded,
               errname(errno));
        if (p)
            memset(p, 0x66, rounded);
        free(p);
    }
    errno = 1234;
    p = valloc(v_max);
    printf("valloc(SIZE_MAX): null=%d errno=%s\n", p == NULL, errname(errno));
    free(p);
    errno = 1234;
    p = pvalloc(v_max);
    printf("pvalloc(SIZE_MAX): null=%d errno=%s\n", p == NULL, errname(errno));
    free(p);
}

static void case_usable_size(void)
{
    static const size_t sizes[] = {0,    1,    7,    8,     15,     16,       24,      100,
                                   1000, 4095, 4096, 65536, 131072, 1u << 20, 9u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p = malloc(n);
        int ok = p && malloc_usable_size(p) >= n;
        if (p)
            memset(p, 0x12, malloc_usable_size(p)); /* all of it is usable */
        void *c = calloc(n, 1);
        int okc = c && malloc_usable_size(c) >= n;
        void *r = realloc(p, n + 33);
        int okr = r && malloc_usable_size(r) >= n + 33;
        printf("malloc_usable_size(n=%zu): malloc_ge=%d calloc_ge=%d realloc_ge=%d\n", n, ok, okc,
               okr);
        free(c);
        free(r ? r : p);
    }
    errno = 1234;
    size_t z = malloc_usable_size(opaque(NULL));
    printf("malloc_usable_size(NULL): zero=%d errno=%s\n", z == 0, errname(errno));
}

static void case_errno_success(void)
{
    int e[8];
    int k = 0;
    void *p, *q;
    errno = 1234;
    p = malloc(10);
    e[k++] = errno;
    q = calloc(3, 3);
    e[k++] = errno;
    p = realloc(p, 1000);
    e[k++] = errno;
    free(q);
    e[k++] = errno;
    if (posix_memalign(&q, 256, 10) == 0)
        free(q);
    e[k++] = errno;
    q = aligned_alloc(32, 64);
    free(q);
    e[k++] = errno;
    free(p);
    e[k++] = errno;
    sink = NULL;
    printf("errno across successful calls:");
    for (int i = 0; i < k; i++)
        printf(" %s", errname(e[i]));
    printf("\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    case_malloc();
    case_calloc();
    case_realloc();
    case_reallocarray();
    case_posix_memalign();
    case_aligned_alloc();
    case_memalign_valloc();
    case_usable_size();
    case_errno_success();
    /* Two blocks left live on purpose (checked against the summary). */
    sink = must_malloc(1111);
    sink = must_malloc(2222);
    printf("deliberately-live blocks=2 bytes=3333\n");
    return fflush(stdout) == 0 ? 0 : 1;
}
