/*
 * expr_fake.h — the memory of the fake process that the expression language
 * of Runtime.evaluate (src/agent/domain/expr.c) is evaluated over without an
 * agent, shared by tests/unit/test_expr.c and tests/fuzz/fuzz_expr.c.
 *
 *   memory  [MEM_LO, MEM_HI): readable words, 8 bytes at a time on an
 *           8-byte boundary; any other read is refused as the agent refuses
 *           one ("Error: cannot read memory at 0x…")
 *
 * Each user gives the words (an expr_fake_mem as the env's ud, read with
 * expr_fake_read) and the rest of the env: the names and what a word
 * points to.
 */
#ifndef HS_TESTS_EXPR_FAKE_H
#define HS_TESTS_EXPR_FAKE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MEM_LO 0x1000u
#define MEM_HI 0x1100u
#define MEM_WORDS ((MEM_HI - MEM_LO) / 8)

typedef struct expr_fake_mem {
    const uint64_t *words; /* MEM_WORDS of them, the first at MEM_LO */
    int reads;             /* reads asked for, refused ones too */
} expr_fake_mem;

/* hs_expr_env.read over the expr_fake_mem in ud. */
static int expr_fake_read(void *ud, uintptr_t a, uint64_t *w, char *err, size_t n)
{
    expr_fake_mem *m = ud;
    m->reads++;
    if (a < MEM_LO || a >= MEM_HI || MEM_HI - a < 8 || a % 8) {
        snprintf(err, n, "Error: cannot read memory at 0x%lx", (unsigned long)a);
        return -1;
    }
    *w = m->words[(a - MEM_LO) / 8];
    return 0;
}

#endif
