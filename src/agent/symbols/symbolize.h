/*
 * symbolize.h — private to the agent: program counters to function names,
 * source files and lines (docs/design/sampling-plan.md). Runs on the service
 * thread or at exit, never on the allocation path; internally locked.
 */
#ifndef HS_AGENT_SYMBOLIZE_H
#define HS_AGENT_SYMBOLIZE_H

#include <stdint.h>

typedef struct hs_sym {
    const char *function; /* demangled; "module+0xOFF" when nothing is known */
    const char *url;      /* "file:///abs/path.c" with debug info, else the module's path */
    const char *module;   /* the module's path ("" unknown) */
    uint64_t func_key;    /* the same for every pc of one function */
    uint32_t script_id;   /* >= 1, stable per module for the process's life; 0 unknown */
    int32_t line, column; /* 0-based start of the function; -1 unknown */
} hs_sym;

/* pc is a return address (the call instruction is looked up). Strings stay
 * valid until hs__sym_shutdown(). Returns 0, or a negative HS_E_* / -errno
 * (out is then still filled with the "unknown" form). */
int hs__sym_resolve(uintptr_t pc, hs_sym *out);
void hs__sym_shutdown(void);

#endif
