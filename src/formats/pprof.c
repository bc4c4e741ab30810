/*
 * pprof.c — a profile (profile.h) as pprof's Profile message (profile.proto,
 * packed by libprotobuf-c), gzip'd with zlib as pprof expects.
 *
 * Like Go's and pprof-nodejs's heap profiles: sample types objects/count and
 * space/bytes (the default), one Location per node (its id = node index + 1)
 * with one Line, one Function per distinct (name, url, line). The string
 * table is "" then the profile's own strings in arena order, then ours.
 */
#include "profile.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "profile.pb-c.h"

struct fn_key {
    uint32_t name, url;
    int32_t line;
    uint32_t id; /* 0: empty slot */
};

static uint64_t fn_hash(uint32_t name, uint32_t url, int32_t line)
{
    uint64_t h = name * 0x9e3779b97f4a7c15ull;
    h ^= (url + 0x632be59bd9b4e019ull) * 0xc2b2ae3d27d4eb4full;
    h ^= (uint64_t)(uint32_t)line * 0x165667b19e3779f9ull;
    return h ^ (h >> 29);
}

/* The string table index of the arena string at off (offs: the arena's
 * string offsets, ascending). */
static int64_t str_index(const uint32_t *offs, size_t n, uint32_t off)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (offs[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (int64_t)lo;
}

static int gzip_write(const uint8_t *data, size_t len, FILE *f, char *err, size_t err_size)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        snprintf(err, err_size, "zlib: deflateInit2 failed");
        return -1;
    }
    unsigned char out[1 << 14];
    int rc = 0, zr;
    z.next_in = (Bytef *)data;
    size_t left = len;
    do {
        uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
        z.avail_in = chunk;
        left -= chunk;
        int flush = left ? Z_NO_FLUSH : Z_FINISH;
        do {
            z.next_out = out;
            z.avail_out = sizeof out;
            zr = deflate(&z, flush);
            if (zr == Z_STREAM_ERROR) {
                snprintf(err, err_size, "zlib: deflate failed");
                rc = -1;
                break;
            }
            size_t have = sizeof out - z.avail_out;
            if (have && fwrite(out, 1, have, f) != have) {
                snprintf(err, err_size, "write failed");
                rc = -1;
                break;
            }
        } while (z.avail_out == 0);
    } while (rc == 0 && left);
    deflateEnd(&z);
    return rc;
}

