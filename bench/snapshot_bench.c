/*
 * snapshot_bench.c — the program of the heap-snapshot benchmark (issue 5,
 * bench/snapshot.py drives it; docs/design/snapshot.md).
 *
 * Builds a heap of --blocks blocks (default 10 M) of --mean-size bytes on
 * average (sizes uniform in [16, 2*mean-16], so about 1 GB by default), half
 * allocated by the main thread and half by a second, "mutator" thread, with
 * pointers between them that a conservative scan must find:
 *
 *   - each set is a binary tree in allocation order (block i's words 0 and 1
 *     point to blocks 2i+1 and 2i+2 of the same set);
 *   - word 2 (blocks of 24 bytes or more) is a cross pointer to a random
 *     reachable block, one in four of them 8 bytes inside it (an interior
 *     pointer); main's blocks point into main's set only, the mutator's into
 *     either set;
 *   - the remaining words hold data that is never an address in user space,
 *     whatever the layout (valgrind puts the heap below 4 GiB): integers below
 *     65536 (under mmap_min_addr), doubles and ASCII text (at or above 2^52);
 *   - main's tree is held by globals (g_roots), the mutator's tree only by a
 *     local variable on the mutator's stack, so a snapshot that misses a
 *     thread's stack reports the mutator's half as leaked;
 *   - the last --leak-permille of main's blocks form chains of 64 that nothing
 *     points to: leaks, found by the snapshot and by valgrind alike.
 *
 * Then the mutator runs a tight loop of clock_gettime(CLOCK_MONOTONIC) and
 * records every gap between two successive readings: a log2 histogram and the
 * maximum per phase, and every gap of --gap-us or more with its start time.
 * The longest gap is the longest time the program did not run.
 *
 * Protocol: after the build, one JSON line {"ready":true,...} on stdout; then
 * commands on stdin, one a line, each answered with one JSON line:
 *   phase K     K in 0..3: later gaps count in phase K (the driver uses
 *               0 before, 1 during, 2 after the snapshot)
 *   leakcheck   under valgrind: VALGRIND_DO_LEAK_CHECK, timed, with
 *               VALGRIND_COUNT_LEAKS' bytes
 *   stop        stops the mutator; answers with the gap statistics, then
 *               {"exiting":...} and returns from main (valgrind's own leak
 *               check at exit follows)
 * --self-test MS skips the protocol: build, check that the structure is what
 * was built (walking it from the roots), run the meter for MS ms, print the
 * statistics, exit 0 (1 if the check failed). ctest runs it at small scale.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else /* built without valgrind's headers: no leak check under valgrind */
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_DO_LEAK_CHECK
#define VALGRIND_COUNT_LEAKS(a, b, c, d)
#define VALGRIND_COUNT_LEAK_BLOCKS(a, b, c, d)
#endif

#define NPHASE 4
#define NBUCKET 64
#define CHAIN 64

struct opts {
    uint64_t blocks;
    uint64_t mean;
    uint64_t leak_permille;
    uint64_t gap_ns;
    uint64_t big_cap;
    uint64_t touch_every; /* mutator writes a data word every N iterations (0: never) */
    uint64_t sleep_us;    /* mutator sleeps between readings (0: spins) */
    long self_test_ms;    /* -1: protocol on stdin */
};

/* One set of blocks: the allocating thread's. */
struct set {
    int id; /* 0 main, 1 mutator */
    uint64_t n, tree_n;
    void **tab;
    uint64_t bytes, edges;
    uint64_t leaked_blocks, leaked_bytes;
};

struct gap {
    uint64_t t, len;
    uint32_t phase;
};

static struct opts g_o = {10000000, 100, 10, 50000, 1u << 20, 0, 0, -1};
static struct set g_set[2];

/* The globals that hold main's tree (roots of the snapshot's (globals) group). */
void *volatile g_roots[4];

static atomic_int g_phase;
static atomic_int g_stop;
static pthread_barrier_t g_built, g_linked, g_go;

/* The meter's results, written by the mutator only, read after it stops. */
static uint64_t g_hist[NPHASE][NBUCKET];
static uint64_t g_iters[NPHASE], g_max[NPHASE], g_max_at[NPHASE];
static struct gap *g_big;
static uint64_t g_nbig, g_big_dropped;
static uint64_t g_touches;
static uint64_t g_mut_reached;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static uint64_t size_of(int set, uint64_t i)
{
    uint64_t span = 2 * g_o.mean - 31; /* sizes 16 .. 2*mean-16 */
    return 16 + mix(((uint64_t)set << 56) ^ i) % span;
}

