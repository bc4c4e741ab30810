/*
 * test_cdp_msg.c — unit tests of the JSON-RPC framing (src/proto/cdp_msg.c):
 * every framing error of the V8 catalogue with its code, text and whether the
 * reply carries the id; the serialisers' exact bytes; and the client-side
 * reader against well-formed and garbage input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cdp_gen.h"
#include "cdp_msg.h"

typedef struct framing_case {
    const char *text;
    int code;            /* 0: parses */
    const char *message; /* expected error message, or expected method when it parses */
    bool has_id;
    int64_t id;
} framing_case;

static const char k_json[] = "Message must be a valid JSON";
static const char k_id[] = "Message must have integer 'id' property";
static const char k_method[] = "Message must have string 'method' property";
static const char k_params[] = "Message may have object 'params' property";
static const char k_session[] = "Message may have string 'sessionId' property";
static const char k_other[] =
    "Message has property other than 'id', 'method', 'sessionId', 'params'";

/* The framing errors V8 (node 20) answers, from PEERS.md §3.2 and
 * golden/v8-node20/malformed-per-connection, plus the ordering rules of
 * V8's dispatcher (an id after the offending member is not known yet). */
static const framing_case k_cases[] = {
    {"not json at all", -32700, k_json, false, 0},
    {"{\"id\": 7, \"method\": \"HeapProfiler.enable\"", -32700, k_json, false, 0},
    {"[1,2,3]", -32700, k_json, false, 0},
    {"42", -32700, k_json, false, 0},
    {"\"str\"", -32700, k_json, false, 0},
    {"null", -32700, k_json, false, 0},
    {"", -32700, k_json, false, 0},
    {"{\"id\":1,\"method\":\"HeapProfiler.enable\"} x", -32700, k_json, false, 0},
    {"{}", -32600, k_id, false, 0},
    {"{\"id\": 8}", -32600, k_method, true, 8},
    {"{\"method\": \"HeapProfiler.enable\"}", -32600, k_id, false, 0},
    {"{\"id\": \"abc\", \"method\": \"HeapProfiler.enable\"}", -32600, k_id, false, 0},
    {"{\"id\": 1.5, \"method\": \"HeapProfiler.enable\"}", -32600, k_id, false, 0},
    {"{\"id\": 4294967296, \"method\": \"HeapProfiler.enable\"}", -32600, k_id, false, 0},
    {"{\"id\": 2147483648, \"method\": \"HeapProfiler.enable\"}", -32600, k_id, false, 0},
    {"{\"id\": -2147483649, \"method\": \"HeapProfiler.enable\"}", -32600, k_id, false, 0},
    {"{\"id\": null, \"method\": \"HeapProfiler.enable\"}", -32600, k_id, false, 0},
    {"{\"id\": true, \"method\": \"HeapProfiler.enable\"}", -32600, k_id, false, 0},
    {"{\"id\": 9, \"method\": 5}", -32600, k_method, true, 9},
    {"{\"method\": 5, \"id\": 9}", -32600, k_method, false, 0},
    {"{\"id\": 9, \"method\": \"\"}", -32600, k_method, true, 9},
    {"{\"id\": 9, \"method\": \"Heap\\u00e9.enable\"}", -32600, k_method, true, 9},
    {"{\"id\": 9, \"method\": null}", -32600, k_method, true, 9},
    {"{\"id\": 9, \"method\": \"HeapProfiler.collectGarbage\", \"params\": \"x\"}", -32600,
     k_params, true, 9},
    {"{\"id\": 9, \"method\": \"HeapProfiler.collectGarbage\", \"params\": 3}", -32600, k_params,
     true, 9},
    {"{\"id\": 9, \"method\": \"HeapProfiler.collectGarbage\", \"params\": false}", -32600,
     k_params, true, 9},
    {"{\"params\": \"x\", \"id\": 9, \"method\": \"HeapProfiler.collectGarbage\"}", -32600,
     k_params, false, 0},
    {"{\"id\": 11, \"method\": \"HeapProfiler.enable\", \"extra\": true}", -32600, k_other, true,
     11},
    {"{\"extra\": true, \"id\": 11, \"method\": \"HeapProfiler.enable\"}", -32600, k_other, false,
     0},
    {"{\"id\": 12, \"method\": \"HeapProfiler.enable\", \"sessionId\": 5}", -32600, k_session, true,
     12},
    {"{\"id\": 12, \"m\\u00e9thod\": \"x\"}", -32700, "CBOR: invalid map key at position 12", true,
     12},
    /* These parse. */
    {"{\"id\": -3, \"method\": \"HeapProfiler.enable\"}", 0, "HeapProfiler.enable", true, -3},
    {"{\"id\": 0, \"method\": \"HeapProfiler.enable\"}", 0, "HeapProfiler.enable", true, 0},
    {"{\"id\": 1.0, \"method\": \"HeapProfiler.enable\"}", 0, "HeapProfiler.enable", true, 1},
    {"{\"id\": 1e2, \"method\": \"HeapProfiler.enable\"}", 0, "HeapProfiler.enable", true, 100},
    {"{\"id\": 2147483647, \"method\": \"A.b\"}", 0, "A.b", true, 2147483647},
    {"{\"id\": -2147483648, \"method\": \"A.b\"}", 0, "A.b", true, -2147483648LL},
    {"  {\"id\": 13, \"method\": \"HeapProfiler.enable\"}  ", 0, "HeapProfiler.enable", true, 13},
    {"{\"id\": 12, \"method\": \"HeapProfiler.enable\", \"sessionId\": \"nope\"}", 0,
     "HeapProfiler.enable", true, 12},
    {"{\"method\": \"Foo.bar\", \"id\": 15}", 0, "Foo.bar", true, 15},
    {"{\"id\": 9, \"method\": \"HeapProfiler.collectGarbage\", \"params\": null}", 0,
     "HeapProfiler.collectGarbage", true, 9},
    {"{\"id\": 9, \"method\": \"HeapProfiler.startSampling\", \"params\": [1]}", 0,
     "HeapProfiler.startSampling", true, 9},
};

