/*
 * objects.c — the remote objects handed to sessions (Runtime.RemoteObject
 * objectIds). An id is "<isolate>.<context>.<n>" as V8 shapes them: isolate
 * is this process's number, context is always 1, n counts up from 1 for the
 * process's life. Each object belongs to the session that received it and to
 * a group it is released with; a session's objects go when it closes.
 *
 * The table is an array in handing-out order (so sorted by n: found by
 * binary search), compacted when half of it is released. It holds at most
 * HS_OBJECTS_MAX live objects; past that, handing out fails with a message
 * instead of growing without bound. Service thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../agent_int.h"
#include "inspect.h"

struct obj {
    uint64_t n;
    hs_cdp_session *s; /* NULL: released */
    char *group;
    hs_val v;
};

static struct {
    struct obj *v;
    size_t len, cap, live;
    uint64_t next_n;
    uint64_t isolate;
} T;

static const char NOT_FOUND[] = "Could not find object with given id";
static const char FULL[] = "heapscope holds at most 65536 remote objects: release object groups "
                           "(Runtime.releaseObjectGroup) to inspect more";

uint64_t hs__objects_isolate(void)
{
    if (!T.isolate) {
        /* From the target id, a random UUID: 62 bits, never 0. */
        uint64_t h = 1469598103934665603ull;
        for (const char *p = hs__service_target_id(); p && *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        T.isolate = (h >> 2) | 1;
    }
    return T.isolate;
}

static void release(struct obj *o)
{
    free(o->group);
    o->group = NULL;
    o->s = NULL;
    T.live--;
}

static void compact(void)
{
    size_t k = 0;
    for (size_t i = 0; i < T.len; i++)
        if (T.v[i].s)
            T.v[k++] = T.v[i];
    T.len = k;
}

int hs__objects_add(hs_cdp_session *s, const char *group, const hs_val *v, char *id,
                    const char **msg)
{
    if (T.live >= HS_OBJECTS_MAX) {
        *msg = FULL;
        return -1;
    }
    if (T.len == T.cap) {
        if (T.len > 2 * T.live) {
            compact();
        } else {
            size_t nc = T.cap ? T.cap * 2 : 256;
            struct obj *nv = realloc(T.v, nc * sizeof(*nv));
            if (!nv) {
                *msg = "Internal error";
                return -1;
            }
            T.v = nv;
            T.cap = nc;
        }
    }
    char *g = strdup(group ? group : "");
    if (!g) {
        *msg = "Internal error";
        return -1;
    }
    struct obj *o = &T.v[T.len++];
    o->n = ++T.next_n;
    o->s = s;
    o->group = g;
    o->v = *v;
    T.live++;
    snprintf(id, 64, "%llu.%d.%llu", (unsigned long long)hs__objects_isolate(), HS_CONTEXT_ID,
             (unsigned long long)o->n);
    return 0;
}

/* Parses "<digits>.<digits>.<digits>". */
static int parse_id(const char *id, uint64_t part[3])
{
    const char *p = id;
    for (int i = 0; i < 3; i++) {
        if (*p < '0' || *p > '9')
            return -1;
        uint64_t v = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (v > (UINT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (uint64_t)(*p - '0');
        }
        part[i] = v;
        if (*p != (i < 2 ? '.' : '\0'))
            return -1;
        p++;
    }
    return 0;
}

static struct obj *find(hs_cdp_session *s, const char *id, const char **msg)
{
    uint64_t part[3];
    if (!id || parse_id(id, part) < 0) {
        *msg = "Invalid remote object id";
        return NULL;
    }
    if (part[0] != hs__objects_isolate() || part[1] != HS_CONTEXT_ID) {
        *msg = "Cannot find context with specified id";
        return NULL;
    }
    size_t lo = 0, hi = T.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (T.v[mid].n < part[2])
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < T.len && T.v[lo].n == part[2] && T.v[lo].s == s)
        return &T.v[lo];
    *msg = NOT_FOUND;
    return NULL;
}

int hs__objects_get(hs_cdp_session *s, const char *id, hs_val *out, const char **group,
                    const char **msg)
{
    struct obj *o = find(s, id, msg);
    if (!o)
        return -1;
    *out = o->v;
    if (group)
        *group = o->group;
    return 0;
}

int hs__objects_release(hs_cdp_session *s, const char *id, const char **msg)
{
    struct obj *o = find(s, id, msg);
    if (o)
        release(o);
    return o || *msg == NOT_FOUND ? 0 : -1;
}

void hs__objects_release_group(hs_cdp_session *s, const char *group)
{
    for (size_t i = 0; i < T.len; i++)
        if (T.v[i].s == s && !strcmp(T.v[i].group, group))
            release(&T.v[i]);
    if (T.len > 2 * T.live)
        compact();
}

void hs__objects_session_closed(hs_cdp_session *s)
{
    for (size_t i = 0; i < T.len; i++)
        if (T.v[i].s == s)
            release(&T.v[i]);
    compact();
    if (T.live == 0) {
        free(T.v);
        T.v = NULL;
        T.len = T.cap = 0;
    }
}

size_t hs__objects_count(void)
{
    return T.live;
}
