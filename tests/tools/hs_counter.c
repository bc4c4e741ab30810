/*
 * hs_counter.c — an independent, deliberately simple counting LD_PRELOAD
 * library, used by the integration tests as a second opinion on the numbers
 * that the heapscope agent reports.
 *
 * It interposes the malloc family, forwards every call to the next definition
 * (dlsym(RTLD_NEXT, ...)), and keeps the requested size of every live block in
 * its own mmap-backed open-addressing hash table under one pthread mutex; it
 * never calls malloc itself. It is meant to be preloaded BEFORE the agent
 * (LD_PRELOAD="hs_counter.so:libheapscope.so"), so it sees exactly the calls
 * the program makes. A thread-local depth counter makes sure that only the
 * outermost call is counted (calls made by the forwarded function itself, e.g.
 * by the agent or by reallocarray -> realloc inside libc, are passed through).
 * Allocations made while dlsym runs are served from a small static buffer.
 * The table's lock is a leaf (the real function is called outside it) and is
 * held across fork. Not counted: allocations made by a signal handler that
 * interrupts its thread inside one of these functions (the test programs
 * never do that).
 *
 * At exit (destructor) it appends one line
 *   hs-counter pid=N live_blocks=N live_bytes=N allocs=N frees=N
 * to the file named by $HS_COUNTER_OUT with a single O_APPEND write(2).
 * Definitions are those of the heapscope-summary record: allocs counts blocks
 * created (successful malloc, calloc, memalign, posix_memalign, aligned_alloc,
 * valloc, pvalloc, realloc/reallocarray of NULL); a realloc of a live block
 * that returns a block is not an alloc; frees counts blocks released (free of
 * a tracked pointer, realloc(p, 0) returning NULL); live_* are the blocks
 * still allocated, with their requested sizes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HSC_EXPORT __attribute__((visibility("default")))

/* ------------------------------------------------------------------------ */
/* The next definitions of the malloc family.                                */

static void *(*real_malloc)(size_t);
static void (*real_free)(void *);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void *(*real_reallocarray)(void *, size_t, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);

static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
static atomic_int resolved;

/* Set while this thread runs dlsym: its allocations come from boot_buf. */
static _Thread_local int resolving __attribute__((tls_model("initial-exec")));
/* Depth of counter hooks on this thread: only depth 0 calls are counted. */
static _Thread_local int depth __attribute__((tls_model("initial-exec")));

static void die(const char *msg)
{
    static const char pfx[] = "hs_counter: ";
    ssize_t r = write(2, pfx, sizeof pfx - 1);
    r = write(2, msg, strlen(msg));
    r = write(2, "\n", 1);
    (void)r;
    abort();
}

static void *next_sym(const char *name)
{
    void *s = dlsym(RTLD_NEXT, name);
    if (!s)
        die("dlsym(RTLD_NEXT) failed for a malloc-family function");
    return s;
}

static void resolve_all(void)
{
    resolving = 1;
    /* Converting void * to a function pointer is fine on every ELF target. */
    real_malloc = (void *(*)(size_t))next_sym("malloc");
    real_free = (void (*)(void *))next_sym("free");
    real_calloc = (void *(*)(size_t, size_t))next_sym("calloc");
    real_realloc = (void *(*)(void *, size_t))next_sym("realloc");
    real_reallocarray = (void *(*)(void *, size_t, size_t))next_sym("reallocarray");
    real_posix_memalign = (int (*)(void **, size_t, size_t))next_sym("posix_memalign");
    real_aligned_alloc = (void *(*)(size_t, size_t))next_sym("aligned_alloc");
    real_memalign = (void *(*)(size_t, size_t))next_sym("memalign");
    real_valloc = (void *(*)(size_t))next_sym("valloc");
    real_pvalloc = (void *(*)(size_t))next_sym("pvalloc");
    resolving = 0;
    atomic_store_explicit(&resolved, 1, memory_order_release);
}

static void ensure_resolved(void)
{
    if (!atomic_load_explicit(&resolved, memory_order_acquire))
        pthread_once(&resolve_once, resolve_all);
}

