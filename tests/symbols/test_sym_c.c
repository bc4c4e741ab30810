/*
 * test_sym_c.c — the symbolizer on a C program built with -g: names, source
 * urls and declaration lines of its own functions (inlined code included),
 * one key per function, a library it links and two it dlopens (one loaded
 * where a dlclose'd one was), libc, and a pc in no module.
 */
#include <dlfcn.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "heapscope/hs_err.h"
#include "symbolize.h"
#include "symtest.h"

uintptr_t hs_symtest_a_pc(void);
extern const int hs_symtest_a_line;

/* The functions under test; each declares its line in a constant on the
 * same line, which is the line DW_AT_decl_line names. */
// clang-format off
static const int alpha_line = __LINE__; SYMTEST_NOINLINE static void alpha(uintptr_t pcs[2])
// clang-format on
{
    pcs[0] = symtest_here();
    SYMTEST_KEEP();
    pcs[1] = symtest_here();
    SYMTEST_KEEP();
}

// clang-format off
static const int beta_line = __LINE__; SYMTEST_NOINLINE static uintptr_t beta(int x)
// clang-format on
{
    uintptr_t pc = symtest_here() + (uintptr_t)x * 0;
    SYMTEST_KEEP();
    return pc;
}

/* Inlined into gamma: its pcs belong to gamma. */
__attribute__((always_inline)) static inline uintptr_t inlined_helper(void)
{
    uintptr_t pc = symtest_here();
    SYMTEST_KEEP();
    return pc;
}

// clang-format off
static const int gamma_line = __LINE__; SYMTEST_NOINLINE static uintptr_t gamma_fn(void)
// clang-format on
{
    uintptr_t pc = inlined_helper();
    SYMTEST_KEEP();
    return pc;
}

static char exe[PATH_MAX];

static void check_here(uintptr_t pc, const char *name, int line, hs_sym *s)
{
    assert_int_equal(hs__sym_resolve(pc, s), 0);
    assert_string_equal(s->function, name);
    /* An absolute __FILE__ (CMake passes absolute paths) is the url exactly. */
    char url[PATH_MAX + 8];
    snprintf(url, sizeof(url), "file://%s", __FILE__);
    if (__FILE__[0] == '/')
        assert_string_equal(s->url, url);
    assert_true(!strncmp(s->url, "file:///", 8));
    assert_true(symtest_ends_with(s->url, "/tests/symbols/test_sym_c.c"));
    assert_int_equal(s->line, line - 1);
    int col = symtest_column(__FILE__, line, name);
    assert_true(col >= 0);
    assert_int_equal(s->column, col);
    assert_string_equal(s->module, exe);
    assert_true(s->script_id >= 1);
}

static void test_own_functions(void **state)
{
    (void)state;
    uintptr_t a[2];
    alpha(a);
    uintptr_t b = beta(1), g = gamma_fn();
    hs_sym sa0, sa1, sb, sg;
    check_here(a[0], "alpha", alpha_line, &sa0);
    check_here(a[1], "alpha", alpha_line, &sa1);
    check_here(b, "beta", beta_line, &sb);
    check_here(g, "gamma_fn", gamma_line, &sg);
    assert_true(a[0] != a[1]);
    assert_true(sa0.func_key == sa1.func_key);
    assert_true(sa0.func_key != sb.func_key);
    assert_true(sb.func_key != sg.func_key);
    assert_true(sa0.script_id == sb.script_id && sb.script_id == sg.script_id);

    /* Cached: the same strings again. */
    hs_sym again;
    assert_int_equal(hs__sym_resolve(a[0], &again), 0);
    assert_ptr_equal(again.function, sa0.function);
    assert_ptr_equal(again.url, sa0.url);
}

static void module_of(const void *p, char *path)
{
    Dl_info info;
    assert_true(dladdr(p, &info) && info.dli_fname);
    assert_non_null(realpath(info.dli_fname, path));
}

static void check_lib(uintptr_t pc, const char *name, int line, const char *file,
                      const void *inside, hs_sym *s)
{
    char path[PATH_MAX];
    module_of(inside, path);
    assert_int_equal(hs__sym_resolve(pc, s), 0);
    assert_string_equal(s->function, name);
    assert_true(!strncmp(s->url, "file:///", 8));
    assert_true(symtest_ends_with(s->url, file));
    assert_int_equal(s->line, line - 1);
    assert_true(s->column >= 0);
    assert_string_equal(s->module, path);
}

