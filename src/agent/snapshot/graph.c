/*
 * graph.c — the forked child's work: the heap as a graph, found by a
 * conservative scan of the image of the instant of the capture, written as
 * a .heapsnapshot (docs/design/snapshot.md; format: spec §4.1).
 *
 *   1. the registry's blocks, sorted by address (radix sort);
 *   2. an index of 64 KiB windows, so that any word can be tested for
 *      pointing into (the start or the inside of) a live block;
 *   3. the roots: module globals, thread stacks and registers, TLS — one
 *      synthetic group each — and every block, scanned word by word;
 *   4. reachability from the roots; what is not reached is leaked;
 *   5. the JSON, in V8's framing.
 *
 * Runs in the child only: memory from mmap (hs_vec), output with write().
 */
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../agent_int.h"
#include "heapscope/hs_err.h"
#include "snapshot_int.h"

/* HEAPSCOPE_VERBOSE=1: the child says when each phase ended (stderr, with
 * write(): no stdio here). */
static uint64_t phase_t0;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void phase(const char *what)
{
    if (!hs__config.verbose)
        return;
    char buf[96], *p = buf, *end = buf + sizeof(buf) - 24;
    for (const char *pre = "heapscope: snapshot child: "; *pre;)
        *p++ = *pre++;
    while (*what && p < end)
        *p++ = *what++;
    *p++ = ' ';
    p = hs__put_u64(p, (mono_ns() - phase_t0) / 1000000u);
    memcpy(p, " ms\n", 4);
    ssize_t r = write(2, buf, (size_t)(p + 4 - buf));
    (void)r;
}

#define WIN_SHIFT 12 /* 4 KiB windows: a few dozen blocks each, searched in a few cache lines */
#define RED_ZONE 128
#define TCB_BYTES 2304 /* glibc's struct pthread on x86-64, rounded up */
#define PAGE_SZ 4096u
#define PROGRESS_STEP 4096

/* Node and edge type numbers of meta.node_types / edge_types below. */
enum { NODE_NATIVE = 8, NODE_SYNTHETIC = 9 };
enum { EDGE_ELEMENT = 1, EDGE_PROPERTY = 2 };

/* Ids of synthetic nodes: even, fixed by what they stand for, so a group has
 * the same id in every snapshot (the root is 1, as in V8). */
#define ID_ROOT 1u
#define ID_LEAKED 2u
#define ID_THREAD_BASE (1u << 21)

struct blk {
    uintptr_t addr;
    uint64_t size;
    uint32_t id, site;
};

struct gedge {
    uint32_t type, name, to; /* to: a block index */
};

struct group {
    uint32_t name, id;
    struct hs_vec edges; /* of struct gedge */
};

struct bedge {
    uint32_t to, off; /* to: a block index; off: byte offset of the slot */
};

struct span {
    uintptr_t start, end; /* end = start + size (at least 1) */
};

struct win {
    uint64_t key;    /* window + 1; 0 = empty */
    uint32_t lo, hi; /* blocks starting in the window */
    uint32_t cover;  /* 1 + the block that starts earlier and reaches in; 0 none */
};

struct g {
    struct hs_snap_in *in;
    struct hs_vec maps;   /* of struct hs_map */
    struct hs_vec blocks; /* of struct blk, sorted by addr */
    struct blk *b;
    struct span *sp; /* b[i]'s [start, end), packed: what lookup searches */
    size_t n;
    uintptr_t lo, span; /* [lo, lo + span) holds every block */
    struct win *wt;
    size_t wmask;
    int wshift;
    struct hs_vec groups; /* of struct group */
    struct hs_vec bedges; /* of struct bedge */
    struct hs_vec eoff;   /* of uint64_t: block j's edges are [eoff[j], eoff[j+1]) */
    struct hs_vec state;  /* of uint8_t: per block, the ST_* bits */
    struct hs_vec queue;  /* of uint32_t */
    struct hs_strtab st;
    struct hs_vec site_str; /* of uint32_t: string index by site id, 0 = not yet */
    uint32_t leaked_group;
};

enum { ST_REACHED = 1, ST_RETAINED = 2, ST_COVERED = 4 };

#define NODE_FIELDS_MAX 7

/* ---- collecting and sorting the blocks ----------------------------------- */

static int collect_cb(const hs_block *hb, void *arg)
{
    struct g *g = arg;
    struct blk *b = hs__vec_push(&g->blocks);
    if (!b)
        return HS_E_NOMEM;
    b->addr = hb->addr;
    b->size = hb->size;
    b->id = hb->id;
    b->site = hb->site;
    return 0;
}

static int sorted(const struct blk *b, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (b[i - 1].addr > b[i].addr)
            return 0;
    return 1;
}

/* LSD radix sort on the 48 address bits, 16 at a time; a pass whose digit
 * is the same for every block is skipped. */
static int sort_blocks(struct g *g)
{
    if (sorted(g->b, g->n))
        return 0;
    struct hs_vec tmp = {.elem = sizeof(struct blk)};
    struct hs_vec cnt = {.elem = sizeof(uint64_t)};
    if (hs__vec_reserve(&tmp, g->n) < 0 || hs__vec_reserve(&cnt, 1u << 16) < 0) {
        hs__vec_free(&tmp);
        hs__vec_free(&cnt);
        return HS_E_NOMEM;
    }
    struct blk *src = g->b, *dst = tmp.p;
    uint64_t *c = cnt.p;
    for (int shift = 0; shift < 64; shift += 16) {
        memset(c, 0, sizeof(uint64_t) << 16);
        for (size_t i = 0; i < g->n; i++)
            c[(src[i].addr >> shift) & 0xffff]++;
        if (c[(src[0].addr >> shift) & 0xffff] == g->n)
            continue;
        uint64_t sum = 0;
        for (size_t d = 0; d < (1u << 16); d++) {
            uint64_t k = c[d];
            c[d] = sum;
            sum += k;
        }
        for (size_t i = 0; i < g->n; i++)
            dst[c[(src[i].addr >> shift) & 0xffff]++] = src[i];
        struct blk *t = src;
        src = dst;
        dst = t;
    }
    if (src != g->b)
        memcpy(g->b, src, g->n * sizeof(struct blk));
    hs__vec_free(&tmp);
    hs__vec_free(&cnt);
    return 0;
}

