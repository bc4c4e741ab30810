/*
 * hs-browser-timeline-target: the C program of the "Allocations on timeline"
 * test under the agent (test/devtools-agent-timeline.test.mjs). It allocates
 * only when told to, each phase in its own named function that calls malloc
 * itself, once, on the line marked "site: <function>" (the test reads those
 * lines to know the snapshot's class names, "function timeline_target.c:LINE"):
 *
 *   burst_keep(n)    n blocks of KEEP_SIZE bytes, kept in g_kept
 *   burst_free(n)    n blocks of CHURN_SIZE bytes, all freed before it returns
 *   trickle_leak(n)  n blocks of LEAK_SIZE bytes whose addresses are dropped
 *
 * stdin, one command a line, each answered with one stdout line once the
 * phase is done (the test times the phases by these answers and by the
 * agent's ticks, never by sleeping):
 *   keep N     -> "ok <blocks kept so far>"
 *   churn N    -> "ok N"
 *   trickle N  -> "ok <blocks leaked so far>"
 * The first line is "start <pid>"; at end of input it prints "done" and
 * exits 0. Nothing is allocated between commands (stdio's buffers exist
 * before "start").
 *
 * Built -O0 with frame pointers and without inlining, like the other
 * targets: each phase's blocks have that function as their site and as the
 * innermost frame of their stack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

#define MAX_KEPT 100000
#define MAX_CHURN 100000
#define KEEP_SIZE 96
#define CHURN_SIZE 64
#define LEAK_SIZE 40

size_t burst_keep(size_t n);
size_t burst_free(size_t n);
size_t trickle_leak(size_t n);

/* The kept blocks: a root the snapshot sees, so they are reachable. */
void *g_kept[MAX_KEPT];
static size_t nkept;
static size_t nleaked;
/* burst_free's blocks until it frees them (static: no 800 KiB frame). */
static void *churn[MAX_CHURN];

static void die_oom(void)
{
    fprintf(stderr, "hs-browser-timeline-target: out of memory\n");
    exit(3);
}

NOINLINE size_t burst_keep(size_t n)
{
    for (size_t i = 0; i < n && nkept < MAX_KEPT; i++) {
        void *p = malloc(KEEP_SIZE); /* site: burst_keep */
        if (p == NULL)
            die_oom();
        memset(p, 0x4b, KEEP_SIZE);
        g_kept[nkept++] = p;
    }
    return nkept;
}

NOINLINE size_t burst_free(size_t n)
{
    if (n > MAX_CHURN)
        n = MAX_CHURN;
    for (size_t i = 0; i < n; i++) {
        churn[i] = malloc(CHURN_SIZE); /* site: burst_free */
        if (churn[i] == NULL)
            die_oom();
        memset(churn[i], 0x46, CHURN_SIZE);
    }
    for (size_t i = 0; i < n; i++) {
        free(churn[i]);
        churn[i] = NULL;
    }
    return n;
}

/* The addresses are dropped: no root holds these blocks. */
NOINLINE size_t trickle_leak(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = malloc(LEAK_SIZE); /* site: trickle_leak */
        if (p == NULL)
            die_oom();
        memset(p, 0x4c, LEAK_SIZE);
        p = NULL;
        nleaked++;
    }
    return nleaked;
}

int main(void)
{
    char line[256];

    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("start %ld\n", (long)getpid());
    while (fgets(line, sizeof line, stdin) != NULL) {
        char cmd[16];
        unsigned long n;
        if (sscanf(line, "%15s %lu", cmd, &n) == 2 && n >= 1 && n <= 100000) {
            if (strcmp(cmd, "keep") == 0) {
                printf("ok %zu\n", burst_keep(n));
                continue;
            }
            if (strcmp(cmd, "churn") == 0) {
                printf("ok %zu\n", burst_free(n));
                continue;
            }
            if (strcmp(cmd, "trickle") == 0) {
                printf("ok %zu\n", trickle_leak(n));
                continue;
            }
        }
        fprintf(stderr, "hs-browser-timeline-target: bad command: %s", line);
        printf("error\n");
    }
    printf("done\n");
    return 0;
}
