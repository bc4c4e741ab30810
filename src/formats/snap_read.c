/*
 * snap_read.c — the streaming reader of .heapsnapshot / .heaptimeline files
 * (snapfile.h, docs/design/analysis-plan.md, spec §4.1). yajl is fed the file
 * 1 MiB at a time and its events go straight into the compact arrays: the
 * JSON text is never held, so memory is the arrays' (about 30 bytes per node
 * and 9 per edge) plus the strings. meta must come before nodes and edges (V8
 * always writes it first); the fields are mapped by name from it. Nothing is
 * preallocated from a header count beyond what the file's size could hold.
 * Every error is "FILE: byte N: what", N being where yajl stood.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

#include "snapfile.h"

#define CHUNK (1u << 20)
#define MAX_FIELDS 64
#define MAX_TYPES 256
#define MAX_TREE_DEPTH 100000
#define MAX_STATES 8

/* What a column of nodes / edges holds. */
enum { C_OTHER, C_TYPE, C_NAME, C_ID, C_SELF, C_EDGES, C_TRACE, C_DET, C_TO };

/* Where the parser stands. */
enum state {
    T_START,     /* before the top object */
    T_TOP,       /* in the top object */
    T_SNAP,      /* in "snapshot" */
    T_META,      /* in "snapshot"."meta" */
    T_FIELDS,    /* in meta.node_fields / edge_fields: strings */
    T_TYPES,     /* in meta.node_types / edge_types */
    T_TYPENAMES, /* in their first element: strings */
    T_NUMS,      /* in one of the flat number arrays */
    T_TREE,      /* in trace_tree */
    T_STRINGS,   /* in strings */
    T_SKIP,      /* in a value nobody reads */
    T_END,       /* after the top object */
};

enum sect { S_NODES, S_EDGES, S_SAMPLES, S_TFI, S_LOCS, S_TREE, S_STRINGS, S_COUNT };
static const char *const sect_names[S_COUNT] = {
    "nodes", "edges", "samples", "trace_function_infos", "locations", "trace_tree", "strings",
};

static const char *const sect_quoted[S_COUNT] = {
    "\"nodes\"",     "\"edges\"",      "\"samples\"", "\"trace_function_infos\"",
    "\"locations\"", "\"trace_tree\"", "\"strings\"",
};

/* The keys the reader knows; K_OTHER values are skipped. */
enum key {
    K_OTHER,
    K_SNAPSHOT,
    K_META,
    K_NODE_COUNT,
    K_EDGE_COUNT,
    K_TFC,
    K_EXTRA,
    K_ROOT,
    K_NODE_FIELDS,
    K_EDGE_FIELDS,
    K_NODE_TYPES,
    K_EDGE_TYPES,
    K_SECT, /* one of sect_names: which in r->key_sect */
};

struct tree_frame {
    uint32_t parent; /* entry index of the children's parent */
    uint32_t cur;    /* the entry being filled */
    uint8_t pos;     /* next field: 0..3 numbers, 4 the children, 5 inside them */
};

struct reader {
    const char *name;
    hs_snapfile *s;
    hs_read_error *err;
    yajl_handle h;
    uint64_t base;      /* file offset of the chunk being parsed */
    uint64_t file_size; /* 0 when unknown */
    int failed;
    int finishing; /* past the last byte: offsets are the file's size */

    enum state st, stack[MAX_STATES];
    int depth;
    enum key key;
    enum sect key_sect;
    uint64_t skip_depth;
    int fields_of_edges; /* T_FIELDS / T_TYPES / T_TYPENAMES: 0 nodes, 1 edges */
    uint64_t types_pos;  /* T_TYPES: elements seen */
    enum sect sect;      /* T_NUMS */
    uint8_t seen[S_COUNT];

    /* Header. */
    int have_meta, have_node_count, have_edge_count, have_tfc;
    uint32_t node_count, edge_count, tfc;
    uint64_t root_index;
    uint8_t node_col[MAX_FIELDS], edge_col[MAX_FIELDS];
    uint32_t nf, ef; /* field counts, 0 until meta gave them */
    int have_node_types, have_edge_types;
    int edge_is_index[MAX_TYPES]; /* element and hidden: name_or_index is no string */

    /* The current flat array. */
    uint64_t nums; /* numbers seen in it */
    uint32_t col;  /* column of the next number */
    uint64_t row;  /* record of the next number */
    uint64_t ncap; /* nodes allocated */
    uint64_t ecap; /* edges allocated */
    uint64_t scap; /* string offsets allocated */
    uint64_t acap; /* arena bytes allocated */
    uint64_t alen; /* arena bytes used */
    uint64_t xcap; /* samples / trace_function_infos / locations numbers allocated */
    uint64_t tcap; /* trace entries allocated */
    uint64_t sum_edges;

    struct tree_frame *tree;
    uint32_t tree_depth, tree_cap;
};

static uint64_t here(struct reader *r)
{
    return r->base + (r->h && !r->finishing ? yajl_get_bytes_consumed(r->h) : 0);
}

static void fail_at(struct reader *r, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_at(struct reader *r, uint64_t off, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = 1;
    r->err->offset = off;
    int n = snprintf(r->err->text, sizeof(r->err->text), "%s: byte %llu: ", r->name,
                     (unsigned long long)off);
    if (n < 0 || (size_t)n >= sizeof(r->err->text))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err->text + n, sizeof(r->err->text) - (size_t)n, fmt, ap);
    va_end(ap);
}

