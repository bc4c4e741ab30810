/*
 * cli_report.c — `heapscope report FILE`: what a heap snapshot holds, from a
 * terminal (issue 8; docs/design/analysis.md). The file is read by
 * src/formats (streaming, compact arrays) and analysed with DevTools' rules
 * (analysis.c), so that the figures are DevTools' own:
 *
 *   - totals: nodes, edges, total size, live blocks, leaked blocks;
 *   - the classes (allocation sites in heapscope's files, constructors in
 *     V8's) by retained size, with their count, shallow size and distance;
 *   - the biggest retainers and the path from the root that holds each;
 *   - leaks: blocks no root reaches (heapscope's "(leaked: …)" group, and
 *     anything DevTools could not reach), grouped by site, with their
 *     allocation stacks when the file has them.
 *
 * --top N (default 10), --filter TEXT (classes whose name contains it),
 * --format json (one object on stdout, for scripts). A .heapprofile is
 * reported by cli_profile.c (functions by self and total, --tree).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "cli.h"
#include "cli_profile.h"
#include "snapfile.h"

#define LEAKED_GROUP "(leaked: unreachable from any root)"
#define PATH_MAX_STEPS 64

struct opts {
    const char *file;
    int top;
    const char *filter;
    int json;
    int tree; /* profiles: the call tree too */
};

/* A class row: DevTools' Summary aggregates (nodes with no self size are
 * left out, as DevTools leaves them out). */
struct cls {
    uint32_t index;
    uint64_t count, shallow, retained;
    int32_t distance;
};

struct leak {
    uint32_t cls;
    uint64_t count, bytes;
    uint32_t trace; /* a trace node of one of its blocks (0 = none) */
};

static int cmp_cls(const void *a, const void *b)
{
    const struct cls *x = a, *y = b;
    if (x->retained != y->retained)
        return x->retained < y->retained ? 1 : -1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int cmp_leak(const void *a, const void *b)
{
    const struct leak *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return x->cls < y->cls ? -1 : x->cls > y->cls;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: heapscope report FILE [--top N] [--filter TEXT] [--format text|json]\n");
    return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.top = 10};
    struct hs_cli_table_opts t = {.top = 10};
    for (int i = 0; i < argc; i++) {
        int r = hs_cli_table_opt(argc, argv, &i, &t);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if (!strcmp(argv[i], "--tree"))
            o->tree = 1;
        else if ((argv[i][0] == '-' && argv[i][1]) || o->file)
            return -1;
        else
            o->file = argv[i];
    }
    o->top = t.top;
    o->filter = t.filter;
    o->json = t.json;
    return o->file ? 0 : -1;
}

/* ---- the pieces ------------------------------------------------------------- */

/* DevTools' Summary: per class, count, shallow, min distance, and maxRet:
 * the retained sizes of members that no member of the same class dominates.
 * A depth-first walk of the dominator tree marks a class as "on the path"
 * below each counted member (as DevTools' calculateClassesRetainedSize does),
 * so that each node is visited once whatever the tree's depth. */