static void test_framing_catalogue(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
        const framing_case *c = &k_cases[i];
        cdp_request req;
        cdp_error err;
        bool known = true;
        int64_t id = 12345;
        memset(&err, 0, sizeof err);
        int rc = cdp_request_parse(c->text, strlen(c->text), &req, &err, &known, &id);
        if (c->code == 0) {
            if (rc != 0)
                fail_msg("case %zu %s: %d %s", i, c->text, err.code, err.message);
            assert_string_equal(req.method, c->message);
            assert_int_equal(req.id, c->id);
            assert_true(known);
            assert_int_equal(id, c->id);
            cdp_request_release(&req);
            assert_null(req.root);
            continue;
        }
        if (rc != -1)
            fail_msg("case %zu %s parsed", i, c->text);
        assert_null(req.root);
        assert_int_equal(err.code, c->code);
        assert_string_equal(err.message, c->message);
        assert_false(err.has_data);
        if (known != c->has_id)
            fail_msg("case %zu %s: id known %d", i, c->text, known);
        if (c->has_id)
            assert_int_equal(id, c->id);
        cdp_request_release(&req); /* safe after a failure */
    }
}

static void test_request_members(void **state)
{
    (void)state;
    static const char text[] = "{\"id\":5,\"method\":\"HeapProfiler.takeHeapSnapshot\","
                               "\"params\":{\"reportProgress\":true},\"sessionId\":\"S1\"}";
    cdp_request req;
    cdp_error err;
    assert_int_equal(cdp_request_parse(text, strlen(text), &req, &err, NULL, NULL), 0);
    assert_int_equal(req.id, 5);
    assert_string_equal(req.method, "HeapProfiler.takeHeapSnapshot");
    assert_string_equal(req.session_id, "S1");
    assert_true(json_is_object(req.params));
    assert_true(json_is_true(json_object_get(req.params, "reportProgress")));
    cdp_request_release(&req);
    cdp_request_release(&req);

    /* params null and absent both mean {} (NULL). */
    static const char nul[] = "{\"id\":5,\"method\":\"HeapProfiler.enable\",\"params\":null}";
    assert_int_equal(cdp_request_parse(nul, strlen(nul), &req, &err, NULL, NULL), 0);
    assert_null(req.params);
    assert_null(req.session_id);
    cdp_request_release(&req);

    /* The length is honoured: the tail after len is not read. */
    static const char longer[] = "{\"id\":6,\"method\":\"A.b\"}garbage";
    assert_int_equal(cdp_request_parse(longer, strlen(longer) - 7, &req, &err, NULL, NULL), 0);
    assert_int_equal(req.id, 6);
    cdp_request_release(&req);

    /* No text at all. */
    assert_int_equal(cdp_request_parse(NULL, 0, &req, &err, NULL, NULL), -1);
    assert_int_equal(err.code, -32700);
}

