/*
 * cli_common.h — what the commands that save something a target sends share
 * (`sample`, `snapshot`, `track`; cli_common.c): their common options, the
 * temporary file next to the output, the SIGINT/SIGTERM handlers around the
 * session, connecting to the target, waiting while a recording runs, and a
 * .heapsnapshot streamed into the temporary file.
 */
#ifndef HS_CLI_COMMON_H
#define HS_CLI_COMMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "heapscope/hs_client.h"

/* A decimal integer in [1, max], nothing else (no sign, no spaces, no suffix). */
int hs_cli_parse_positive(const char *s, unsigned long long max, unsigned long long *out);
/* Seconds, decimals allowed, in (0, 1e7]. */
int hs_cli_parse_seconds(const char *s, double *out);
/* The monotonic clock in ms. */
int64_t hs_cli_now_ms(void);

/* The options every such command takes: --target, -o/--output, --timeout. */
struct hs_cli_target_opts {
    const char *target, *out;
    int timeout_ms; /* 0: the client's defaults */
};

/* A command's own options at argv[*i]: 1 when it was one (*i moved past its
 * value, *bad set when that is wrong), 0 when argv[*i] is something else. */
typedef int (*hs_cli_more_opts)(int argc, char **argv, int *i, void *ud, const char **bad);

/* Parses argv for "heapscope CMD": the common options into o, the others
 * through more, -h/--help. Returns -1 after printing what is wrong (and usage
 * for an unknown argument or a missing --target or -o), 1 after printing
 * usage for --help, 0 when o is complete. */
int hs_cli_target_args(const char *cmd, int argc, char **argv, struct hs_cli_target_opts *o,
                       void (*usage)(FILE *), hs_cli_more_opts more, void *ud);

/* The temporary file: created next to the output before connecting (an
 * unwritable place fails before the target does any work), renamed into place
 * once all is written, removed on any failure or by a signal handler. */

/* Creates the temporary file next to path (path.tmp-XXXXXX), readable as a
 * file created by the user would be (mkstemp makes it 0600). Returns its
 * descriptor, or -1 (errno). */
int hs_cli_tmp_create(const char *path);
/* Renames the temporary file to path (its descriptor closed already). Returns
 * 0 or -1 (errno). */
int hs_cli_tmp_commit(const char *path);
/* Removes it if it is there; async-signal-safe, for the handlers (which then
 * _exit). */
void hs_cli_tmp_unlink(void);

/* The session: given the client and the temporary file's descriptor; it sets
 * *fd to -1 once it has closed it. Returns the exit status. */
typedef int (*hs_cli_session_fn)(hs_client *c, int *fd, void *ud);

/* The body of such a command after its options: catches SIGINT and SIGTERM
 * with on_signal, creates the temporary file for o->out and a client with
 * o->timeout_ms for connecting and for each call, runs session, removes the
 * file unless session returned 0, frees the client and restores the signals.
 * Returns session's status, or 1 when the file or the client cannot be made. */
int hs_cli_target_session(const struct hs_cli_target_opts *o, void (*on_signal)(int),
                          hs_cli_session_fn session, void *ud);

/* Connects c to target, then HeapProfiler.enable, as DevTools does first (a
 * target without it may still answer the rest). where gets the session's URL
 * (a copy: the client forgets it when the session closes). Returns 0, or the
 * exit status after printing what failed. */
int hs_cli_connect(hs_client *c, const char *target, char *where, size_t size);

/* Clears the line a progress display drew on stderr. */
void hs_cli_clear_line(void);

/* ---- recording until told to stop (sample, track) ------------------------------------------ */

/* What SIGINT or SIGTERM does in each phase of such a command. Before the
 * recording there is nothing to save, and once it is being saved a signal
 * means the user wants out: both end the process at once (temporary file
 * removed, a line saying so, status 128+signal), as does a second signal.
 * While recording, the first one only sets hs_cli_stop_signal, which
 * hs_cli_wait_stop looks at between slices of reading the session (so that a
 * target that goes away is noticed while we wait). */
enum hs_cli_phase { HS_CLI_BEFORE, HS_CLI_RECORDING, HS_CLI_SAVING };

/* The first signal received while recording, 0 before. */
extern volatile sig_atomic_t hs_cli_stop_signal;

/* Starts in HS_CLI_BEFORE; what names the recording in the line printed for a
 * signal then ("interrupted before <what> started"). */
void hs_cli_record_begin(const char *what);
void hs_cli_record_phase(enum hs_cli_phase phase);
/* The handler, for hs_cli_target_session. */
void hs_cli_on_record_signal(int sig);

/* Reads c's events until duration_s seconds have passed (0: no limit) or a
 * stop signal came; tick (may be NULL) is called with the ms elapsed before
 * each read, at least every 100 ms. Returns 0, or the client's error when the
 * session failed (the target went away). */
int hs_cli_wait_stop(hs_client *c, double duration_s, void (*tick)(void *ud, int64_t elapsed_ms),
                     void *ud);

/* ---- a .heapsnapshot streamed to the temporary file (snapshot, track) ------------------------ */

/* Bytes of the snapshot's start kept to read the header's counts in: the
 * header is ~1 KiB in V8's snapshots; one that does not end within this many
 * bytes gives a file without counts in the summary. */
#define HS_CLI_SNAP_HEAD_MAX 65536

/* The text of the target's addHeapSnapshotChunk events, joined byte for byte
 * as DevTools saves it, written to the file as it arrives (memory stays at one
 * chunk); the node and edge counts come from the header at the start of the
 * first chunk ({"snapshot":{"meta":{…},"node_count":N,"edge_count":E,…}). On a
 * terminal, a bar drawn from the reportHeapSnapshotProgress events while the
 * target builds the graph, then the bytes received. */
struct hs_cli_snapfile {
    int fd;  /* the temporary file; -1 once closed */
    int err; /* errno of a failed write, 0 */
    unsigned long long bytes, chunks;
    bool have_counts;
    unsigned long long node_count, edge_count;
    /* Progress events. */
    unsigned long long progress_events;
    int64_t done, total;
    bool finished;
    /* Private: the start of the text until the counts are found, the last two
     * bytes other than white space (a whole snapshot ends "]}"), drawing. */
    char head[HS_CLI_SNAP_HEAD_MAX + 1];
    size_t head_len;
    char tail[2];
    bool tty;
    int shown_pct;
    unsigned long long shown_mib;
};

/* A new one writing to fd (closed by hs_cli_snapfile_end when it renames the
 * file); free() it. NULL when out of memory, after saying so. */
struct hs_cli_snapfile *hs_cli_snapfile_new(int fd);
/* The sink to pass to the call that streams the snapshot. */
hs_snapshot_sink hs_cli_snapfile_sink(struct hs_cli_snapfile *s);

/* How hs_cli_snapfile_end names what failed: the call ("takeHeapSnapshot"),
 * what the target was doing ("taking the snapshot") and what is lost ("no
 * snapshot written"). */
struct hs_cli_snapfile_words {
    const char *method, *doing, *lost;
};

/* After the call that streamed the snapshot into s returned rc: prints what
 * failed, or closes the session, checks that a whole snapshot came and renames
 * the file to path. Returns 0 (the file is in place, s->fd closed) or 1. */
int hs_cli_snapfile_end(struct hs_cli_snapfile *s, hs_client *c, int rc, const char *where,
                        const char *path, const struct hs_cli_snapfile_words *w);

/* "B bytes (1.2 MiB), N nodes, E edges" (or what is missing) into buf. */
const char *hs_cli_snapfile_describe(const struct hs_cli_snapfile *s, char *buf, size_t size);

#endif
