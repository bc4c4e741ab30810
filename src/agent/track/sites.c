/*
 * sites.c — allocation sites. A site is the return address of the first frame
 * outside the allocator and its known wrappers; its id is its index in one
 * fixed, insert-only, lock-free hash table keyed by return address, so ids are
 * stable for the life of the process and the hot path is one hashed load.
 *
 * Every return address seen is classified once, with dladdr1(): if the
 * dynamic symbol that contains it matches the wrapper patterns (operator new,
 * xmalloc, g_malloc, jv_mem_alloc, ...), blocks allocated there are charged to
 * the first caller outside the wrappers, found with libunwind. Classification
 * needs the dynamic loader and so only starts once the agent is initialised;
 * until then every return address is its own site.
 *
 * Not here: names, files and lines (symbolisation happens later, off the
 * allocation path, on the service thread), the registry (registry.c).
 */
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "../agent_int.h"
#include "heapscope/hs_err.h"

#define TABLE_LOG2 19 /* matches the 19 site bits of a registry slot */
#define TABLE_CAP (1u << TABLE_LOG2)
#define TABLE_MAX_FILL (TABLE_CAP / 2)
#define MAX_PROBES 256
#define MAX_UNWIND 64

enum { ST_PENDING = 0, ST_SITE = 1, ST_WRAPPER = 2 };

struct site_slot {
    _Atomic uintptr_t ra;
    _Atomic uint32_t state;
    _Atomic uint32_t frame; /* wrappers only: rule to step out (frames.c) */
};

/* 8 MiB of zero pages in .bss; only the touched ones become resident. */
static struct site_slot table[TABLE_CAP];
static _Atomic uint32_t used;
static _Atomic int classify_on;
static int unwind_depth;

/* Wrapper patterns: NUL-separated in a fixed buffer, no allocation. */
#define PAT_BUF 4096
#define PAT_MAX 128
static char pat_buf[PAT_BUF];
static const char *pats[PAT_MAX];
static int npats;

const char hs__default_wrappers[] =
    "_Znwm*,_Znam*,_Znwj*,_Znaj*,"              /* operator new, new[] */
    "strdup,strndup,__strdup,__strndup,wcsdup," /* libc duplicators */
    "xmalloc,xcalloc,xrealloc,xzalloc,xstrdup,xstrndup,xmemdup,xnmalloc,x2nrealloc,"
    "g_malloc*,g_try_malloc*,g_realloc*,g_try_realloc*,g_strdup*,g_strndup,g_memdup*,"
    "jv_mem_*,"                                                 /* jq */
    "PyMem_*,PyObject_Malloc,PyObject_Calloc,PyObject_Realloc," /* CPython */
    "sqlite3_malloc*,sqlite3_realloc*";

static int glob_match(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '?' || *p == *s) {
            p++;
            s++;
        } else if (*p == '*') {
            star = p++;
            resume = s;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

int hs__sites_is_wrapper_name(const char *name)
{
    for (int i = 0; i < npats; i++)
        if (glob_match(pats[i], name))
            return 1;
    return 0;
}

static int add_patterns(const char *spec, size_t *off)
{
    const char *s = spec;
    while (*s) {
        size_t len = strcspn(s, ", ");
        if (len) {
            if (npats == PAT_MAX || *off + len + 1 > PAT_BUF)
                return HS_E_INVAL;
            memcpy(pat_buf + *off, s, len);
            pat_buf[*off + len] = '\0';
            pats[npats++] = pat_buf + *off;
            *off += len + 1;
        }
        s += len;
        while (*s == ',' || *s == ' ')
            s++;
    }
    return npats;
}

int hs__sites_set_wrappers(const char *spec)
{
    size_t off = 0;
    npats = 0;
    if (!spec)
        spec = "+";
    if (*spec == '+') {
        int rc = add_patterns(hs__default_wrappers, &off);
        if (rc < 0)
            return rc;
        spec++;
    }
    return add_patterns(spec, &off);
}

void hs__sites_enable(int classify, int depth)
{
    unwind_depth = depth < 0 ? 0 : depth > MAX_UNWIND ? MAX_UNWIND : depth;
    atomic_store_explicit(&classify_on, classify, memory_order_release);
}

/* Whether the function that contains ra-1 (the call instruction) is a
 * wrapper. Only exported symbols are seen: dladdr reads .dynsym. */
static int classify(uintptr_t ra)
{
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!dladdr1((void *)(ra - 1), &info, (void **)&sym, RTLD_DL_SYMENT))
        return ST_SITE;
    if (!info.dli_sname || !sym || !info.dli_saddr)
        return ST_SITE;
    /* dladdr gives the nearest symbol below; make sure it contains ra. */
    if (ra - 1 - (uintptr_t)info.dli_saddr >= sym->st_size)
        return ST_SITE;
    return hs__sites_is_wrapper_name(info.dli_sname) ? ST_WRAPPER : ST_SITE;
}