#define FAIL(r, ...) (fail_at((r), here(r), __VA_ARGS__), 0)

static int oom(struct reader *r)
{
    return FAIL(r, "out of memory");
}

/* Grows *p to hold n elements of size elem (realloc: big blocks move by mremap). */
static int grow(struct reader *r, void **p, uint64_t n, size_t elem)
{
    if (n > SIZE_MAX / elem)
        return oom(r);
    void *q = realloc(*p, n ? n * elem : 1);
    if (!q)
        return oom(r);
    *p = q;
    return 1;
}

/* The next capacity for need entries, never past max, starting from first. */
static uint64_t next_cap(uint64_t cap, uint64_t need, uint64_t max, uint64_t first)
{
    uint64_t c = cap ? cap * 2 : first;
    if (c < need)
        c = need;
    if (max && c > max)
        c = max;
    return c;
}

/* How many records of `fields` numbers the file's size could hold at most. */
static uint64_t plausible(struct reader *r, uint64_t count, uint32_t fields)
{
    uint64_t bound = r->file_size ? r->file_size / (2u * (fields ? fields : 1)) + 1 : 65536;
    return count < bound ? count : bound;
}

static const char *kind_name(int kind)
{
    static const char *const k[] = {
        "null",     "a boolean",           "a number", "a string", "an object",
        "an array", "the end of the array"};
    return k[kind];
}
enum { V_NULL, V_BOOL, V_NUM, V_STR, V_MAP, V_ARR, V_END };

static int push(struct reader *r, enum state next)
{
    if (r->depth == MAX_STATES)
        return FAIL(r, "nested too deep");
    r->stack[r->depth++] = r->st;
    r->st = next;
    return 1;
}

static void pop(struct reader *r)
{
    r->st = r->depth ? r->stack[--r->depth] : T_END;
}

/* ---- numbers --------------------------------------------------------------- */

/* An unsigned decimal integer, or an error naming where it was found. */
static int parse_u64(struct reader *r, const char *t, size_t n, const char *where, uint64_t *v)
{
    uint64_t x = 0;
    int ok = n > 0;
    for (size_t i = 0; i < n && ok; i++) {
        unsigned d = (unsigned char)t[i] - '0';
        if (d > 9)
            ok = 0;
        else if (x > (UINT64_MAX - d) / 10)
            return FAIL(r, "%.*s in %s does not fit in 64 bits", (int)(n < 40 ? n : 40), t, where);
        else
            x = x * 10 + d;
    }
    if (!ok)
        return FAIL(r, "expected an unsigned integer in %s, found %.*s", where,
                    (int)(n < 40 ? n : 40), t);
    *v = x;
    return 1;
}

static int fit32(struct reader *r, uint64_t v, const char *where)
{
    if (v > UINT32_MAX)
        return FAIL(r, "%llu in %s does not fit in 32 bits", (unsigned long long)v, where);
    return 1;
}

static int node_number(struct reader *r, uint64_t v)
{
    hs_snapfile *s = r->s;
    uint64_t i = r->row;
    if (i < r->node_count) {
        if (i == r->ncap) {
            uint64_t c = next_cap(r->ncap, i + 1, r->node_count, 4096);
            if (!grow(r, (void **)&s->node_type, c, 1) || !grow(r, (void **)&s->node_name, c, 4) ||
                !grow(r, (void **)&s->node_id, c, 4) || !grow(r, (void **)&s->node_self, c, 8) ||
                !grow(r, (void **)&s->first_edge, c + 1, 4))
                return 0;
            if (s->node_trace && !grow(r, (void **)&s->node_trace, c, 4))
                return 0;
            if (s->node_det && !grow(r, (void **)&s->node_det, c, 1))
                return 0;
            r->ncap = c;
        }
        switch (r->node_col[r->col]) {
        case C_TYPE:
            if (v >= s->node_type_count)
                return FAIL(r, "node %llu's type is %llu but there are %u node types",
                            (unsigned long long)i, (unsigned long long)v, s->node_type_count);
            s->node_type[i] = (uint8_t)v;
            break;
        case C_NAME:
            if (!fit32(r, v, "\"nodes\""))
                return 0;
            s->node_name[i] = (uint32_t)v;
            break;
        case C_ID:
            if (!fit32(r, v, "\"nodes\""))
                return 0;
            s->node_id[i] = (uint32_t)v;
            break;
        case C_SELF:
            s->node_self[i] = v;
            break;
        case C_EDGES:
            if (!fit32(r, v, "\"nodes\""))
                return 0;
            s->first_edge[i + 1] = (uint32_t)v;
            r->sum_edges += v;
            break;
        case C_TRACE:
            if (!fit32(r, v, "\"nodes\""))
                return 0;
            s->node_trace[i] = (uint32_t)v;
            break;
        case C_DET:
            if (v > 255)
                return FAIL(r, "node %llu's detachedness is %llu, more than 255",
                            (unsigned long long)i, (unsigned long long)v);
            s->node_det[i] = (uint8_t)v;
            break;
        }
    }
    if (++r->col == r->nf) {
        r->col = 0;
        r->row++;
    }
    return 1;
}

