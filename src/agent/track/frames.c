/*
 * frames.c — call-frame information (CFI) for the allocation-free zone: how
 * to step from a frame to its caller without a general unwinder.
 *
 * A module's CFI (.eh_frame, or .debug_frame where .eh_frame does not cover
 * a pc) says, for every instruction, where the caller's return address and
 * callee-saved registers are, relative to the canonical frame address (CFA,
 * the stack pointer just before the call). It is read with libdw, once per
 * pc, and the callers cache the answer in their own lock-free tables:
 *
 * - sites.c steps out of wrapper frames (jv_mem_alloc, xmalloc, operator
 *   new...) with hs__frames_rule: "CFA = rsp + N, return address at CFA - 8"
 *   is all a wrapper needs, so stepping out costs a table lookup and a load
 *   instead of a libunwind backtrace (measured: docs/design/registry.md).
 * - unwind.c walks whole stacks with hs__frames_cfi, which also knows
 *   rbp-based CFAs, the saved rbp and the realigned frames GCC emits for
 *   over-aligned locals (docs/design/unwind.md).
 *
 * Anything else (a CFA from another register, signal frames, no CFI at all)
 * is reported as unknown and the caller falls back to libunwind. Reading CFI
 * happens inside a malloc call, on the slow path only, with the hook's guard
 * set, so libdw's own allocations go to the real allocator untracked. Not
 * here: caching per pc (the callers), reading the stack itself.
 */
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../agent_int.h"
#include "frames.h"

#define MAX_MODULES 512
#define X86_64_RBP 6
#define X86_64_RSP 7
#define X86_64_RA 16
/* Wrappers have small frames. Larger ones go to libunwind, which also bounds
 * how far above the stack pointer a stale rule could ever make us read (a
 * rule cached for a return address whose module was unloaded and replaced:
 * dlclose is not watched yet). */
#define HS_MAX_WRAPPER_FRAME 4096

struct module {
    uintptr_t l_addr;
    const void *map; /* the link_map, as identity */
    Elf *elf;
    Dwarf_CFI *cfi;       /* .eh_frame */
    Dwarf *dwarf;         /* opened for .debug_frame, on first need */
    Dwarf_CFI *debug_cfi; /* .debug_frame */
    int debug_tried;
};

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct module modules[MAX_MODULES];
static int nmodules;

void hs__frames_lock(void)
{
    pthread_mutex_lock(&modules_lock);
}

void hs__frames_unlock(void)
{
    pthread_mutex_unlock(&modules_lock);
}

/* The module mapped by lm, opened on first use; caller holds modules_lock.
 * NULL if the table of modules is full. */
static struct module *module_of(const struct link_map *lm)
{
    for (int i = 0; i < nmodules; i++)
        if (modules[i].map == lm)
            return &modules[i];
    if (nmodules == MAX_MODULES)
        return NULL;
    struct module *m = &modules[nmodules++];
    memset(m, 0, sizeof(*m));
    m->map = lm;
    m->l_addr = lm->l_addr;
    const char *path = (lm->l_name && lm->l_name[0]) ? lm->l_name : "/proc/self/exe";
    elf_version(EV_CURRENT);
    /* The file is mapped and its descriptor closed at once: a malloc call
     * must not keep one of the program's descriptors (a daemon that closed
     * fd 0 expects its next open() to return 0). */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return m;
    m->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (m->elf && elf_cntl(m->elf, ELF_C_FDREAD) == 0)
        elf_cntl(m->elf, ELF_C_FDDONE);
    close(fd);
    if (m->elf)
        m->cfi = dwarf_getcfi_elf(m->elf);
    return m;
}

/* The frame state at module-relative address rel, from .eh_frame or else
 * from .debug_frame (code built with -fno-asynchronous-unwind-tables has
 * only the latter); caller holds modules_lock and frees the result with
 * hs__real.free. NULL if neither covers rel. */
