/*
 * victim_mt.cpp — a multi-threaded, self-checking C++17 program that uses
 * every corner of the malloc family that an interposer has to get right:
 * new/delete (plain, array and over-aligned), malloc/free, realloc chains
 * (grow, shrink, realloc(NULL, n), realloc(p, 0)), posix_memalign,
 * aligned_alloc, memalign, valloc and pvalloc with every power-of-two
 * alignment from sizeof(void *) to 64 KiB, calloc zeroing, a global
 * constructor that allocates before main, fork + exec of /bin/true and a
 * forked child that allocates and exits (both while other threads are
 * allocating), a SIGUSR1 handler that allocates (delivered only while the
 * main thread waits in sigsuspend, never while it is inside malloc), and
 * threads started both before and after a phase of heavy allocation.
 *
 * stdout carries only deterministic lines (counts and content checksums, never
 * addresses), so that runs with and without the agent compare byte for byte.
 * It ends with "deliberately-live blocks=N bytes=M": the blocks it leaves
 * allocated on purpose, a lower bound for any profiler's live numbers. Exit 0
 * on success; on any failed check a message on stderr and exit 1.
 */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace
{

std::atomic<int> g_failures{0};

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "victim_mt: check failed at line %d: %s: ", __LINE__, #cond);     \
            std::fprintf(stderr, __VA_ARGS__);                                                     \
            std::fputc('\n', stderr);                                                              \
            g_failures.fetch_add(1);                                                               \
        }                                                                                          \
    } while (0)

/* Hides a pointer from the optimiser (alignment attributes, calloc zeroes,
 * new/delete elision). */
void *opaque(void *p)
{
    void *volatile v = p;
    return v;
}

uintptr_t addr(void *p)
{
    return reinterpret_cast<uintptr_t>(opaque(p));
}

struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1)
    {
    }
    uint64_t next()
    {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    size_t below(size_t n)
    {
        return static_cast<size_t>(next() % n);
    }
};

uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h;
}

/* Blocks left allocated on purpose until exit. */
std::mutex g_live_mu;
void *g_live[64];
size_t g_live_n;
size_t g_live_bytes;

void keep_live(void *p, size_t n)
{
    std::lock_guard<std::mutex> g(g_live_mu);
    if (g_live_n < sizeof g_live / sizeof g_live[0]) {
        g_live[g_live_n++] = p;
        g_live_bytes += n;
    }
}

/* ---- before main --------------------------------------------------------- */

struct PreMain {
    void *blocks[3];
    std::vector<std::string> *names;
    PreMain()
    {
        for (int i = 0; i < 3; i++) {
            size_t n = 100 * static_cast<size_t>(i + 1);
            blocks[i] = std::malloc(n);
            if (blocks[i]) {
                std::memset(blocks[i], 'a' + i, n);
                keep_live(blocks[i], n);
            }
        }
        names = new std::vector<std::string>();
        for (int i = 0; i < 50; i++)
            names->push_back("a name long enough to live on the heap #" + std::to_string(i));
    }
    ~PreMain()
    {
        delete names;
    }
};
PreMain g_premain;

/* ---- per-thread work ---------------------------------------------------- */

struct Result {
    uint64_t checksum = 0;
    uint64_t calls = 0;
};

struct alignas(64) Wide {
    unsigned char b[200];
};
struct alignas(4096) Page {
    unsigned char b[5000];
};

thread_local std::string t_label;

void do_new_delete(Rng &rng, Result &r)
{
    /* linked list through new/delete */
    struct Node {
        Node *next;
        uint64_t v;
    };
    Node *head = nullptr;
    for (int i = 0; i < 3000; i++) {
        head = new Node{head, rng.next() & 0xffff};
        r.calls++;
    }
    while (head) {
        Node *n = head->next;
        r.checksum = mix(r.checksum, head->v);
        delete static_cast<Node *>(opaque(head));
        r.calls++;
        head = n;
    }
    /* containers: vector growth, strings, map insert/erase */
    std::vector<uint32_t> vec;
    std::map<uint32_t, std::string> m;
    for (uint32_t i = 0; i < 4000; i++) {
        vec.push_back(static_cast<uint32_t>(rng.next()));
        uint32_t k = static_cast<uint32_t>(rng.below(1000));
        if (m.count(k))
            m.erase(k);
        else
            m.emplace(k, std::string(20 + k % 50, static_cast<char>('a' + k % 26)));
    }
    for (uint32_t v : vec)
        r.checksum = mix(r.checksum, v);
    for (auto &kv : m)
        r.checksum = mix(r.checksum, kv.first * 131u + kv.second.size());
    /* arrays and over-aligned types */
    for (int i = 0; i < 200; i++) {
        size_t n = 1 + rng.below(3000);
        auto *arr = new uint16_t[n];
        for (size_t j = 0; j < n; j++)
            arr[j] = static_cast<uint16_t>(j * 7 + i);
        r.checksum = mix(r.checksum, arr[n - 1]);
        delete[] static_cast<uint16_t *>(opaque(arr));

        Wide *w = new Wide;
        CHECK(addr(w) % alignof(Wide) == 0, "new Wide misaligned");
        std::memset(w->b, i, sizeof w->b);
        r.checksum = mix(r.checksum, w->b[199]);
        delete static_cast<Wide *>(opaque(w));

        Page *pg = new Page[2];
        CHECK(addr(pg) % alignof(Page) == 0, "new Page[2] misaligned");
        std::memset(pg, i + 1, sizeof(Page) * 2);
        r.checksum = mix(r.checksum, pg[1].b[4999]);
        delete[] static_cast<Page *>(opaque(pg));
        r.calls += 6;
    }
    /* a nothrow new and a unique_ptr */
    auto *nt = new (std::nothrow) char[77];
    CHECK(nt != nullptr, "nothrow new failed");
    delete[] nt;
    auto up = std::make_unique<std::string>(300, 'u');
    r.checksum = mix(r.checksum, up->size());
    r.calls += 3;
}

