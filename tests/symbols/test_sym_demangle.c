/*
 * test_sym_demangle.c — the symbolizer's demangler on known mangled names:
 * C++ (parameter lists, templates, lambdas, clones), Rust legacy (the hash
 * dropped) and v0, and names that are not mangled.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "symbolize.h"

static void check(const char *mangled, const char *want)
{
    char *got = hs__sym_demangle(mangled);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_cxx(void **state)
{
    (void)state;
    check("_Z3fooi", "foo(int)");
    check("_ZN2ns3BoxIiE3getEi", "ns::Box<int>::get(int)");
    check("_ZZ4mainENKUlvE_clEv", "main::{lambda()#1}::operator()() const");
    check("_Z3fooi.cold", "foo(int) [clone .cold]");
    check("_ZNKSt6vectorIiSaIiEE4sizeEv", "std::vector<int, std::allocator<int> >::size() const");
}

static void test_rust_legacy(void **state)
{
    (void)state;
    check("_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write");
    check("_ZN3std2rt10lang_start17h5a1b0b0e64e0d1a1E", "std::rt::lang_start");
    check("_ZN5alloc5alloc18handle_alloc_error17h88c2f8a1e4e0b2f7E",
          "alloc::alloc::handle_alloc_error");
}

static void test_rust_v0(void **state)
{
    (void)state;
    check("_RNvCs1234_7mycrate3foo", "mycrate::foo");
    check("_RNvNtCs1234_7mycrate4util3bar", "mycrate::util::bar");
    check("_RNvMNtCs9ltgdHTiPiY_4core3fmtNtB2_9Formatter3pad", "<core::fmt::Formatter>::pad");
}

static void test_not_mangled(void **state)
{
    (void)state;
    check("main", NULL);
    check("malloc", NULL);
    check("", NULL);
    check(NULL, NULL);
    check("_", NULL);
    check("_Z", NULL);
    check("_Zfoo", NULL);
    check("_R", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cxx),
        cmocka_unit_test(test_rust_legacy),
        cmocka_unit_test(test_rust_v0),
        cmocka_unit_test(test_not_mangled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
