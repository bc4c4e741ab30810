/*
 * inspect_target.c — a program whose values are known exactly, for object
 * inspection (tests/node/test/inspect.test.js, the browser's inspection test):
 * what Runtime.evaluate, getProperties and the object-id commands must show.
 *
 *   g_head      global pointer → a chain of REC_N records (make_record), each
 *               { next, magic = 0x1122334455667788 + i, name "rec-<i>" }
 *   g_counter   global int, 42
 *   g_ptrs      global array of 4 pointers: [0] = g_head, [1] = &g_counter,
 *               [2] = a block freed on "free" (make_doomed), [3] = NULL
 *   g_big       global pointer → a block of BIG_SIZE bytes (make_big), word i = i
 *   g_fan       global array of FAN_N pointers, all to g_head (for the object
 *               table's bound: one getProperties hands out FAN_N objects)
 *   g_scratch   global pointer → the blocks of the last "scratch" command, a
 *               list through their first word (NULL until then)
 *
 * stdout, one line each (the protocol of tests/node/lib/target.js):
 *   start <pid>
 * commands on stdin:
 *   addrs  → "addrs <g_head> <rec1> <doomed> <big> <&g_counter>" (hex)
 *   free   → frees the doomed block (g_ptrs[2] keeps its stale address),
 *            answers "freed"
 *   scratch N → frees the previous scratch blocks, then scratch_round()
 *            allocates N blocks of SCRATCH_SIZE bytes in make_scratch, kept
 *            in g_scratch until the next scratch (allocation to profile
 *            while sampling or on a timeline), answers "ok scratch N"
 *   EOF    → "done 0", exit 0
 *
 * -O0, no inlining, -rdynamic: each kind of block has its own site. The
 * record and scratch lines are marked "site: <function>" for the browser
 * test, which names the DevTools classes from them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REC_N 3
#define BIG_SIZE 20000
#define FAN_N 1024
#define SCRATCH_SIZE 4096

struct record {
    struct record *next;
    uint64_t magic;
    char name[16];
}; /* 32 bytes */

struct record *g_head;
int g_counter = 42;
void *g_ptrs[4];
uint64_t *g_big;
void *g_fan[FAN_N];
void **g_scratch;

struct record *make_record(int i);
void *make_doomed(void);
uint64_t *make_big(void);
void **make_scratch(void **next);
void scratch_round(long n);

struct record *make_record(int i)
{
    struct record *r = calloc(1, sizeof(*r)); /* site: make_record */
    if (!r)
        exit(3);
    r->magic = 0x1122334455667788ull + (uint64_t)i;
    snprintf(r->name, sizeof(r->name), "rec-%d", i);
    return r;
}

void *make_doomed(void)
{
    char *p = malloc(64);
    if (!p)
        exit(3);
    memset(p, 'd', 64);
    return p;
}

uint64_t *make_big(void)
{
    uint64_t *b = malloc(BIG_SIZE);
    if (!b)
        exit(3);
    for (size_t i = 0; i < BIG_SIZE / 8; i++)
        b[i] = i;
    return b;
}

void **make_scratch(void **next)
{
    void **b = malloc(SCRATCH_SIZE); /* site: make_scratch */
    if (!b)
        exit(3);
    memset(b, 's', SCRATCH_SIZE);
    b[0] = next;
    return b;
}

void scratch_round(long n)
{
    while (g_scratch) {
        void **next = g_scratch[0];
        free(g_scratch);
        g_scratch = next;
    }
    for (long i = 0; i < n; i++)
        g_scratch = make_scratch(g_scratch);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = REC_N - 1; i >= 0; i--) {
        struct record *r = make_record(i);
        r->next = g_head;
        g_head = r;
    }
    g_ptrs[0] = g_head;
    g_ptrs[1] = &g_counter;
    g_ptrs[2] = make_doomed();
    g_big = make_big();
    for (int i = 0; i < FAN_N; i++)
        g_fan[i] = g_head;
    printf("start %d\n", (int)getpid());
    char line[256];
    while (fgets(line, sizeof(line), stdin)) {
        if (!strncmp(line, "addrs", 5))
            printf("addrs %p %p %p %p %p\n", (void *)g_head, (void *)g_head->next, g_ptrs[2],
                   (void *)g_big, (void *)&g_counter);
        else if (!strncmp(line, "free", 4)) {
            free(g_ptrs[2]);
            printf("freed\n");
        } else if (!strncmp(line, "scratch ", 8)) {
            long n = strtol(line + 8, NULL, 10);
            scratch_round(n < 0 ? 0 : n);
            printf("ok scratch %ld\n", n < 0 ? 0 : n);
        } else
            printf("unknown\n");
    }
    printf("done 0\n");
    return 0;
}
