/*
 * test_outpath.c — hs_outpath_*, the one reading of output file patterns
 * (%p, %n, %%) shared by `heapscope run --snapshot-out` and the agent's
 * HEAPSCOPE_SNAPSHOT_OUT: the CLI finds the files by the names the agent gave.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "hs_outpath.h"

static void test_expand(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(hs_outpath_expand("heapscope-%p-%n.heapsnapshot", 4242, 3, buf, sizeof(buf)),
                     (int)strlen("heapscope-4242-3.heapsnapshot"));
    assert_string_equal(buf, "heapscope-4242-3.heapsnapshot");
    hs_outpath_expand("/a/%n/%n-%p", 7, 0, buf, sizeof(buf));
    assert_string_equal(buf, "/a/0/0-7");
    hs_outpath_expand("100%%-%%p-%x-%-%", 1, 1, buf, sizeof(buf));
    assert_string_equal(buf, "100%-%p-%x-%-%");
    hs_outpath_expand("plain", 1, 18446744073709551615UL, buf, sizeof(buf));
    assert_string_equal(buf, "plain");
    hs_outpath_expand("%n", 1, 18446744073709551615UL, buf, sizeof(buf));
    assert_string_equal(buf, "18446744073709551615");
}

static void test_too_long(void **state)
{
    (void)state;
    char buf[8];
    assert_int_equal(hs_outpath_expand("ab%pcd", 12345, 1, buf, sizeof(buf)), -1);
    assert_string_equal(buf, "ab12345");
    assert_int_equal(hs_outpath_expand("ab%pc", 1234, 1, buf, sizeof(buf)), 7);
    assert_string_equal(buf, "ab1234c");
    assert_int_equal(hs_outpath_quote("a%b%c", buf, sizeof(buf)), 7);
    assert_string_equal(buf, "a%%b%%c");
    assert_int_equal(hs_outpath_quote("a%b%cd", buf, sizeof(buf)), -1);
    assert_int_equal(hs_outpath_expand("x", 1, 1, buf, 0), -1);
}

static void test_seq(void **state)
{
    (void)state;
    assert_int_equal(hs_outpath_has_seq("a-%n"), 1);
    assert_int_equal(hs_outpath_has_seq("a-%p"), 0);
    assert_int_equal(hs_outpath_has_seq("a-%%n"), 0);
    assert_int_equal(hs_outpath_has_seq("a-%%%n"), 1);
    assert_int_equal(hs_outpath_has_seq("%"), 0);
}

static void test_quote_then_expand(void **state)
{
    (void)state;
    char dir[64], pattern[128], out[128];
    hs_outpath_quote("/tmp/50%p-dir", dir, sizeof(dir));
    strcat(strcpy(pattern, dir), "/s-%p-%n");
    hs_outpath_expand(pattern, 9, 2, out, sizeof(out));
    assert_string_equal(out, "/tmp/50%p-dir/s-9-2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_seq),
        cmocka_unit_test(test_quote_then_expand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