static void die(const char *what)
{
    fprintf(stderr, "hs-bench-snapshot: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void allocate(struct set *s)
{
    s->tab = malloc(s->n * sizeof(void *));
    if (!s->tab)
        die("malloc");
    for (uint64_t i = 0; i < s->n; i++) {
        uint64_t sz = size_of(s->id, i);
        s->tab[i] = malloc(sz);
        if (!s->tab[i])
            die("malloc");
        s->bytes += sz;
    }
}

/* A random reachable block of set t, and the offset to point at. */
static void *cross_target(int from, uint64_t i)
{
    uint64_t h = mix(((uint64_t)(from + 2) << 56) ^ i);
    int t = from == 0 ? 0 : (int)(h & 1);
    const struct set *d = &g_set[t];
    uint64_t j = (h >> 8) % d->tree_n;
    size_t off = ((h >> 4) & 3) == 0 ? 8 : 0; /* every target is >= 16 bytes */
    return (char *)d->tab[j] + off;
}

static void link_set(struct set *s)
{
    for (uint64_t i = 0; i < s->n; i++) {
        void **b = s->tab[i];
        uint64_t sz = size_of(s->id, i);
        uint64_t words = sz / 8;
        if (i < s->tree_n) {
            uint64_t l = 2 * i + 1, r = 2 * i + 2;
            b[0] = l < s->tree_n ? s->tab[l] : NULL;
            b[1] = r < s->tree_n ? s->tab[r] : NULL;
            s->edges += (l < s->tree_n) + (r < s->tree_n);
        } else { /* a leaked chain */
            uint64_t k = i - s->tree_n;
            int last = (k % CHAIN == CHAIN - 1) || i + 1 == s->n;
            b[0] = last ? NULL : s->tab[i + 1];
            b[1] = NULL;
            s->edges += !last;
            s->leaked_blocks++;
            s->leaked_bytes += sz;
        }
        uint64_t w = 2;
        if (words > 2) {
            b[2] = cross_target(s->id, i);
            s->edges++;
            w = 3;
        }
        uint64_t d = mix(i ^ 0x5eed);
        for (; w < words; w++, d = mix(d)) {
            uint64_t v;
            switch (d % 3) {
            case 0: /* a small integer */
                v = (d >> 8) & 0xffff;
                break;
            case 1: { /* a double in [1, 2^20) */
                double x = 1.0 + (double)((d >> 8) & 0xfffff);
                memcpy(&v, &x, sizeof v);
                break;
            }
            default: /* eight letters */
                v = 0;
                for (int c = 0; c < 8; c++)
                    v |= (uint64_t)('a' + (d >> (8 + 5 * c)) % 26) << (8 * c);
                break;
            }
            b[w] = (void *)(uintptr_t)v;
        }
        memset((char *)b + words * 8, 0x5a, sz - words * 8);
    }
}

/* Counts the tree's blocks from its root, depth first (depth ~ log2 n). */
static uint64_t walk(void **b)
{
    uint64_t n = 0;
    while (b) {
        n++;
        n += walk(b[1]);
        b = b[0];
    }
    return n;
}

static unsigned bucket(uint64_t g)
{
    return g ? 63u - (unsigned)__builtin_clzll(g) : 0;
}

static void *mutator(void *arg)
{
    (void)arg;
    struct set *s = &g_set[1];
    allocate(s);
    pthread_barrier_wait(&g_built);
    link_set(s);
    /* This thread's half is held by this stack slot alone. */
    void **volatile myroot = s->tab[0];
    pthread_barrier_wait(&g_linked);
    pthread_barrier_wait(&g_go); /* main has freed the tables */
    g_mut_reached = walk(myroot);

    uint64_t touch = g_o.touch_every, k = 0, h = 1;
    struct timespec nap = {0, (long)g_o.sleep_us * 1000};
    uint64_t prev = now_ns();
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        uint64_t t = now_ns();
        uint64_t gap = t - prev;
        int ph = atomic_load_explicit(&g_phase, memory_order_relaxed);
        g_hist[ph][bucket(gap)]++;
        g_iters[ph]++;
        if (gap > g_max[ph]) {
            g_max[ph] = gap;
            g_max_at[ph] = prev;
        }
        if (gap >= g_o.gap_ns) {
            if (g_nbig < g_o.big_cap)
                g_big[g_nbig++] = (struct gap){prev, gap, (uint32_t)ph};
            else
                g_big_dropped++;
        }
        if (touch && ++k == touch) { /* a data word of a random block of our tree */
            k = 0;
            h = mix(h);
            void **b = myroot;
            for (int d = 0; d < 20 && b; d++, h >>= 1) {
                void **c = b[h & 1];
                if (!c)
                    break;
                b = c;
            }
            /* Store word 0's own value: a write (a copy-on-write fault after a
             * fork) that leaves the graph as it is. */
            ((void *volatile *)b)[0] = ((void *volatile *)b)[0];
            g_touches++;
        }
        if (nap.tv_nsec)
            nanosleep(&nap, NULL);
        prev = t;
    }
    return (void *)(uintptr_t)(myroot != NULL);
}

static long rss_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    fclose(f);
    return v;
}

