/*
 * cli_diff.c — `heapscope diff A B`: what changed between two heap snapshots
 * of the same process (issue 8; docs/design/analysis.md). Objects are matched
 * by id, as DevTools' Comparison view matches them (ids are stable for a
 * block's life): an id only in B was added, one only in A was freed. Per
 * class (allocation site, or constructor in V8's files): the objects and
 * bytes added and freed, and the net growth, biggest growth first.
 *
 * --fail-if-grown BYTES: exit 1 when the live bytes grew by more than BYTES
 * from A to B (a memory regression gate for CI). --top N, --filter TEXT,
 * --format json as for report. Two .heapprofile files are compared by
 * cli_profile.c (each function's sampled bytes).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "cli.h"
#include "cli_profile.h"
#include "snapfile.h"

struct opts {
    const char *a, *b;
    int top;
    const char *filter;
    int json;
    int gate;
    unsigned long long max_growth;
};

/* One class's figures on both sides. */
struct row {
    const char *name;
    uint64_t a_count, a_bytes, b_count, b_bytes;
    uint64_t added, added_bytes, freed, freed_bytes;
};

/* A side: the file, its analysis, and its objects sorted by id. */
struct side {
    hs_snapfile s;
    hs_analysis an;
    uint32_t *by_id; /* node indices of objects (self size > 0, not synthetic) */
    uint32_t n;
};

static int usage(void)
{
    fprintf(stderr, "usage: heapscope diff A B [--fail-if-grown BYTES] [--top N] [--filter TEXT] "
                    "[--format text|json]\n");
    return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.top = 10};
    struct hs_cli_table_opts t = {.top = 10};
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        char *end;
        int r = hs_cli_table_opt(argc, argv, &i, &t);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if ((r = hs_cli_opt_value(argc, argv, &i, "--fail-if-grown", &v)) != 0) {
            if (r < 0 || !*v || *v == '-')
                return -1;
            o->max_growth = strtoull(v, &end, 10);
            if (*end)
                return -1;
            o->gate = 1;
        } else if ((argv[i][0] == '-' && argv[i][1]) || (o->a && o->b)) {
            return -1;
        } else if (!o->a) {
            o->a = argv[i];
        } else {
            o->b = argv[i];
        }
    }
    o->top = t.top;
    o->filter = t.filter;
    o->json = t.json;
    return o->a && o->b ? 0 : -1;
}

static const hs_snapfile *sort_s; /* qsort has no context argument */

static int cmp_id(const void *x, const void *y)
{
    uint32_t i = sort_s->node_id[*(const uint32_t *)x], j = sort_s->node_id[*(const uint32_t *)y];
    return i < j ? -1 : i > j;
}

static int load(const char *path, struct side *d)
{
    hs_read_error err;
    memset(d, 0, sizeof(*d));
    if (hs_snapfile_read(path, &d->s, &err) < 0) {
        fprintf(stderr, "heapscope: %s\n", err.text);
        return -1;
    }
    if (hs_analyze(&d->s, &d->an, &err) < 0) {
        fprintf(stderr, "heapscope: %s: %s\n", path, err.text);
        hs_snapfile_free(&d->s);
        return -1;
    }
    int syn = hs_snapfile_node_type(&d->s, "synthetic");
    d->by_id = malloc((d->s.node_count ? d->s.node_count : 1) * sizeof(*d->by_id));
    if (!d->by_id) {
        fprintf(stderr, "heapscope: out of memory\n");
        return -1;
    }
    for (uint32_t v = 1; v < d->s.node_count; v++)
        if (d->s.node_self[v] && (int)d->s.node_type[v] != syn)
            d->by_id[d->n++] = v;
    sort_s = &d->s;
    qsort(d->by_id, d->n, sizeof(*d->by_id), cmp_id);
    return 0;
}

static void unload(struct side *d)
{
    free(d->by_id);
    hs_analysis_free(&d->an);
    hs_snapfile_free(&d->s);
}

/* ---- rows by class name: open addressing over the names ---------------------- */

