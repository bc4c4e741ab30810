/*
 * hs_target.c — the program the Node.js tests profile (hs-test-target).
 *
 * It allocates and frees through the whole malloc family while keeping a
 * bounded set of live blocks, fills every block with a pattern and checks the
 * pattern before freeing it, and folds sizes and contents into a checksum.
 * The work depends only on the arguments and on the commands read from stdin,
 * never on timing, so the final line `done <checksum>` is the same with and
 * without the agent: a test compares the two to prove that the program ran on
 * unchanged (no corrupted block, no lost or doubled work) whatever the agent's
 * endpoint went through.
 *
 * Usage: hs-test-target [--rounds N] [--live K] [--seed S] [--stdin] [--churn]
 *                       [--tag WORD]...
 *   --rounds N  rounds of work before anything else (default 2000)
 *   --live K    at most K blocks live at once (default 256, at most 65536)
 *   --seed S    seed of the deterministic generator (default 1)
 *   --stdin     afterwards, obey commands from stdin until EOF or SIGTERM:
 *                 rounds N   N more rounds, answers `ok <checksum>`
 *                 grow M     keep M more MiB live (touched), answers `grown <total MiB>`
 *                 shrink     free what grow kept, answers `shrunk`
 *                 quit       stop reading
 *   --churn     while waiting for a command, keep allocating and freeing in a
 *               separate pool that the checksum does not cover (verified all
 *               the same), so the agent always sees a busy heap
 *   --tag WORD  ignored; lets a test recognise its process by its arguments
 *
 * Output (stdout, line-buffered): first `start <pid>`, then one answer per
 * command, last `done <16 hex digits>`. SIGTERM or SIGINT ends it early: still
 * `done …` when no rounds were cut short (e.g. while waiting for a command),
 * otherwise `stopped` and status 1. A corrupted block prints `corrupt …` on
 * stderr and exits with status 3.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LIVE 65536
#define CHURN_SLOTS 64

struct block {
    unsigned char *p;
    size_t size;
    uint64_t tag;
};

struct pool {
    struct block *slots;
    size_t count;
    uint64_t rng;
};

static volatile sig_atomic_t stop_requested;
static int work_cut_short; /* a signal stopped rounds half-way: the checksum means nothing */

static void on_term(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* xorshift64*: small, fast, the same everywhere. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(2685821657736338717);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + UINT64_C(0x9e3779b97f4a7c15) + (h << 6) + (h >> 2);
    return h;
}

static void fill(unsigned char *p, size_t size, uint64_t tag)
{
    for (size_t i = 0; i < size; i++)
        p[i] = (unsigned char)(tag + i * 131u);
}

/* Checks the pattern and returns a hash of the block; exits on corruption. */
static uint64_t verify(const struct block *b)
{
    uint64_t h = b->size;
    for (size_t i = 0; i < b->size; i++) {
        unsigned char want = (unsigned char)(b->tag + i * 131u);
        if (b->p[i] != want) {
            fprintf(stderr, "corrupt block %p size %zu at %zu: %u != %u\n", (void *)b->p, b->size,
                    i, b->p[i], want);
            exit(3);
        }
    }
    /* Hash a few bytes only: the full check above is what proves integrity. */
    if (b->size)
        h = mix(h, b->p[0] | (uint64_t)b->p[b->size - 1] << 8);
    return mix(h, b->tag);
}

static size_t pick_size(uint64_t r)
{
    switch (r % 16) {
    case 0:
        return 16384 + (size_t)(r >> 8) % 65536; /* a few large ones */
    case 1:
    case 2:
        return 1024 + (size_t)(r >> 8) % 4096;
    default:
        return 1 + (size_t)(r >> 8) % 256;
    }
}

/* Allocates through one of the malloc-family entry points, chosen by r. */
static unsigned char *allocate(uint64_t r, size_t size)
{
    void *p = NULL;
    switch ((r >> 40) % 4) {
    case 0:
        p = malloc(size);
        break;
    case 1:
        p = calloc(1, size);
        break;
    case 2:
        if (posix_memalign(&p, 64, size) != 0)
            p = NULL;
        break;
    default:
        p = malloc(size / 2 + 1);
        if (p) {
            void *q = realloc(p, size);
            if (!q)
                free(p);
            p = q;
        }
        break;
    }
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", size);
        exit(2);
    }
    return p;
}

/* One step: replace the block in a random slot. Returns what to fold into the checksum. */
static uint64_t step(struct pool *pl)
{
    uint64_t r = next_rand(&pl->rng);
    struct block *b = &pl->slots[r % pl->count];
    uint64_t h = 0;
    if (b->p) {
        h = verify(b);
        free(b->p);
        b->p = NULL;
    }
    uint64_t r2 = next_rand(&pl->rng);
    b->size = pick_size(r2);
    b->tag = r2 >> 16;
    b->p = allocate(r2, b->size);
    fill(b->p, b->size, b->tag);
    return mix(h, b->size);
}

static uint64_t run_rounds(struct pool *pl, uint64_t sum, long n)
{
    for (long i = 0; i < n; i++) {
        if (stop_requested) {
            work_cut_short = 1;
            break;
        }
        sum = mix(sum, step(pl));
    }
    return sum;
}

static uint64_t drain(struct pool *pl, uint64_t sum)
{
    for (size_t i = 0; i < pl->count; i++) {
        struct block *b = &pl->slots[i];
        if (b->p) {
            sum = mix(sum, verify(b));
            free(b->p);
            b->p = NULL;
        }
    }
    return sum;
}