/* ------------------------------------------------------------------------ */
/* Bootstrap buffer for allocations made while dlsym runs. Never reused;     */
/* frees of it are ignored. Each block is preceded by its size.              */

static _Alignas(64) unsigned char boot_buf[64 * 1024];
static atomic_size_t boot_off;

static int is_boot(const void *p)
{
    const unsigned char *c = p;
    return c >= boot_buf && c < boot_buf + sizeof boot_buf;
}

static void *boot_alloc(size_t align, size_t n)
{
    if (align < 16 || align > 4096 || (align & (align - 1)))
        align = 16;
    size_t cur = atomic_load(&boot_off);
    for (;;) {
        uintptr_t base = (uintptr_t)boot_buf;
        uintptr_t start = (base + cur + sizeof(size_t) + align - 1) & ~(uintptr_t)(align - 1);
        size_t end = (size_t)(start - base);
        if (end > sizeof boot_buf || n > sizeof boot_buf - end) {
            errno = ENOMEM;
            return NULL;
        }
        if (atomic_compare_exchange_weak(&boot_off, &cur, end + n)) {
            memcpy((void *)(start - sizeof(size_t)), &n, sizeof n);
            return (void *)start; /* static storage: already zero */
        }
    }
}

static size_t boot_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - sizeof n, sizeof n);
    return n;
}

/* ------------------------------------------------------------------------ */
/* The live-block table: open addressing, linear probing with backward-shift */
/* deletion (no tombstones), mmap-backed, at most half full.                 */

#define KEY_EMPTY ((uintptr_t)0)

struct slot {
    uintptr_t key;
    size_t size;
};

/* Adaptive: spins briefly before sleeping; the critical sections are tiny. */
static pthread_mutex_t lock = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
static struct slot *tab;
static size_t cap;  /* power of two, or 0 before the first insert */
static size_t used; /* live entries */
static uint64_t n_allocs, n_frees, n_live_bytes;

static size_t hash_ptr(uintptr_t k)
{
    k >>= 4;
    k *= (uintptr_t)0x9E3779B97F4A7C15ull;
    return (size_t)(k ^ (k >> 29));
}

static void table_rehash(size_t newcap)
{
    size_t bytes = newcap * sizeof(struct slot);
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        die("mmap failed for the live-block table");
    struct slot *nt = m;
    for (size_t i = 0; i < cap; i++) {
        uintptr_t k = tab[i].key;
        if (k == KEY_EMPTY)
            continue;
        size_t j = hash_ptr(k) & (newcap - 1);
        while (nt[j].key != KEY_EMPTY)
            j = (j + 1) & (newcap - 1);
        nt[j] = tab[i];
    }
    if (tab)
        munmap(tab, cap * sizeof(struct slot));
    tab = nt;
    cap = newcap;
}

/* Under lock. Returns the slot index holding k, or (size_t)-1. */
static size_t table_find(uintptr_t k)
{
    if (!cap)
        return (size_t)-1;
    size_t j = hash_ptr(k) & (cap - 1);
    for (;;) {
        uintptr_t cur = tab[j].key;
        if (cur == k)
            return j;
        if (cur == KEY_EMPTY)
            return (size_t)-1;
        j = (j + 1) & (cap - 1);
    }
}

/* Under lock. Inserts or replaces k. */
static void table_put(uintptr_t k, size_t size)
{
    size_t at = table_find(k);
    if (at != (size_t)-1) {
        /* A block we believed live was released behind our back; replace. */
        n_live_bytes -= tab[at].size;
        tab[at].size = size;
        n_live_bytes += size;
        return;
    }
    if ((used + 1) * 2 > cap)
        table_rehash(cap ? cap * 2 : 4096);
    size_t j = hash_ptr(k) & (cap - 1);
    while (tab[j].key != KEY_EMPTY)
        j = (j + 1) & (cap - 1);
    tab[j].key = k;
    tab[j].size = size;
    used++;
    n_live_bytes += size;
}

