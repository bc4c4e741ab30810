/*
 * unwind.c — the return addresses of the calling thread's stack, for sampled
 * allocations (docs/design/sampling-plan.md, docs/design/unwind.md).
 *
 * Three modes. AUTO walks frame by frame with each pc's call-frame rule
 * (CFA = rsp + N or rbp + N, return address and saved rbp at fixed offsets
 * from it), read once from the module's CFI by frames.c and cached here in a
 * lock-free, insert-only table keyed by pc; only rsp, rbp and the pc are
 * tracked. A pc whose rule is anything else hands the whole stack to
 * libunwind. FP follows the rbp chain (fast, wrong across frames without a
 * frame pointer). LIBUNWIND is unw_backtrace.
 *
 * This runs inside the program's malloc calls, in any thread, maybe in a
 * signal handler on an alternate stack. Safety rests on one rule: no load
 * from an address that has not been checked to lie in [our own frame, top of
 * the stack we run on), whose pages are all mapped for as long as we run.
 * The bounds are found once per thread (pthread_getattr_np, the slow path)
 * and kept in initial-exec TLS; an alternate signal stack is recognised
 * with sigaltstack. A rule can be wrong (a stale pc after dlclose, a JIT's
 * code without CFI): the walk is then wrong, never a fault. The cache takes
 * no lock once a pc is in it; filling it takes frames.c's lock, with the
 * caller's re-entry guard set so that libdw's allocations are not tracked
 * and a signal handler on this thread cannot re-enter.
 *
 * Not here: dropping the agent's own frames (the sampler), symbols.
 */
#include <pthread.h>
#include <signal.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "../agent_int.h"
#include "frames.h"

static _Atomic int unwind_mode = HS_UNWIND_AUTO;
static _Atomic uint64_t fallbacks;

uint64_t hs__unwind_fallbacks(void)
{
    return atomic_load_explicit(&fallbacks, memory_order_relaxed);
}

void hs__unwind_set_mode(enum hs_unwind_mode m)
{
    atomic_store_explicit(&unwind_mode, (int)m, memory_order_relaxed);
}

/* ---- per-pc rules --------------------------------------------------------- */

/* A packed rule: kind (HS_CFI_*) in bits 0-1, 0 meaning "being looked up";
 * CFA base rbp in bit 2, CFA loaded from memory in bit 3; how to find rbp
 * in bits 4-5; cfa_off in bits 8-31, ra_off in 32-47, rbp_off in 48-63,
 * all signed (frames.h bounds them to fit). */
#define R_KIND(r) ((unsigned)(r)&3u)
#define R_CFA_RBP(r) (((r) >> 2) & 1u)
#define R_CFA_DEREF(r) (((r) >> 3) & 1u)
#define R_RBP_HOW(r) ((unsigned)((r) >> 4) & 3u)
#define R_CFA_OFF(r) ((int64_t)((r) << 32) >> 40)
#define R_RA_OFF(r) ((int64_t)(int16_t)(uint16_t)((r) >> 32))
#define R_RBP_OFF(r) ((int64_t)(int16_t)(uint16_t)((r) >> 48))

#define RULES_LOG2 17 /* 2 MiB of zero pages in .bss */
#define RULES_CAP (1u << RULES_LOG2)
#define RULES_MAX_FILL (RULES_CAP / 4 * 3)
#define RULES_MAX_PROBES 64

struct rule_slot {
    _Atomic uintptr_t pc;
    _Atomic uint64_t rule;
};

static struct rule_slot rules[RULES_CAP];
static _Atomic uint32_t rules_used;