static void print_stats(void)
{
    printf("{\"stats\":true,\"gap_threshold_ns\":%" PRIu64 ",\"touches\":%" PRIu64
           ",\"big_dropped\":%" PRIu64 ",\"phases\":[",
           g_o.gap_ns, g_touches, g_big_dropped);
    for (int p = 0; p < NPHASE; p++) {
        printf("%s{\"iters\":%" PRIu64 ",\"max_ns\":%" PRIu64 ",\"max_at\":%" PRIu64 ",\"hist\":[",
               p ? "," : "", g_iters[p], g_max[p], g_max_at[p]);
        for (int b = 0; b < NBUCKET; b++)
            printf("%s%" PRIu64, b ? "," : "", g_hist[p][b]);
        printf("]}");
    }
    printf("],\"big\":[");
    for (uint64_t i = 0; i < g_nbig; i++)
        printf("%s[%" PRIu64 ",%" PRIu64 ",%u]", i ? "," : "", g_big[i].t, g_big[i].len,
               g_big[i].phase);
    printf("],\"vm_hwm_kb\":%ld,\"vm_rss_kb\":%ld}\n", rss_kb("VmHWM"), rss_kb("VmRSS"));
    fflush(stdout);
}

static uint64_t parse_u(const char *s, const char *name)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end); /* 1e7 and 10000000 alike */
    if (errno || end == s || *end || v < 0 || v > 1e15) {
        fprintf(stderr, "hs-bench-snapshot: bad %s: %s\n", name, s);
        exit(2);
    }
    return (uint64_t)v;
}

