/*
 * load_target.c — the program of the load test (load_clients.js): eight
 * threads allocate and free for as long as the test wants, with an outcome
 * that does not depend on how long that was, and globals whose values the
 * clients check with Runtime.evaluate and getProperties.
 *
 * Each thread repeats one epoch: NOPS operations drawn from its own PRNG
 * (fixed seed per thread, the same every epoch) on a table of SLOTS blocks —
 * malloc, calloc, posix_memalign, realloc and free — filling every block with
 * a pattern and checking it (and calloc's zeroes, the alignment,
 * malloc_usable_size) before the block is freed or moved. An epoch's sum over
 * what it read back is the same every epoch; a thread counts an error for
 * every epoch whose sum differs from its first and for every check that
 * fails. The output is therefore the same with and without the agent, however
 * many epochs ran; a profiler that corrupted a block or an allocator result
 * changes it.
 *
 * Globals:
 *   g_load_head     → a chain of REC_N records (make_load_record), each
 *                     { next, magic = LOAD_MAGIC + i, name "load-<i>" }
 *   g_load_counter  int, 4242
 *   g_load_magic    uint64, LOAD_MAGIC
 *
 * stdout, one line each (the protocol of tests/node/lib/target.js):
 *   start <pid>
 * commands on stdin:
 *   addrs  → "addrs <rec0> <rec1> ... <rec REC_N-1>" (hex)
 *   go     → starts the threads, "going"
 *   stop   → stops them after their current epoch, joins them (every block
 *            of theirs is freed then), "stopped <sum0> ... <sum7> errors <n>"
 *   epochs → "epochs <n>": epochs run by all threads so far (varies)
 *   mem    → "mem inuse=<B> arena=<B> mmap=<B> rss=<B> registry=<B>":
 *            glibc's bytes in use (mallinfo2 uordblks + hblkhd, every arena,
 *            the agent's own memory included: it comes from the same
 *            allocator), the resident set, and the agent's registry bytes
 *            (hs_agent_get_stats, 0 without the agent) (varies)
 *   EOF    → "done <checksum of every stopped line and the globals>", exit 0
 *
 * The threads run at nice 10, so that on a 2-core machine they do not starve
 * the agent's service thread and the clients of the load test.
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define NTHREADS 8
#define SLOTS 256
#define NOPS 4000
#define REC_N 4
#define LOAD_MAGIC 0x0123456789abcdefull

struct record {
    struct record *next;
    uint64_t magic;
    char name[16];
}; /* 32 bytes */

struct record *g_load_head;
int g_load_counter = 4242;
uint64_t g_load_magic = LOAD_MAGIC;

struct worker {
    pthread_t th;
    int idx;
    uint64_t first_sum; /* the first epoch's, 0 before it */
    uint64_t errors;
    _Atomic uint64_t epochs;
};

static struct worker workers[NTHREADS];
static atomic_int stop_flag;
static int running;
static uint64_t checksum = 1469598103934665603ull;

struct record *make_load_record(int i);

struct record *make_load_record(int i)
{
    struct record *r = calloc(1, sizeof(*r));
    if (!r)
        exit(3);
    r->magic = LOAD_MAGIC + (uint64_t)i;
    snprintf(r->name, sizeof(r->name), "load-%d", i);
    return r;
}

static uint64_t next_rand(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    return (h ^ v) * 1099511628211ull;
}

/* Byte i of a block tagged t. */
static unsigned char pattern(uint64_t t, size_t i)
{
    return (unsigned char)((t >> ((i & 7) * 8)) + i);
}

static void fill(unsigned char *p, size_t n, uint64_t t)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pattern(t, i);
}

/* Checks the first n bytes of a block tagged t; adds them to *sum. */
static void check(struct worker *w, const unsigned char *p, size_t n, uint64_t t, uint64_t *sum)
{
    uint64_t h = *sum;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != pattern(t, i)) {
            w->errors++;
            return;
        }
        h = mix(h, p[i]);
    }
    *sum = h;
}

/* Mostly small blocks, one in sixteen up to 16 KiB. */
static size_t draw_size(uint64_t r)
{
    if (((r >> 40) & 15) == 0)
        return 1 + (size_t)((r >> 8) % 16384);
    return 1 + (size_t)((r >> 8) % 512);
}

static void *alloc_block(struct worker *w, uint64_t r, size_t n)
{
    void *p = NULL;
    switch ((r >> 56) & 3) {
    case 0:
    case 1:
        p = malloc(n);
        break;
    case 2:
        p = calloc(1, n);
        if (p)
            for (size_t i = 0; i < n; i++)
                if (((unsigned char *)p)[i]) {
                    w->errors++;
                    break;
                }
        break;
    default:
        if (posix_memalign(&p, 64, n) != 0)
            p = NULL;
        else if ((uintptr_t)p % 64)
            w->errors++;
        break;
    }
    if (!p)
        exit(3);
    if (malloc_usable_size(p) < n)
        w->errors++;
    return p;
}

