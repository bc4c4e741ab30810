/*
 * symbolize.c — return addresses of the current process to call frames: the
 * containing function's demangled name, its declaring source file and line
 * (DWARF, through libdwfl, separate debug files included), the module and a
 * per-module script id (docs/design/symbols.md).
 *
 * Owns: the module table (read with dl_iterate_phdr and reported to one Dwfl),
 * the scripts (one per module file, by path and build id, never forgotten),
 * the function records (per script, by offset from the load base), a bounded
 * cache pc -> record, and an arena holding every string handed out, freed
 * only by hs__sym_shutdown. Does not own: unwinding, the call tree.
 *
 * Runs on the service thread or at exit, under one mutex; allocates with the
 * libc malloc (the agent's hooks see these as the service thread's), never
 * prints.
 */
#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libiberty.h tests this macro with #if; say that libc declares basename so
 * that it neither warns (-Wundef) nor declares its own. */
#define HAVE_DECL_BASENAME 1
#include <demangle.h>

#include "heapscope/hs_err.h"
#include "symbolize.h"

/* The pc cache is only a shortcut to the function records: when it holds
 * this many pcs it is emptied, which bounds it to about 1 MiB. */
#define PC_CACHE_MAX (1u << 16)
/* Build ids longer than this (none in practice: SHA-1 is 20) are ignored. */
#define BUILD_ID_MAX 64
/* func_key: script id in the top 16 bits, offset from the load base below.
 * Keys of functions are their entry's offset; a pc that no symbol and no
 * debug information place in a function is its own key, marked by this bit. */
#define KEY_PC_BIT (1ull << 47)
#define KEY_OFF_MASK (KEY_PC_BIT - 1)

/* ---- arena: strings and records, freed together at shutdown ---- */

struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(max_align_t) char data[];
};

/* ---- u64 -> pointer hash table, open addressing (values never NULL) ---- */

struct slot {
    uint64_t key;
    void *val;
};

struct table {
    struct slot *slots;
    size_t cap, count; /* cap: 0 or a power of two */
};

struct script {
    char *path;       /* absolute, canonical ("" never) */
    const char *base; /* the basename inside path */
    unsigned char build_id[BUILD_ID_MAX];
    size_t build_id_len;
    uint32_t id;
    struct table funcs;    /* offset (| KEY_PC_BIT) -> struct func */
    struct table cus;      /* CU DIE offset -> struct cu_index */
    struct symentry *syms; /* code symbols by address; built on first use */
    size_t nsyms;
    bool syms_built;
};

struct func {
    const char *name, *url;
    struct script *script; /* NULL: the unknown form */
    uint64_t key;
    int32_t line, column;
};

/* A symbol of the module's symbol table (.symtab, else .dynsym) that
 * covers code: libdwfl's own address lookup scans every symbol. */
struct symentry {
    uint64_t off, size; /* from the load bias */
    int ndx;            /* for dwfl_module_getsym_info */
    int rank;           /* among aliases the highest is kept */
};

/* One loaded module as the last report saw it. */
struct mapping {
    uintptr_t low, high; /* [low, high) as reported to libdwfl */
    uintptr_t bias;      /* load bias (dlpi_addr) */
    struct script *script;
    Dwfl_Module *mod;
    int state; /* 0 not checked yet, 1 its ELF matches memory, -1 no usable ELF */
};

/* What dl_iterate_phdr gives, copied out under the loader's lock. */
struct raw_module {
    char *name;
    uintptr_t low, high, bias;
    unsigned char build_id[BUILD_ID_MAX];
    size_t build_id_len;
};

struct raw_list {
    struct raw_module *v;
    size_t n, cap;
    bool nomem;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    Dwfl *dwfl;
    struct chunk *arena;
    size_t arena_bytes;
    struct script **scripts;
    size_t nscripts, scripts_cap;
    struct mapping *maps;
    size_t nmaps;
    struct table pcs;
    struct table urls;    /* hash of url -> interned string */
    struct table unknown; /* pc-1 -> unknown-form record */
    size_t nfuncs;
    bool reported;
    unsigned long long adds, subs; /* dl_iterate_phdr's counters at the last report */
    uint64_t reports;
} S;

