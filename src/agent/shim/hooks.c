/*
 * hooks.c — the exported malloc family. Each hook calls the real allocator
 * (found with dlsym(RTLD_NEXT)) and hands the result to track.c; what the
 * program sees — pointers, alignment, errno, NULL on failure, realloc's edge
 * cases — is exactly what the real allocator gave, because every decision is
 * left to it and our bookkeeping saves and restores errno around itself.
 *
 * Three hazards are handled here and nowhere else:
 *  - Bootstrap: dlsym itself may allocate. While the real functions are being
 *    looked up, allocations are served from a static pool; free() ignores
 *    pool pointers and realloc() moves them out.
 *  - Re-entry: a per-thread guard (initial-exec TLS, which never allocates)
 *    is set for the whole hook. A call that arrives while it is set — from the
 *    real allocator, from libunwind or dladdr, from a signal handler that
 *    interrupted a hook, or from an agent thread — goes straight to the real
 *    allocator untracked, so no lock of ours is ever taken twice.
 *  - Ordering: a block leaves the registry *before* the real free/realloc,
 *    so another thread cannot be handed the same address and record it first.
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../agent_int.h"

_Atomic int hs__shim_ready;
_Atomic int hs__shim_passive;
static _Atomic int resolve_state; /* 0 not started, 1 running, 2 done */
static HS_TLS int tls_guard;
static HS_TLS int tls_resolving;
/* Set by newdel.c: operator new's caller and its stack pointer. */
HS_TLS uintptr_t hs__tls_site_hint;
HS_TLS uintptr_t hs__tls_site_hint_sp;

#ifdef HS_FAULT
/* The test build (fault.c): set with the guard by hs__shim_guard, that is for
 * the agent's own threads and sections, never by a hook re-entered. */
static HS_TLS int tls_fault_scope;

int hs__fault_scoped_alloc_fails(void)
{
    return tls_fault_scope && hs__fault_alloc_fails();
}
#define FAULT_NOMEM() HS_UNLIKELY(hs__fault_scoped_alloc_fails())
#else
#define FAULT_NOMEM() 0
#endif

void hs__shim_guard(int on)
{
    tls_guard = on;
#ifdef HS_FAULT
    tls_fault_scope = on;
#endif
}

int hs__shim_guarded(void)
{
    return tls_guard;
}

/* Straight to the real allocator: re-entered, or a process that is not
 * profiled (a child the user did not ask for). */
#define BYPASS()                                                                                   \
    HS_UNLIKELY(tls_guard | atomic_load_explicit(&hs__shim_passive, memory_order_relaxed))

/* A failed allocation as the real allocator reports it (fault build only). */
static inline void *nomem(void)
{
    errno = ENOMEM;
    return NULL;
}

/* ---- bootstrap pool ------------------------------------------------------- */

#define BOOT_POOL_SIZE (256 * 1024)
#define BOOT_HDR 16 /* keeps every pool block 16-byte aligned */
static char boot_pool[BOOT_POOL_SIZE] __attribute__((aligned(64)));
static _Atomic size_t boot_used;

static inline int in_boot(const void *p)
{
    return (const char *)p >= boot_pool && (const char *)p < boot_pool + BOOT_POOL_SIZE;
}

