/*
 * symtest_lib.c — the shared libraries of test_sym_c: built three times,
 * as hs_symtest_a (linked), hs_symtest_b and hs_symtest_c (dlopen'd), with
 * SYMTEST_FN naming the function (names of equal length keep b and c alike,
 * so that c tends to be loaded where b was).
 */
#include "symtest.h"

uintptr_t SYMTEST_FN(void);
extern const int SYMTEST_LINE;

// clang-format off
const int SYMTEST_LINE = __LINE__; SYMTEST_NOINLINE uintptr_t SYMTEST_FN(void)
// clang-format on
{
    uintptr_t pc = symtest_here();
    SYMTEST_KEEP();
    return pc;
}
