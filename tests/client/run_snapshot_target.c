/*
 * run_snapshot_target.c — the program test_cli_run_snapshot.sh runs under
 * `heapscope run --snapshot-*`: a known heap, then it waits.
 *
 * It keeps KEEP blocks of KEEP_SIZE bytes, each allocated in keep_block() and
 * held by the global array kept[] (reachable from the module's globals), and
 * drops LEAK blocks of LEAK_SIZE bytes allocated in leak_block() (reachable
 * from nothing). It then moves to / (the snapshot paths must not depend on
 * the directory), prints "ready PID" on stdout and reads stdin until it ends,
 * then returns from main (the agent's exit handlers run).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEEP 100
#define KEEP_SIZE 4096
#define LEAK 10
#define LEAK_SIZE 1000

void *kept[KEEP];

__attribute__((noinline)) static void *keep_block(void)
{
    void *p = malloc(KEEP_SIZE);
    if (p)
        memset(p, 0x11, KEEP_SIZE);
    return p;
}

/* The pointer is not returned: nothing of ours holds it afterwards. */
__attribute__((noinline)) static void leak_block(void)
{
    volatile char *p = malloc(LEAK_SIZE);
    if (p)
        p[0] = 1;
}

int main(void)
{
    for (int i = 0; i < KEEP; i++)
        kept[i] = keep_block();
    for (int i = 0; i < LEAK; i++)
        leak_block();
    if (chdir("/") != 0)
        return 1;
    printf("ready %ld\n", (long)getpid());
    fflush(stdout);
    char buf[64];
    for (;;) {
        ssize_t n = read(0, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
    }
    return 0;
}
