/*
 * registry_mem.c — measures the registry's memory per live block (budget:
 * <= 32 bytes, DESIGN.md) on a few allocation patterns. Run under the agent:
 *     LD_PRELOAD=build/lib/libheapscope.so build/bin/hs-bench-registry-mem
 * It reads the agent's counters through hs_agent_get_stats, found with dlsym.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "heapscope/hs_agent.h"

typedef int (*stats_fn)(hs_agent_stats *);

static void report(stats_fn get, const char *name, void **blocks, size_t n)
{
    hs_agent_stats st;
    get(&st);
    printf("%-34s %9zu blocks  registry %10llu bytes  %6.1f bytes/block\n", name, n,
           (unsigned long long)st.registry_bytes,
           (double)st.registry_bytes / (double)st.live_blocks);
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
}

int main(void)
{
    stats_fn get = (stats_fn)dlsym(RTLD_DEFAULT, "hs_agent_get_stats");
    if (!get) {
        fprintf(stderr, "run me under the agent (LD_PRELOAD=libheapscope.so)\n");
        return 2;
    }
    enum { N = 1000000 };
    void **b = calloc(N, sizeof(void *));
    if (!b)
        return 1;
    for (size_t i = 0; i < N; i++)
        b[i] = malloc(24);
    report(get, "1M x 24 B, allocation order", b, N);

    unsigned r = 12345;
    for (size_t i = 0; i < N; i++) {
        r = r * 1103515245u + 12345u;
        b[i] = malloc(16 + (r >> 16) % 240);
    }
    report(get, "1M x 16..256 B", b, N);

    for (size_t i = 0; i < N; i++)
        b[i] = malloc(64);
    for (size_t i = 0; i < N; i += 2) { /* half freed: sparser windows */
        free(b[i]);
        b[i] = NULL;
    }
    report(get, "1M x 64 B, every other one freed", b, N);

    for (size_t i = 0; i < 20000; i++)
        b[i] = malloc(200000);
    report(get, "20k x 200 KB (one per window)", b, 20000);
    free(b);
    return 0;
}
