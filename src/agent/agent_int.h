/*
 * agent_int.h — private to libheapscope: the declarations the agent's files
 * share, grouped by the file that defines them. Nothing outside src/agent
 * includes this header.
 *
 * The agent has two zones. The allocation-free zone (shim/, track/) runs inside
 * the program's malloc calls: it takes no global lock on the fast path, calls
 * no stdio and never allocates through the hooks; its own memory comes from the
 * real allocator through hs__imem_*. Everything else (agent.c, config.c) runs
 * at load, at exit or on explicit API calls.
 */
#ifndef HS_AGENT_INT_H
#define HS_AGENT_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HS_LIKELY(x) __builtin_expect(!!(x), 1)
#define HS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HS_EXPORT __attribute__((visibility("default")))
#define HS_TLS __thread __attribute__((tls_model("initial-exec")))

/* ---- track/imem.c: the agent's own memory, never tracked ---------------- */

/* The underlying allocator's entry points, found with dlsym(RTLD_NEXT). The
 * shim fills this before it tracks anything; unit tests that link the
 * registry without the shim point it at libc's functions themselves. */
struct hs_real_fns {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
};
extern struct hs_real_fns hs__real;

void *hs__imem_alloc(size_t n); /* zeroed; NULL on failure */
void hs__imem_free(void *p, size_t n);
/* Bytes the agent's own structures hold now (registry tables, leaves). */
uint64_t hs__imem_in_use(void);

/* ---- track/registry.c: every live block ---------------------------------- */

typedef struct hs_block {
    uintptr_t addr;
    uint64_t size; /* requested size */
    uint32_t id;   /* odd HeapSnapshotObjectId */
    uint32_t site; /* index into the site table; 0 = unknown */
} hs_block;

/* Inserts a block. If a block with the same start address is still recorded
 * (its free was not seen), it is replaced and *replaced receives it and the
 * function returns 1; otherwise returns 0. Returns HS_E_NOMEM if the registry
 * could not grow; the block is then not recorded (a stale block found first
 * is removed all the same, and still handed back in *replaced). */
int hs__registry_insert(uintptr_t addr, uint64_t size, uint32_t id, uint32_t site,
                        hs_block *replaced);
/* Removes the block starting at addr into *out: 1 if it was there, else 0. */
int hs__registry_remove(uintptr_t addr, hs_block *out);
/* Finds the block that starts at or contains addr: 1 if found, else 0. */
int hs__registry_lookup(uintptr_t addr, hs_block *out);
/* Finds the live block with object id `id` (a scan): 1 if found, else 0. */
int hs__registry_find_id(uint32_t id, hs_block *out);

/* Calls cb for every recorded block; a nonzero return stops the walk and is
 * returned. Weakly consistent when other threads mutate: each leaf is visited
 * under its lock, so a block that stays at its address for the whole walk is
 * seen exactly once, one allocated or freed meanwhile may or may not be. For a
 * point-in-time view call hs__registry_freeze() first (then pass locked=1).
 * cb runs with a leaf lock held (unless locked=1): it must not allocate
 * through the hooks (agent threads never do: their guard is always set). */
typedef int (*hs_block_fn)(const hs_block *b, void *arg);
int hs__registry_foreach(hs_block_fn cb, void *arg, int locked);

/* Takes every registry lock, in rank order (structure, overflow, leaves):
 * from then on no thread can change the registry until hs__registry_thaw().
 * Used around fork() and for point-in-time iteration. */
void hs__registry_freeze(void);
void hs__registry_thaw(void);
/* In a fork child: the registry was frozen by the parent's thread, which is
 * now this process's only thread; release everything without waiting. */
void hs__registry_thaw_child(void);

/* With the registry frozen: replaces every block's id by map(id). */
void hs__registry_remap_ids(uint32_t (*map)(uint32_t id, void *arg), void *arg);

/* Blocks and bytes recorded now, summed leaf by leaf. */
void hs__registry_totals(uint64_t *blocks, uint64_t *bytes);

/* ---- track/sites.c: allocation sites ------------------------------------ */

/* Resolves the allocation site for a block whose allocating call returns to
 * ra (the first frame outside the hooks), sp being the stack pointer once it
 * has returned there. If that frame is in a known wrapper and unwinding is
 * on, steps outwards to the first frame that is not. Returns the site id, 0
 * if the table is full. */
