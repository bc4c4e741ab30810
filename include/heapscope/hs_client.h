/*
 * hs_client.h — libheapscope-client: talk to a Chrome DevTools Protocol target
 * (a program under heapscope, node --inspect, Chrome) from C.
 *
 * What it does: HTTP discovery (/json/list, /json/version), one WebSocket
 * session per client, a typed call for every HeapProfiler command, a generic
 * call for anything else, event callbacks, and heap snapshots streamed to a
 * sink chunk by chunk.
 *
 * Blocking with time-outs. Every function waits for its answer (or fails) before
 * it returns; nothing runs in the background. Events are read only while a
 * function of this client is running (a call, or hs_client_wait_events), and are
 * dispatched in the order they arrived: events that come before a call's answer
 * are dispatched before the call returns.
 *
 * Threading: a client is used by one thread at a time; different clients are
 * independent. Callbacks run on the calling thread, inside the client function
 * that read the event, and must not call functions of the same client (they
 * fail with HS_E_STATE).
 *
 * Errors: the project's error model (heapscope/hs_err.h). Functions return 0 or a
 * negative code: -ECONNREFUSED (nothing listens), -ETIMEDOUT (connect or call
 * time-out), HS_E_CLOSED (the target went away), HS_E_BADREPLY (the target's
 * bytes are not HTTP, not JSON or not WebSocket), HS_E_HTTP (an HTTP error status),
 * HS_E_REMOTE (the target answered the call with a JSON-RPC error, see
 * hs_client_remote_error), HS_E_NOTFOUND (no such target), HS_E_RESOLVE,
 * HS_E_INVAL, HS_E_STATE, HS_E_NOMEM, HS_E_ABORTED (a sink asked to stop).
 * hs_client_last_error() describes the last failure in a sentence.
 * After HS_E_CLOSED or HS_E_BADREPLY the session is closed; after -ETIMEDOUT,
 * HS_E_REMOTE or HS_E_ABORTED it remains usable.
 *
 * Ownership: strings and arrays a function hands out in an out-struct belong to
 * the caller and are released with the matching *_free function (which is safe on
 * a zeroed struct and leaves it zeroed); a char ** out-parameter is released with
 * free(). Input pointers are only borrowed for the duration of the call.
 */
#ifndef HEAPSCOPE_HS_CLIENT_H
#define HEAPSCOPE_HS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heapscope/hs_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hs_client hs_client;

/* ---- Client life ------------------------------------------------------------------------- */

typedef struct hs_client_options {
    /* TCP connect plus the HTTP or WebSocket handshake, in ms; <= 0: 5000. */
    int connect_timeout_ms;
    /* How long a call may wait without hearing anything for it, in ms; the clock
     * restarts with each snapshot chunk or progress event, so a long snapshot does
     * not time out while it streams. <= 0: 30000. */
    int call_timeout_ms;
} hs_client_options;

/* A new, unconnected client in *out. opt may be NULL (defaults). */
HS_API int hs_client_new(const hs_client_options *opt, hs_client **out);
/* Closes the session if any and frees c. NULL is fine; not from a callback. */
HS_API void hs_client_free(hs_client *c);

/* The last failure of any function of c, as a sentence without a trailing newline
 * (e.g. "connection refused by 127.0.0.1:9 (is the target running, on this port?)", or for a
 * protocol error "-32000 V8 sampling heap profiler was not started."). "" if none
 * yet. Valid until the next call on c. */
HS_API const char *hs_client_last_error(const hs_client *c);

/* A JSON-RPC error answered by the target. */
typedef struct hs_remote_error {
    int code;          /* e.g. -32000, -32601 */
    char message[160]; /* e.g. "V8 sampling heap profiler was not started." */
    char data[256];    /* V8's detail for -32602, when has_data */
    bool has_data;
} hs_remote_error;

/* The target's error when the last call failed with HS_E_REMOTE, else NULL. Valid
 * until the next call on c. */
HS_API const hs_remote_error *hs_client_remote_error(const hs_client *c);

/* ---- Discovery (HTTP; no session needed) ------------------------------------------------- */

/* One entry of /json/list. Absent fields are NULL. */
typedef struct hs_target {
    char *id;
    char *type; /* "node", "page", … */
    char *title;
    char *url;
    char *description;
    char *web_socket_debugger_url; /* NULL when the target accepts no (further) session */
    char *devtools_frontend_url;
} hs_target;