static void *arena_alloc(size_t n)
{
    n = (n + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    struct chunk *c = S.arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 60000 ? n : 65536 - sizeof(*c);
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->next = S.arena;
        c->used = 0;
        c->cap = cap;
        S.arena = c;
        S.arena_bytes += sizeof(*c) + cap;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static char *arena_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = arena_alloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

static void *table_get(const struct table *t, uint64_t key)
{
    if (!t->cap)
        return NULL;
    for (size_t i = mix(key) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        if (!t->slots[i].val)
            return NULL;
        if (t->slots[i].key == key)
            return t->slots[i].val;
    }
}

static void table_clear(struct table *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->count = 0;
}

/* Adds key (which must be absent); several keys may share a value. */
static int table_put(struct table *t, uint64_t key, void *val)
{
    if ((t->count + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct slot *s = calloc(cap, sizeof(*s));
        if (!s)
            return HS_E_NOMEM;
        for (size_t j = 0; j < t->cap; j++) {
            if (!t->slots[j].val)
                continue;
            size_t i = mix(t->slots[j].key) & (cap - 1);
            while (s[i].val)
                i = (i + 1) & (cap - 1);
            s[i] = t->slots[j];
        }
        free(t->slots);
        t->slots = s;
        t->cap = cap;
    }
    size_t i = mix(key) & (t->cap - 1);
    while (t->slots[i].val)
        i = (i + 1) & (t->cap - 1);
    t->slots[i].key = key;
    t->slots[i].val = val;
    t->count++;
    return 0;
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* Many functions share a file: one copy of each url. Colliding hashes of
 * different strings simply get their own copies. */
static const char *intern_url(const char *s)
{
    uint64_t h = str_hash(s);
    const char *old = table_get(&S.urls, h);
    if (old && !strcmp(old, s))
        return old;
    char *p = arena_strdup(s);
    if (p && !old && table_put(&S.urls, h, p) < 0)
        return p; /* still a valid copy, just not shared */
    return p;
}

/* ---- demangling ---- */

char *hs__sym_demangle(const char *name)
{
    if (!name || name[0] != '_' || (name[1] != 'Z' && name[1] != 'R'))
        return NULL;
    /* The automatic style tries Rust first (legacy names are valid C++ ones
     * too; it then drops the hash), then the Itanium C++ ABI. */
    return cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI);
}

static const char *arena_demangled(const char *name)
{
    /* A .symtab name may carry its symbol version (memcpy@@GLIBC_2.14):
     * the function is the same whatever the version, and V8 names have none. */
    char plain[512];
    const char *at = strchr(name, '@');
    if (at && at > name && (size_t)(at - name) < sizeof(plain)) {
        memcpy(plain, name, (size_t)(at - name));
        plain[at - name] = '\0';
        name = plain;
    }
    char *d = hs__sym_demangle(name);
    const char *r = arena_strdup(d ? d : name);
    free(d);
    return r;
}

/* ---- the process's modules ---- */

static void note_build_id(const struct dl_phdr_info *info, const ElfW(Phdr) * ph,
                          struct raw_module *m)
{
    const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
    size_t left = ph->p_memsz, align = ph->p_align == 8 ? 8 : 4;
    while (left >= sizeof(ElfW(Nhdr))) {
        ElfW(Nhdr) nh;
        memcpy(&nh, p, sizeof(nh));
        size_t namesz = (nh.n_namesz + align - 1) & ~(align - 1);
        size_t descsz = (nh.n_descsz + align - 1) & ~(align - 1);
        size_t total = sizeof(nh) + namesz + descsz;
        if (namesz > left || descsz > left || total > left)
            return;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && !memcmp(p + sizeof(nh), "GNU", 4) &&
            nh.n_descsz <= BUILD_ID_MAX) {
            memcpy(m->build_id, p + sizeof(nh) + namesz, nh.n_descsz);
            m->build_id_len = nh.n_descsz;
            return;
        }
        p += total;
        left -= total;
    }
}

static int collect_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct raw_list *l = arg;
    (void)size;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct raw_module *v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            l->nomem = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    struct raw_module *m = &l->v[l->n];
    memset(m, 0, sizeof(*m));
    m->bias = info->dlpi_addr;
    bool first = true;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_NOTE && !m->build_id_len) {
            note_build_id(info, ph, m);
        } else if (ph->p_type == PT_LOAD) {
            /* libdwfl places the file so that its first PT_LOAD, aligned
             * down, is at the module's start: report that start. */
            uintptr_t lo = ph->p_vaddr;
            if (ph->p_align > 1)
                lo &= ~(uintptr_t)(ph->p_align - 1);
            lo += info->dlpi_addr;
            uintptr_t hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
            if (first)
                m->low = lo;
            if (first || hi > m->high)
                m->high = hi;
            first = false;
        }
    }
    if (first || m->high <= m->low)
        return 0;
    m->name = strdup(info->dlpi_name ? info->dlpi_name : "");
    if (!m->name) {
        l->nomem = true;
        return 1;
    }
    l->n++;
    return 0;
}

