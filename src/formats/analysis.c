/*
 * analysis.c — DevTools' graph analysis (spec §4.4; FE HeapSnapshot.ts
 * initialize(): calculateFlags → calculateDistances → calculateShallowSizes →
 * buildDominatorTreeAndCalculateRetainedSizes → calculateObjectNames), the
 * same rules in the same order, written from those rules over
 * hs_snapfile's arrays. See analysis.h for the memory it takes.
 *
 * Not done here: DOM-state propagation (the "Detached " renaming of native
 * nodes) and the Summary's refinements of class keys (locations, plain
 * objects' property lists, interfaces); they change no number above.
 */
#include "analysis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 2, 3))) static void fail(hs_read_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
    err->offset = 0;
}

static int type_index(char **names, uint32_t count, const char *name)
{
    for (uint32_t i = 0; i < count; i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

/* ---------- a small string hash table (keys not owned) ---------- */

typedef struct strtab {
    const char **keys; /* NULL: empty; TOMB: deleted */
    uint32_t *vals;
    size_t cap, used; /* used counts live keys and tombstones */
} strtab;

static const char TOMB[1];

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int strtab_grow(strtab *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 64;
    const char **keys = calloc(ncap, sizeof *keys);
    uint32_t *vals = calloc(ncap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    size_t used = 0;
    for (size_t i = 0; i < t->cap; i++) {
        const char *k = t->keys[i];
        if (!k || k == TOMB)
            continue;
        size_t j = str_hash(k) & (ncap - 1);
        while (keys[j])
            j = (j + 1) & (ncap - 1);
        keys[j] = k;
        vals[j] = t->vals[i];
        used++;
    }
    free(t->keys);
    free(t->vals);
    t->keys = keys;
    t->vals = vals;
    t->cap = ncap;
    t->used = used;
    return 0;
}

/* The slot holding key, or SIZE_MAX. */
static size_t strtab_find(const strtab *t, const char *key)
{
    if (!t->cap)
        return SIZE_MAX;
    for (size_t j = str_hash(key) & (t->cap - 1);; j = (j + 1) & (t->cap - 1)) {
        const char *k = t->keys[j];
        if (!k)
            return SIZE_MAX;
        if (k != TOMB && strcmp(k, key) == 0)
            return j;
    }
}

static int strtab_put(strtab *t, const char *key, uint32_t val)
{
    if ((t->used + 1) * 2 > t->cap && strtab_grow(t) < 0)
        return -1;
    size_t j = str_hash(key) & (t->cap - 1);
    while (t->keys[j] && t->keys[j] != TOMB)
        j = (j + 1) & (t->cap - 1);
    if (!t->keys[j])
        t->used++;
    t->keys[j] = key;
    t->vals[j] = val;
    return 0;
}

static void strtab_free(strtab *t)
{
    free(t->keys);
    free(t->vals);
    memset(t, 0, sizeof *t);
}

/* ---------- the WeakMap ephemeron edge name ---------- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Does the text [b, e) end with suffix? */
static int ends_with(const char *b, const char *e, const char *suffix)
{
    size_t n = strlen(suffix);
    return (size_t)(e - b) >= n && memcmp(e - n, suffix, n) == 0;
}

/* [b, e) ends with " @" digits: returns where " @" starts, else NULL. */
static const char *at_id_before(const char *b, const char *e)
{
    const char *p = e;
    while (p > b && is_digit(p[-1]))
        p--;
    if (p == e || !ends_with(b, p, " @"))
        return NULL;
    return p - 2;
}

/*
 * DevTools' tryParseWeakMapEdgeName: the name matches
 *   ^\d+( / part of key \(.*? @\d+\) -> value \(.*? @\d+\) pair in WeakMap \(table @(\d+)\))$
 * (the last ")" closes the group: the name ends "(table @N)").
 * Then *dup is the parenthesised part and *table the table's id.
 */
static int weakmap_edge(const char *name, const char **dup, uint64_t *table)
{
    const char *p = name, *end = name + strlen(name);
    while (is_digit(*p))
        p++;
    if (p == name)
        return 0;
    static const char key[] = " / part of key (";
    if (strncmp(p, key, sizeof key - 1) != 0)
        return 0;
    const char *mid = p + sizeof key - 1;
    if (!ends_with(mid, end, ")"))
        return 0;
    const char *digits_end = end - 1, *q = digits_end;
    while (q > mid && is_digit(q[-1]))
        q--;
    if (q == digits_end)
        return 0;
    static const char tail[] = ") pair in WeakMap (table @";
    if (!ends_with(mid, q, tail))
        return 0;
    uint64_t id = 0;
    for (const char *d = q; d < digits_end; d++)
        id = id * 10 + (uint64_t)(*d - '0');
    /* mid .. value_end must be ".*? @\d+\) -> value \(.*? @\d+" */
    const char *value_end = q - (sizeof tail - 1);
    const char *v_at = at_id_before(mid, value_end);
    if (!v_at)
        return 0;
    static const char arrow[] = ") -> value (";
    int ok = 0;
    for (const char *a = strstr(mid, arrow); a && a + sizeof arrow - 1 <= v_at;
         a = strstr(a + 1, arrow))
        if (at_id_before(mid, a)) {
            ok = 1;
            break;
        }
    if (!ok)
        return 0;
    *dup = p;
    *table = id;
    return 1;
}

/* JavaScript's parseInt(s, 10) >= 0 and its value, or -1 for NaN. */
static int64_t js_parse_int(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\v' || *s == '\f')
        s++;
    int neg = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!is_digit(*s))
        return -1;
    int64_t v = 0;
    for (; is_digit(*s) && v < ((int64_t)1 << 52); s++)
        v = v * 10 + (*s - '0');
    return neg ? -v - 1000000 : v; /* negative: < 2, so "index < 2" holds as in JS */
}

/* ---------- the pipeline ---------- */

typedef struct ctx {
    const hs_snapfile *s;
    int t_hidden, t_array, t_synthetic, t_object, t_native, t_code, t_closure, t_regexp;
    int e_weak, e_shortcut, e_element, e_internal, e_hidden;
} ctx;

static int edge_has_string_name(const ctx *c, uint32_t e)
{
    int t = c->s->edge_type[e];
    return t != c->e_element && t != c->e_hidden;
}

static int is_user_root(const ctx *c, uint32_t v)
{
    if (c->s->node_type[v] != c->t_synthetic)
        return 1;
    return strcmp(hs_snapfile_str(c->s, c->s->node_name[v]), "(Document DOM trees)") == 0;
}

/* JSHeapSnapshot.calculateDistances' filter: may the BFS follow e out of v? */
static int distance_filter(const ctx *c, strtab *pending, uint32_t v, uint32_t e, int *oom)
{
    const hs_snapfile *s = c->s;
    int vt = s->node_type[v], et = s->edge_type[e];
    if (vt == c->t_hidden && edge_has_string_name(c, e) &&
        strcmp(hs_snapfile_str(s, s->edge_name[e]), "sloppy_function_map") == 0 &&
        strcmp(hs_snapfile_str(s, s->node_name[v]), "system / NativeContext") == 0)
        return 0;
    if (vt == c->t_array && strcmp(hs_snapfile_str(s, s->node_name[v]), "(map descriptors)") == 0) {
        int64_t index = edge_has_string_name(c, e)
                            ? js_parse_int(hs_snapfile_str(s, s->edge_name[e]))
                            : (int64_t)s->edge_name[e];
        if (index == -1) /* NaN: index < 2 is false, NaN % 3 !== 1 is true */
            return 1;
        return index < 2 || index % 3 != 1;
    }
    if (et == c->e_internal) {
        const char *dup;
        uint64_t table;
        if (weakmap_edge(hs_snapfile_str(s, s->edge_name[e]), &dup, &table)) {
            size_t slot = strtab_find(pending, dup);
            if (slot != SIZE_MAX) {
                pending->keys[slot] = TOMB;
                return 1;
            }
            if (strtab_put(pending, dup, 0) < 0)
                *oom = 1;
            return 0;
        }
    }
    return 1;
}

static void bfs(const ctx *c, strtab *pending, uint32_t *queue, size_t len, int32_t *dist, int *oom)
{
    const hs_snapfile *s = c->s;
    for (size_t i = 0; i < len; i++) {
        uint32_t v = queue[i];
        int32_t d = dist[v] + 1;
        for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++) {
            if (s->edge_type[e] == c->e_weak)
                continue;
            uint32_t w = s->edge_to[e];
            if (dist[w] != HS_DISTANCE_NONE)
                continue;
            if (!distance_filter(c, pending, v, e, oom))
                continue;
            dist[w] = d;
            queue[len++] = w;
        }
    }
}

static int distances(const ctx *c, int32_t *dist, int *has_user_roots)
{
    const hs_snapfile *s = c->s;
    uint32_t n = s->node_count;
    uint32_t root_edges = s->first_edge[1] - s->first_edge[0];
    uint32_t *queue = malloc(((size_t)n + root_edges + 1) * sizeof *queue);
    if (!queue)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        dist[i] = HS_DISTANCE_NONE;
    size_t len = 0;
    for (uint32_t e = s->first_edge[0]; e < s->first_edge[1]; e++) {
        uint32_t w = s->edge_to[e];
        if (is_user_root(c, w)) {
            dist[w] = 1;
            queue[len++] = w;
        }
    }
    *has_user_roots = len > 0;
    strtab pending = {0};
    int oom = 0;
    bfs(c, &pending, queue, len, dist, &oom);
    dist[0] = len > 0 ? HS_DISTANCE_SYSTEM : 0;
    queue[0] = 0;
    bfs(c, &pending, queue, 1, dist, &oom);
    strtab_free(&pending);
    free(queue);
    return oom ? -1 : 0;
}

/* JSHeapSnapshot.calculateShallowSizes, when there are user roots. */
static int shallow_sizes(const ctx *c, uint64_t *self)
{
    const hs_snapfile *s = c->s;
    uint32_t n = s->node_count;
    const uint32_t unvisited = 0xffffffffu, multiple = 0xfffffffeu;
    uint32_t *owners = malloc((size_t)n * sizeof *owners);
    /* Each node enters the worklist at most twice. */
    uint32_t *work = malloc(2 * (size_t)n * sizeof *work);
    if (!owners || !work) {
        free(owners);
        free(work);
        return -1;
    }
    size_t len = 0;
    for (uint32_t i = 0; i < n; i++) {
        int t = s->node_type[i];
        if (t == c->t_hidden || t == c->t_array) {
            owners[i] = unvisited;
        } else {
            owners[i] = i;
            work[len++] = i;
        }
    }
    while (len) {
        uint32_t id = work[--len], owner = owners[id];
        for (uint32_t e = s->first_edge[id]; e < s->first_edge[id + 1]; e++) {
            if (s->edge_type[e] == c->e_weak)
                continue;
            uint32_t t = s->edge_to[e], o = owners[t];
            if (o == unvisited) {
                owners[t] = owner;
                work[len++] = t;
            } else if (o == t || o == owner || o == multiple) {
                /* nothing changes */
            } else {
                owners[t] = multiple;
                work[len++] = t;
            }
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t o = owners[i];
        if (o == unvisited || o == multiple || o == i)
            continue;
        if (s->node_type[o] == c->t_synthetic || o == 0)
            continue;
        self[o] += self[i];
        self[i] = 0;
    }
    free(owners);
    free(work);
    return 0;
}

/* JSHeapSnapshot.markPageOwnedNodes: 1 per page-owned node. */
static int page_owned(const ctx *c, uint8_t *flags)
{
    const hs_snapfile *s = c->s;
    uint32_t n = s->node_count;
    uint32_t root_edges = s->first_edge[1] - s->first_edge[0];
    uint32_t *stack = malloc(((size_t)n + root_edges + 1) * sizeof *stack);
    if (!stack)
        return -1;
    memset(flags, 0, n);
    size_t len = 0;
    for (uint32_t e = s->first_edge[0]; e < s->first_edge[1]; e++) {
        int t = s->edge_type[e];
        uint32_t w = s->edge_to[e];
        if (t == c->e_element) {
            if (!(s->node_type[w] == c->t_synthetic &&
                  strcmp(hs_snapfile_str(s, s->node_name[w]), "(Document DOM trees)") == 0))
                continue;
        } else if (t != c->e_shortcut) {
            continue;
        }
        stack[len++] = w;
        flags[w] = 1;
    }
    while (len) {
        uint32_t v = stack[--len];
        for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++) {
            uint32_t w = s->edge_to[e];
            if (flags[w] || s->edge_type[e] == c->e_weak)
                continue;
            stack[len++] = w;
            flags[w] = 1;
        }
    }
    free(stack);
    return 0;
}

/* HeapSnapshot.computeIsEssentialEdge for edge e out of v. */
static int essential(const ctx *c, const uint8_t *flags, uint32_t v, uint32_t e)
{
    const hs_snapfile *s = c->s;
    int t = s->edge_type[e];
    if (t == c->e_internal) {
        const char *dup;
        uint64_t table;
        if (weakmap_edge(hs_snapfile_str(s, s->edge_name[e]), &dup, &table) &&
            table == s->node_id[v])
            return 0;
    }
    if (t == c->e_weak)
        return 0;
    uint32_t w = s->edge_to[e];
    if (v == w)
        return 0;
    if (v != 0) {
        if (t == c->e_shortcut)
            return 0;
        if (flags[w] && !flags[v])
            return 0;
    }
    return 1;
}

#define BIT(bits, i) ((bits)[(i) >> 6] >> ((i)&63) & 1)

/*
 * HeapSnapshot.buildDominatorTreeAndCalculateRetainedSizes: Lengauer–Tarjan
 * (simple eval/link, iterative DFS and compression), 1-based vertices, with
 * DevTools' handling of nodes the DFS from the root does not reach.
 */
/* Lengauer–Tarjan's eval: compresses v's ancestor path (iteratively, with
 * stack as scratch) and returns the vertex of least semi on it; v itself
 * when v is a forest root. */
static inline uint32_t lt_eval(uint32_t v, uint32_t *ancestor, uint32_t *label,
                               const uint32_t *semi, uint32_t *stack)
{
    if (ancestor[v] == 0)
        return v;
    uint32_t x = v, sp = 0;
    while (ancestor[ancestor[x]] != 0) {
        stack[++sp] = x;
        x = ancestor[x];
    }
    while (sp > 0) {
        uint32_t y = stack[sp--];
        if (semi[label[ancestor[y]]] < semi[label[y]])
            label[y] = label[ancestor[y]];
        ancestor[y] = ancestor[ancestor[y]];
    }
    return label[v];
}

static int dominators(const ctx *c, const uint64_t *ess, const uint64_t *self, hs_analysis *a)
{
    const hs_snapfile *s = c->s;
    uint32_t count = s->node_count;
    size_t len = (size_t)count + 1;
    int rc = -1;

    /* Essential retainers of each node (only they matter below). */
    uint32_t *first_ret = calloc(len + 1, sizeof *first_ret);
    uint32_t *ret_src = NULL;
    uint32_t *parent = calloc(len, 4), *ancestor = calloc(len, 4), *vertex = calloc(len, 4);
    uint32_t *label = calloc(len, 4), *semi = calloc(len, 4), *dom = calloc(len, 4);
    uint32_t *next_edge = calloc(len, 4), *stack = NULL;
    uint32_t *bucket = calloc(len, 4), *bucket_next = calloc(len, 4);
    if (!first_ret || !parent || !ancestor || !vertex || !label || !semi || !dom || !next_edge ||
        !bucket || !bucket_next)
        goto out;
    uint64_t ess_count = 0;
    for (uint32_t v = 0; v < count; v++)
        for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++)
            if (BIT(ess, e)) {
                first_ret[s->edge_to[e] + 1]++;
                ess_count++;
            }
    for (uint32_t v = 0; v < count; v++)
        first_ret[v + 1] += first_ret[v];
    ret_src = malloc((ess_count ? ess_count : 1) * sizeof *ret_src);
    if (!ret_src)
        goto out;
    /* Fill using next_edge as the per-node cursor. */
    for (uint32_t v = 0; v < count; v++)
        next_edge[v] = first_ret[v];
    for (uint32_t v = 0; v < count; v++)
        for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++)
            if (BIT(ess, e))
                ret_src[next_edge[s->edge_to[e]]++] = v;

    uint32_t n = 0;
    const uint32_t r = 1; /* the root, node 0 */
