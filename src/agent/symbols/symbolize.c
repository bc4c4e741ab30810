/*
 * symbolize.c — placeholder: every pc is "module+0xOFF" via dladdr. The
 * libdw/libiberty symbolizer replaces it (docs/design/sampling-plan.md).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "symbolize.h"

static char namebuf[4096];

int hs__sym_resolve(uintptr_t pc, hs_sym *out)
{
    Dl_info info;
    memset(out, 0, sizeof(*out));
    out->line = out->column = -1;
    out->url = out->module = "";
    if (dladdr((void *)(pc - 1), &info) && info.dli_fname) {
        out->module = info.dli_fname;
        out->url = info.dli_fname;
        if (info.dli_sname) {
            out->function = info.dli_sname;
            out->func_key = (uint64_t)(uintptr_t)info.dli_saddr;
            return 0;
        }
        snprintf(namebuf, sizeof(namebuf), "%s+0x%lx", info.dli_fname,
                 (unsigned long)(pc - 1 - (uintptr_t)info.dli_fbase));
    } else {
        snprintf(namebuf, sizeof(namebuf), "0x%lx", (unsigned long)(pc - 1));
    }
    out->function = namebuf;
    out->func_key = pc - 1;
    return 0;
}

void hs__sym_shutdown(void)
{
}
