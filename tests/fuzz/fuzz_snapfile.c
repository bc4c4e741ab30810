/*
 * fuzz_snapfile.c — libFuzzer target for the snapshot reader (snap_read.c):
 * any input gives a result or an error, never a crash or a leak; a result
 * is consistent (every edge inside the graph, first_edge adding up).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_check.h"
#include "snapfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_snapfile s;
    hs_read_error err;
    if (hs_snapfile_read_mem("fuzz", (const char *)data, size, &s, &err) == 0) {
        CHECK(s.first_edge[s.node_count] == s.edge_count);
        for (uint32_t e = 0; e < s.edge_count; e++)
            CHECK(s.edge_to[e] < s.node_count);
        for (uint32_t i = 0; i < s.node_count; i++)
            CHECK(s.node_name[i] < s.string_count && s.node_type[i] < s.node_type_count);
        hs_snapfile_free(&s);
    } else {
        CHECK(err.text[0]);
    }
    return 0;
}