static void *boot_alloc(size_t n, size_t align)
{
    if (align < BOOT_HDR)
        align = BOOT_HDR;
    size_t old = atomic_load_explicit(&boot_used, memory_order_relaxed);
    for (;;) {
        size_t start = (old + BOOT_HDR + align - 1) & ~(align - 1);
        if (n > BOOT_POOL_SIZE || start + n > BOOT_POOL_SIZE) {
            errno = ENOMEM;
            return NULL;
        }
        if (atomic_compare_exchange_weak_explicit(&boot_used, &old, start + n, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            memcpy(boot_pool + start - sizeof(size_t), &n, sizeof(n));
            return boot_pool + start; /* static storage: already zeroed */
        }
    }
}

static size_t boot_size(const void *p)
{
    size_t n;
    memcpy(&n, (const char *)p - sizeof(size_t), sizeof(n));
    return n;
}

/* ---- finding the real allocator ------------------------------------------- */

static void die(const char *msg)
{
    ssize_t rc = write(2, msg, strlen(msg));
    (void)rc;
    abort();
}

#define RESOLVE(field, name) hs__real.field = (__typeof__(hs__real.field))dlsym(RTLD_NEXT, name)

void hs__shim_resolve(void)
{
    int expect = 0;
    if (atomic_compare_exchange_strong(&resolve_state, &expect, 1)) {
        tls_resolving = 1;
        RESOLVE(malloc, "malloc");
        RESOLVE(free, "free");
        RESOLVE(calloc, "calloc");
        RESOLVE(realloc, "realloc");
        RESOLVE(reallocarray, "reallocarray");
        RESOLVE(posix_memalign, "posix_memalign");
        RESOLVE(aligned_alloc, "aligned_alloc");
        RESOLVE(memalign, "memalign");
        RESOLVE(valloc, "valloc");
        RESOLVE(pvalloc, "pvalloc");
        RESOLVE(malloc_usable_size, "malloc_usable_size");
        tls_resolving = 0;
        if (!hs__real.malloc || !hs__real.free || !hs__real.calloc || !hs__real.realloc ||
            !hs__real.posix_memalign || !hs__real.memalign)
            die("heapscope: cannot find the real allocator; not starting\n");
        atomic_store(&resolve_state, 2);
        atomic_store_explicit(&hs__shim_ready, 1, memory_order_release);
        return;
    }
    /* Another thread is resolving (or this one is, re-entered via dlsym). */
    while (!tls_resolving && atomic_load(&resolve_state) != 2)
        sched_yield();
}

/* Returns 1 when the hooks may use hs__real; otherwise the caller serves the
 * request from the bootstrap pool. */
static int ensure_ready(void)
{
    if (!tls_resolving)
        hs__shim_resolve();
    return atomic_load_explicit(&hs__shim_ready, memory_order_acquire);
}

static inline int ready(void)
{
    return HS_LIKELY(atomic_load_explicit(&hs__shim_ready, memory_order_acquire));
}

/* Where a block is charged: the caller's return address, and the stack
 * pointer once the call has returned there (for stepping out of wrappers). */
struct site {
    uintptr_t ra, sp;
};

/* Operator new's caller when our operator new passed it down, else the
 * caller of the hook. Hooks are built with frame pointers, so the hook's
 * return address sits at frame+8 and the caller's sp is frame+16. */
#define TAKE_SITE() take_site(__builtin_return_address(0), __builtin_frame_address(0))

static inline struct site take_site(void *ra, void *frame)
{
    uintptr_t hint = hs__tls_site_hint;
    if (hint) {
        hs__tls_site_hint = 0;
        return (struct site){hint, hs__tls_site_hint_sp};
    }
    return (struct site){(uintptr_t)ra, (uintptr_t)frame + 16};
}

static inline void track_alloc(void *p, size_t n, struct site s)
{
    int e = errno;
    hs__track_alloc(p, n, s.ra, s.sp);
    errno = e;
}

/* ---- the family ----------------------------------------------------------- */

HS_EXPORT void *malloc(size_t n)
{
    if (!ready() && !ensure_ready())
        return boot_alloc(n, 16);
    if (BYPASS())
        return FAULT_NOMEM() ? nomem() : hs__real.malloc(n);
    struct site ra = TAKE_SITE();
    tls_guard = 1;
    void *p = hs__real.malloc(n);
    if (HS_LIKELY(p != NULL))
        track_alloc(p, n, ra);
    tls_guard = 0;
    return p;
}

HS_EXPORT void free(void *p)
{
    if (HS_UNLIKELY(p == NULL || in_boot(p)))
        return;
    if (HS_UNLIKELY(!ready()))
        return; /* cannot be ours to free: nothing was handed out yet */
    if (BYPASS()) {
        hs__real.free(p);
        return;
    }
    tls_guard = 1;
    int e = errno;
    hs__track_free(p);
    errno = e;
    hs__real.free(p);
    tls_guard = 0;
}

HS_EXPORT void *calloc(size_t n, size_t m)
{
    if (!ready() && !ensure_ready()) {
        size_t total;
        if (__builtin_mul_overflow(n, m, &total)) {
            errno = ENOMEM;
            return NULL;
        }
        return boot_alloc(total, 16);
    }
    if (BYPASS())
        return FAULT_NOMEM() ? nomem() : hs__real.calloc(n, m);
    struct site ra = TAKE_SITE();
    tls_guard = 1;
    void *p = hs__real.calloc(n, m);
    if (HS_LIKELY(p != NULL))
        track_alloc(p, n * m, ra); /* cannot overflow: calloc succeeded */
    tls_guard = 0;
    return p;
}

/* realloc of a pool block: move it to the real heap (tracked). */
static void *realloc_from_boot(void *p, size_t n)
{
    if (n == 0)
        return NULL; /* "freed": pool blocks are never reused anyway */
    void *q = malloc(n);
    if (q) {
        size_t old = boot_size(p);
        memcpy(q, p, old < n ? old : n);
    }
    return q;
}

/* The shared body of realloc and reallocarray. which: 0 calls the real
 * realloc(p, n), 1 the real reallocarray(p, n, m); size is the size the
 * block will have if the call succeeds. */
static void *realloc_common(void *p, size_t size, int which, size_t n, size_t m, struct site ra)
{
    tls_guard = 1;
    struct hs_realloc_ctx ctx = {.had_block = 0, .had_sample = 0};
    if (p) {
        int e = errno;
        hs__track_realloc_begin(p, &ctx);
        errno = e;
    }
    void *q = which == 0 ? hs__real.realloc(p, n) : hs__real.reallocarray(p, n, m);
    int e = errno;
    /* glibc's realloc(p, 0) frees p and returns NULL; any other NULL is a
     * failure that leaves p live. */
    int freed = p != NULL && q == NULL && size == 0;
    hs__track_realloc_end(&ctx, q, size, ra.ra, ra.sp, freed);
    errno = e;
    tls_guard = 0;
    return q;
}

HS_EXPORT void *realloc(void *p, size_t n)
{
    if (!ready() && !ensure_ready()) {
        if (p == NULL)
            return boot_alloc(n, 16);
        void *q = boot_alloc(n, 16);
        if (q && in_boot(p)) {
            size_t old = boot_size(p);
            memcpy(q, p, old < n ? old : n);
        }
        return q;
    }
    if (HS_UNLIKELY(in_boot(p)))
        return realloc_from_boot(p, n);
    if (BYPASS())
        return n && FAULT_NOMEM() ? nomem() : hs__real.realloc(p, n);
    return realloc_common(p, n, 0, n, 0, TAKE_SITE());
}

HS_EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
    size_t total;
    int overflow = __builtin_mul_overflow(n, m, &total);
    if (!hs__real.reallocarray || !ready() || in_boot(p)) {
        /* No real reallocarray (or not yet known): glibc's definition. */
        if (overflow) {
            errno = ENOMEM;
            return NULL;
        }
        return realloc(p, total);
    }
    if (BYPASS())
        return total && FAULT_NOMEM() ? nomem() : hs__real.reallocarray(p, n, m);
    /* On overflow the real function fails with ENOMEM and p stays live;
     * size 1 keeps that from being taken for a freeing realloc(p, 0). */
    return realloc_common(p, overflow ? 1 : total, 1, n, m, TAKE_SITE());
}