/* Iterative DFS over essential edges from root (vertex numbers). */
#define DFS(start)                                                                                 \
    do {                                                                                           \
        uint32_t v_ = (start);                                                                     \
        next_edge[v_ - 1] = s->first_edge[v_ - 1];                                                 \
        while (v_ != 0) {                                                                          \
            if (semi[v_] == 0) {                                                                   \
                semi[v_] = ++n;                                                                    \
                vertex[n] = label[v_] = v_;                                                        \
            }                                                                                      \
            uint32_t vnext_ = parent[v_], vo_ = v_ - 1;                                            \
            for (; next_edge[vo_] < s->first_edge[vo_ + 1]; next_edge[vo_]++) {                    \
                uint32_t e_ = next_edge[vo_];                                                      \
                if (!BIT(ess, e_))                                                                 \
                    continue;                                                                      \
                uint32_t wo_ = s->edge_to[e_], w_ = wo_ + 1;                                       \
                if (semi[w_] == 0) {                                                               \
                    parent[w_] = v_;                                                               \
                    next_edge[wo_] = s->first_edge[wo_];                                           \
                    vnext_ = w_;                                                                   \
                    break;                                                                         \
                }                                                                                  \
            }                                                                                      \
            v_ = vnext_;                                                                           \
        }                                                                                          \
    } while (0)

    DFS(r);
    if (n < count) {
        /* Orphans with only weak (non-essential) retainers: a DFS from each. */
        for (uint32_t v = 1; v <= count; v++) {
            if (semi[v] == 0 && first_ret[v - 1] == first_ret[v]) {
                a->weak_only_count++;
                parent[v] = r;
                DFS(v);
            }
        }
    }
    if (n < count) {
        /* Cliques retained only by one another: each hung under the root. */
        for (uint32_t v = 1; v <= count; v++) {
            if (semi[v] == 0) {
                a->unreachable_count++;
                parent[v] = r;
                semi[v] = ++n;
                vertex[n] = label[v] = v;
            }
        }
    }