/* Under lock. Removes k; returns 1 and its size if it was there. */
static int table_take(uintptr_t k, size_t *size)
{
    size_t at = table_find(k);
    if (at == (size_t)-1)
        return 0;
    *size = tab[at].size;
    used--;
    n_live_bytes -= *size;
    /* Backward shift: move later entries of the probe run into the hole
     * unless their home slot lies cyclically in (hole, j]. */
    size_t mask = cap - 1, hole = at, j = at;
    for (;;) {
        j = (j + 1) & mask;
        if (tab[j].key == KEY_EMPTY)
            break;
        size_t home = hash_ptr(tab[j].key) & mask;
        int stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            tab[hole] = tab[j];
            hole = j;
        }
    }
    tab[hole].key = KEY_EMPTY;
    return 1;
}

static void note_alloc(void *p, size_t n)
{
    pthread_mutex_lock(&lock);
    n_allocs++;
    table_put((uintptr_t)p, n);
    pthread_mutex_unlock(&lock);
}

/* Removes p before the real free, so that another thread that gets the same
 * address back from malloc cannot race with us. Counts the free if tracked. */
static void note_free(void *p)
{
    size_t sz;
    pthread_mutex_lock(&lock);
    if (table_take((uintptr_t)p, &sz))
        n_frees++;
    pthread_mutex_unlock(&lock);
}

static int take_for_realloc(void *p, size_t *old)
{
    pthread_mutex_lock(&lock);
    int t = table_take((uintptr_t)p, old);
    pthread_mutex_unlock(&lock);
    return t;
}

/* After the real realloc(p, n) returned q: q moved-or-not, released, or
 * failed (p still live). */
static void finish_realloc(void *p, int tracked, size_t old, void *q, size_t n)
{
    if (!tracked)
        return; /* untracked blocks stay untracked */
    pthread_mutex_lock(&lock);
    if (q)
        table_put((uintptr_t)q, n);
    else if (n == 0)
        n_frees++;
    else
        table_put((uintptr_t)p, old);
    pthread_mutex_unlock(&lock);
}

/* ------------------------------------------------------------------------ */
/* The interposed functions.                                                 */

HSC_EXPORT void *malloc(size_t n)
{
    if (resolving)
        return boot_alloc(16, n);
    ensure_resolved();
    if (depth)
        return real_malloc(n);
    depth++;
    void *p = real_malloc(n);
    if (p)
        note_alloc(p, n);
    depth--;
    return p;
}

HSC_EXPORT void free(void *p)
{
    if (!p) {
        if (resolving)
            return;
        ensure_resolved();
        real_free(p);
        return;
    }
    if (is_boot(p) || resolving)
        return; /* never forwarded (resolving: nothing to forward to yet) */
    ensure_resolved();
    if (depth) {
        real_free(p);
        return;
    }
    depth++;
    note_free(p);
    real_free(p);
    depth--;
}

HSC_EXPORT void *calloc(size_t m, size_t n)
{
    if (resolving) {
        size_t b;
        if (__builtin_mul_overflow(m, n, &b)) {
            errno = ENOMEM;
            return NULL;
        }
        return boot_alloc(16, b);
    }
    ensure_resolved();
    if (depth)
        return real_calloc(m, n);
    depth++;
    void *p = real_calloc(m, n);
    if (p)
        note_alloc(p, m * n);
    depth--;
    return p;
}

/* realloc and reallocarray of a block from the bootstrap buffer: move it. */
static void *boot_realloc(void *p, size_t n)
{
    size_t old = boot_size(p);
    void *q = resolving ? boot_alloc(16, n) : malloc(n);
    if (q)
        memcpy(q, p, old < n ? old : n);
    return q;
}

static void *realloc_common(void *p, size_t n, size_t m, size_t sz, int is_array)
{
    depth++;
    void *q;
    if (!p) {
        q = is_array ? real_reallocarray(NULL, n, m) : real_realloc(NULL, sz);
        if (q)
            note_alloc(q, sz);
    } else {
        size_t old = 0;
        int tracked = take_for_realloc(p, &old);
        q = is_array ? real_reallocarray(p, n, m) : real_realloc(p, sz);
        finish_realloc(p, tracked, old, q, sz);
    }
    depth--;
    return q;
}