static uint64_t pack(const struct hs_cfi_rule *c)
{
    if (c->kind != HS_CFI_STEP)
        return c->kind;
    return (uint64_t)HS_CFI_STEP | (uint64_t)(c->cfa_rbp & 1) << 2 |
           (uint64_t)(c->cfa_deref & 1) << 3 | (uint64_t)(c->rbp_how & 3) << 4 |
           ((uint64_t)(uint32_t)c->cfa_off & 0xffffffu) << 8 | (uint64_t)(uint16_t)c->ra_off << 32 |
           (uint64_t)(uint16_t)c->rbp_off << 48;
}

static uint64_t lookup_rule(uintptr_t pc)
{
    struct hs_cfi_rule c;
    hs__frames_cfi(pc, &c);
    return pack(&c);
}

static inline uint32_t hash_pc(uintptr_t pc)
{
    uint64_t h = (uint64_t)pc * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> (64 - RULES_LOG2));
}

/* The rule for return address pc: a hashed load once cached. A pc that
 * cannot be cached (table full) is unknown, so the stack goes to libunwind
 * rather than to frames.c's lock every time. */
static uint64_t rule_for(uintptr_t pc)
{
    uint32_t i = hash_pc(pc);
    for (unsigned probes = 0; probes < RULES_MAX_PROBES;) {
        struct rule_slot *s = &rules[i];
        uintptr_t k = atomic_load_explicit(&s->pc, memory_order_acquire);
        if (HS_LIKELY(k == pc)) {
            uint64_t r = atomic_load_explicit(&s->rule, memory_order_acquire);
            if (HS_LIKELY(r != 0))
                return r;
            /* Another thread is looking it up: do the same, same answer. */
            r = lookup_rule(pc);
            atomic_store_explicit(&s->rule, r, memory_order_release);
            return r;
        }
        if (k == 0) {
            if (atomic_load_explicit(&rules_used, memory_order_relaxed) >= RULES_MAX_FILL)
                break;
            uintptr_t expect = 0;
            if (atomic_compare_exchange_strong_explicit(&s->pc, &expect, pc, memory_order_acq_rel,
                                                        memory_order_acquire)) {
                atomic_fetch_add_explicit(&rules_used, 1, memory_order_relaxed);
                uint64_t r = lookup_rule(pc);
                atomic_store_explicit(&s->rule, r, memory_order_release);
                return r;
            }
            if (expect == pc)
                continue; /* inserted by another thread just now */
        }
        i = (i + 1) & (RULES_CAP - 1);
        probes++;
    }
    return HS_CFI_UNKNOWN;
}

/* ---- stack bounds ---------------------------------------------------------- */

/* The calling thread's stack, [lo, hi); state 0 = not looked up, 1 = known,
 * -1 = pthread_getattr_np failed (then only libunwind walks). */
static HS_TLS uintptr_t t_stack_lo, t_stack_hi;
static HS_TLS int t_stack_state;

static void find_thread_stack(void)
{
    pthread_attr_t attr;
    void *addr = NULL;
    size_t size = 0;
    t_stack_state = -1;
    /* For the main thread glibc reads /proc/self/maps (with stdio, hence
     * malloc: the real one, the caller's guard is set) and takes the size
     * from RLIMIT_STACK; only the top matters to us, and it is exact. */
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    int rc = pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    if (rc != 0 || !addr || size == 0)
        return;
    t_stack_lo = (uintptr_t)addr;
    t_stack_hi = (uintptr_t)addr + size;
    t_stack_state = 1;
}

/* The top of the stack that sp lies on, or 0 if unknown: the thread's own
 * stack or the alternate signal stack it is running on now. */
static uintptr_t stack_top(uintptr_t sp)
{
    if (HS_UNLIKELY(t_stack_state == 0))
        find_thread_stack();
    if (HS_LIKELY(t_stack_state > 0 && sp >= t_stack_lo && sp < t_stack_hi))
        return t_stack_hi;
    stack_t ss;
    if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK)) {
        uintptr_t lo = (uintptr_t)ss.ss_sp, hi = lo + ss.ss_size;
        if (sp >= lo && sp < hi)
            return hi;
    }
    return 0; /* a coroutine's stack, a thread made with raw clone... */
}

