/*
 * snapshot_int.h — private to src/agent/snapshot: what the parts of a heap
 * snapshot share (docs/design/snapshot.md).
 *
 * Two worlds. The *parent* (the snapshotting thread, program running)
 * prepares everything that needs malloc, locks or the dynamic loader: the
 * module list with data symbols, the site names, the group ids. The *child*
 * (forked at the capture) only reads those, uses memory from mmap (hs_vec)
 * and makes system calls: it must never call malloc, stdio or anything that
 * may take a lock another thread held at the fork.
 */
#ifndef HS_SNAPSHOT_INT_H
#define HS_SNAPSHOT_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/ucontext.h>

#include "snapshot.h"

/* ---- memory for the child: mmap-backed growable arrays (cmem in graph.c) ---- */

struct hs_vec {
    void *p;
    size_t len, cap; /* in elements */
    size_t elem;
};
/* 0 or HS_E_NOMEM. */
int hs__vec_reserve(struct hs_vec *v, size_t n);
void *hs__vec_push(struct hs_vec *v); /* NULL when out of memory */
void hs__vec_free(struct hs_vec *v);

/* ---- roots.c: modules (prepared by the parent) ---------------------------- */

struct hs_sym_range {
    uintptr_t off; /* from the module's base (data) or its TLS block (TLS) */
    uintptr_t size;
    const char *name;
};

struct hs_seg {
    uintptr_t lo, hi;
};

#define HS_MOD_MAX_SEGS 8
struct hs_mod {
    const char *path;
    uintptr_t base;
    struct hs_seg segs[HS_MOD_MAX_SEGS]; /* writable PT_LOADs */
    int nsegs;
    int is_agent;
    int is_libc; /* holds malloc's own state (main_arena) */
    /* Static TLS: the module's block sits at tp - tls_neg in every thread. */
    uintptr_t tls_neg, tls_size;
    const struct hs_sym_range *syms, *tls_syms; /* sorted by off */
    size_t nsyms, ntls_syms;
    uint32_t gid; /* the (globals) group's id */
};

struct hs_mods {
    struct hs_mod *v;
    size_t n;
    uintptr_t tls_extent; /* the largest tls_neg: static TLS lies in [tp - extent, tp) */
};
/* Parent: the loaded modules now (symbols cached across snapshots). */
int hs__roots_modules(struct hs_mods *out);
void hs__roots_modules_free(struct hs_mods *m);
/* Child: the symbol holding off, or NULL. */
const struct hs_sym_range *hs__roots_sym(const struct hs_sym_range *v, size_t n, uintptr_t off);

/* Child: /proc/self/maps as readable ranges. */
struct hs_map {
    uintptr_t lo, hi;
    unsigned readable : 1, writable : 1;
    unsigned priv : 1; /* private (copy-on-write), not shared */
    unsigned anon : 1; /* no file behind it ([heap] counts as anonymous) */
};
int hs__roots_read_maps(struct hs_vec *maps /* of struct hs_map */);
const struct hs_map *hs__roots_map_of(const struct hs_vec *maps, uintptr_t a);

/* ---- capture.c: the pause -------------------------------------------------- */

#define HS_NREGS 15 /* r8 … rcx of ucontext's gregs: the general registers but rsp, rip */
struct hs_thread {
    pid_t tid;
    int captured;
    uintptr_t sp, tp;
    uintptr_t regs[HS_NREGS];
    char comm[24];
};
extern const char *const hs__reg_names[HS_NREGS];

struct hs_capture {
    struct hs_thread *threads; /* capacity cap, allocated before the pause */
    int nthreads, cap;
    int missed; /* did not answer the stop in time */
    uint64_t pause_ns;
};
/* Does [lo, hi) hold the stack of an agent thread (or of the caller)? */
int hs__capture_agent_stack_in(uintptr_t lo, uintptr_t hi);
/* A thread's name from /proc/PID/task/TID/comm (system calls only). */
void hs__capture_read_comm(pid_t pid, pid_t tid, char *out, size_t size);
/* Threads of the program now (to size hs_capture.threads, with slack). */
int hs__capture_count_threads(void);
/* Stops the program's threads, forks, releases them. In the child, calls
 * child_fn(cap, arg) and _exits with its result; in the parent returns the
 * child's pid or a negative error. The caller holds no lock of the agent. */
pid_t hs__capture_fork(struct hs_capture *cap, int (*child_fn)(struct hs_capture *, void *),
                       void *arg);

/* ---- trace.c: allocation stacks of sampled blocks (prepared by the parent) ---- */