HSC_EXPORT void *realloc(void *p, size_t n)
{
    if (p && is_boot(p))
        return boot_realloc(p, n);
    if (resolving)
        return boot_alloc(16, n);
    ensure_resolved();
    if (depth)
        return real_realloc(p, n);
    return realloc_common(p, n, 0, n, 0);
}

HSC_EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
    size_t sz;
    int ovf = __builtin_mul_overflow(n, m, &sz);
    if ((p && is_boot(p)) || resolving) {
        if (ovf) {
            errno = ENOMEM;
            return NULL;
        }
        return p ? boot_realloc(p, sz) : boot_alloc(16, sz);
    }
    ensure_resolved();
    if (depth || ovf) {
        /* An overflowing call fails without touching p: nothing to count,
         * but keep whatever it calls from being counted. */
        depth++;
        void *q = real_reallocarray(p, n, m);
        depth--;
        return q;
    }
    return realloc_common(p, n, m, sz, 1);
}

HSC_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (resolving) {
        void *q = boot_alloc(align, n);
        if (!q)
            return ENOMEM;
        *out = q;
        return 0;
    }
    ensure_resolved();
    if (depth)
        return real_posix_memalign(out, align, n);
    depth++;
    int rc = real_posix_memalign(out, align, n);
    if (rc == 0)
        note_alloc(*out, n);
    depth--;
    return rc;
}

/* The four allocators of the shape void *f(args) that return a block of n
 * requested bytes. */
#define HSC_SIMPLE(real_call, boot_align, n)                                                       \
    do {                                                                                           \
        if (resolving)                                                                             \
            return boot_alloc((boot_align), (n));                                                  \
        ensure_resolved();                                                                         \
        if (depth)                                                                                 \
            return real_call;                                                                      \
        depth++;                                                                                   \
        void *q_ = real_call;                                                                      \
        if (q_)                                                                                    \
            note_alloc(q_, (n));                                                                   \
        depth--;                                                                                   \
        return q_;                                                                                 \
    } while (0)

HSC_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    HSC_SIMPLE(real_aligned_alloc(align, n), align, n);
}

HSC_EXPORT void *memalign(size_t align, size_t n)
{
    HSC_SIMPLE(real_memalign(align, n), align, n);
}

HSC_EXPORT void *valloc(size_t n)
{
    HSC_SIMPLE(real_valloc(n), 4096, n);
}

HSC_EXPORT void *pvalloc(size_t n)
{
    HSC_SIMPLE(real_pvalloc(n), 4096, n);
}

/* ------------------------------------------------------------------------ */
/* fork safety and the exit record.                                          */

static void before_fork(void)
{
    pthread_mutex_lock(&lock);
}

static void after_fork(void)
{
    pthread_mutex_unlock(&lock);
}

__attribute__((constructor)) static void hsc_init(void)
{
    ensure_resolved();
    pthread_atfork(before_fork, after_fork, after_fork);
}

static char *put_str(char *o, const char *s)
{
    while (*s)
        *o++ = *s++;
    return o;
}

static char *put_u64(char *o, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *o++ = tmp[--n];
    return o;
}

__attribute__((destructor)) static void hsc_fini(void)
{
    const char *path = getenv("HS_COUNTER_OUT");
    if (!path || !*path)
        return;
    pthread_mutex_lock(&lock);
    uint64_t live_blocks = used, live_bytes = n_live_bytes;
    uint64_t allocs = n_allocs, frees = n_frees;
    pthread_mutex_unlock(&lock);

    char line[256], *o = line;
    o = put_str(o, "hs-counter pid=");
    o = put_u64(o, (uint64_t)getpid());
    o = put_str(o, " live_blocks=");
    o = put_u64(o, live_blocks);
    o = put_str(o, " live_bytes=");
    o = put_u64(o, live_bytes);
    o = put_str(o, " allocs=");
    o = put_u64(o, allocs);
    o = put_str(o, " frees=");
    o = put_u64(o, frees);
    *o++ = '\n';

    int saved = errno;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        ssize_t w = write(fd, line, (size_t)(o - line));
        (void)w;
        close(fd);
    }
    errno = saved;
}