static int edge_number(struct reader *r, uint64_t v)
{
    hs_snapfile *s = r->s;
    uint64_t i = r->row;
    if (i < r->edge_count) {
        if (i == r->ecap) {
            uint64_t c = next_cap(r->ecap, i + 1, r->edge_count, 4096);
            if (!grow(r, (void **)&s->edge_type, c, 1) || !grow(r, (void **)&s->edge_name, c, 4) ||
                !grow(r, (void **)&s->edge_to, c, 4))
                return 0;
            r->ecap = c;
        }
        switch (r->edge_col[r->col]) {
        case C_TYPE:
            if (v >= s->edge_type_count)
                return FAIL(r, "edge %llu's type is %llu but there are %u edge types",
                            (unsigned long long)i, (unsigned long long)v, s->edge_type_count);
            s->edge_type[i] = (uint8_t)v;
            break;
        case C_NAME:
            if (!fit32(r, v, "\"edges\""))
                return 0;
            s->edge_name[i] = (uint32_t)v;
            break;
        case C_TO:
            if (v % r->nf)
                return FAIL(r, "edge %llu points to node offset %llu, not a multiple of %u",
                            (unsigned long long)i, (unsigned long long)v, r->nf);
            if (v / r->nf >= r->node_count)
                return FAIL(r,
                            "edge %llu points to node offset %llu, past the last node "
                            "(node_count %u × %u fields)",
                            (unsigned long long)i, (unsigned long long)v, r->node_count, r->nf);
            s->edge_to[i] = (uint32_t)(v / r->nf);
            break;
        }
    }
    if (++r->col == r->ef) {
        r->col = 0;
        r->row++;
    }
    return 1;
}

/* samples, trace_function_infos, locations: flat, kept as they come. */
static int flat_number(struct reader *r, uint64_t v)
{
    hs_snapfile *s = r->s;
    uint64_t i = r->nums - 1;
    if (i == r->xcap) {
        uint64_t c = next_cap(r->xcap, i + 1, 0, 1024);
        void **p = r->sect == S_SAMPLES ? (void **)&s->samples
                   : r->sect == S_TFI   ? (void **)&s->trace_functions
                                        : (void **)&s->locations;
        if (!grow(r, p, c, r->sect == S_SAMPLES ? 8 : 4))
            return 0;
        r->xcap = c;
    }
    const char *where = sect_quoted[r->sect];
    switch (r->sect) {
    case S_SAMPLES:
        s->samples[i] = v;
        break;
    case S_TFI:
        if (i / 6 >= UINT32_MAX)
            return FAIL(r, "too many trace functions");
        if (!fit32(r, v, where))
            return 0;
        s->trace_functions[i] = (uint32_t)v;
        break;
    default:
        if (!fit32(r, v, where))
            return 0;
        if (i % 4 == 0) {
            if (v % r->nf)
                return FAIL(r, "location %llu points to node offset %llu, not a multiple of %u",
                            (unsigned long long)(i / 4), (unsigned long long)v, r->nf);
            if (v / r->nf >= r->node_count)
                return FAIL(r,
                            "location %llu points to node offset %llu, past the last node "
                            "(node_count %u × %u fields)",
                            (unsigned long long)(i / 4), (unsigned long long)v, r->node_count,
                            r->nf);
            v /= r->nf;
        }
        s->locations[i] = (uint32_t)v;
        break;
    }
    return 1;
}

static int end_nums(struct reader *r)
{
    hs_snapfile *s = r->s;
    switch (r->sect) {
    case S_NODES: {
        uint64_t want = (uint64_t)r->node_count * r->nf;
        if (r->nums != want)
            return FAIL(r, "nodes has %llu numbers, node_count %u × %u fields = %llu",
                        (unsigned long long)r->nums, r->node_count, r->nf,
                        (unsigned long long)want);
        if (r->sum_edges != r->edge_count)
            return FAIL(r, "the nodes' edge_count fields add up to %llu, but edge_count is %u",
                        (unsigned long long)r->sum_edges, r->edge_count);
        if (!s->first_edge && !grow(r, (void **)&s->first_edge, 1, 4))
            return 0;
        s->first_edge[0] = 0;
        for (uint32_t i = 0; i < r->node_count; i++)
            s->first_edge[i + 1] += s->first_edge[i];
        s->node_count = r->node_count;
        break;
    }
    case S_EDGES: {
        uint64_t want = (uint64_t)r->edge_count * r->ef;
        if (r->nums != want)
            return FAIL(r, "edges has %llu numbers, edge_count %u × %u fields = %llu",
                        (unsigned long long)r->nums, r->edge_count, r->ef,
                        (unsigned long long)want);
        s->edge_count = r->edge_count;
        break;
    }
    case S_SAMPLES:
        if (r->nums % 2)
            return FAIL(r, "samples has %llu numbers, not pairs", (unsigned long long)r->nums);
        s->sample_count = r->nums / 2;
        break;
    case S_TFI:
        if (r->nums % 6 || (r->have_tfc && r->nums != (uint64_t)r->tfc * 6))
            return FAIL(r,
                        "trace_function_infos has %llu numbers, trace_function_count %u × 6 "
                        "fields = %llu",
                        (unsigned long long)r->nums, r->tfc, (unsigned long long)r->tfc * 6);
        s->trace_function_count = (uint32_t)(r->nums / 6);
        break;
    case S_LOCS:
        if (r->nums % 4)
            return FAIL(r, "locations has %llu numbers, not a multiple of 4",
                        (unsigned long long)r->nums);
        s->location_count = r->nums / 4;
        break;
    default:
        break;
    }
    return 1;
}