/* ---- the window index ---------------------------------------------------- */

static uint64_t blk_end(const struct blk *b)
{
    return b->addr + (b->size ? b->size : 1);
}

static size_t win_slot(const struct g *g, uint64_t key)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> g->wshift);
}

static struct win *win_get(struct g *g, uint64_t key, int create)
{
    for (size_t i = win_slot(g, key);; i = (i + 1) & g->wmask) {
        if (g->wt[i].key == key)
            return &g->wt[i];
        if (!g->wt[i].key) {
            if (!create)
                return NULL;
            g->wt[i].key = key;
            return &g->wt[i];
        }
    }
}

static int build_index(struct g *g)
{
    size_t need = 0;
    uint64_t last = 0;
    for (size_t i = 0; i < g->n; i++) {
        uint64_t w = g->b[i].addr >> WIN_SHIFT, we = (blk_end(&g->b[i]) - 1) >> WIN_SHIFT;
        need += (w + 1 != last) + (we - w);
        last = w + 1;
    }
    size_t cap = 1024;
    int bits = 10;
    while (cap < need * 2 + 2) {
        cap *= 2;
        bits++;
    }
    size_t bytes = cap * sizeof(struct win);
    g->wt = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->wt == MAP_FAILED) {
        g->wt = NULL;
        return HS_E_NOMEM;
    }
    g->wmask = cap - 1;
    g->wshift = 64 - bits;
    for (size_t i = 0; i < g->n; i++) {
        uint64_t w = g->b[i].addr >> WIN_SHIFT, we = (blk_end(&g->b[i]) - 1) >> WIN_SHIFT;
        struct win *e = win_get(g, w + 1, 1);
        if (e->hi == e->lo)
            e->lo = (uint32_t)i;
        e->hi = (uint32_t)i + 1;
        for (uint64_t x = w + 1; x <= we; x++)
            win_get(g, x + 1, 1)->cover = (uint32_t)i + 1;
    }
    struct hs_vec sv = {.elem = sizeof(struct span)};
    if (hs__vec_reserve(&sv, g->n + 1) < 0)
        return HS_E_NOMEM;
    g->sp = sv.p;
    for (size_t i = 0; i < g->n; i++) {
        g->sp[i].start = g->b[i].addr;
        g->sp[i].end = blk_end(&g->b[i]);
    }
    if (g->n) {
        g->lo = g->b[0].addr;
        uint64_t hi = 0;
        for (size_t i = 0; i < g->n; i++)
            if (blk_end(&g->b[i]) > hi)
                hi = blk_end(&g->b[i]);
        g->span = hi - g->lo;
    }
    return 0;
}

/* The block that v points into (its start or inside it), or -1. */
static inline int64_t lookup(const struct g *g, uintptr_t v)
{
    if (v - g->lo >= g->span)
        return -1;
    uint64_t key = (v >> WIN_SHIFT) + 1;
    size_t i = win_slot(g, key);
    while (g->wt[i].key != key) {
        if (!g->wt[i].key)
            return -1;
        i = (i + 1) & g->wmask;
    }
    const struct win *e = &g->wt[i];
    if (e->hi > e->lo && g->sp[e->lo].start <= v) {
        uint32_t lo = e->lo, hi = e->hi;
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (g->sp[mid].start <= v)
                lo = mid;
            else
                hi = mid;
        }
        return v < g->sp[lo].end ? (int64_t)lo : -1;
    }
    if (e->cover && v < g->sp[e->cover - 1].end)
        return (int64_t)e->cover - 1;
    return -1;
}

/* ---- strings ------------------------------------------------------------- */

static uint32_t str(struct g *g, const char *s)
{
    return hs__strtab_add(&g->st, s, strlen(s));
}

static char *put_hex(char *p, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    char d[17];
    int k = 0;
    do
        d[k++] = hex[v & 15];
    while ((v >>= 4) != 0);
    *p++ = '0';
    *p++ = 'x';
    while (k)
        *p++ = d[--k];
    return p;
}

