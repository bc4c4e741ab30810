/*
 * attach.c — the commands of other domains that DevTools sends whenever it
 * attaches to a `node` target (spec §5.1; the list recorded from a real
 * session is tests/browser/fixtures/devtools-agent-attach.json). Each is
 * answered as V8 answers it where the answer is true of a native process
 * with no scripts: Profiler and Debugger enable with nothing to report (the
 * debugger's id is the process's), their settings are accepted, Network is
 * enabled as node enables it (no events follow). Every other command of
 * these domains is a -32601, as node answers the Network commands it lacks.
 */
#include <inttypes.h>
#include <stdio.h>

#include "domain.h"
#include "inspect.h"

static void ok(hs_call *c, const json_t *params)
{
    (void)params;
    hs__call_done(c);
}

static void debugger_enable(hs_call *c, const json_t *params)
{
    (void)params;
    char id[48];
    snprintf(id, sizeof(id), "%" PRIu64 ".%" PRIu64, hs__objects_isolate(),
             hs__objects_isolate() * 31u + 7u);
    hs__call_ok(c, json_pack("{ss}", "debuggerId", id));
}

const hs_handler hs__attach_handlers[] = {
    {"Profiler.enable", ok},
    {"Profiler.disable", ok},
    {"Debugger.enable", debugger_enable},
    {"Debugger.disable", ok},
    {"Debugger.setPauseOnExceptions", ok},
    {"Debugger.setAsyncCallStackDepth", ok},
    {"Debugger.setBlackboxPatterns", ok},
    {"Network.enable", ok},
    {NULL, NULL},
};