static struct cls *classes(const hs_snapfile *s, const hs_analysis *a, uint32_t *n)
{
    uint32_t nn = s->node_count, nc = a->class_count;
    struct cls *c = calloc(nc ? nc : 1, sizeof(*c));
    uint32_t *first = calloc((size_t)nn + 1, sizeof(*first));
    uint32_t *kids = malloc((nn ? nn : 1) * sizeof(*kids));
    uint32_t *stack = malloc((nn ? nn : 1) * sizeof(*stack));
    uint32_t *marks = malloc((nn ? nn : 1) * sizeof(*marks)); /* stack depth at a mark */
    uint32_t *mark_cls = malloc((nn ? nn : 1) * sizeof(*mark_cls));
    uint8_t *seen = calloc(nc ? nc : 1, 1);
    if (!c || !first || !kids || !stack || !marks || !mark_cls || !seen) {
        free(c);
        c = NULL;
        goto out;
    }
    for (uint32_t i = 0; i < nc; i++) {
        c[i].index = i;
        c[i].distance = INT32_MAX;
    }
    for (uint32_t v = 1; v < nn; v++) {
        if (a->self[v]) {
            struct cls *k = &c[a->class_index[v]];
            k->count++;
            k->shallow += a->self[v];
            if (a->distance[v] >= 0 && a->distance[v] < k->distance)
                k->distance = a->distance[v];
        }
        first[a->dominator[v]]++;
    }
    /* Children of each node in the dominator tree: counting sort. */
    for (uint32_t v = 0, sum = 0; v <= nn; v++) {
        uint32_t cnt = v < nn ? first[v] : 0;
        first[v] = sum;
        sum += cnt;
    }
    for (uint32_t v = 1; v < nn; v++)
        kids[first[a->dominator[v]]++] = v; /* then first[d] is d's end: shifted below */
    for (uint32_t v = nn; v > 0; v--)
        first[v] = first[v - 1];
    first[0] = 0;
    size_t sp = 0, nmarks = 0;
    if (nn)
        stack[sp++] = 0;
    while (sp) {
        uint32_t v = stack[--sp];
        uint32_t k = a->class_index[v];
        uint32_t from = first[v], to = first[v + 1];
        if (v != 0 && !seen[k] && a->self[v]) {
            c[k].retained += a->retained[v];
            if (from != to) {
                seen[k] = 1;
                marks[nmarks] = (uint32_t)sp;
                mark_cls[nmarks++] = k;
            }
        }
        for (uint32_t i = from; i < to; i++)
            stack[sp++] = kids[i];
        /* Once the stack is back to where a mark was set, its subtree is done. */
        while (nmarks && marks[nmarks - 1] == sp) {
            nmarks--;
            seen[mark_cls[nmarks]] = 0;
        }
    }
    *n = nc;
out:
    free(first);
    free(kids);
    free(stack);
    free(marks);
    free(mark_cls);
    free(seen);
    return c;
}

/* A path from the root to each node: the BFS tree over non-weak edges
 * (parent node and the edge taken; UINT32_MAX = not reached). */
static int bfs_parents(const hs_snapfile *s, uint32_t **parent, uint32_t **via)
{
    uint32_t n = s->node_count;
    uint32_t *p = malloc((size_t)n * sizeof(*p)), *e = malloc((size_t)n * sizeof(*e));
    uint32_t *q = malloc((size_t)n * sizeof(*q));
    if (!p || !e || !q) {
        free(p);
        free(e);
        free(q);
        return -1;
    }
    memset(p, 0xff, (size_t)n * sizeof(*p));
    int weak = hs_snapfile_edge_type(s, "weak");
    size_t head = 0, tail = 0;
    if (n) {
        p[0] = 0;
        q[tail++] = 0;
    }
    while (head < tail) {
        uint32_t v = q[head++];
        for (uint32_t k = s->first_edge[v]; k < s->first_edge[v + 1]; k++) {
            uint32_t t = s->edge_to[k];
            if ((int)s->edge_type[k] == weak || p[t] != UINT32_MAX)
                continue;
            p[t] = v;
            e[t] = k;
            q[tail++] = t;
        }
    }
    free(q);
    *parent = p;
    *via = e;
    return 0;
}

static void edge_label(const hs_snapfile *s, uint32_t k, char *buf, size_t size)
{
    const char *type =
        s->edge_type[k] < s->edge_type_count ? s->edge_type_names[s->edge_type[k]] : "";
    if (!strcmp(type, "element") || !strcmp(type, "hidden"))
        snprintf(buf, size, "[%u]", s->edge_name[k]);
    else
        snprintf(buf, size, "%s", hs_snapfile_str(s, s->edge_name[k]));
}

static const char *node_name(const hs_snapfile *s, uint32_t v)
{
    return hs_snapfile_str(s, s->node_name[v]);
}

/* syn: the file's index of the "synthetic" node type (-1: none). */
static int is_synthetic(const hs_snapfile *s, int syn, uint32_t v)
{
    return v == 0 || (int)s->node_type[v] == syn;
}

/* The allocation stack of a trace node, innermost first, as "f ← g ← h". */
static void stack_text(const hs_snapfile *s, uint32_t trace_id, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!trace_id || !s->trace_node_total)
        return;
    uint32_t at = UINT32_MAX;
    for (uint32_t i = 0; i < s->trace_node_total; i++)
        if (s->trace_node_ids[i] == trace_id) {
            at = i;
            break;
        }
    size_t len = 0;
    for (int depth = 0; at != UINT32_MAX && depth < 16; depth++) {
        uint32_t f = s->trace_node_func[at];
        if (s->trace_node_parent[at] == UINT32_MAX || f >= s->trace_function_count)
            break; /* the (root) */
        const char *name = hs_snapfile_str(s, s->trace_functions[6 * f + 1]);
        int w = snprintf(buf + len, size - len, "%s%s", depth ? " <- " : "", name);
        if (w < 0 || (size_t)w >= size - len)
            break;
        len += (size_t)w;
        at = s->trace_node_parent[at];
    }
}