typedef struct hs_target_list {
    hs_target *items;
    size_t count;
    char *json; /* the body as the target sent it */
} hs_target_list;

/* GET http://hostport/json/list. hostport is "HOST:PORT", with HOST an IPv4
 * literal, "[IPv6]" or a name, or "unix:PATH" for a Unix socket. */
HS_API int hs_client_list_targets(hs_client *c, const char *hostport, hs_target_list *out);
HS_API void hs_target_list_free(hs_target_list *l);

typedef struct hs_version_info {
    char *browser;          /* "Browser", e.g. "node.js/v20.20.2" */
    char *protocol_version; /* "Protocol-Version", e.g. "1.1" */
    char *json;             /* the whole body */
} hs_version_info;

/* GET http://hostport/json/version. */
HS_API int hs_client_version(hs_client *c, const char *hostport, hs_version_info *out);
HS_API void hs_version_info_free(hs_version_info *v);

/* ---- Session ----------------------------------------------------------------------------- */

/* Opens the WebSocket session. target is one of
 *   "ws://HOST:PORT/PATH"      connect to that URL (wss:// is not supported);
 *   "HOST:PORT"                discover, take the first target with a WebSocket URL;
 *   "HOST:PORT/SELECTOR"       discover, take the target whose id is SELECTOR, else the
 *                              first whose title contains SELECTOR;
 *   "unix:SOCKET", "unix:SOCKET:SELECTOR", "ws+unix://SOCKET:/PATH"
 *                              the same on a Unix socket (SOCKET ends at the first ':');
 *                              a session discovered there goes over that socket too.
 * Fails with HS_E_STATE if c already has a session. */
HS_API int hs_client_connect(hs_client *c, const char *target);
/* The same with the selector apart (NULL or "" = first), for titles that need no parsing. */
HS_API int hs_client_connect_select(hs_client *c, const char *hostport, const char *selector);
/* The WebSocket URL of the session, or NULL when not connected. */
HS_API const char *hs_client_ws_url(const hs_client *c);
/* Sends a close frame (1000) and closes the socket; c may connect again. */
HS_API void hs_client_close(hs_client *c);

/* ---- Events ------------------------------------------------------------------------------ */

/* Any member may be NULL. `any` sees every event, HeapProfiler's included, after
 * its typed callback, with params as compact JSON text ("{}" when absent). */
typedef struct hs_client_events {
    void (*add_heap_snapshot_chunk)(void *ud, const char *chunk, size_t len);
    void (*report_heap_snapshot_progress)(void *ud, int64_t done, int64_t total, bool finished);
    /* Triplets (fragment index, count, size), count_of_numbers = 3 × triplets. */
    void (*heap_stats_update)(void *ud, const int64_t *stats, size_t count_of_numbers);
    void (*last_seen_object_id)(void *ud, int64_t last_seen_object_id, double timestamp_ms);
    void (*reset_profiles)(void *ud);
    void (*any)(void *ud, const char *method, const char *params_json);
} hs_client_events;

/* Replaces the callbacks (ev copied; NULL = none). ud is passed to each. */
HS_API void hs_client_set_events(hs_client *c, const hs_client_events *ev, void *ud);

/* Reads and dispatches events for up to timeout_ms (0: only what is already there),
 * returning as soon as at least one was dispatched. Returns the number of events
 * dispatched (0 on time-out) or a negative code. */
HS_API int hs_client_wait_events(hs_client *c, int timeout_ms);

/* ---- Generic call ------------------------------------------------------------------------ */

/* Sends {method, params} and waits for the answer. params_json is an object's JSON
 * text or NULL ({}). On success, if result_json is not NULL, *result_json is the
 * result object as compact JSON text (free()). */
HS_API int hs_client_call(hs_client *c, const char *method, const char *params_json,
                          char **result_json);

/* ---- HeapProfiler: types ----------------------------------------------------------------- */

/* Runtime.CallFrame */
typedef struct hs_call_frame {
    char *function_name;
    char *script_id;
    char *url;
    int64_t line_number;   /* 0-based, -1 when unknown */
    int64_t column_number; /* 0-based, -1 when unknown */
} hs_call_frame;

/* HeapProfiler.SamplingHeapProfileNode */
typedef struct hs_sampling_node {
    hs_call_frame call_frame;
    double self_size;
    int64_t id; /* 0 from targets older than 2018 that do not send it */
    struct hs_sampling_node *children;
    size_t children_count;
} hs_sampling_node;

