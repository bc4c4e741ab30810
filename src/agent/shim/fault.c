/*
 * fault.c — fault injection for tests/fault, compiled only into the test twin
 * libheapscope_fault.so (HS_FAULT); libheapscope.so has none of it.
 *
 *   HEAPSCOPE_FAULT_ALLOC=N  the N-th allocation the agent makes for itself
 *                            fails (NULL and ENOMEM, as the real allocator
 *                            fails); 0 or unset: only counted
 *   HEAPSCOPE_FAULT_FORK=N   the N-th snapshot fork fails with EAGAIN
 *
 * "For itself" is what runs under hs__shim_guard: the service thread (jansson,
 * wslay, the domains, the snapshot's streaming, symbolization), the signal
 * worker and the agent's sections on the program's threads; never a hook
 * re-entered from the program's own call. The snapshot's child never
 * allocates through the hooks (it may not take malloc's locks).
 *
 *   HEAPSCOPE_FAULT_SPARE=jansson,libdw
 *                            allocations that libraries known to break on a
 *                            failure make are neither failed nor counted:
 *                            jansson 2.14's parser and serialiser (json_load*,
 *                            json_dump*: a failed allocation in its lexer
 *                            overflows a heap block, one in its dumper writes
 *                            invalid JSON; akheron/jansson#362), libdw (its
 *                            default out-of-memory handler exits the process)
 *
 * Each injected failure is announced on stderr when it happens, and the
 * totals once at exit, so that a test knows its N was reached and how many
 * points a session has:
 *   heapscope-fault: failing allocation 12
 *   heapscope-fault: 345 allocations, 1 failed; 2 forks, 0 failed
 * Everything here runs inside malloc: no stdio, no locks; what dlsym and the
 * unwinder allocate on the way is neither counted nor failed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../agent_int.h"

static _Atomic long alloc_fail_at = -1; /* -1: not read yet */
static _Atomic long allocs, allocs_failed;
static _Atomic long fork_fail_at = -1;
static _Atomic long forks, forks_failed;

/* A variable's non-negative number; 0 when unset or not a number. */
static long env_number(const char *name)
{
    const char *s = getenv(name);
    long v = 0;
    for (; s && *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (*s - '0');
    return s && *s == '\0' ? v : 0;
}

/* A line for stderr, built without stdio. */
struct line {
    char buf[200];
    size_t len;
};

static void put_str(struct line *l, const char *s)
{
    while (*s && l->len < sizeof(l->buf))
        l->buf[l->len++] = *s++;
}

static void put_num(struct line *l, long v)
{
    char digits[24];
    char *p = digits + sizeof(digits);
    *--p = '\0';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_str(l, p);
}

static void put_out(const struct line *l)
{
    int e = errno;
    ssize_t rc = write(2, l->buf, l->len);
    (void)rc;
    errno = e;
}

/* ---- spared code --------------------------------------------------------- */

/* Code ranges [lo, hi): an allocation with a return address in one of them on
 * its stack is spared. Filled once, on the first allocation counted. */
#define MAX_SPARED 16
static struct range {
    uintptr_t lo, hi;
} spared[MAX_SPARED];
static int nspared;
static _Atomic int spare_state; /* 0 not read, 1 being read, 2 ready */
static HS_TLS int tls_in_fault;

static void spare_symbol(const char *name)
{
    void *addr = dlsym(RTLD_DEFAULT, name);
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (addr && nspared < MAX_SPARED && dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) &&
        sym && sym->st_size)
        spared[nspared++] = (struct range){(uintptr_t)addr, (uintptr_t)addr + sym->st_size};
}

/* The executable segments of the object that holds addr. */
static int spare_object_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t want = (uintptr_t)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && want >= lo && want < hi) {
            if (nspared < MAX_SPARED)
                spared[nspared++] = (struct range){lo, hi};
            return 1;
        }
    }
    return 0;
}

static void read_spared(void)
{
    const char *spec = getenv("HEAPSCOPE_FAULT_SPARE");
    if (spec && strstr(spec, "jansson")) {
        static const char *const entry[] = {
            "json_loads",     "json_loadb",         "json_loadf",        "json_loadfd",
            "json_load_file", "json_load_callback", "json_dumps",        "json_dumpb",
            "json_dumpf",     "json_dumpfd",        "json_dump_callback"};
        for (size_t i = 0; i < sizeof(entry) / sizeof(entry[0]); i++)
            spare_symbol(entry[i]);
    }
    if (spec && strstr(spec, "libdw")) {
        void *dw = dlsym(RTLD_DEFAULT, "dwarf_begin_elf");
        if (dw)
            dl_iterate_phdr(spare_object_cb, dw);
    }
}

static int is_spared(void)
{
    int st = atomic_load(&spare_state);
    if (st != 2) {
        int expect = 0;
        if (!atomic_compare_exchange_strong(&spare_state, &expect, 1))
            return 1; /* another thread is reading them: spare meanwhile */
        read_spared();
        atomic_store(&spare_state, 2);
    }
    if (!nspared)
        return 0;
    uintptr_t pcs[64];
    int n = hs__unwind(pcs, 64);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nspared; k++)
            if (pcs[i] >= spared[k].lo && pcs[i] < spared[k].hi)
                return 1;
    return 0;
}

/* ---- the countdowns ------------------------------------------------------ */

static long setting(_Atomic long *cached, const char *name)
{
    long v = atomic_load_explicit(cached, memory_order_relaxed);
    if (v < 0) {
        v = env_number(name);
        atomic_store_explicit(cached, v, memory_order_relaxed);
    }
    return v;
}

int hs__fault_alloc_fails(void)
{
    /* dlsym and the unwinder may allocate: those are never counted. */
    if (tls_in_fault)
        return 0;
    tls_in_fault = 1;
    int spare = is_spared();
    tls_in_fault = 0;
    if (spare)
        return 0;
    long at = setting(&alloc_fail_at, "HEAPSCOPE_FAULT_ALLOC");
    long n = atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed) + 1;
    if (n != at)
        return 0;
    atomic_fetch_add_explicit(&allocs_failed, 1, memory_order_relaxed);
    struct line l = {.len = 0};
    put_str(&l, "heapscope-fault: failing allocation ");
    put_num(&l, n);
    put_str(&l, "\n");
    put_out(&l);
    return 1;
}

int hs__fault_fork_fails(void)
{
    long at = setting(&fork_fail_at, "HEAPSCOPE_FAULT_FORK");
    long n = atomic_fetch_add_explicit(&forks, 1, memory_order_relaxed) + 1;
    if (n != at)
        return 0;
    atomic_fetch_add_explicit(&forks_failed, 1, memory_order_relaxed);
    struct line l = {.len = 0};
    put_str(&l, "heapscope-fault: failing snapshot fork ");
    put_num(&l, n);
    put_str(&l, "\n");
    put_out(&l);
    errno = EAGAIN;
    return 1;
}

/* Linked before agent.c, so that at the same priority it runs after the
 * agent's own exit work (the service thread's stop included). */
__attribute__((destructor(101))) static void fault_report(void)
{
    struct line l = {.len = 0};
    put_str(&l, "heapscope-fault: ");
    put_num(&l, atomic_load(&allocs));
    put_str(&l, " allocations, ");
    put_num(&l, atomic_load(&allocs_failed));
    put_str(&l, " failed; ");
    put_num(&l, atomic_load(&forks));
    put_str(&l, " forks, ");
    put_num(&l, atomic_load(&forks_failed));
    put_str(&l, " failed\n");
    put_out(&l);
}
