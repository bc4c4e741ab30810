/*
 * newdel.c — C++ operator new, interposed only to learn its caller.
 *
 * Every `new` in a C++ program reaches malloc through libstdc++'s operator
 * new, so without help every C++ block would be charged to operator new and
 * need an unwind to find the real site. Each operator below records its own
 * return address in a thread-local hint and calls the real operator new
 * (dlsym(RTLD_NEXT)); the malloc hook takes the hint as the site. Everything
 * else — new_handler loops, std::bad_alloc, alignment — stays the real
 * operator's: this file is built with -fexceptions so that an exception
 * thrown by it passes through our frame. Deletes are not interposed: they end
 * in free(), which the hooks see.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../agent_int.h"

extern HS_TLS uintptr_t hs__tls_site_hint;
extern HS_TLS uintptr_t hs__tls_site_hint_sp;

static void *find_real(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        /* Only a program without libstdc++ could get here, and such a
         * program does not call operator new. */
        static const char msg[] = "heapscope: operator new called but not found\n";
        ssize_t rc = write(2, msg, sizeof(msg) - 1);
        (void)rc;
        abort();
    }
    return f;
}

#define NEW_SHIM(sym, params, args)                                                                \
    HS_EXPORT void *sym params;                                                                    \
    HS_EXPORT void *sym params                                                                     \
    {                                                                                              \
        static void *_Atomic real;                                                                 \
        void *f = atomic_load_explicit(&real, memory_order_acquire);                               \
        if (HS_UNLIKELY(!f)) {                                                                     \
            f = find_real(#sym);                                                                   \
            atomic_store_explicit(&real, f, memory_order_release);                                 \
        }                                                                                          \
        /* new[] and nothrow new call new through the PLT, i.e. us again:                          \
         * keep the outermost caller's hint and clear only our own. */                             \
        int mine = hs__tls_site_hint == 0;                                                         \
        if (mine) {                                                                                \
            hs__tls_site_hint = (uintptr_t)__builtin_return_address(0);                            \
            hs__tls_site_hint_sp = (uintptr_t)__builtin_frame_address(0) + 16;                     \
        }                                                                                          \
        void *p = ((void *(*)params)f)args;                                                        \
        if (mine)                                                                                  \
            hs__tls_site_hint = 0;                                                                 \
        return p;                                                                                  \
    }

/* operator new(size_t), new[](size_t) and their nothrow and aligned forms
 * (LP64 mangling: size_t is 'm'; std::align_val_t is passed as a size_t). */
NEW_SHIM(_Znwm, (size_t n), (n))
NEW_SHIM(_Znam, (size_t n), (n))
NEW_SHIM(_ZnwmRKSt9nothrow_t, (size_t n, const void *nt), (n, nt))
NEW_SHIM(_ZnamRKSt9nothrow_t, (size_t n, const void *nt), (n, nt))
NEW_SHIM(_ZnwmSt11align_val_t, (size_t n, size_t al), (n, al))
NEW_SHIM(_ZnamSt11align_val_t, (size_t n, size_t al), (n, al))
NEW_SHIM(_ZnwmSt11align_val_tRKSt9nothrow_t, (size_t n, size_t al, const void *nt), (n, al, nt))
NEW_SHIM(_ZnamSt11align_val_tRKSt9nothrow_t, (size_t n, size_t al, const void *nt), (n, al, nt))