/* Appends s (cut to fit) to the name being built in [p, end). */
static char *put_str(char *p, const char *end, const char *s)
{
    while (*s && p < end)
        *p++ = *s++;
    return p;
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* A site the parent had no name for (it appeared during the capture). */
static uint32_t site_fallback(struct g *g, uint32_t site)
{
    uintptr_t a = hs__site_addr(site);
    if (!a)
        return str(g, "(unknown site)");
    const struct hs_mod *best = NULL;
    for (size_t i = 0; i < g->in->mods.n; i++) {
        const struct hs_mod *m = &g->in->mods.v[i];
        if (m->base <= a && (!best || m->base > best->base))
            best = m;
    }
    char buf[600], *p = buf, *end = buf + sizeof(buf) - 40;
    if (best) {
        p = put_str(p, end, base_name(best->path));
        *p++ = '+';
        p = put_hex(p, a - 1 - best->base);
    } else {
        p = put_hex(p, a - 1);
    }
    return hs__strtab_add(&g->st, buf, (size_t)(p - buf));
}

static uint32_t site_name(struct g *g, uint32_t site)
{
    if (site >= g->site_str.len)
        return site_fallback(g, site);
    uint32_t *s = &((uint32_t *)g->site_str.p)[site];
    if (!*s) {
        const char *name = site < g->in->nsite_names ? g->in->site_names[site] : NULL;
        *s = name ? str(g, name) : site_fallback(g, site);
    }
    return *s;
}

/* ---- groups and their edges ---------------------------------------------- */

static struct group *new_group(struct g *g, const char *name, uint32_t id)
{
    struct group *gr = hs__vec_push(&g->groups);
    if (!gr)
        return NULL;
    memset(gr, 0, sizeof(*gr));
    gr->name = str(g, name);
    gr->id = id;
    gr->edges.elem = sizeof(struct gedge);
    return gr;
}

static int add_gedge(struct group *gr, uint32_t type, uint32_t name, uint32_t to)
{
    struct gedge *e = hs__vec_push(&gr->edges);
    if (!e)
        return HS_E_NOMEM;
    e->type = type;
    e->name = name;
    e->to = to;
    return 0;
}

/* How a root slot's edge is named. */
enum root_kind { ROOT_GLOBAL, ROOT_STACK, ROOT_TLS, ROOT_TCB };
struct root_ctx {
    enum root_kind kind;
    const struct hs_mod *mod;
    uintptr_t base; /* offsets are counted from here */
};

static uint32_t root_edge_name(struct g *g, const struct root_ctx *rc, uintptr_t slot,
                               uint32_t *type)
{
    uintptr_t off = slot - rc->base;
    if (rc->kind == ROOT_STACK) {
        *type = EDGE_ELEMENT;
        return (uint32_t)off;
    }
    *type = EDGE_PROPERTY;
    char buf[700], *p = buf, *end = buf + sizeof(buf) - 48;
    const struct hs_sym_range *sym = NULL;
    if (rc->kind == ROOT_GLOBAL)
        sym = hs__roots_sym(rc->mod->syms, rc->mod->nsyms, off);
    else if (rc->kind == ROOT_TLS) {
        p = put_str(p, end, base_name(rc->mod->path));
        *p++ = ':';
        sym = hs__roots_sym(rc->mod->tls_syms, rc->mod->ntls_syms, off);
    } else {
        p = put_str(p, end, "tcb");
        sym = NULL;
    }
    if (sym) {
        p = put_str(p, end, sym->name);
        if (off != sym->off) {
            *p++ = '+';
            p = hs__put_u64(p, off - sym->off);
        }
    } else if (rc->kind == ROOT_TCB) {
        *p++ = '+';
        p = hs__put_u64(p, off);
    } else {
        *p++ = '@';
        p = put_hex(p, off);
    }
    return hs__strtab_add(&g->st, buf, (size_t)(p - buf));
}

/* Scans [lo, hi) ∩ readable mappings for words pointing into blocks. */
/* glibc's own state (main_arena's top and bins) points at chunk headers:
 * a free chunk's header is the last 8 bytes of the live block before it,
 * inside that block's requested bytes when the request fills its usable
 * size. Such a word is malloc's, not a reference to the block. */
static int malloc_header_ptr(const struct g *g, int64_t j, uintptr_t v)
{
    uintptr_t start = g->sp[j].start;
    uintptr_t h = ((const uintptr_t *)start)[-1]; /* the chunk's size field */
    uintptr_t size = h & ~(uintptr_t)7;
    uintptr_t usable = size - ((h & 2) ? 16 : 8);
    return size >= 32 && v == start + usable - 8;
}

static int scan_root(struct g *g, struct group *gr, const struct root_ctx *rc, uintptr_t lo,
                     uintptr_t hi)
{
    int libc = rc->kind == ROOT_GLOBAL && rc->mod->is_libc;
    lo = (lo + 7) & ~(uintptr_t)7;
    while (lo + 8 <= hi) {
        const struct hs_map *m = hs__roots_map_of(&g->maps, lo);
        if (!m) {
            /* skip to the next mapping */
            const struct hs_map *v = g->maps.p;
            uintptr_t next = hi;
            for (size_t i = 0; i < g->maps.len; i++)
                if (v[i].lo > lo) {
                    next = v[i].lo;
                    break;
                }
            lo = (next + 7) & ~(uintptr_t)7;
            continue;
        }
        uintptr_t end = m->hi < hi ? m->hi : hi;
        if (m->readable) {
            for (uintptr_t p = lo; p + 8 <= end; p += 8) {
                uintptr_t v = *(const uintptr_t *)p;
                int64_t j = lookup(g, v);
                if (j < 0 || (libc && malloc_header_ptr(g, j, v)))
                    continue;
                uint32_t type;
                uint32_t name = root_edge_name(g, rc, p, &type);
                if (name == UINT32_MAX || add_gedge(gr, type, name, (uint32_t)j) < 0)
                    return HS_E_NOMEM;
            }
        }
        lo = (end + 7) & ~(uintptr_t)7;
    }
    return 0;
}

static int module_groups(struct g *g)
{
    for (size_t i = 0; i < g->in->mods.n; i++) {
        const struct hs_mod *m = &g->in->mods.v[i];
        if (m->is_agent || !m->nsegs)
            continue;
        char name[700], *p = name, *end = name + sizeof(name) - 1;
        p = put_str(p, end, "(globals) ");
        p = put_str(p, end, m->path);
        *p = '\0';
        struct group *gr = new_group(g, name, m->gid);
        if (!gr)
            return HS_E_NOMEM;
        struct root_ctx rc = {ROOT_GLOBAL, m, m->base};
        for (int s = 0; s < m->nsegs; s++) {
            int rc2 = scan_root(g, gr, &rc, m->segs[s].lo, m->segs[s].hi);
            if (rc2 < 0)
                return rc2;
        }
    }
    return 0;
}

static void thread_name(char *buf, size_t size, const char *kind, const struct hs_thread *t)
{
    char *p = buf, *end = buf + size - 1;
    p = put_str(p, end, kind);
    p = hs__put_u64(p, (uint64_t)t->tid);
    if (t->comm[0]) {
        *p++ = ' ';
        p = put_str(p, end, t->comm);
    }
    *p = '\0';
}

static int holds_block(const struct g *g, uintptr_t lo, uintptr_t hi);

static int thread_groups(struct g *g)
{
    struct hs_capture *cap = g->in->cap;
    pid_t parent = getppid();
    for (int i = 0; i < cap->nthreads; i++) {
        struct hs_thread *t = &cap->threads[i];
        if (!t->tid || !t->captured)
            continue;
        hs__capture_read_comm(parent, t->tid, t->comm, sizeof(t->comm));
        char name[80];
        thread_name(name, sizeof(name), "(stack) ", t);
        struct group *gr = new_group(g, name, ID_THREAD_BASE + 4u * (uint32_t)t->tid);
        if (!gr)
            return HS_E_NOMEM;
        for (int r = 0; r < HS_NREGS; r++) {
            int64_t j = lookup(g, t->regs[r]);
            if (j >= 0 && add_gedge(gr, EDGE_PROPERTY, str(g, hs__reg_names[r]), (uint32_t)j) < 0)
                return HS_E_NOMEM;
        }
        const struct hs_map *sm = hs__roots_map_of(&g->maps, t->sp);
        /* A thread stopped while it runs on a stack that is a heap block (a
         * handler on a malloc'd sigaltstack, a coroutine's stack): that
         * stack ends with the block, not with the heap's mapping, whose
         * other blocks are no root. */
        int64_t on = lookup(g, t->sp);
        if (sm) {
            uintptr_t lo = t->sp - RED_ZONE < sm->lo ? sm->lo : t->sp - RED_ZONE;
            uintptr_t hi = sm->hi;
            if (on >= 0) {
                lo = lo < g->sp[on].start ? g->sp[on].start : lo;
                hi = g->sp[on].end;
            }
            /* A thread's static TLS and control block sit at the top of its
             * stack (its mapping, or the block pthread_attr_setstack gave
             * it): they are the TLS group's. */
            if (t->tp > t->sp && t->tp < hi && g->in->mods.tls_extent < t->tp - lo)
                hi = t->tp - g->in->mods.tls_extent;
            struct root_ctx rc = {ROOT_STACK, NULL, lo};
            int e = scan_root(g, gr, &rc, lo, hi);
            if (e < 0)
                return e;
        }
        /* Its own stack still holds the frames the handler or coroutine
         * interrupted: the mapping whose top holds its control block
         * (glibc's threads), read whole below the TLS since where those
         * frames end is not known. The main thread's stack is no such
         * mapping; it is then read as other memory (mapping_groups). */
        const struct hs_map *own = on >= 0 && t->tp ? hs__roots_map_of(&g->maps, t->tp) : NULL;
        if (own && own->hi - t->tp <= TCB_BYTES + PAGE_SZ && !holds_block(g, own->lo, own->hi) &&
            t->tp - own->lo > g->in->mods.tls_extent) {
            struct root_ctx rc = {ROOT_STACK, NULL, own->lo};
            int e = scan_root(g, gr, &rc, own->lo, t->tp - g->in->mods.tls_extent);
            if (e < 0)
                return e;
        }
        thread_name(name, sizeof(name), "(TLS) ", t);
        gr = new_group(g, name, ID_THREAD_BASE + 4u * (uint32_t)t->tid + 2u);
        if (!gr)
            return HS_E_NOMEM;
        if (!t->tp)
            continue;
        for (size_t k = 0; k < g->in->mods.n; k++) {
            const struct hs_mod *m = &g->in->mods.v[k];
            if (!m->tls_size || m->is_agent)
                continue;
            struct root_ctx rc = {ROOT_TLS, m, t->tp - m->tls_neg};
            int e = scan_root(g, gr, &rc, rc.base, rc.base + m->tls_size);
            if (e < 0)
                return e;
        }
        struct root_ctx rc = {ROOT_TCB, NULL, t->tp};
        int e = scan_root(g, gr, &rc, t->tp, t->tp + TCB_BYTES);
        if (e < 0)
            return e;
    }
    return 0;
}

/* ---- other memory the program writes ------------------------------------ */

/* Private anonymous writable memory that is neither heap (it holds no live
 * block) nor a live thread's stack or TLS: pools of custom allocators (an
 * interpreter's object arenas), the stacks glibc keeps of threads that
 * ended (their control blocks hold the dtv), buffers the program maps. A
 * pointer kept there keeps a block alive as much as one in a global. Only
 * resident pages are read (mincore). Left out: glibc's own arena heaps
 * (aligned to HEAP_MAX_SIZE) and chunks malloc maps by themselves (their
 * header says so): what they hold that is not a live block is malloc's or
 * the agent's, never the program's. */
#define ARENA_ALIGN (64u << 20) /* glibc's HEAP_MAX_SIZE on 64-bit */

static int holds_block(const struct g *g, uintptr_t lo, uintptr_t hi)
{
    size_t a = 0, b = g->n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (g->b[mid].addr < lo)
            a = mid + 1;
        else
            b = mid;
    }
    if (a < g->n && g->b[a].addr < hi)
        return 1;
    return a > 0 && blk_end(&g->b[a - 1]) > lo;
}