int hs_profile_write_pprof(const struct hs_profile *p, FILE *f, char *err, size_t err_size)
{
    int rc = -1;
    uint32_t n = p->node_count;
    /* String table: the arena's strings, then ours. */
    size_t nstr = 0;
    for (size_t o = 0; o < p->strings_len; o += strlen(p->strings + o) + 1)
        nstr++;
    enum { S_OBJECTS, S_COUNT, S_SPACE, S_BYTES, S_ANON, S_EXTRA };
    static const char *extra[] = {"objects", "count", "space", "bytes", "(anonymous)"};
    uint32_t *offs = malloc((nstr ? nstr : 1) * sizeof *offs);
    char **table = malloc((nstr + S_EXTRA) * sizeof *table);
    uint64_t *counts = calloc(n ? n : 1, sizeof *counts);
    size_t fn_cap = 16;
    while (fn_cap < 2 * (size_t)n)
        fn_cap *= 2;
    struct fn_key *fns = calloc(fn_cap, sizeof *fns);
    HsPprof__Function *functions = calloc(n ? n : 1, sizeof *functions);
    HsPprof__Function **function_ptrs = calloc(n ? n : 1, sizeof *function_ptrs);
    HsPprof__Location *locations = calloc(n ? n : 1, sizeof *locations);
    HsPprof__Location **location_ptrs = calloc(n ? n : 1, sizeof *location_ptrs);
    HsPprof__Line *lines = calloc(n ? n : 1, sizeof *lines);
    HsPprof__Line **line_ptrs = calloc(n ? n : 1, sizeof *line_ptrs);
    HsPprof__Sample *samples = calloc(n ? n : 1, sizeof *samples);
    HsPprof__Sample **sample_ptrs = calloc(n ? n : 1, sizeof *sample_ptrs);
    uint32_t *depth = calloc(n ? n : 1, sizeof *depth);
    int64_t *values = calloc(2 * (size_t)(n ? n : 1), sizeof *values);
    uint64_t *loc_ids = NULL;
    uint8_t *packed = NULL;
    if (!offs || !table || !counts || !fns || !functions || !function_ptrs || !locations ||
        !location_ptrs || !lines || !line_ptrs || !samples || !sample_ptrs || !depth || !values) {
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    nstr = 0;
    for (size_t o = 0; o < p->strings_len; o += strlen(p->strings + o) + 1) {
        offs[nstr] = (uint32_t)o;
        table[nstr++] = p->strings + o;
    }
    for (int i = 0; i < S_EXTRA; i++)
        table[nstr + i] = (char *)extra[i];

    for (uint32_t s = 0; s < p->sample_count; s++)
        if (p->samples[s].node != HS_PROFILE_NONE)
            counts[p->samples[s].node]++;

    /* Functions and locations, one location per node. Depth counts frames
     * without the root (which is one only when it is the sample's leaf). */
    size_t nfn = 0, nloc = 0, frames = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct hs_profile_node *nd = &p->nodes[i];
        depth[i] = nd->parent == HS_PROFILE_NONE ? 0 : depth[nd->parent] + 1;
        if (nd->self_size || counts[i])
            frames += depth[i] ? depth[i] : 1;
        size_t j = fn_hash(nd->function, nd->url, nd->line) & (fn_cap - 1);
        while (fns[j].id &&
               !(fns[j].name == nd->function && fns[j].url == nd->url && fns[j].line == nd->line))
            j = (j + 1) & (fn_cap - 1);
        if (!fns[j].id) {
            fns[j] = (struct fn_key){nd->function, nd->url, nd->line, (uint32_t)++nfn};
            HsPprof__Function *fn = &functions[nfn - 1];
            hs_pprof__function__init(fn);
            fn->id = nfn;
            fn->name =
                nd->function ? str_index(offs, nstr, nd->function) : (int64_t)(nstr + S_ANON);
            fn->system_name = fn->name;
            fn->filename = str_index(offs, nstr, nd->url);
            fn->start_line = nd->line >= 0 ? nd->line + 1 : 0;
            function_ptrs[nfn - 1] = fn;
        }
        HsPprof__Line *ln = &lines[i];
        hs_pprof__line__init(ln);
        ln->function_id = fns[j].id;
        ln->line = nd->line >= 0 ? nd->line + 1 : 0;
        line_ptrs[i] = ln;
        HsPprof__Location *loc = &locations[nloc];
        hs_pprof__location__init(loc);
        loc->id = (uint64_t)i + 1;
        loc->n_line = 1;
        loc->line = &line_ptrs[i];
        location_ptrs[nloc++] = loc;
    }

    /* Samples: leaf first up to, not including, the root. */
    loc_ids = malloc((frames ? frames : 1) * sizeof *loc_ids);
    if (!loc_ids) {
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    size_t nsamples = 0, used = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct hs_profile_node *nd = &p->nodes[i];
        if (!nd->self_size && !counts[i])
            continue;
        HsPprof__Sample *s = &samples[nsamples];
        hs_pprof__sample__init(s);
        s->location_id = loc_ids + used;
        for (uint32_t k = i; k != HS_PROFILE_NONE && (depth[k] || k == i); k = p->nodes[k].parent)
            s->location_id[s->n_location_id++] = (uint64_t)k + 1;
        used += s->n_location_id;
        s->value = values + 2 * nsamples;
        s->n_value = 2;
        s->value[0] = (int64_t)counts[i];
        s->value[1] = (int64_t)nd->self_size;
        sample_ptrs[nsamples++] = s;
    }

    HsPprof__ValueType objects = HS_PPROF__VALUE_TYPE__INIT, space = HS_PPROF__VALUE_TYPE__INIT,
                       period = HS_PPROF__VALUE_TYPE__INIT;
    objects.type = (int64_t)nstr + S_OBJECTS;
    objects.unit = (int64_t)nstr + S_COUNT;
    space.type = (int64_t)nstr + S_SPACE;
    space.unit = (int64_t)nstr + S_BYTES;
    period = space;
    HsPprof__ValueType *types[] = {&objects, &space};
    HsPprof__Profile prof = HS_PPROF__PROFILE__INIT;
    prof.n_sample_type = 2;
    prof.sample_type = types;
    prof.n_sample = nsamples;
    prof.sample = sample_ptrs;
    prof.n_location = nloc;
    prof.location = location_ptrs;
    prof.n_function = nfn;
    prof.function = function_ptrs;
    prof.n_string_table = nstr + S_EXTRA;
    prof.string_table = table;
    prof.period_type = &period;
    prof.default_sample_type = (int64_t)nstr + S_SPACE;

    size_t len = hs_pprof__profile__get_packed_size(&prof);
    packed = malloc(len ? len : 1);
    if (!packed) {
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    hs_pprof__profile__pack(&prof, packed);
    rc = gzip_write(packed, len, f, err, err_size);
out:
    free(packed);
    free(loc_ids);
    free(values);
    free(depth);
    free(sample_ptrs);
    free(samples);
    free(line_ptrs);
    free(lines);
    free(location_ptrs);
    free(locations);
    free(function_ptrs);
    free(functions);
    free(fns);
    free(counts);
    free(table);
    free(offs);
    return rc;
}
