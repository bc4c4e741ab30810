/*
 * profile_read.c — the .heapprofile reader (profile.h): yajl's events drive a
 * stack of contexts (the document, a node, its callFrame, its children, the
 * samples, one sample); values of keys we do not know are skipped whatever
 * their shape. Errors name the byte yajl had reached (the end of the token
 * that was wrong) and what was expected there.
 */
#include "profile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

enum ctx { C_TOP, C_NODE, C_FRAME, C_CHILDREN, C_SAMPLES, C_SAMPLE };

/* Keys we act on; K_OTHER's values are skipped. */
enum key {
    K_NONE,
    K_OTHER,
    K_HEAD,
    K_SAMPLES,
    K_CALLFRAME,
    K_SELFSIZE,
    K_ID,
    K_CHILDREN,
    K_FUNCTION,
    K_URL,
    K_SCRIPT,
    K_LINE,
    K_COLUMN,
    K_SIZE,
    K_NODEID,
    K_ORDINAL,
};

/* What a node or a sample has had so far. */
enum {
    HAVE_SELF = 1,
    HAVE_FRAME = 2,
    HAVE_LEGACY_NAME = 4,
    HAVE_ID = 8,
    HAVE_CHILDREN = 16,
    HAVE_SIZE = 32,
    HAVE_NODEID = 64,
    HAVE_LINE = 128,
    HAVE_COLUMN = 256
};

struct frame {
    enum ctx ctx;
    uint32_t node; /* C_NODE, C_FRAME, C_CHILDREN: the node */
    unsigned have;
};

struct reader {
    const char *name;
    yajl_handle h;
    size_t base; /* bytes before the slice yajl is parsing */
    char *err;
    size_t err_size;
    bool failed;
    bool at_end; /* after the last slice: errors are at its end */

    struct frame *stack;
    size_t depth, stack_cap;
    bool started, have_head;
    enum key key;  /* the key whose value comes next */
    unsigned skip; /* > 0: inside a skipped value, its nesting */
    size_t node_cap, sample_cap, str_cap;
    uint32_t *hash; /* interned strings: offsets + 1, 0 empty */
    size_t hash_cap, hash_used;
    struct hs_profile *p;
};

__attribute__((format(printf, 2, 3))) static void fail(struct reader *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = true;
    size_t at = r->base + (r->at_end ? 0 : yajl_get_bytes_consumed(r->h));
    int n = snprintf(r->err, r->err_size, "%s: byte %zu: ", r->name, at);
    if (n < 0 || (size_t)n >= r->err_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->err_size - n, fmt, ap);
    va_end(ap);
}

/* ---- strings: one arena, each distinct string once -------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int arena_grow(struct reader *r, size_t more)
{
    struct hs_profile *p = r->p;
    if (p->strings_len + more > UINT32_MAX) {
        fail(r, "expected fewer than 4 GiB of strings");
        return -1;
    }
    if (p->strings_len + more <= r->str_cap)
        return 0;
    size_t cap = r->str_cap ? r->str_cap : 4096;
    while (cap < p->strings_len + more)
        cap *= 2;
    char *s = realloc(p->strings, cap);
    if (!s) {
        fail(r, "out of memory");
        return -1;
    }
    p->strings = s;
    r->str_cap = cap;
    return 0;
}

static int hash_grow(struct reader *r)
{
    size_t cap = r->hash_cap ? r->hash_cap * 2 : 1024;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t) {
        fail(r, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->hash_cap; i++) {
        uint32_t v = r->hash[i];
        if (!v)
            continue;
        const char *s = r->p->strings + v - 1;
        size_t j = hash_bytes(s, strlen(s)) & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = v;
    }
    free(r->hash);
    r->hash = t;
    r->hash_cap = cap;
    return 0;
}

/* The offset of s[0, n) in the arena, added if new; -1 on failure. A string
 * with a NUL in it is kept up to the NUL. */