/* A module's .bss past its last file page is an anonymous mapping: it is
 * scanned as the module's globals (named by symbol), not a second time. */
static int holds_module_data(const struct g *g, uintptr_t lo, uintptr_t hi)
{
    for (size_t i = 0; i < g->in->mods.n; i++) {
        const struct hs_mod *m = &g->in->mods.v[i];
        for (int k = 0; k < m->nsegs; k++)
            if (m->segs[k].lo < hi && m->segs[k].hi > lo)
                return 1;
    }
    return 0;
}

static int holds_thread(const struct g *g, uintptr_t lo, uintptr_t hi)
{
    const struct hs_capture *cap = g->in->cap;
    for (int i = 0; i < cap->nthreads; i++) {
        const struct hs_thread *t = &cap->threads[i];
        if (t->tid && ((t->sp >= lo && t->sp < hi) || (t->tp >= lo && t->tp < hi)))
            return 1;
    }
    return 0;
}

/* The length of the malloc-mapped chunk starting at p (at most room), or 0:
 * prev_size 0, then the size with IS_MMAPPED (2), a whole number of pages. */
static uintptr_t mmapped_chunk(uintptr_t p, uintptr_t room)
{
    const uintptr_t *h = (const uintptr_t *)p;
    uintptr_t size = h[1] & ~(uintptr_t)7;
    if (h[0] != 0 || !(h[1] & 2) || size == 0 || size > room || size % PAGE_SZ)
        return 0;
    return size;
}

