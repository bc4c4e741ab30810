/*
 * exec_target.c — the program of fault-exit-exec (hs-fault-exec-target): a
 * heap big enough that its snapshot streams for a while, then, on a command,
 * it exits or replaces itself with another program in the middle of it.
 *
 * Usage: hs-fault-exec-target BLOCKS PROGRAM ARGS...
 *   keeps BLOCKS small blocks live in a list (the snapshot's size), prints
 *   `ready <checksum>` and obeys stdin, one command a line:
 *     exit   prints `bye <checksum>` and exits with status 5 through exit(),
 *            so that atexit handlers and destructors (the agent's) run
 *     exec   execv(PROGRAM, ARGS): the exec'd program's output and status
 *            are the test's proof that it started as it would have anyway
 * The checksum covers the list's contents, checked before it is printed.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node {
    struct node *next;
    uint64_t value;
};

static struct node *g_list;

static uint64_t checksum(void)
{
    uint64_t h = 1469598103934665603ull;
    for (const struct node *n = g_list; n; n = n->next)
        h = (h ^ n->value) * 1099511628211ull;
    return h;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s BLOCKS PROGRAM ARGS...\n", argv[0]);
        return 2;
    }
    long blocks = strtol(argv[1], NULL, 10);
    for (long i = 0; i < blocks; i++) {
        struct node *n = malloc(sizeof(*n));
        if (!n)
            return 3;
        n->value = (uint64_t)i * 2654435761u;
        n->next = g_list;
        g_list = n;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready %016" PRIx64 "\n", checksum());
    char line[64];
    while (fgets(line, sizeof(line), stdin)) {
        if (!strcmp(line, "exit\n")) {
            printf("bye %016" PRIx64 "\n", checksum());
            exit(5);
        }
        if (!strcmp(line, "exec\n")) {
            execv(argv[2], argv + 2);
            perror("execv");
            return 4;
        }
    }
    return 0;
}
