/*
 * hs-bench-bigsnap-gen: writes a large, valid V8-format .heapsnapshot quickly,
 * for bench/report.py (issue 8: `heapscope report` on a 2 GB snapshot, beside
 * memlab).
 *
 *   hs-bench-bigsnap-gen [--nodes N] [--seed S] [--segment L] -o FILE
 *
 * Nothing of the graph is kept in memory: every node's edges are a pure
 * function of (seed, node index), so the file is written in three streaming
 * passes (count the edges for the header, write the nodes with their edge
 * counts, write the edges), through one stdio buffer with hand-rolled integer
 * formatting. Deterministic for a given --nodes and --seed.
 *
 * The graph, heap-like:
 *   node 0       the root (synthetic), an element edge to (GC roots);
 *   node 1       (GC roots), element edges to 4 synthetic groups;
 *   nodes 2..5   the groups ("(heapscope: globals)", ...); group g holds the
 *                head of every reachable segment k with k % 4 == g;
 *   the rest     `native` and `object` nodes in segments of --segment (4096)
 *                consecutive nodes, each segment one shape, chosen by a hash
 *                of its number: a list chain (40 %, "next"), a binary tree
 *                (30 %, "left"/"right"), a fan-out array (20 %: an `array`
 *                head with an element edge to each of the others), or an
 *                unreachable cycle (10 %: a ring nothing outside points to;
 *                never segment 0). Every body node also has 0..5 extra edges
 *                (2.5 on average): 70 % to a node of its own segment
 *                (property or internal), 20 % a property "owner" edge to any
 *                reachable node, 10 % weak edges to any reachable node. About
 *                3.5 edges per node in all.
 *   names        a segment's nodes are named from a table of 3072 site-like
 *                names ("make_<noun> <file>.c:<line>" and "<Noun><Kind>"),
 *                three consecutive names per segment.
 *   ids          2 * index + 1: odd and increasing.
 *
 * Prints one JSON line on stdout: nodes, edges, reachable and unreachable
 * body nodes, bytes written. 28 M nodes (the default) make about 2.0 GB (73 bytes a node).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NGROUPS 4
#define BODY (2 + NGROUPS)
#define NF 7 /* node fields */
#define MAXEXTRA 5

enum { K_LIST, K_TREE, K_FAN, K_CYCLE };
enum { T_ARRAY = 1, T_OBJECT = 3, T_NATIVE = 8, T_SYNTHETIC = 9 };
enum { E_ELEMENT = 1, E_PROPERTY = 2, E_INTERNAL = 3, E_WEAK = 6 };

static uint64_t g_seed = 42;
static uint64_t g_n;   /* nodes */
static uint64_t g_seg; /* segment length */
static uint64_t g_nseg;

/* ---- strings: fixed ones, then edge names, then the site names ---- */
static const char *const fixed_strings[] = {
    "",
    "(GC roots)",
    "(heapscope: globals)",
    "(heapscope: thread stacks)",
    "(heapscope: registers)",
    "(heapscope: thread-local)",
    "Array",
};
enum { S_EMPTY, S_GCROOTS, S_GROUP0, S_ARRAY = S_GROUP0 + NGROUPS };
static const char *const edge_names[] = {"next", "left",  "right", "owner", "data", "parent",
                                         "buf",  "items", "link",  "ctx",   "map",  "table",
                                         "key",  "value", "prev",  "head"};
#define NEDGE_NAMES (sizeof edge_names / sizeof *edge_names)
#define S_EDGE0 (S_ARRAY + 1)
#define S_SITE0 (S_EDGE0 + NEDGE_NAMES)
enum { EN_NEXT, EN_LEFT, EN_RIGHT, EN_OWNER };
static const char *const nouns[] = {"node",   "buffer", "entry",  "request", "session", "token",
                                    "record", "page",   "string", "vector",  "table",   "frame",
                                    "item",   "header", "chunk",  "block"};
static const char *const files[] = {"parser", "server", "cache", "alloc", "index", "json",
                                    "http",   "db",     "util",  "pool",  "queue", "store"};
static const char *const kinds[] = {"Impl", "State", "Map", "List", "Ref", "Box", "Node", "Set"};
#define NSITES 3072

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
static uint64_t h2(uint64_t a, uint64_t b)
{
    return mix(mix(a ^ g_seed) + b);
}