static int64_t intern(struct reader *r, const char *s, size_t n)
{
    const char *nul = memchr(s, 0, n);
    if (nul)
        n = (size_t)(nul - s);
    if (n == 0)
        return 0;
    if ((r->hash_used + 1) * 2 > r->hash_cap && hash_grow(r) < 0)
        return -1;
    size_t j = hash_bytes(s, n) & (r->hash_cap - 1);
    for (; r->hash[j]; j = (j + 1) & (r->hash_cap - 1)) {
        const char *t = r->p->strings + r->hash[j] - 1;
        if (!strncmp(t, s, n) && t[n] == '\0')
            return r->hash[j] - 1;
    }
    if (arena_grow(r, n + 1) < 0)
        return -1;
    size_t off = r->p->strings_len;
    memcpy(r->p->strings + off, s, n);
    r->p->strings[off + n] = '\0';
    r->p->strings_len += n + 1;
    r->hash[j] = (uint32_t)off + 1;
    r->hash_used++;
    return (int64_t)off;
}

/* ---- the context stack ------------------------------------------------------------------ */

static struct frame *top(struct reader *r)
{
    return r->depth ? &r->stack[r->depth - 1] : NULL;
}

static int push(struct reader *r, enum ctx c, uint32_t node)
{
    if (r->depth == r->stack_cap) {
        size_t cap = r->stack_cap ? r->stack_cap * 2 : 64;
        struct frame *s = realloc(r->stack, cap * sizeof *s);
        if (!s) {
            fail(r, "out of memory");
            return -1;
        }
        r->stack = s;
        r->stack_cap = cap;
    }
    r->stack[r->depth++] = (struct frame){.ctx = c, .node = node};
    return 0;
}

static int new_node(struct reader *r, uint32_t parent)
{
    struct hs_profile *p = r->p;
    if (p->node_count == HS_PROFILE_NONE - 1) {
        fail(r, "expected fewer nodes");
        return -1;
    }
    if (p->node_count == r->node_cap) {
        size_t cap = r->node_cap ? r->node_cap * 2 : 256;
        struct hs_profile_node *n = realloc(p->nodes, cap * sizeof *n);
        if (!n) {
            fail(r, "out of memory");
            return -1;
        }
        p->nodes = n;
        r->node_cap = cap;
    }
    p->nodes[p->node_count] = (struct hs_profile_node){
        .parent = parent, .line = -1, .column = -1, .end = p->node_count + 1};
    return push(r, C_NODE, p->node_count++);
}

static int new_sample(struct reader *r)
{
    struct hs_profile *p = r->p;
    if (p->sample_count == HS_PROFILE_NONE - 1) {
        fail(r, "expected fewer samples");
        return -1;
    }
    if (p->sample_count == r->sample_cap) {
        size_t cap = r->sample_cap ? r->sample_cap * 2 : 256;
        struct hs_profile_sample *s = realloc(p->samples, cap * sizeof *s);
        if (!s) {
            fail(r, "out of memory");
            return -1;
        }
        p->samples = s;
        r->sample_cap = cap;
    }
    p->samples[p->sample_count++] = (struct hs_profile_sample){.node = HS_PROFILE_NONE};
    return push(r, C_SAMPLE, 0);
}

/* ---- values ----------------------------------------------------------------------------- */

enum kind { V_NULL, V_BOOL, V_NUMBER, V_STRING, V_MAP, V_ARRAY };

static const char *kind_name(enum kind k)
{
    static const char *names[] = {"null",     "a boolean", "a number",
                                  "a string", "an object", "an array"};
    return names[k];
}