static Dwarf_Frame *frame_at(struct module *m, Dwarf_Addr rel)
{
    Dwarf_Frame *frame = NULL;
    if (m->cfi && dwarf_cfi_addrframe(m->cfi, rel, &frame) == 0)
        return frame;
    if (!m->debug_tried && m->elf) {
        m->debug_tried = 1;
        m->dwarf = dwarf_begin_elf(m->elf, DWARF_C_READ, NULL);
        if (m->dwarf)
            m->debug_cfi = dwarf_getcfi(m->dwarf);
    }
    if (m->debug_cfi && dwarf_cfi_addrframe(m->debug_cfi, rel, &frame) == 0)
        return frame;
    return NULL;
}

/* Calls fn with the frame state that holds at the call instruction before
 * return address ra, under modules_lock. Returns fn's result, or 0 when no
 * CFI covers ra. */
static int with_frame(uintptr_t ra, int (*fn)(Dwarf_Frame *, void *), void *arg)
{
    Dl_info info;
    struct link_map *lm = NULL;
    if (!dladdr1((void *)(ra - 1), &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
        return 0;
    int rc = 0;
    /* open() is a cancellation point; malloc is not, and must not become
     * one (a thread cancelled here would leave modules_lock held). */
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&modules_lock);
    struct module *m = module_of(lm);
    Dwarf_Frame *frame = m ? frame_at(m, ra - 1 - lm->l_addr) : NULL;
    if (frame) {
        rc = fn(frame, arg);
        hs__real.free(frame); /* libdw allocated it under our guard */
    }
    pthread_mutex_unlock(&modules_lock);
    pthread_setcancelstate(cancel_state, NULL);
    return rc;
}

/* DW_OP_bregN off (or DW_OP_bregx N off): *reg = N, *off = off. */
static int op_breg(const Dwarf_Op *op, int *reg, int64_t *off)
{
    if (op->atom >= DW_OP_breg0 && op->atom <= DW_OP_breg31) {
        *reg = op->atom - DW_OP_breg0;
        *off = (int64_t)op->number;
        return 1;
    }
    if (op->atom == DW_OP_bregx) {
        *reg = (int)op->number;
        *off = (int64_t)op->number2;
        return 1;
    }
    return 0;
}

static int ops_cfa_rsp(const Dwarf_Op *ops, size_t nops, int64_t *off)
{
    int reg;
    return nops == 1 && op_breg(&ops[0], &reg, off) && reg == X86_64_RSP;
}

/* A register saved at CFA + *off ("offset(N)" in DWARF's words). */
static int ops_at_cfa(const Dwarf_Op *ops, size_t nops, int64_t *off)
{
    if (nops < 1 || ops[0].atom != DW_OP_call_frame_cfa)
        return 0;
    if (nops == 1) {
        *off = 0;
        return 1;
    }
    if (nops == 2 && ops[1].atom == DW_OP_plus_uconst) {
        *off = (int64_t)ops[1].number;
        return 1;
    }
    if (nops == 3 && (ops[1].atom == DW_OP_consts || ops[1].atom == DW_OP_constu) &&
        ops[2].atom == DW_OP_plus) {
        *off = (int64_t)ops[1].number;
        return 1;
    }
    return 0;
}

static int wrapper_rule(Dwarf_Frame *frame, void *arg)
{
    uint32_t *rule = arg;
    Dwarf_Op *ops, mem[3];
    size_t nops;
    int64_t cfa_off, ra_off;
    if (dwarf_frame_cfa(frame, &ops, &nops) == 0 && ops_cfa_rsp(ops, nops, &cfa_off) &&
        dwarf_frame_register(frame, X86_64_RA, mem, &ops, &nops) == 0 &&
        ops_at_cfa(ops, nops, &ra_off) && cfa_off > 0 && cfa_off <= HS_MAX_WRAPPER_FRAME &&
        ra_off < 0 && -ra_off <= cfa_off)
        *rule = HS_FRAME_KNOWN | (uint32_t)cfa_off | ((uint32_t)(-ra_off) << 15);
    return 0;
}

uint32_t hs__frames_rule(uintptr_t ra)
{
#if defined(__x86_64__)
    uint32_t rule = HS_FRAME_UNKNOWN;
    with_frame(ra, wrapper_rule, &rule);
    return rule;
#else
    (void)ra;
    return HS_FRAME_UNKNOWN;
#endif
}

/* Offsets must fit the unwinder's packed rule; frames larger than 8 MiB
 * (the default stack) are not worth a wider encoding. */
static int fits(int64_t v, int64_t lim)
{
    return v >= -lim && v < lim;
}

static int unwind_rule(Dwarf_Frame *frame, void *arg)
{
    struct hs_cfi_rule *r = arg;
    Dwarf_Op *ops, mem[3];
    size_t nops;
    bool signalp = false;
    int reg;
    int64_t off;
    /* A signal frame's caller is the interrupted state, found through the
     * ucontext: libunwind's business. */
    if (dwarf_frame_info(frame, NULL, NULL, &signalp) < 0 || signalp)
        return 0;

    /* CFA = rsp + N, rbp + N, or *(rbp + N) (GCC's realigned frames). */
    if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops < 1 || nops > 2 ||
        !op_breg(&ops[0], &reg, &off) || (reg != X86_64_RSP && reg != X86_64_RBP) ||
        !fits(off, HS_CFI_MAX_CFA_OFF))
        return 0;
    if (nops == 2 && ops[1].atom != DW_OP_deref)
        return 0;
    r->cfa_rbp = reg == X86_64_RBP;
    r->cfa_deref = nops == 2;
    r->cfa_off = (int32_t)off;

    /* The return address: saved at CFA + N, or undefined in the outermost
     * frame (_start, the thread entry in clone). */
    if (dwarf_frame_register(frame, X86_64_RA, mem, &ops, &nops) != 0)
        return 0;
    if (nops == 0) {
        if (ops == mem) {
            r->kind = HS_CFI_END;
            return 1;
        }
        return 0; /* "same value": not a return address we can use */
    }
    if (!ops_at_cfa(ops, nops, &off) || !fits(off, HS_CFI_MAX_OFF))
        return 0;
    r->ra_off = (int32_t)off;

    /* The caller's rbp: unchanged, saved at CFA + N, saved at rbp + N (the
     * realigned frames again) or lost. */
    if (dwarf_frame_register(frame, X86_64_RBP, mem, &ops, &nops) != 0)
        return 0;
    if (nops == 0) {
        r->rbp_how = ops == mem ? HS_CFI_RBP_LOST : HS_CFI_RBP_SAME;
    } else if (ops_at_cfa(ops, nops, &off) && fits(off, HS_CFI_MAX_OFF)) {
        r->rbp_how = HS_CFI_RBP_AT_CFA;
        r->rbp_off = (int32_t)off;
    } else if (nops == 2 && ops[0].atom == DW_OP_call_frame_cfa && op_breg(&ops[1], &reg, &off) &&
               reg == X86_64_RBP && fits(off, HS_CFI_MAX_OFF)) {
        /* DW_CFA_expression: the CFA is pushed first, then unused. */
        r->rbp_how = HS_CFI_RBP_AT_RBP;
        r->rbp_off = (int32_t)off;
    } else {
        return 0;
    }
    r->kind = HS_CFI_STEP;
    return 1;
}

int hs__frames_cfi(uintptr_t ra, struct hs_cfi_rule *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = HS_CFI_UNKNOWN;
#if defined(__x86_64__)
    struct hs_cfi_rule r;
    memset(&r, 0, sizeof(r));
    if (with_frame(ra, unwind_rule, &r))
        *out = r;
#else
    (void)ra;
#endif
    return out->kind;
}
