/*
 * frames_asm.c — a frame that uses rbp as a general register: it calls fn
 * with garbage in rbp (built -fomit-frame-pointer -mno-red-zone, so the
 * compiler saves rbp with CFI and nothing lives below rsp at the call),
 * and one whose call-frame information lies.
 */
#include "unwind_test.h"

static __attribute__((noinline)) void keep_non_leaf(void)
{
    unwind_test_sink++;
}

__attribute__((noinline)) void call_with_rbp(void (*fn)(void *), void *arg, uintptr_t garbage)
{
    /* A call elsewhere makes this function non-leaf, so its body keeps
     * rsp 16-byte aligned, as the call in the asm needs. */
    keep_non_leaf();
    __asm__ volatile("mov %[g], %%rbp\n\t"
                     "call *%[fn]\n\t"
                     : "+D"(arg)
                     : [fn] "r"(fn), [g] "r"(garbage)
                     : "rbp", "rax", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory", "cc",
                       "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    keep_non_leaf();
}

__attribute__((noinline)) void call_with_bad_cfi(void (*fn)(void *), void *arg)
{
    keep_non_leaf();
    __asm__ volatile(".cfi_remember_state\n\t"
                     ".cfi_adjust_cfa_offset 0x7ff000\n\t"
                     "call *%[fn]\n\t"
                     ".cfi_restore_state\n\t"
                     : "+D"(arg)
                     : [fn] "r"(fn)
                     : "rax", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0",
                       "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                       "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    keep_non_leaf();
}