/* Repeated keys, as V8 reads them: at the top level an error at the second
 * occurrence, in the parameters the last value. */
static void test_duplicates(void **state)
{
    (void)state;
    static const framing_case dups[] = {
        {"{\"id\":1,\"id\":2,\"method\":\"A.b\"}", -32700, "CBOR: duplicate map key at position 12",
         true, 1},
        {"{\"id\":1,\"\\u0069d\":2,\"method\":\"A.b\"}", -32700,
         "CBOR: duplicate map key at position 12", true, 1},
        {"{\"method\":\"A.b\",\"id\":3,\"method\":\"A.c\"}", -32700,
         "CBOR: duplicate map key at position 23", true, 3},
        {"{\"method\":\"A.b\",\"method\":\"A.c\",\"id\":3}", -32700,
         "CBOR: duplicate map key at position 19", false, 0},
        {"{\"id\":1,\"method\":\"A.b\",\"params\":{},\"params\":null}", -32700,
         "CBOR: duplicate map key at position 39", true, 1},
        {"{\"id\":1,\"method\":\"A.b\",\"sessionId\":\"s\",\"sessionId\":\"t\"}", -32700,
         "CBOR: duplicate map key at position 35", true, 1},
        /* An error before the repetition is the answer. */
        {"{\"id\":\"x\",\"id\":1,\"method\":\"A.b\"}", -32600, k_id, false, 0},
        {"{\"id\":1,\"x\":1,\"x\":2,\"method\":\"A.b\"}", -32600, k_other, true, 1},
    };
    for (size_t i = 0; i < sizeof dups / sizeof dups[0]; i++) {
        const framing_case *c = &dups[i];
        cdp_request req;
        cdp_error err;
        bool known;
        int64_t id;
        assert_int_equal(cdp_request_parse(c->text, strlen(c->text), &req, &err, &known, &id), -1);
        assert_int_equal(err.code, c->code);
        if (strcmp(err.message, c->message) != 0)
            fail_msg("%s: %s", c->text, err.message);
        assert_int_equal(known, c->has_id);
        assert_int_equal(id, c->id);
    }

    /* Nested repetitions: the last value, as V8 (and jansson) keep it; strings holding
     * braces, quotes and commas do not confuse the re-reading of the top level. */
    static const char nested[] = "{\"id\":4,\"method\":\"HeapProfiler.takeHeapSnapshot\","
                                 "\"params\":{\"s\":\"}\\\"{,[\",\"reportProgress\":false,"
                                 "\"reportProgress\":true},\"sessionId\":\"a\"}";
    cdp_request req;
    cdp_error err;
    assert_int_equal(cdp_request_parse(nested, strlen(nested), &req, &err, NULL, NULL), 0);
    assert_int_equal(req.id, 4);
    assert_string_equal(req.session_id, "a");
    cdp_heap_profiler_take_heap_snapshot_params p;
    assert_int_equal(cdp_heap_profiler_take_heap_snapshot_params_decode(req.params, &p, &err), 0);
    assert_true(p.has_report_progress && p.report_progress);
    cdp_request_release(&req);
}

