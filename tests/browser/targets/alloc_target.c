/*
 * hs-browser-target: the C program the browser tests profile under the agent.
 *
 * It allocates only when told to, in functions with distinctive names, and
 * keeps what it allocated live until the next command, so that a sampling
 * profile taken around a command holds samples in those functions (sampling
 * keeps live samples only, as V8 does). Built with -O0 and frame pointers so
 * that none of them is inlined away.
 *
 * stdin, one command a line; every command is answered with one stdout line:
 *   work N   N rounds of hsb_work(): each keeps ~1.5 MiB live in
 *            hsb_alloc_blocks (1 MiB), hsb_alloc_strings (256 KiB) and
 *            hsb_build_list (256 KiB) -> "ok <live bytes>"
 *   free     frees everything -> "ok 0"
 * At end of input it frees everything, prints "done" and exits 0.
 * The first line it prints is "start <pid>".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

struct hsb_round;
void hsb_alloc_blocks(struct hsb_round *r);
void hsb_alloc_strings(struct hsb_round *r);
void hsb_build_list(struct hsb_round *r);
void hsb_work(struct hsb_round *r);

struct hsb_node {
    struct hsb_node *next;
    uint64_t payload[7];
};

struct hsb_round {
    void *blocks[256];
    char *strings[256];
    struct hsb_node *list;
};

static struct hsb_round *rounds;
static size_t nrounds;
static size_t live_bytes;

/* Out of line and never on the stack at a malloc: the named functions below
 * call malloc themselves, so that each is the innermost frame of its samples. */
static void die_oom(void)
{
    fprintf(stderr, "hs-browser-target: out of memory\n");
    exit(3);
}

/* 256 blocks of 4 KiB: the largest share, so the first in the profile. */
NOINLINE void hsb_alloc_blocks(struct hsb_round *r)
{
    for (int i = 0; i < 256; i++) {
        r->blocks[i] = malloc(4096);
        if (r->blocks[i] == NULL)
            die_oom();
        memset(r->blocks[i], i & 0xff, 4096);
        live_bytes += 4096;
    }
}

/* 256 strings of 1 KiB. */
NOINLINE void hsb_alloc_strings(struct hsb_round *r)
{
    for (int i = 0; i < 256; i++) {
        char *s = malloc(1024);
        if (s == NULL)
            die_oom();
        memset(s, 'a' + i % 26, 1023);
        s[1023] = '\0';
        r->strings[i] = s;
        live_bytes += 1024;
    }
}

/* A list of 4096 nodes of 64 bytes, one calloc each. */
NOINLINE void hsb_build_list(struct hsb_round *r)
{
    r->list = NULL;
    for (int i = 0; i < 4096; i++) {
        struct hsb_node *n = calloc(1, sizeof *n);
        if (n == NULL)
            die_oom();
        n->payload[0] = (uint64_t)i;
        n->next = r->list;
        r->list = n;
        live_bytes += sizeof *n;
    }
}

NOINLINE void hsb_work(struct hsb_round *r)
{
    hsb_alloc_blocks(r);
    hsb_alloc_strings(r);
    hsb_build_list(r);
}

static void free_all(void)
{
    for (size_t k = 0; k < nrounds; k++) {
        struct hsb_round *r = &rounds[k];
        for (int i = 0; i < 256; i++) {
            free(r->blocks[i]);
            free(r->strings[i]);
        }
        while (r->list != NULL) {
            struct hsb_node *n = r->list;
            r->list = n->next;
            free(n);
        }
    }
    free(rounds);
    rounds = NULL;
    nrounds = 0;
    live_bytes = 0;
}

int main(void)
{
    char line[256];

    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("start %ld\n", (long)getpid());
    while (fgets(line, sizeof line, stdin) != NULL) {
        unsigned long n;
        if (sscanf(line, "work %lu", &n) == 1 && n >= 1 && n <= 1000) {
            free_all();
            rounds = calloc(n, sizeof *rounds);
            if (rounds == NULL)
                die_oom();
            nrounds = n;
            for (size_t k = 0; k < n; k++)
                hsb_work(&rounds[k]);
            printf("ok %zu\n", live_bytes);
        } else if (strcmp(line, "free\n") == 0) {
            free_all();
            printf("ok 0\n");
        } else {
            fprintf(stderr, "hs-browser-target: bad command: %s", line);
            printf("error\n");
        }
    }
    free_all();
    printf("done\n");
    return 0;
}
