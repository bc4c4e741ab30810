/*
 * cli_profile.c — report and diff of sampling heap profiles (.heapprofile,
 * heapscope's or V8's; issue 8). `heapscope report` and `heapscope diff` come
 * here when their files are profiles (cli_report.c, cli_diff.c sniff them).
 *
 * Per function (name, url and line: the same function wherever it is called
 * from): self = the bytes sampled in it, total = the bytes sampled in it and
 * in what it called, each call tree node counted once even under recursion
 * (a node whose function is already on its path adds nothing to total).
 * report prints the top functions by self and by total; with --tree also
 * bottom up (where each top function is called from) and the call tree top
 * down (nodes holding at least 1 % of all). diff compares the
 * functions' self bytes between two profiles.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_profile.h"
#include "profile.h"

struct fn {
    uint32_t node; /* a node of it, for its name and place */
    uint64_t self, total;
};

struct fns {
    const struct hs_profile *p;
    struct fn *v;
    uint32_t n;
    uint32_t *of;         /* per node: its function */
    uint64_t *node_total; /* per node: self + what it called */
    uint64_t total;
};

static int same_fn(const struct hs_profile *p, uint32_t a, uint32_t b)
{
    const struct hs_profile_node *x = &p->nodes[a], *y = &p->nodes[b];
    return x->function == y->function && x->url == y->url && x->line == y->line;
}

static uint64_t fn_hash(const struct hs_profile_node *x)
{
    return ((uint64_t)x->function * 0x9E3779B97F4A7C15ull) ^
           ((uint64_t)x->url * 0xC2B2AE3D27D4EB4Full) ^ (uint64_t)(uint32_t)x->line;
}

/* Groups the nodes by function and sums self and total. */
static int functions(const struct hs_profile *p, struct fns *f)
{
    uint32_t n = p->node_count;
    memset(f, 0, sizeof(*f));
    f->p = p;
    size_t cap = 16;
    while (cap < 2 * (size_t)n)
        cap *= 2;
    uint32_t *slot = malloc(cap * sizeof(*slot));
    f->v = calloc(n ? n : 1, sizeof(*f->v));
    f->of = malloc((n ? n : 1) * sizeof(*f->of));
    f->node_total = calloc(n ? n : 1, sizeof(*f->node_total));
    uint32_t *path = malloc((n ? n : 1) * sizeof(*path));
    uint32_t *on = calloc(n ? n : 1, sizeof(*on));
    if (!slot || !f->v || !f->of || !f->node_total || !path || !on) {
        free(slot);
        free(path);
        free(on);
        return -1;
    }
    memset(slot, 0xff, cap * sizeof(*slot));
    for (uint32_t i = 0; i < n; i++) {
        size_t j = fn_hash(&p->nodes[i]) & (cap - 1);
        while (slot[j] != UINT32_MAX && !same_fn(p, f->v[slot[j]].node, i))
            j = (j + 1) & (cap - 1);
        if (slot[j] == UINT32_MAX) {
            slot[j] = f->n;
            f->v[f->n++].node = i;
        }
        f->of[i] = slot[j];
        f->v[slot[j]].self += p->nodes[i].self_size;
        f->node_total[i] = p->nodes[i].self_size;
        f->total += p->nodes[i].self_size;
    }
    /* Preorder: children come after their parent. */
    for (uint32_t i = n; i-- > 1;)
        if (p->nodes[i].parent != HS_PROFILE_NONE)
            f->node_total[p->nodes[i].parent] += f->node_total[i];
    /* Totals, recursion counted once: the functions on the current path. */
    size_t depth = 0;
    for (uint32_t i = 0; i < n; i++) {
        while (depth && p->nodes[path[depth - 1]].end <= i)
            on[f->of[path[--depth]]]--;
        if (!on[f->of[i]])
            f->v[f->of[i]].total += f->node_total[i];
        on[f->of[i]]++;
        path[depth++] = i;
    }
    free(slot);
    free(path);
    free(on);
    return 0;
}

static void functions_free(struct fns *f)
{
    free(f->v);
    free(f->of);
    free(f->node_total);
}

static const struct fns *sort_f;
static int by_self(const void *a, const void *b)
{
    const struct fn *x = &sort_f->v[*(const uint32_t *)a], *y = &sort_f->v[*(const uint32_t *)b];
    return x->self != y->self ? (x->self < y->self ? 1 : -1)
                              : (x->node > y->node) - (x->node < y->node);
}
static int by_total(const void *a, const void *b)
{
    const struct fn *x = &sort_f->v[*(const uint32_t *)a], *y = &sort_f->v[*(const uint32_t *)b];
    return x->total != y->total ? (x->total < y->total ? 1 : -1)
                                : (x->node > y->node) - (x->node < y->node);
}

