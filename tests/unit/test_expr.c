/*
 * test_expr.c — the expression language of Runtime.evaluate
 * (src/agent/domain/expr.c) over a fake process: a few "blocks" and
 * "globals" in a small memory image, so that every rule, every error and the
 * bounds are checked without an agent.
 *
 *   memory  [0x1000, 0x1100): readable words; nothing else is
 *   block   [0x1000, 0x1020) id 7      (a live block)
 *   global  g_ptr  @ 0x1080, 8 bytes   holds 0x1008 (into the block)
 *           g_arr  @ 0x1090, 32 bytes  (wider than a word: its storage)
 *           g_int  @ 0x10b0, 4 bytes  holds 42
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain/value.h"
#include "expr_fake.h"

static uint64_t mem[MEM_WORDS];
static expr_fake_mem fake = {mem, 0};
static int lookups;

static void word_of(void *ud, uint64_t w, hs_val *out)
{
    (void)ud;
    memset(out, 0, sizeof(*out));
    if (w >= 0x1000 && w < 0x1020) {
        *out = (hs_val){.kind = HS_VAL_BLOCK, .addr = w, .base = 0x1000, .size = 0x20, .id = 7};
    } else if (w >= 0x1090 && w < 0x10b0) {
        *out = (hs_val){.kind = HS_VAL_GLOBAL, .addr = w, .base = 0x1090, .size = 32};
    } else {
        out->kind = HS_VAL_NUM;
        out->num = w;
    }
}

static int name_of(void *ud, const char *name, size_t len, int amp, hs_val *out, char *err,
                   size_t n)
{
    (void)ud;
    lookups++;
    memset(out, 0, sizeof(*out));
    if (len == 5 && !memcmp(name, "g_ptr", 5)) {
        if (amp)
            *out = (hs_val){.kind = HS_VAL_GLOBAL, .addr = 0x1080, .base = 0x1080, .size = 8};
        else
            word_of(NULL, mem[(0x1080 - MEM_LO) / 8], out);
        return 0;
    }
    if (len == 5 && !memcmp(name, "g_arr", 5)) {
        *out = (hs_val){.kind = HS_VAL_GLOBAL, .addr = 0x1090, .base = 0x1090, .size = 32};
        return 0;
    }
    if (len == 5 && !memcmp(name, "g_int", 5) && !amp) {
        *out = (hs_val){.kind = HS_VAL_NUM, .num = 42};
        return 0;
    }
    if (len == 4 && !memcmp(name, "this", 4)) {
        out->kind = HS_VAL_PROCESS;
        return 0;
    }
    if (len == 11 && !memcmp(name, "ns::x.c$1_2", 11)) {
        out->kind = HS_VAL_NUM;
        out->num = 5;
        return 0;
    }
    snprintf(err, n, "ReferenceError: %.*s is not defined", (int)len, name);
    return -1;
}

static const hs_expr_env ENV = {&fake, name_of, expr_fake_read, word_of};

static int setup(void **state)
{
    (void)state;
    memset(mem, 0, sizeof(mem));
    for (size_t i = 0; i < 4; i++)
        mem[i] = 0x100 + i; /* the block's words */
    mem[(0x1080 - MEM_LO) / 8] = 0x1008;
    mem[(0x1090 - MEM_LO) / 8] = 0x1000; /* g_arr[0] → the block */
    mem[(0x1098 - MEM_LO) / 8] = 0x10a0; /* g_arr[1] → inside g_arr */
    mem[(0x10a0 - MEM_LO) / 8] = 0xdead; /* g_arr[2] */
    fake.reads = 0;
    lookups = 0;
    return 0;
}

static int eval(const char *src, hs_val *v, char *err, size_t *col)
{
    return hs__expr_eval(src, strlen(src), &ENV, v, err, 256, col);
}

static void expect_num(const char *src, uint64_t want)
{
    hs_val v;
    char err[256];
    size_t col = 99;
    int rc = eval(src, &v, err, &col);
    if (rc != 0)
        fail_msg("%s: %s at %zu", src, err, col);
    if (v.kind != HS_VAL_NUM || v.num != want)
        fail_msg("%s: kind %d num 0x%lx, want 0x%lx", src, (int)v.kind, (unsigned long)v.num,
                 (unsigned long)want);
}

