/*
 * test_outpath.c — hs_outpath_*, the one reading of output file patterns
 * (%p, %n, %%) shared by `heapscope run --snapshot-out` and the agent's
 * HEAPSCOPE_SNAPSHOT_OUT: the CLI finds the files by the names the agent gave.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static int write_hello(int fd, void *arg)
{
    (void)arg;
    return write(fd, "hello", 5) == 5 ? 0 : -1;
}

/* The agent's files are owner-only, and the temporary name beside the file
 * cannot be predicted: a symlink planted at PATH.tmp-PID (the old name) to a
 * file of ours is neither followed nor removed. */
static void test_write_file_safe(void **state)
{
    (void)state;
    char dir[] = "/tmp/hs-outpath-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], victim[256], planted[300];
    snprintf(path, sizeof(path), "%s/out.heapsnapshot", dir);
    snprintf(victim, sizeof(victim), "%s/victim", dir);
    snprintf(planted, sizeof(planted), "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(victim, "w");
    assert_non_null(f);
    fputs("precious", f);
    fclose(f);
    assert_int_equal(symlink(victim, planted), 0);

    assert_int_equal(hs_outpath_write_file(path, write_hello, NULL), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 5);
    assert_int_equal(stat(victim, &st), 0);
    assert_int_equal(st.st_size, 8);
    assert_int_equal(lstat(planted, &st), 0);
    assert_true(S_ISLNK(st.st_mode));

    unlink(planted);
    unlink(victim);
    unlink(path);
    assert_int_equal(rmdir(dir), 0); /* nothing else was left behind */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_seq),
        cmocka_unit_test(test_quote_then_expand),
        cmocka_unit_test(test_write_file_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