uint32_t hs__site_resolve(uintptr_t ra, uintptr_t sp);
/* The return address a site stands for (0 for an unknown id). */
uintptr_t hs__site_addr(uint32_t site);
uint64_t hs__site_count(void);
/* Site ids are below this (slots of a fixed table, not dense). */
uint32_t hs__site_capacity(void);
/* Enables wrapper recognition (needs dladdr) and unwinding past wrappers. */
void hs__sites_enable(int classify, int unwind_depth);
/* Tests whether a symbol name matches the configured wrapper patterns. */
int hs__sites_is_wrapper_name(const char *name);
/* Replaces the wrapper pattern list (comma separated globs, '*' and '?';
 * a leading '+' appends to the default list). Returns the number of
 * patterns, or HS_E_INVAL if the list does not fit its fixed buffer. */
int hs__sites_set_wrappers(const char *spec);
extern const char hs__default_wrappers[];

/* ---- track/frames.c: stepping out of wrapper frames --------------------- */

/* A frame rule: 0 = not looked up yet, HS_FRAME_UNKNOWN = no simple rule,
 * else HS_FRAME_KNOWN | cfa offset from sp | return address offset below
 * the CFA << 15. */
#define HS_FRAME_UNKNOWN 1u
#define HS_FRAME_KNOWN 0x40000000u
#define HS_FRAME_CFA_OFF(r) ((r)&0x7fffu)
#define HS_FRAME_RA_OFF(r) (((r) >> 15) & 0x7fffu)
uint32_t hs__frames_rule(uintptr_t ra);
/* Held around fork() so that a child never inherits it locked. */
void hs__frames_lock(void);
void hs__frames_unlock(void);

/* ---- track/unwind.c: stacks of sampled allocations ------------------------ */

/* Return addresses of the calling thread's stack, innermost first (frames of
 * the agent itself included: the caller drops them). Stops after max frames
 * (the outermost are lost, as V8 truncates) or where the stack cannot be
 * walked further. Never faults, never allocates through the hooks. */
int hs__unwind(uintptr_t *pcs, int max);
enum hs_unwind_mode { HS_UNWIND_AUTO, HS_UNWIND_FP, HS_UNWIND_LIBUNWIND };
void hs__unwind_set_mode(enum hs_unwind_mode m);

/* ---- track/sampler.c: allocation sampling --------------------------------- */

#define HS_SAMPLE_MAX_DEPTH 1024
#define HS_SAMPLE_KEEP_MAJOR 1u /* keep the samples of every freed block */
#define HS_SAMPLE_KEEP_MINOR 2u /* keep those of blocks freed young */

struct hs_sample_params {
    uint64_t interval; /* mean bytes between samples, >= 1 */
    int depth;         /* frames kept, innermost first */
    unsigned flags;    /* HS_SAMPLE_KEEP_* */
    uint64_t young_ns; /* "short-lived": freed within this long */
    uint64_t seed;     /* 0: seeded from the clock */
};
/* One sample as the table keeps it (and as a realloc carries it across the
 * real call). */
struct hs_sample {
    uintptr_t addr;
    uint64_t size;
    uint64_t ordinal;
    uint64_t born_ns;
    uint32_t stack;
    uint32_t epoch;
};
/* What a reader sees: live = 0 for a kept sample of a freed block (addr
 * is then 0). */
struct hs_sample_view {
    uint64_t size;
    uint64_t ordinal;
    uint32_t stack;
    int live;
    uintptr_t addr;
};

extern HS_TLS int64_t hs__tls_countdown;
extern _Atomic uint32_t hs__sample_live;
#define HS_SAMPLE_FILTER_LOG2 16
extern _Atomic uint64_t hs__sample_bits[(1u << HS_SAMPLE_FILTER_LOG2) / 64];

void hs__sample_alloc_slow(uintptr_t addr, uint64_t size, uintptr_t ra, uintptr_t sp);
void hs__sample_free_slow(uintptr_t addr);

static inline uint64_t hs__sample_addr_hash(uintptr_t a)
{
    return (uint64_t)(a >> 4) * 0x9E3779B97F4A7C15ull;
}

static inline uint32_t hs__sample_filter_index(uint64_t h)
{
    return (uint32_t)(h >> (64 - HS_SAMPLE_FILTER_LOG2));
}

/* The fast path of every allocation: a subtraction and a branch. */
static inline void hs__sample_alloc(uintptr_t addr, uint64_t size, uintptr_t ra, uintptr_t sp)
{
    if (HS_UNLIKELY((hs__tls_countdown -= (int64_t)size) < 0))
        hs__sample_alloc_slow(addr, size, ra, sp);
}