/* ---- the report ---------------------------------------------------------------- */

struct report {
    const hs_snapfile *s;
    const hs_analysis *a;
    struct cls *cls;
    uint32_t ncls;
    struct leak *leaks;
    uint32_t nleaks;
    uint64_t live_blocks, live_bytes, leaked_blocks, leaked_bytes;
    uint32_t *top; /* the biggest retainers */
    uint32_t ntop;
    uint32_t *parent, *via;
    int syn; /* the "synthetic" node type's index */
};

static int matches(const struct opts *o, const char *name)
{
    return !o->filter || strstr(name, o->filter);
}

/* Leaks: what heapscope's leaked group dominates (the blocks no root
 * reaches, and what only they hold), and every node DevTools could not
 * reach; grouped by class. A node's state is its dominator's: found by
 * walking up to a node whose state is known, then setting it along the way
 * (each node is set once, whatever the tree's depth). */
static int find_leaks(struct report *r)
{
    const hs_snapfile *s = r->s;
    const hs_analysis *a = r->a;
    enum { UNKNOWN, LEAKED, HELD };
    uint8_t *state = calloc(s->node_count ? s->node_count : 1, 1);
    uint32_t *walk = malloc((s->node_count ? s->node_count : 1) * sizeof(*walk));
    struct leak *by = calloc(a->class_count ? a->class_count : 1, sizeof(*by));
    if (!state || !walk || !by) {
        free(state);
        free(walk);
        free(by);
        return -1;
    }
    if (s->node_count)
        state[0] = HELD;
    for (uint32_t k = s->first_edge[0]; k < s->first_edge[s->node_count ? 1 : 0]; k++)
        if (!strcmp(node_name(s, s->edge_to[k]), LEAKED_GROUP))
            state[s->edge_to[k]] = LEAKED;
    for (uint32_t v = 1; v < s->node_count; v++) {
        size_t n = 0;
        uint32_t u = v;
        while (state[u] == UNKNOWN && n < s->node_count) {
            walk[n++] = u;
            u = a->dominator[u];
        }
        uint8_t st = state[u] == UNKNOWN ? HELD : state[u];
        while (n)
            state[walk[--n]] = st;
    }
    free(walk);
    for (uint32_t v = 1; v < s->node_count; v++) {
        if (is_synthetic(s, r->syn, v) || !s->node_self[v])
            continue;
        if (state[v] == LEAKED || a->distance[v] == HS_DISTANCE_NONE) {
            struct leak *l = &by[a->class_index[v]];
            l->cls = a->class_index[v];
            l->count++;
            l->bytes += s->node_self[v];
            if (!l->trace && s->node_trace)
                l->trace = s->node_trace[v];
            r->leaked_blocks++;
            r->leaked_bytes += s->node_self[v];
        } else {
            r->live_blocks++;
            r->live_bytes += s->node_self[v];
        }
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->class_count; i++)
        if (by[i].count)
            by[n++] = by[i];
    qsort(by, n, sizeof(*by), cmp_leak);
    free(state);
    r->leaks = by;
    r->nleaks = n;
    return 0;
}

/* The biggest retainers: real objects (not synthetic) whose dominator is
 * the root or a synthetic group, by retained size. */
static int find_top(struct report *r, const struct opts *o)
{
    const hs_snapfile *s = r->s;
    const hs_analysis *a = r->a;
    r->top = calloc((size_t)o->top, sizeof(*r->top));
    if (!r->top)
        return -1;
    for (uint32_t v = 1; v < s->node_count; v++) {
        if (is_synthetic(s, r->syn, v) || !is_synthetic(s, r->syn, a->dominator[v]) ||
            !matches(o, a->class_names[a->class_index[v]]))
            continue;
        uint32_t i = r->ntop < (uint32_t)o->top ? r->ntop++ : (uint32_t)o->top;
        if (i == (uint32_t)o->top) {
            if (a->retained[v] <= a->retained[r->top[i - 1]])
                continue;
            i--;
        }
        while (i > 0 && a->retained[r->top[i - 1]] < a->retained[v]) {
            r->top[i] = r->top[i - 1];
            i--;
        }
        r->top[i] = v;
    }
    return bfs_parents(s, &r->parent, &r->via);
}

