/*
 * bench_symbols.c — time of hs__sym_resolve per pc, cold and warm, and the
 * symbolizer's memory: 1000 distinct pcs in 1000 functions of this program
 * (built with -g) and in 1000 functions of libc. Prints one line per pass.
 * Usage: bench_symbols [count]   (docs/design/symbols.md has the numbers)
 */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <link.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "symbolize.h"
#include "symtest.h"

/* 1000 distinct functions, each storing a pc inside itself. */
#define F1(n)                                                                                      \
    SYMTEST_NOINLINE static void f_##n(uintptr_t *out)                                             \
    {                                                                                              \
        out[1##n - 1000] = symtest_here();                                                         \
        SYMTEST_KEEP();                                                                            \
    }
#define F10(n)                                                                                     \
    F1(n##0) F1(n##1) F1(n##2) F1(n##3) F1(n##4) F1(n##5) F1(n##6) F1(n##7) F1(n##8) F1(n##9)
#define F100(n)                                                                                    \
    F10(n##0)                                                                                      \
    F10(n##1) F10(n##2) F10(n##3) F10(n##4) F10(n##5) F10(n##6) F10(n##7) F10(n##8) F10(n##9)
// clang-format off
F100(0) F100(1) F100(2) F100(3) F100(4) F100(5) F100(6) F100(7) F100(8) F100(9)
// clang-format on

#define C1(n) f_##n(out);
#define C10(n)                                                                                     \
    C1(n##0) C1(n##1) C1(n##2) C1(n##3) C1(n##4) C1(n##5) C1(n##6) C1(n##7) C1(n##8) C1(n##9)
#define C100(n)                                                                                    \
    C10(n##0)                                                                                      \
    C10(n##1) C10(n##2) C10(n##3) C10(n##4) C10(n##5) C10(n##6) C10(n##7) C10(n##8) C10(n##9)

    static void own_pcs(uintptr_t *out)
{
    C100(0) C100(1) C100(2) C100(3) C100(4) C100(5) C100(6) C100(7) C100(8) C100(9)
}

struct libc_info {
    char path[PATH_MAX];
    uintptr_t bias;
};

static int libc_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct libc_info *l = arg;
    if (info->dlpi_name && strstr(info->dlpi_name, "/libc.so")) {
        snprintf(l->path, sizeof(l->path), "%s", info->dlpi_name);
        l->bias = info->dlpi_addr;
        return 1;
    }
    return 0;
}

/* A pc in the middle of each of libc's first n exported functions. */
static size_t libc_pcs(uintptr_t *out, size_t n)
{
    struct libc_info l = {{0}, 0};
    dl_iterate_phdr(libc_cb, &l);
    elf_version(EV_CURRENT);
    int fd = open(l.path, O_RDONLY);
    Elf *e = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
    size_t k = 0;
    for (Elf_Scn *scn = NULL; e && (scn = elf_nextscn(e, scn));) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM)
            continue;
        Elf_Data *d = elf_getdata(scn, NULL);
        for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize && k < n; i++) {
            GElf_Sym s;
            if (!gelf_getsym(d, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC ||
                s.st_shndx == SHN_UNDEF || s.st_size < 16)
                continue;
            uintptr_t pc = l.bias + s.st_value + s.st_size / 2 + 1;
            size_t j = 0;
            while (j < k && out[j] != pc)
                j++;
            if (j == k)
                out[k++] = pc;
        }
    }
    if (e)
        elf_end(e);
    if (fd >= 0)
        close(fd);
    return k;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void pass(const char *what, const uintptr_t *pcs, size_t n)
{
    hs_sym s;
    double t = now();
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (hs__sym_resolve(pcs[i], &s) != 0 || !strncmp(s.function, "0x", 2))
            bad++;
    t = now() - t;
    printf("%-28s %5zu pcs %10.2f us/pc %9.3f ms total%s\n", what, n, t * 1e6 / (double)n, t * 1e3,
           bad ? " (some unresolved)" : "");
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
    if (n == 0 || n > 1000)
        n = 1000;
    static uintptr_t own[1000], libc[1000], libc_near[1000];
    own_pcs(own);
    size_t nl = libc_pcs(libc, n);
    for (size_t i = 0; i < nl; i++)
        libc_near[i] = libc[i] + 1; /* another pc in the same function */

    struct mallinfo2 m0 = mallinfo2();
    pass("program, cold", own, n);
    pass("program, warm", own, n);
    pass("libc, cold", libc, nl);
    pass("libc, warm", libc, nl);
    pass("libc, new pc, known function", libc_near, nl);
    struct mallinfo2 m1 = mallinfo2();

    struct hs_sym_stats st;
    hs__sym_stats(&st);
    printf("malloc in use by the symbolizer and libdw: %.1f MiB (mmapped %.1f MiB)\n",
           (double)(m1.uordblks - m0.uordblks) / 1048576.0,
           (double)(m1.hblkhd - m0.hblkhd) / 1048576.0);
    printf("own tables: %zu modules, %zu functions, %zu pcs cached, arena %zu KiB, tables %zu "
           "KiB, %llu reports\n",
           st.modules, st.functions, st.pc_cached, st.string_bytes / 1024, st.table_bytes / 1024,
           (unsigned long long)st.reports);
    hs__sym_shutdown();
    struct mallinfo2 m2 = mallinfo2();
    printf("after shutdown: %.1f MiB still in use\n",
           (double)(m2.uordblks - m0.uordblks) / 1048576.0);
    return 0;
}
