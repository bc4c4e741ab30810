/*
 * roots.c — where the roots of a native heap are: the loaded modules'
 * writable segments (named by their data symbols), their static TLS blocks,
 * and the process's mappings.
 *
 * hs__roots_modules runs in the parent before the pause (it calls the
 * dynamic loader, reads ELF files and allocates); its symbol tables are kept
 * across snapshots, keyed by path and load address, and dropped when the
 * module goes. Everything else here runs in the forked child and only makes
 * system calls.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../agent_int.h"
#include "heapscope/hs_err.h"
#include "snapshot_int.h"
#include "symbolize.h"

/* ---- data symbols of one ELF file (parent) ------------------------------- */

struct symcache {
    char *path;
    uintptr_t base;
    struct hs_sym_range *syms, *tls;
    size_t nsyms, ntls;
    unsigned gen; /* the last hs__roots_modules that saw it */
    struct symcache *next;
};
static struct symcache *cache;
static unsigned cache_gen;

static int cmp_range(const void *a, const void *b)
{
    const struct hs_sym_range *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static char *sym_name(const char *raw)
{
    char *d = (raw[0] == '_' && (raw[1] == 'Z' || raw[1] == 'R')) ? hs__sym_demangle(raw) : NULL;
    return d ? d : strdup(raw);
}

/* Objects with a size from .symtab (or .dynsym when stripped). */
static void read_symbols(struct symcache *c)
{
    int fd = open(c->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    elf_version(EV_CURRENT);
    Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (!e) {
        close(fd);
        return;
    }
    Elf_Scn *best = NULL;
    GElf_Shdr best_sh = {0};
    for (Elf_Scn *s = elf_nextscn(e, NULL); s; s = elf_nextscn(e, s)) {
        GElf_Shdr sh;
        if (!gelf_getshdr(s, &sh))
            continue;
        if (sh.sh_type == SHT_SYMTAB || (sh.sh_type == SHT_DYNSYM && !best)) {
            best = s;
            best_sh = sh;
        }
    }
    Elf_Data *d = best ? elf_getdata(best, NULL) : NULL;
    size_t n = d && best_sh.sh_entsize ? best_sh.sh_size / best_sh.sh_entsize : 0;
    size_t cd = 0, ct = 0;
    struct hs_sym_range *dv = n ? calloc(n, sizeof(*dv)) : NULL;
    struct hs_sym_range *tv = n ? calloc(n, sizeof(*tv)) : NULL;
    for (size_t i = 0; dv && tv && i < n; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(d, (int)i, &sym) || sym.st_size == 0 || sym.st_shndx == SHN_UNDEF)
            continue;
        int type = GELF_ST_TYPE(sym.st_info);
        if (type != STT_OBJECT && type != STT_TLS && type != STT_COMMON)
            continue;
        const char *raw = elf_strptr(e, best_sh.sh_link, sym.st_name);
        if (!raw || !raw[0])
            continue;
        char *name = sym_name(raw);
        if (!name)
            continue;
        struct hs_sym_range *r = type == STT_TLS ? &tv[ct++] : &dv[cd++];
        r->off = sym.st_value;
        r->size = sym.st_size;
        r->name = name;
    }
    elf_end(e);
    close(fd);
    if (dv)
        qsort(dv, cd, sizeof(*dv), cmp_range);
    if (tv)
        qsort(tv, ct, sizeof(*tv), cmp_range);
    c->syms = dv;
    c->nsyms = dv ? cd : 0;
    c->tls = tv;
    c->ntls = tv ? ct : 0;
}

static void free_ranges(struct hs_sym_range *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *)v[i].name);
    free(v);
}

static struct symcache *symcache_get(const char *path, uintptr_t base)
{
    for (struct symcache *c = cache; c; c = c->next)
        if (c->base == base && !strcmp(c->path, path)) {
            c->gen = cache_gen;
            return c;
        }
    struct symcache *c = calloc(1, sizeof(*c));
    if (!c || !(c->path = strdup(path))) {
        free(c);
        return NULL;
    }
    c->base = base;
    c->gen = cache_gen;
    read_symbols(c);
    c->next = cache;
    cache = c;
    return c;
}

static void symcache_sweep(void)
{
    for (struct symcache **pp = &cache; *pp;) {
        struct symcache *c = *pp;
        if (c->gen != cache_gen) {
            *pp = c->next;
            free_ranges(c->syms, c->nsyms);
            free_ranges(c->tls, c->ntls);
            free(c->path);
            free(c);
        } else {
            pp = &c->next;
        }
    }
}

/* ---- the module list (parent) -------------------------------------------- */

static char agent_marker; /* in the agent's own writable segment */

struct collect {
    struct hs_mods *m;
    size_t cap;
    uintptr_t tp;
    uintptr_t area_lo, area_hi; /* where this thread's static TLS can be */
    int err;
};

/* Is a module's TLS block for this thread (dl_iterate_phdr's dlpi_tls_data)
 * in the static TLS area below the thread pointer, at the same offset in
 * every thread? A module loaded later (dlopen) may have its block allocated
 * apart, anywhere: that is no offset from tp. */
static int static_tls(const struct collect *c, uintptr_t data)
{
    return data && data < c->tp && data >= c->area_lo && data < c->area_hi;
}

/* This thread's stack holds its TCB and static TLS (glibc puts them at the
 * top of a thread's stack); the main thread's were allocated apart at
 * start-up, a little below its thread pointer. */