static const char *key_name(enum key k)
{
    switch (k) {
    case K_HEAD:
        return "head";
    case K_SAMPLES:
        return "samples";
    case K_CALLFRAME:
        return "callFrame";
    case K_SELFSIZE:
        return "selfSize";
    case K_ID:
        return "id";
    case K_CHILDREN:
        return "children";
    case K_FUNCTION:
        return "functionName";
    case K_URL:
        return "url";
    case K_SCRIPT:
        return "scriptId";
    case K_LINE:
        return "lineNumber";
    case K_COLUMN:
        return "columnNumber";
    case K_SIZE:
        return "size";
    case K_NODEID:
        return "nodeId";
    case K_ORDINAL:
        return "ordinal";
    default:
        return "?";
    }
}

/* The raw text of a number value into one of these, checked. */
static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int parse_i32(const char *s, size_t n, int32_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    uint64_t v;
    if (parse_u64(s + neg, n - neg, &v) < 0 || v > (neg ? 2147483648ull : 2147483647ull))
        return -1;
    *out = neg ? (int32_t)(-(int64_t)v) : (int32_t)v;
    return 0;
}

static int parse_double(const char *s, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    *out = strtod(buf, &end);
    return *end || errno ? -1 : 0;
}

/* A value of kind k (s/n: a number's text or a string) where r->key says. */
static int value(struct reader *r, enum kind k, const char *s, size_t n)
{
    if (r->skip) {
        if (k == V_MAP || k == V_ARRAY)
            r->skip++;
        return 0;
    }
    struct frame *t = top(r);
    if (!r->started) {
        r->started = true;
        if (k != V_MAP) {
            fail(r, "expected an object (a .heapprofile), found %s", kind_name(k));
            return -1;
        }
        return push(r, C_TOP, 0);
    }
    if (!t) {
        fail(r, "expected the end of the file");
        return -1;
    }
    if (t->ctx == C_CHILDREN) {
        if (k != V_MAP) {
            fail(r, "expected a node object in children, found %s", kind_name(k));
            return -1;
        }
        return new_node(r, t->node);
    }
    if (t->ctx == C_SAMPLES) {
        if (k != V_MAP) {
            fail(r, "expected a sample object in samples, found %s", kind_name(k));
            return -1;
        }
        return new_sample(r);
    }
    enum key key = r->key;
    r->key = K_NONE;
    if (key == K_OTHER) {
        if (k == V_MAP || k == V_ARRAY)
            r->skip = 1;
        return 0;
    }
    struct hs_profile *p = r->p;
    struct hs_profile_node *node =
        t->ctx == C_NODE || t->ctx == C_FRAME ? &p->nodes[t->node] : NULL;
    struct hs_profile_sample *sample = t->ctx == C_SAMPLE ? &p->samples[p->sample_count - 1] : NULL;
    bool legacy = t->ctx == C_NODE;
    enum kind want;
    switch (key) {
    case K_HEAD:
    case K_CALLFRAME:
        want = V_MAP;
        break;
    case K_SAMPLES:
    case K_CHILDREN:
        want = V_ARRAY;
        break;
    case K_FUNCTION:
    case K_URL:
        want = V_STRING;
        break;
    case K_SCRIPT:
        want = k == V_NUMBER ? V_NUMBER : V_STRING;
        break;
    default:
        want = V_NUMBER;
    }
    if (k != want) {
        fail(r, "expected %s for %s, found %s", kind_name(want), key_name(key), kind_name(k));
        return -1;
    }
    int64_t off;
    switch (key) {
    case K_HEAD:
        if (r->have_head) {
            fail(r, "expected one head, found a second");
            return -1;
        }
        r->have_head = true;
        return new_node(r, HS_PROFILE_NONE);
    case K_SAMPLES:
        if (p->has_samples) {
            fail(r, "expected one samples array, found a second");
            return -1;
        }
        p->has_samples = 1;
        return push(r, C_SAMPLES, 0);
    case K_CALLFRAME:
        if (t->have & HAVE_FRAME) {
            fail(r, "expected one callFrame, found a second");
            return -1;
        }
        t->have |= HAVE_FRAME;
        return push(r, C_FRAME, t->node);
    case K_CHILDREN:
        if (t->have & HAVE_CHILDREN) {
            fail(r, "expected one children array, found a second");
            return -1;
        }
        t->have |= HAVE_CHILDREN;
        return push(r, C_CHILDREN, t->node);
    case K_SELFSIZE:
        if (parse_u64(s, n, &node->self_size) < 0) {
            fail(r, "expected a non-negative integer for selfSize, found %.*s", (int)n, s);
            return -1;
        }
        t->have |= HAVE_SELF;
        return 0;
    case K_ID:
        if (parse_u64(s, n, &node->id) < 0) {
            fail(r, "expected a non-negative integer for id, found %.*s", (int)n, s);
            return -1;
        }
        t->have |= HAVE_ID;
        return 0;
    case K_FUNCTION:
    case K_URL:
    case K_SCRIPT:
        if ((off = intern(r, s, n)) < 0)
            return -1;
        if (key == K_FUNCTION) {
            /* callFrame's wins over a legacy one on the same node. */
            if (legacy && (r->stack[r->depth - 1].have & HAVE_FRAME))
                return 0;
            node->function = (uint32_t)off;
            if (legacy)
                t->have |= HAVE_LEGACY_NAME;
        } else if (legacy && (t->have & HAVE_FRAME)) {
            return 0;
        } else if (key == K_URL) {
            node->url = (uint32_t)off;
        } else {
            node->script_id = (uint32_t)off;
        }
        return 0;
    case K_LINE:
    case K_COLUMN: {
        int32_t v;
        if (parse_i32(s, n, &v) < 0 || v < (legacy ? 0 : -1)) {
            fail(r, "expected an integer of at least %d for %s, found %.*s", legacy ? 0 : -1,
                 key_name(key), (int)n, s);
            return -1;
        }
        if (legacy && (t->have & HAVE_FRAME))
            return 0;
        /* Legacy nodes count from 1, as DevTools' SamplingHeapProfileNode reads them. */
        if (legacy)
            v = v > 0 ? v - 1 : -1;
        if (key == K_LINE)
            node->line = v;
        else
            node->column = v;
        return 0;
    }
    case K_SIZE:
        if (parse_u64(s, n, &sample->size) < 0) {
            fail(r, "expected a non-negative integer for size, found %.*s", (int)n, s);
            return -1;
        }
        t->have |= HAVE_SIZE;
        return 0;
    case K_NODEID:
        if (parse_u64(s, n, &sample->node_id) < 0) {
            fail(r, "expected a non-negative integer for nodeId, found %.*s", (int)n, s);
            return -1;
        }
        t->have |= HAVE_NODEID;
        return 0;
    case K_ORDINAL:
        if (parse_double(s, n, &sample->ordinal) < 0) {
            fail(r, "expected a number for ordinal, found %.*s", (int)n, s);
            return -1;
        }
        return 0;
    default:
        fail(r, "expected a key");
        return -1;
    }
}