static int counters_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *c = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
        c[0] = info->dlpi_adds;
        c[1] = info->dlpi_subs;
    }
    return 1;
}

/* The module's file name, absolute and canonical, into buf; false when the
 * object has no file (the vDSO). The main program has an empty name. */
static bool module_path(const char *name, char *buf, size_t len, bool first)
{
    if (!name[0] && first) {
        ssize_t n = readlink("/proc/self/exe", buf, len - 1);
        if (n <= 0)
            return false;
        buf[n] = 0;
        return true;
    }
    if (!strchr(name, '/'))
        return false;
    char tmp[PATH_MAX];
    if (realpath(name, tmp) && strlen(tmp) < len) {
        memcpy(buf, tmp, strlen(tmp) + 1);
        return true;
    }
    /* Gone from the disk: keep the name the loader used. */
    if (strlen(name) >= len)
        return false;
    memcpy(buf, name, strlen(name) + 1);
    return name[0] == '/';
}

static struct script *script_for(const char *path, const unsigned char *id, size_t idlen)
{
    for (size_t i = 0; i < S.nscripts; i++) {
        struct script *s = S.scripts[i];
        if (s->build_id_len == idlen && !memcmp(s->build_id, id, idlen) && !strcmp(s->path, path))
            return s;
    }
    if (S.nscripts >= 0xffff) /* the id must fit the key's top 16 bits */
        return NULL;
    if (S.nscripts == S.scripts_cap) {
        size_t cap = S.scripts_cap ? S.scripts_cap * 2 : 32;
        struct script **v = realloc(S.scripts, cap * sizeof(*v));
        if (!v)
            return NULL;
        S.scripts = v;
        S.scripts_cap = cap;
    }
    struct script *s = arena_alloc(sizeof(*s));
    char *p = arena_strdup(path);
    if (!s || !p)
        return NULL;
    memset(s, 0, sizeof(*s));
    s->path = p;
    const char *slash = strrchr(p, '/');
    s->base = slash ? slash + 1 : p;
    memcpy(s->build_id, id, idlen);
    s->build_id_len = idlen;
    s->id = (uint32_t)++S.nscripts;
    S.scripts[S.nscripts - 1] = s;
    return s;
}

