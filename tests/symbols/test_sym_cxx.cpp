/*
 * test_sym_cxx.cpp — the symbolizer on C++: a function in a namespace, a
 * method of a class template, a lambda and two overloads, by their demangled
 * names (parameter lists included), each with its own key.
 */
#include <cstdint>
#include <cstdio>
#include <cstring>

extern "C" {
#include "symbolize.h"
}
#include "symtest.h"

static int failures;

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);             \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

namespace hsns
{

SYMTEST_NOINLINE uintptr_t free_fn(int x)
{
    uintptr_t pc = symtest_here() + static_cast<uintptr_t>(x) * 0;
    SYMTEST_KEEP();
    return pc;
}

template <typename T> struct Box {
    T v;
    SYMTEST_NOINLINE uintptr_t get(T w)
    {
        uintptr_t pc = symtest_here() + static_cast<uintptr_t>(v + w) * 0;
        SYMTEST_KEEP();
        return pc;
    }
};
template struct Box<int>;

SYMTEST_NOINLINE uintptr_t over(int x)
{
    uintptr_t pc = symtest_here() + static_cast<uintptr_t>(x) * 0;
    SYMTEST_KEEP();
    return pc;
}

SYMTEST_NOINLINE uintptr_t over(double x)
{
    uintptr_t pc = symtest_here() + static_cast<uintptr_t>(x) * 0;
    SYMTEST_KEEP();
    return pc;
}

int lambda_line;

SYMTEST_NOINLINE uintptr_t with_lambda(int x)
{
    /* A lambda starts where its closure type is declared: at the '['. */
    // clang-format off
    lambda_line = __LINE__; auto l = [](int y) __attribute__((noinline)) {
        // clang-format on
        uintptr_t pc = symtest_here() + static_cast<uintptr_t>(y) * 0;
        SYMTEST_KEEP();
        return pc;
    };
    uintptr_t pc = l(x);
    SYMTEST_KEEP();
    return pc;
}

} // namespace hsns

static void expect(uintptr_t pc, const char *name, hs_sym *s)
{
    int rc = hs__sym_resolve(pc, s);
    CHECK(rc == 0);
    if (std::strcmp(s->function, name)) {
        std::fprintf(stderr, "expected \"%s\", got \"%s\"\n", name, s->function);
        failures++;
    }
    if (!symtest_ends_with(s->url, "/tests/symbols/test_sym_cxx.cpp") ||
        std::strncmp(s->url, "file:///", 8) || s->line <= 0 || s->script_id < 1) {
        std::fprintf(stderr, "%s: url \"%s\" line %d script %u\n", name, s->url, (int)s->line,
                     (unsigned)s->script_id);
        failures++;
    }
}

int main()
{
    hsns::Box<int> box{1};
    hs_sym s[5];
    expect(hsns::free_fn(1), "hsns::free_fn(int)", &s[0]);
    expect(box.get(2), "hsns::Box<int>::get(int)", &s[1]);
    expect(hsns::over(3), "hsns::over(int)", &s[2]);
    expect(hsns::over(4.0), "hsns::over(double)", &s[3]);
    expect(hsns::with_lambda(5), "hsns::with_lambda(int)::{lambda(int)#1}::operator()(int) const",
           &s[4]);
    CHECK(s[4].line == hsns::lambda_line - 1);
    /* GCC places the closure type at the lambda's "[]" (its ']'). */
    int bracket = symtest_column(__FILE__, hsns::lambda_line, "[]");
    CHECK(bracket > 0 && (s[4].column == bracket || s[4].column == bracket + 1));
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            CHECK(s[i].func_key != s[j].func_key);
    hs__sym_shutdown();
    if (failures)
        std::fprintf(stderr, "%d checks failed\n", failures);
    return failures ? 1 : 0;
}