void do_malloc_free(Rng &rng, Result &r, unsigned tid)
{
    constexpr int kSlots = 64;
    unsigned char *slot[kSlots] = {};
    size_t len[kSlots] = {};
    for (int i = 0; i < 20000; i++) {
        int s = static_cast<int>(rng.below(kSlots));
        if (slot[s]) {
            unsigned char tag = static_cast<unsigned char>(len[s] * 31 + tid);
            CHECK(slot[s][0] == tag && slot[s][len[s] - 1] == tag, "malloc block corrupted");
            r.checksum = mix(r.checksum, len[s]);
            std::free(slot[s]);
            slot[s] = nullptr;
        } else {
            size_t n = 1 + (rng.below(8) == 0 ? rng.below(70000) : rng.below(600));
            slot[s] = static_cast<unsigned char *>(std::malloc(n));
            CHECK(slot[s] != nullptr, "malloc(%zu) failed", n);
            if (!slot[s])
                continue;
            len[s] = n;
            std::memset(slot[s], static_cast<unsigned char>(n * 31 + tid), n);
        }
        r.calls++;
    }
    for (int s = 0; s < kSlots; s++)
        if (slot[s]) {
            std::free(slot[s]);
            r.calls++;
        }
}

void do_realloc_chains(Rng &rng, Result &r)
{
    for (int chain = 0; chain < 60; chain++) {
        size_t n = 1 + rng.below(64);
        auto *p = static_cast<unsigned char *>(std::realloc(nullptr, n));
        CHECK(p != nullptr, "realloc(NULL, %zu) failed", n);
        if (!p)
            return;
        r.calls++;
        for (size_t i = 0; i < n; i++)
            p[i] = static_cast<unsigned char>(i + chain);
        size_t valid = n; /* prefix still holding i + chain */
        static const size_t kSteps[] = {100, 3000,   70000, 300000,   2000,
                                        40,  150000, 9,     1u << 20, 500};
        for (size_t st : kSteps) {
            size_t m = st + rng.below(16);
            auto *q = static_cast<unsigned char *>(std::realloc(p, m));
            CHECK(q != nullptr, "realloc to %zu failed", m);
            if (!q)
                break;
            r.calls++;
            if (m < valid)
                valid = m;
            for (size_t i = 0; i < valid; i++)
                if (q[i] != static_cast<unsigned char>(i + chain)) {
                    CHECK(false, "realloc lost contents at %zu", i);
                    break;
                }
            if (m > n)
                std::memset(q + n, 0xee, m - n);
            n = m;
            p = q;
        }
        r.checksum = mix(r.checksum, n + valid);
        errno = 0;
        void *z = std::realloc(p, 0);
        r.calls++;
        if (z) /* C17 leaves it to the implementation; glibc returns NULL */
            std::free(z);
        r.checksum = mix(r.checksum, z == nullptr);
    }
}

