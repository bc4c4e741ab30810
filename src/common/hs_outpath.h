/*
 * hs_outpath.h — output file patterns, one reading for the CLI (`run
 * --snapshot-out`) and the agent (HEAPSCOPE_SNAPSHOT_OUT): %p is the
 * process id, %n a sequence number (1, 2, … per process), %% a '%'; any other
 * '%' stays as written. Allocation-free and async-signal-safe.
 */
#ifndef HS_COMMON_OUTPATH_H
#define HS_COMMON_OUTPATH_H

#include <stddef.h>

/* Writes pattern with pid and n put in into out (size bytes, NUL-terminated).
 * Returns the length, or -1 if it does not fit (out then holds what fitted). */
int hs_outpath_expand(const char *pattern, long pid, unsigned long n, char *out, size_t size);

/* 1 if pattern has a %n (each file its own name), else 0. */
int hs_outpath_has_seq(const char *pattern);

/* Copies s into out with every '%' doubled, so that a directory name is read
 * literally in front of a pattern. Returns the length, or -1 if it does not fit. */
int hs_outpath_quote(const char *s, char *out, size_t size);

/* Writes the file path by way of a temporary one beside it (path.tmp-XXXXXX,
 * made by mkostemp, so owner-only, mode 0600: the files describe the
 * process's memory): write_fn(fd, arg) fills it and returns 0 or -errno; the
 * file, once closed, is renamed to path, so that a reader never sees half of it. On an error
 * the temporary file is removed. Returns 0 or -errno (-ENAMETOOLONG if the
 * temporary name does not fit). Allocation-free apart from write_fn. */
int hs_outpath_write_file(const char *path, int (*write_fn)(int fd, void *arg), void *arg);

#endif
