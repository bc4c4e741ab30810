/*
 * profile.h — a .heapprofile (V8's SamplingHeapProfile JSON, spec §3 and
 * §5.2: {head: {callFrame, selfSize, id, children}, samples: [{size, nodeId,
 * ordinal}]}) read into compact arrays, and its exports (pprof, collapsed
 * stacks, an HTML flame graph).
 *
 * The reader streams the text through yajl: memory is the node and sample
 * arrays plus one arena of distinct strings, never the JSON text. Older files
 * without samples or ids, and legacy nodes with functionName/url/lineNumber
 * (1-based) on the node instead of callFrame, are read as DevTools reads them
 * (lines and columns stored 0-based, as callFrame has them).
 */
#ifndef HS_FORMATS_PROFILE_H
#define HS_FORMATS_PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HS_PROFILE_NONE UINT32_MAX

/* One call tree node. Nodes are in preorder: node 0 is head, a node's
 * subtree is [i, end), its parent comes before it. */
struct hs_profile_node {
    uint32_t parent;   /* HS_PROFILE_NONE for the root */
    uint32_t end;      /* one past the last node of its subtree */
    uint32_t function; /* offsets into strings (NUL-terminated) */
    uint32_t url;
    uint32_t script_id;
    int32_t line, column; /* 0-based; -1 when unknown */
    uint64_t self_size;
    uint64_t id; /* 0 when the file has none */
};

struct hs_profile_sample {
    uint64_t size;
    uint64_t node_id;
    double ordinal;
    uint32_t node; /* index of the node with that id, HS_PROFILE_NONE if none */
};

struct hs_profile {
    struct hs_profile_node *nodes;
    uint32_t node_count;
    struct hs_profile_sample *samples;
    uint32_t sample_count;
    int has_samples; /* the file had a "samples" array (maybe empty) */
    char *strings;   /* the arena: offset 0 is "" */
    size_t strings_len;
};

/* Reads the profile in text[0, len); name is the file name the errors begin
 * with. Returns 0, or -1 with err set to "NAME: byte N: expected ..." (and p
 * zeroed). Never reads outside text. */
int hs_profile_read_mem(const char *name, const char *text, size_t len, struct hs_profile *p,
                        char *err, size_t err_size);
/* The same from a file ("-" is stdin), read in slices. */
int hs_profile_read_file(const char *path, struct hs_profile *p, char *err, size_t err_size);
void hs_profile_free(struct hs_profile *p);

static inline const char *hs_profile_str(const struct hs_profile *p, uint32_t off)
{
    return p->strings + off;
}

/* The sum of the nodes' self sizes. */
uint64_t hs_profile_total(const struct hs_profile *p);

/* How a node is named in the exports: its function name, "(anonymous)" when
 * empty. */
const char *hs_profile_name(const struct hs_profile *p, uint32_t node);

/* ---- exports: each writes to f, returns 0 or -1 with err set ------------------------------ */

/* pprof (profile.proto), gzip'd: sample types [objects/count, space/bytes]
 * (default space), one sample per node with a self size or samples: space =
 * the node's selfSize, objects = how many samples[] entries name the node (0
 * when the file has no samples). Stacks leaf first, without (root). */
int hs_profile_write_pprof(const struct hs_profile *p, FILE *f, char *err, size_t err_size);

/* Collapsed stacks: one line per node with a self size, "(root);a;b SIZE",
 * frames named "NAME" or "NAME (URL:LINE)" (LINE 1-based), ';' in names
 * written ':' and line breaks ' '. */
int hs_profile_write_collapsed(const struct hs_profile *p, FILE *f, char *err, size_t err_size);

/* One HTML file, data and script inline, no network: an icicle graph with a
 * rectangle (div.frame) per node whose subtree has bytes, a tooltip per
 * rectangle, click to zoom. title names the page. */
int hs_profile_write_html(const struct hs_profile *p, const char *title, FILE *f, char *err,
                          size_t err_size);

#endif