static void tls_area(struct collect *c)
{
    pthread_attr_t a;
    void *lo = NULL;
    size_t size = 0;
    c->area_lo = c->tp > (1u << 20) ? c->tp - (1u << 20) : 0;
    c->area_hi = c->tp;
    if (pthread_getattr_np(pthread_self(), &a) != 0)
        return;
    if (pthread_attr_getstack(&a, &lo, &size) == 0 && c->tp >= (uintptr_t)lo &&
        c->tp < (uintptr_t)lo + size)
        c->area_lo = (uintptr_t)lo;
    pthread_attr_destroy(&a);
}

static int collect_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct collect *c = arg;
    if (info->dlpi_name && !strncmp(info->dlpi_name, "linux-vdso", 10))
        return 0;
    if (c->m->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 32;
        struct hs_mod *nv = realloc(c->m->v, nc * sizeof(*nv));
        if (!nv) {
            c->err = HS_E_NOMEM;
            return 1;
        }
        c->m->v = nv;
        c->cap = nc;
    }
    struct hs_mod *m = &c->m->v[c->m->n];
    memset(m, 0, sizeof(*m));
    m->base = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W) && m->nsegs < HS_MOD_MAX_SEGS) {
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
            m->segs[m->nsegs].lo = lo;
            m->segs[m->nsegs].hi = lo + ph->p_memsz;
            if ((uintptr_t)&agent_marker >= lo && (uintptr_t)&agent_marker < lo + ph->p_memsz)
                m->is_agent = 1;
            m->nsegs++;
        }
        if (ph->p_type == PT_TLS && static_tls(c, (uintptr_t)info->dlpi_tls_data)) {
            m->tls_neg = c->tp - (uintptr_t)info->dlpi_tls_data;
            m->tls_size = ph->p_memsz;
            if (m->tls_neg > c->m->tls_extent)
                c->m->tls_extent = m->tls_neg;
        }
    }
    if (!m->nsegs && !m->tls_size)
        return 0;
    char exe[PATH_MAX];
    const char *path = info->dlpi_name;
    if (!path || !path[0]) {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        exe[n > 0 ? n : 0] = '\0';
        path = exe;
    }
    struct symcache *sc = symcache_get(path, m->base);
    if (!sc) {
        c->err = HS_E_NOMEM;
        return 1;
    }
    m->path = sc->path;
    const char *base = strrchr(m->path, '/');
    m->is_libc = !strncmp(base ? base + 1 : m->path, "libc.so", 7);
    m->syms = sc->syms;
    m->nsyms = sc->nsyms;
    m->tls_syms = sc->tls;
    m->ntls_syms = sc->ntls;
    c->m->n++;
    return 0;
}

int hs__roots_modules(struct hs_mods *out)
{
    memset(out, 0, sizeof(*out));
    cache_gen++;
    struct collect c = {.m = out, .tp = (uintptr_t)__builtin_thread_pointer()};
    tls_area(&c);
    dl_iterate_phdr(collect_cb, &c);
    if (c.err) {
        hs__roots_modules_free(out);
        return c.err;
    }
    symcache_sweep();
    return 0;
}

void hs__roots_modules_free(struct hs_mods *m)
{
    free(m->v);
    memset(m, 0, sizeof(*m));
}

const struct hs_sym_range *hs__roots_sym(const struct hs_sym_range *v, size_t n, uintptr_t off)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].off <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Aliases and nested objects: the nearest start that still covers off. */
    for (size_t i = lo, k = 0; i > 0 && k < 4; i--, k++)
        if (off - v[i - 1].off < v[i - 1].size)
            return &v[i - 1];
    return NULL;
}

/* ---- /proc/self/maps (child: system calls only) -------------------------- */

static uintptr_t parse_hex(const char **s)
{
    uintptr_t v = 0;
    for (;; (*s)++) {
        char ch = **s;
        if (ch >= '0' && ch <= '9')
            v = v * 16 + (uintptr_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v = v * 16 + (uintptr_t)(ch - 'a' + 10);
        else
            return v;
    }
}

int hs__roots_read_maps(struct hs_vec *maps)
{
    maps->elem = sizeof(struct hs_map);
    /* Room first: the vector's own mapping, made while the file is read,
     * would be listed too (the caller leaves it out), and growing it then
     * would list memory that is not the program's. */
    if (hs__vec_reserve(maps, 1u << 14) < 0)
        return HS_E_NOMEM;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[8192];
    size_t have = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        have += (size_t)n;
        size_t start = 0;
        for (size_t i = 0; i < have; i++) {
            if (buf[i] != '\n')
                continue;
            const char *s = buf + start;
            struct hs_map m = {0};
            m.lo = parse_hex(&s);
            s++;
            m.hi = parse_hex(&s);
            s++;
            m.readable = s[0] == 'r';
            m.writable = s[1] == 'w';
            m.priv = s[3] == 'p';
            /* Skip perms, offset, device and inode to the path, if any. */
            const char *e = buf + i;
            for (int f = 0; f < 4 && s < e; f++) {
                while (s < e && *s != ' ')
                    s++;
                while (s < e && *s == ' ')
                    s++;
            }
            m.anon = s == e || !strncmp(s, "[heap]", 6);
            struct hs_map *slot = hs__vec_push(maps);
            if (!slot) {
                close(fd);
                return HS_E_NOMEM;
            }
            *slot = m;
            start = i + 1;
        }
        if (n == 0)
            break;
        memmove(buf, buf + start, have - start);
        have -= start;
        if (have == sizeof(buf)) /* a line longer than the buffer: drop it */
            have = 0;
    }
    close(fd);
    return rc;
}

const struct hs_map *hs__roots_map_of(const struct hs_vec *maps, uintptr_t a)
{
    const struct hs_map *v = maps->p;
    size_t lo = 0, hi = maps->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].lo <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || a >= v[lo - 1].hi)
        return NULL;
    return &v[lo - 1];
}