/* "name (url:line)", line 1-based as people count. */
static void place(const struct hs_profile *p, uint32_t node, char *buf, size_t size)
{
    const struct hs_profile_node *x = &p->nodes[node];
    const char *url = hs_profile_str(p, x->url);
    if (url[0] && x->line >= 0)
        snprintf(buf, size, "%s (%s:%d)", hs_profile_name(p, node), url, x->line + 1);
    else if (url[0])
        snprintf(buf, size, "%s (%s)", hs_profile_name(p, node), url);
    else
        snprintf(buf, size, "%s", hs_profile_name(p, node));
}

static double pct(uint64_t part, uint64_t all)
{
    return all ? 100.0 * (double)part / (double)all : 0.0;
}

static int matches(const char *filter, const char *name)
{
    return !filter || strstr(name, filter);
}

static void print_tree(const struct fns *f, int max_depth)
{
    const struct hs_profile *p = f->p;
    char b1[32], b2[32], name[1024];
    printf("\ncall tree (nodes with at least 1 %% of all, at most %d deep)\n", max_depth);
    printf("%12s %12s  %s\n", "total", "self", "function");
    /* Depths in one pass: preorder puts each parent before its children. */
    uint32_t *depths = calloc(p->node_count ? p->node_count : 1, sizeof(*depths));
    if (!depths)
        return;
    for (uint32_t i = 1; i < p->node_count; i++) {
        uint32_t up = p->nodes[i].parent;
        int depth = (int)(depths[i] = up == 0 || up == HS_PROFILE_NONE ? 0 : depths[up] + 1);
        if (pct(f->node_total[i], f->total) < 1.0 || depth >= max_depth)
            continue;
        place(p, i, name, sizeof(name));
        printf("%12s %12s  %*s%s\n", hs_cli_bytes(f->node_total[i], b1, sizeof(b1)),
               hs_cli_bytes(p->nodes[i].self_size, b2, sizeof(b2)), 2 * depth, "", name);
    }
    free(depths);
}

/* Bottom up: for each of the top functions by self, the call stacks that
 * allocate in it, biggest first (its nodes with bytes, at most 3 each). */
static void print_bottom_up(const struct fns *f, const uint32_t *by_self_order, int top,
                            const char *filter)
{
    const struct hs_profile *p = f->p;
    char b1[32], name[1024];
    printf("\nbottom up: where the top functions are called from\n");
    for (uint32_t k = 0, shown = 0; k < f->n && shown < (uint32_t)top; k++) {
        uint32_t fi = by_self_order[k];
        const struct fn *x = &f->v[fi];
        if (x->node == 0 || !x->self)
            continue;
        place(p, x->node, name, sizeof(name));
        if (!matches(filter, name))
            continue;
        printf("%12s  %s\n", hs_cli_bytes(x->self, b1, sizeof(b1)), name);
        uint32_t best[3] = {HS_PROFILE_NONE, HS_PROFILE_NONE, HS_PROFILE_NONE};
        for (uint32_t i = 0; i < p->node_count; i++) {
            if (f->of[i] != fi || !p->nodes[i].self_size)
                continue;
            for (int b = 0; b < 3; b++)
                if (best[b] == HS_PROFILE_NONE ||
                    p->nodes[i].self_size > p->nodes[best[b]].self_size) {
                    for (int m = 2; m > b; m--)
                        best[m] = best[m - 1];
                    best[b] = i;
                    break;
                }
        }
        for (int b = 0; b < 3 && best[b] != HS_PROFILE_NONE; b++) {
            printf("%12s    ", hs_cli_bytes(p->nodes[best[b]].self_size, b1, sizeof(b1)));
            int depth = 0;
            for (uint32_t u = p->nodes[best[b]].parent;
                 u != HS_PROFILE_NONE && u != 0 && depth < 12; u = p->nodes[u].parent, depth++)
                printf("%s%s", depth ? " <- " : "<- ", hs_profile_name(p, u));
            printf("%s\n", depth ? "" : "(called from the root)");
        }
        shown++;
    }
}