/* The path from the root to v, root first: up to PATH_MAX_STEPS nodes. */
static int path_of(const struct report *r, uint32_t v, uint32_t *out)
{
    int n = 0;
    while (v != UINT32_MAX && n < PATH_MAX_STEPS) {
        out[n++] = v;
        if (v == 0)
            break;
        v = r->parent[v];
    }
    for (int i = 0; i < n / 2; i++) {
        uint32_t t = out[i];
        out[i] = out[n - 1 - i];
        out[n - 1 - i] = t;
    }
    return v == 0 || (n && out[0] == 0) ? n : -n; /* negative: not from the root */
}

static void print_text(const struct report *r, const struct opts *o)
{
    const hs_snapfile *s = r->s;
    const hs_analysis *a = r->a;
    char b1[32], b2[32], b3[32];
    printf("%s: %u nodes, %u edges, %s in all\n", o->file, s->node_count, s->edge_count,
           hs_cli_bytes(a->total_size, b1, sizeof(b1)));
    printf("live: %llu objects, %s; leaked (no root reaches them): %llu, %s\n",
           (unsigned long long)r->live_blocks, hs_cli_bytes(r->live_bytes, b1, sizeof(b1)),
           (unsigned long long)r->leaked_blocks, hs_cli_bytes(r->leaked_bytes, b2, sizeof(b2)));

    printf("\nclasses by retained size (DevTools' Summary)%s%s\n", o->filter ? ", matching " : "",
           o->filter ? o->filter : "");
    printf("%10s %12s %12s %9s  %s\n", "count", "shallow", "retained", "distance", "class");
    int shown = 0;
    for (uint32_t i = 0; i < r->ncls && shown < o->top; i++) {
        const struct cls *c = &r->cls[i];
        if (!c->count || !matches(o, a->class_names[c->index]))
            continue;
        char d[16] = "-";
        if (c->distance != INT32_MAX && c->distance < HS_DISTANCE_SYSTEM)
            snprintf(d, sizeof(d), "%d", c->distance);
        printf("%10llu %12s %12s %9s  %s\n", (unsigned long long)c->count,
               hs_cli_bytes(c->shallow, b1, sizeof(b1)), hs_cli_bytes(c->retained, b2, sizeof(b2)),
               d, a->class_names[c->index]);
        shown++;
    }

    printf("\nbiggest retainers, and the path from the root that holds each\n");
    for (uint32_t i = 0; i < r->ntop; i++) {
        uint32_t v = r->top[i], path[PATH_MAX_STEPS];
        int n = path_of(r, v, path);
        printf("%12s  %s @%u\n", hs_cli_bytes(a->retained[v], b1, sizeof(b1)), node_name(s, v),
               s->node_id[v]);
        printf("%12s  ", "");
        if (n < 0)
            printf("(no path from the root: held only by weak references or a cycle)");
        for (int k = 1; k < (n < 0 ? 0 : n); k++) {
            char e[256];
            edge_label(s, r->via[path[k]], e, sizeof(e));
            if (k == 1)
                printf("%s", node_name(s, path[k]));
            else
                printf(" -> %s", e);
        }
        printf("\n");
    }

    printf("\nleaks by site: blocks no root reaches\n");
    if (!r->nleaks)
        printf("  none\n");
    else
        printf("%10s %12s  %s\n", "count", "bytes", "site");
    shown = 0;
    for (uint32_t i = 0; i < r->nleaks && shown < o->top; i++) {
        const struct leak *l = &r->leaks[i];
        if (!matches(o, a->class_names[l->cls]))
            continue;
        char stack[1024];
        stack_text(s, l->trace, stack, sizeof(stack));
        printf("%10llu %12s  %s\n", (unsigned long long)l->count,
               hs_cli_bytes(l->bytes, b3, sizeof(b3)), a->class_names[l->cls]);
        if (stack[0])
            printf("%24s  allocated at %s\n", "", stack);
        shown++;
    }
}