#undef DFS
    stack = next_edge; /* the DFS is over: its cursors become eval's compression stack */

    const uint32_t none = 0; /* empty bucket / list end (vertex 0 never exists) */
    for (uint32_t i = n; i >= 2; i--) {
        uint32_t w = vertex[i], wo = w - 1;
        int orphan = 1;
        for (uint32_t k = first_ret[wo]; k < first_ret[wo + 1]; k++) {
            orphan = 0;
            uint32_t u = lt_eval(ret_src[k] + 1, ancestor, label, semi, stack);
            if (semi[u] < semi[w])
                semi[w] = semi[u];
        }
        if (orphan)
            semi[w] = semi[r];
        uint32_t sd = vertex[semi[w]];
        bucket_next[w] = bucket[sd];
        bucket[sd] = w;
        ancestor[w] = parent[w]; /* link */
        uint32_t p = parent[w];
        for (uint32_t v = bucket[p]; v != none; v = bucket_next[v]) {
            uint32_t u = lt_eval(v, ancestor, label, semi, stack);
            dom[v] = semi[u] < semi[v] ? u : p;
        }
        bucket[p] = none;
    }
    dom[0] = dom[r] = r;
    for (uint32_t i = 2; i <= n; i++) {
        uint32_t w = vertex[i];
        if (dom[w] != vertex[semi[w]])
            dom[w] = dom[dom[w]];
    }
    for (uint32_t v = 0; v < count; v++) {
        a->dominator[v] = dom[v + 1] - 1;
        a->retained[v] = self[v];
    }
    for (uint32_t i = n; i > 1; i--) {
        uint32_t v = vertex[i] - 1;
        a->retained[a->dominator[v]] += a->retained[v];
    }
    rc = 0;