static int find_elf_cb(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                       char **file_name, Elf **elfp)
{
    (void)mod;
    (void)userdata;
    (void)base;
    *elfp = NULL;
    if (modname[0] != '/')
        return -1;
    int fd = open(modname, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    *file_name = strdup(modname);
    return fd;
}

static const Dwfl_Callbacks callbacks = {
    .find_elf = find_elf_cb,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

static int cmp_mapping(const void *a, const void *b)
{
    const struct mapping *x = a, *y = b;
    return x->low < y->low ? -1 : x->low > y->low;
}

/* Reads the loaded modules and reports them to libdwfl. libdwfl keeps (with
 * its caches) the modules reported again with the same name and range and
 * drops the others. A file at the same path and range whose build id
 * changed (replaced on disk and loaded again) would be kept stale, so then
 * the whole Dwfl is started afresh. The pc cache is always emptied: a pc may
 * now belong to another module, or to a module where there was none. */
static int report_modules(void)
{
    struct raw_list l = {0};
    unsigned long long c[2] = {~0ull, ~0ull};
    dl_iterate_phdr(counters_cb, c);
    dl_iterate_phdr(collect_cb, &l);
    int rc = l.nomem ? HS_E_NOMEM : 0;
    struct mapping *maps = calloc(l.n ? l.n : 1, sizeof(*maps));
    if (!maps)
        rc = HS_E_NOMEM;
    size_t n = 0;
    bool fresh = false;
    static char path[PATH_MAX + 16];
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        struct raw_module *r = &l.v[i];
        if (!module_path(r->name, path, sizeof(path), i == 0))
            continue;
        struct script *s = script_for(path, r->build_id, r->build_id_len);
        if (!s)
            continue;
        for (size_t j = 0; j < S.nmaps; j++) {
            const struct mapping *o = &S.maps[j];
            if (o->low == r->low && o->high == r->high && o->script != s &&
                !strcmp(o->script->path, s->path))
                fresh = true;
        }
        maps[n].low = r->low;
        maps[n].high = r->high;
        maps[n].bias = r->bias;
        maps[n].script = s;
        n++;
    }
    if (rc == 0) {
        if (fresh && S.dwfl) {
            dwfl_end(S.dwfl);
            S.dwfl = NULL;
        }
        if (!S.dwfl)
            S.dwfl = dwfl_begin(&callbacks);
        if (!S.dwfl)
            rc = HS_E_NOMEM;
    }
    if (rc == 0) {
        qsort(maps, n, sizeof(*maps), cmp_mapping);
        dwfl_report_begin(S.dwfl);
        for (size_t i = 0; i < n; i++) {
            /* An overlap with an earlier module leaves mod NULL: that
             * module's pcs get the module+offset form. */
            maps[i].mod =
                dwfl_report_module(S.dwfl, maps[i].script->path, maps[i].low, maps[i].high);
        }
        if (dwfl_report_end(S.dwfl, NULL, NULL) != 0) {
            for (size_t i = 0; i < n; i++)
                maps[i].mod = NULL;
        }
        free(S.maps);
        S.maps = maps;
        S.nmaps = n;
        maps = NULL;
        S.adds = c[0];
        S.subs = c[1];
        S.reported = true;
        S.reports++;
    }
    free(maps);
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i].name);
    free(l.v);
    table_clear(&S.pcs);
    return rc;
}

/* Whether a module was loaded or unloaded since the last report: one call
 * of dl_iterate_phdr that stops at the first object. */
static bool modules_changed(void)
{
    unsigned long long c[2] = {~0ull, ~0ull};
    dl_iterate_phdr(counters_cb, c);
    return !S.reported || c[0] != S.adds || c[1] != S.subs || c[0] == ~0ull;
}

static struct mapping *mapping_of(uintptr_t addr)
{
    size_t lo = 0, hi = S.nmaps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (S.maps[mid].low <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || addr >= S.maps[lo - 1].high)
        return NULL;
    return &S.maps[lo - 1];
}

/* The module's ELF, once: it must be placed where the loader put the object
 * and carry the build id found in memory, else the file on the disk is no
 * longer what was loaded and only module+offset can be said. */
static Dwfl_Module *usable_module(struct mapping *m)
{
    if (m->state == 0) {
        m->state = -1;
        GElf_Addr bias;
        if (m->mod && dwfl_module_getelf(m->mod, &bias) && bias == m->bias) {
            const unsigned char *bits;
            GElf_Addr vaddr;
            int len = dwfl_module_build_id(m->mod, &bits, &vaddr);
            const struct script *s = m->script;
            if (!s->build_id_len ||
                (len == (int)s->build_id_len && !memcmp(bits, s->build_id, s->build_id_len)))
                m->state = 1;
        }
    }
    return m->state > 0 ? m->mod : NULL;
}

/* ---- debug information ---- */

struct dinfo {
    uintptr_t entry; /* run-time address of the function's entry */
    const char *linkage, *name, *file, *comp_dir;
    int line, column; /* 1-based, 0 unknown */
};

static const char *attr_string(Dwarf_Die *die, int name)
{
    Dwarf_Attribute a;
    return dwarf_formstring(dwarf_attr_integrate(die, name, &a));
}

/* Where each concrete function of a CU has code: built once per CU by one
 * walk of its DIEs, then searched by address. A walk is needed rather than
 * dwarf_getscopes: code inlined into a function leads getscopes to the
 * inlined function's abstract scopes, not to the function around it, and a
 * C++ lambda's body is a DIE inside its closure type inside the enclosing
 * function, whose own code does not contain the lambda's. */
struct fentry {
    uint64_t lo, hi; /* one range of the function's code (DWARF addresses) */
    uint64_t entry;  /* its first range's start: the function's entry */
    uint64_t die;    /* DIE offsets: the function, and the closure or class around it */
    uint64_t parent;
};