/* len is read after the call has set it (argument order is unspecified). */
static void check_format(char *got, const size_t *len, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(*len, strlen(want));
    free(got);
}

/* The hand-built string event is byte for byte what jansson writes, for every
 * ASCII byte (NUL, controls, quote, backslash included) in every position. */
static void test_format_string_event(void **state)
{
    (void)state;
    char text[3 * 128];
    size_t n = 0;
    for (int c = 0; c < 128; c++) {
        text[n++] = 'a';
        text[n++] = (char)c;
        text[n++] = (char)c;
    }
    for (size_t len = 0; len <= n; len += (len < 8 ? 1 : 37)) {
        size_t a = 0, b = 0;
        json_t *p = json_pack("{s:s%}", "chunk", text, len);
        assert_non_null(p);
        char *want = cdp_format_event("HeapProfiler.addHeapSnapshotChunk", p, NULL, &a);
        char *got =
            cdp_format_string_event("HeapProfiler.addHeapSnapshotChunk", "chunk", text, len, &b);
        assert_non_null(want);
        assert_non_null(got);
        assert_int_equal(a, b);
        assert_memory_equal(want, got, a);
        assert_int_equal(got[b], '\0');
        free(want);
        free(got);
    }
}

static void test_format(void **state)
{
    (void)state;
    size_t len = 0;
    check_format(cdp_format_result(3, NULL, NULL, &len), &len, "{\"id\":3,\"result\":{}}");
    json_t *r = json_pack("{s:s}", "id", "abc");
    check_format(cdp_format_result(-1, r, "S", &len), &len,
                 "{\"id\":-1,\"result\":{\"id\":\"abc\"},\"sessionId\":\"S\"}");

    cdp_error e;
    cdp_error_set(&e, -32602, "Invalid parameters", "Failed to deserialize params");
    check_format(cdp_format_error(true, 145, &e, NULL, &len), &len,
                 "{\"id\":145,\"error\":{\"code\":-32602,\"message\":\"Invalid parameters\","
                 "\"data\":\"Failed to deserialize params\"}}");
    cdp_error_set(&e, -32700, "Message must be a valid JSON", NULL);
    check_format(cdp_format_error(false, 99, &e, NULL, &len), &len,
                 "{\"error\":{\"code\":-32700,\"message\":\"Message must be a valid JSON\"}}");

    json_t *p = json_pack("{s:s}", "chunk", "{\"snap\xc3\xa9");
    check_format(cdp_format_event("HeapProfiler.addHeapSnapshotChunk", p, NULL, &len), &len,
                 "{\"method\":\"HeapProfiler.addHeapSnapshotChunk\",\"params\":{\"chunk\":"
                 "\"{\\\"snap\\u00E9\"}}");
    check_format(cdp_format_event("HeapProfiler.resetProfiles", NULL, "x", &len), &len,
                 "{\"method\":\"HeapProfiler.resetProfiles\",\"params\":{},\"sessionId\":\"x\"}");
    check_format(cdp_format_request(1, "HeapProfiler.enable", NULL, NULL, &len), &len,
                 "{\"id\":1,\"method\":\"HeapProfiler.enable\",\"params\":{}}");
    /* With the generated encoder, as the client sends it: 16384.0 goes out as 16384. */
    cdp_heap_profiler_start_sampling_params sp = {.has_sampling_interval = true,
                                                  .sampling_interval = 16384.0};
    check_format(cdp_format_request(2, "HeapProfiler.startSampling",
                                    cdp_heap_profiler_start_sampling_params_encode(&sp), NULL,
                                    &len),
                 &len,
                 "{\"id\":2,\"method\":\"HeapProfiler.startSampling\",\"params\":{"
                 "\"samplingInterval\":16384}}");
}