/* Scans the resident pages of m, skipping malloc-mapped chunks. */
static int scan_mapping(struct g *g, const struct hs_map *m, const char *name, uint32_t id)
{
    struct group *gr = NULL;
    unsigned char vec[256];
    uintptr_t vlo = 0, vhi = 0; /* pages vec describes */
    for (uintptr_t pg = m->lo; pg < m->hi;) {
        if (pg >= vhi) {
            vlo = pg;
            vhi = m->hi - pg < sizeof(vec) * PAGE_SZ ? m->hi : pg + sizeof(vec) * PAGE_SZ;
            if (mincore((void *)vlo, vhi - vlo, vec) != 0)
                memset(vec, 1, sizeof(vec));
        }
        if (!(vec[(pg - vlo) / PAGE_SZ] & 1)) {
            pg += PAGE_SZ;
            continue;
        }
        uintptr_t c = mmapped_chunk(pg, m->hi - pg);
        if (c) {
            pg += c;
            continue;
        }
        for (uintptr_t p = pg; p < pg + PAGE_SZ; p += 8) {
            int64_t j = lookup(g, *(const uintptr_t *)p);
            if (j < 0)
                continue;
            if (!gr && !(gr = new_group(g, name, id)))
                return HS_E_NOMEM;
            if (add_gedge(gr, EDGE_ELEMENT, (uint32_t)(p - m->lo), (uint32_t)j) < 0)
                return HS_E_NOMEM;
        }
        pg += PAGE_SZ;
    }
    return 0;
}

