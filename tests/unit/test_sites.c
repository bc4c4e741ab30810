/*
 * test_sites.c — unit tests of allocation-site bookkeeping: wrapper pattern
 * lists (defaults, additions, replacement, globs) and the site table's ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "agent_int.h"
#include "heapscope/hs_err.h"

static void test_default_wrappers(void **state)
{
    (void)state;
    assert_true(hs__sites_set_wrappers(NULL) > 10);
    assert_true(hs__sites_is_wrapper_name("_Znwm"));
    assert_true(hs__sites_is_wrapper_name("_ZnwmSt11align_val_t"));
    assert_true(hs__sites_is_wrapper_name("xmalloc"));
    assert_true(hs__sites_is_wrapper_name("g_malloc0"));
    assert_true(hs__sites_is_wrapper_name("jv_mem_alloc"));
    assert_false(hs__sites_is_wrapper_name("main"));
    assert_false(hs__sites_is_wrapper_name("xmalloc_helper"));
    assert_false(hs__sites_is_wrapper_name(""));
}

static void test_custom_wrappers(void **state)
{
    (void)state;
    assert_int_equal(hs__sites_set_wrappers("my_alloc, pool_*_new,a?c"), 3);
    assert_true(hs__sites_is_wrapper_name("my_alloc"));
    assert_true(hs__sites_is_wrapper_name("pool_node_new"));
    assert_true(hs__sites_is_wrapper_name("abc"));
    assert_false(hs__sites_is_wrapper_name("abbc"));
    assert_false(hs__sites_is_wrapper_name("_Znwm")); /* defaults replaced */

    int n = hs__sites_set_wrappers("+my_alloc");
    assert_true(n > 10);
    assert_true(hs__sites_is_wrapper_name("my_alloc"));
    assert_true(hs__sites_is_wrapper_name("_Znwm"));

    assert_int_equal(hs__sites_set_wrappers(""), 0);
    assert_false(hs__sites_is_wrapper_name("_Znwm"));

    /* A list that does not fit is refused, not truncated silently. */
    static char big[9000];
    for (size_t i = 0; i < sizeof(big) - 1; i++)
        big[i] = (i % 10 == 9) ? ',' : 'a';
    assert_int_equal(hs__sites_set_wrappers(big), HS_E_INVAL);
    hs__sites_set_wrappers(NULL);
}

/* Without classification (before the agent is initialised), every return
 * address is its own site, with a stable id. */
static void test_site_ids(void **state)
{
    (void)state;
    uint32_t a = hs__site_resolve(0x401000, 0);
    uint32_t b = hs__site_resolve(0x401010, 0);
    assert_true(a != 0);
    assert_true(b != 0);
    assert_true(a != b);
    assert_int_equal(hs__site_resolve(0x401000, 0), a);
    assert_int_equal(hs__site_addr(a), 0x401000);
    assert_int_equal(hs__site_addr(0), 0);
    assert_true(hs__site_count() >= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_wrappers),
        cmocka_unit_test(test_custom_wrappers),
        cmocka_unit_test(test_site_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