/* A map's key: which of ours it is in the current context. */
static enum key lookup_key(enum ctx c, const char *s, size_t n)
{
    static const struct {
        enum ctx ctx;
        const char *name;
        enum key key;
    } keys[] = {
        {C_TOP, "head", K_HEAD},
        {C_TOP, "samples", K_SAMPLES},
        {C_NODE, "callFrame", K_CALLFRAME},
        {C_NODE, "selfSize", K_SELFSIZE},
        {C_NODE, "id", K_ID},
        {C_NODE, "children", K_CHILDREN},
        {C_NODE, "functionName", K_FUNCTION},
        {C_NODE, "url", K_URL},
        {C_NODE, "scriptId", K_SCRIPT},
        {C_NODE, "lineNumber", K_LINE},
        {C_NODE, "columnNumber", K_COLUMN},
        {C_FRAME, "functionName", K_FUNCTION},
        {C_FRAME, "url", K_URL},
        {C_FRAME, "scriptId", K_SCRIPT},
        {C_FRAME, "lineNumber", K_LINE},
        {C_FRAME, "columnNumber", K_COLUMN},
        {C_SAMPLE, "size", K_SIZE},
        {C_SAMPLE, "nodeId", K_NODEID},
        {C_SAMPLE, "ordinal", K_ORDINAL},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].ctx == c && strlen(keys[i].name) == n && !memcmp(keys[i].name, s, n))
            return keys[i].key;
    return K_OTHER;
}

