/*
 * snapshot.h — private to the agent: heap snapshots (docs/design/snapshot.md).
 * One snapshot at a time in the process; every function here serialises on
 * one mutex. Call from agent threads (their hook guard set) or at exit.
 */
#ifndef HS_AGENT_SNAPSHOT_H
#define HS_AGENT_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What one snapshot found, for logs, tests and benchmarks. */
struct hs_snap_stats {
    uint64_t nodes, edges;
    uint64_t blocks, bytes;               /* live blocks in the snapshot */
    uint64_t leaked_blocks, leaked_bytes; /* reachable from no root */
    uint32_t threads, threads_missed;     /* captured / did not answer the stop */
    uint64_t pause_ns;                    /* the program's threads were stopped this long */
    uint64_t wall_ns;                     /* from the start to the last byte */
};

/* Writes a whole .heapsnapshot to path (a temporary file beside it, then
 * rename). Returns 0; HS_E_STATE without the registry (HEAPSCOPE_MODE=sample);
 * -errno. st may be NULL. */
int hs__snapshot_write_file(const char *path, struct hs_snap_stats *st);

/* The allocation timeline's ticks for the snapshot's "samples": n numbers,
 * pairs of (µs since the first tick, last id handed out). */
struct hs_snap_samples {
    const uint64_t *v;
    size_t n;
};

/* Streaming, for the service thread: begin captures and forks; the child
 * writes the JSON into a pipe that hs__snapshot_fd reads. samples may be
 * NULL (none); it must stay valid until the job ends. */
struct hs_snap_job;
int hs__snapshot_begin(struct hs_snap_job **job, const struct hs_snap_samples *samples);
int hs__snapshot_fd(const struct hs_snap_job *job);
/* Blocks scanned so far and in all; *built = 1 once the child has finished
 * the graph (all that remains is writing). */
void hs__snapshot_progress(const struct hs_snap_job *job, uint64_t *done, uint64_t *total,
                           int *built);
/* Ends the job: abort = 1 kills the child (client gone). Reaps the child.
 * Returns 0 if the child wrote everything, else an error. */
int hs__snapshot_end(struct hs_snap_job *job, int abort, struct hs_snap_stats *st);

/* ---- what inspection (Runtime.evaluate, getProperties) needs ---------------- */

/* The name the snapshot gives blocks of an allocation site ("function
 * file:line"); "(unknown site)" when it has none. Valid for the process's
 * life. */
const char *hs__snapshot_site_name(uint32_t site);

/* The loaded modules' data symbols (the snapshot's (globals) names), held
 * from open to close: the snapshot lock is held in between, so keep it
 * short. The agent's own module is left out. */
struct hs_globals;
struct hs_globals *hs__globals_open(void); /* NULL when out of memory */
void hs__globals_close(struct hs_globals *g);
/* The symbol called name (len bytes; the first module that defines it, the
 * program first): 1 and its address and size, or 0. */
int hs__globals_find(const struct hs_globals *g, const char *name, size_t len, uintptr_t *addr,
                     uint64_t *size);
/* The symbol holding address a: its name, and its address and size; NULL if
 * no module's data symbol holds a. */
const char *hs__globals_at(const struct hs_globals *g, uintptr_t a, uintptr_t *start,
                           uint64_t *size);
/* The program's own symbols (the main executable), i from 0: 1 while there
 * is one. */
int hs__globals_main(const struct hs_globals *g, size_t i, const char **name, uintptr_t *addr,
                     uint64_t *size);

/* Agent threads (service, signal writers) are not the program's: they are
 * not stopped and their stacks are not roots. Each calls this once. */
void hs__snapshot_register_agent_thread(void);

/* snapshot_out.c: HEAPSCOPE_SNAPSHOT_SIGNAL at load, _AT_EXIT at exit. */
void hs__snapshot_out_load(void);
void hs__snapshot_out_exit(void);

#endif
