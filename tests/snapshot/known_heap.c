/*
 * known_heap.c — a program whose heap graph is known exactly, for the heap
 * snapshot tests (tests/node/test/snapshot.test.js). Every kind of block is
 * allocated by its own function, so its site name (`function file:LINE`,
 * docs/design/snapshot.md) is predictable; every size is a multiple of 16,
 * so glibc's top-chunk pointer (the next chunk header) never falls inside a
 * block's requested size; no payload holds a value that could be an address.
 *
 *   g_list      global pointer → LIST_N list nodes (make_list_node), each
 *               pointing at the next through its first word
 *   g_table     global array of TABLE_BUCKETS pointers, bucket i → a chain of
 *               blobs (make_blob, sizes 48..112), linked through their first word
 *   cxx::g_tree C++ (known_heap_tree.cpp): a Tree (make_tree) → a complete
 *               TreeNode tree (make_tree_node), children in std::vector buffers
 *   holder      a thread ("hs-holder") whose only reference to its buffer
 *               (make_stack_buffer) is a volatile local; it blocks in a pipe read
 *   leaks       LEAK_N blocks (make_leak) whose only pointer was dropped
 *   cycle       CYCLE_N blocks (make_cycle_node) pointing at each other in a
 *               ring, referenced by nothing else
 *
 * stdout, one line each (the protocol of tests/node/lib/target.js):
 *   start <pid>              once everything above is built
 * commands on stdin, one line each:
 *   truth   → the expected graph as one JSON object (counts and bytes per site)
 *   more    → MORE_N more list nodes (make_more_node) appended at the tail;
 *             answers the truth again
 *   hold    → answers "ack hold", then writes "held" into stdout's buffer
 *             without flushing it (a snapshot's child that flushed the
 *             program's stdio would print it twice)
 *   flush   → flushes ("held" comes out), answers "ack flush"
 *   EOF     → stops the holder, prints "done <checksum of the contents>", exits 0
 *
 * Nothing else keeps a copy of a pointer: the builders are separate
 * non-inlined functions that return nothing, and the stack below main's frame
 * (where their frames were) is zeroed before main waits for a command.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "known_heap.h"

#define LIST_N 60000
#define MORE_N 1000
#define TABLE_BUCKETS 64
#define BLOB_N 4096
#define STACK_BUF 4096
#define LEAK_N 300
#define CYCLE_N 3
#define TREE_DEPTH 6
#define TREE_FANOUT 4

struct node {
    struct node *next;
    uint64_t value;
    char pad[32];
}; /* 48 bytes */

struct blob {
    struct blob *next;
    uint64_t key;
    unsigned char data[];
};

struct cyc {
    struct cyc *next;
    char pad[56];
}; /* 64 bytes */

/* Exported: their names are what the tests look for. */
struct node *make_list_node(uint64_t value);
struct node *make_more_node(uint64_t value);
struct blob *make_blob(uint64_t key, size_t size);
char *make_stack_buffer(size_t size);
void make_leak(size_t size);
struct cyc *make_cycle_node(void);

/* The roots the snapshot must name (exported: their symbols are the edge names). */
struct node *g_list;
struct blob *g_table[TABLE_BUCKETS];

struct count {
    unsigned long long count, bytes;
};
static struct count list_truth, more_truth, blob_truth, stack_truth, leak_truth, cycle_truth;
static unsigned chain_len[TABLE_BUCKETS];
static unsigned long long chain_bytes[TABLE_BUCKETS];
static int cycle_lowest; /* allocation index of the ring's lowest-addressed member */

static int quit_pipe[2], ready_pipe[2];
static pid_t holder_tid;
static uint64_t holder_sum;

static uint64_t fnv(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 1099511628211ull;
    }
    return h;
}

__attribute__((noinline)) struct node *make_list_node(uint64_t value)
{
    struct node *n = malloc(sizeof(*n));
    n->next = NULL;
    n->value = value;
    memset(n->pad, 'L', sizeof(n->pad));
    list_truth.count++;
    list_truth.bytes += sizeof(*n);
    return n;
}

