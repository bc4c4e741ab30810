/*
 * sampling_profile.c — the SamplingHeapProfile built from the sampler's
 * samples, as V8 builds it (spec §3): a call tree under "(root)" (id 1), one
 * node per function per parent, each node's selfSize the ScaleSample
 * estimate of its samples, and every sample with its node id and ordinal.
 *
 * The tree lives from the start of sampling to its stop, so node ids stay
 * stable across getSamplingProfile calls. V8 adds a node when a sample
 * arrives and removes it when its last sample dies; here samples are read
 * when a profile is built, so nodes are added then, and a node left without
 * samples is removed then: a function that comes back later gets a new id,
 * as in V8. Ids are never reused.
 *
 * Symbols come from the symbolizer, per pc, cached here for the tree's life.
 * Runs on the service thread or at exit; a mutex serialises callers.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heapscope/hs_err.h"
#include "hs_outpath.h"
#include "profile.h"
#include "symbolize.h"

#define NO_STACK_KEY UINT64_MAX

struct size_count {
    uint64_t size;
    uint64_t count;
};

struct pnode {
    uint64_t key; /* the function: hs_sym.func_key */
    uint32_t id;
    const char *function, *url; /* owned by the symbolizer (or static) */
    uint32_t script_id;
    int32_t line, column;
    struct pnode **kids; /* sorted by key */
    uint32_t nkids, kcap;
    /* per build */
    struct size_count *sizes;
    uint32_t nsizes, scap;
    uint64_t samples_below; /* in this subtree */
};

struct pc_entry {
    uintptr_t pc; /* 0 = empty */
    hs_sym sym;
};

struct out_sample {
    uint64_t size;
    uint64_t ordinal;
    uint32_t node;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct pnode *root;
static uint32_t last_node_id;
static uint64_t rate;
static struct pc_entry *pcs_tab;
static size_t pcs_cap, pcs_used;

/* ---- symbols per pc ------------------------------------------------------------------ */

static const hs_sym *sym_of(uintptr_t pc)
{
    if (pcs_used * 2 >= pcs_cap) {
        size_t cap = pcs_cap ? 2 * pcs_cap : 1024;
        struct pc_entry *nt = calloc(cap, sizeof(*nt));
        if (!nt)
            return NULL;
        for (size_t i = 0; i < pcs_cap; i++) {
            if (!pcs_tab[i].pc)
                continue;
            size_t j = (pcs_tab[i].pc * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
            while (nt[j].pc)
                j = (j + 1) & (cap - 1);
            nt[j] = pcs_tab[i];
        }
        free(pcs_tab);
        pcs_tab = nt;
        pcs_cap = cap;
    }
    size_t j = (pc * 0x9E3779B97F4A7C15ull >> 20) & (pcs_cap - 1);
    while (pcs_tab[j].pc && pcs_tab[j].pc != pc)
        j = (j + 1) & (pcs_cap - 1);
    if (!pcs_tab[j].pc) {
        pcs_tab[j].pc = pc;
        hs__sym_resolve(pc, &pcs_tab[j].sym); /* fills the unknown form on failure */
        pcs_used++;
    }
    return &pcs_tab[j].sym;
}

/* ---- the tree ------------------------------------------------------------------------ */

static struct pnode *node_new(uint64_t key, const char *function, const char *url,
                              uint32_t script_id, int32_t line, int32_t column)
{
    struct pnode *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->key = key;
    n->id = ++last_node_id;
    n->function = function;
    n->url = url;
    n->script_id = script_id;
    n->line = line;
    n->column = column;
    return n;
}

static void node_free(struct pnode *n)
{
    if (!n)
        return;
    for (uint32_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->sizes);
    free(n);
}

/* The child of parent for key, created if absent; NULL when out of memory. */
static struct pnode *child(struct pnode *parent, uint64_t key, const hs_sym *sym)
{
    uint32_t lo = 0, hi = parent->nkids;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (parent->kids[mid]->key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < parent->nkids && parent->kids[lo]->key == key)
        return parent->kids[lo];
    if (parent->nkids == parent->kcap) {
        uint32_t cap = parent->kcap ? 2 * parent->kcap : 4;
        struct pnode **nk = realloc(parent->kids, cap * sizeof(*nk));
        if (!nk)
            return NULL;
        parent->kids = nk;
        parent->kcap = cap;
    }
    struct pnode *n =
        sym ? node_new(key, sym->function, sym->url, sym->script_id, sym->line, sym->column)
            : node_new(key, "(no stack)", "", 0, -1, -1);
    if (!n)
        return NULL;
    memmove(&parent->kids[lo + 1], &parent->kids[lo], (parent->nkids - lo) * sizeof(*parent->kids));
    parent->kids[lo] = n;
    parent->nkids++;
    return n;
}

static int add_size(struct pnode *n, uint64_t size)
{
    for (uint32_t i = 0; i < n->nsizes; i++)
        if (n->sizes[i].size == size) {
            n->sizes[i].count++;
            return 0;
        }
    if (n->nsizes == n->scap) {
        uint32_t cap = n->scap ? 2 * n->scap : 4;
        struct size_count *ns = realloc(n->sizes, cap * sizeof(*ns));
        if (!ns)
            return HS_E_NOMEM;
        n->sizes = ns;
        n->scap = cap;
    }
    n->sizes[n->nsizes++] = (struct size_count){size, 1};
    return 0;
}

static void reset_counts(struct pnode *n)
{
    n->nsizes = 0;
    n->samples_below = 0;
    for (uint32_t i = 0; i < n->nkids; i++)
        reset_counts(n->kids[i]);
}

/* Removes the subtrees that hold no sample any more. */
static void prune(struct pnode *n)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n->nkids; i++) {
        if (n->kids[i]->samples_below == 0) {
            node_free(n->kids[i]);
        } else {
            prune(n->kids[i]);
            n->kids[k++] = n->kids[i];
        }
    }
    n->nkids = k;
}