static void test_error_texts(void **state)
{
    (void)state;
    cdp_error e;
    cdp_error_method_not_found(&e, "HeapProfiler.fooBar");
    assert_int_equal(e.code, -32601);
    assert_string_equal(e.message, "'HeapProfiler.fooBar' wasn't found");
    assert_false(e.has_data);
    cdp_error_method_not_found(&e, "");
    assert_string_equal(e.message, "'' wasn't found");

    /* A long name is shortened, the text keeps its shape. */
    char name[400];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    cdp_error_method_not_found(&e, name);
    size_t n = strlen(e.message);
    assert_true(n < sizeof e.message);
    assert_int_equal(e.message[0], '\'');
    assert_string_equal(e.message + n - strlen("' wasn't found"), "' wasn't found");

    /* Cut at a character boundary: 300 two-byte characters into data[256]. */
    char wide[601];
    for (int i = 0; i < 300; i++)
        memcpy(wide + 2 * i, "\xc3\xa9", 2);
    wide[600] = '\0';
    cdp_error_set(&e, -32000, "m", wide);
    assert_true(e.has_data);
    assert_int_equal(strlen(e.data), 254);
    cdp_error_set(&e, -32000, wide, NULL);
    assert_int_equal(strlen(e.message), 158);
    assert_false(e.has_data);
    assert_string_equal(e.data, "");
}

static void test_incoming(void **state)
{
    (void)state;
    cdp_incoming in;
    cdp_error err;
    const char *t = "{\"id\":7,\"result\":{\"profile\":{}}}";
    assert_int_equal(cdp_incoming_parse(t, strlen(t), &in, &err), 0);
    assert_true(in.is_response);
    assert_false(in.is_error);
    assert_int_equal(in.id, 7);
    assert_true(json_is_object(json_object_get(in.result, "profile")));
    assert_null(in.method);
    cdp_incoming_release(&in);
    cdp_incoming_release(&in);

    t = "{\"id\":0,\"error\":{\"code\":-32602,\"message\":\"Invalid parameters\",\"data\":\"d\"}}";
    assert_int_equal(cdp_incoming_parse(t, strlen(t), &in, &err), 0);
    assert_true(in.is_response && in.is_error);
    assert_int_equal(in.id, 0);
    assert_int_equal(in.error.code, -32602);
    assert_string_equal(in.error.message, "Invalid parameters");
    assert_true(in.error.has_data);
    assert_string_equal(in.error.data, "d");
    cdp_incoming_release(&in);

    t = "{\"error\":{\"code\":-32601,\"message\":\"'Foo.bar' wasn't found\"},\"id\":143}";
    assert_int_equal(cdp_incoming_parse(t, strlen(t), &in, &err), 0);
    assert_true(in.is_error);
    assert_int_equal(in.id, 143);
    assert_false(in.error.has_data);
    cdp_incoming_release(&in);

    t = "{\"id\":1,\"error\":{\"code\":1,\"message\":\"m\",\"data\":{\"a\":[1]}}}";
    assert_int_equal(cdp_incoming_parse(t, strlen(t), &in, &err), 0);
    assert_string_equal(in.error.data, "{\"a\":[1]}");
    cdp_incoming_release(&in);

    /* V8's answer to an unreadable request: no id. */
    t = "{\"error\":{\"code\":-32700,\"message\":\"Message must be a valid JSON\"}}";
    assert_int_equal(cdp_incoming_parse(t, strlen(t), &in, &err), 0);
    assert_false(in.is_response);
    assert_true(in.is_error);
    assert_int_equal(in.error.code, -32700);
    assert_null(in.method);
    cdp_incoming_release(&in);

    t = "{\"method\":\"HeapProfiler.lastSeenObjectId\",\"params\":{\"lastSeenObjectId\":5,"
        "\"timestamp\":1795437096021.273},\"sessionId\":\"s\"}";
    assert_int_equal(cdp_incoming_parse(t, strlen(t), &in, &err), 0);
    assert_false(in.is_response);
    assert_string_equal(in.method, "HeapProfiler.lastSeenObjectId");
    assert_string_equal(in.session_id, "s");
    cdp_heap_profiler_last_seen_object_id_event ev;
    assert_int_equal(cdp_heap_profiler_last_seen_object_id_event_decode(in.params, &ev, &err), 0);
    assert_int_equal(ev.last_seen_object_id, 5);
    assert_true(ev.timestamp == 1795437096021.273);
    cdp_incoming_release(&in);

    t = "{\"method\":\"HeapProfiler.resetProfiles\"}";
    assert_int_equal(cdp_incoming_parse(t, strlen(t), &in, &err), 0);
    assert_null(in.params);
    cdp_incoming_release(&in);
    t = "{\"method\":\"HeapProfiler.resetProfiles\",\"params\":null}";
    assert_int_equal(cdp_incoming_parse(t, strlen(t), &in, &err), 0);
    assert_null(in.params);
    cdp_incoming_release(&in);

    /* Big integers survive (the client reads 64-bit sizes). */
    t = "{\"id\":1,\"result\":{\"usedSize\":9007199254740993}}";
    assert_int_equal(cdp_incoming_parse(t, strlen(t), &in, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(in.result, "usedSize")),
                     9007199254740993LL);
    cdp_incoming_release(&in);
}