static void expect_place(const char *src, enum hs_val_kind kind, uintptr_t addr, uintptr_t base)
{
    hs_val v;
    char err[256];
    size_t col = 0;
    if (eval(src, &v, err, &col) != 0)
        fail_msg("%s: %s at %zu", src, err, col);
    if (v.kind != kind || v.addr != addr || v.base != base)
        fail_msg("%s: kind %d addr 0x%lx base 0x%lx", src, (int)v.kind, (unsigned long)v.addr,
                 (unsigned long)v.base);
}

static void expect_error(const char *src, size_t len, const char *msg, size_t want_col)
{
    hs_val v;
    char err[256];
    size_t col = 12345;
    v.kind = HS_VAL_NUM;
    int rc = hs__expr_eval(src, len, &ENV, &v, err, sizeof(err), &col);
    if (rc != -1)
        fail_msg("%.40s: evaluated (kind %d)", src, (int)v.kind);
    if (strcmp(err, msg))
        fail_msg("%.40s: \"%s\", want \"%s\"", src, err, msg);
    if (col != want_col)
        fail_msg("%.40s: column %zu, want %zu", src, col, want_col);
    assert_int_equal(v.kind, HS_VAL_NONE);
}

static void test_literals(void **state)
{
    (void)state;
    expect_num("0", 0);
    expect_num("42", 42);
    expect_num("0x2A", 42);
    expect_num("0Xff", 255);
    expect_num("18446744073709551615", UINT64_MAX);
    expect_num("0xffffffffffffffff", UINT64_MAX);
    expect_num("  7  ", 7);
    expect_num("(((7)))", 7);
    /* A literal that points into a block or a global is that place. */
    expect_place("0x1010", HS_VAL_BLOCK, 0x1010, 0x1000);
    expect_place("0x10a8", HS_VAL_GLOBAL, 0x10a8, 0x1090);
}

static void test_names(void **state)
{
    (void)state;
    expect_place("g_ptr", HS_VAL_BLOCK, 0x1008, 0x1000);
    expect_place("&g_ptr", HS_VAL_GLOBAL, 0x1080, 0x1080);
    expect_place("g_arr", HS_VAL_GLOBAL, 0x1090, 0x1090);
    expect_num("g_int", 42);
    expect_num("ns::x.c$1_2", 5); /* C++ scopes, GCC's local statics, '$' */
    hs_val v;
    char err[256];
    size_t col;
    assert_int_equal(eval("this", &v, err, &col), 0);
    assert_int_equal(v.kind, HS_VAL_PROCESS);
}

static void test_deref_and_offsets(void **state)
{
    (void)state;
    expect_num("*g_ptr", 0x101);        /* the block's word at +8 */
    expect_num("*(g_ptr - 8)", 0x100);  /* back to its start */
    expect_num("*(g_ptr + 16)", 0x103); /* still inside */
    expect_place("g_ptr + 8", HS_VAL_BLOCK, 0x1010, 0x1000);
    expect_place("*g_arr", HS_VAL_BLOCK, 0x1000, 0x1000);
    expect_place("g_arr[0]", HS_VAL_BLOCK, 0x1000, 0x1000);
    expect_num("g_arr[2]", 0xdead);
    expect_num("g_arr[1][0]", 0xdead); /* g_arr[1] points at g_arr[2] */
    expect_num("**(g_arr + 8)", 0xdead);
    expect_num("*g_arr[0]", 0x100);
    expect_num("8 + 8", 16);
    expect_num("1 - 2", UINT64_MAX); /* words wrap */
    expect_place("8 + g_ptr", HS_VAL_BLOCK, 0x1010, 0x1000);
    expect_num("(g_ptr + 16) - g_ptr", 16);
    expect_num("g_ptr - &g_ptr", (uint64_t)0x1008 - 0x1080);
    /* Leaving a place re-reads what the address is: past the block, a number. */
    expect_num("g_ptr + 0x100", 0x1108);
    expect_place("g_ptr + 0x90", HS_VAL_GLOBAL, 0x1098, 0x1090);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("", 0, "SyntaxError: Unexpected end of input", 0);
    expect_error("   ", 3, "SyntaxError: Unexpected end of input", 3);
    expect_error("1 +", 3, "SyntaxError: Unexpected end of input", 3);
    expect_error("(1", 2, "SyntaxError: Unexpected end of input", 2);
    expect_error("1)", 2, "SyntaxError: Unexpected token ')'", 1);
    expect_error("g_ptr %", 7, "SyntaxError: Unexpected token '%'", 6);
    expect_error("g_arr[1", 7, "SyntaxError: Unexpected end of input", 7);
    expect_error("\x01", 1, "SyntaxError: Unexpected token '\\x01'", 0);
    expect_error("12ab", 4, "SyntaxError: Invalid or unexpected token", 0);
    expect_error("0x", 2, "SyntaxError: Invalid or unexpected token", 0);
    expect_error("a\0b", 3, "SyntaxError: Invalid or unexpected token", 1);
    expect_error("&5", 2, "SyntaxError: Unexpected token '5'", 1);
    expect_error("nope", 4, "ReferenceError: nope is not defined", 0);
    expect_error("1 + nope", 8, "ReferenceError: nope is not defined", 4);
    expect_error("*0", 2, "Error: cannot read memory at 0x0", 0);
    expect_error("*(g_ptr + 1)", 12, "Error: cannot read memory at 0x1009", 0);
    expect_error("18446744073709551616", 20, "RangeError: the number does not fit in 64 bits", 0);
    expect_error("0x10000000000000000", 19, "RangeError: the number does not fit in 64 bits", 0);
    expect_error("g_ptr + g_ptr", 13, "TypeError: cannot add two addresses", 6);
    expect_error("1 - g_ptr", 9, "TypeError: cannot subtract an address from a number", 2);
    expect_error("g_arr[g_ptr]", 12, "TypeError: the index is not a number", 5);
    expect_error("*this", 5, "TypeError: the global object is not an address", 0);
    expect_error("this + 1", 8, "TypeError: the global object is not an address", 5);
}