out:
    free(first_ret);
    free(ret_src);
    free(parent);
    free(ancestor);
    free(vertex);
    free(label);
    free(semi);
    free(dom);
    free(next_edge);
    free(bucket);
    free(bucket_next);
    return rc;
}

/* HeapSnapshot.calculateObjectNames' class of node v, interned. */
static int add_class(hs_analysis *a, strtab *tab, const char *name, uint32_t *out)
{
    size_t slot = strtab_find(tab, name);
    if (slot != SIZE_MAX) {
        *out = tab->vals[slot];
        return 0;
    }
    if ((a->class_count & (a->class_count - 1)) == 0) { /* 0, 1, 2, 4, ...: grow */
        size_t ncap = a->class_count ? (size_t)a->class_count * 2 : 16;
        char **nn = realloc(a->class_names, ncap * sizeof *nn);
        if (!nn)
            return -1;
        a->class_names = nn;
    }
    char *copy = strdup(name);
    if (!copy || strtab_put(tab, copy, a->class_count) < 0) {
        free(copy);
        return -1;
    }
    *out = a->class_count;
    a->class_names[a->class_count++] = copy;
    return 0;
}

static int class_names(const ctx *c, hs_analysis *a)
{
    const hs_snapfile *s = c->s;
    strtab tab = {0};
    char *buf = NULL;
    size_t bufcap = 0;
    int rc = -1;
    for (uint32_t v = 0; v < s->node_count; v++) {
        int t = s->node_type[v];
        const char *name;
        char small[64];
        if (t == c->t_hidden) {
            name = "(system)";
        } else if (t == c->t_code) {
            name = "(compiled code)";
        } else if (t == c->t_closure) {
            name = "Function";
        } else if (t == c->t_regexp) {
            name = "RegExp";
        } else if (t == c->t_object || t == c->t_native) {
            name = hs_snapfile_str(s, s->node_name[v]);
            size_t from = 0;
            if (name[0] == '<')
                from = 0;
            else if (strncmp(name, "Detached <", 10) == 0)
                from = 10;
            else
                goto have;
            const char *sp = strchr(name + from, ' ');
            if (sp) {
                size_t k = (size_t)(sp - name);
                if (k + 2 > bufcap) {
                    char *nb = realloc(buf, k + 2);
                    if (!nb)
                        goto out;
                    buf = nb;
                    bufcap = k + 2;
                }
                memcpy(buf, name, k);
                buf[k] = '>';
                buf[k + 1] = 0;
                name = buf;
            }
        } else {
            const char *tn =
                t < (int)s->node_type_count && s->node_type_names[t] ? s->node_type_names[t] : "";
            snprintf(small, sizeof small, "(%s)", tn);
            name = small;
        }
    have:
        if (add_class(a, &tab, name, &a->class_index[v]) < 0)
            goto out;
    }
    rc = 0;
out:
    free(buf);
    strtab_free(&tab);
    return rc;
}

