/*
 * symtest.h — helpers shared by the symbolizer's test programs: a way to get
 * a return address inside a known function, and the expected column of a
 * function read back from its source line.
 */
#ifndef HS_SYMTEST_H
#define HS_SYMTEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SYMTEST_NOINLINE __attribute__((noinline, noclone))

/* The compiler may neither move code across this nor turn the call before it
 * into a tail call: the return address stays inside the caller. */
#define SYMTEST_KEEP() __asm__ volatile("" ::: "memory")

/* Returns its own return address: a pc inside the caller. */
__attribute__((noinline, noclone, unused)) static uintptr_t symtest_here(void)
{
    uintptr_t pc = (uintptr_t)__builtin_return_address(0);
    SYMTEST_KEEP();
    return pc;
}

/* 0-based column of the first "name(" on line `line` (1-based) of file, or -1:
 * the compiler's DW_AT_decl_column names that column, 1-based. */
static inline int symtest_column(const char *file, int line, const char *name)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return -1;
    char buf[1024];
    int n = 0, col = -1;
    char pat[256];
    snprintf(pat, sizeof(pat), "%s(", name);
    while (fgets(buf, sizeof(buf), f)) {
        if (++n == line) {
            const char *p = strstr(buf, pat);
            col = p ? (int)(p - buf) : -1;
            break;
        }
    }
    fclose(f);
    return col;
}

static inline int symtest_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

#endif
