/*
 * frames.h — what the stack unwinder (unwind.c) asks of frames.c: the CFI
 * rule at a return address, in the few shapes it can follow without a
 * general unwinder, and the unwinder's one counter. Private to track/;
 * sites.c uses the narrower hs__frames_rule declared in agent_int.h.
 */
#ifndef HS_FRAMES_H
#define HS_FRAMES_H

#include <stdint.h>

enum {
    HS_CFI_UNKNOWN = 1, /* no CFI, or a rule the unwinder cannot follow */
    HS_CFI_STEP = 2,    /* follow the fields below */
    HS_CFI_END = 3,     /* the outermost frame: return address undefined */
};

enum {
    HS_CFI_RBP_SAME = 0,   /* the caller's rbp is this frame's */
    HS_CFI_RBP_AT_CFA = 1, /* saved at CFA + rbp_off */
    HS_CFI_RBP_AT_RBP = 2, /* saved at this frame's rbp + rbp_off */
    HS_CFI_RBP_LOST = 3,   /* undefined: a caller that needs it is unknown */
};

/* Bounds of the offsets: they fit the unwinder's packed 64-bit rule. */
#define HS_CFI_MAX_CFA_OFF (1 << 23)
#define HS_CFI_MAX_OFF (1 << 15)

/* The caller of a frame whose return address is ra: CFA = (cfa_rbp ? rbp :
 * rsp) + cfa_off, loaded from there if cfa_deref; the return address at
 * CFA + ra_off; the caller's rsp is the CFA (x86-64 psABI). */
struct hs_cfi_rule {
    uint8_t kind; /* HS_CFI_* */
    uint8_t cfa_rbp;
    uint8_t cfa_deref;
    uint8_t rbp_how; /* HS_CFI_RBP_* */
    int32_t cfa_off;
    int32_t ra_off;
    int32_t rbp_off;
};

/* Reads the rule for the call instruction before return address ra (slow:
 * dladdr, the module's CFI under a lock; libdw allocates, so the caller
 * holds the hooks' guard). Returns out->kind. */
int hs__frames_cfi(uintptr_t ra, struct hs_cfi_rule *out);

/* unwind.c: how many AUTO walks handed their stack to libunwind (a pc
 * without a simple rule, an unknown stack); for tests and the bench. */
uint64_t hs__unwind_fallbacks(void);

#endif
