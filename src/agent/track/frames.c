/*
 * frames.c — how to step out of a wrapper's frame without a general unwinder.
 *
 * A wrapper (jv_mem_alloc, xmalloc, operator new...) calls malloc from a
 * fixed instruction. At that instruction its call-frame information (CFI,
 * .eh_frame) says where its caller's return address is: almost always "CFA =
 * rsp + N, return address at CFA - 8". Knowing the stack pointer at the
 * moment the hook returns (the hook's frame address + 16), the wrapper's
 * caller is then one load away. The rule is read once per wrapper call site
 * with libdw from the module's .eh_frame and cached in the site table, so
 * stepping out of a wrapper costs a table lookup and a load instead of a
 * libunwind backtrace (measured: docs/design/registry.md).
 *
 * Rules that are not "CFA = rsp + N" (a frame pointer based CFA because the
 * wrapper uses alloca, say) are reported as unknown; the caller then falls
 * back to libunwind. Reading CFI happens inside a malloc call, on the slow
 * path only, with the hook's guard set, so libdw's own allocations go to the
 * real allocator untracked.
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

#define MAX_MODULES 512
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
    Dwarf_CFI *cfi;
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

/* The CFI of the module mapped by lm, opened on first use; caller holds
 * modules_lock. NULL if the module has no usable .eh_frame. */
static Dwarf_CFI *module_cfi(const struct link_map *lm)
{
    for (int i = 0; i < nmodules; i++)
        if (modules[i].map == lm)
            return modules[i].cfi;
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
        return NULL;
    m->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (m->elf && elf_cntl(m->elf, ELF_C_FDREAD) == 0)
        elf_cntl(m->elf, ELF_C_FDDONE);
    close(fd);
    if (!m->elf)
        return NULL;
    m->cfi = dwarf_getcfi_elf(m->elf);
    return m->cfi;
}

static int ops_cfa_rsp(const Dwarf_Op *ops, size_t nops, int64_t *off)
{
    if (nops != 1)
        return 0;
    if (ops[0].atom == DW_OP_breg0 + X86_64_RSP) {
        *off = (int64_t)ops[0].number;
        return 1;
    }
    if (ops[0].atom == DW_OP_bregx && ops[0].number == X86_64_RSP) {
        *off = (int64_t)ops[0].number2;
        return 1;
    }
    return 0;
}

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

uint32_t hs__frames_rule(uintptr_t ra)
{
#if defined(__x86_64__)
    Dl_info info;
    struct link_map *lm = NULL;
    if (!dladdr1((void *)(ra - 1), &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
        return HS_FRAME_UNKNOWN;
    uint32_t rule = HS_FRAME_UNKNOWN;
    /* open() is a cancellation point; malloc is not, and must not become
     * one (a thread cancelled here would leave modules_lock held). */
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&modules_lock);
    Dwarf_CFI *cfi = module_cfi(lm);
    Dwarf_Frame *frame = NULL;
    if (cfi && dwarf_cfi_addrframe(cfi, ra - 1 - lm->l_addr, &frame) == 0) {
        Dwarf_Op *ops, mem[3];
        size_t nops;
        int64_t cfa_off, ra_off;
        if (dwarf_frame_cfa(frame, &ops, &nops) == 0 && ops_cfa_rsp(ops, nops, &cfa_off) &&
            dwarf_frame_register(frame, X86_64_RA, mem, &ops, &nops) == 0 &&
            ops_at_cfa(ops, nops, &ra_off) && cfa_off > 0 && cfa_off <= HS_MAX_WRAPPER_FRAME &&
            ra_off < 0 && -ra_off <= cfa_off)
            rule = HS_FRAME_KNOWN | (uint32_t)cfa_off | ((uint32_t)(-ra_off) << 15);
        hs__real.free(frame); /* libdw allocated it under our guard */
    }
    pthread_mutex_unlock(&modules_lock);
    pthread_setcancelstate(cancel_state, NULL);
    return rule;
#else
    (void)ra;
    return HS_FRAME_UNKNOWN;
#endif
}
