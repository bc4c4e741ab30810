/*
 * hs_signal.h — signal names as users write them (USR1, SIGUSR1, usr1, 10),
 * one table for the CLI (`run --sample-signal`) and the agent
 * (HEAPSCOPE_PROFILE_SIGNAL), so that both accept the same names.
 * Allocation-free: the agent parses at load, before main.
 */
#ifndef HS_COMMON_SIGNAL_H
#define HS_COMMON_SIGNAL_H

/* The signal s names, 0 if it names one a program cannot catch (KILL,
 * STOP), -1 if it names none. */
int hs_signal_parse(const char *s);

#endif
