/*
 * truth.c — a program whose allocations are known exactly, for the sampling
 * accuracy tests (tests/node/test/sampling.test.js). Commands on stdin, one
 * answer line each on stdout:
 *
 *   run      THREADS threads each call every alloc_* function below, then
 *            join; prints the ground truth as one JSON object:
 *            {"<function>": {"live": bytes, "young": bytes, "old": bytes}}
 *            live = still allocated, young = freed at once (short-lived),
 *            old = freed after living longer than HEAPSCOPE_YOUNG_MS.
 *   free     frees every live block; prints "freed"
 *
 * "Old" blocks are freed once the clock says they are older than the
 * agent's young threshold (plus a margin): waiting for a stated age is the
 * definition of old here, not synchronisation with anything.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define MAX_KEEP 400000

static void *keep[MAX_KEEP];
static size_t nkeep;
static pthread_mutex_t keep_mu = PTHREAD_MUTEX_INITIALIZER;
static long young_ms = 100;

enum { F_SMALL, F_MEDIUM, F_LARGE, F_CALLOC, F_REALLOC, F_YOUNG, F_OLD, NF };
static const char *names[NF] = {"alloc_small_live",  "alloc_medium_live",  "alloc_large_live",
                                "alloc_calloc_live", "alloc_realloc_live", "alloc_freed_young",
                                "alloc_freed_old"};
static struct {
    unsigned long long live, young, old;
} truth[NF];
static pthread_mutex_t truth_mu = PTHREAD_MUTEX_INITIALIZER;

/* Exported (their names are what the tests look for). */
void alloc_small_live(void);
void alloc_medium_live(void);
void alloc_large_live(void);
void alloc_calloc_live(void);
void alloc_realloc_live(void);
void alloc_freed_young(void);
void alloc_freed_old(void);

static void keep_block(void *p)
{
    pthread_mutex_lock(&keep_mu);
    if (nkeep < MAX_KEEP)
        keep[nkeep++] = p;
    pthread_mutex_unlock(&keep_mu);
}

static void count(int f, unsigned long long live, unsigned long long young, unsigned long long old)
{
    pthread_mutex_lock(&truth_mu);
    truth[f].live += live;
    truth[f].young += young;
    truth[f].old += old;
    pthread_mutex_unlock(&truth_mu);
}

__attribute__((noinline)) void alloc_small_live(void)
{
    for (int i = 0; i < 40000; i++) {
        void *p = malloc(48);
        memset(p, 1, 48);
        keep_block(p);
    }
    count(F_SMALL, 40000ull * 48, 0, 0);
}

__attribute__((noinline)) void alloc_medium_live(void)
{
    for (int i = 0; i < 5000; i++) {
        void *p = malloc(1500);
        memset(p, 2, 16);
        keep_block(p);
    }
    count(F_MEDIUM, 5000ull * 1500, 0, 0);
}

__attribute__((noinline)) void alloc_large_live(void)
{
    for (int i = 0; i < 40; i++) {
        void *p = malloc(200000);
        memset(p, 3, 16);
        keep_block(p);
    }
    count(F_LARGE, 40ull * 200000, 0, 0);
}

__attribute__((noinline)) void alloc_calloc_live(void)
{
    for (int i = 0; i < 10000; i++)
        keep_block(calloc(25, 16));
    count(F_CALLOC, 10000ull * 400, 0, 0);
}

/* Grows each block in steps: only the final size is live. */
__attribute__((noinline)) void alloc_realloc_live(void)
{
    for (int i = 0; i < 4000; i++) {
        char *p = NULL;
        for (size_t n = 256; n <= 2048; n *= 2)
            p = realloc(p, n);
        p[0] = 4;
        keep_block(p);
    }
    count(F_REALLOC, 4000ull * 2048, 0, 0);
}

__attribute__((noinline)) void alloc_freed_young(void)
{
    for (int i = 0; i < 20000; i++) {
        char *volatile p = malloc(600);
        p[0] = 5;
        free(p);
    }
    count(F_YOUNG, 0, 20000ull * 600, 0);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

__attribute__((noinline)) void alloc_freed_old(void)
{
    enum { N = 3000 };
    static __thread void *mine[N];
    for (int i = 0; i < N; i++) {
        mine[i] = malloc(2500);
        memset(mine[i], 6, 16);
    }
    /* Old: the youngest block is past the threshold, with a margin for the
     * clocks' granularity. */
    double youngest = now_ms();
    while (now_ms() - youngest < (double)young_ms * 1.5 + 20) {
        struct timespec d = {0, 5 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    for (int i = 0; i < N; i++)
        free(mine[i]);
    count(F_OLD, 0, 0, N * 2500ull);
}

static void *worker(void *arg)
{
    (void)arg;
    alloc_small_live();
    alloc_medium_live();
    alloc_large_live();
    alloc_calloc_live();
    alloc_realloc_live();
    alloc_freed_young();
    alloc_freed_old();
    return NULL;
}

static void run(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("{");
    for (int f = 0; f < NF; f++)
        printf("%s\"%s\":{\"live\":%llu,\"young\":%llu,\"old\":%llu}", f ? "," : "", names[f],
               truth[f].live, truth[f].young, truth[f].old);
    printf("}\n");
    memset(truth, 0, sizeof(truth));
}

int main(void)
{
    const char *y = getenv("HEAPSCOPE_YOUNG_MS");
    if (y && *y)
        young_ms = atol(y);
    char line[64];
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("start %ld\n", (long)getpid());
    while (fgets(line, sizeof(line), stdin)) {
        if (!strncmp(line, "run", 3)) {
            run();
        } else if (!strncmp(line, "free", 4)) {
            for (size_t i = 0; i < nkeep; i++)
                free(keep[i]);
            nkeep = 0;
            printf("freed\n");
        } else {
            printf("unknown command\n");
        }
    }
    printf("done 0000000000000000\n");
    return 0;
}