/* The fast path of every free: 0 when no sample can be at addr. */
static inline int hs__sample_maybe(uintptr_t addr)
{
    if (HS_LIKELY(atomic_load_explicit(&hs__sample_live, memory_order_relaxed) == 0))
        return 0;
    uint32_t fi = hs__sample_filter_index(hs__sample_addr_hash(addr));
    return (atomic_load_explicit(&hs__sample_bits[fi / 64], memory_order_relaxed) >> (fi % 64)) & 1;
}

/* Takes the sample at addr out of the table (1) or finds none (0). */
int hs__sampler_take(uintptr_t addr, struct hs_sample *out);
void hs__sampler_put_back(const struct hs_sample *s);
/* The block of a taken sample is gone: keep it as collected, or drop it. */
void hs__sampler_retire(const struct hs_sample *s);

/* Control, from the service thread (or at load and exit), serialised by the
 * caller. start returns 1 if sampling was already running (its parameters
 * are kept), 0 if it started. */
int hs__sampler_start(const struct hs_sample_params *p);
void hs__sampler_stop(void);
int hs__sampler_running(struct hs_sample_params *p);
uint64_t hs__sampler_dropped(void);
/* Calls cb for every sample of the running epoch (live ones and kept freed
 * ones), with a shard lock held: cb must be short and must not allocate
 * through the hooks. A nonzero return stops the walk and is returned. */
int hs__sampler_foreach(int (*cb)(const struct hs_sample_view *v, void *arg), void *arg);
/* The pcs of an interned stack (innermost first) and their number; valid
 * until the next start. */
int hs__sampler_stack(uint32_t id, const uintptr_t **pcs);
/* Stacks interned so far (ids 1..n). */
uint32_t hs__sampler_stack_count(void);
/* The allocation timeline's stacks, in the same store: record = unwind the
 * calling thread (from the allocation at site, or ra), intern, and count one
 * allocation of size under it; 0 if it has no stack. totals: the timeline's
 * allocations under a stack since the pin, and their bytes. pin(1) zeroes the
 * totals and keeps a sampling start from clearing the store; pin(0) ends it. */
uint32_t hs__stack_record(uint32_t site, uintptr_t ra, uint64_t size, int depth);
void hs__stack_timeline_totals(uint32_t id, uint64_t *allocs, uint64_t *bytes);
void hs__stacks_pin(int on);
void hs__sampler_lock_all(void);
void hs__sampler_unlock_all(void);
void hs__sampler_unlock_all_child(void);
void hs__sampler_init(void);
void hs__sample_thread_exit(void);

/* ---- track/timeline.c: the allocation timeline's fragments ------------------ */

/* While tracking (HeapProfiler.startTrackingHeapObjects), live blocks and
 * bytes per fragment, an id range closed by each tick. The hooks call these
 * once a block is recorded (with the fragment its id came with) or removed
 * or resized (with its id): one relaxed load when tracking is off. */
extern _Atomic int hs__timeline_on;
void hs__timeline_alloc_slow(uint32_t frag, uint32_t id, uint64_t size, uint32_t site,
                             uintptr_t ra);
void hs__timeline_free_slow(uint32_t id, uint64_t size);
void hs__timeline_resize_slow(uint32_t id, int64_t delta);
static inline void hs__timeline_alloc(uint32_t frag, uint32_t id, uint64_t size, uint32_t site,
                                      uintptr_t ra)
{
    if (HS_UNLIKELY(atomic_load_explicit(&hs__timeline_on, memory_order_relaxed)))
        hs__timeline_alloc_slow(frag, id, size, site, ra);
}
static inline void hs__timeline_free(uint32_t id, uint64_t size)
{
    if (HS_UNLIKELY(atomic_load_explicit(&hs__timeline_on, memory_order_relaxed)))
        hs__timeline_free_slow(id, size);
}
static inline void hs__timeline_resize(uint32_t id, int64_t delta)
{
    if (HS_UNLIKELY(atomic_load_explicit(&hs__timeline_on, memory_order_relaxed)))
        hs__timeline_resize_slow(id, delta);
}
/* Control, from one thread at a time. start: fragment 0 open, counting every
 * live block (one registry walk); restarts a running timeline. close: ends
 * the open fragment at the next id (*end) and opens the next; *closed is its
 * index. read: a fragment's live blocks and bytes now (pending races can make
 * them briefly negative). 0 or HS_E_NOMEM. */