/* ---- yajl's callbacks ------------------------------------------------------------------- */

static int on_null(void *ud)
{
    return value(ud, V_NULL, NULL, 0) == 0;
}

static int on_bool(void *ud, int b)
{
    (void)b;
    return value(ud, V_BOOL, NULL, 0) == 0;
}

static int on_number(void *ud, const char *s, size_t n)
{
    return value(ud, V_NUMBER, s, n) == 0;
}

static int on_string(void *ud, const unsigned char *s, size_t n)
{
    return value(ud, V_STRING, (const char *)s, n) == 0;
}

static int on_start_map(void *ud)
{
    return value(ud, V_MAP, NULL, 0) == 0;
}

static int on_start_array(void *ud)
{
    return value(ud, V_ARRAY, NULL, 0) == 0;
}

static int on_key(void *ud, const unsigned char *s, size_t n)
{
    struct reader *r = ud;
    if (r->skip)
        return 1;
    r->key = lookup_key(top(r)->ctx, (const char *)s, n);
    return 1;
}

static int on_end(void *ud)
{
    struct reader *r = ud;
    if (r->skip) {
        r->skip--;
        return 1;
    }
    struct frame *t = top(r);
    struct hs_profile *p = r->p;
    switch (t->ctx) {
    case C_TOP:
        if (!r->have_head) {
            fail(r, "expected head in the profile");
            return 0;
        }
        break;
    case C_NODE:
        if (!(t->have & HAVE_SELF)) {
            fail(r, "expected selfSize in the node");
            return 0;
        }
        if (!(t->have & (HAVE_FRAME | HAVE_LEGACY_NAME))) {
            fail(r, "expected callFrame (or functionName) in the node");
            return 0;
        }
        p->nodes[t->node].end = p->node_count;
        break;
    case C_SAMPLE:
        if ((t->have & (HAVE_SIZE | HAVE_NODEID)) != (HAVE_SIZE | HAVE_NODEID)) {
            fail(r, "expected %s in the sample", t->have & HAVE_SIZE ? "nodeId" : "size");
            return 0;
        }
        break;
    default:
        break;
    }
    r->depth--;
    return 1;
}

static const yajl_callbacks callbacks = {
    on_null,      on_bool, NULL,   NULL,           on_number, on_string,
    on_start_map, on_key,  on_end, on_start_array, on_end,
};

/* ---- driving yajl ----------------------------------------------------------------------- */

static int begin(struct reader *r, const char *name, struct hs_profile *p, char *err,
                 size_t err_size)
{
    memset(p, 0, sizeof *p);
    *r = (struct reader){.name = name, .err = err, .err_size = err_size, .p = p};
    if (err_size)
        err[0] = '\0';
    r->h = yajl_alloc(&callbacks, NULL, r);
    if (!r->h || arena_grow(r, 1) < 0) {
        snprintf(err, err_size, "%s: out of memory", name);
        if (r->h)
            yajl_free(r->h);
        return -1;
    }
    p->strings[0] = '\0';
    p->strings_len = 1;
    return 0;
}

/* yajl's message for a syntax error, without its prefix and newline. */
static void syntax_error(struct reader *r, const unsigned char *text, size_t len, bool at_end)
{
    if (r->failed)
        return;
    unsigned char *m = yajl_get_error(r->h, 0, text, len);
    const char *s = (const char *)m;
    const char *c = strstr(s, "error: ");
    if (c)
        s = c + 7;
    size_t n = strcspn(s, "\n");
    if (at_end && strstr(s, "premature EOF"))
        fail(r, "expected more JSON, found the end of the file (truncated?)");
    else
        fail(r, "expected JSON: %.*s", (int)n, s);
    yajl_free_error(r->h, m);
}

