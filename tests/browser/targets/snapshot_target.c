/*
 * hs-browser-snapshot-target: a C program with a known heap, for the heap
 * snapshot tests under the agent (test/devtools-agent-snapshot.test.mjs).
 *
 * At start, before it prints "start <pid>":
 *   g_list    a linked list of LIST_NODES nodes, each one malloc in make_list_node
 *   g_blobs   a global table of BLOBS blocks of BLOB_SIZE bytes, each one malloc in make_blob
 *   LEAKS blocks of LEAK_SIZE bytes, each one malloc in leak_block, whose
 *             address is dropped: no root reaches them
 * Each allocating function calls malloc exactly once, on the line marked
 * "site: <function>", so every block of it has the same allocation site
 * (the test reads those lines from this file to know the exact names).
 *
 * The snapshot scans conservatively: any word that looks like a block's
 * address holds it. So every block is filled (no stale pointer in reused
 * memory), the leaks are made first (the registers then last held the other
 * blocks' addresses) and the dead part of the stack is zeroed before the
 * program waits for a command (no stale address in an unused slot of a
 * frame; a stale list address would only add a retainer, but a stale leak
 * address would make it reachable).
 *
 * stdin, one command a line, each answered with one stdout line:
 *   grow N   prepends N more make_list_node nodes to g_list -> "ok <list length>"
 * At end of input it prints "done" and exits 0 (the heap is left to the exit).
 *
 * Built with -O0 and frame pointers, like hs-browser-target: nothing is
 * inlined, so the allocation sites are these functions.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

#define LIST_NODES 20
#define BLOBS 8
#define BLOB_SIZE 512
#define LEAKS 5
#define LEAK_SIZE 96

struct list_node;
struct list_node *make_list_node(struct list_node *next, uint64_t value);
void *make_blob(size_t size, int fill);
int leak_block(int fill);

struct list_node {
    struct list_node *next;
    uint64_t value;
    uint64_t pad[6];
};

/* The roots the snapshot must name: data symbols of this executable. */
struct list_node *g_list;
void *g_blobs[BLOBS];

static size_t list_length;

static void die_oom(void)
{
    fprintf(stderr, "hs-browser-snapshot-target: out of memory\n");
    exit(3);
}

NOINLINE struct list_node *make_list_node(struct list_node *next, uint64_t value)
{
    struct list_node *n = malloc(sizeof *n); /* site: make_list_node */
    if (n == NULL)
        die_oom();
    memset(n, 0, sizeof *n);
    n->next = next;
    n->value = value;
    return n;
}

NOINLINE void *make_blob(size_t size, int fill)
{
    void *b = malloc(size); /* site: make_blob */
    if (b == NULL)
        die_oom();
    memset(b, fill, size);
    return b;
}

/* Allocates a block and forgets it. Returns a byte of it, not its address,
 * so that the address does not linger in the return register. */
NOINLINE int leak_block(int fill)
{
    unsigned char *p = malloc(LEAK_SIZE); /* site: leak_block */
    if (p == NULL)
        die_oom();
    memset(p, fill, LEAK_SIZE);
    int first = p[0];
    p = NULL;
    return first;
}

static void grow(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        g_list = make_list_node(g_list, list_length);
        list_length++;
    }
}

/* Zeroes the 64 KiB below the caller's frame, where the calls just made had theirs. */
NOINLINE static void scrub_stack(void)
{
    unsigned char buf[65536];
    explicit_bzero(buf, sizeof buf);
}

int main(void)
{
    char line[256];

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < LEAKS; i++)
        leak_block(0x5a);
    grow(LIST_NODES);
    for (int i = 0; i < BLOBS; i++)
        g_blobs[i] = make_blob(BLOB_SIZE, 0x11 * (i + 1));

    scrub_stack();
    printf("start %ld\n", (long)getpid());
    while (fgets(line, sizeof line, stdin) != NULL) {
        unsigned long n;
        if (sscanf(line, "grow %lu", &n) == 1 && n >= 1 && n <= 100000) {
            grow(n);
            scrub_stack();
            printf("ok %zu\n", list_length);
        } else {
            fprintf(stderr, "hs-browser-snapshot-target: bad command: %s", line);
            printf("error\n");
        }
    }
    printf("done\n");
    return 0;
}
