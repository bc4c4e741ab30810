/*
 * fork_threads.c — fork while other threads allocate. Four threads run
 * malloc/realloc/free loops while the main thread forks 200 times; each
 * child allocates through the hooks (which must find no lock left held by a
 * thread that does not exist in the child), checks its blocks and exits. A
 * deadlock shows as a ctest timeout, a broken heap as a failed check.
 * Prints deterministic totals; exit 0 on success.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 4
#define OPS 200000
#define FORKS 200
#define SLOTS 256

static _Atomic int failed;

static void *worker(void *arg)
{
    uint32_t r = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
    unsigned char *slot[SLOTS] = {0};
    size_t len[SLOTS] = {0};
    for (int i = 0; i < OPS; i++) {
        r ^= r << 13;
        r ^= r >> 17;
        r ^= r << 5;
        int s = r % SLOTS;
        if (slot[s] && slot[s][0] != (unsigned char)s)
            failed = 1;
        if (slot[s] && (r & 0x100)) {
            free(slot[s]);
            slot[s] = NULL;
        } else {
            size_t n = 1 + (r >> 12) % 700;
            unsigned char *p = realloc(slot[s], n);
            if (!p) {
                failed = 1;
                continue;
            }
            p[0] = (unsigned char)s;
            slot[s] = p;
            len[s] = n;
        }
    }
    for (int s = 0; s < SLOTS; s++)
        free(slot[s]);
    (void)len;
    return NULL;
}

static int child(int k)
{
    char *v[64];
    for (int i = 0; i < 64; i++) {
        v[i] = malloc(16 + i * 8 + k % 7);
        if (!v[i])
            return 1;
        memset(v[i], i, 16);
    }
    for (int i = 0; i < 64; i++) {
        if (v[i][15] != (char)i)
            return 1;
        free(v[i]);
    }
    return 0;
}

int main(void)
{
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(i + 1)))
            return 1;
    int bad_children = 0;
    for (int k = 0; k < FORKS; k++) {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0)
            _exit(child(k));
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bad_children++;
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("threads=%d ops=%d forks=%d bad_children=%d failed=%d\n", THREADS, OPS, FORKS,
           bad_children, (int)failed);
    return bad_children || failed;
}