/* ---- trace_tree ------------------------------------------------------------- */

static int tree_number(struct reader *r, uint64_t v)
{
    hs_snapfile *s = r->s;
    struct tree_frame *f = &r->tree[r->tree_depth - 1];
    if (f->pos >= 4)
        return FAIL(r, "expected an array of children in \"trace_tree\", found a number");
    if (f->pos == 0) {
        uint32_t k = s->trace_node_total;
        if (k == UINT32_MAX)
            return FAIL(r, "too many trace nodes");
        if (k == r->tcap) {
            uint64_t c = next_cap(r->tcap, (uint64_t)k + 1, UINT32_MAX, 256);
            if (!grow(r, (void **)&s->trace_node_ids, c, 4) ||
                !grow(r, (void **)&s->trace_node_func, c, 4) ||
                !grow(r, (void **)&s->trace_node_parent, c, 4) ||
                !grow(r, (void **)&s->trace_node_count, c, 8) ||
                !grow(r, (void **)&s->trace_node_size, c, 8))
                return 0;
            r->tcap = c;
        }
        s->trace_node_total = k + 1;
        s->trace_node_parent[k] = f->parent;
        f->cur = k;
    }
    uint32_t k = f->cur;
    switch (f->pos) {
    case 0:
        if (!fit32(r, v, "\"trace_tree\""))
            return 0;
        s->trace_node_ids[k] = (uint32_t)v;
        break;
    case 1:
        if (!fit32(r, v, "\"trace_tree\""))
            return 0;
        s->trace_node_func[k] = (uint32_t)v;
        break;
    case 2:
        s->trace_node_count[k] = v;
        break;
    default:
        s->trace_node_size[k] = v;
        break;
    }
    f->pos++;
    return 1;
}

static int tree_open(struct reader *r)
{
    uint32_t parent = UINT32_MAX;
    if (r->tree_depth) {
        struct tree_frame *f = &r->tree[r->tree_depth - 1];
        if (f->pos != 4)
            return FAIL(r, "expected a number in \"trace_tree\", found an array");
        f->pos = 5;
        parent = f->cur;
    }
    if (r->tree_depth == MAX_TREE_DEPTH)
        return FAIL(r, "trace_tree is nested more than %u deep", MAX_TREE_DEPTH);
    if (r->tree_depth == r->tree_cap) {
        uint64_t c = next_cap(r->tree_cap, r->tree_depth + 1u, MAX_TREE_DEPTH, 64);
        if (!grow(r, (void **)&r->tree, c, sizeof(*r->tree)))
            return 0;
        r->tree_cap = (uint32_t)c;
    }
    r->tree[r->tree_depth++] = (struct tree_frame){parent, 0, 0};
    return 1;
}

static int tree_close(struct reader *r)
{
    struct tree_frame *f = &r->tree[r->tree_depth - 1];
    if (f->pos != 0)
        return FAIL(r, "expected %s in \"trace_tree\", found the end of the array",
                    f->pos == 4 ? "an array of children" : "a number");
    if (--r->tree_depth == 0)
        pop(r);
    else
        r->tree[r->tree_depth - 1].pos = 0;
    return 1;
}

/* ---- the events ----------------------------------------------------------- */

static int begin_section(struct reader *r, enum sect sc)
{
    if (r->seen[sc])
        return FAIL(r, "\"%s\" appears twice", sect_names[sc]);
    r->seen[sc] = 1;
    if ((sc == S_NODES || sc == S_EDGES || sc == S_LOCS) && !r->have_meta)
        return FAIL(r, "\"%s\" comes before the snapshot's meta", sect_names[sc]);
    if (sc == S_NODES || sc == S_LOCS) {
        if (!r->nf || !r->have_node_types)
            return FAIL(r, "\"%s\" but meta has no node_fields or node_types", sect_names[sc]);
        if (!r->have_node_count || (sc == S_NODES && !r->have_edge_count))
            return FAIL(r, "\"%s\" comes before the snapshot's node_count and edge_count",
                        sect_names[sc]);
    }
    if (sc == S_EDGES) {
        if (!r->ef || !r->have_edge_types || !r->nf)
            return FAIL(r, "\"edges\" but meta has no edge_fields, edge_types or node_fields");
        if (!r->have_edge_count || !r->have_node_count)
            return FAIL(r, "\"edges\" comes before the snapshot's node_count and edge_count");
    }
    r->nums = r->row = 0;
    r->col = 0;
    r->xcap = 0;
    r->sect = sc;
    hs_snapfile *s = r->s;
    if (sc == S_NODES) {
        uint64_t c = plausible(r, r->node_count, r->nf);
        if (!grow(r, (void **)&s->node_type, c, 1) || !grow(r, (void **)&s->node_name, c, 4) ||
            !grow(r, (void **)&s->node_id, c, 4) || !grow(r, (void **)&s->node_self, c, 8) ||
            !grow(r, (void **)&s->first_edge, c + 1, 4))
            return 0;
        for (uint32_t i = 0; i < r->nf; i++) {
            if (r->node_col[i] == C_TRACE && !grow(r, (void **)&s->node_trace, c, 4))
                return 0;
            if (r->node_col[i] == C_DET && !grow(r, (void **)&s->node_det, c, 1))
                return 0;
        }
        r->ncap = c;
    } else if (sc == S_EDGES) {
        uint64_t c = plausible(r, r->edge_count, r->ef);
        if (!grow(r, (void **)&s->edge_type, c, 1) || !grow(r, (void **)&s->edge_name, c, 4) ||
            !grow(r, (void **)&s->edge_to, c, 4))
            return 0;
        r->ecap = c;
    }
    return 1;
}