/* 8 readable bytes at a: inside [lo, hi), hi >= lo + 8 checked by callers. */
static inline int readable(uintptr_t a, uintptr_t lo, uintptr_t hi)
{
    return a >= lo && a <= hi - sizeof(uintptr_t);
}

static inline uintptr_t load(uintptr_t a)
{
    return *(const uintptr_t *)a;
}

/* ---- the three walks --------------------------------------------------------- */

/* The frame of hs__unwind's caller: pc is the return address into it, sp
 * its stack pointer once we return, bp its rbp. */
struct regs {
    uintptr_t pc, sp, bp;
};

static int walk_fp(uintptr_t *pcs, int max, struct regs r, uintptr_t hi)
{
    int n = 0;
    pcs[n++] = r.pc;
    uintptr_t lo = r.sp, bp = r.bp;
    while (n < max) {
        /* The saved rbp and return address, both inside the stack, each
         * frame strictly above the last: a garbage rbp ends the walk. */
        if ((bp & 7) || bp < lo || bp > hi - 2 * sizeof(uintptr_t))
            break;
        uintptr_t next = load(bp), ra = load(bp + sizeof(uintptr_t));
        if (ra == 0)
            break;
        pcs[n++] = ra;
        if (next <= bp)
            break;
        lo = bp + 2 * sizeof(uintptr_t);
        bp = next;
    }
    return n;
}

/* Returns the number of pcs, or -1 when a frame needs libunwind. */
static int walk_cfi(uintptr_t *pcs, int max, struct regs r, uintptr_t hi)
{
    const uintptr_t lo = r.sp;
    int n = 0, bp_ok = 1;
    pcs[n++] = r.pc;
    uintptr_t last_pc = 0;
    uint64_t rule = 0;
    while (n < max) {
        /* Recursion repeats a pc: skip the table for it. */
        if (r.pc != last_pc) {
            rule = rule_for(r.pc);
            last_pc = r.pc;
        }
        unsigned kind = R_KIND(rule);
        if (kind == HS_CFI_END)
            break;
        if (HS_UNLIKELY(kind != HS_CFI_STEP))
            return -1;
        if (R_CFA_RBP(rule) && !bp_ok)
            return -1;
        uintptr_t cfa = (R_CFA_RBP(rule) ? r.bp : r.sp) + (uintptr_t)R_CFA_OFF(rule);
        if (R_CFA_DEREF(rule)) {
            if (!readable(cfa, lo, hi))
                break;
            cfa = load(cfa);
        }
        uintptr_t ra_at = cfa + (uintptr_t)R_RA_OFF(rule);
        if (cfa <= r.sp || !readable(ra_at, lo, hi))
            break; /* the caller's frame must lie above ours, on this stack */
        uintptr_t bp = r.bp;
        switch (R_RBP_HOW(rule)) {
        case HS_CFI_RBP_SAME:
            break;
        case HS_CFI_RBP_AT_CFA:
        case HS_CFI_RBP_AT_RBP: {
            uintptr_t at =
                (R_RBP_HOW(rule) == HS_CFI_RBP_AT_CFA ? cfa : r.bp) + (uintptr_t)R_RBP_OFF(rule);
            if (R_RBP_HOW(rule) == HS_CFI_RBP_AT_RBP && !bp_ok)
                return -1;
            if (!readable(at, lo, hi))
                return n;
            bp = load(at);
            bp_ok = 1;
            break;
        }
        default:
            bp_ok = 0;
            break;
        }
        uintptr_t pc = load(ra_at);
        if (pc == 0)
            break;
        pcs[n++] = pc;
        r.pc = pc;
        r.sp = cfa;
        r.bp = bp;
    }
    return n;
}

/* Frames between unw_backtrace's first and our caller's (this function and
 * hs__unwind, at most a few more if a compiler splits them). */
