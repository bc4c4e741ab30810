/*
 * lock.h — the allocation-free zone's mutex: a futex word (0 free, 1 held,
 * 2 held with possible sleepers), a short spin, then sleep in the kernel.
 * Only yielding would livelock a real-time thread spinning against a
 * lower-priority holder on the same CPU. Never allocates.
 */
#ifndef HS_TRACK_LOCK_H
#define HS_TRACK_LOCK_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline void hs__futex(_Atomic uint32_t *l, int op, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)l, op, val, NULL, NULL, 0);
}

static inline void hs__lock_slow(_Atomic uint32_t *l)
{
    for (unsigned n = 0; n < 100; n++) {
        uint32_t free_ = 0;
        if (atomic_load_explicit(l, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(l, &free_, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    while (atomic_exchange_explicit(l, 2, memory_order_acquire) != 0)
        hs__futex(l, FUTEX_WAIT_PRIVATE, 2);
}

static inline void hs__lock(_Atomic uint32_t *l)
{
    uint32_t free_ = 0;
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(l, &free_, 1, memory_order_acquire,
                                                                 memory_order_relaxed),
                         1))
        return;
    hs__lock_slow(l);
}

static inline void hs__unlock(_Atomic uint32_t *l)
{
    if (__builtin_expect(atomic_exchange_explicit(l, 0, memory_order_release) == 2, 0))
        hs__futex(l, FUTEX_WAKE_PRIVATE, 1);
}

#endif