/* The value after a key in a map, or an element of an array: where it goes. */
static int value(struct reader *r, int kind)
{
    if (r->failed)
        return 0;
    switch (r->st) {
    case T_SKIP:
        if (kind == V_MAP || kind == V_ARR)
            r->skip_depth++;
        return 1;
    case T_START:
        if (kind != V_MAP)
            return FAIL(r, "expected an object at the top, found %s", kind_name(kind));
        r->st = T_TOP;
        return 1;
    case T_END:
        return FAIL(r, "unexpected %s after the end", kind_name(kind));
    case T_TOP:
        if (r->key == K_SNAPSHOT) {
            if (kind != V_MAP)
                return FAIL(r, "expected an object for \"snapshot\", found %s", kind_name(kind));
            return push(r, T_SNAP);
        }
        if (r->key == K_SECT) {
            if (kind != V_ARR)
                return FAIL(r, "expected an array for \"%s\", found %s", sect_names[r->key_sect],
                            kind_name(kind));
            if (!begin_section(r, r->key_sect))
                return 0;
            if (r->key_sect == S_STRINGS)
                return push(r, T_STRINGS);
            if (r->key_sect == S_TREE)
                return push(r, T_TREE) && tree_open(r);
            return push(r, T_NUMS);
        }
        break;
    case T_SNAP:
        if (r->key == K_META) {
            if (kind != V_MAP)
                return FAIL(r, "expected an object for \"meta\", found %s", kind_name(kind));
            if (r->have_meta)
                return FAIL(r, "\"meta\" appears twice");
            r->have_meta = 1;
            return push(r, T_META);
        }
        if (r->key >= K_NODE_COUNT && r->key <= K_ROOT && kind != V_NUM) {
            static const char *const names[] = {"node_count", "edge_count", "trace_function_count",
                                                "extra_native_bytes", "root_index"};
            return FAIL(r, "expected a number for \"%s\", found %s", names[r->key - K_NODE_COUNT],
                        kind_name(kind));
        }
        break;
    case T_META:
        if (r->key >= K_NODE_FIELDS && r->key <= K_EDGE_TYPES) {
            static const char *const names[] = {"node_fields", "edge_fields", "node_types",
                                                "edge_types"};
            if (kind != V_ARR)
                return FAIL(r, "expected an array for \"%s\", found %s",
                            names[r->key - K_NODE_FIELDS], kind_name(kind));
            r->fields_of_edges = r->key == K_EDGE_FIELDS || r->key == K_EDGE_TYPES;
            if (r->key <= K_EDGE_FIELDS) {
                if (r->fields_of_edges ? r->ef : r->nf)
                    return FAIL(r, "\"%s\" appears twice", names[r->key - K_NODE_FIELDS]);
                return push(r, T_FIELDS);
            }
            if (r->fields_of_edges ? r->have_edge_types : r->have_node_types)
                return FAIL(r, "\"%s\" appears twice", names[r->key - K_NODE_FIELDS]);
            r->types_pos = 0;
            return push(r, T_TYPES);
        }
        break;
    case T_FIELDS:
        return FAIL(r, "expected a string in meta.%s, found %s",
                    r->fields_of_edges ? "edge_fields" : "node_fields", kind_name(kind));
    case T_TYPES:
        if (r->types_pos++ == 0) {
            if (kind != V_ARR)
                return FAIL(r, "expected an array of type names first in meta.%s, found %s",
                            r->fields_of_edges ? "edge_types" : "node_types", kind_name(kind));
            return push(r, T_TYPENAMES);
        }
        break;
    case T_TYPENAMES:
        return FAIL(r, "expected a string in meta.%s[0], found %s",
                    r->fields_of_edges ? "edge_types" : "node_types", kind_name(kind));
    case T_NUMS:
    case T_TREE:
        if (r->st == T_TREE && kind == V_ARR)
            return tree_open(r);
        return FAIL(r, "expected a number in \"%s\", found %s", sect_names[r->sect],
                    kind_name(kind));
    case T_STRINGS:
        return FAIL(r, "expected a string in \"strings\", found %s", kind_name(kind));
    }
    /* A value nobody reads. */
    if (kind == V_MAP || kind == V_ARR) {
        r->skip_depth = 1;
        return push(r, T_SKIP);
    }
    return 1;
}

static int on_null(void *ctx)
{
    return value(ctx, V_NULL);
}