HS_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (!ready() && !ensure_ready()) {
        if (align < sizeof(void *) || (align & (align - 1)) || align % sizeof(void *))
            return EINVAL;
        void *p = boot_alloc(n, align);
        if (!p)
            return ENOMEM;
        *out = p;
        return 0;
    }
    if (BYPASS())
        return FAULT_NOMEM() ? ENOMEM : hs__real.posix_memalign(out, align, n);
    struct site ra = TAKE_SITE();
    tls_guard = 1;
    int rc = hs__real.posix_memalign(out, align, n);
    if (rc == 0)
        track_alloc(*out, n, ra);
    tls_guard = 0;
    return rc;
}

/* memalign, aligned_alloc, valloc and pvalloc differ only in the real
 * function they call. */
#define ALIGNED_HOOK(name, params, call, boot_align, size_expr)                                    \
    HS_EXPORT void *name params                                                                    \
    {                                                                                              \
        if (!ready() && !ensure_ready())                                                           \
            return boot_alloc(size_expr, boot_align);                                              \
        if (BYPASS())                                                                              \
            return FAULT_NOMEM() ? nomem() : call;                                                 \
        struct site ra = TAKE_SITE();                                                              \
        tls_guard = 1;                                                                             \
        void *p = call;                                                                            \
        if (HS_LIKELY(p != NULL))                                                                  \
            track_alloc(p, size_expr, ra);                                                         \
        tls_guard = 0;                                                                             \
        return p;                                                                                  \
    }

ALIGNED_HOOK(memalign, (size_t align, size_t n), hs__real.memalign(align, n),
             (align & (align - 1)) ? 16 : align, n)
ALIGNED_HOOK(aligned_alloc, (size_t align, size_t n),
             (hs__real.aligned_alloc ? hs__real.aligned_alloc(align, n)
                                     : hs__real.memalign(align, n)),
             (align & (align - 1)) ? 16 : align, n)
ALIGNED_HOOK(valloc, (size_t n),
             (hs__real.valloc ? hs__real.valloc(n)
                              : hs__real.memalign((size_t)sysconf(_SC_PAGESIZE), n)),
             4096, n)
ALIGNED_HOOK(pvalloc, (size_t n),
             (hs__real.pvalloc ? hs__real.pvalloc(n)
                               : hs__real.memalign((size_t)sysconf(_SC_PAGESIZE), n)),
             4096, n)

HS_EXPORT size_t malloc_usable_size(void *p)
{
    if (p && in_boot(p))
        return boot_size(p);
    if (!ready() || !hs__real.malloc_usable_size)
        return 0;
    return hs__real.malloc_usable_size(p);
}
