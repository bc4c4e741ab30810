/*
 * snapfile.h — a .heapsnapshot / .heaptimeline (V8's or heapscope's) read into
 * compact arrays (docs/design/analysis-plan.md): memory proportional to the
 * graph, never to the JSON text. Node and edge fields are mapped from the
 * file's own meta, so 6- and 7-field files and any field order read alike.
 */
#ifndef HS_FORMATS_SNAPFILE_H
#define HS_FORMATS_SNAPFILE_H

#include <stddef.h>
#include <stdint.h>

/* Where and why reading failed: "FILE: byte N: what" in text. */
typedef struct hs_read_error {
    uint64_t offset; /* bytes into the file where it went wrong */
    char text[512];
} hs_read_error;

typedef struct hs_snapfile {
    uint32_t node_count, edge_count;

    /* Per node (node_count entries). */
    uint8_t *node_type;   /* index into node_type_names */
    uint32_t *node_name;  /* string index */
    uint32_t *node_id;    /* object id */
    uint64_t *node_self;  /* self_size, bytes */
    uint32_t *node_trace; /* trace_node_id; NULL when the file has none */
    uint8_t *node_det;    /* detachedness; NULL when the file has none */
    /* node_count + 1 entries: node i's edges are [first_edge[i], first_edge[i+1]). */
    uint32_t *first_edge;

    /* Per edge (edge_count entries), grouped by source node in node order. */
    uint8_t *edge_type;  /* index into edge_type_names */
    uint32_t *edge_name; /* string index, or the element/hidden index */
    uint32_t *edge_to;   /* target node index (to_node / node field count) */

    /* Strings: string i is arena + string_off[i], NUL-terminated. */
    uint32_t string_count;
    uint64_t *string_off;
    char *arena;

    /* meta's type names. */
    char **node_type_names, **edge_type_names;
    uint32_t node_type_count, edge_type_count;

    /* The optional sections, flat as in the file (0 entries when absent). */
    uint64_t *samples; /* pairs: timestamp_us, last_assigned_id */
    size_t sample_count;
    uint32_t *trace_functions; /* 6 per function: id, name, script_name, script_id, line, column */
    uint32_t trace_function_count;
    /* trace_tree flattened, one entry per trace node in preorder: */
    /* parent: an entry index, the root's is UINT32_MAX. */
    uint32_t *trace_node_ids, *trace_node_func, *trace_node_parent;
    uint64_t *trace_node_count, *trace_node_size;
    uint32_t trace_node_total;
    uint32_t *locations; /* 4 per location: node index, script_id, line, column */
    size_t location_count;
    uint64_t extra_native_bytes;
    /* Added by the reader: the root node's index, from the header's optional
     * root_index (a nodes offset, as DevTools reads it) ÷ the node field
     * count; 0 when absent. DevTools accepts only the first or the last node. */
    uint32_t root_node;
} hs_snapfile;

/* Reads path. 0, or -1 with *err filled (the snapfile is then empty).
 * snap_read.c: meta must come before nodes, edges and locations (V8 always
 * writes it first); every index is checked (types, to_node a multiple of the
 * node field count and below node_count, string indices of names except for
 * element and hidden edges, trace function indices), the counts must agree
 * exactly, and memory is never reserved from a header count beyond what the
 * file's size could hold. trace_tree may nest at most 100000 deep. Error texts:
 * "FILE: byte N: expected a number in "nodes", found a string",
 * "FILE: byte N: unexpected end of file (truncated?)", "FILE: byte N: nodes has
 * 12 numbers, node_count 3 × 6 fields = 18", and so on (tests/formats/
 * test_snapfile.c lists them all). */
int hs_snapfile_read(const char *path, hs_snapfile *out, hs_read_error *err);
/* The same from memory (tests, fuzzing); name is used in error texts. */
int hs_snapfile_read_mem(const char *name, const char *data, size_t len, hs_snapfile *out,
                         hs_read_error *err);
void hs_snapfile_free(hs_snapfile *s);

static inline const char *hs_snapfile_str(const hs_snapfile *s, uint32_t i)
{
    return i < s->string_count ? s->arena + s->string_off[i] : "";
}

/* The index of a type name in node_type_names / edge_type_names, or -1. */
int hs_snapfile_node_type(const hs_snapfile *s, const char *name);
int hs_snapfile_edge_type(const hs_snapfile *s, const char *name);

#endif