__attribute__((noinline)) struct node *make_more_node(uint64_t value)
{
    struct node *n = malloc(sizeof(*n));
    n->next = NULL;
    n->value = value;
    memset(n->pad, 'M', sizeof(n->pad));
    more_truth.count++;
    more_truth.bytes += sizeof(*n);
    return n;
}

__attribute__((noinline)) struct blob *make_blob(uint64_t key, size_t size)
{
    struct blob *b = malloc(size);
    b->next = NULL;
    b->key = key;
    memset(b->data, 0x80 | (int)(key & 0x7f), size - sizeof(*b));
    blob_truth.count++;
    blob_truth.bytes += size;
    return b;
}

__attribute__((noinline)) char *make_stack_buffer(size_t size)
{
    char *p = malloc(size);
    memset(p, 0x33, size);
    stack_truth.count++;
    stack_truth.bytes += size;
    return p;
}

/* The pointer is dropped here: returns nothing, and its slot is cleared. */
__attribute__((noinline)) void make_leak(size_t size)
{
    char *volatile p = malloc(size);
    memset(p, 0x11, size);
    leak_truth.count++;
    leak_truth.bytes += size;
    p = NULL;
}

__attribute__((noinline)) struct cyc *make_cycle_node(void)
{
    struct cyc *c = malloc(sizeof(*c));
    c->next = NULL;
    memset(c->pad, 0x22, sizeof(c->pad));
    cycle_truth.count++;
    cycle_truth.bytes += sizeof(*c);
    return c;
}

__attribute__((noinline)) static void build_list(void)
{
    struct node **tail = &g_list;
    for (uint64_t i = 0; i < LIST_N; i++) {
        *tail = make_list_node(i * 7 + 1);
        tail = &(*tail)->next;
    }
}

__attribute__((noinline)) static void build_table(void)
{
    struct blob *tails[TABLE_BUCKETS] = {0};
    for (uint64_t i = 0; i < BLOB_N; i++) {
        unsigned b = (unsigned)(i % TABLE_BUCKETS);
        size_t size = 48 + 16 * (i % 5);
        struct blob *x = make_blob(i, size);
        if (tails[b])
            tails[b]->next = x;
        else
            g_table[b] = x;
        tails[b] = x;
        chain_len[b]++;
        chain_bytes[b] += size;
    }
    memset(tails, 0, sizeof(tails));
}

__attribute__((noinline)) static void build_leaks(void)
{
    for (int i = 0; i < LEAK_N; i++)
        make_leak(32 + 16 * (i % 4));
}

__attribute__((noinline)) static void build_cycle(void)
{
    struct cyc *volatile ring[CYCLE_N];
    for (int i = 0; i < CYCLE_N; i++)
        ring[i] = make_cycle_node();
    cycle_lowest = 0;
    for (int i = 0; i < CYCLE_N; i++) {
        ring[i]->next = ring[(i + 1) % CYCLE_N];
        if ((uintptr_t)ring[i] < (uintptr_t)ring[cycle_lowest])
            cycle_lowest = i;
    }
    for (int i = 0; i < CYCLE_N; i++)
        ring[i] = NULL;
}

__attribute__((noinline)) static void append_more(void)
{
    struct node *t = g_list;
    while (t->next)
        t = t->next;
    for (uint64_t i = 0; i < MORE_N; i++) {
        t->next = make_more_node(i * 3 + 2);
        t = t->next;
    }
    t = NULL;
}

/* Zeroes the stack below the caller, where the builders' frames were. */
__attribute__((noinline)) static void scrub_stack(void)
{
    char pad[256 * 1024];
    explicit_bzero(pad, sizeof(pad));
}

static ssize_t read_retry(int fd, void *buf, size_t n)
{
    for (;;) {
        ssize_t r = read(fd, buf, n);
        if (r >= 0 || errno != EINTR)
            return r;
    }
}

static void *holder_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "hs-holder");
    char *volatile buf = make_stack_buffer(STACK_BUF);
    holder_tid = gettid();
    char c = 1;
    if (write(ready_pipe[1], &c, 1) != 1)
        abort();
    /* Blocks until main says so: the buffer lives on only through `buf`. */
    read_retry(quit_pipe[0], &c, 1);
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < STACK_BUF; i++)
        h = fnv(h, (unsigned char)buf[i]);
    holder_sum = h;
    free(buf);
    return NULL;
}