static int seg_kind(uint64_t k)
{
    if (k == 0)
        return K_LIST;
    uint64_t r = h2(k, 0x5e6) % 10;
    return r < 4 ? K_LIST : r < 7 ? K_TREE : r < 9 ? K_FAN : K_CYCLE;
}
static uint64_t seg_base(uint64_t k)
{
    return BODY + k * g_seg;
}
static uint64_t seg_len(uint64_t k)
{
    uint64_t b = seg_base(k), e = b + g_seg;
    return (e > g_n ? g_n : e) - b;
}

struct edge {
    uint8_t type;
    uint32_t name; /* string index, or element index */
    uint64_t to;   /* node index */
};

/* A reachable node for an edge from anywhere: one not in an unreachable segment
 * (except the source's own). */
static uint64_t any_reachable(uint64_t x, uint64_t from_seg)
{
    uint64_t t = BODY + x % (g_n - BODY);
    uint64_t k = (t - BODY) / g_seg;
    if (k != from_seg && seg_kind(k) == K_CYCLE)
        t = BODY + (t - BODY) % seg_len(0);
    return t;
}

/* Node v's edges into out (if not NULL); returns how many. Group nodes' edges
 * are written separately (there are many), see group_edges. */
static uint64_t body_edges(uint64_t v, struct edge *out)
{
    uint64_t k = (v - BODY) / g_seg, b = seg_base(k), L = seg_len(k), i = v - b, n = 0;
    int kind = seg_kind(k);
#define PUT(T, NAME, TO)                                                                           \
    do {                                                                                           \
        if (out)                                                                                   \
            out[n] = (struct edge){(T), (uint32_t)(NAME), (TO)};                                   \
        n++;                                                                                       \
    } while (0)
    switch (kind) {
    case K_LIST:
        if (i + 1 < L)
            PUT(E_PROPERTY, S_EDGE0 + EN_NEXT, v + 1);
        break;
    case K_CYCLE:
        PUT(E_PROPERTY, S_EDGE0 + EN_NEXT, b + (i + 1) % L);
        break;
    case K_TREE:
        if (2 * i + 1 < L)
            PUT(E_PROPERTY, S_EDGE0 + EN_LEFT, b + 2 * i + 1);
        if (2 * i + 2 < L)
            PUT(E_PROPERTY, S_EDGE0 + EN_RIGHT, b + 2 * i + 2);
        break;
    case K_FAN:
        if (i == 0) {
            if (!out)
                return L - 1; /* the array head: elements only */
            for (uint64_t j = 1; j < L; j++)
                PUT(E_ELEMENT, j - 1, b + j);
            return n;
        }
        break;
    }
    uint64_t hv = h2(v, 0xed6e);
    unsigned extra = (unsigned)(hv % (MAXEXTRA + 1));
    for (unsigned j = 0; j < extra; j++) {
        uint64_t x = h2(v, j + 1), r = x % 10;
        if (r < 7)
            PUT((x >> 8 & 3) == 0 ? E_INTERNAL : E_PROPERTY,
                S_EDGE0 + 4 + (x >> 12) % (NEDGE_NAMES - 4), b + (x >> 20) % L);
        else if (r < 9)
            PUT(E_PROPERTY, S_EDGE0 + EN_OWNER, any_reachable(x >> 16, k));
        else
            PUT(E_WEAK, S_EDGE0 + 4 + (x >> 12) % (NEDGE_NAMES - 4), any_reachable(x >> 16, k));
    }
    return n;
#undef PUT
}

static uint64_t group_edge_count(unsigned g)
{
    uint64_t n = 0;
    for (uint64_t k = g; k < g_nseg; k += NGROUPS)
        n += seg_kind(k) != K_CYCLE;
    return n;
}

/* ---- output: one big buffer, integers formatted by hand ---- */
static FILE *g_out;
static char g_buf[1 << 20];
static size_t g_len;
static uint64_t g_bytes;