struct table {
    struct row *v;
    size_t cap, n;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static struct row *row_of(struct table *t, const char *name)
{
    if (2 * (t->n + 1) > t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 1024;
        struct row *nv = calloc(nc, sizeof(*nv));
        if (!nv)
            return NULL;
        for (size_t i = 0; i < t->cap; i++)
            if (t->v[i].name) {
                size_t j = hash(t->v[i].name) & (nc - 1);
                while (nv[j].name)
                    j = (j + 1) & (nc - 1);
                nv[j] = t->v[i];
            }
        free(t->v);
        t->v = nv;
        t->cap = nc;
    }
    size_t j = hash(name) & (t->cap - 1);
    while (t->v[j].name && strcmp(t->v[j].name, name))
        j = (j + 1) & (t->cap - 1);
    if (!t->v[j].name) {
        t->v[j].name = name;
        t->n++;
    }
    return &t->v[j];
}

static int64_t growth(const struct row *r)
{
    return (int64_t)r->b_bytes - (int64_t)r->a_bytes;
}

static int cmp_row(const void *x, const void *y)
{
    const struct row *a = x, *b = y;
    int64_t ga = growth(a), gb = growth(b);
    if (ga != gb)
        return ga < gb ? 1 : -1;
    return strcmp(a->name, b->name);
}

static const char *class_of(const struct side *d, uint32_t v)
{
    return d->an.class_names[d->an.class_index[v]];
}

static int count(struct table *t, const struct side *d, uint32_t v, int b_side, int only)
{
    struct row *r = row_of(t, class_of(d, v));
    if (!r)
        return -1;
    uint64_t bytes = d->s.node_self[v];
    if (b_side) {
        r->b_count++;
        r->b_bytes += bytes;
        r->added += (uint64_t)only;
        r->added_bytes += only ? bytes : 0;
    } else {
        r->a_count++;
        r->a_bytes += bytes;
        r->freed += (uint64_t)only;
        r->freed_bytes += only ? bytes : 0;
    }
    return 0;
}

/* Merges the two id-sorted lists into the rows: an id on both sides is the
 * same object; only in A, freed; only in B, added. */
static int compare(const struct side *A, const struct side *B, struct table *t)
{
    size_t i = 0, j = 0;
    while (i < A->n || j < B->n) {
        uint64_t ia = i < A->n ? A->s.node_id[A->by_id[i]] : UINT64_MAX;
        uint64_t ib = j < B->n ? B->s.node_id[B->by_id[j]] : UINT64_MAX;
        int rc = 0;
        if (ia <= ib)
            rc |= count(t, A, A->by_id[i++], 0, ia != ib);
        if (ib <= ia)
            rc |= count(t, B, B->by_id[j++], 1, ia != ib);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int matches(const struct opts *o, const char *name)
{
    return !o->filter || strstr(name, o->filter);
}

static void signed_bytes(int64_t v, char *buf, size_t size)
{
    char b[32];
    snprintf(buf, size, "%s%s", v < 0 ? "-" : "+",
             hs_cli_bytes((unsigned long long)(v < 0 ? -v : v), b, sizeof(b)));
}

int hs_cli_diff(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) < 0)
        return usage();
    if (hs_cli_is_profile(o.a) || hs_cli_is_profile(o.b)) {
        if (!hs_cli_is_profile(o.a) || !hs_cli_is_profile(o.b)) {
            fprintf(stderr, "heapscope: %s and %s: a profile can only be compared with a profile\n",
                    o.a, o.b);
            return 1;
        }
        return hs_cli_diff_profiles(o.a, o.b, o.top, o.filter, o.json, o.gate, o.max_growth);
    }
    struct side A, B;
    if (load(o.a, &A) < 0)
        return 1;
    if (load(o.b, &B) < 0) {
        unload(&A);
        return 1;
    }
    struct table t = {0};
    int rc = 1;
    if (compare(&A, &B, &t) < 0) {
        fprintf(stderr, "heapscope: out of memory\n");
        goto out;
    }
    size_t n = 0;
    uint64_t ta = 0, tb = 0, added = 0, added_b = 0, freed = 0, freed_b = 0;
    for (size_t i = 0; i < t.cap; i++)
        if (t.v[i].name) {
            const struct row *r = &t.v[i];
            ta += r->a_bytes;
            tb += r->b_bytes;
            added += r->added;
            added_b += r->added_bytes;
            freed += r->freed;
            freed_b += r->freed_bytes;
            t.v[n++] = *r;
        }
    qsort(t.v, n, sizeof(*t.v), cmp_row);
    int64_t grown = (int64_t)tb - (int64_t)ta;
    int over = o.gate && grown > 0 && (unsigned long long)grown > o.max_growth;
    if (o.json) {
        json_t *rows = json_array();
        for (size_t i = 0, shown = 0; rows && i < n && shown < (size_t)o.top; i++) {
            const struct row *r = &t.v[i];
            if (!matches(&o, r->name))
                continue;
            json_array_append_new(
                rows,
                json_pack("{ss sI sI sI sI sI sI sI sI sI}", "name", r->name, "a_count",
                          (json_int_t)r->a_count, "a_bytes", (json_int_t)r->a_bytes, "b_count",
                          (json_int_t)r->b_count, "b_bytes", (json_int_t)r->b_bytes, "added",
                          (json_int_t)r->added, "added_bytes", (json_int_t)r->added_bytes, "freed",
                          (json_int_t)r->freed, "freed_bytes", (json_int_t)r->freed_bytes, "growth",
                          (json_int_t)growth(r)));
            shown++;
        }
        json_t *root = json_pack("{ss ss sI sI sI sI sI sI sI sb so}", "a", o.a, "b", o.b,
                                 "a_bytes", (json_int_t)ta, "b_bytes", (json_int_t)tb, "growth",
                                 (json_int_t)grown, "added", (json_int_t)added, "added_bytes",
                                 (json_int_t)added_b, "freed", (json_int_t)freed, "freed_bytes",
                                 (json_int_t)freed_b, "over_limit", over, "classes", rows);
        if (!root) {
            fprintf(stderr, "heapscope: out of memory\n");
            goto out;
        }
        json_dumpf(root, stdout, JSON_INDENT(1));
        printf("\n");
        json_decref(root);
    } else {
        char b1[32], b2[32], b3[32], b4[32], b5[32];
        signed_bytes(grown, b3, sizeof(b3));
        printf("%s -> %s: %s live (%s -> %s); %llu objects added (%s), %llu freed (%s)\n", o.a, o.b,
               b3, hs_cli_bytes(ta, b1, sizeof(b1)), hs_cli_bytes(tb, b2, sizeof(b2)),
               (unsigned long long)added, hs_cli_bytes(added_b, b4, sizeof(b4)),
               (unsigned long long)freed, hs_cli_bytes(freed_b, b5, sizeof(b5)));
        printf("\n%10s %12s %10s %12s %12s  %s\n", "added", "bytes", "freed", "bytes", "growth",
               "class");
        for (size_t i = 0, shown = 0; i < n && shown < (size_t)o.top; i++) {
            const struct row *r = &t.v[i];
            if (!matches(&o, r->name) || (!r->added && !r->freed))
                continue;
            signed_bytes(growth(r), b3, sizeof(b3));
            printf("%10llu %12s %10llu %12s %12s  %s\n", (unsigned long long)r->added,
                   hs_cli_bytes(r->added_bytes, b1, sizeof(b1)), (unsigned long long)r->freed,
                   hs_cli_bytes(r->freed_bytes, b2, sizeof(b2)), b3, r->name);
            shown++;
        }
        if (o.gate)
            printf("\n%s: grew by %lld bytes, limit %llu\n", over ? "FAIL" : "ok", (long long)grown,
                   o.max_growth);
    }
    rc = over ? 1 : 0;
out:
    free(t.v);
    unload(&A);
    unload(&B);
    return rc;
}
