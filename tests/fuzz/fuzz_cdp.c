/*
 * fuzz_cdp.c — libFuzzer target for the CDP dispatcher's input side
 * (src/proto): the JSON-RPC framing of a request (cdp_request_parse), the
 * method table and the generated parameter decoders of every method of
 * protocol/heapprofiler.json, the reply that goes back, and the client's
 * reading of any message (cdp_incoming_parse). Run with cdp.dict, the
 * method and parameter names.
 *
 * Invariants: a parsed request has a non-empty 7-bit method, an int32 id, a
 * 7-bit session id if any and params that are absent, an object or an array
 * (which a method with parameters then refuses); a refused one has a
 * JSON-RPC code V8 uses for it. Parameters that decode encode to JSON that decodes again
 * and encodes to the same JSON. Whatever the outcome, the reply the agent
 * would send (result or error, with the session id) is read back by the
 * client side as that same reply.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdp_gen.h"
#include "cdp_msg.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* decode → encode → decode → encode, the two encodings equal; the first
 * encoding (a new reference) is returned in *out. */
#define ROUND_TRIP(T)                                                                              \
    static int round_trip_##T(const json_t *params, json_t **out)                                  \
    {                                                                                              \
        T v, w;                                                                                    \
        cdp_error err;                                                                             \
        if (T##_decode(params, &v, &err) != 0) {                                                   \
            CHECK(err.code == CDP_ERR_INVALID_PARAMS);                                             \
            return -1;                                                                             \
        }                                                                                          \
        json_t *a = T##_encode(&v);                                                                \
        CHECK(a &&json_is_object(a));                                                              \
        CHECK(T##_decode(a, &w, &err) == 0);                                                       \
        json_t *b = T##_encode(&w);                                                                \
        CHECK(b &&json_equal(a, b));                                                               \
        json_decref(b);                                                                            \
        T##_free(&v);                                                                              \
        T##_free(&w);                                                                              \
        *out = a;                                                                                  \
        return 0;                                                                                  \
    }

#define PARAMS(X)                                                                                  \
    X(CDP_M_HEAP_PROFILER_ADD_INSPECTED_HEAP_OBJECT,                                               \
      cdp_heap_profiler_add_inspected_heap_object_params)                                          \
    X(CDP_M_HEAP_PROFILER_GET_HEAP_OBJECT_ID, cdp_heap_profiler_get_heap_object_id_params)         \
    X(CDP_M_HEAP_PROFILER_GET_OBJECT_BY_HEAP_OBJECT_ID,                                            \
      cdp_heap_profiler_get_object_by_heap_object_id_params)                                       \
    X(CDP_M_HEAP_PROFILER_START_SAMPLING, cdp_heap_profiler_start_sampling_params)                 \
    X(CDP_M_HEAP_PROFILER_START_TRACKING_HEAP_OBJECTS,                                             \
      cdp_heap_profiler_start_tracking_heap_objects_params)                                        \
    X(CDP_M_HEAP_PROFILER_STOP_TRACKING_HEAP_OBJECTS,                                              \
      cdp_heap_profiler_stop_tracking_heap_objects_params)                                         \
    X(CDP_M_HEAP_PROFILER_TAKE_HEAP_SNAPSHOT, cdp_heap_profiler_take_heap_snapshot_params)         \
    X(CDP_M_RUNTIME_CALL_FUNCTION_ON, cdp_runtime_call_function_on_params)                         \
    X(CDP_M_RUNTIME_COMPILE_SCRIPT, cdp_runtime_compile_script_params)                             \
    X(CDP_M_RUNTIME_EVALUATE, cdp_runtime_evaluate_params)                                         \
    X(CDP_M_RUNTIME_GET_PROPERTIES, cdp_runtime_get_properties_params)                             \
    X(CDP_M_RUNTIME_GLOBAL_LEXICAL_SCOPE_NAMES, cdp_runtime_global_lexical_scope_names_params)     \
    X(CDP_M_RUNTIME_RELEASE_OBJECT, cdp_runtime_release_object_params)                             \
    X(CDP_M_RUNTIME_RELEASE_OBJECT_GROUP, cdp_runtime_release_object_group_params)

#define DEFINE(id, T) ROUND_TRIP(T)
PARAMS(DEFINE)

/* 1: decoded (*out the re-encoding), 0: the method has no parameters struct,
 * -1: refused. */
static int round_trip(cdp_method_id id, const json_t *params, json_t **out)
{
    switch (id) {
#define CASE(mid, T)                                                                               \
    case mid:                                                                                      \
        return round_trip_##T(params, out) == 0 ? 1 : -1;
        PARAMS(CASE)
    default:
        return 0;
    }
}

/* The client reads the reply it is sent as what was sent. */
static void check_reply(char *text, size_t len, bool has_id, int64_t id, const cdp_error *err,
                        const json_t *result, const char *session)
{
    CHECK(text && strlen(text) == len);
    for (size_t i = 0; i < len; i++)
        CHECK((unsigned char)text[i] < 0x80);
    cdp_incoming in;
    cdp_error e2;
    CHECK(cdp_incoming_parse(text, len, &in, &e2) == 0);
    CHECK(in.is_response == has_id && (!has_id || in.id == id));
    CHECK((session == NULL) == (in.session_id == NULL));
    CHECK(!session || !strcmp(session, in.session_id));
    if (err) {
        CHECK(in.is_error && in.error.code == err->code);
        CHECK(!strcmp(in.error.message, err->message));
        CHECK(in.error.has_data == err->has_data &&
              (!err->has_data || !strcmp(in.error.data, err->data)));
    } else {
        CHECK(!in.is_error && in.result && json_equal(in.result, result));
    }
    cdp_incoming_release(&in);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;

    /* The client side reads anything a target might send. */
    cdp_incoming in;
    cdp_error err;
    if (cdp_incoming_parse(text, size, &in, &err) == 0) {
        CHECK(in.is_response || in.method || in.is_error);
        cdp_incoming_release(&in);
    } else {
        CHECK(err.code == CDP_ERR_PARSE || err.code == CDP_ERR_INVALID_REQUEST);
    }

    cdp_request req;
    bool id_known = false;
    int64_t reply_id = 0;
    size_t len = 0;
    if (cdp_request_parse(text, size, &req, &err, &id_known, &reply_id) != 0) {
        CHECK(err.code == CDP_ERR_PARSE || err.code == CDP_ERR_INVALID_REQUEST);
        CHECK(err.message[0] && memchr(err.message, '\0', sizeof(err.message)));
        CHECK(!id_known || (reply_id >= INT32_MIN && reply_id <= INT32_MAX));
        char *reply = cdp_format_error(id_known, reply_id, &err, NULL, &len);
        check_reply(reply, len, id_known, reply_id, &err, NULL, NULL);
        return 0;
    }
    CHECK(req.root && req.method && req.method[0]);
    for (const char *m = req.method; *m; m++)
        CHECK((unsigned char)*m < 0x80);
    CHECK(req.id >= INT32_MIN && req.id <= INT32_MAX);
    CHECK(!req.params || json_is_object(req.params) || json_is_array(req.params));
    for (const char *m = req.session_id; m && *m; m++)
        CHECK((unsigned char)*m < 0x80);

    const cdp_method_desc *d = cdp_method_find(req.method);
    char *reply;
    if (!d) {
        cdp_error_method_not_found(&err, req.method);
        CHECK(err.code == CDP_ERR_METHOD_NOT_FOUND);
        reply = cdp_format_error(true, req.id, &err, req.session_id, &len);
        check_reply(reply, len, true, req.id, &err, NULL, req.session_id);
    } else {
        CHECK(!strcmp(d->name, req.method) && d == &cdp_methods[d->id]);
        int checked = cdp_method_check_params(d->id, req.params, &err);
        json_t *enc = NULL;
        int rt = round_trip(d->id, req.params, &enc);
        CHECK(d->has_params ? (rt != 0 && (rt > 0) == (checked == 0)) : (rt == 0 && checked == 0));
        CHECK(!(d->has_params && req.params && json_is_array(req.params)) || checked != 0);
        if (checked != 0) {
            CHECK(err.code == CDP_ERR_INVALID_PARAMS);
            reply = cdp_format_error(true, req.id, &err, req.session_id, &len);
            check_reply(reply, len, true, req.id, &err, NULL, req.session_id);
        } else {
            /* The decoded parameters echoed as a result. */
            json_t *expect = enc ? json_incref(enc) : json_object();
            json_t *copy = json_deep_copy(expect);
            CHECK(expect && copy);
            reply = cdp_format_result(req.id, copy, req.session_id, &len);
            check_reply(reply, len, true, req.id, NULL, expect, req.session_id);
            json_decref(expect);
        }
        json_decref(enc);
    }
    cdp_request_release(&req);
    return 0;
}