static void flush_buf(void)
{
    if (g_len && fwrite(g_buf, 1, g_len, g_out) != g_len) {
        perror("bigsnap-gen: write");
        exit(1);
    }
    g_bytes += g_len;
    g_len = 0;
}
static void put_str(const char *s)
{
    size_t n = strlen(s);
    if (g_len + n > sizeof g_buf)
        flush_buf();
    memcpy(g_buf + g_len, s, n);
    g_len += n;
}
/* "<u>," */
static inline void put_u(uint64_t u)
{
    char t[24];
    int n = 0;
    do
        t[n++] = (char)('0' + u % 10);
    while ((u /= 10));
    if (g_len + 32 > sizeof g_buf)
        flush_buf();
    while (n)
        g_buf[g_len++] = t[--n];
    g_buf[g_len++] = ',';
}
/* Drops the trailing comma of a list's last record (",\n": put_u leaves room
 * for the newline, so both are still in the buffer). */
static void end_list(void)
{
    if (g_len >= 2 && g_buf[g_len - 2] == ',' && g_buf[g_len - 1] == '\n')
        g_buf[g_len - 2] = ' ';
}
static void newline(void)
{
    if (g_len + 1 > sizeof g_buf)
        flush_buf();
    g_buf[g_len++] = '\n';
}

static void write_node(unsigned type, uint64_t name, uint64_t v, uint64_t self, uint64_t ec)
{
    put_u(type);
    put_u(name);
    put_u(2 * v + 1);
    put_u(self);
    put_u(ec);
    put_u(0);
    put_u(0);
    newline();
}
static void write_edge(unsigned type, uint64_t name, uint64_t to)
{
    put_u(type);
    put_u(name);
    put_u(to * NF);
    newline();
}

static uint64_t site_of(uint64_t v)
{
    uint64_t k = (v - BODY) / g_seg;
    return (h2(k, 0x517e) + (v - seg_base(k)) % 3) % NSITES;
}