static void test_bounds(void **state)
{
    (void)state;
    char deep[200];
    memset(deep, '*', 100);
    strcpy(deep + 100, "g_ptr");
    expect_error(deep, strlen(deep), "RangeError: the expression is nested too deeply", 64);
    memset(deep, '(', 150);
    strcpy(deep + 150, "1");
    expect_error(deep, strlen(deep), "RangeError: the expression is nested too deeply", 64);
    /* Exactly at the limits still works. */
    char limit[140];
    memset(limit, '(', 63); /* 63 parentheses and the number: 64 levels */
    limit[63] = '7';
    memset(limit + 64, ')', 63);
    limit[127] = '\0';
    expect_num(limit, 7);
    static char text[HS_EXPR_MAX_LEN + 2];
    memset(text, ' ', sizeof(text));
    text[0] = '1';
    hs_val v;
    char err[256];
    size_t col;
    assert_int_equal(hs__expr_eval(text, HS_EXPR_MAX_LEN, &ENV, &v, err, sizeof(err), &col), 0);
    assert_int_equal(v.num, 1);
    expect_error(text, HS_EXPR_MAX_LEN + 1,
                 "RangeError: the expression is longer than 4096 characters", 0);
    /* A refused expression is refused before any lookup or read. */
    fake.reads = 0;
    lookups = 0;
    memset(deep, '*', 100);
    strcpy(deep + 100, "g_ptr");
    expect_error(deep, strlen(deep), "RangeError: the expression is nested too deeply", 64);
    assert_int_equal(fake.reads + lookups, 0);
}

/* Every prefix and every one-byte change of valid expressions either
 * evaluates or fails with a message and a column inside the text. */
static void test_garbage(void **state)
{
    (void)state;
    const char *seeds[] = {"*(g_arr[1] + 8) - g_ptr", "&g_ptr + 0x10", "(((g_int)))",
                           "g_arr[0][1]"};
    const char alphabet[] = "*&()[]+-0x9azZ_$.: \t%\"";
    char buf[64];
    for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
        size_t n = strlen(seeds[s]);
        for (size_t i = 0; i <= n; i++)
            for (size_t a = 0; a < sizeof(alphabet); a++) {
                memcpy(buf, seeds[s], n);
                size_t len = n;
                if (i < n)
                    buf[i] = alphabet[a]; /* the last alphabet entry is '\0' */
                else
                    len = i - (a % n); /* prefixes */
                hs_val v;
                char err[256] = "";
                size_t col = 0;
                int rc = hs__expr_eval(buf, len, &ENV, &v, err, sizeof(err), &col);
                if (rc < 0) {
                    assert_true(err[0] != '\0');
                    assert_true(col <= len);
                } else {
                    assert_true(v.kind >= HS_VAL_NUM && v.kind <= HS_VAL_PROCESS);
                }
            }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_literals, setup),
        cmocka_unit_test_setup(test_names, setup),
        cmocka_unit_test_setup(test_deref_and_offsets, setup),
        cmocka_unit_test_setup(test_errors, setup),
        cmocka_unit_test_setup(test_bounds, setup),
        cmocka_unit_test_setup(test_garbage, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