static void print_count(const char *key, const char *site, const struct count *c)
{
    printf("\"%s\":{\"site\":\"%s\",\"count\":%llu,\"bytes\":%llu}", key, site, c->count, c->bytes);
}

static void print_truth(void)
{
    struct tree_truth t;
    tree_get_truth(&t);
    printf("{\"pid\":%ld,", (long)getpid());
    print_count("list", "make_list_node", &list_truth);
    printf(",");
    print_count("more", "make_more_node", &more_truth);
    printf(",");
    print_count("table", "make_blob", &blob_truth);
    printf(",\"chains\":[");
    for (int i = 0; i < TABLE_BUCKETS; i++)
        printf("%s{\"count\":%u,\"bytes\":%llu}", i ? "," : "", chain_len[i], chain_bytes[i]);
    printf("],");
    print_count("stack", "make_stack_buffer", &stack_truth);
    printf(",\"holder\":{\"tid\":%ld,\"comm\":\"hs-holder\"},", (long)holder_tid);
    print_count("leaks", "make_leak", &leak_truth);
    printf(",");
    print_count("cycle", "make_cycle_node", &cycle_truth);
    printf(",\"cycle_lowest\":%d,", cycle_lowest);
    printf("\"tree\":{\"site\":\"make_tree\",\"count\":%llu,\"bytes\":%llu},", t.trees,
           t.tree_bytes);
    printf("\"tree_nodes\":{\"site\":\"make_tree_node\",\"count\":%llu,\"bytes\":%llu},", t.nodes,
           t.node_bytes);
    printf("\"tree_buffers\":{\"count\":%llu,\"bytes\":%llu,\"fanout\":%u,\"depth\":%u}}\n",
           t.buffers, t.buffer_bytes, t.fanout, t.depth);
    fflush(stdout);
}

static uint64_t checksum(void)
{
    uint64_t h = 14695981039346656037ull;
    for (const struct node *n = g_list; n; n = n->next)
        h = fnv(h, n->value);
    for (int b = 0; b < TABLE_BUCKETS; b++)
        for (const struct blob *x = g_table[b]; x; x = x->next)
            h = fnv(h, x->key);
    h = fnv(h, tree_checksum());
    h = fnv(h, holder_sum);
    h = fnv(h, leak_truth.count ^ (leak_truth.bytes << 20));
    h = fnv(h, cycle_truth.count ^ (cycle_truth.bytes << 20));
    return h;
}

static int read_line(char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        if (read_retry(0, &c, 1) != 1)
            return n > 0;
        if (c == '\n')
            break;
        if (n + 1 < cap)
            line[n++] = c;
    }
    line[n] = '\0';
    return 1;
}

int main(void)
{
    if (pipe(quit_pipe) || pipe(ready_pipe))
        return 1;
    pthread_t holder;
    if (pthread_create(&holder, NULL, holder_main, NULL))
        return 1;
    char c;
    if (read_retry(ready_pipe[0], &c, 1) != 1)
        return 1;

    build_leaks();
    build_cycle();
    build_list();
    build_table();
    build_tree(TREE_DEPTH, TREE_FANOUT);
    scrub_stack();

    printf("start %ld\n", (long)getpid());
    fflush(stdout);
    char line[64];
    while (read_line(line, sizeof(line))) {
        if (!strcmp(line, "truth")) {
            print_truth();
        } else if (!strcmp(line, "more")) {
            append_more();
            scrub_stack();
            print_truth();
        } else if (!strcmp(line, "hold")) {
            printf("ack hold\n");
            fflush(stdout);
            printf("held\n");
        } else if (!strcmp(line, "flush")) {
            printf("ack flush\n");
            fflush(stdout);
        } else {
            printf("unknown command\n");
            fflush(stdout);
        }
        scrub_stack();
    }
    if (write(quit_pipe[1], &c, 1) != 1)
        return 1;
    pthread_join(holder, NULL);
    printf("done %016llx\n", (unsigned long long)checksum());
    return 0;
}