static void expect_garbage(const char *t, size_t len, int code)
{
    cdp_incoming in;
    cdp_error err;
    memset(&in, 0x5a, sizeof in);
    memset(&err, 0, sizeof err);
    if (cdp_incoming_parse(t, len, &in, &err) != -1)
        fail_msg("accepted: %.*s", (int)len, t);
    assert_int_equal(err.code, code);
    assert_true(err.message[0] != '\0');
    assert_null(in.root);
    assert_false(in.is_response || in.is_error);
    assert_null(in.method);
    cdp_incoming_release(&in);
}

static void test_incoming_garbage(void **state)
{
    (void)state;
    static const char *const not_json[] = {
        "",
        "x",
        "[1,2",
        "{\"id\":1",
        "[]",
        "[{\"id\":1,\"result\":{}}]",
        "42",
        "\"s\"",
        "null",
        "{\"id\":1,\"result\":{}}}",
        "{\"a\":\"\\ud800\"}",
    };
    for (size_t i = 0; i < sizeof not_json / sizeof not_json[0]; i++)
        expect_garbage(not_json[i], strlen(not_json[i]), -32700);
    static const char *const bad_shape[] = {
        "{}",
        "{\"id\":\"1\",\"result\":{}}",
        "{\"id\":1.5,\"result\":{}}",
        "{\"id\":1}",
        "{\"id\":1,\"result\":[]}",
        "{\"id\":1,\"result\":null}",
        "{\"id\":1,\"error\":5}",
        "{\"id\":1,\"error\":{}}",
        "{\"id\":1,\"error\":{\"code\":\"x\",\"message\":\"m\"}}",
        "{\"id\":1,\"error\":{\"code\":1,\"message\":5}}",
        "{\"id\":1,\"error\":{\"code\":99999999999,\"message\":\"m\"}}",
        "{\"method\":5}",
        "{\"method\":\"A.b\",\"params\":[1]}",
        "{\"method\":\"A.b\",\"params\":\"p\"}",
        "{\"method\":\"A.b\",\"sessionId\":1}",
        "{\"error\":\"x\"}",
        "{\"result\":{}}",
    };
    for (size_t i = 0; i < sizeof bad_shape / sizeof bad_shape[0]; i++)
        expect_garbage(bad_shape[i], strlen(bad_shape[i]), -32600);
    /* Embedded NUL and a length that cuts a valid message. */
    static const char nul[] = "{\"id\":1,\0\"result\":{}}";
    expect_garbage(nul, sizeof nul - 1, -32700);
    expect_garbage("{\"id\":1,\"result\":{}}", 10, -32700);
    cdp_incoming in;
    cdp_error err;
    assert_int_equal(cdp_incoming_parse(NULL, 0, &in, &err), -1);
}

