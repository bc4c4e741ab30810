/*
 * linked.c — a program that links libheapscope.so instead of preloading it,
 * starts the agent itself and checks the registry's counters through the
 * public API while it allocates, reallocates and frees.
 */
#include <stdio.h>
#include <stdlib.h>

#include "heapscope/hs_agent.h"

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "linked: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

int main(void)
{
    hs_agent_stats a, b;
    void *blocks[100];
    CHECK(hs_agent_start() == HS_OK);
    CHECK(hs_agent_get_stats(NULL) == HS_E_INVAL);
    CHECK(hs_agent_get_stats(&a) == HS_OK);
    for (int i = 0; i < 100; i++)
        blocks[i] = malloc(24);
    CHECK(hs_agent_get_stats(&b) == HS_OK);
    CHECK(b.live_blocks == a.live_blocks + 100);
    CHECK(b.live_bytes == a.live_bytes + 2400);
    CHECK(b.allocs == a.allocs + 100);
    CHECK(b.peak_bytes >= b.live_bytes);

    for (int i = 0; i < 50; i++)
        free(blocks[i]);
    blocks[50] = realloc(blocks[50], 1 << 20); /* moves: same block, new size */
    CHECK(hs_agent_get_stats(&b) == HS_OK);
    CHECK(b.live_blocks == a.live_blocks + 50);
    CHECK(b.live_bytes == a.live_bytes + 49 * 24 + (1 << 20));
    CHECK(b.allocs == a.allocs + 100);
    CHECK(b.frees == a.frees + 50);

    for (int i = 50; i < 100; i++)
        free(blocks[i]);
    CHECK(hs_agent_get_stats(&b) == HS_OK);
    CHECK(b.live_blocks == a.live_blocks);
    CHECK(b.live_bytes == a.live_bytes);
    CHECK(b.registry_bytes > 0);
    printf("linked: agent %s, %d failures\n", hs_agent_version(), failures);
    return failures != 0;
}
