/*
 * domain.h — private to the agent: the CDP sessions and the handlers of the
 * domains the agent serves (HeapProfiler, a little of Runtime). Everything
 * here runs on the service thread only.
 *
 * A handler receives a call and must finish it exactly once, with
 * hs__call_ok or hs__call_error — at once, or later for an asynchronous
 * command (it then keeps the hs_call, which stays valid after the session
 * closes: replies to a closed session are dropped).
 */
#ifndef HS_AGENT_DOMAIN_H
#define HS_AGENT_DOMAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hs_server.h"
#include "value.h"

typedef struct hs_cdp_session hs_cdp_session;
typedef struct hs_call hs_call;

/* The service's callbacks for sessions. */
void hs__domain_session_open(void *ud, hs_session *s);
void hs__domain_session_message(void *ud, hs_session *s, const char *text, size_t len);
void hs__domain_session_closed(void *ud, hs_session *s);

/* Finishing a call; each frees it. hs__call_ok's result is stolen; NULL
 * means it could not be made (out of memory, as json_pack and the encoders
 * say it) and is answered -32000 "Out of memory", never as a success
 * without its members. hs__call_done answers {}. */
void hs__call_ok(hs_call *c, json_t *result);
void hs__call_done(hs_call *c);
void hs__call_error(hs_call *c, int code, const char *message);

/* -32000 "<method> needs the live-block registry, which is off in
 * sampling-only mode (HEAPSCOPE_MODE=sample)". */
void hs__call_error_no_registry(hs_call *c, const char *method);
/* The session a call came from (still valid while the call is pending). */
hs_cdp_session *hs__call_session(hs_call *c);
/* The service's server, for hs_server_drain in long handlers. */
hs_server *hs__service_server(void);

/* Sends an event whose params are one string ({"<param>": text}), built
 * without a JSON value (snapshot chunks). */
void hs__session_string_event(hs_cdp_session *s, const char *method, const char *param,
                              const char *text, size_t n);
/* Sends an event to one session; params stolen (NULL = no params). */
void hs__session_event(hs_cdp_session *s, const char *method, json_t *params);

/* params' boolean member name: true only if present and true. */
static inline bool hs__flag(const json_t *params, const char *name)
{
    return json_is_true(json_object_get(params, name));
}

/* heap_profiler.c: streams a heap snapshot to s as takeHeapSnapshot does
 * (progress events if report, chunks), with the timeline's samples (may be
 * NULL). 0 once every chunk is out; an error if the snapshot failed or the
 * session went away. The caller replies. */
struct hs_snap_samples;
int hs__snapshot_stream(hs_cdp_session *s, bool report, const struct hs_snap_samples *samples);

/* timeline.c: the allocation timeline. disable: stops it without a snapshot
 * (HeapProfiler.disable); session_closed: a session that was receiving its
 * events is gone (the timeline stops with the last one, unless it was started
 * at load); autostart: the ticks of a timeline started at load
 * (HEAPSCOPE_TRACK, hs__timeline_load), on the service thread as it starts. */
void hs__timeline_disable(void);
void hs__timeline_session_closed(hs_cdp_session *s);
void hs__timeline_autostart(void);

/* State every session has; the domains keep what is theirs here. */
#define HS_INSPECTED_MAX 5 /* $0 … $4, as V8 keeps them */
struct hs_cdp_session {
    hs_session *ws;
    unsigned calls_pending;             /* asynchronous calls not finished yet */
    bool closed;                        /* freed when closed and no call is pending */
    bool runtime_enabled;               /* Runtime.enable: the context was reported */
    hs_val inspected[HS_INSPECTED_MAX]; /* addInspectedHeapObject: [0] is $0 */
    hs_val last;                        /* $_: the last evaluation's value */
};

/* Handlers, by domain. params: the decoded-params object or NULL ({}). */
typedef void (*hs_handler_fn)(hs_call *c, const json_t *params);
typedef struct hs_handler {
    const char *method;
    hs_handler_fn fn;
} hs_handler;
extern const hs_handler hs__heap_profiler_handlers[];
extern const hs_handler hs__runtime_handlers[];
extern const hs_handler hs__timeline_handlers[];
extern const hs_handler hs__attach_handlers[];

#endif