struct hs_trace_func {
    uint64_t key;
    const char *name, *script;        /* the symbolizer's strings */
    uint32_t script_id, line, column; /* line and column 1-based, 0 unknown */
};
struct hs_trace_node {
    uint32_t func, first_child, next_sibling;
    uint64_t count, size; /* estimated allocations here, and their bytes */
};
struct hs_trace_addr {
    uintptr_t addr; /* 0 = empty */
    uint64_t size;
    uint32_t node;
};
struct hs_trace {
    struct hs_trace_func *funcs; /* [0] is "(root)" */
    uint32_t nfuncs, funcs_cap;
    struct hs_trace_node *nodes; /* [0] is the root; wire id = index + 1 */
    uint32_t nnodes, nodes_cap;
    struct hs_trace_addr *map; /* sampled block address -> node */
    size_t nmap, map_cap;
    /* The allocation timeline's stacks: a block's stack comes from its id
     * (hs__timeline_stack_of), and stack_node[stack - 1] is its node's wire
     * id (0 = none). */
    int by_id;
    uint32_t *stack_node;
    uint32_t nstacks;
};
/* Whether the snapshot carries allocation stacks. */
static inline int hs__trace_on(const struct hs_trace *t)
{
    return t->nmap || t->by_id;
}
static inline size_t hs__trace_slot(uintptr_t addr, size_t cap)
{
    return (size_t)(((uint64_t)addr * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}
/* Off (hs__trace_on 0) when neither the timeline records stacks nor
 * sampling runs, or nothing sampled is live. */
int hs__trace_prepare(struct hs_trace *t);
void hs__trace_free(struct hs_trace *t);
/* The wire id of the trace node of the block id at addr of size, 0 = none. */
uint32_t hs__trace_node_of(const struct hs_trace *t, uintptr_t addr, uint64_t size, uint32_t id);

/* ---- graph.c + writer.c: the child ----------------------------------------- */

/* What the parent prepared, read by the child. */
struct hs_snap_in {
    struct hs_mods mods;
    const char *const *site_names; /* by site id; NULL: name it in the child */
    uint32_t nsite_names;
    struct hs_trace trace;
    struct hs_snap_samples samples; /* the parent's, read in the child's copy */
    struct hs_capture *cap;
    int out_fd;
    /* Shared with the parent (MAP_SHARED): progress and the result. */
    struct hs_snap_shared *shared;
};

struct hs_snap_shared {
    _Atomic uint64_t done, total;
    _Atomic int built;    /* the graph is complete, writing starts */
    _Atomic int finished; /* everything written */
    struct hs_snap_stats stats;
};

/* The child's whole job: 0 or an error. */
int hs__graph_run(struct hs_snap_in *in);

/* writer.c: buffered JSON output to a file descriptor, and the string table. */
struct hs_jw {
    int fd;
    char *buf;
    size_t len, cap;
    int err; /* the first write error (-errno); later output is dropped */
    uint64_t bytes;
};
int hs__jw_open(struct hs_jw *w, int fd);
void hs__jw_raw(struct hs_jw *w, const char *s, size_t n);
void hs__jw_lit(struct hs_jw *w, const char *s);
void hs__jw_u64(struct hs_jw *w, uint64_t v);
/* Decimal text of v (system calls only, no stdio): hs__fmt_u64 writes it so
 * that it ends at end and returns its start; hs__put_u64 writes it at p and
 * returns what follows. At most HS_U64_DIGITS characters. */
#define HS_U64_DIGITS 20
char *hs__fmt_u64(char *end, uint64_t v);
char *hs__put_u64(char *p, uint64_t v);
/* A JSON string with quotes: control characters escaped, non-ASCII as
 * \uXXXX (as V8 writes), invalid UTF-8 as '?'. */
void hs__jw_string(struct hs_jw *w, const char *s, size_t n);
int hs__jw_close(struct hs_jw *w); /* flushes; 0 or the first error */

/* Strings by content: index 0 is "<dummy>", as V8's table starts. */
struct hs_strtab {
    struct hs_vec chars; /* of char */
    struct hs_vec offs;  /* of uint64_t: start of each string in chars; one extra at the end */
    uint32_t *slots;     /* open addressing: index + 1, 0 = empty */
    size_t nslots;
};
int hs__strtab_init(struct hs_strtab *t);
/* The index of s[0..n), added if new; UINT32_MAX when out of memory. */
uint32_t hs__strtab_add(struct hs_strtab *t, const char *s, size_t n);
uint32_t hs__strtab_count(const struct hs_strtab *t);
void hs__strtab_get(const struct hs_strtab *t, uint32_t i, const char **s, size_t *n);
void hs__strtab_free(struct hs_strtab *t);

#endif
