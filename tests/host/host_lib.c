/*
 * host_lib.c — a library that host_prog's dlopen mode loads and unloads.
 * Its only references to the blocks it allocates are its own globals, so a
 * heap snapshot taken while it is loaded finds them retained by this
 * module's (globals) group, and one taken after dlclose finds them
 * unreachable (the module and its globals are gone).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define HOST_LIB_NBLOCKS 3

/* Static, so nothing outside this module can name the blocks. */
static void *host_lib_held[HOST_LIB_NBLOCKS];

int host_lib_fill(size_t base_size);
void host_lib_release(void);

/* The blocks' sizes are base_size + 1, + 2, + 3: a snapshot tells them apart
 * by size alone. Returns how many were allocated. */
__attribute__((noinline)) int host_lib_fill(size_t base_size)
{
    int n = 0;
    for (int i = 0; i < HOST_LIB_NBLOCKS; i++) {
        host_lib_held[i] = malloc(base_size + (size_t)i + 1);
        if (host_lib_held[i]) {
            memset(host_lib_held[i], 0x5a, base_size + (size_t)i + 1);
            n++;
        }
    }
    return n;
}

void host_lib_release(void)
{
    for (int i = 0; i < HOST_LIB_NBLOCKS; i++) {
        free(host_lib_held[i]);
        host_lib_held[i] = NULL;
    }
}
