/*
 * symbolize.h — private to the agent: program counters to function names,
 * source files and lines (docs/design/sampling-plan.md, docs/design/symbols.md).
 * Runs on the service thread or at exit, never on the allocation path;
 * internally locked.
 */
#ifndef HS_AGENT_SYMBOLIZE_H
#define HS_AGENT_SYMBOLIZE_H

#include <stddef.h>
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
 * valid until hs__sym_shutdown(). Returns 0; HS_E_NOTFOUND when no module of
 * the process holds pc (out is the unknown form: function "0x<pc-1>", url and
 * module "", script_id 0, line and column -1); HS_E_NOMEM (out is the unknown
 * form, function ""). */
int hs__sym_resolve(uintptr_t pc, hs_sym *out);

/* The source line of the call that returns to pc: the file's base name into
 * file (cut to size) and the 1-based line. 0, or HS_E_NOTFOUND without line
 * information. */
int hs__sym_call_line(uintptr_t pc, char *file, size_t size, int *line);

/* Frees every string and table; a later hs__sym_resolve starts afresh (new
 * script ids). */
void hs__sym_shutdown(void);

/* The demangler the symbolizer uses: C++ (with parameter lists) and Rust,
 * legacy (without its ::h<hash>) and v0. Returns a malloc'd string the caller
 * frees, or NULL when name is not a mangled name the demangler knows. Needs no
 * lock. */
char *hs__sym_demangle(const char *name);

/* What the caches hold, for tests and measurements. */
struct hs_sym_stats {
    size_t modules;      /* scripts (modules) ever seen */
    size_t mappings;     /* modules mapped at the last report */
    size_t functions;    /* function records */
    size_t pc_cached;    /* entries in the pc cache */
    size_t string_bytes; /* bytes of the string and record arena */
    size_t table_bytes;  /* bytes of the hash tables and arrays */
    uint64_t reports;    /* times the process's modules were (re)read */
};
void hs__sym_stats(struct hs_sym_stats *st);

#endif