static int on_bool(void *ctx, int b)
{
    (void)b;
    return value(ctx, V_BOOL);
}

static int on_number(void *ctx, const char *t, size_t n)
{
    struct reader *r = ctx;
    uint64_t v;
    switch (r->st) {
    case T_NUMS:
        r->nums++;
        if (!parse_u64(r, t, n, sect_quoted[r->sect], &v))
            return 0;
        if (r->sect == S_NODES)
            return node_number(r, v);
        if (r->sect == S_EDGES)
            return edge_number(r, v);
        return flat_number(r, v);
    case T_TREE:
        return parse_u64(r, t, n, "\"trace_tree\"", &v) && tree_number(r, v);
    case T_SNAP:
        if (r->key < K_NODE_COUNT || r->key > K_ROOT)
            break;
        if (!parse_u64(r, t, n, "the snapshot's header", &v))
            return 0;
        if (r->key == K_EXTRA) {
            r->s->extra_native_bytes = v;
            return 1;
        }
        if (r->key == K_ROOT) {
            r->root_index = v;
            return 1;
        }
        if (!fit32(r, v, "the snapshot's header"))
            return 0;
        if (r->key == K_NODE_COUNT)
            r->node_count = (uint32_t)v, r->have_node_count = 1;
        else if (r->key == K_EDGE_COUNT)
            r->edge_count = (uint32_t)v, r->have_edge_count = 1;
        else
            r->tfc = (uint32_t)v, r->have_tfc = 1;
        return 1;
    default:
        break;
    }
    return value(ctx, V_NUM);
}

static char *dup_n(const unsigned char *t, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, t, n);
        p[n] = 0;
    }
    return p;
}

static int field_string(struct reader *r, const unsigned char *t, size_t n)
{
    static const struct {
        const char *name;
        uint8_t col, edge;
    } known[] = {
        {"type", C_TYPE, 0},        {"name", C_NAME, 0},        {"id", C_ID, 0},
        {"self_size", C_SELF, 0},   {"edge_count", C_EDGES, 0}, {"trace_node_id", C_TRACE, 0},
        {"detachedness", C_DET, 0}, {"type", C_TYPE, 1},        {"name_or_index", C_NAME, 1},
        {"to_node", C_TO, 1},
    };
    uint32_t *count = r->fields_of_edges ? &r->ef : &r->nf;
    uint8_t *cols = r->fields_of_edges ? r->edge_col : r->node_col;
    const char *which = r->fields_of_edges ? "edge_fields" : "node_fields";
    if (*count == MAX_FIELDS)
        return FAIL(r, "meta.%s has more than %d fields", which, MAX_FIELDS);
    uint8_t col = C_OTHER;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (known[i].edge == r->fields_of_edges && strlen(known[i].name) == n &&
            memcmp(known[i].name, t, n) == 0)
            col = known[i].col;
    for (uint32_t i = 0; col != C_OTHER && i < *count; i++)
        if (cols[i] == col)
            return FAIL(r, "meta.%s names \"%.*s\" twice", which, (int)n, (const char *)t);
    cols[(*count)++] = col;
    return 1;
}

static int end_fields(struct reader *r)
{
    uint32_t count = r->fields_of_edges ? r->ef : r->nf;
    const uint8_t *cols = r->fields_of_edges ? r->edge_col : r->node_col;
    static const char *const node_need[] = {"type", "name", "id", "self_size", "edge_count"};
    static const char *const edge_need[] = {"type", "name_or_index", "to_node"};
    static const uint8_t node_cols[] = {C_TYPE, C_NAME, C_ID, C_SELF, C_EDGES};
    static const uint8_t edge_cols[] = {C_TYPE, C_NAME, C_TO};
    size_t nneed = r->fields_of_edges ? 3 : 5;
    for (size_t k = 0; k < nneed; k++) {
        uint8_t c = r->fields_of_edges ? edge_cols[k] : node_cols[k];
        uint32_t i = 0;
        while (i < count && cols[i] != c)
            i++;
        if (i == count)
            return FAIL(r, "meta.%s has no \"%s\"",
                        r->fields_of_edges ? "edge_fields" : "node_fields",
                        r->fields_of_edges ? edge_need[k] : node_need[k]);
    }
    return 1;
}

static int type_name(struct reader *r, const unsigned char *t, size_t n)
{
    hs_snapfile *s = r->s;
    char ***names = r->fields_of_edges ? &s->edge_type_names : &s->node_type_names;
    uint32_t *count = r->fields_of_edges ? &s->edge_type_count : &s->node_type_count;
    if (*count == MAX_TYPES)
        return FAIL(r, "meta.%s[0] has more than %d types",
                    r->fields_of_edges ? "edge_types" : "node_types", MAX_TYPES);
    if (*count % 16 == 0 && !grow(r, (void **)names, *count + 16u, sizeof(char *)))
        return 0;
    char *p = dup_n(t, n);
    if (!p)
        return oom(r);
    (*names)[(*count)++] = p;
    if (r->fields_of_edges)
        r->edge_is_index[*count - 1] = strcmp(p, "element") == 0 || strcmp(p, "hidden") == 0;
    return 1;
}