/* Memory kept by `grow`: a list of 1 MiB chunks, every page touched. */
struct grown {
    unsigned char **chunks;
    size_t count, cap;
};

static int grow(struct grown *g, long mib)
{
    for (long i = 0; i < mib; i++) {
        if (g->count == g->cap) {
            size_t cap = g->cap ? g->cap * 2 : 16;
            unsigned char **c = realloc(g->chunks, cap * sizeof *c);
            if (!c)
                return -1;
            g->chunks = c;
            g->cap = cap;
        }
        unsigned char *p = malloc(1u << 20);
        if (!p)
            return -1;
        memset(p, 0x5a, 1u << 20);
        g->chunks[g->count++] = p;
    }
    return 0;
}

static void shrink(struct grown *g)
{
    for (size_t i = 0; i < g->count; i++)
        free(g->chunks[i]);
    free(g->chunks);
    g->chunks = NULL;
    g->count = g->cap = 0;
}

/* Reads one line from fd 0 without stdio (so poll() sees what is buffered).
 * Returns 1 with a line, 0 on EOF, -1 when interrupted by a signal. */
static int read_line(char *buf, size_t cap, size_t *have)
{
    for (;;) {
        char *nl = memchr(buf, '\n', *have);
        if (nl) {
            *nl = '\0';
            return 1;
        }
        if (*have + 1 >= cap) /* an over-long line: drop it */
            *have = 0;
        ssize_t n = read(0, buf + *have, cap - 1 - *have);
        if (n > 0) {
            *have += (size_t)n;
            continue;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            return -1;
        return 0;
    }
}

static void consume_line(char *buf, size_t *have)
{
    size_t len = strlen(buf) + 1;
    if (len > *have)
        len = *have;
    memmove(buf, buf + len, *have - len);
    *have -= len;
}

static void serve_stdin(struct pool *pl, uint64_t *sum, struct pool *churn)
{
    char buf[256];
    size_t have = 0;
    struct grown g = {0};
    while (!stop_requested) {
        if (churn && !memchr(buf, '\n', have)) {
            struct pollfd pfd = {.fd = 0, .events = POLLIN};
            int n = poll(&pfd, 1, 1);
            if (n == 0) {
                (void)step(churn);
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
        }
        int r = read_line(buf, sizeof buf, &have);
        if (r < 0)
            continue;
        if (r == 0)
            break;
        long n = 0;
        if (sscanf(buf, "rounds %ld", &n) == 1 && n >= 0) {
            *sum = run_rounds(pl, *sum, n);
            printf("ok %016" PRIx64 "\n", *sum);
        } else if (sscanf(buf, "grow %ld", &n) == 1 && n >= 0 && n <= 4096) {
            if (grow(&g, n) != 0) {
                fprintf(stderr, "grow: out of memory\n");
                exit(2);
            }
            printf("grown %zu\n", g.count);
        } else if (!strcmp(buf, "shrink")) {
            shrink(&g);
            printf("shrunk\n");
        } else if (!strcmp(buf, "quit")) {
            break;
        } else if (buf[0]) {
            printf("unknown command\n");
        }
        consume_line(buf, &have);
    }
    shrink(&g);
}

static long arg_long(const char *s, const char *name)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0) {
        fprintf(stderr, "hs-test-target: bad %s '%s'\n", name, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    long rounds = 2000, live = 256, seed = 1;
    int use_stdin = 0, use_churn = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--rounds") && i + 1 < argc)
            rounds = arg_long(argv[++i], a);
        else if (!strcmp(a, "--live") && i + 1 < argc)
            live = arg_long(argv[++i], a);
        else if (!strcmp(a, "--seed") && i + 1 < argc)
            seed = arg_long(argv[++i], a);
        else if (!strcmp(a, "--tag") && i + 1 < argc)
            i++;
        else if (!strcmp(a, "--stdin"))
            use_stdin = 1;
        else if (!strcmp(a, "--churn"))
            use_churn = 1;
        else {
            fprintf(stderr, "usage: hs-test-target [--rounds N] [--live K] [--seed S] [--stdin] "
                            "[--churn] [--tag WORD]...\n");
            return 2;
        }
    }
    if (live < 1 || live > MAX_LIVE) {
        fprintf(stderr, "hs-test-target: --live must be 1..%d\n", MAX_LIVE);
        return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: a blocked read returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("start %ld\n", (long)getpid());

    struct pool pl = {calloc((size_t)live, sizeof(struct block)), (size_t)live,
                      (uint64_t)seed * UINT64_C(0x9e3779b97f4a7c15) + 1};
    struct pool churn = {calloc(CHURN_SLOTS, sizeof(struct block)), CHURN_SLOTS,
                         UINT64_C(0x2545f4914f6cdd1d)};
    if (!pl.slots || !churn.slots) {
        fprintf(stderr, "out of memory\n");
        return 2;
    }

    uint64_t sum = run_rounds(&pl, UINT64_C(0xcbf29ce484222325), rounds);
    if (use_stdin)
        serve_stdin(&pl, &sum, use_churn ? &churn : NULL);
    sum = drain(&pl, sum);
    (void)drain(&churn, 0);
    free(pl.slots);
    free(churn.slots);

    /* Interrupted work is not the same work: say so rather than print a checksum. */
    if (work_cut_short) {
        printf("stopped\n");
        return 1;
    }
    printf("done %016" PRIx64 "\n", sum);
    return 0;
}
