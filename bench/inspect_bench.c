/*
 * inspect_bench.c — the program of the object-inspection benchmark (issue 7;
 * bench/inspect.py drives it, docs/design/inspection.md says what is measured).
 *
 * Builds --blocks blocks (default 5 M) of 16 bytes, each from make_node (its
 * allocation site): a singly linked list in allocation order, block i's word 0
 * pointing to block i+1 (the last: NULL), word 1 holding i. Two globals hold
 * its ends: g_head the first (oldest) block, g_tail the last (newest).
 * Before the list, make_fan allocates a block of --fan words (default 1000,
 * 8000 bytes: under the agent's 8 KiB getProperties window), whose word k then
 * points to list block k * (blocks / fan); g_fan holds it. So:
 *
 *   g_head    the block the heap id lookups find late in the agent's registry
 *             walk (leaves are walked newest window first), g_tail the one
 *             found early;
 *   g_fan     a block of 1000 pointers to other blocks (Runtime.getProperties).
 *
 * Protocol: after the build, one JSON line on stdout, {"ready":true, blocks,
 * fan, head, tail, fan_block, fan_targets: [1000 addresses], build_s,
 * vm_rss_kb}, addresses as "0x…"; then it reads stdin: "check" walks the list
 * from g_head and answers {"check":"ok"|"bad", "walked":n}; "stop" or end of
 * input ends the program (exit 0).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct node {
    struct node *next;
    uint64_t i;
};

/* The globals the benchmark evaluates by name (not static: the agent finds
 * symbols in the program's symbol table either way; these are also exported). */
struct node *volatile g_head;
struct node *volatile g_tail;
void **volatile g_fan;
uint64_t g_blocks;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long vm_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* Separate functions, never inlined: each is one allocation site by name. */
__attribute__((noinline)) static struct node *make_node(uint64_t i)
{
    struct node *n = malloc(sizeof(*n));
    if (!n) {
        perror("hs-bench-inspect: malloc");
        exit(2);
    }
    n->next = NULL;
    n->i = i;
    return n;
}

__attribute__((noinline)) static void **make_fan(uint64_t n)
{
    void **f = calloc(n, sizeof(void *));
    if (!f) {
        perror("hs-bench-inspect: calloc");
        exit(2);
    }
    return f;
}

static int check(uint64_t *walked)
{
    uint64_t k = 0;
    const struct node *last = NULL;
    for (const struct node *n = g_head; n; n = n->next, k++) {
        if (n->i != k)
            return 0;
        last = n;
    }
    *walked = k;
    return k == g_blocks && last == g_tail;
}

static uint64_t arg_u64(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end); /* accepts 5e6 */
    if (*end || v < 1 || v > 1e10) {
        fprintf(stderr, "hs-bench-inspect: bad %s: %s\n", what, s);
        exit(2);
    }
    return (uint64_t)v;
}

int main(int argc, char **argv)
{
    uint64_t blocks = 5000000, fan = 1000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--blocks") && i + 1 < argc)
            blocks = arg_u64(argv[++i], "--blocks");
        else if (!strcmp(argv[i], "--fan") && i + 1 < argc)
            fan = arg_u64(argv[++i], "--fan");
        else {
            fprintf(stderr, "usage: hs-bench-inspect [--blocks N] [--fan K]\n");
            return 2;
        }
    }
    if (fan > blocks)
        fan = blocks;
    double t0 = now_s();
    void **f = make_fan(fan);
    g_fan = f;
    struct node *head = make_node(0), *tail = head;
    for (uint64_t i = 1; i < blocks; i++) {
        struct node *n = make_node(i);
        tail->next = n;
        tail = n;
    }
    g_head = head;
    g_tail = tail;
    g_blocks = blocks;
    uint64_t step = blocks / fan;
    uint64_t k = 0, at = 0;
    for (struct node *n = head; n && k < fan; n = n->next, at++)
        if (at == k * step)
            f[k++] = n;
    double build_s = now_s() - t0;

    printf("{\"ready\":true,\"blocks\":%" PRIu64 ",\"fan\":%" PRIu64 ",\"step\":%" PRIu64
           ",\"head\":\"%p\",\"tail\":\"%p\",\"fan_block\":\"%p\",\"build_s\":%.3f,"
           "\"vm_rss_kb\":%ld,\"fan_targets\":[",
           blocks, fan, step, (void *)head, (void *)tail, (void *)f, build_s, vm_rss_kb());
    for (uint64_t j = 0; j < fan; j++)
        printf("%s\"%p\"", j ? "," : "", f[j]);
    printf("]}\n");
    fflush(stdout);

    char line[64];
    while (fgets(line, sizeof(line), stdin)) {
        if (!strncmp(line, "stop", 4))
            break;
        if (!strncmp(line, "check", 5)) {
            uint64_t walked = 0;
            int ok = check(&walked);
            printf("{\"check\":\"%s\",\"walked\":%" PRIu64 "}\n", ok ? "ok" : "bad", walked);
            fflush(stdout);
        } else {
            printf("{\"error\":\"unknown command\"}\n");
            fflush(stdout);
        }
    }
    return 0;
}