static int add_string(struct reader *r, const unsigned char *t, size_t n)
{
    hs_snapfile *s = r->s;
    if (s->string_count == UINT32_MAX)
        return FAIL(r, "too many strings");
    if (s->string_count == r->scap) {
        uint64_t c = next_cap(r->scap, r->scap + 1, UINT32_MAX, 4096);
        if (!grow(r, (void **)&s->string_off, c, 8))
            return 0;
        r->scap = c;
    }
    if (r->alen + n + 1 > r->acap) {
        uint64_t c = next_cap(r->acap, r->alen + n + 1, 0, 65536);
        if (!grow(r, (void **)&s->arena, c, 1))
            return 0;
        r->acap = c;
    }
    memcpy(s->arena + r->alen, t, n);
    s->arena[r->alen + n] = 0;
    s->string_off[s->string_count++] = r->alen;
    r->alen += n + 1;
    return 1;
}

static int on_string(void *ctx, const unsigned char *t, size_t n)
{
    struct reader *r = ctx;
    switch (r->st) {
    case T_STRINGS:
        return add_string(r, t, n);
    case T_FIELDS:
        return field_string(r, t, n);
    case T_TYPENAMES:
        return type_name(r, t, n);
    default:
        return value(r, V_STR);
    }
}

static int on_start_map(void *ctx)
{
    return value(ctx, V_MAP);
}

static int on_key(void *ctx, const unsigned char *t, size_t n)
{
    struct reader *r = ctx;
    static const struct {
        enum state st;
        const char *name;
        enum key key;
    } keys[] = {
        {T_TOP, "snapshot", K_SNAPSHOT},         {T_SNAP, "meta", K_META},
        {T_SNAP, "node_count", K_NODE_COUNT},    {T_SNAP, "edge_count", K_EDGE_COUNT},
        {T_SNAP, "trace_function_count", K_TFC}, {T_SNAP, "extra_native_bytes", K_EXTRA},
        {T_SNAP, "root_index", K_ROOT},          {T_META, "node_fields", K_NODE_FIELDS},
        {T_META, "edge_fields", K_EDGE_FIELDS},  {T_META, "node_types", K_NODE_TYPES},
        {T_META, "edge_types", K_EDGE_TYPES},
    };
    r->key = K_OTHER;
    if (r->st == T_SKIP)
        return 1;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (keys[i].st == r->st && strlen(keys[i].name) == n && memcmp(keys[i].name, t, n) == 0)
            r->key = keys[i].key;
    if (r->st == T_TOP)
        for (int i = 0; i < S_COUNT; i++)
            if (strlen(sect_names[i]) == n && memcmp(sect_names[i], t, n) == 0)
                r->key = K_SECT, r->key_sect = (enum sect)i;
    return 1;
}

static int on_end_map(void *ctx)
{
    struct reader *r = ctx;
    if (r->st == T_SKIP) {
        if (--r->skip_depth == 0)
            pop(r);
        return 1;
    }
    pop(r);
    return 1;
}

static int on_start_array(void *ctx)
{
    return value(ctx, V_ARR);
}

static int on_end_array(void *ctx)
{
    struct reader *r = ctx;
    switch (r->st) {
    case T_SKIP:
        if (--r->skip_depth == 0)
            pop(r);
        return 1;
    case T_TREE:
        return tree_close(r);
    case T_NUMS:
        if (!end_nums(r))
            return 0;
        break;
    case T_FIELDS:
        if (!end_fields(r))
            return 0;
        break;
    case T_TYPES:
        if (r->types_pos == 0)
            return FAIL(r, "expected an array of type names first in meta.%s, found %s",
                        r->fields_of_edges ? "edge_types" : "node_types", kind_name(V_END));
        if (r->fields_of_edges)
            r->have_edge_types = 1;
        else
            r->have_node_types = 1;
        break;
    default:
        break;
    }
    pop(r);
    return 1;
}

static const yajl_callbacks callbacks = {
    on_null,      on_bool, NULL,       NULL,           on_number,    on_string,
    on_start_map, on_key,  on_end_map, on_start_array, on_end_array,
};

/* ---- after the parse: what only the whole file can tell ------------------- */

static int check_strings(struct reader *r)
{
    hs_snapfile *s = r->s;
    uint32_t n = s->string_count;
    uint64_t off = r->base;
    for (uint32_t i = 0; i < s->node_count; i++)
        if (s->node_name[i] >= n) {
            fail_at(r, off, "node %u's name is string %u but there are %u strings", i,
                    s->node_name[i], n);
            return 0;
        }
    for (uint32_t i = 0; i < s->edge_count; i++)
        if (!r->edge_is_index[s->edge_type[i]] && s->edge_name[i] >= n) {
            fail_at(r, off, "edge %u's name is string %u but there are %u strings", i,
                    s->edge_name[i], n);
            return 0;
        }
    for (uint32_t i = 0; i < s->trace_function_count; i++)
        for (int k = 1; k <= 2; k++)
            if (s->trace_functions[i * 6 + k] >= n) {
                fail_at(r, off, "trace function %u's %s is string %u but there are %u strings", i,
                        k == 1 ? "name" : "script_name", s->trace_functions[i * 6 + k], n);
                return 0;
            }
    for (uint32_t i = 0; i < s->trace_node_total; i++)
        if (s->trace_node_func[i] >= s->trace_function_count) {
            fail_at(r, off, "trace node %u's function is %u but there are %u trace functions", i,
                    s->trace_node_func[i], s->trace_function_count);
            return 0;
        }
    return 1;
}