/* HeapProfiler.SamplingHeapProfileSample */
typedef struct hs_sampling_sample {
    double size;
    int64_t node_id;
    double ordinal;
} hs_sampling_sample;

/* HeapProfiler.SamplingHeapProfile */
typedef struct hs_sampling_profile {
    hs_sampling_node head;
    hs_sampling_sample *samples; /* in the target's order, which is not time order */
    size_t samples_count;
} hs_sampling_profile;

HS_API void hs_sampling_profile_free(hs_sampling_profile *p);

/* Runtime.RemoteObject (the fields a heap profiler client uses). */
typedef struct hs_remote_object {
    char *type;    /* "object", "function", … */
    char *subtype; /* NULL when absent */
    char *class_name;
    char *value_json; /* the value as JSON text, NULL when absent */
    char *unserializable_value;
    char *description;
    char *object_id; /* Runtime.RemoteObjectId, NULL for primitives */
} hs_remote_object;

HS_API void hs_remote_object_free(hs_remote_object *o);

/* Optional parameters: each value is sent only when its has_ flag is set. */
typedef struct hs_start_sampling_params {
    bool has_sampling_interval;
    double sampling_interval; /* mean bytes between samples */
    bool has_stack_depth;
    double stack_depth;
    bool has_include_objects_collected_by_major_gc;
    bool include_objects_collected_by_major_gc;
    bool has_include_objects_collected_by_minor_gc;
    bool include_objects_collected_by_minor_gc;
} hs_start_sampling_params;

typedef struct hs_start_tracking_params {
    bool has_track_allocations;
    bool track_allocations;
} hs_start_tracking_params;

/* Parameters of takeHeapSnapshot and stopTrackingHeapObjects. */
typedef struct hs_snapshot_params {
    bool has_report_progress;
    bool report_progress;
    bool has_treat_global_objects_as_roots; /* deprecated by the protocol */
    bool treat_global_objects_as_roots;
    bool has_capture_numeric_value;
    bool capture_numeric_value;
    bool has_expose_internals;
    bool expose_internals;
} hs_snapshot_params;

/* Where a snapshot goes. write gets each addHeapSnapshotChunk's text as it
 * arrives (the client keeps none of it); a non-zero return stops the delivery:
 * the client still reads the rest of the snapshot off the wire, and the call then
 * fails with HS_E_ABORTED. progress (optional) gets reportHeapSnapshotProgress. */
typedef struct hs_snapshot_sink {
    int (*write)(void *ud, const char *data, size_t len);
    void (*progress)(void *ud, int64_t done, int64_t total, bool finished);
    void *ud;
} hs_snapshot_sink;

/* ---- HeapProfiler: commands -------------------------------------------------------------- */

HS_API int hs_hp_enable(hs_client *c);
HS_API int hs_hp_disable(hs_client *c);
HS_API int hs_hp_collect_garbage(hs_client *c);

/* p may be NULL ({}). */
HS_API int hs_hp_start_sampling(hs_client *c, const hs_start_sampling_params *p);
/* *out is filled on success (hs_sampling_profile_free), zeroed on failure. */
HS_API int hs_hp_stop_sampling(hs_client *c, hs_sampling_profile *out);
HS_API int hs_hp_get_sampling_profile(hs_client *c, hs_sampling_profile *out);

HS_API int hs_hp_start_tracking_heap_objects(hs_client *c, const hs_start_tracking_params *p);
/* Both stream a snapshot: p may be NULL ({}), sink may be NULL (chunks go only to
 * the event callbacks). Returns when the target has answered, after the last chunk. */
HS_API int hs_hp_stop_tracking_heap_objects(hs_client *c, const hs_snapshot_params *p,
                                            const hs_snapshot_sink *sink);
HS_API int hs_hp_take_heap_snapshot(hs_client *c, const hs_snapshot_params *p,
                                    const hs_snapshot_sink *sink);

/* object_id: a Runtime.RemoteObjectId (e.g. from Runtime.evaluate). On success
 * *heap_object_id is the decimal id as text (free()). */
HS_API int hs_hp_get_heap_object_id(hs_client *c, const char *object_id, char **heap_object_id);
/* object_group may be NULL. *out is zeroed on failure. */
HS_API int hs_hp_get_object_by_heap_object_id(hs_client *c, const char *heap_object_id,
                                              const char *object_group, hs_remote_object *out);
HS_API int hs_hp_add_inspected_heap_object(hs_client *c, const char *heap_object_id);

#ifdef __cplusplus
}
#endif
#endif