struct cu_index {
    struct fentry *v;
    size_t n, cap;
};

static void index_add(struct cu_index *ix, const struct fentry *e)
{
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 16;
        struct fentry *v = realloc(ix->v, cap * sizeof(*v));
        if (!v)
            return; /* a function less, no more */
        ix->v = v;
        ix->cap = cap;
    }
    ix->v[ix->n++] = *e;
}

static void index_walk(Dwarf_Die *parent, uint64_t type_off, struct cu_index *ix, int depth)
{
    Dwarf_Die child;
    if (depth > 64 || dwarf_child(parent, &child) != 0)
        return;
    do {
        int tag = dwarf_tag(&child);
        if (tag == DW_TAG_inlined_subroutine)
            continue; /* nothing concrete inside */
        if (tag == DW_TAG_subprogram &&
            (dwarf_hasattr(&child, DW_AT_low_pc) || dwarf_hasattr(&child, DW_AT_ranges))) {
            struct fentry e = {.die = dwarf_dieoffset(&child), .parent = type_off};
            Dwarf_Addr base, lo, hi;
            ptrdiff_t off = 0;
            bool first = true;
            /* GCC lists the entry's range first (then a .cold part). */
            while ((off = dwarf_ranges(&child, off, &base, &lo, &hi)) > 0) {
                if (first)
                    e.entry = lo;
                first = false;
                e.lo = lo;
                e.hi = hi;
                if (hi > lo)
                    index_add(ix, &e);
            }
        }
        if (dwarf_haschildren(&child) == 1) {
            bool type = tag == DW_TAG_structure_type || tag == DW_TAG_class_type;
            index_walk(&child, type ? dwarf_dieoffset(&child) : 0, ix, depth + 1);
        }
    } while (dwarf_siblingof(&child, &child) == 0);
}

static int cmp_fentry(const void *a, const void *b)
{
    const struct fentry *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static const struct fentry *index_find(const struct cu_index *ix, uint64_t pc)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->v[mid].lo <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Ranges of functions do not overlap; a few steps back cover odd ones. */
    for (size_t i = lo, k = 0; i > 0 && k < 8; i--, k++) {
        if (ix->v[i - 1].lo <= pc && pc < ix->v[i - 1].hi)
            return &ix->v[i - 1];
    }
    return NULL;
}

static struct cu_index *cu_index_of(struct script *s, Dwarf_Die *cu)
{
    uint64_t off = dwarf_dieoffset(cu);
    struct cu_index *ix = table_get(&s->cus, off);
    if (ix)
        return ix;
    ix = calloc(1, sizeof(*ix));
    if (!ix)
        return NULL;
    index_walk(cu, 0, ix, 0);
    qsort(ix->v, ix->n, sizeof(*ix->v), cmp_fentry);
    if (table_put(&s->cus, off, ix) < 0) {
        free(ix->v);
        free(ix);
        return NULL;
    }
    return ix;
}

/* The concrete (out-of-line) function holding addr. */
static bool dwarf_function(struct script *s, Dwfl_Module *mod, uintptr_t addr, struct dinfo *di)
{
    Dwarf_Addr dbias;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, &dbias);
    if (!cu)
        return false;
    struct cu_index *ix = cu_index_of(s, cu);
    const struct fentry *e = ix ? index_find(ix, addr - dbias) : NULL;
    Dwarf *dw = dwarf_cu_getdwarf(cu->cu);
    Dwarf_Die fn_mem, *fn = e && dw ? dwarf_offdie(dw, e->die, &fn_mem) : NULL;
    if (!fn)
        return false;
    memset(di, 0, sizeof(*di));
    di->entry = (uintptr_t)(e->entry + dbias);
    di->linkage = attr_string(fn, DW_AT_linkage_name);
    if (!di->linkage)
        di->linkage = attr_string(fn, DW_AT_MIPS_linkage_name);
    di->name = attr_string(fn, DW_AT_name);
    Dwarf_Die type_mem, *decl = fn;
    /* A lambda's operator() has no position of its own: its closure type
     * has the lambda's. */
    if (!dwarf_hasattr_integrate(fn, DW_AT_decl_line) && e->parent &&
        dwarf_offdie(dw, e->parent, &type_mem))
        decl = &type_mem;
    di->file = dwarf_decl_file(decl);
    if (dwarf_decl_line(decl, &di->line) != 0 || di->line < 0)
        di->line = 0;
    if (dwarf_decl_column(decl, &di->column) != 0 || di->column < 0)
        di->column = 0;
    Dwarf_Attribute a;
    di->comp_dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &a));
    return true;
}