void do_aligned(Rng &rng, Result &r)
{
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    for (int round = 0; round < 3; round++) {
        for (size_t a = sizeof(void *); a <= 65536; a *= 2) {
            size_t extra = rng.below(100);
            void *ptrs[3];
            size_t sizes[3] = {a + extra, 2 * a, a / 2 + extra + 1};
            int rc = posix_memalign(&ptrs[0], a, sizes[0]);
            CHECK(rc == 0, "posix_memalign(%zu) rc=%d", a, rc);
            if (rc != 0)
                ptrs[0] = nullptr;
            ptrs[1] = aligned_alloc(a, sizes[1]);
            ptrs[2] = memalign(a, sizes[2]);
            for (int k = 0; k < 3; k++) {
                CHECK(ptrs[k] != nullptr, "aligned allocator %d failed for %zu", k, a);
                if (!ptrs[k])
                    continue;
                r.calls++;
                CHECK(addr(ptrs[k]) % a == 0, "allocator %d: misaligned for %zu", k, a);
                std::memset(ptrs[k], static_cast<int>(a + k), sizes[k]);
                auto *c = static_cast<unsigned char *>(ptrs[k]);
                CHECK(c[sizes[k] - 1] == static_cast<unsigned char>(a + k), "write lost");
                r.checksum = mix(r.checksum, sizes[k] * 3 + static_cast<size_t>(k));
            }
            for (void *p : ptrs)
                std::free(p);
        }
        size_t n = 1 + rng.below(3 * page);
        void *v = valloc(n);
        CHECK(v && addr(v) % page == 0, "valloc(%zu)", n);
        if (v)
            std::memset(v, 0x5c, n);
        size_t rounded = (n + page - 1) / page * page;
        void *pv = pvalloc(n);
        CHECK(pv && addr(pv) % page == 0, "pvalloc(%zu)", n);
        if (pv)
            std::memset(pv, 0x5d, rounded); /* pvalloc gives whole pages */
        r.checksum = mix(r.checksum, n + rounded);
        std::free(v);
        std::free(pv);
        r.calls += 4;
    }
}

void do_calloc(Rng &rng, Result &r)
{
    for (int i = 0; i < 400; i++) {
        size_t m = 1 + rng.below(i % 10 == 0 ? 4000 : 60);
        size_t n = 1 + rng.below(40);
        auto *p = static_cast<unsigned char *>(opaque(std::calloc(m, n)));
        CHECK(p != nullptr, "calloc(%zu,%zu)", m, n);
        if (!p)
            continue;
        bool zero = true;
        for (size_t j = 0; j < m * n; j++)
            zero = zero && p[j] == 0;
        CHECK(zero, "calloc(%zu,%zu) not zeroed", m, n);
        std::memset(p, 0xff, m * n); /* dirty it for the next calloc */
        r.checksum = mix(r.checksum, m * n);
        std::free(p);
        r.calls += 2;
    }
}

Result work(unsigned tid)
{
    Result r;
    Rng rng(1000 + tid);
    t_label = "worker thread label, longer than any small-string buffer: " + std::to_string(tid);
    for (int round = 0; round < 2; round++) {
        do_new_delete(rng, r);
        do_malloc_free(rng, r, tid);
        do_realloc_chains(rng, r);
        do_aligned(rng, r);
        do_calloc(rng, r);
    }
    /* two blocks per thread left live on purpose */
    size_t n1 = 1000 + tid, n2 = 64 * (tid + 1);
    void *a = std::malloc(n1);
    void *b = aligned_alloc(64, n2);
    CHECK(a && b, "leak blocks");
    if (a && b) {
        std::memset(a, 1, n1);
        std::memset(b, 2, n2);
        keep_live(a, n1);
        keep_live(b, n2);
    }
    r.checksum = mix(r.checksum, t_label.size());
    return r;
}

/* ---- signals ------------------------------------------------------------- */

volatile sig_atomic_t g_sig_count;
volatile uint64_t g_sig_sum;
void *volatile g_sig_keep;

extern "C" void on_usr1(int)
{
    int saved = errno;
    size_t n = 32 + static_cast<size_t>(g_sig_count) % 200;
    auto *p = static_cast<unsigned char *>(std::malloc(n));
    if (p) {
        std::memset(p, static_cast<int>(n), n);
        auto *q = static_cast<unsigned char *>(std::realloc(p, 2 * n));
        if (q) {
            g_sig_sum = mix(g_sig_sum, q[n - 1] + 2 * n);
            p = q;
        }
        if (g_sig_count == 0)
            g_sig_keep = p; /* the handler's one deliberately live block */
        else
            std::free(p);
    }
    g_sig_count = g_sig_count + 1;
    errno = saved;
}

/* ---- fork ---------------------------------------------------------------- */

/* Forks, runs child() in the child (which must not return), waits, and
 * returns the child's exit status (128 + signal if it was killed). */
