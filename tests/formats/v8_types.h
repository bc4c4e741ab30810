/*
 * v8_types.h — V8's node and edge type names in meta's order (spec §4.1),
 * for the tests that build snapshots in memory (test_analysis.c,
 * hs_analyze_dump.c's random graphs).
 */
#ifndef HS_TESTS_V8_TYPES_H
#define HS_TESTS_V8_TYPES_H

#include <stdlib.h>
#include <string.h>

#include "snapfile.h"

static char *v8_node_types[] = {"hidden",
                                "array",
                                "string",
                                "object",
                                "code",
                                "closure",
                                "regexp",
                                "number",
                                "native",
                                "synthetic",
                                "concatenated string",
                                "sliced string",
                                "symbol",
                                "bigint",
                                "object shape"};
static char *v8_edge_types[] = {"context", "element",  "property", "internal",
                                "hidden",  "shortcut", "weak"};

/* Gives a graph built by hand V8's type names as the reader gives them
 * (malloc'd), so that hs_snapfile_free frees it as it frees one read.
 * Returns 0, or -1 out of memory. */
static int v8_types_give(hs_snapfile *s)
{
    const uint32_t nn = sizeof v8_node_types / sizeof *v8_node_types;
    const uint32_t ne = sizeof v8_edge_types / sizeof *v8_edge_types;
    s->node_type_names = calloc(nn, sizeof(char *));
    s->edge_type_names = calloc(ne, sizeof(char *));
    if (!s->node_type_names || !s->edge_type_names)
        return -1;
    s->node_type_count = nn;
    s->edge_type_count = ne;
    for (uint32_t i = 0; i < nn; i++)
        if (!(s->node_type_names[i] = strdup(v8_node_types[i])))
            return -1;
    for (uint32_t i = 0; i < ne; i++)
        if (!(s->edge_type_names[i] = strdup(v8_edge_types[i])))
            return -1;
    return 0;
}

#endif