static int mapping_groups(struct g *g)
{
    for (size_t i = 0; i < g->maps.len; i++) {
        const struct hs_map *m = &((const struct hs_map *)g->maps.p)[i];
        if (!(m->readable && m->writable && m->priv && m->anon) || m->lo % ARENA_ALIGN == 0 ||
            holds_block(g, m->lo, m->hi) || holds_thread(g, m->lo, m->hi) ||
            holds_module_data(g, m->lo, m->hi) ||
            ((uintptr_t)g->maps.p >= m->lo && (uintptr_t)g->maps.p < m->hi) ||
            hs__capture_agent_stack_in(m->lo, m->hi))
            continue;
        char name[64], *p = name;
        p = put_str(p, name + 32, "(anonymous memory) ");
        p = put_hex(p, m->lo);
        *p = '\0';
        /* Even, stable for the mapping's life, away from the other groups'. */
        uint32_t id =
            (1u << 30) + (uint32_t)((((m->lo >> 12) * 0x9E3779B1u) >> 2) % (1u << 28)) * 2u;
        int rc = scan_mapping(g, m, name, id);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- the blocks ---------------------------------------------------------- */

static int scan_words(struct g *g, const struct blk *b, uintptr_t lo, uintptr_t hi)
{
    for (uintptr_t p = lo; p + 8 <= hi; p += 8) {
        int64_t t = lookup(g, *(const uintptr_t *)p);
        if (t < 0)
            continue;
        struct bedge *e = hs__vec_push(&g->bedges);
        if (!e)
            return HS_E_NOMEM;
        e->to = (uint32_t)t;
        uint64_t off = p - b->addr;
        e->off = off > UINT32_MAX ? UINT32_MAX : (uint32_t)off;
    }
    return 0;
}

/* Big blocks are mapped by malloc on their own and often touched only in
 * part (a calloc'd table): their pages that were never touched hold zeros,
 * and reading them would only fault in the zero page. */
#define BIG_BLOCK (1u << 20)

static int scan_block(struct g *g, const struct blk *b, uintptr_t lo, uintptr_t hi)
{
    if (hi - lo < BIG_BLOCK)
        return scan_words(g, b, lo, hi);
    unsigned char vec[256];
    uintptr_t pg = lo & ~(uintptr_t)(PAGE_SZ - 1);
    while (pg < hi) {
        uintptr_t n = (hi - pg + PAGE_SZ - 1) / PAGE_SZ;
        if (n > sizeof(vec))
            n = sizeof(vec);
        if (mincore((void *)pg, n * PAGE_SZ, vec) != 0)
            memset(vec, 1, sizeof(vec));
        for (uintptr_t k = 0; k < n; k++, pg += PAGE_SZ) {
            if (!(vec[k] & 1))
                continue;
            uintptr_t a = pg < lo ? lo : pg, e = pg + PAGE_SZ < hi ? pg + PAGE_SZ : hi;
            if (scan_words(g, b, a, e) < 0)
                return HS_E_NOMEM;
        }
    }
    return 0;
}

static int scan_blocks(struct g *g)
{
    struct hs_snap_shared *sh = g->in->shared;
    if (hs__vec_reserve(&g->eoff, g->n + 1) < 0)
        return HS_E_NOMEM;
    uint64_t *eoff = g->eoff.p;
    const struct hs_map *maps = g->maps.p;
    size_t mi = 0;
    for (size_t j = 0; j < g->n; j++) {
        eoff[j] = g->bedges.len;
        if ((j & (PROGRESS_STEP - 1)) == 0)
            atomic_store_explicit(&sh->done, j, memory_order_relaxed);
        const struct blk *b = &g->b[j];
        while (mi < g->maps.len && maps[mi].hi <= b->addr)
            mi++;
        uintptr_t lo = (b->addr + 7) & ~(uintptr_t)7, hi = b->addr + b->size;
        if (mi == g->maps.len || maps[mi].lo > lo || !maps[mi].readable)
            continue;
        /* A block may span mappings that touch: the kernel splits the heap's
         * where malloc asked for huge pages (madvise). Read up to the first
         * gap or unreadable one, never past it. */
        uintptr_t reach = maps[mi].hi;
        for (size_t k = mi + 1;
             reach < hi && k < g->maps.len && maps[k].lo == reach && maps[k].readable; k++)
            reach = maps[k].hi;
        if (hi > reach)
            hi = reach;
        if (scan_block(g, b, lo, hi) < 0)
            return HS_E_NOMEM;
    }
    eoff[g->n] = g->bedges.len;
    g->eoff.len = g->n + 1;
    atomic_store(&sh->done, g->n);
    return 0;
}

/* ---- reachability and leaks ---------------------------------------------- */

static void flood(struct g *g, uint8_t bit)
{
    uint8_t *st = g->state.p;
    uint32_t *q = g->queue.p;
    const uint64_t *eoff = g->eoff.p;
    const struct bedge *be = g->bedges.p;
    while (g->queue.len) {
        uint32_t j = q[--g->queue.len];
        for (uint64_t k = eoff[j]; k < eoff[j + 1]; k++) {
            uint32_t t = be[k].to;
            if (!(st[t] & bit)) {
                st[t] |= bit;
                q[g->queue.len++] = t;
            }
        }
    }
}

static void push(struct g *g, uint32_t j, uint8_t bit)
{
    uint8_t *st = g->state.p;
    if (!(st[j] & bit)) {
        st[j] |= bit;
        ((uint32_t *)g->queue.p)[g->queue.len++] = j;
    }
}

static int find_leaks(struct g *g, struct group *leaked)
{
    if (hs__vec_reserve(&g->state, g->n + 1) < 0 || hs__vec_reserve(&g->queue, g->n + 1) < 0)
        return HS_E_NOMEM;
    memset(g->state.p, 0, g->n);
    g->state.len = g->n;
    const struct group *gv = g->groups.p;
    for (size_t i = 0; i < g->groups.len; i++) {
        const struct gedge *e = gv[i].edges.p;
        for (size_t k = 0; k < gv[i].edges.len; k++)
            push(g, e[k].to, ST_REACHED);
    }
    flood(g, ST_REACHED);

    uint8_t *st = g->state.p;
    const uint64_t *eoff = g->eoff.p;
    const struct bedge *be = g->bedges.p;
    struct hs_snap_stats *s = &g->in->shared->stats;
    for (size_t j = 0; j < g->n; j++) {
        if (st[j] & ST_REACHED)
            continue;
        s->leaked_blocks++;
        s->leaked_bytes += g->b[j].size;
        for (uint64_t k = eoff[j]; k < eoff[j + 1]; k++)
            if (be[k].to != j)
                st[be[k].to] |= ST_RETAINED;
    }
    /* Leak roots: leaked blocks no other leaked block points to, then one
     * block (the lowest) of each leaked cycle still not covered. */
    uint32_t idx = 1;
    for (int pass = 0; pass < 2; pass++)
        for (size_t j = 0; j < g->n; j++) {
            if (st[j] & (ST_REACHED | ST_COVERED))
                continue;
            if (pass == 0 && (st[j] & ST_RETAINED))
                continue;
            if (add_gedge(leaked, EDGE_ELEMENT, idx++, (uint32_t)j) < 0)
                return HS_E_NOMEM;
            push(g, (uint32_t)j, ST_COVERED);
            flood(g, ST_COVERED);
        }
    return 0;
}

/* ---- output -------------------------------------------------------------- */

static const char META_FIELDS[] =
    "{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"id\",\"self_size\",";
/* With allocation stacks, V8 adds trace_node_id before detachedness. */
static const char FIELDS6[] = "\"edge_count\",\"detachedness\"]";
static const char FIELDS7[] = "\"edge_count\",\"trace_node_id\",\"detachedness\"]";
static const char META_TYPES[] =
    ",\"node_types\":[[\"hidden\",\"array\",\"string\",\"object\",\"code\",\"closure\","
    "\"regexp\",\"number\",\"native\",\"synthetic\",\"concatenated string\",\"sliced string\","
    "\"symbol\",\"bigint\",\"object shape\"],";
static const char TYPES6[] = "\"string\",\"number\",\"number\",\"number\",\"number\"],";
static const char TYPES7[] = "\"string\",\"number\",\"number\",\"number\",\"number\",\"number\"],";
static const char META_REST[] =
    "\"edge_fields\":[\"type\",\"name_or_index\",\"to_node\"],\"edge_types\":[[\"context\","
    "\"element\",\"property\",\"internal\",\"hidden\",\"shortcut\",\"weak\"],"
    "\"string_or_number\",\"node\"],\"trace_function_info_fields\":[\"function_id\",\"name\","
    "\"script_name\",\"script_id\",\"line\",\"column\"],\"trace_node_fields\":[\"id\","
    "\"function_info_index\",\"count\",\"size\",\"children\"],\"sample_fields\":"
    "[\"timestamp_us\",\"last_assigned_id\"],\"location_fields\":[\"object_index\","
    "\"script_id\",\"line\",\"column\"]},\"node_count\":";

/* One record of n numbers: ",a,b,c\n" (no leading comma for the first), built
 * on the stack and copied once. */
static void rec(struct hs_jw *w, int *first, const uint64_t *v, int n)
{
    char buf[NODE_FIELDS_MAX * (HS_U64_DIGITS + 1) + 1], *end = buf + sizeof(buf);
    *--end = '\n';
    for (int i = n - 1; i >= 0; i--) {
        end = hs__fmt_u64(end, v[i]);
        if (i || !*first)
            *--end = ',';
    }
    *first = 0;
    hs__jw_raw(w, end, (size_t)(buf + sizeof(buf) - end));
}

/* A node record: the trace node id goes before detachedness when there is
 * one (nf = 7). */
static void node_rec(struct hs_jw *w, int *first, int nf, uint64_t type, uint64_t name, uint64_t id,
                     uint64_t size, uint64_t edges, uint64_t trace, uint64_t det)
{
    uint64_t v[NODE_FIELDS_MAX] = {type, name, id, size, edges, trace, det};
    if (nf == 6)
        v[5] = det;
    rec(w, first, v, nf);
}

/* trace_tree: [id, function_info_index, count, size, [children…]], nested. */
static void trace_node_json(struct hs_jw *w, const struct hs_trace *t, uint32_t n)
{
    const struct hs_trace_node *tn = &t->nodes[n];
    uint64_t v[4] = {n + 1u, tn->func, tn->count, tn->size};
    for (int i = 0; i < 4; i++) {
        hs__jw_u64(w, v[i]);
        hs__jw_raw(w, ",", 1);
    }
    hs__jw_raw(w, "[", 1);
    for (uint32_t c = tn->first_child; c; c = t->nodes[c].next_sibling) {
        trace_node_json(w, t, c);
        if (t->nodes[c].next_sibling)
            hs__jw_raw(w, ",", 1);
    }
    hs__jw_raw(w, "]", 1);
}

static int write_trace(struct g *g, struct hs_jw *w, const uint32_t *fname, const uint32_t *fscript)
{
    const struct hs_trace *t = &g->in->trace;
    hs__jw_lit(w, "],\n\"trace_function_infos\":[");
    int first = 1;
    for (uint32_t i = 0; i < t->nfuncs; i++) {
        const struct hs_trace_func *f = &t->funcs[i];
        uint64_t v[6] = {i, fname[i], fscript[i], f->script_id, f->line, f->column};
        rec(w, &first, v, 6);
    }
    hs__jw_lit(w, "],\n\"trace_tree\":[");
    trace_node_json(w, t, 0);
    return 0;
}

static int write_json(struct g *g)
{
    uint32_t empty = str(g, "");
    if (empty == UINT32_MAX)
        return HS_E_NOMEM;
    const struct hs_trace *t = &g->in->trace;
    int nf = hs__trace_on(t) ? 7 : 6;
    struct hs_vec fstr = {.elem = sizeof(uint32_t)};
    if (hs__trace_on(t)) {
        if (hs__vec_reserve(&fstr, 2 * (size_t)t->nfuncs) < 0)
            return HS_E_NOMEM;
        uint32_t *fs = fstr.p;
        for (uint32_t i = 0; i < t->nfuncs; i++) {
            fs[i] = str(g, t->funcs[i].name ? t->funcs[i].name : "");
            fs[t->nfuncs + i] = str(g, t->funcs[i].script ? t->funcs[i].script : "");
        }
    }

    const struct group *gv = g->groups.p;
    size_t ngroups = g->groups.len;
    uint64_t first_block = 1 + ngroups;
    uint64_t nodes = first_block + g->n, edges = ngroups + g->bedges.len;
    for (size_t i = 0; i < ngroups; i++)
        edges += gv[i].edges.len;
    struct hs_snap_stats *s = &g->in->shared->stats;
    s->nodes = nodes;
    s->edges = edges;
    s->blocks = g->n;
    for (size_t j = 0; j < g->n; j++)
        s->bytes += g->b[j].size;
    atomic_store(&g->in->shared->built, 1);

    struct hs_jw w;
    if (hs__jw_open(&w, g->in->out_fd) < 0) {
        hs__vec_free(&fstr);
        return HS_E_NOMEM;
    }
    hs__jw_lit(&w, META_FIELDS);
    hs__jw_lit(&w, nf == 7 ? FIELDS7 : FIELDS6);
    hs__jw_lit(&w, META_TYPES);
    hs__jw_lit(&w, nf == 7 ? TYPES7 : TYPES6);
    hs__jw_lit(&w, META_REST);
    hs__jw_u64(&w, nodes);
    hs__jw_lit(&w, ",\"edge_count\":");
    hs__jw_u64(&w, edges);
    hs__jw_lit(&w, ",\"trace_function_count\":");
    hs__jw_u64(&w, hs__trace_on(t) ? t->nfuncs : 0);
    hs__jw_lit(&w, "},\n\"nodes\":[");
    int first = 1;
    node_rec(&w, &first, nf, NODE_SYNTHETIC, empty, ID_ROOT, 0, ngroups, 0, 0);
    for (size_t i = 0; i < ngroups; i++)
        node_rec(&w, &first, nf, NODE_SYNTHETIC, gv[i].name, gv[i].id, 0, gv[i].edges.len, 0, 0);
    const uint64_t *eoff = g->eoff.p;
    const uint8_t *st = g->state.p;
    /* Site names are interned as the nodes go out: the strings come last. */
    for (size_t j = 0; j < g->n; j++) {
        const struct blk *b = &g->b[j];
        uint32_t name = site_name(g, b->site);
        if (name == UINT32_MAX) {
            hs__vec_free(&fstr);
            hs__jw_close(&w);
            return HS_E_NOMEM;
        }
        uint32_t trace = hs__trace_on(t) ? hs__trace_node_of(t, b->addr, b->size, b->id) : 0;
        node_rec(&w, &first, nf, NODE_NATIVE, name, b->id,
                 b->size > UINT32_MAX ? UINT32_MAX : b->size, eoff[j + 1] - eoff[j], trace,
                 (st[j] & ST_REACHED) ? 1 : 2);
    }
    hs__jw_lit(&w, "],\n\"edges\":[");
    first = 1;
    for (size_t i = 0; i < ngroups; i++) {
        uint64_t v[3] = {EDGE_ELEMENT, i + 1, (i + 1) * (uint64_t)nf};
        rec(&w, &first, v, 3);
    }
    for (size_t i = 0; i < ngroups; i++) {
        const struct gedge *e = gv[i].edges.p;
        for (size_t k = 0; k < gv[i].edges.len; k++) {
            uint64_t v[3] = {e[k].type, e[k].name, (first_block + e[k].to) * (uint64_t)nf};
            rec(&w, &first, v, 3);
        }
    }
    const struct bedge *be = g->bedges.p;
    for (size_t k = 0; k < g->bedges.len; k++) {
        uint64_t v[3] = {EDGE_ELEMENT, be[k].off, (first_block + be[k].to) * (uint64_t)nf};
        rec(&w, &first, v, 3);
    }
    if (hs__trace_on(t)) {
        const uint32_t *fs = fstr.p;
        write_trace(g, &w, fs, fs + t->nfuncs);
        hs__jw_lit(&w, "],\n\"samples\":[");
    } else {
        hs__jw_lit(&w, "],\n\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[");
    }
    /* The timeline's ticks: [µs since the first, last id] each. */
    first = 1;
    for (size_t i = 0; i + 1 < g->in->samples.n; i += 2)
        rec(&w, &first, g->in->samples.v + i, 2);
    hs__jw_lit(&w, "],\n\"locations\":[],\n\"strings\":[");
    hs__vec_free(&fstr);
    uint32_t ns = hs__strtab_count(&g->st);
    for (uint32_t i = 0; i < ns; i++) {
        const char *sp;
        size_t sl;
        hs__strtab_get(&g->st, i, &sp, &sl);
        if (i)
            hs__jw_raw(&w, ",\n", 2);
        hs__jw_string(&w, sp, sl);
    }
    hs__jw_raw(&w, "]}", 2);
    return hs__jw_close(&w);
}

/* ---- the job ------------------------------------------------------------- */

int hs__graph_run(struct hs_snap_in *in)
{
    struct g g;
    memset(&g, 0, sizeof(g));
    g.in = in;
    g.maps.elem = sizeof(struct hs_map);
    g.blocks.elem = sizeof(struct blk);
    g.groups.elem = sizeof(struct group);
    g.bedges.elem = sizeof(struct bedge);
    g.eoff.elem = sizeof(uint64_t);
    g.state.elem = 1;
    g.queue.elem = sizeof(uint32_t);
    g.site_str.elem = sizeof(uint32_t);
    phase_t0 = mono_ns();
    int rc = hs__roots_read_maps(&g.maps);
    if (rc < 0)
        return rc;
    if (hs__strtab_init(&g.st) < 0)
        return HS_E_NOMEM;
    /* The registry is frozen by this (the only) thread: read it as it was. */
    rc = hs__registry_foreach(collect_cb, &g, 1);
    if (rc < 0)
        return rc;
    g.b = g.blocks.p;
    g.n = g.blocks.len;
    atomic_store(&in->shared->total, g.n);
    phase("blocks collected");
    if ((rc = sort_blocks(&g)) < 0)
        return rc;
    phase("sorted");
    if ((rc = build_index(&g)) < 0)
        return rc;
    phase("indexed");
    if (hs__vec_reserve(&g.site_str, in->nsite_names) < 0)
        return HS_E_NOMEM;
    g.site_str.len = in->nsite_names; /* mmap'd zeroed: "not yet" */

    /* Groups in node order: the leaked group first, modules, threads. */
    struct group *leaked = new_group(&g, "(leaked: unreachable from any root)", ID_LEAKED);
    if (!leaked)
        return HS_E_NOMEM;
    if ((rc = module_groups(&g)) < 0 || (rc = thread_groups(&g)) < 0 ||
        (rc = mapping_groups(&g)) < 0)
        return rc;
    phase("roots scanned");
    if ((rc = scan_blocks(&g)) < 0)
        return rc;
    phase("blocks scanned");
    /* new_group may have moved the vector: find the leaked group again. */
    leaked = &((struct group *)g.groups.p)[0];
    if ((rc = find_leaks(&g, leaked)) < 0)
        return rc;
    /* Groups that hold nothing (modules with no pointer into the heap,
     * threads whose stacks point nowhere) are left out; the leaked group is
     * always there. */
    struct group *gv = g.groups.p;
    size_t kept = 0;
    for (size_t i = 0; i < g.groups.len; i++) {
        if (gv[i].edges.len || gv[i].id == ID_LEAKED)
            gv[kept++] = gv[i];
        else
            hs__vec_free(&gv[i].edges);
    }
    g.groups.len = kept;
    phase("leaks found");
    rc = write_json(&g);
    phase("written");
    if (rc == 0)
        atomic_store(&in->shared->finished, 1);
    return rc;
}