/* Deterministic mutations of valid messages: the readers must answer every
 * one with 0 or -1 and a filled error, never crash or leak (ASan builds). */
static void test_mutations(void **state)
{
    (void)state;
    static const char *const seeds[] = {
        "{\"id\":5,\"method\":\"HeapProfiler.startSampling\",\"params\":{\"samplingInterval\":1}}",
        "{\"id\":7,\"result\":{\"profile\":{\"head\":{\"callFrame\":{\"functionName\":\"f\","
        "\"scriptId\":\"0\",\"url\":\"\",\"lineNumber\":-1,\"columnNumber\":-1},\"selfSize\":0,"
        "\"id\":1,\"children\":[]},\"samples\":[]}}}",
        "{\"id\":1,\"error\":{\"code\":-32602,\"message\":\"m\",\"data\":\"d\"}}",
        "{\"method\":\"HeapProfiler.heapStatsUpdate\",\"params\":{\"statsUpdate\":[1,2,3]}}",
        "{\"id\":1,\"method\":\"A.b\",\"params\":{\"a\":\"{[\\\"\",\"a\":[{}]},\"id\":2}",
        "{\"id\":1,\"method\":\"A.b\",\"params\":{\"q\":{\"z\":1,\"z\":[2]}},\"x\":0}",
    };
    const size_t nseeds = sizeof seeds / sizeof seeds[0];
    static const char alphabet[] = "{}[]\":,0123456789-.eE\\u truefalsnl\x80\xc3\xa9";
    uint32_t rng = 0x12345678u;
    char buf[512];
    for (int round = 0; round < 6000; round++) {
        const char *seed = seeds[(size_t)round % nseeds];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        int edits = 1 + round % 4;
        for (int k = 0; k < edits; k++) {
            rng = rng * 1103515245u + 12345u;
            size_t at = (rng >> 8) % n;
            rng = rng * 1103515245u + 12345u;
            switch ((rng >> 16) % 3) {
            case 0: /* replace */
                buf[at] = alphabet[(rng >> 4) % (sizeof alphabet - 1)];
                break;
            case 1: /* delete */
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
                break;
            default: /* truncate */
                n = at + 1;
                break;
            }
            if (n < 2)
                break;
        }
        cdp_request req;
        cdp_incoming in;
        cdp_error err;
        memset(&err, 0, sizeof err);
        if (cdp_request_parse(buf, n, &req, &err, NULL, NULL) == 0) {
            const cdp_method_desc *d = cdp_method_find(req.method);
            if (d && cdp_method_check_params(d->id, req.params, &err) != 0)
                assert_int_equal(err.code, -32602);
            cdp_request_release(&req);
        } else {
            assert_true(err.code == -32700 || err.code == -32600);
        }
        memset(&err, 0, sizeof err);
        if (cdp_incoming_parse(buf, n, &in, &err) == 0) {
            if (in.is_response && !in.is_error && strstr(seed, "profile")) {
                cdp_heap_profiler_stop_sampling_returns r;
                if (cdp_heap_profiler_stop_sampling_returns_decode(in.result, &r, &err) == 0)
                    cdp_heap_profiler_stop_sampling_returns_free(&r);
                else
                    assert_int_equal(err.code, -32602);
            }
            cdp_incoming_release(&in);
        } else {
            assert_true(err.code == -32700 || err.code == -32600);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_catalogue),
        cmocka_unit_test(test_request_members),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_string_event),
        cmocka_unit_test(test_error_texts),
        cmocka_unit_test(test_incoming),
        cmocka_unit_test(test_incoming_garbage),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