/* ---- building ------------------------------------------------------------------------ */

struct collect {
    struct hs_sample_view *v;
    size_t n, cap;
    int err;
};

static int collect_cb(const struct hs_sample_view *v, void *arg)
{
    struct collect *c = arg;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 1024;
        struct hs_sample_view *nv = realloc(c->v, cap * sizeof(*nv));
        if (!nv) {
            c->err = HS_E_NOMEM;
            return 1;
        }
        c->v = nv;
        c->cap = cap;
    }
    c->v[c->n++] = *v;
    return 0;
}

unsigned hs__profile_scale(uint64_t size, uint64_t count, uint64_t r)
{
    double scale = 1.0 / (1.0 - exp(-(double)size / (double)r));
    return (unsigned)((double)count * scale + 0.5);
}

/* Inserts one sample's stack (outermost frame first) and returns its leaf. */
static struct pnode *insert_stack(const struct hs_sample_view *v)
{
    const uintptr_t *pcs = NULL;
    int n = v->stack ? hs__sampler_stack(v->stack, &pcs) : 0;
    struct pnode *node = root;
    if (n == 0)
        return child(root, NO_STACK_KEY, NULL);
    for (int i = n - 1; i >= 0 && node; i--) {
        const hs_sym *s = sym_of(pcs[i]);
        if (!s)
            return NULL;
        node = child(node, s->func_key, s);
    }
    return node;
}

static json_t *node_json(const struct pnode *n)
{
    json_t *kids = json_array();
    for (uint32_t i = 0; i < n->nkids; i++)
        json_array_append_new(kids, node_json(n->kids[i]));
    uint64_t self = 0;
    for (uint32_t i = 0; i < n->nsizes; i++)
        self += n->sizes[i].size * hs__profile_scale(n->sizes[i].size, n->sizes[i].count, rate);
    char sid[16];
    snprintf(sid, sizeof(sid), "%u", n->script_id);
    return json_pack("{s:{s:s,s:s,s:s,s:i,s:i},s:I,s:I,s:o}", "callFrame", "functionName",
                     n->function, "scriptId", sid, "url", n->url, "lineNumber", n->line,
                     "columnNumber", n->column, "selfSize", (json_int_t)self, "id",
                     (json_int_t)n->id, "children", kids);
}