#define UNW_SKIP_MAX 4
#define UNW_LOCAL 64

/* Frames of the truncated case: the `want` frames found below the first
 * `from` frames under the one returning to ra, stepped one by one. */
__attribute__((noinline)) static int unw_tail(uintptr_t *out, int want, uintptr_t ra, int from)
{
    unw_context_t uc;
    unw_cursor_t c;
    unw_word_t ip = 0;
    if (unw_getcontext(&uc) != 0 || unw_init_local(&c, &uc) != 0)
        return 0;
    for (int i = 0; i <= UNW_SKIP_MAX + 1; i++) {
        if (unw_get_reg(&c, UNW_REG_IP, &ip) != 0 || ip == ra || unw_step(&c) <= 0)
            break;
    }
    if (ip != ra)
        return 0;
    for (int i = 0; i < from; i++)
        if (unw_step(&c) <= 0)
            return 0;
    int got = 0;
    while (got < want && unw_step(&c) > 0 && unw_get_reg(&c, UNW_REG_IP, &ip) == 0 && ip)
        out[got++] = ip;
    return got;
}

static int skip_to(const uintptr_t *pcs, int n, uintptr_t ra)
{
    for (int i = 0; i < n && i <= UNW_SKIP_MAX; i++)
        if (pcs[i] == ra)
            return i;
    return 0; /* not found: keep everything, the sampler drops our frames */
}

/* unw_backtrace, starting at hs__unwind's caller like the other walks. */
__attribute__((noinline)) static int walk_libunwind(uintptr_t *pcs, int max, uintptr_t ra)
{
    if (max + UNW_SKIP_MAX <= UNW_LOCAL) {
        uintptr_t local[UNW_LOCAL];
        int n = unw_backtrace((void **)local, max + UNW_SKIP_MAX);
        if (n <= 0)
            return 0;
        int k = skip_to(local, n, ra);
        n -= k;
        if (n > max)
            n = max;
        for (int i = 0; i < n; i++)
            pcs[i] = local[k + i];
        return n;
    }
    /* Deep requests: straight into pcs, then shift out our own frames; if
     * that left the end short, step to the missing ones (rare: a stack
     * deeper than a large max). */
    int raw = unw_backtrace((void **)pcs, max);
    if (raw <= 0)
        return 0;
    int k = skip_to(pcs, raw, ra);
    if (k == 0)
        return raw;
    int n = raw - k;
    for (int i = 0; i < n; i++)
        pcs[i] = pcs[i + k];
    if (raw == max)
        n += unw_tail(pcs + n, k, ra, n - 1);
    return n;
}

__attribute__((noinline)) int hs__unwind(uintptr_t *pcs, int max)
{
    if (max <= 0)
        return 0;
    /* Our own frame has a frame pointer (taking its address forces one):
     * the saved rbp, then the return address into the caller. */
    const uintptr_t *fa = __builtin_frame_address(0);
    struct regs r = {
        .pc = (uintptr_t)__builtin_return_address(0),
        .sp = (uintptr_t)(fa + 2),
        .bp = fa[0],
    };
    int mode = atomic_load_explicit(&unwind_mode, memory_order_relaxed);
    if (mode != HS_UNWIND_LIBUNWIND) {
        uintptr_t hi = stack_top(r.sp);
        if (hi && hi - r.sp >= 2 * sizeof(uintptr_t)) {
            if (mode == HS_UNWIND_FP)
                return walk_fp(pcs, max, r, hi);
            int n = walk_cfi(pcs, max, r, hi);
            if (n >= 0)
                return n;
        } else if (mode == HS_UNWIND_FP) {
            pcs[0] = r.pc; /* on an unknown stack, read nothing */
            return 1;
        }
        atomic_fetch_add_explicit(&fallbacks, 1, memory_order_relaxed);
    }
    return walk_libunwind(pcs, max, r.pc);
}
