/*
 * phases.c — a program that allocates in known phases on command, for the
 * allocation timeline's tests (tests/node/test/timeline.test.js). Each
 * command on stdin is answered by one line on stdout once it is done, so the
 * test knows which ticks a phase falls between without sleeping:
 *
 * The first line is "start <pid>" (tests/node/lib/target.js expects it).
 *
 *   ping            → "pong"              (stdio's own buffers exist from then on)
 *   keep N S        → "kept N"            burst_keep: N blocks of S bytes, kept
 *   drop N          → "dropped N"         frees the first N kept blocks
 *   grow            → "grown N"           reallocs every kept block to twice its size
 *   churn N S       → "churned N"         burst_free: N blocks of S bytes, all freed
 *   leak N S        → "leaked N"          trickle_leak: N blocks of S bytes, pointers lost
 *   (end of input)  → "done <checksum>"   and exit 0
 *
 * Nothing else allocates after the first command. -O0 and no inlining: each
 * phase's blocks come from its own function (site and stack).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_KEPT (1 << 20)

static void *kept[MAX_KEPT];
static size_t kept_size[MAX_KEPT];
static size_t nkept, first_kept;
static unsigned long checksum;

/* Exported (-rdynamic): named in sites and stacks even without debug info. */
void burst_keep(size_t n, size_t size);
void burst_free(size_t n, size_t size);
void trickle_leak(size_t n, size_t size);

static void touch(unsigned char *p, size_t n)
{
    memset(p, (int)(n & 0xff), n);
    checksum = checksum * 31 + n;
}

void burst_keep(size_t n, size_t size)
{
    for (size_t i = 0; i < n && nkept < MAX_KEPT; i++) {
        unsigned char *p = malloc(size);
        if (!p)
            abort();
        touch(p, size);
        kept_size[nkept] = size;
        kept[nkept++] = p;
    }
}

void burst_free(size_t n, size_t size)
{
    static void *tmp[MAX_KEPT];
    for (size_t i = 0; i < n && i < MAX_KEPT; i++) {
        tmp[i] = malloc(size);
        if (!tmp[i])
            abort();
        touch(tmp[i], size);
    }
    for (size_t i = 0; i < n && i < MAX_KEPT; i++) {
        free(tmp[i]);
        tmp[i] = NULL; /* no stale pointer to memory later blocks reuse */
    }
}

void trickle_leak(size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = malloc(size);
        if (!p)
            abort();
        touch(p, size);
        p = NULL; /* lost */
    }
}

static size_t drop(size_t n)
{
    size_t k = 0;
    for (; k < n && first_kept < nkept; k++, first_kept++) {
        free(kept[first_kept]);
        kept[first_kept] = NULL;
    }
    return k;
}

static size_t grow(void)
{
    size_t k = 0;
    for (size_t i = first_kept; i < nkept; i++, k++) {
        void *q = realloc(kept[i], 2 * kept_size[i]);
        if (!q)
            abort();
        kept[i] = q;
        kept_size[i] *= 2;
        touch(q, kept_size[i]);
    }
    return k;
}

int main(void)
{
    char line[256];
    printf("start %ld\n", (long)getpid());
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) {
        char cmd[32];
        unsigned long n = 0, size = 0;
        int got = sscanf(line, "%31s %lu %lu", cmd, &n, &size);
        if (got < 1)
            continue;
        if (!strcmp(cmd, "ping")) {
            printf("pong\n");
        } else if (!strcmp(cmd, "keep") && got == 3) {
            burst_keep(n, size);
            printf("kept %lu\n", n);
        } else if (!strcmp(cmd, "drop") && got >= 2) {
            printf("dropped %zu\n", drop(n));
        } else if (!strcmp(cmd, "grow")) {
            printf("grown %zu\n", grow());
        } else if (!strcmp(cmd, "churn") && got == 3) {
            burst_free(n, size);
            printf("churned %lu\n", n);
        } else if (!strcmp(cmd, "leak") && got == 3) {
            trickle_leak(n, size);
            printf("leaked %lu\n", n);
        } else {
            printf("error unknown command: %s", line);
        }
        fflush(stdout);
    }
    printf("done %lu\n", checksum);
    return 0;
}