static uint64_t epoch(struct worker *w)
{
    unsigned char *slot[SLOTS] = {0};
    size_t size[SLOTS];
    uint64_t tag[SLOTS];
    uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(w->idx + 1);
    uint64_t sum = 0;
    for (int op = 0; op < NOPS; op++) {
        uint64_t r = next_rand(&rng);
        unsigned k = (unsigned)(r % SLOTS);
        if (!slot[k]) {
            size[k] = draw_size(r);
            tag[k] = r;
            slot[k] = alloc_block(w, r, size[k]);
            fill(slot[k], size[k], r);
        } else if (((r >> 32) & 3) == 0) {
            /* realloc keeps the old bytes up to the smaller size */
            size_t n = draw_size(next_rand(&rng));
            size_t keep = n < size[k] ? n : size[k];
            unsigned char *p = realloc(slot[k], n);
            if (!p)
                exit(3);
            check(w, p, keep, tag[k], &sum);
            tag[k] = r;
            fill(p, n, r);
            slot[k] = p;
            size[k] = n;
        } else {
            check(w, slot[k], size[k], tag[k], &sum);
            free(slot[k]);
            slot[k] = NULL;
        }
    }
    for (unsigned k = 0; k < SLOTS; k++)
        if (slot[k]) {
            check(w, slot[k], size[k], tag[k], &sum);
            free(slot[k]);
        }
    return sum;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    /* Linux: a thread's nice value is its own (setpriority on its tid). */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0)
        w->errors++;
    do {
        uint64_t s = epoch(w);
        if (!w->epochs)
            w->first_sum = s;
        else if (s != w->first_sum)
            w->errors++;
        w->epochs++;
    } while (!atomic_load(&stop_flag));
    return NULL;
}

static void go(void)
{
    if (running)
        return;
    atomic_store(&stop_flag, 0);
    for (int i = 0; i < NTHREADS; i++) {
        workers[i].idx = i;
        if (pthread_create(&workers[i].th, NULL, work, &workers[i]) != 0)
            exit(4);
    }
    running = 1;
}

static void stop(void)
{
    if (running) {
        atomic_store(&stop_flag, 1);
        for (int i = 0; i < NTHREADS; i++)
            pthread_join(workers[i].th, NULL);
        running = 0;
    }
    char line[512];
    int n = snprintf(line, sizeof(line), "stopped");
    uint64_t errors = 0;
    for (int i = 0; i < NTHREADS; i++) {
        n += snprintf(line + n, sizeof(line) - (size_t)n, " %016" PRIx64, workers[i].first_sum);
        errors += workers[i].errors;
    }
    snprintf(line + n, sizeof(line) - (size_t)n, " errors %" PRIu64, errors);
    for (const char *c = line; *c; c++)
        checksum = mix(checksum, (unsigned char)*c);
    puts(line);
}

/* hs_agent_get_stats() of include/heapscope/hs_agent.h, when the agent is
 * loaded: looked up at run time, so that the program runs without it too. */
struct agent_stats {
    uint64_t live_blocks, live_bytes, peak_bytes, allocs, frees, sites, registry_bytes;
};

static void mem(void)
{
    struct agent_stats st = {0};
    int (*get_stats)(struct agent_stats *) =
        (int (*)(struct agent_stats *))dlsym(RTLD_DEFAULT, "hs_agent_get_stats");
    if (get_stats)
        get_stats(&st);
    struct mallinfo2 mi = mallinfo2();
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    printf("mem inuse=%zu arena=%zu mmap=%zu rss=%ld registry=%" PRIu64 "\n",
           mi.uordblks + mi.hblkhd, mi.arena, mi.hblkhd, resident * sysconf(_SC_PAGESIZE),
           st.registry_bytes);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = REC_N - 1; i >= 0; i--) {
        struct record *r = make_load_record(i);
        r->next = g_load_head;
        g_load_head = r;
    }
    printf("start %d\n", (int)getpid());
    char line[256];
    while (fgets(line, sizeof(line), stdin)) {
        if (!strncmp(line, "addrs", 5)) {
            printf("addrs");
            for (struct record *r = g_load_head; r; r = r->next)
                printf(" %p", (void *)r);
            printf("\n");
        } else if (!strncmp(line, "go", 2)) {
            go();
            puts("going");
        } else if (!strncmp(line, "stop", 4)) {
            stop();
        } else if (!strncmp(line, "epochs", 6)) {
            uint64_t n = 0;
            for (int i = 0; i < NTHREADS; i++)
                n += atomic_load(&workers[i].epochs);
            printf("epochs %" PRIu64 "\n", n);
        } else if (!strncmp(line, "mem", 3)) {
            mem();
        } else {
            printf("unknown command\n");
        }
    }
    stop();
    for (struct record *r = g_load_head; r; r = r->next)
        checksum = mix(mix(checksum, r->magic), (uint64_t)g_load_counter);
    printf("done %016" PRIx64 "\n", mix(checksum, g_load_magic));
    return 0;
}