int hs__timeline_start(void);
int hs__timeline_close(uint32_t *closed, uint32_t *end);
void hs__timeline_read(uint32_t k, int64_t *count, int64_t *bytes);
void hs__timeline_stop(void);
/* Stacks (trackAllocations): from now on every recorded block's stack is
 * kept under its id (depth frames), until stacks_off or a stop. stack_of: a
 * live block's stack id, 0 if it was allocated without. on: 0 (also when
 * already on); stacks that cannot be kept are counted as dropped. */
int hs__timeline_stacks_on(int depth);
void hs__timeline_stacks_off(void);
int hs__timeline_stacks_active(void);
uint32_t hs__timeline_stack_of(uint32_t id);
/* Stacks that could not be kept (past the per-recording bound, or no memory). */
uint64_t hs__timeline_stacks_dropped(void);
/* Ids handed out since the start (0 when not tracking). */
uint64_t hs__timeline_allocs(void);
/* domain/timeline.c: the timeline's fields of the HEAPSCOPE_SUMMARY record
 * (snprintf's result): timeline=off|on|stacks, timeline_allocs (ids since
 * the start), timeline_ticks, timeline_stacks (distinct stacks). */
int hs__timeline_summary(char *buf, size_t n);
/* HEAPSCOPE_TRACK at load: the counting (and stacks) start with the first
 * allocation after it; the ticks start with the service thread (none with
 * HEAPSCOPE_LISTEN=off). */
void hs__timeline_load(void);

/* ---- track/track.c: hooks' bookkeeping ----------------------------------- */

/* The process-wide counters. A malloc does one atomic add here (its id);
 * live bytes are counted per thread and folded in every HS_FLUSH_BYTES, so
 * peak_bytes is exact to within that much per thread. Exact live counts come
 * from the registry itself (hs__registry_totals). */
struct hs_counters {
    _Atomic uint64_t seq;        /* ids handed out (low HS_SEQ_BITS): id = first + 2 * seq;
                                  * above them, the timeline's open fragment */
    _Atomic uint64_t unrecorded; /* ids whose block could not be recorded */
    _Atomic int64_t live_bytes;  /* folded-in per-thread deltas */
    _Atomic uint64_t peak_bytes;
    _Atomic uint64_t seq_before_reset; /* allocations counted before id resets */
} __attribute__((aligned(64)));
extern struct hs_counters hs__counters;
#define HS_FLUSH_BYTES (64 * 1024)
/* hs__counters.seq holds two counters, so that one atomic add gives an
 * allocation both its id and its timeline fragment, and a tick's one atomic
 * add closes a fragment at an exact id (track/timeline.c). */
#define HS_SEQ_BITS 40
#define HS_SEQ_MASK ((1ull << HS_SEQ_BITS) - 1)

/* First object id handed to a block; ids below it are reserved for the
 * snapshot's synthetic nodes (root 1, "(GC roots)" 3, subroots 5, 7, ...). */
#define HS_FIRST_OBJECT_ID 101u

/* 0 in HEAPSCOPE_MODE=sample: no registry, only the sampler. */
extern int hs__registry_on;

void hs__track_alloc(void *p, size_t size, uintptr_t ra, uintptr_t sp);
void hs__track_free(void *p);
/* realloc: take the old block (and its sample) out before the real call (so
 * that no other thread can be handed its address and be recorded first),
 * then finish. */
struct hs_realloc_ctx {
    hs_block old;
    struct hs_sample sample;
    int had_block, had_sample;
};
void hs__track_realloc_begin(void *p, struct hs_realloc_ctx *c);
/* Blocks created so far (ids handed out to recorded blocks). */
uint64_t hs__track_allocs(void);
/* HeapProfiler.disable: ids start again from HS_FIRST_OBJECT_ID. Live blocks
 * are renumbered in their allocation order (a pause proportional to their
 * number, with the registry frozen). Returns the number of live blocks. */
uint64_t hs__track_reset_ids(void);
/* Folds the calling thread's pending byte delta into the counters. */
void hs__track_flush(void);
/* Called once by the constructor: arranges for exiting threads to flush. */
void hs__track_init(void);
void hs__track_realloc_end(const struct hs_realloc_ctx *c, void *q, size_t size, uintptr_t ra,
                           uintptr_t sp, int freed);
/* Arranges for the calling thread's state to be flushed and freed when it
 * exits. */
void hs__track_thread_hook(void);

/* ---- config.c ----------------------------------------------------------- */