static void test_shared_libraries(void **state)
{
    (void)state;
    hs_sym sm, sa, sb, sc, sb2;
    uintptr_t b = beta(0);
    assert_int_equal(hs__sym_resolve(b, &sm), 0);

    check_lib(hs_symtest_a_pc(), "hs_symtest_a_pc", hs_symtest_a_line, "/symtest_lib.c",
              (const void *)hs_symtest_a_pc, &sa);
    assert_true(sa.script_id >= 1 && sa.script_id != sm.script_id);

    /* Loaded after the symbolizer read the modules. */
    void *hb = dlopen(HS_SYMTEST_B, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(hb);
    uintptr_t (*fb)(void) = (uintptr_t(*)(void))dlsym(hb, "hs_symtest_b_pc");
    const int *lb = dlsym(hb, "hs_symtest_b_line");
    assert_true(fb && lb);
    uintptr_t pb = fb();
    check_lib(pb, "hs_symtest_b_pc", *lb, "/symtest_lib.c", (const void *)fb, &sb);
    assert_true(sb.script_id != sa.script_id && sb.script_id != sm.script_id);

    /* b unloaded, c loaded, usually at b's addresses: c's pcs must not get
     * b's answers. */
    assert_int_equal(dlclose(hb), 0);
    void *hc = dlopen(HS_SYMTEST_C, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(hc);
    uintptr_t (*fc)(void) = (uintptr_t(*)(void))dlsym(hc, "hs_symtest_c_pc");
    const int *lc = dlsym(hc, "hs_symtest_c_line");
    assert_true(fc && lc);
    uintptr_t pc = fc();
    if (pc != pb)
        print_message("note: c was not loaded where b was (%p, %p)\n", (void *)pc, (void *)pb);
    check_lib(pc, "hs_symtest_c_pc", *lc, "/symtest_lib.c", (const void *)fc, &sc);
    assert_true(sc.script_id != sb.script_id);
    assert_true(sc.func_key != sb.func_key);

    /* b again, wherever it lands: the same module, the same script id. */
    assert_int_equal(dlclose(hc), 0);
    hb = dlopen(HS_SYMTEST_B, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(hb);
    fb = (uintptr_t(*)(void))dlsym(hb, "hs_symtest_b_pc");
    assert_non_null(fb);
    check_lib(fb(), "hs_symtest_b_pc", *lb, "/symtest_lib.c", (const void *)fb, &sb2);
    assert_int_equal(sb2.script_id, sb.script_id);
    assert_true(sb2.func_key == sb.func_key);
    dlclose(hb);

    /* The main program kept its id through all this. */
    hs_sym sm2;
    assert_int_equal(hs__sym_resolve(b, &sm2), 0);
    assert_int_equal(sm2.script_id, sm.script_id);
}

static uintptr_t libc_pc;

static int cmp_capture(const void *a, const void *b)
{
    if (!libc_pc)
        libc_pc = (uintptr_t)__builtin_return_address(0);
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static void test_libc(void **state)
{
    (void)state;
    int v[] = {3, 1, 2};
    qsort(v, 3, sizeof(v[0]), cmp_capture);
    assert_true(libc_pc != 0);
    char path[PATH_MAX];
    module_of((const void *)qsort, path);
    hs_sym s;
    assert_int_equal(hs__sym_resolve(libc_pc, &s), 0);
    assert_string_equal(s.module, path);
    assert_true(s.script_id >= 1);
    assert_true(s.function[0] && strncmp(s.function, "0x", 2) && !strstr(s.function, "+0x"));
    /* Without debug info the url is the module's path; with it, a file
     * (relative when libc was built with a relative compilation directory,
     * as Debian's is: "stdlib/msort.c"), and then a line. */
    assert_true(s.url[0]);
    if (strcmp(s.url, path))
        assert_true(symtest_ends_with(s.url, ".c") && s.line >= 0);
}

static void test_unknown_pc(void **state)
{
    (void)state;
    hs_sym s;
    assert_int_equal(hs__sym_resolve(0x10, &s), HS_E_NOTFOUND);
    assert_string_equal(s.function, "0xf");
    assert_string_equal(s.url, "");
    assert_string_equal(s.module, "");
    assert_int_equal(s.script_id, 0);
    assert_int_equal(s.line, -1);
    assert_int_equal(s.column, -1);
    hs_sym t;
    assert_int_equal(hs__sym_resolve(0x20, &t), HS_E_NOTFOUND);
    assert_true(t.func_key != s.func_key);
}

static void test_shutdown_and_again(void **state)
{
    (void)state;
    hs__sym_shutdown();
    hs_sym s;
    check_here(beta(2), "beta", beta_line, &s);
    struct hs_sym_stats st;
    hs__sym_stats(&st);
    assert_true(st.modules >= 1 && st.functions >= 1 && st.pc_cached >= 1);
}

int main(void)
{
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return 1;
    exe[n] = 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_functions),
        cmocka_unit_test(test_shared_libraries),
        cmocka_unit_test(test_libc),
        cmocka_unit_test(test_unknown_pc),
        cmocka_unit_test(test_shutdown_and_again),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    hs__sym_shutdown();
    return rc;
}