static int print_json(const struct report *r, const struct opts *o)
{
    const hs_snapfile *s = r->s;
    const hs_analysis *a = r->a;
    json_t *root = json_object(), *cls = json_array(), *ret = json_array(), *leaks = json_array();
    if (!root || !cls || !ret || !leaks)
        goto oom;
    int shown = 0;
    for (uint32_t i = 0; i < r->ncls && shown < o->top; i++) {
        const struct cls *c = &r->cls[i];
        if (!c->count || !matches(o, a->class_names[c->index]))
            continue;
        json_t *d = c->distance != INT32_MAX ? json_integer(c->distance) : json_null();
        if (json_array_append_new(
                cls, json_pack("{ss sI sI sI so}", "name", a->class_names[c->index], "count",
                               (json_int_t)c->count, "shallow", (json_int_t)c->shallow, "retained",
                               (json_int_t)c->retained, "distance", d)))
            goto oom;
        shown++;
    }
    for (uint32_t i = 0; i < r->ntop; i++) {
        uint32_t v = r->top[i], path[PATH_MAX_STEPS];
        int n = path_of(r, v, path);
        json_t *p = json_array();
        for (int k = 1; p && k < (n < 0 ? 0 : n); k++) {
            char e[256];
            edge_label(s, r->via[path[k]], e, sizeof(e));
            json_array_append_new(p,
                                  json_pack("{ss ss sI}", "edge", e, "name", node_name(s, path[k]),
                                            "id", (json_int_t)s->node_id[path[k]]));
        }
        if (!p || json_array_append_new(ret, json_pack("{ss sI sI so}", "name", node_name(s, v),
                                                       "id", (json_int_t)s->node_id[v], "retained",
                                                       (json_int_t)a->retained[v], "path", p)))
            goto oom;
    }
    shown = 0;
    for (uint32_t i = 0; i < r->nleaks && shown < o->top; i++) {
        const struct leak *l = &r->leaks[i];
        if (!matches(o, a->class_names[l->cls]))
            continue;
        char stack[1024];
        stack_text(s, l->trace, stack, sizeof(stack));
        if (json_array_append_new(leaks, json_pack("{ss sI sI ss}", "site", a->class_names[l->cls],
                                                   "count", (json_int_t)l->count, "bytes",
                                                   (json_int_t)l->bytes, "stack", stack)))
            goto oom;
        shown++;
    }
    if (json_object_set_new(root, "file", json_string(o->file)) ||
        json_object_set_new(root, "nodes", json_integer(s->node_count)) ||
        json_object_set_new(root, "edges", json_integer(s->edge_count)) ||
        json_object_set_new(root, "total_size", json_integer((json_int_t)a->total_size)) ||
        json_object_set_new(root, "live",
                            json_pack("{sI sI}", "objects", (json_int_t)r->live_blocks, "bytes",
                                      (json_int_t)r->live_bytes)) ||
        json_object_set_new(root, "leaked",
                            json_pack("{sI sI}", "objects", (json_int_t)r->leaked_blocks, "bytes",
                                      (json_int_t)r->leaked_bytes)) ||
        json_object_set_new(root, "classes", cls) || json_object_set_new(root, "retainers", ret) ||
        json_object_set_new(root, "leaks", leaks)) {
        cls = ret = leaks = NULL;
        goto oom;
    }
    json_dumpf(root, stdout, JSON_INDENT(1));
    printf("\n");
    json_decref(root);
    return 0;
oom:
    json_decref(root);
    json_decref(cls);
    json_decref(ret);
    json_decref(leaks);
    fprintf(stderr, "heapscope: out of memory\n");
    return -1;
}

int hs_cli_report(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) < 0)
        return usage();
    if (hs_cli_is_profile(o.file))
        return hs_cli_report_profile(o.file, o.top, o.filter, o.json, o.tree);
    hs_snapfile s;
    hs_read_error err;
    if (hs_snapfile_read(o.file, &s, &err) < 0) {
        fprintf(stderr, "heapscope: %s\n", err.text);
        return 1;
    }
    hs_analysis a;
    if (hs_analyze(&s, &a, &err) < 0) {
        fprintf(stderr, "heapscope: %s: %s\n", o.file, err.text);
        hs_snapfile_free(&s);
        return 1;
    }
    struct report r = {.s = &s, .a = &a, .syn = hs_snapfile_node_type(&s, "synthetic")};
    int rc = 1;
    r.cls = classes(&s, &a, &r.ncls);
    if (r.cls && find_leaks(&r) == 0 && find_top(&r, &o) == 0) {
        qsort(r.cls, r.ncls, sizeof(*r.cls), cmp_cls);
        if (o.json)
            rc = print_json(&r, &o) < 0 ? 1 : 0;
        else {
            print_text(&r, &o);
            rc = 0;
        }
    } else {
        fprintf(stderr, "heapscope: out of memory\n");
    }
    free(r.cls);
    free(r.leaks);
    free(r.top);
    free(r.parent);
    free(r.via);
    hs_analysis_free(&a);
    hs_snapfile_free(&s);
    return rc;
}