template <typename Child> int fork_and_wait(Child child)
{
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        child();
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int run_fork_exec_true()
{
    return fork_and_wait([] {
        char arg0[] = "true";
        char *argv[] = {arg0, nullptr};
        execv("/bin/true", argv);
        _exit(127);
    });
}

int run_fork_alloc_child()
{
    return fork_and_wait([] {
        /* The child allocates through every path and exits through exit(),
         * so that at-exit code (a profiler's summary) runs in it too. */
        std::vector<std::string> v;
        uint64_t sum = 0, want = 0;
        for (int i = 0; i < 2000; i++) {
            v.push_back(std::string(30 + i % 70, static_cast<char>('k' + i % 10)));
            want += 30 + i % 70;
        }
        for (auto &s : v)
            sum += s.size();
        void *p = std::malloc(12345);
        void *q = std::calloc(100, 100);
        void *al = nullptr;
        int rc = posix_memalign(&al, 4096, 100);
        bool ok = p && q && rc == 0 && sum == want;
        std::free(q);
        std::free(al);
        (void)opaque(p); /* left live in the child */
        std::exit(ok ? 7 : 3);
    });
}

} // namespace

int main()
{
    /* SIGUSR1 is blocked in main and, by inheritance, in every thread: it is
     * only ever delivered inside sigsuspend below. */
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, nullptr);
    sigset_t usr1, waitmask;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &waitmask);
    sigdelset(&waitmask, SIGUSR1);

    CHECK(g_premain.names->size() == 50 && g_live_n == 3, "global constructor did not run first");
    CHECK(static_cast<unsigned char *>(g_premain.blocks[2])[299] == 'c', "ctor block");

    constexpr unsigned kEarly = 3, kLate = 3, kThreads = kEarly + kLate;
    Result results[kThreads];
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < kEarly; t++)
        threads.emplace_back([t, &results] { results[t] = work(t); });

    /* Heavy allocation on the main thread while the early threads run. */
    std::vector<void *> heavy(200000);
    uint64_t heavy_sum = 0;
    for (size_t i = 0; i < heavy.size(); i++) {
        size_t n = 8 + (i * 37) % 300;
        heavy[i] = std::malloc(n);
        CHECK(heavy[i] != nullptr, "heavy malloc");
        if (heavy[i])
            std::memset(heavy[i], static_cast<int>(i), n);
        heavy_sum += n;
    }

    /* fork while the early threads allocate */
    int exec_status = run_fork_exec_true();
    int child_status = run_fork_alloc_child();
    CHECK(exec_status == 0, "fork+exec /bin/true: status %d", exec_status);
    CHECK(child_status == 7, "forked child: status %d", child_status);

    /* Signals: main is in sigsuspend, not in malloc, whenever one arrives. */
    constexpr int kSignals = 200;
    for (int i = 0; i < kSignals; i++) {
        pthread_kill(pthread_self(), SIGUSR1);
        while (g_sig_count <= i)
            sigsuspend(&waitmask);
    }
    CHECK(g_sig_count == kSignals, "signals handled: %d", static_cast<int>(g_sig_count));
    keep_live(g_sig_keep, 64);
    CHECK(g_sig_keep != nullptr, "signal handler block");

    /* Free half of the heavy blocks, start the late threads, free the rest
     * while they run. */
    for (size_t i = 0; i < heavy.size(); i += 2)
        std::free(heavy[i]);
    for (unsigned t = kEarly; t < kThreads; t++)
        threads.emplace_back([t, &results] { results[t] = work(t); });
    for (size_t i = 1; i < heavy.size(); i += 2)
        std::free(heavy[i]);
    for (auto &th : threads)
        th.join();

    /* A second round of forks, now with the late threads gone. */
    int exec_status2 = run_fork_exec_true();
    int child_status2 = run_fork_alloc_child();
    CHECK(exec_status2 == 0 && child_status2 == 7, "second forks: %d %d", exec_status2,
          child_status2);

    for (unsigned t = 0; t < kThreads; t++)
        std::printf("thread %u: calls=%" PRIu64 " checksum=%016" PRIx64 "\n", t, results[t].calls,
                    results[t].checksum);
    std::printf("heavy: blocks=%zu bytes=%" PRIu64 "\n", heavy.size(), heavy_sum);
    std::printf("fork+exec /bin/true: status=%d,%d\n", exec_status, exec_status2);
    std::printf("fork child that allocates: status=%d,%d\n", child_status, child_status2);
    std::printf("signals: handled=%d checksum=%016" PRIx64 "\n", static_cast<int>(g_sig_count),
                static_cast<uint64_t>(g_sig_sum));
    {
        std::lock_guard<std::mutex> g(g_live_mu);
        CHECK(g_live_n == 3 + 2 * kThreads + 1, "live list: %zu", g_live_n);
        std::printf("deliberately-live blocks=%zu bytes=%zu\n", g_live_n, g_live_bytes);
    }
    std::fflush(stdout);
    if (g_failures.load() != 0) {
        std::fprintf(stderr, "victim_mt: %d check(s) failed\n", g_failures.load());
        return 1;
    }
    return 0;
}
