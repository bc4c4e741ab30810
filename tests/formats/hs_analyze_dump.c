/*
 * hs_analyze_dump — runs hs_analyze on a .heapsnapshot and prints one JSON
 * line per node: {"id","distance","self","retained","dominator" (its id),
 * "class"}; a summary (counts, the analysis' time) goes to stderr. With
 * --summary only the summary. Used by analysis-memlab.test.js.
 *
 * hs_analyze_dump --random NODES [EDGES_PER_NODE]: analyses a random graph of
 * that size built in memory (a benchmark of the analysis alone: its time and
 * the peak RSS before and after it, in the summary).
 *
 * The file is read with the streaming reader (snap_read.c), as the CLI
 * does; the summary gives the read's and the analysis' times.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "analysis.h"

#include "v8_types.h"

static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/*
 * A V8-like random graph: root → (GC roots) and a shortcut to a Window (so
 * user roots, redistribution and page-owned flags all apply), then nodes of
 * mixed types, each with edges mostly to nearby later nodes (so most are
 * reachable and the dominator tree is deep) and some anywhere, a few weak.
 */
static int random_graph(hs_snapfile *s, uint32_t n, uint32_t per)
{
    static const uint8_t types[] = {0, 0, 1, 1, 3, 3, 3, 8, 5, 2, 4};
    memset(s, 0, sizeof *s);
    uint64_t m_max = (uint64_t)n * (2 * per + 1) + 4;
    if (m_max > UINT32_MAX)
        return -1;
    s->node_count = n;
    s->node_type = malloc(n);
    s->node_name = malloc((size_t)n * 4);
    s->node_id = malloc((size_t)n * 4);
    s->node_self = malloc((size_t)n * 8);
    s->first_edge = malloc(((size_t)n + 1) * 4);
    s->edge_type = malloc(m_max);
    s->edge_name = malloc(m_max * 4);
    s->edge_to = malloc(m_max * 4);
    if (!s->node_type || !s->node_name || !s->node_id || !s->node_self || !s->first_edge ||
        !s->edge_type || !s->edge_name || !s->edge_to)
        return -1;
    static const char arena[] = "\0(GC roots)\0Window\0A\0B\0";
    static uint64_t offs[] = {0, 1, 12, 19, 21};
    s->arena = malloc(sizeof arena);
    memcpy(s->arena, arena, sizeof arena);
    s->string_off = malloc(sizeof offs);
    memcpy(s->string_off, offs, sizeof offs);
    s->string_count = 5;
    if (v8_types_give(s) < 0)
        return -1;
    uint32_t e = 0;
    for (uint32_t v = 0; v < n; v++) {
        s->node_id[v] = 2 * v + 1;
        s->first_edge[v] = e;
        if (v == 0) {
            s->node_type[v] = 9, s->node_name[v] = 0, s->node_self[v] = 0;
            s->edge_type[e] = 1, s->edge_name[e] = 1, s->edge_to[e++] = 1 % n;
            s->edge_type[e] = 5, s->edge_name[e] = 2, s->edge_to[e++] = 2 % n;
            continue;
        }
        s->node_type[v] = v == 1 ? 9 : v == 2 ? 3 : types[rnd() % sizeof types];
        s->node_name[v] = v == 1 ? 1 : v == 2 ? 2 : 3 + (uint32_t)(rnd() & 1);
        s->node_self[v] = s->node_type[v] == 9 ? 0 : 8 + rnd() % 120;
        uint32_t k = (uint32_t)(rnd() % (2 * per + 1));
        for (uint32_t j = 0; j < k; j++) {
            uint64_t x = rnd();
            uint32_t to =
                (x & 15) == 0 ? (uint32_t)((x >> 8) % n) : (uint32_t)((v + 1 + (x >> 8) % 64) % n);
            s->edge_type[e] = (x >> 4 & 31) == 0 ? 6 : (x >> 4 & 3) == 0 ? 3 : 2;
            s->edge_name[e] = 3;
            s->edge_to[e++] = to;
        }
    }
    s->first_edge[n] = e;
    s->edge_count = e;
    return 0;
}

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--random") == 0) {
        uint32_t n = (uint32_t)strtoul(argv[2], NULL, 10),
                 per = argc > 3 ? (uint32_t)atoi(argv[3]) : 4;
        hs_snapfile s;
        if (n < 3 || random_graph(&s, n, per) < 0) {
            fprintf(stderr, "cannot build a random graph of %u nodes\n", n);
            return 1;
        }
        long before = maxrss_kb();
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        hs_analysis a;
        hs_read_error err;
        if (hs_analyze(&s, &a, &err) < 0) {
            fprintf(stderr, "%s\n", err.text);
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        printf("{\"nodes\":%u,\"edges\":%u,\"weak_only\":%u,\"unreachable\":%u,\"total\":%llu,"
               "\"analysis_ms\":%.0f,\"maxrss_before_kb\":%ld,\"maxrss_after_kb\":%ld}\n",
               n, s.edge_count, a.weak_only_count, a.unreachable_count,
               (unsigned long long)a.total_size, ms, before, maxrss_kb());
        hs_analysis_free(&a);
        hs_snapfile_free(&s);
        return 0;
    }
    int summary_only = argc == 3 && strcmp(argv[1], "--summary") == 0;
    if (argc != 2 && !summary_only) {
        fprintf(stderr, "usage: hs_analyze_dump [--summary] FILE.heapsnapshot\n");
        return 2;
    }
    const char *path = argv[argc - 1];
    hs_snapfile s;
    hs_read_error err;
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (hs_snapfile_read(path, &s, &err) < 0) {
        fprintf(stderr, "%s\n", err.text);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    hs_analysis a;
    if (hs_analyze(&s, &a, &err) < 0) {
        fprintf(stderr, "%s: %s\n", path, err.text);
        hs_snapfile_free(&s);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t2);
    double read_ms =
        (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    double ms = (double)(t2.tv_sec - t1.tv_sec) * 1e3 + (double)(t2.tv_nsec - t1.tv_nsec) / 1e6;
    fprintf(
        stderr,
        "{\"nodes\":%u,\"edges\":%u,\"user_roots\":%d,\"weak_only\":%u,\"unreachable\":%u,"
        "\"total\":%llu,\"classes\":%u,\"read_ms\":%.1f,\"analysis_ms\":%.1f,\"maxrss_kb\":%ld}\n",
        a.node_count, s.edge_count, a.has_user_roots, a.weak_only_count, a.unreachable_count,
        (unsigned long long)a.total_size, a.class_count, read_ms, ms, maxrss_kb());
    if (!summary_only) {
        for (uint32_t i = 0; i < a.node_count; i++) {
            json_t *cls = json_string(a.class_names[a.class_index[i]]);
            char *cj = json_dumps(cls, JSON_ENCODE_ANY);
            printf("{\"id\":%u,\"distance\":%d,\"self\":%llu,\"retained\":%llu,\"dominator\":%u,"
                   "\"class\":%s}\n",
                   s.node_id[i], a.distance[i], (unsigned long long)a.self[i],
                   (unsigned long long)a.retained[i], s.node_id[a.dominator[i]], cj ? cj : "null");
            free(cj);
            json_decref(cls);
        }
    }
    hs_analysis_free(&a);
    hs_snapfile_free(&s);
    return 0;
}
