/*
 * trace.c — allocation stacks in a snapshot, where the format has room for
 * them (spec §4.1: trace_function_infos, trace_tree, per-node trace_node_id).
 * While allocation sampling runs, every sampled live block has its stack:
 * before the pause the parent builds V8's allocation trace tree from them —
 * one node per distinct path of functions from the outermost frame, with the
 * estimated allocations (V8's ScaleSample) and their bytes — and a table from
 * each sampled block's address to its node, which the child reads.
 *
 * While the allocation timeline records stacks (trackAllocations) every
 * block allocated since its start has one, kept under its id
 * (track/timeline.c), and the counts are exact and, as V8's allocation
 * tracker counts them, cover every allocation since the start, freed ones
 * included (per-stack totals kept as the stacks are recorded). The child then
 * finds a block's node from its id: stack, then the stack's node.
 *
 * Parent only (it allocates and symbolizes); the child reads the result.
 */
#include <stdlib.h>
#include <string.h>

#include "../agent_int.h"
#include "heapscope/hs_err.h"
#include "profile.h"
#include "snapshot_int.h"
#include "symbolize.h"

struct build {
    struct hs_trace *t;
    uint64_t rate;
    uint32_t *stack_node; /* by stack id: its node + 1, 0 = not placed yet */
    uint32_t nstacks;
    int err;
};

static uint32_t func_index(struct hs_trace *t, const hs_sym *sym)
{
    for (uint32_t i = 1; i < t->nfuncs; i++) /* few distinct functions: a scan */
        if (t->funcs[i].key == sym->func_key)
            return i;
    if (t->nfuncs == t->funcs_cap) {
        uint32_t cap = t->funcs_cap ? 2 * t->funcs_cap : 64;
        struct hs_trace_func *nf = realloc(t->funcs, cap * sizeof(*nf));
        if (!nf)
            return 0;
        t->funcs = nf;
        t->funcs_cap = cap;
    }
    struct hs_trace_func *f = &t->funcs[t->nfuncs];
    f->key = sym->func_key;
    f->name = sym->function;
    f->script = sym->url;
    f->script_id = sym->script_id;
    /* 1-based here, 0 = unknown (V8's SerializePosition). */
    f->line = sym->line >= 0 ? (uint32_t)sym->line + 1 : 0;
    f->column = sym->column >= 0 ? (uint32_t)sym->column + 1 : 0;
    return t->nfuncs++;
}

static uint32_t node_child(struct hs_trace *t, uint32_t parent, uint32_t func)
{
    for (uint32_t c = t->nodes[parent].first_child; c; c = t->nodes[c].next_sibling)
        if (t->nodes[c].func == func)
            return c;
    if (t->nnodes == t->nodes_cap) {
        uint32_t cap = 2 * t->nodes_cap;
        struct hs_trace_node *nn = realloc(t->nodes, cap * sizeof(*nn));
        if (!nn)
            return 0;
        t->nodes = nn;
        t->nodes_cap = cap;
    }
    uint32_t n = t->nnodes++;
    memset(&t->nodes[n], 0, sizeof(t->nodes[n]));
    t->nodes[n].func = func;
    t->nodes[n].next_sibling = t->nodes[parent].first_child;
    t->nodes[parent].first_child = n;
    return n;
}

static int put_addr(struct hs_trace *t, uintptr_t addr, uint64_t size, uint32_t node)
{
    if ((t->nmap + 1) * 2 > t->map_cap) {
        size_t cap = t->map_cap ? 2 * t->map_cap : 1024;
        struct hs_trace_addr *nm = calloc(cap, sizeof(*nm));
        if (!nm)
            return HS_E_NOMEM;
        for (size_t i = 0; i < t->map_cap; i++)
            if (t->map[i].addr) {
                size_t j = hs__trace_slot(t->map[i].addr, cap);
                while (nm[j].addr)
                    j = (j + 1) & (cap - 1);
                nm[j] = t->map[i];
            }
        free(t->map);
        t->map = nm;
        t->map_cap = cap;
    }
    size_t j = hs__trace_slot(addr, t->map_cap);
    while (t->map[j].addr && t->map[j].addr != addr)
        j = (j + 1) & (t->map_cap - 1);
    if (!t->map[j].addr)
        t->nmap++;
    t->map[j].addr = addr;
    t->map[j].size = size;
    t->map[j].node = node;
    return 0;
}

/* The node of a stack's path of functions, outermost first; 0 for no stack
 * (or out of memory: b->err). */