static int feed(struct reader *r, const char *text, size_t len)
{
    yajl_status st = yajl_parse(r->h, (const unsigned char *)text, len);
    if (st != yajl_status_ok) {
        syntax_error(r, (const unsigned char *)text, len, false);
        return -1;
    }
    r->base += len;
    return 0;
}

static int id_cmp(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1];
}

static int finish(struct reader *r)
{
    struct hs_profile *p = r->p;
    if (!r->failed) {
        yajl_status st = yajl_complete_parse(r->h);
        r->at_end = true;
        if (!r->started)
            fail(r, "expected a .heapprofile, found nothing");
        else if (st != yajl_status_ok)
            syntax_error(r, (const unsigned char *)"", 0, true);
    }
    yajl_free(r->h);
    free(r->stack);
    free(r->hash);
    if (r->failed) {
        hs_profile_free(p);
        return -1;
    }
    /* Samples to nodes: ids sorted with their indices, then looked up. */
    if (p->sample_count) {
        uint64_t(*ids)[2] = malloc((size_t)p->node_count * sizeof *ids);
        if (!ids) {
            snprintf(r->err, r->err_size, "%s: out of memory", r->name);
            hs_profile_free(p);
            return -1;
        }
        for (uint32_t i = 0; i < p->node_count; i++) {
            ids[i][0] = p->nodes[i].id;
            ids[i][1] = i;
        }
        qsort(ids, p->node_count, sizeof *ids, id_cmp);
        for (uint32_t s = 0; s < p->sample_count; s++) {
            size_t lo = 0, hi = p->node_count;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (ids[mid][0] < p->samples[s].node_id)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < p->node_count && ids[lo][0] == p->samples[s].node_id &&
                p->samples[s].node_id != 0)
                p->samples[s].node = (uint32_t)ids[lo][1];
        }
        free(ids);
    }
    return 0;
}

int hs_profile_read_mem(const char *name, const char *text, size_t len, struct hs_profile *p,
                        char *err, size_t err_size)
{
    struct reader r;
    if (begin(&r, name, p, err, err_size) < 0)
        return -1;
    feed(&r, text, len);
    return finish(&r);
}

int hs_profile_read_file(const char *path, struct hs_profile *p, char *err, size_t err_size)
{
    bool std_in = !strcmp(path, "-");
    FILE *f = std_in ? stdin : fopen(path, "rb");
    if (!f) {
        memset(p, 0, sizeof *p);
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct reader r;
    if (begin(&r, path, p, err, err_size) < 0) {
        if (!std_in)
            fclose(f);
        return -1;
    }
    char buf[1 << 14];
    size_t n;
    while (!r.failed && (n = fread(buf, 1, sizeof buf, f)) > 0)
        feed(&r, buf, n);
    if (!r.failed && ferror(f)) {
        r.at_end = true;
        fail(&r, "cannot read: %s", strerror(errno));
    }
    if (!std_in)
        fclose(f);
    return finish(&r);
}

void hs_profile_free(struct hs_profile *p)
{
    free(p->nodes);
    free(p->samples);
    free(p->strings);
    memset(p, 0, sizeof *p);
}

uint64_t hs_profile_total(const struct hs_profile *p)
{
    uint64_t t = 0;
    for (uint32_t i = 0; i < p->node_count; i++)
        t += p->nodes[i].self_size;
    return t;
}

const char *hs_profile_name(const struct hs_profile *p, uint32_t node)
{
    const char *s = hs_profile_str(p, p->nodes[node].function);
    return *s ? s : "(anonymous)";
}