static void usage(void)
{
    fprintf(stderr, "usage: hs-bench-snapshot [--blocks N] [--mean-size B] [--leak-permille P]\n"
                    "         [--gap-us U] [--touch-every N] [--sleep-us U] [--self-test MS]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--blocks"))
            g_o.blocks = parse_u(v, a);
        else if (!strcmp(a, "--mean-size"))
            g_o.mean = parse_u(v, a);
        else if (!strcmp(a, "--leak-permille"))
            g_o.leak_permille = parse_u(v, a);
        else if (!strcmp(a, "--gap-us"))
            g_o.gap_ns = parse_u(v, a) * 1000;
        else if (!strcmp(a, "--touch-every"))
            g_o.touch_every = parse_u(v, a);
        else if (!strcmp(a, "--sleep-us"))
            g_o.sleep_us = parse_u(v, a);
        else if (!strcmp(a, "--self-test"))
            g_o.self_test_ms = (long)parse_u(v, a);
        else
            usage();
    }
    if (g_o.blocks < 16 || g_o.mean < 24 || g_o.leak_permille > 500 || g_o.sleep_us >= 1000000)
        usage();

    g_big = mmap(NULL, g_o.big_cap * sizeof *g_big, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g_big == MAP_FAILED)
        die("mmap");

    uint64_t t0 = now_ns();
    g_set[0] = (struct set){.id = 0, .n = g_o.blocks - g_o.blocks / 2};
    g_set[1] = (struct set){.id = 1, .n = g_o.blocks / 2};
    uint64_t leak = g_o.blocks * g_o.leak_permille / 1000;
    if (leak >= g_set[0].n)
        leak = g_set[0].n - 1;
    g_set[0].tree_n = g_set[0].n - leak;
    g_set[1].tree_n = g_set[1].n;

    pthread_barrier_init(&g_built, NULL, 2);
    pthread_barrier_init(&g_linked, NULL, 2);
    pthread_barrier_init(&g_go, NULL, 2);
    pthread_t th;
    if (pthread_create(&th, NULL, mutator, NULL))
        die("pthread_create");
    allocate(&g_set[0]);
    pthread_barrier_wait(&g_built);
    link_set(&g_set[0]);
    g_roots[0] = g_set[0].tab[0];
    g_roots[1] = g_set[0].tab[g_set[0].tree_n / 2];
    g_roots[2] = (char *)g_set[0].tab[g_set[0].tree_n - 1] + 8;
    g_roots[3] = NULL;
    pthread_barrier_wait(&g_linked);
    /* The tables are no part of the structure: free them before measuring. */
    free(g_set[0].tab);
    free(g_set[1].tab);
    g_set[0].tab = g_set[1].tab = NULL;
    uint64_t main_reached = walk(g_roots[0]);
    pthread_barrier_wait(&g_go);
    uint64_t t1 = now_ns();

    uint64_t blocks = g_set[0].n + g_set[1].n;
    uint64_t bytes = g_set[0].bytes + g_set[1].bytes;
    printf("{\"ready\":true,\"pid\":%d,\"valgrind\":%u,\"blocks\":%" PRIu64 ",\"bytes\":%" PRIu64
           ",\"main_blocks\":%" PRIu64 ",\"mutator_blocks\":%" PRIu64 ",\"heap_edges\":%" PRIu64
           ",\"leaked_blocks\":%" PRIu64 ",\"leaked_bytes\":%" PRIu64 ",\"main_reached\":%" PRIu64
           ",\"build_s\":%.3f,\"vm_rss_kb\":%ld,\"t\":%" PRIu64 "}\n",
           (int)getpid(), (unsigned)RUNNING_ON_VALGRIND, blocks, bytes, g_set[0].n, g_set[1].n,
           g_set[0].edges + g_set[1].edges, g_set[0].leaked_blocks, g_set[0].leaked_bytes,
           main_reached, (t1 - t0) / 1e9, rss_kb("VmRSS"), t1);
    fflush(stdout);

    int ok = main_reached == g_set[0].tree_n;
    if (g_o.self_test_ms >= 0) {
        struct timespec ts = {g_o.self_test_ms / 1000, (g_o.self_test_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        atomic_store(&g_stop, 1);
        pthread_join(th, NULL);
        ok = ok && g_mut_reached == g_set[1].tree_n && g_iters[0] > 0;
        print_stats();
        printf("{\"self_test\":\"%s\",\"main_reached\":%" PRIu64 ",\"mutator_reached\":%" PRIu64
               ",\"iters\":%" PRIu64 "}\n",
               ok ? "ok" : "FAILED", main_reached, g_mut_reached, g_iters[0]);
        return !ok;
    }

    char line[128];
    while (fgets(line, sizeof line, stdin)) {
        int k;
        if (sscanf(line, "phase %d", &k) == 1 && k >= 0 && k < NPHASE) {
            atomic_store(&g_phase, k);
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            printf("{\"phase\":%d,\"t\":%" PRIu64 ",\"minflt\":%ld}\n", k, now_ns(), ru.ru_minflt);
        } else if (!strncmp(line, "leakcheck", 9)) {
            if (!RUNNING_ON_VALGRIND) {
                printf("{\"error\":\"not running on valgrind\"}\n");
            } else {
                unsigned long leaked = 0, dubious = 0, reachable = 0, suppressed = 0;
                unsigned long leaked_n = 0, dubious_n = 0, reachable_n = 0, suppressed_n = 0;
                (void)suppressed_n;
                uint64_t a = now_ns();
                VALGRIND_DO_LEAK_CHECK;
                uint64_t b = now_ns();
                VALGRIND_COUNT_LEAKS(leaked, dubious, reachable, suppressed);
                VALGRIND_COUNT_LEAK_BLOCKS(leaked_n, dubious_n, reachable_n, suppressed_n);
                printf("{\"leakcheck_s\":%.6f,\"t0\":%" PRIu64 ",\"t1\":%" PRIu64
                       ",\"leaked\":%lu,\"dubious\":%lu,\"reachable\":%lu,\"suppressed\":%lu"
                       ",\"leaked_blocks\":%lu,\"dubious_blocks\":%lu,\"reachable_blocks\":%lu}\n",
                       (b - a) / 1e9, a, b, leaked, dubious, reachable, suppressed, leaked_n,
                       dubious_n, reachable_n);
            }
        } else if (!strncmp(line, "stop", 4)) {
            break;
        } else {
            printf("{\"error\":\"unknown command\"}\n");
        }
        fflush(stdout);
    }
    atomic_store(&g_stop, 1);
    pthread_join(th, NULL);
    print_stats();
    printf("{\"exiting\":true,\"mutator_reached\":%" PRIu64 ",\"t\":%" PRIu64 "}\n", g_mut_reached,
           now_ns());
    fflush(stdout);
    return ok ? 0 : 1;
}