struct hs_config {
    int verbose;
    int follow_children;
    int autostart; /* -1: decide (preloaded → yes) */
    int unwind_depth;
    char summary[512];
    const char *wrappers;           /* as given, or NULL for the default */
    long owner_pid;                 /* HEAPSCOPE_PID, 0 if unset */
    const char *listen;             /* HEAPSCOPE_LISTEN as given, NULL = default */
    int wait;                       /* HEAPSCOPE_WAIT */
    int preloaded;                  /* LD_PRELOAD named the agent when it was loaded */
    int sample_only;                /* HEAPSCOPE_MODE=sample: no registry */
    long sample;                    /* HEAPSCOPE_SAMPLE: interval to sample from load, 0 = off */
    int sample_depth;               /* HEAPSCOPE_SAMPLE_DEPTH */
    long young_ms;                  /* HEAPSCOPE_YOUNG_MS: "short-lived" for the minor-GC flag */
    unsigned long long sample_seed; /* HEAPSCOPE_SAMPLE_SEED, 0 = from the clock */
    int unwind_mode;                /* HEAPSCOPE_UNWIND, an hs_unwind_mode */
    char profile_out[512];          /* HEAPSCOPE_PROFILE_OUT */
    int profile_signal;             /* HEAPSCOPE_PROFILE_SIGNAL, 0 = none */
    char snapshot_out[512];         /* HEAPSCOPE_SNAPSHOT_OUT, a pattern (%p, %n); never empty */
    int snapshot_at_exit;           /* HEAPSCOPE_SNAPSHOT_AT_EXIT */
    int snapshot_signal;            /* HEAPSCOPE_SNAPSHOT_SIGNAL, 0 = none */
    int track;                      /* HEAPSCOPE_TRACK: 0 off, 1 on, 2 with stacks */
    int track_period_ms;            /* HEAPSCOPE_TRACK_PERIOD_MS: the timeline's tick */
};
extern struct hs_config hs__config;
#define HS_SNAPSHOT_OUT_DEFAULT "heapscope-%p-%n.heapsnapshot"
void hs__config_load(void);
void hs__config_print(int fd);

/* ---- shim/hooks.c ------------------------------------------------------- */

/* 1 once the real allocator is known and hooks record blocks. */
extern _Atomic int hs__shim_ready;
/* 1 in a process that is not profiled: hooks only forward. */
extern _Atomic int hs__shim_passive;
void hs__shim_resolve(void);
/* Sets or clears the calling thread's re-entry guard (agent threads set it
 * for their whole life so that their allocations are never tracked). */
void hs__shim_guard(int on);
int hs__shim_guarded(void);

#ifdef HS_FAULT
/* ---- shim/fault.c: fault injection, in the test build only -------------- */

/* HEAPSCOPE_FAULT_ALLOC=N: counts the agent's own allocations (those made
 * under hs__shim_guard: its threads, its sections on the program's threads)
 * and fails the N-th; 1 when the one being counted must fail. */
int hs__fault_alloc_fails(void);
/* The same, 0 when the calling thread is not in the agent's scope (hooks.c). */
int hs__fault_scoped_alloc_fails(void);
/* HEAPSCOPE_FAULT_FORK=N: 1 (errno EAGAIN) for the N-th snapshot fork. */
int hs__fault_fork_fails(void);
#endif

/* ---- sigwork.c: work on a signal, without a client ----------------------- */

/* On each arrival of signal sig (in this process, not a forked child), calls
 * fn on a thread of the agent (every signal blocked, the hooks' guard set,
 * known to the snapshot engine); arrivals during a call make one more call.
 * Users naming the same signal are each called; a handler that was there
 * before (the program's) is called too. The handler keeps errno and uses
 * SA_RESTART. what (an environment variable's name) is in the message
 * printed if it cannot be done. Returns 0 or -1. */
int hs__sigwork_start(int sig, const char *what, void (*fn)(void));

/* ---- server/service.c: the service thread and its endpoint -------------- */

/* Listens (HEAPSCOPE_LISTEN), prints where, and starts the thread. */
int hs__service_start(void);
void hs__service_stop(void);
void hs__service_after_fork_child(void);
/* HEAPSCOPE_WAIT: blocks the caller until a client sends
 * Runtime.runIfWaitingForDebugger (which calls hs__service_release_wait). */
void hs__service_wait_for_debugger(void);
void hs__service_release_wait(void);
const char *hs__service_target_id(void);

#endif
