/*
 * fuzz_profile.c — libFuzzer target for the .heapprofile reader
 * (profile_read.c) and its exports: any input gives a profile or an error,
 * never a crash or a leak; a profile is consistent (parents before children,
 * subtrees nested, samples pointing at real nodes) and exports without error.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"
#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hs_profile p;
    char err[512];
    if (hs_profile_read_mem("fuzz", (const char *)data, size, &p, err, sizeof(err)) != 0)
        return 0;
    for (uint32_t i = 0; i < p.node_count; i++) {
        const struct hs_profile_node *n = &p.nodes[i];
        CHECK((i == 0) == (n->parent == HS_PROFILE_NONE));
        CHECK(!i || n->parent < i);
        CHECK(n->end > i && n->end <= p.node_count);
        CHECK(!i || n->end <= p.nodes[n->parent].end);
    }
    for (uint32_t i = 0; i < p.sample_count; i++)
        CHECK(p.samples[i].node == HS_PROFILE_NONE || p.samples[i].node < p.node_count);
    FILE *f = fopen("/dev/null", "w");
    if (f) {
        CHECK(hs_profile_write_pprof(&p, f, err, sizeof(err)) == 0);
        CHECK(hs_profile_write_collapsed(&p, f, err, sizeof(err)) == 0);
        CHECK(hs_profile_write_html(&p, "fuzz", f, err, sizeof(err)) == 0);
        fclose(f);
    }
    hs_profile_free(&p);
    return 0;
}