static int finish(struct reader *r)
{
    uint64_t off = here(r);
    if (!r->have_meta) {
        fail_at(r, off, "no \"snapshot\" with a \"meta\"");
        return 0;
    }
    for (int sc = 0; sc < S_COUNT; sc++)
        if ((sc == S_NODES || sc == S_EDGES || sc == S_STRINGS) && !r->seen[sc]) {
            fail_at(r, off, "no \"%s\" array", sect_names[sc]);
            return 0;
        }
    if (r->root_index % r->nf || r->root_index / r->nf >= r->node_count) {
        fail_at(r, off, "root_index %llu is not the offset of a node (node_count %u × %u fields)",
                (unsigned long long)r->root_index, r->node_count, r->nf);
        return 0;
    }
    r->s->root_node = (uint32_t)(r->root_index / r->nf);
    return check_strings(r);
}

/* ---- the entry points ------------------------------------------------------ */

static int begin(struct reader *r, const char *name, hs_snapfile *out, hs_read_error *err,
                 uint64_t size)
{
    memset(r, 0, sizeof(*r));
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    r->name = name;
    r->s = out;
    r->err = err;
    r->file_size = size;
    r->h = yajl_alloc(&callbacks, NULL, r);
    if (!r->h) {
        fail_at(r, 0, "out of memory");
        return -1;
    }
    yajl_config(r->h, yajl_dont_validate_strings, 1);
    return 0;
}

/* Feeds one chunk; 0 or -1. */
static int feed(struct reader *r, const char *p, size_t n)
{
    yajl_status st = yajl_parse(r->h, (const unsigned char *)p, n);
    if (st == yajl_status_ok) {
        r->base += n;
        return 0;
    }
    if (st == yajl_status_error && !r->failed) {
        unsigned char *msg = yajl_get_error(r->h, 0, NULL, 0);
        size_t len = msg ? strcspn((const char *)msg, "\n") : 0;
        fail_at(r, here(r), "invalid JSON (%.*s)", (int)len, msg ? (const char *)msg : "");
        if (msg)
            yajl_free_error(r->h, msg);
    }
    return -1;
}

static int end(struct reader *r, int rc)
{
    if (rc == 0) {
        r->finishing = 1;
        yajl_status st = yajl_complete_parse(r->h);
        if (st != yajl_status_ok || r->st != T_END) {
            if (!r->failed)
                fail_at(r, r->base, r->base ? "unexpected end of file (truncated?)" : "empty file");
            rc = -1;
        } else if (!finish(r)) {
            rc = -1;
        }
    }
    yajl_free(r->h);
    r->h = NULL;
    free(r->tree);
    if (rc < 0)
        hs_snapfile_free(r->s);
    return rc;
}

int hs_snapfile_read_mem(const char *name, const char *data, size_t len, hs_snapfile *out,
                         hs_read_error *err)
{
    struct reader r;
    if (begin(&r, name, out, err, len) < 0)
        return -1;
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += CHUNK)
        rc = feed(&r, data + off, len - off < CHUNK ? len - off : CHUNK);
    return end(&r, rc);
}

int hs_snapfile_read(const char *path, hs_snapfile *out, hs_read_error *err)
{
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    char *buf = NULL;
    if (fd < 0 || fstat(fd, &sb) < 0 || !(buf = malloc(CHUNK))) {
        snprintf(err->text, sizeof(err->text), "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct reader r;
    if (begin(&r, path, out, err, S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0) < 0) {
        free(buf);
        close(fd);
        return -1;
    }
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fail_at(&r, r.base, "cannot read: %s", strerror(errno));
            rc = -1;
        }
        if (n <= 0 || (rc = feed(&r, buf, (size_t)n)) < 0)
            break;
    }
    free(buf);
    close(fd);
    return end(&r, rc);
}

void hs_snapfile_free(hs_snapfile *s)
{
    free(s->node_type);
    free(s->node_name);
    free(s->node_id);
    free(s->node_self);
    free(s->node_trace);
    free(s->node_det);
    free(s->first_edge);
    free(s->edge_type);
    free(s->edge_name);
    free(s->edge_to);
    free(s->string_off);
    free(s->arena);
    for (uint32_t i = 0; i < s->node_type_count; i++)
        free(s->node_type_names[i]);
    for (uint32_t i = 0; i < s->edge_type_count; i++)
        free(s->edge_type_names[i]);
    free(s->node_type_names);
    free(s->edge_type_names);
    free(s->samples);
    free(s->trace_functions);
    free(s->trace_node_ids);
    free(s->trace_node_func);
    free(s->trace_node_parent);
    free(s->trace_node_count);
    free(s->trace_node_size);
    free(s->locations);
    memset(s, 0, sizeof(*s));
}

static int find_name(char **names, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

int hs_snapfile_node_type(const hs_snapfile *s, const char *name)
{
    return find_name(s->node_type_names, s->node_type_count, name);
}

int hs_snapfile_edge_type(const hs_snapfile *s, const char *name)
{
    return find_name(s->edge_type_names, s->edge_type_count, name);
}
