/*
 * test_signal.c — hs_signal_parse, the one signal-name table that both
 * `heapscope run --sample-signal` and the agent's HEAPSCOPE_PROFILE_SIGNAL
 * read: every spelling the CLI passes on must mean the same to the agent.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "hs_signal.h"

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(hs_signal_parse("USR1"), SIGUSR1);
    assert_int_equal(hs_signal_parse("SIGUSR2"), SIGUSR2);
    assert_int_equal(hs_signal_parse("usr1"), SIGUSR1);
    assert_int_equal(hs_signal_parse("sigterm"), SIGTERM);
    assert_int_equal(hs_signal_parse("ALRM"), SIGALRM);
    assert_int_equal(hs_signal_parse("WINCH"), SIGWINCH);
    assert_int_equal(hs_signal_parse("URG"), SIGURG);
}

static void test_numbers(void **state)
{
    (void)state;
    assert_int_equal(hs_signal_parse("10"), 10);
    assert_int_equal(hs_signal_parse("0"), -1);
    assert_int_equal(hs_signal_parse("99999"), -1);
    assert_int_equal(hs_signal_parse("12x"), -1);
}

static void test_refused(void **state)
{
    (void)state;
    assert_int_equal(hs_signal_parse("KILL"), 0);
    assert_int_equal(hs_signal_parse("SIGSTOP"), 0);
    assert_int_equal(hs_signal_parse("9"), 0);
    assert_int_equal(hs_signal_parse("NOPE"), -1);
    assert_int_equal(hs_signal_parse(""), -1);
    assert_int_equal(hs_signal_parse(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