/* "file://" + the absolute, lexically cleaned path (no "." or ".."). When
 * even the compilation directory is relative (reproducible builds map it,
 * as Debian's do: "./csu"), no absolute path exists: the cleaned relative
 * path is given without "file://" ("stdlib/msort.c"), which still names the
 * file and goes with its line. */
static const char *file_url(const char *file, const char *comp_dir)
{
    static char in[2 * PATH_MAX], out[2 * PATH_MAX + 8];
    /* libdw has joined the name with its line-table directory already; a
     * name still relative is relative to the compilation directory, unless
     * that is relative too, and then libdw has used it. */
    int n = file[0] == '/' || !comp_dir || comp_dir[0] != '/'
                ? snprintf(in, sizeof(in), "%s", file)
                : snprintf(in, sizeof(in), "%s/%s", comp_dir, file);
    if (n <= 0 || (size_t)n >= sizeof(in))
        return NULL;
    bool abs = in[0] == '/';
    size_t o = abs ? strlen(strcpy(out, "file://")) : 0;
    size_t root = o, up = o; /* out[root, up) holds leading ".." of a relative path */
    for (const char *p = in; *p;) {
        while (*p == '/')
            p++;
        const char *e = strchrnul(p, '/');
        size_t len = (size_t)(e - p);
        if (len == 0 || (len == 1 && p[0] == '.')) {
            /* nothing */
        } else if (len == 2 && p[0] == '.' && p[1] == '.' && o > up) {
            while (o > up && out[o - 1] != '/')
                o--;
            if (o > up)
                o--;
        } else if (!(len == 2 && p[0] == '.' && p[1] == '.' && abs)) {
            if (abs || o > root)
                out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
            if (len == 2 && p[0] == '.' && p[1] == '.')
                up = o;
        }
        p = e;
    }
    if (o == root)
        out[o++] = abs ? '/' : '.';
    out[o] = 0;
    return intern_url(out);
}

/* ---- records ---- */

static struct func *new_func(struct script *s, uint64_t off, const char *name, const char *url,
                             int line, int column)
{
    struct func *f = arena_alloc(sizeof(*f));
    if (!f || !name || !url)
        return NULL;
    f->name = name;
    f->url = url;
    f->script = s;
    f->key = ((uint64_t)s->id << 48) | off;
    f->line = line > 0 ? line - 1 : -1;
    f->column = column > 0 ? column - 1 : -1;
    if (table_put(&s->funcs, off, f) < 0)
        return NULL;
    S.nfuncs++;
    return f;
}

static int cmp_symentry(const void *a, const void *b)
{
    const struct symentry *x = a, *y = b;
    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return y->rank - x->rank;
}

/* Aliases at one address: a global name over a weak one over a local one,
 * then the one with fewer leading underscores (malloc, not __libc_malloc). */
static int sym_rank(const GElf_Sym *sym, const char *name)
{
    int b = GELF_ST_BIND(sym->st_info);
    int r = b == STB_GLOBAL ? 300 : b == STB_WEAK ? 200 : 100;
    for (const char *p = name; *p == '_' && r > 0; p++)
        r--;
    return r;
}

static void build_symbols(struct script *s, Dwfl_Module *mod, uintptr_t bias)
{
    s->syms_built = true;
    int n = dwfl_module_getsymtab(mod);
    if (n <= 1)
        return;
    struct symentry *v = malloc((size_t)n * sizeof(*v));
    if (!v)
        return;
    size_t k = 0;
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        GElf_Word shndx;
        const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx, NULL, NULL);
        int type = GELF_ST_TYPE(sym.st_info);
        if (!name || !name[0] || sym.st_size == 0 || sym.st_shndx == SHN_UNDEF || addr < bias ||
            (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE))
            continue;
        v[k].off = addr - bias;
        v[k].size = sym.st_size;
        v[k].ndx = i;
        v[k].rank = sym_rank(&sym, name);
        k++;
    }
    qsort(v, k, sizeof(*v), cmp_symentry);
    size_t j = 0;
    for (size_t i = 0; i < k; i++) {
        if (j == 0 || v[j - 1].off != v[i].off)
            v[j++] = v[i];
    }
    s->syms = v;
    s->nsyms = j;
}

