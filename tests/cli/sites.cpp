/*
 * sites.cpp — end-to-end checks of allocation sites and object ids, through
 * the public hs_agent_block_info(): a block is charged to the first frame
 * outside the allocator and known wrappers (an exported xmalloc, a two-level
 * xcalloc -> xmalloc chain, libc's strdup, C++ operator new), consecutive
 * allocations get consecutive odd ids, and a moving realloc keeps id and
 * site. Built with -rdynamic so that dladdr names our functions.
 *
 * usage: test_sites wrappers|nowrappers   (the second runs with
 * HEAPSCOPE_WRAPPERS= and expects blocks charged to the wrappers themselves)
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapscope/hs_agent.h"

#define BARRIER() __asm__ volatile("" ::: "memory") /* no tail calls */

extern "C" {
__attribute__((noinline)) void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

__attribute__((noinline)) void *xcalloc(size_t n, size_t m)
{
    void *p = xmalloc(n * m);
    memset(p, 0, n * m);
    return p;
}

__attribute__((noinline)) void *alloc_via_xmalloc(void)
{
    void *p = xmalloc(40);
    BARRIER();
    return p;
}

__attribute__((noinline)) void *alloc_via_xcalloc(void)
{
    void *p = xcalloc(4, 10);
    BARRIER();
    return p;
}

__attribute__((noinline)) char *alloc_via_strdup(void)
{
    char *p = strdup("heapscope");
    BARRIER();
    return p;
}

__attribute__((noinline)) void *alloc_direct(void)
{
    void *p = malloc(24);
    BARRIER();
    return p;
}

struct Widget {
    long a[5];
};

__attribute__((noinline)) Widget *alloc_via_new(void)
{
    Widget *w = new Widget();
    BARRIER();
    return w;
}
}

static int failures;

static const char *site_name(const void *p)
{
    hs_agent_block b;
    if (hs_agent_block_info(p, &b) != HS_OK)
        return "<not found>";
    Dl_info info;
    if (!b.site || !dladdr((void *)(b.site - 1), &info) || !info.dli_sname)
        return "<unknown>";
    return info.dli_sname;
}

static void expect_site(const void *p, const char *want)
{
    const char *got = site_name(p);
    /* glibc's strdup is an alias of __strdup; dladdr may name either. */
    if (!strncmp(got, "__", 2) && !strcmp(got + 2, want))
        got = want;
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "sites: block charged to %s, expected %s\n", got, want);
        failures++;
    }
}

static void expect(bool cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "sites: check failed: %s\n", what);
        failures++;
    }
}

int main(int argc, char **argv)
{
    bool wrappers = argc > 1 && !strcmp(argv[1], "wrappers");
    hs_agent_start();

    void *a = alloc_via_xmalloc();
    void *b = alloc_via_xcalloc();
    char *c = alloc_via_strdup();
    void *d = alloc_direct();
    Widget *w = alloc_via_new();

    expect_site(d, "alloc_direct");
    expect_site(w, "alloc_via_new"); /* operator new passes its caller down */
    if (wrappers) {
        expect_site(a, "alloc_via_xmalloc");
        expect_site(b, "alloc_via_xcalloc");
        expect_site(c, "alloc_via_strdup");
    } else {
        expect_site(a, "xmalloc");
        expect_site(b, "xmalloc");
        expect_site(c, "strdup");
    }

    /* Ids: odd, consecutive in allocation order. */
    void *p1 = malloc(8), *p2 = malloc(8), *p3 = malloc(8);
    hs_agent_block i1, i2, i3, moved;
    expect(hs_agent_block_info(p1, &i1) == HS_OK, "p1 found");
    expect(hs_agent_block_info(p2, &i2) == HS_OK, "p2 found");
    expect(hs_agent_block_info(p3, &i3) == HS_OK, "p3 found");
    expect(i1.id % 2 == 1, "ids are odd");
    expect(i2.id == i1.id + 2 && i3.id == i2.id + 2, "ids step by 2 in allocation order");
    expect(i1.size == 8 && i1.start == (uintptr_t)p1, "size and start recorded");

    /* Interior pointers find their block; a moving realloc keeps the id. */
    hs_agent_block in;
    expect(hs_agent_block_info((char *)a + 39, &in) == HS_OK && in.start == (uintptr_t)a,
           "interior lookup");
    void *q = realloc(p2, 1 << 20);
    expect(q != p2, "a 1 MiB realloc moves the block");
    expect(hs_agent_block_info(q, &moved) == HS_OK, "moved block found");
    expect(moved.id == i2.id && moved.site == i2.site && moved.size == (1 << 20),
           "realloc keeps id and site");
    volatile uintptr_t p1_addr = (uintptr_t)p1; /* only the address is looked up */
    free(p1);
    expect(hs_agent_block_info((void *)p1_addr, &in) == HS_E_NOTFOUND, "freed block gone");
    expect(hs_agent_block_info(q, NULL) == HS_E_INVAL, "NULL out refused");

    free(a);
    free(b);
    free(c);
    free(d);
    delete w;
    free(q);
    free(p3);
    printf("sites (%s): %d failures\n", wrappers ? "wrappers" : "no wrappers", failures);
    return failures != 0;
}