static int state_of(struct site_slot *s, uintptr_t ra)
{
    uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
    if (HS_LIKELY(st != ST_PENDING))
        return (int)st;
    if (!atomic_load_explicit(&classify_on, memory_order_acquire))
        return ST_SITE; /* decided later, once dladdr may be called */
    uint32_t want = (uint32_t)classify(ra), expect = ST_PENDING;
    atomic_compare_exchange_strong_explicit(&s->state, &expect, want, memory_order_release,
                                            memory_order_acquire);
    return (int)want;
}

static inline uint32_t hash_ra(uintptr_t ra)
{
    uint64_t h = (uint64_t)ra * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> (64 - TABLE_LOG2));
}

/* The slot (= site id) for ra, inserting it if new; 0 when the table is full.
 * *state receives ST_SITE or ST_WRAPPER. */
static uint32_t slot_for(uintptr_t ra, int *state)
{
    uint32_t i = hash_ra(ra);
    for (unsigned probes = 0; probes < MAX_PROBES;) {
        if (i == 0)
            i = 1; /* id 0 means "unknown site" */
        struct site_slot *s = &table[i];
        uintptr_t k = atomic_load_explicit(&s->ra, memory_order_acquire);
        if (HS_LIKELY(k == ra)) {
            *state = state_of(s, ra);
            return i;
        }
        if (k == 0) {
            if (atomic_load_explicit(&used, memory_order_relaxed) >= TABLE_MAX_FILL)
                break;
            uintptr_t expect = 0;
            if (atomic_compare_exchange_strong_explicit(&s->ra, &expect, ra, memory_order_acq_rel,
                                                        memory_order_acquire)) {
                atomic_fetch_add_explicit(&used, 1, memory_order_relaxed);
                *state = state_of(s, ra);
                return i;
            }
            if (expect == ra)
                continue; /* another thread inserted ra here just now */
        }
        i = (i + 1) & (TABLE_CAP - 1);
        probes++;
    }
    *state = ST_SITE;
    return 0;
}

static uint32_t resolve_past_wrappers(uintptr_t ra, uint32_t fallback)
{
    void *frames[MAX_UNWIND + 8];
    int n = unw_backtrace(frames, unwind_depth + 8);
    int i = 0;
    /* Our own frames come first; find the allocating call's frame. */
    while (i < n && (uintptr_t)frames[i] != ra)
        i++;
    for (i++; i < n; i++) {
        int st;
        uint32_t id = slot_for((uintptr_t)frames[i], &st);
        if (st != ST_WRAPPER)
            return id ? id : fallback;
    }
    return fallback; /* only wrappers within reach: charge the innermost */
}

static inline uint32_t frame_rule(uint32_t id, uintptr_t ra)
{
    uint32_t r = atomic_load_explicit(&table[id].frame, memory_order_acquire);
    if (HS_UNLIKELY(r == 0)) {
        r = hs__frames_rule(ra);
        atomic_store_explicit(&table[id].frame, r, memory_order_release);
    }
    return r;
}

uint32_t hs__site_resolve(uintptr_t ra, uintptr_t sp)
{
    int st;
    uint32_t id = slot_for(ra, &st);
    if (HS_LIKELY(st != ST_WRAPPER) || unwind_depth == 0 || id == 0)
        return id;
    /* Step out of wrapper frames with their cached CFI rules: one load per
     * frame. Any frame without a simple rule hands over to libunwind. */
    uint32_t cur = id;
    for (int depth = 0; depth < unwind_depth; depth++) {
        uint32_t r = frame_rule(cur, ra);
        if (!(r & HS_FRAME_KNOWN) || sp == 0)
            return resolve_past_wrappers(ra, id);
        uintptr_t cfa = sp + HS_FRAME_CFA_OFF(r);
        ra = *(const uintptr_t *)(cfa - HS_FRAME_RA_OFF(r));
        sp = cfa;
        cur = slot_for(ra, &st);
        if (st != ST_WRAPPER || cur == 0)
            return cur ? cur : id;
    }
    return id;
}

uintptr_t hs__site_addr(uint32_t site)
{
    if (site == 0 || site >= TABLE_CAP)
        return 0;
    return atomic_load_explicit(&table[site].ra, memory_order_acquire);
}

uint32_t hs__site_capacity(void)
{
    return TABLE_CAP;
}

uint64_t hs__site_count(void)
{
    return atomic_load_explicit(&used, memory_order_relaxed);
}
