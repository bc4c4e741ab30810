/*
 * profile.h — private to the agent: the sampling heap profile
 * (SamplingHeapProfile, spec §3) built from the sampler's table, and the
 * control of sampling shared by the HeapProfiler handlers, HEAPSCOPE_SAMPLE
 * at load and the profile written at exit or on a signal. Every function
 * here takes one mutex: callers on any thread are serialised.
 */
#ifndef HS_AGENT_PROFILE_H
#define HS_AGENT_PROFILE_H

#include <jansson.h>

#include "../agent_int.h"

/* Starts sampling: 0 started, 1 already running (its parameters kept). */
int hs__profile_start(const struct hs_sample_params *p);
/* The SamplingHeapProfile so far ({"head":…,"samples":[…]}); sampling goes
 * on and node ids stay stable. NULL with *err = HS_E_STATE when sampling
 * is not running, HS_E_NOMEM when out of memory. */
json_t *hs__profile_get(int *err);
/* The profile, then sampling stops and its state is discarded. */
json_t *hs__profile_stop(int *err);
/* Stops sampling without a profile (HeapProfiler.disable). */
void hs__profile_discard(void);
/* Writes the profile so far to path (through a temporary file and rename).
 * Returns 0, HS_E_STATE if sampling is not running, or -errno. */
int hs__profile_write(const char *path);

/* profile_out.c: HEAPSCOPE_SAMPLE at load (with HEAPSCOPE_PROFILE_SIGNAL),
 * HEAPSCOPE_PROFILE_OUT at exit. */
void hs__profile_out_load(void);
void hs__profile_out_exit(void);

/* V8's ScaleSample: the number of allocations of `size` bytes that `count`
 * samples stand for at mean interval `rate`, rounded. */
unsigned hs__profile_scale(uint64_t size, uint64_t count, uint64_t rate);

#endif
