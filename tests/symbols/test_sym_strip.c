/*
 * test_sym_strip.c — run as a copy stripped with strip --strip-all: with no
 * symbol and no debug information, a pc is "<basename>+0x<offset from the
 * load base>", url and module the program's path, and each pc its own key.
 */
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize.h"
#include "symtest.h"

static int failures;

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

SYMTEST_NOINLINE static void marker(uintptr_t pcs[2])
{
    pcs[0] = symtest_here();
    SYMTEST_KEEP();
    pcs[1] = symtest_here();
    SYMTEST_KEEP();
}

static int first_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    *(uintptr_t *)arg = info->dlpi_addr;
    return 1; /* the main program comes first */
}

int main(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return 2;
    exe[n] = 0;
    const char *base = strrchr(exe, '/') + 1;
    uintptr_t load = 0;
    dl_iterate_phdr(first_cb, &load);

    uintptr_t pcs[2];
    marker(pcs);
    hs_sym s[2];
    for (int i = 0; i < 2; i++) {
        char want[PATH_MAX + 32];
        snprintf(want, sizeof(want), "%s+0x%lx", base, (unsigned long)(pcs[i] - 1 - load));
        CHECK(hs__sym_resolve(pcs[i], &s[i]) == 0);
        if (strcmp(s[i].function, want)) {
            fprintf(stderr, "expected \"%s\", got \"%s\"\n", want, s[i].function);
            failures++;
        }
        CHECK(!strcmp(s[i].module, exe));
        CHECK(!strcmp(s[i].url, exe));
        CHECK(s[i].line == -1 && s[i].column == -1);
        CHECK(s[i].script_id >= 1);
    }
    CHECK(s[0].func_key != s[1].func_key);
    hs_sym again;
    CHECK(hs__sym_resolve(pcs[1], &again) == 0 && again.func_key == s[1].func_key);
    hs__sym_shutdown();
    return failures ? 1 : 0;
}