int hs_analyze(const hs_snapfile *s, hs_analysis *out, hs_read_error *err)
{
    memset(out, 0, sizeof *out);
    uint32_t n = s->node_count;
    if (n == 0) {
        fail(err, "analysis: the snapshot has no nodes (no root)");
        return -1;
    }
    if (n >= 0xfffffffeu) {
        fail(err, "analysis: too many nodes (%u)", n);
        return -1;
    }
    if (s->first_edge[0] != 0 || s->first_edge[n] != s->edge_count) {
        fail(err, "analysis: the edge index does not cover the %u edges", s->edge_count);
        return -1;
    }
    for (uint32_t v = 0; v < n; v++)
        if (s->first_edge[v] > s->first_edge[v + 1]) {
            fail(err, "analysis: node %u's edges run backwards", v);
            return -1;
        }
    for (uint32_t e = 0; e < s->edge_count; e++)
        if (s->edge_to[e] >= n) {
            fail(err, "analysis: edge %u goes to node %u of %u", e, s->edge_to[e], n);
            return -1;
        }

    ctx c = {.s = s};
    char **nt = s->node_type_names, **et = s->edge_type_names;
    uint32_t ntc = s->node_type_count, etc = s->edge_type_count;
    c.t_hidden = type_index(nt, ntc, "hidden");
    c.t_array = type_index(nt, ntc, "array");
    c.t_synthetic = type_index(nt, ntc, "synthetic");
    c.t_object = type_index(nt, ntc, "object");
    c.t_native = type_index(nt, ntc, "native");
    c.t_code = type_index(nt, ntc, "code");
    c.t_closure = type_index(nt, ntc, "closure");
    c.t_regexp = type_index(nt, ntc, "regexp");
    c.e_weak = type_index(et, etc, "weak");
    c.e_shortcut = type_index(et, etc, "shortcut");
    c.e_element = type_index(et, etc, "element");
    c.e_internal = type_index(et, etc, "internal");
    c.e_hidden = type_index(et, etc, "hidden");

    out->node_count = n;
    out->distance = malloc((size_t)n * sizeof *out->distance);
    out->self = malloc((size_t)n * sizeof *out->self);
    out->dominator = malloc((size_t)n * sizeof *out->dominator);
    out->retained = malloc((size_t)n * sizeof *out->retained);
    out->class_index = malloc((size_t)n * sizeof *out->class_index);
    uint8_t *flags = malloc(n);
    uint64_t *ess = calloc(((size_t)s->edge_count + 63) / 64 + 1, sizeof *ess);
    if (!out->distance || !out->self || !out->dominator || !out->retained || !out->class_index ||
        !flags || !ess)
        goto oom;

    if (distances(&c, out->distance, &out->has_user_roots) < 0)
        goto oom;
    memcpy(out->self, s->node_self, (size_t)n * sizeof *out->self);
    if (out->has_user_roots && shallow_sizes(&c, out->self) < 0)
        goto oom;
    if (page_owned(&c, flags) < 0)
        goto oom;
    for (uint32_t v = 0; v < n; v++)
        for (uint32_t e = s->first_edge[v]; e < s->first_edge[v + 1]; e++)
            if (essential(&c, flags, v, e))
                ess[e >> 6] |= (uint64_t)1 << (e & 63);
    free(flags);
    flags = NULL;
    if (dominators(&c, ess, out->self, out) < 0)
        goto oom;
    free(ess);
    ess = NULL;
    out->total_size = out->retained[0] + s->extra_native_bytes;
    if (class_names(&c, out) < 0)
        goto oom;
    return 0;
oom:
    free(flags);
    free(ess);
    hs_analysis_free(out);
    fail(err, "analysis: out of memory for %u nodes and %u edges", n, s->edge_count);
    return -1;
}

void hs_analysis_free(hs_analysis *a)
{
    free(a->distance);
    free(a->self);
    free(a->dominator);
    free(a->retained);
    free(a->class_index);
    for (uint32_t i = 0; i < a->class_count; i++)
        free(a->class_names[i]);
    free(a->class_names);
    memset(a, 0, sizeof *a);
}