int hs_cli_report_profile(const char *file, int top, const char *filter, int json, int tree)
{
    struct hs_profile p;
    char err[512];
    if (hs_profile_read_file(file, &p, err, sizeof(err)) < 0) {
        fprintf(stderr, "heapscope: %s\n", err);
        return 1;
    }
    struct fns f;
    uint32_t *order = NULL;
    int rc = 1;
    if (functions(&p, &f) < 0 || !(order = malloc((f.n ? f.n : 1) * sizeof(*order)))) {
        fprintf(stderr, "heapscope: out of memory\n");
        goto out;
    }
    for (uint32_t i = 0; i < f.n; i++)
        order[i] = i;
    sort_f = &f;
    char b1[32], b2[32], name[1024];
    json_t *root =
        json ? json_pack("{ss sI sI sI}", "file", file, "nodes", (json_int_t)p.node_count,
                         "samples", (json_int_t)p.sample_count, "total", (json_int_t)f.total)
             : NULL;
    if (!json)
        printf("%s: %u call tree nodes, %u samples, %s sampled\n", file, p.node_count,
               p.sample_count, hs_cli_bytes(f.total, b1, sizeof(b1)));
    for (int pass = 0; pass < 2; pass++) {
        qsort(order, f.n, sizeof(*order), pass ? by_total : by_self);
        json_t *list = json ? json_array() : NULL;
        if (!json)
            printf("\nfunctions by %s\n%12s %7s %12s %7s  %s\n", pass ? "total" : "self", "self",
                   "", "total", "", "function");
        for (uint32_t k = 0, shown = 0; k < f.n && shown < (uint32_t)top; k++) {
            const struct fn *x = &f.v[order[k]];
            if (x->node == 0 || !(pass ? x->total : x->self))
                continue; /* the (root), and what holds nothing */
            place(&p, x->node, name, sizeof(name));
            if (!matches(filter, name))
                continue;
            if (json)
                json_array_append_new(list, json_pack("{ss sI sI}", "function", name, "self",
                                                      (json_int_t)x->self, "total",
                                                      (json_int_t)x->total));
            else
                printf("%12s %6.1f%% %12s %6.1f%%  %s\n", hs_cli_bytes(x->self, b1, sizeof(b1)),
                       pct(x->self, f.total), hs_cli_bytes(x->total, b2, sizeof(b2)),
                       pct(x->total, f.total), name);
            shown++;
        }
        if (json)
            json_object_set_new(root, pass ? "by_total" : "by_self", list);
    }
    if (json) {
        json_dumpf(root, stdout, JSON_INDENT(1));
        printf("\n");
        json_decref(root);
    } else if (tree) {
        qsort(order, f.n, sizeof(*order), by_self);
        print_bottom_up(&f, order, top, filter);
        print_tree(&f, 32);
    }
    rc = 0;
out:
    free(order);
    functions_free(&f);
    hs_profile_free(&p);
    return rc;
}

/* ---- diff -------------------------------------------------------------------------- */

struct row {
    uint32_t fa, fb; /* UINT32_MAX: absent from that side */
    int64_t growth;
};

static int by_growth(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    return x->growth != y->growth ? (x->growth < y->growth ? 1 : -1) : 0;
}

static char **sort_names;
static int by_name(const void *a, const void *b)
{
    return strcmp(sort_names[*(const uint32_t *)a], sort_names[*(const uint32_t *)b]);
}