/* The symbol whose code holds off, its name into *name. */
static const struct symentry *symbol_of(struct script *s, Dwfl_Module *mod, uint64_t off,
                                        const char **name)
{
    size_t lo = 0, hi = s->nsyms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->syms[mid].off <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo, k = 0; i > 0 && k < 4; i--, k++) {
        const struct symentry *e = &s->syms[i - 1];
        if (off - e->off < e->size) {
            GElf_Sym sym;
            GElf_Addr addr;
            *name = dwfl_module_getsym_info(mod, e->ndx, &sym, &addr, NULL, NULL, NULL);
            return *name ? e : NULL;
        }
    }
    return NULL;
}

/* The record of the function holding addr in module m. */
static struct func *function_of(struct mapping *m, uintptr_t addr)
{
    struct script *s = m->script;
    Dwfl_Module *mod = usable_module(m);
    uintptr_t sym_start = 0;
    const char *sym_name = NULL;
    if (mod) {
        if (!s->syms_built)
            build_symbols(s, mod, m->bias);
        /* Only a symbol that covers addr: a sizeless one before it is
         * usually a label of something else. */
        const struct symentry *e = symbol_of(s, mod, addr - m->bias, &sym_name);
        if (e) {
            sym_start = m->bias + e->off;
            struct func *f = table_get(&s->funcs, e->off & KEY_OFF_MASK);
            if (f)
                return f;
        }
    }
    struct dinfo di;
    if (mod && dwarf_function(s, mod, addr, &di)) {
        uint64_t off = (di.entry - m->bias) & KEY_OFF_MASK;
        struct func *f = table_get(&s->funcs, off);
        if (!f) {
            const char *name;
            if (di.linkage)
                name = arena_demangled(di.linkage);
            else if (sym_name && sym_start == di.entry)
                name = arena_demangled(sym_name);
            else if (di.name)
                name = arena_strdup(di.name);
            else if (sym_name)
                name = arena_demangled(sym_name);
            else
                name = NULL;
            const char *url = di.file ? file_url(di.file, di.comp_dir) : NULL;
            if (!url) {
                url = s->path;
                di.line = di.column = 0;
            }
            if (!name) {
                char buf[64];
                snprintf(buf, sizeof(buf), "+0x%llx", (unsigned long long)(di.entry - m->bias));
                char *p = arena_alloc(strlen(s->base) + strlen(buf) + 1);
                if (p)
                    strcat(strcpy(p, s->base), buf);
                name = p;
            }
            f = new_func(s, off, name, url, di.line, di.column);
            if (!f)
                return NULL;
        }
        /* A pc in a symbol that starts elsewhere (a .cold part) finds the
         * function through its symbol next time. */
        uint64_t soff = (sym_start - m->bias) & KEY_OFF_MASK;
        if (sym_name && soff != off && !table_get(&s->funcs, soff))
            table_put(&s->funcs, soff, f);
        return f;
    }
    if (sym_name) {
        uint64_t off = (sym_start - m->bias) & KEY_OFF_MASK;
        return new_func(s, off, arena_demangled(sym_name), s->path, 0, 0);
    }
    /* Nothing but the module: one record per pc. */
    uint64_t off = ((addr - m->bias) & KEY_OFF_MASK) | KEY_PC_BIT;
    struct func *f = table_get(&s->funcs, off);
    if (f)
        return f;
    char buf[64];
    snprintf(buf, sizeof(buf), "+0x%llx", (unsigned long long)(addr - m->bias));
    char *p = arena_alloc(strlen(s->base) + strlen(buf) + 1);
    if (p)
        strcat(strcpy(p, s->base), buf);
    return new_func(s, off, p, s->path, 0, 0);
}

static struct func *unknown_func(uintptr_t addr)
{
    struct func *old = table_get(&S.unknown, addr);
    if (old)
        return old;
    char buf[32];
    snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)addr);
    struct func *f = arena_alloc(sizeof(*f));
    const char *name = arena_strdup(buf);
    if (!f || !name)
        return NULL;
    f->name = name;
    f->url = "";
    f->script = NULL;
    f->key = addr;
    f->line = f->column = -1;
    if (table_put(&S.unknown, addr, f) < 0)
        return NULL;
    return f;
}