static uint64_t count_below(struct pnode *n)
{
    uint64_t t = 0;
    for (uint32_t i = 0; i < n->nsizes; i++)
        t += n->sizes[i].count;
    for (uint32_t i = 0; i < n->nkids; i++)
        t += count_below(n->kids[i]);
    n->samples_below = t;
    return t;
}

static json_t *samples_json(const struct out_sample *out, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        uint64_t size = out[i].size * hs__profile_scale(out[i].size, 1, rate);
        if (json_array_append_new(a, json_pack("{s:I,s:I,s:I}", "size", (json_int_t)size, "nodeId",
                                               (json_int_t)out[i].node, "ordinal",
                                               (json_int_t)out[i].ordinal)) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *build_locked(int *err)
{
    struct hs_sample_params p;
    if (!hs__sampler_running(&p)) {
        *err = HS_E_STATE;
        return NULL;
    }
    rate = p.interval;
    if (!root && !(root = node_new(0, "(root)", "", 0, -1, -1))) {
        *err = HS_E_NOMEM;
        return NULL;
    }
    struct collect c = {NULL, 0, 0, 0};
    hs__sampler_foreach(collect_cb, &c);
    struct out_sample *out = c.err ? NULL : malloc((c.n ? c.n : 1) * sizeof(*out));
    if (!out) {
        free(c.v);
        *err = HS_E_NOMEM;
        return NULL;
    }
    reset_counts(root);
    size_t nout = 0;
    for (size_t i = 0; i < c.n; i++) {
        struct pnode *leaf = insert_stack(&c.v[i]);
        if (!leaf || add_size(leaf, c.v[i].size) < 0)
            continue; /* out of memory: the sample is left out */
        out[nout++] = (struct out_sample){c.v[i].size, c.v[i].ordinal, leaf->id};
    }
    free(c.v);
    count_below(root);
    prune(root);
    json_t *head = node_json(root);
    json_t *samples = samples_json(out, nout);
    free(out);
    json_t *profile =
        head && samples ? json_pack("{s:o,s:o}", "head", head, "samples", samples) : NULL;
    if (!profile) {
        if (!head || !samples) {
            json_decref(head);
            json_decref(samples);
        }
        *err = HS_E_NOMEM;
    }
    return profile;
}

static void forget_locked(void)
{
    node_free(root);
    root = NULL;
    last_node_id = 0;
    free(pcs_tab);
    pcs_tab = NULL;
    pcs_cap = pcs_used = 0;
}

/* ---- control ------------------------------------------------------------------------- */

int hs__profile_start(const struct hs_sample_params *p)
{
    pthread_mutex_lock(&mu);
    int rc = hs__sampler_start(p);
    if (rc == 0)
        forget_locked(); /* a new profiler: node ids and ordinals from 1 */
    pthread_mutex_unlock(&mu);
    return rc;
}

json_t *hs__profile_get(int *err)
{
    pthread_mutex_lock(&mu);
    json_t *j = build_locked(err);
    pthread_mutex_unlock(&mu);
    return j;
}

json_t *hs__profile_stop(int *err)
{
    pthread_mutex_lock(&mu);
    json_t *j = build_locked(err);
    if (j) {
        hs__sampler_stop();
        forget_locked();
    }
    pthread_mutex_unlock(&mu);
    return j;
}

void hs__profile_discard(void)
{
    pthread_mutex_lock(&mu);
    hs__sampler_stop();
    forget_locked();
    pthread_mutex_unlock(&mu);
}

/* Compact, as DevTools saves a profile. */
static int dump_json(int fd, void *arg)
{
    return json_dumpfd(arg, fd, JSON_COMPACT) < 0 ? -EIO : 0;
}

int hs__profile_write(const char *path)
{
    int err = 0;
    json_t *j = hs__profile_get(&err);
    if (!j)
        return err;
    int rc = hs_outpath_write_file(path, dump_json, j);
    json_decref(j);
    return rc;
}