static int usage(void)
{
    fprintf(stderr, "usage: hs-bench-bigsnap-gen [--nodes N] [--seed S] [--segment L] -o FILE\n"
                    "  N: nodes (default 28000000, about 2 GB; at least 64)\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    g_n = 28000000;
    g_seg = 4096;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--nodes") && i + 1 < argc)
            g_n = (uint64_t)strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            g_seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--segment") && i + 1 < argc)
            g_seg = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            path = argv[++i];
        else
            return usage();
    }
    if (!path || g_n < 64 || g_seg < 4)
        return usage();
    /* to_node offsets (index * 7) must fit in 32 bits for every reader */
    if (g_n * NF > UINT32_MAX) {
        fprintf(stderr, "bigsnap-gen: at most %u nodes\n", (unsigned)(UINT32_MAX / NF));
        return 2;
    }
    if (g_seg > (g_n - BODY) / 2)
        g_seg = (g_n - BODY) / 2;
    g_nseg = (g_n - BODY + g_seg - 1) / g_seg;

    /* pass 0: counts */
    uint64_t m = 1 + NGROUPS, unreachable = 0;
    uint64_t gec[NGROUPS];
    for (unsigned g = 0; g < NGROUPS; g++)
        m += gec[g] = group_edge_count(g);
    for (uint64_t k = 0; k < g_nseg; k++)
        if (seg_kind(k) == K_CYCLE)
            unreachable += seg_len(k);
    for (uint64_t v = BODY; v < g_n; v++)
        m += body_edges(v, NULL);

    g_out = strcmp(path, "-") ? fopen(path, "w") : stdout;
    if (!g_out) {
        fprintf(stderr, "bigsnap-gen: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char head[2048];
    snprintf(head, sizeof head,
             "{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"id\",\"self_size\","
             "\"edge_count\",\"trace_node_id\",\"detachedness\"],\"node_types\":[[\"hidden\","
             "\"array\",\"string\",\"object\",\"code\",\"closure\",\"regexp\",\"number\","
             "\"native\",\"synthetic\",\"concatenated string\",\"sliced string\",\"symbol\","
             "\"bigint\",\"object shape\"],\"string\",\"number\",\"number\",\"number\",\"number\","
             "\"number\"],\"edge_fields\":[\"type\",\"name_or_index\",\"to_node\"],"
             "\"edge_types\":[[\"context\",\"element\",\"property\",\"internal\",\"hidden\","
             "\"shortcut\",\"weak\"],\"string_or_number\",\"node\"],"
             "\"trace_function_info_fields\":[\"function_id\",\"name\",\"script_name\","
             "\"script_id\",\"line\",\"column\"],\"trace_node_fields\":[\"id\","
             "\"function_info_index\",\"count\",\"size\",\"children\"],\"sample_fields\":["
             "\"timestamp_us\",\"last_assigned_id\"],\"location_fields\":[\"object_index\","
             "\"script_id\",\"line\",\"column\"]},\"node_count\":%" PRIu64
             ",\"edge_count\":%" PRIu64 ",\"trace_function_count\":0},\n\"nodes\":[",
             g_n, m);
    put_str(head);

    /* pass 1: nodes */
    write_node(T_SYNTHETIC, S_EMPTY, 0, 0, 1);
    write_node(T_SYNTHETIC, S_GCROOTS, 1, 0, NGROUPS);
    for (unsigned g = 0; g < NGROUPS; g++)
        write_node(T_SYNTHETIC, S_GROUP0 + g, 2 + g, 0, gec[g]);
    uint64_t total_self = 0;
    for (uint64_t v = BODY; v < g_n; v++) {
        uint64_t k = (v - BODY) / g_seg, hv = h2(v, 0x5e1f);
        uint64_t site = site_of(v);
        int fan_head = seg_kind(k) == K_FAN && v == seg_base(k);
        unsigned type = fan_head ? T_ARRAY : (site & 3) == 0 ? T_OBJECT : T_NATIVE;
        uint64_t self = fan_head ? 16 + 8 * (seg_len(k) - 1) : 16 + 8 * (hv % 32);
        total_self += self;
        write_node(type, fan_head ? S_ARRAY : S_SITE0 + site, v, self, body_edges(v, NULL));
    }
    end_list();
    put_str("],\n\"edges\":[");

    /* pass 2: edges, in node order */
    write_edge(E_ELEMENT, 1, 1);
    for (unsigned g = 0; g < NGROUPS; g++)
        write_edge(E_ELEMENT, g + 1, 2 + g);
    for (unsigned g = 0; g < NGROUPS; g++) {
        uint64_t j = 0;
        for (uint64_t k = g; k < g_nseg; k += NGROUPS)
            if (seg_kind(k) != K_CYCLE)
                write_edge(E_ELEMENT, j++, seg_base(k));
    }
    static struct edge es[1 << 13];
    if (g_seg > sizeof es / sizeof *es - MAXEXTRA) {
        fprintf(stderr, "bigsnap-gen: --segment at most %zu\n", sizeof es / sizeof *es - MAXEXTRA);
        return 2;
    }
    for (uint64_t v = BODY; v < g_n; v++) {
        uint64_t n = body_edges(v, es);
        for (uint64_t j = 0; j < n; j++)
            write_edge(es[j].type, es[j].name, es[j].to);
    }
    end_list();
    put_str("],\n\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[],\n"
            "\"locations\":[],\n\"strings\":[");

    /* strings */
    char s[128];
    for (size_t i = 0; i < sizeof fixed_strings / sizeof *fixed_strings; i++) {
        snprintf(s, sizeof s, "\"%s\",\n", fixed_strings[i]);
        put_str(s);
    }
    for (size_t i = 0; i < NEDGE_NAMES; i++) {
        snprintf(s, sizeof s, "\"%s\",\n", edge_names[i]);
        put_str(s);
    }
    for (unsigned i = 0; i < NSITES; i++) {
        const char *noun = nouns[i % 16];
        if (i % 2 == 0)
            snprintf(s, sizeof s, "\"make_%s_%u %s.c:%u\"%s", noun, i / 32 % 48, files[i / 16 % 12],
                     10 + i * 7 % 990, i + 1 < NSITES ? ",\n" : "");
        else
            snprintf(s, sizeof s, "\"%c%s%s%u\"%s", noun[0] - 32, noun + 1, kinds[i / 16 % 8],
                     i / 128, i + 1 < NSITES ? ",\n" : "");
        put_str(s);
    }
    put_str("]}\n");
    flush_buf();
    if (g_out != stdout && fclose(g_out) != 0) {
        perror("bigsnap-gen: close");
        return 1;
    }
    printf("{\"nodes\":%" PRIu64 ",\"edges\":%" PRIu64 ",\"body_nodes\":%" PRIu64
           ",\"unreachable_nodes\":%" PRIu64 ",\"segments\":%" PRIu64 ",\"segment\":%" PRIu64
           ",\"total_self_size\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"seed\":%" PRIu64 "}\n",
           g_n, m, g_n - BODY, unreachable, g_nseg, g_seg, total_self, g_bytes, g_seed);
    return 0;
}
