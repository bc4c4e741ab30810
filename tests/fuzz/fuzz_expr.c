/*
 * fuzz_expr.c — libFuzzer target for the expression language of
 * Runtime.evaluate (src/agent/domain/expr.c), over a fake process as in
 * tests/unit/test_expr.c (whose memory and its reads, tests/unit/expr_fake.h,
 * it shares): a small readable memory image holding a block and
 * a few globals, whose words point at each other, so that dereferences,
 * indexing and place arithmetic all lead somewhere.
 *
 * Invariants: an error has a message and a column inside the input, and
 * leaves the value zeroed; a value is of a known kind, and a place (block or
 * global) has its address inside it; every memory read the parser asks for
 * is one it was allowed to make (the env refuses the rest); evaluating is
 * repeatable; and a value printed back as an expression (its number, or its
 * address in hex) evaluates to the same value.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/value.h"
#include "expr_fake.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* memory [0x1000, 0x1100): block id 7 at [0x1000, 0x1020), globals g_ptr
 * (8 bytes at 0x1080, holds 0x1008), g_arr (32 bytes at 0x1090, holds
 * pointers into itself and the block) and g_int (holds 42). */
static const uint64_t mem[MEM_WORDS] = {
    [0] = 0x1018,  [1] = 0x1090,  [2] = 0xffffffffffffffffu,
    [3] = 0x1000,  [16] = 0x1008, [18] = 0x1098,
    [19] = 0x1010, [20] = 7,      [21] = 0x10a8,
    [22] = 42,
};

struct place {
    const char *name;
    uint64_t base, size;
    int block;
};
static const struct place places[] = {
    {NULL, 0x1000, 0x20, 1},
    {"g_ptr", 0x1080, 8, 0},
    {"g_arr", 0x1090, 32, 0},
    {"g_int", 0x10b0, 4, 0},
};

static void word_of(void *ud, uint64_t w, hs_val *out)
{
    (void)ud;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
        const struct place *p = &places[i];
        if (w >= p->base && w - p->base < p->size) {
            out->kind = p->block ? HS_VAL_BLOCK : HS_VAL_GLOBAL;
            out->addr = (uintptr_t)w;
            out->base = (uintptr_t)p->base;
            out->size = p->size;
            out->id = p->block ? 7 : 0;
            return;
        }
    }
    out->kind = HS_VAL_NUM;
    out->num = w;
}

static int name_of(void *ud, const char *name, size_t len, int amp, hs_val *out, char *err,
                   size_t n)
{
    (void)ud;
    CHECK(len > 0);
    memset(out, 0, sizeof(*out));
    if (len == 4 && !memcmp(name, "this", 4) && !amp) {
        out->kind = HS_VAL_PROCESS;
        return 0;
    }
    for (size_t i = 1; i < sizeof(places) / sizeof(places[0]); i++) {
        const struct place *p = &places[i];
        if (strlen(p->name) != len || memcmp(p->name, name, len))
            continue;
        if (amp || p->size > 8)
            word_of(NULL, p->base, out); /* its storage */
        else if (p->size == 8)
            word_of(NULL, mem[(p->base - MEM_LO) / 8], out);
        else
            word_of(NULL, (uint32_t)mem[(p->base - MEM_LO) / 8], out);
        return 0;
    }
    snprintf(err, n, "ReferenceError: %.*s is not defined", (int)(len > 64 ? 64 : len), name);
    return -1;
}

static expr_fake_mem fake = {mem, 0};
static const hs_expr_env ENV = {&fake, name_of, expr_fake_read, word_of};

static int same(const hs_val *a, const hs_val *b)
{
    return a->kind == b->kind && a->num == b->num && a->addr == b->addr && a->base == b->base &&
           a->size == b->size && a->id == b->id && a->site == b->site;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    hs_val v, again;
    char err[200], err2[200];
    size_t col = (size_t)-1, col2 = (size_t)-1;
    int rc = hs__expr_eval(src, size, &ENV, &v, err, sizeof(err), &col);
    CHECK(memchr(err, '\0', sizeof(err)));
    CHECK(hs__expr_eval(src, size, &ENV, &again, err2, sizeof(err2), &col2) == rc);
    if (rc < 0) {
        hs_val zero;
        memset(&zero, 0, sizeof(zero));
        CHECK(err[0] && col <= size && same(&v, &zero));
        CHECK(col2 == col && !strcmp(err, err2));
        CHECK(size > HS_EXPR_MAX_LEN || !strstr(err, "longer than"));
        return 0;
    }
    CHECK(size <= HS_EXPR_MAX_LEN && same(&v, &again));
    char text[32];
    switch (v.kind) {
    case HS_VAL_NUM:
        word_of(NULL, v.num, &again);
        if (again.kind != HS_VAL_NUM)
            return 0; /* a number that happens to point into a place */
        snprintf(text, sizeof(text), "%llu", (unsigned long long)v.num);
        break;
    case HS_VAL_BLOCK:
    case HS_VAL_GLOBAL:
        CHECK(v.addr >= v.base && v.addr - v.base < v.size);
        snprintf(text, sizeof(text), "0x%llx", (unsigned long long)v.addr);
        break;
    case HS_VAL_PROCESS:
        snprintf(text, sizeof(text), "this");
        break;
    default:
        CHECK(!"a value kind the expression language has");
    }
    CHECK(hs__expr_eval(text, strlen(text), &ENV, &again, err, sizeof(err), &col) == 0);
    CHECK(same(&v, &again));
    return 0;
}
