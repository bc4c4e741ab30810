/*
 * v8_types.h — V8's node and edge type names in meta's order (spec §4.1),
 * for the tests that build snapshots in memory (test_analysis.c,
 * hs_analyze_dump.c's random graphs).
 */
#ifndef HS_TESTS_V8_TYPES_H
#define HS_TESTS_V8_TYPES_H

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

#endif