int hs_cli_diff_profiles(const char *a, const char *b, int top, const char *filter, int json,
                         int gate, unsigned long long max_growth)
{
    struct hs_profile pa, pb;
    char err[512];
    if (hs_profile_read_file(a, &pa, err, sizeof(err)) < 0) {
        fprintf(stderr, "heapscope: %s\n", err);
        return 1;
    }
    if (hs_profile_read_file(b, &pb, err, sizeof(err)) < 0) {
        fprintf(stderr, "heapscope: %s\n", err);
        hs_profile_free(&pa);
        return 1;
    }
    struct fns fa, fb;
    int rc = 1;
    memset(&fa, 0, sizeof(fa));
    memset(&fb, 0, sizeof(fb));
    json_t *rows = json_array();
    if (functions(&pa, &fa) < 0 || functions(&pb, &fb) < 0 || !rows) {
        fprintf(stderr, "heapscope: out of memory\n");
        goto out;
    }
    /* Functions are matched by their printed place (name, url, line). */
    char name[1024], other[1024], b1[32], b2[32], b3[32];
    struct row *r = calloc((size_t)fa.n + fb.n + 1, sizeof(*r));
    size_t n = 0;
    if (!r) {
        fprintf(stderr, "heapscope: out of memory\n");
        goto out;
    }
    /* B's functions by name, sorted, for a binary search per A function. */
    char **bname = calloc((size_t)fb.n + 1, sizeof(*bname));
    uint32_t *bidx = malloc(((size_t)fb.n + 1) * sizeof(*bidx));
    uint8_t *matched = calloc((size_t)fb.n + 1, 1);
    for (uint32_t j = 0; bname && bidx && matched && j < fb.n; j++) {
        place(&pb, fb.v[j].node, other, sizeof(other));
        bname[j] = strdup(other);
        bidx[j] = j;
        if (!bname[j])
            goto oom;
    }
    if (!bname || !bidx || !matched)
        goto oom;
    sort_names = bname;
    qsort(bidx, fb.n, sizeof(*bidx), by_name);
    for (uint32_t i = 0; i < fa.n; i++) {
        place(&pa, fa.v[i].node, name, sizeof(name));
        size_t lo = 0, hi = fb.n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (strcmp(bname[bidx[mid]], name) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        uint32_t hit = lo < fb.n && !strcmp(bname[bidx[lo]], name) && !matched[bidx[lo]]
                           ? bidx[lo]
                           : UINT32_MAX;
        if (hit != UINT32_MAX)
            matched[hit] = 1;
        r[n++] = (struct row){
            i, hit, (int64_t)(hit != UINT32_MAX ? fb.v[hit].self : 0) - (int64_t)fa.v[i].self};
    }
    for (uint32_t j = 0; j < fb.n; j++)
        if (!matched[j])
            r[n++] = (struct row){UINT32_MAX, j, (int64_t)fb.v[j].self};
    for (uint32_t j = 0; j < fb.n; j++)
        free(bname[j]);
    free(bname);
    free(bidx);
    free(matched);
    qsort(r, n, sizeof(*r), by_growth); /* biggest growth first */
    int64_t grown = (int64_t)fb.total - (int64_t)fa.total;
    int over = gate && grown > 0 && (unsigned long long)grown > max_growth;
    if (!json)
        printf("%s -> %s: sampled bytes %s -> %s (%s%s)\n\n%12s %12s %12s  %s\n", a, b,
               hs_cli_bytes(fa.total, b1, sizeof(b1)), hs_cli_bytes(fb.total, b2, sizeof(b2)),
               grown < 0 ? "-" : "+",
               hs_cli_bytes((unsigned long long)(grown < 0 ? -grown : grown), b3, sizeof(b3)),
               "self in A", "self in B", "growth", "function");
    for (size_t i = 0, shown = 0; i < n && shown < (size_t)top; i++) {
        if (!r[i].growth)
            continue;
        if (r[i].fa != UINT32_MAX)
            place(&pa, fa.v[r[i].fa].node, name, sizeof(name));
        else
            place(&pb, fb.v[r[i].fb].node, name, sizeof(name));
        if (!matches(filter, name) || !strcmp(name, "(root)"))
            continue;
        uint64_t sa = r[i].fa != UINT32_MAX ? fa.v[r[i].fa].self : 0;
        uint64_t sb = r[i].fb != UINT32_MAX ? fb.v[r[i].fb].self : 0;
        if (json)
            json_array_append_new(rows, json_pack("{ss sI sI sI}", "function", name, "a_self",
                                                  (json_int_t)sa, "b_self", (json_int_t)sb,
                                                  "growth", (json_int_t)r[i].growth));
        else {
            char g[40];
            snprintf(
                g, sizeof(g), "%s%s", r[i].growth < 0 ? "-" : "+",
                hs_cli_bytes((unsigned long long)(r[i].growth < 0 ? -r[i].growth : r[i].growth), b3,
                             sizeof(b3)));
            printf("%12s %12s %12s  %s\n", hs_cli_bytes(sa, b1, sizeof(b1)),
                   hs_cli_bytes(sb, b2, sizeof(b2)), g, name);
        }
        shown++;
    }
    if (json) {
        json_t *root = json_pack("{ss ss sI sI sI sb sO}", "a", a, "b", b, "a_total",
                                 (json_int_t)fa.total, "b_total", (json_int_t)fb.total, "growth",
                                 (json_int_t)grown, "over_limit", over, "functions", rows);
        json_dumpf(root, stdout, JSON_INDENT(1));
        printf("\n");
        json_decref(root);
    } else if (gate) {
        printf("\n%s: grew by %lld bytes, limit %llu\n", over ? "FAIL" : "ok", (long long)grown,
               max_growth);
    }
    free(r);
    rc = over ? 1 : 0;
    goto out;
oom:
    if (bname)
        for (uint32_t j = 0; j < fb.n; j++)
            free(bname[j]);
    free(bname);
    free(bidx);
    free(matched);
    free(r);
    fprintf(stderr, "heapscope: out of memory\n");
out:
    json_decref(rows);
    functions_free(&fa);
    functions_free(&fb);
    hs_profile_free(&pa);
    hs_profile_free(&pb);
    return rc;
}

/* ---- which kind of file ------------------------------------------------------------ */

int hs_cli_is_profile(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char buf[256];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The first key of the top object: V8 and heapscope write "snapshot"
     * first in snapshots and "head" first in profiles. */
    const char *q = strchr(buf, '"');
    return q && !strncmp(q, "\"head\"", 6);
}