static uint32_t stack_node(struct build *b, uint32_t stack)
{
    if (!stack)
        return 0;
    if (stack <= b->nstacks && b->stack_node[stack - 1])
        return b->stack_node[stack - 1] - 1;
    struct hs_trace *t = b->t;
    const uintptr_t *pcs = NULL;
    int n = hs__sampler_stack(stack, &pcs);
    uint32_t node = 0;
    for (int i = n - 1; i >= 0; i--) {
        hs_sym sym;
        hs__sym_resolve(pcs[i], &sym);
        uint32_t f = func_index(t, &sym);
        uint32_t c = f ? node_child(t, node, f) : 0;
        if (!c) {
            b->err = HS_E_NOMEM;
            return 0;
        }
        node = c;
    }
    if (stack <= b->nstacks)
        b->stack_node[stack - 1] = node + 1;
    return node;
}

static int sample_cb(const struct hs_sample_view *v, void *arg)
{
    if (!v->live)
        return 0; /* a freed block's kept sample: no block to attach it to */
    struct build *b = arg;
    struct hs_trace *t = b->t;
    uint32_t node = stack_node(b, v->stack);
    if (b->err)
        return 1;
    if (!node)
        return 0; /* no stack: nothing to attach */
    uint64_t count = hs__profile_scale(v->size, 1, b->rate);
    t->nodes[node].count += count;
    t->nodes[node].size += count * v->size;
    if (put_addr(t, v->addr, v->size, node) < 0) {
        b->err = HS_E_NOMEM;
        return 1;
    }
    return 0;
}

/* The timeline's exact counts: every stack's totals, freed blocks included. */
static void add_totals(struct build *b)
{
    for (uint32_t id = 1; id <= b->nstacks && !b->err; id++) {
        uint64_t allocs, bytes;
        hs__stack_timeline_totals(id, &allocs, &bytes);
        if (!allocs)
            continue; /* a sampling profile's stack only */
        uint32_t node = stack_node(b, id);
        if (node) {
            b->t->nodes[node].count += allocs;
            b->t->nodes[node].size += bytes;
        }
    }
}

int hs__trace_prepare(struct hs_trace *t)
{
    memset(t, 0, sizeof(*t));
    struct hs_sample_params p = {.interval = 1};
    int by_id = hs__timeline_stacks_active();
    if (!by_id && !hs__sampler_running(&p))
        return 0;
    t->funcs_cap = 64;
    t->nodes_cap = 256;
    t->funcs = calloc(t->funcs_cap, sizeof(*t->funcs));
    t->nodes = calloc(t->nodes_cap, sizeof(*t->nodes));
    if (!t->funcs || !t->nodes) {
        hs__trace_free(t);
        return HS_E_NOMEM;
    }
    t->funcs[0] = (struct hs_trace_func){.name = "(root)", .script = ""};
    t->nfuncs = 1;
    t->nnodes = 1; /* node 0 is the root, id 1 on the wire */
    struct build b = {.t = t, .rate = p.interval, .nstacks = hs__sampler_stack_count()};
    b.stack_node = calloc(b.nstacks ? b.nstacks : 1, sizeof(*b.stack_node));
    if (!b.stack_node)
        b.err = HS_E_NOMEM;
    if (!b.err && by_id)
        add_totals(&b);
    else if (!b.err)
        hs__sampler_foreach(sample_cb, &b);
    if (b.err) {
        free(b.stack_node);
        hs__trace_free(t);
        return b.err;
    }
    if (by_id) {
        t->by_id = 1;
        t->stack_node = b.stack_node;
        t->nstacks = b.nstacks;
        return 0;
    }
    free(b.stack_node);
    if (!t->nmap)
        hs__trace_free(t);
    return 0;
}

void hs__trace_free(struct hs_trace *t)
{
    free(t->funcs);
    free(t->nodes);
    free(t->map);
    free(t->stack_node);
    memset(t, 0, sizeof(*t));
}

uint32_t hs__trace_node_of(const struct hs_trace *t, uintptr_t addr, uint64_t size, uint32_t id)
{
    if (t->by_id) {
        uint32_t stack = hs__timeline_stack_of(id);
        return stack && stack <= t->nstacks ? t->stack_node[stack - 1] : 0;
    }
    if (!t->map_cap)
        return 0;
    size_t j = hs__trace_slot(addr, t->map_cap);
    for (; t->map[j].addr; j = (j + 1) & (t->map_cap - 1))
        if (t->map[j].addr == addr)
            /* The same address with another size is another block. */
            return t->map[j].size == size ? t->map[j].node + 1 : 0;
    return 0;
}
