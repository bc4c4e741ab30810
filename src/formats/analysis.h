/*
 * analysis.h — DevTools' analysis of a heap snapshot graph (spec §4.4,
 * FE HeapSnapshot.ts): user roots, distances, shallow-size redistribution,
 * page-owned flags and essential edges, dominators by the iterative
 * Lengauer–Tarjan DevTools uses, unreached nodes hung under the root,
 * retained sizes and class names. The same rules, in the same order, so that
 * the numbers agree with DevTools (and memlab) node for node.
 *
 * Node 0 is the root. Arrays only and no recursion, for tens of millions of
 * nodes. Memory besides the snapfile: the result, 28 bytes per node
 * (distance 4, self 8, dominator 4, retained 8, class 4) plus the class-name
 * table; while hs_analyze runs, at its peak (the dominator pass) 40 bytes per
 * node (ten u32 vectors: Lengauer–Tarjan's parent, ancestor, vertex, label,
 * semi, dom, bucket, bucket-next and DFS cursors, and the retainer index),
 * 4 bytes per essential edge (the retainer lists) and one bit per edge, all
 * freed before it returns. On a random graph of 5 M nodes and 20 M edges
 * (hs_analyze_dump --random) that is ~390 MB over the snapfile's ~280 MB.
 */
#ifndef HS_FORMATS_ANALYSIS_H
#define HS_FORMATS_ANALYSIS_H

#include <stdint.h>

#include "snapfile.h"

/* DevTools' distance values. */
#define HS_DISTANCE_NONE (-5)        /* never reached ("−") */
#define HS_DISTANCE_SYSTEM 100000000 /* base for what only (GC roots) reach */

typedef struct hs_analysis {
    uint32_t node_count;
    int32_t *distance;     /* per node: BFS distance, HS_DISTANCE_NONE, or >= HS_DISTANCE_SYSTEM */
    uint64_t *self;        /* per node: self size after redistribution */
    uint32_t *dominator;   /* per node: immediate dominator's index; the root's is itself */
    uint64_t *retained;    /* per node: retained size */
    uint32_t *class_index; /* per node: index into class_names */
    char **class_names;    /* "(system)", "Function", an object's name, "(string)", ... */
    uint32_t class_count;
    int has_user_roots;         /* DevTools' web-page heuristics applied */
    uint32_t weak_only_count;   /* unreached, only non-essential retainers: DFS'd from the root */
    uint32_t unreachable_count; /* still unreached after that (cliques): hung under the root */
    uint64_t total_size;        /* root's retained size + extra_native_bytes */
} hs_analysis;

/*
 * Analyses s (not modified). 0, or -1 with *err filled (an empty snapshot,
 * out of memory, or an edge to a node that does not exist); *out is then
 * empty. err may be NULL.
 */
int hs_analyze(const hs_snapfile *s, hs_analysis *out, hs_read_error *err);
void hs_analysis_free(hs_analysis *a);

#endif
