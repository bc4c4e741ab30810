/*
 * hs_agent.h — the public API of the agent library, libheapscope.so.
 *
 * The agent is normally loaded with LD_PRELOAD (`heapscope run -- prog`), and
 * then starts itself. A program may instead link libheapscope.so and start it
 * itself: the malloc family is interposed as soon as the library is loaded
 * (linking it is enough for every block to be tracked), and hs_agent_start()
 * turns on what a preloaded agent does on its own: the DevTools endpoint (a
 * service thread listening on HEAPSCOPE_LISTEN, default 127.0.0.1:9229) and
 * the exit summary.
 *
 * All functions are thread-safe and may be called before main(). None of them
 * allocates on the caller's behalf (the agent's own memory is never tracked).
 */
#ifndef HEAPSCOPE_HS_AGENT_H
#define HEAPSCOPE_HS_AGENT_H

#include <stdint.h>

#include "hs_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Counters of the live-block registry, read atomically one by one: exact when
 * no other thread allocates at the same time. */
typedef struct hs_agent_stats {
    uint64_t live_blocks;    /* blocks allocated and not yet freed */
    uint64_t live_bytes;     /* their requested sizes, summed */
    uint64_t peak_bytes;     /* highest live_bytes seen */
    uint64_t allocs;         /* blocks created since the agent was loaded */
    uint64_t frees;          /* blocks released since the agent was loaded */
    uint64_t sites;          /* distinct allocation sites seen */
    uint64_t registry_bytes; /* the agent's own internal memory: the registry, site and stack
                              * stores, per-thread buffers (hs__imem_in_use) */
} hs_agent_stats;

/* What the registry knows of one live block. */
typedef struct hs_agent_block {
    uintptr_t start; /* the pointer the allocator returned */
    uint64_t size;   /* requested size */
    uint32_t id;     /* HeapSnapshotObjectId: odd, in allocation order */
    uintptr_t site;  /* return address the block is charged to (the first
                        frame outside allocator wrappers); 0 if unknown */
} hs_agent_block;

/* Starts the agent's services: listens, prints "heapscope: DevTools listening
 * on ws://HOST:PORT/ID" on stderr and starts the service thread. Idempotent.
 * Returns HS_OK even when it cannot listen (it says so on stderr: the program
 * runs on, tracked, without an endpoint). */
HS_API int hs_agent_start(void);

/* Stops what hs_agent_start() started (closes the endpoint and its sessions);
 * tracking goes on. Returns HS_OK. */
HS_API int hs_agent_stop(void);

/* Fills *out. Returns HS_OK, or HS_E_INVAL if out is NULL. */
HS_API int hs_agent_get_stats(hs_agent_stats *out);

/* Looks up the live block that starts at or contains p into *out.
 * Returns HS_OK, HS_E_NOTFOUND if no live block holds p, HS_E_INVAL if out
 * is NULL. */
HS_API int hs_agent_block_info(const void *p, hs_agent_block *out);

/* The agent's version, e.g. "0.1.0". Static storage. */
HS_API const char *hs_agent_version(void);

#ifdef __cplusplus
}
#endif
#endif
