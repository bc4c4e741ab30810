/*
 * profile_out.c — sampling without a client: HEAPSCOPE_SAMPLE starts the
 * sampler at load, the profile is written to HEAPSCOPE_PROFILE_OUT at exit
 * and, with HEAPSCOPE_PROFILE_SIGNAL, whenever that signal arrives (sampling
 * goes on). `heapscope run --sample` sets these variables.
 *
 * On the signal the file is written by a thread of the agent
 * (hs__sigwork_start, sigwork.c).
 */
#include <stdio.h>
#include <unistd.h>

#include "../snapshot/snapshot.h"
#include "heapscope/hs_err.h"
#include "profile.h"

static char out_path[600];

static const char *path_of_output(void)
{
    if (!out_path[0]) {
        if (hs__config.profile_out[0])
            snprintf(out_path, sizeof(out_path), "%s", hs__config.profile_out);
        else
            snprintf(out_path, sizeof(out_path), "heapscope-%ld.heapprofile", (long)getpid());
    }
    return out_path;
}

static void write_now(const char *why)
{
    const char *path = path_of_output();
    int rc = hs__profile_write(path);
    if (rc == 0)
        dprintf(2, "heapscope: wrote the sampling profile (%s) to %s\n", why, path);
    else if (rc != HS_E_STATE)
        dprintf(2, "heapscope: cannot write the sampling profile to %s: %s\n", path,
                hs_strerror(rc));
}

static void write_on_signal(void)
{
    write_now("on signal");
}

void hs__profile_out_load(void)
{
    if (hs__config.sample <= 0)
        return;
    int was = hs__shim_guarded();
    hs__shim_guard(1);
    struct hs_sample_params p = {
        .interval = (uint64_t)hs__config.sample,
        .depth = hs__config.sample_depth,
        .young_ns = (uint64_t)hs__config.young_ms * 1000000u,
        .seed = hs__config.sample_seed,
    };
    hs__profile_start(&p);
    if (hs__config.profile_signal)
        hs__sigwork_start(hs__config.profile_signal, "HEAPSCOPE_PROFILE_SIGNAL", write_on_signal);
    hs__shim_guard(was);
}

void hs__profile_out_exit(void)
{
    if (hs__config.sample <= 0)
        return;
    int was = hs__shim_guarded();
    hs__shim_guard(1);
    write_now("at exit");
    hs__shim_guard(was);
}
