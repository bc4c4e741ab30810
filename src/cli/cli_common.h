/*
 * cli_common.h — what the commands that save something a target sends share
 * (`sample`, `snapshot`; cli_common.c): their common options, the temporary
 * file next to the output, the SIGINT/SIGTERM handlers around the session, and
 * connecting to the target.
 */
#ifndef HS_CLI_COMMON_H
#define HS_CLI_COMMON_H

#include <stddef.h>
#include <stdio.h>

#include "heapscope/hs_client.h"

/* A decimal integer in [1, max], nothing else (no sign, no spaces, no suffix). */
int hs_cli_parse_positive(const char *s, unsigned long long max, unsigned long long *out);

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

#endif