static void fill(hs_sym *out, const struct func *f)
{
    out->function = f->name;
    out->url = f->url;
    out->module = f->script ? f->script->path : "";
    out->func_key = f->key;
    out->script_id = f->script ? f->script->id : 0;
    out->line = f->line;
    out->column = f->column;
}

int hs__sym_resolve(uintptr_t pc, hs_sym *out)
{
    uintptr_t addr = pc - 1;
    pthread_mutex_lock(&lock);
    int rc = 0;
    if (modules_changed())
        rc = report_modules();
    struct func *f = rc == 0 ? table_get(&S.pcs, pc) : NULL;
    if (!f && rc == 0) {
        struct mapping *m = mapping_of(addr);
        f = m ? function_of(m, addr) : unknown_func(addr);
        if (!f) {
            rc = HS_E_NOMEM;
        } else {
            if (S.pcs.count >= PC_CACHE_MAX)
                table_clear(&S.pcs);
            table_put(&S.pcs, pc, f);
        }
    }
    if (f) {
        fill(out, f);
        if (!f->script)
            rc = HS_E_NOTFOUND;
    } else {
        out->function = out->url = out->module = "";
        out->func_key = addr;
        out->script_id = 0;
        out->line = out->column = -1;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int hs__sym_call_line(uintptr_t pc, char *file, size_t size, int *line)
{
    uintptr_t addr = pc - 1;
    int rc = HS_E_NOTFOUND;
    pthread_mutex_lock(&lock);
    if (!modules_changed() || report_modules() == 0) {
        struct mapping *m = mapping_of(addr);
        Dwfl_Module *mod = m ? usable_module(m) : NULL;
        Dwfl_Line *l = mod ? dwfl_module_getsrc(mod, addr) : NULL;
        int ln = 0;
        const char *src = l ? dwfl_lineinfo(l, NULL, &ln, NULL, NULL, NULL) : NULL;
        if (src && ln > 0) {
            const char *b = strrchr(src, '/');
            snprintf(file, size, "%s", b ? b + 1 : src);
            *line = ln;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void hs__sym_stats(struct hs_sym_stats *st)
{
    pthread_mutex_lock(&lock);
    memset(st, 0, sizeof(*st));
    st->modules = S.nscripts;
    st->mappings = S.nmaps;
    st->functions = S.nfuncs;
    st->pc_cached = S.pcs.count;
    st->string_bytes = S.arena_bytes;
    st->table_bytes = (S.pcs.cap + S.urls.cap + S.unknown.cap) * sizeof(struct slot) +
                      S.scripts_cap * sizeof(*S.scripts) + S.nmaps * sizeof(*S.maps);
    for (size_t i = 0; i < S.nscripts; i++) {
        const struct table *t = &S.scripts[i]->cus;
        st->table_bytes += (S.scripts[i]->funcs.cap + t->cap) * sizeof(struct slot) +
                           S.scripts[i]->nsyms * sizeof(struct symentry);
        for (size_t j = 0; j < t->cap; j++) {
            const struct cu_index *ix = t->slots[j].val;
            if (ix)
                st->table_bytes += sizeof(*ix) + ix->cap * sizeof(*ix->v);
        }
    }
    st->reports = S.reports;
    pthread_mutex_unlock(&lock);
}

void hs__sym_shutdown(void)
{
    pthread_mutex_lock(&lock);
    if (S.dwfl)
        dwfl_end(S.dwfl);
    for (size_t i = 0; i < S.nscripts; i++) {
        struct table *t = &S.scripts[i]->cus;
        for (size_t j = 0; j < t->cap; j++) {
            struct cu_index *ix = t->slots[j].val;
            if (ix) {
                free(ix->v);
                free(ix);
            }
        }
        table_clear(t);
        table_clear(&S.scripts[i]->funcs);
        free(S.scripts[i]->syms);
    }
    free(S.scripts);
    free(S.maps);
    table_clear(&S.pcs);
    table_clear(&S.urls);
    table_clear(&S.unknown);
    while (S.arena) {
        struct chunk *c = S.arena;
        S.arena = c->next;
        free(c);
    }
    memset(&S, 0, sizeof(S));
    pthread_mutex_unlock(&lock);
}
