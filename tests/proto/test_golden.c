/*
 * test_golden.c — replays the requests node 20 answered in the shared
 * recordings (golden/v8-node20/error-cases.jsonl and
 * malformed-per-connection.json; the directory is argv[1]) through
 * cdp_request_parse, cdp_method_find and the generated parameter decoders.
 * Where V8 answered with a framing or parameter error (-32700, -32600,
 * -32601, -32602), ours must have the same code, message, id (or none) and
 * data up to " at position"; where V8 ran the command (a result, or a -32000
 * of the domain), the protocol layer must let it through. Then the client
 * side: every HeapProfiler/Runtime request, result and event of the recorded
 * sessions (main-flow, DevTools' Memory panel) must decode, and the recorded
 * .heapprofile files must decode and encode back to the same bytes.
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

static const char *g_dir;

typedef struct reply {
    bool is_error;
    bool has_id;
    int64_t id;
    cdp_error err;
} reply;

/* What the agent's front door does with one text message. */
static void pipeline(const char *text, reply *r)
{
    cdp_request req;
    memset(r, 0, sizeof *r);
    if (cdp_request_parse(text, strlen(text), &req, &r->err, &r->has_id, &r->id) != 0) {
        r->is_error = true;
        return;
    }
    const cdp_method_desc *d = cdp_method_find(req.method);
    if (!d) {
        cdp_error_method_not_found(&r->err, req.method);
        r->is_error = true;
    } else if (cdp_method_check_params(d->id, req.params, &r->err) != 0) {
        r->is_error = true;
    }
    cdp_request_release(&req);
}

static size_t prefix_len(const char *data)
{
    const char *p = strstr(data, " at position");
    return p ? (size_t)(p - data) : strlen(data);
}

typedef struct tally {
    int framing; /* compared errors */
    int passed;  /* commands we had to let through */
    int exact;   /* errors whose data matched to the last byte */
} tally;

/* Compares our handling of sent with V8's recorded reply (a JSON text). */
static void compare(const char *label, const char *sent, const char *recorded, tally *t)
{
    json_error_t je;
    json_t *rec = json_loads(recorded, 0, &je);
    if (!rec)
        fail_msg("%s: recorded reply is not JSON: %s", label, je.text);
    reply ours;
    pipeline(sent, &ours);
    const json_t *rid = json_object_get(rec, "id");
    const json_t *rerr = json_object_get(rec, "error");
    int code = rerr ? (int)json_integer_value(json_object_get(rerr, "code")) : 0;
    if (rerr && code != -32000) {
        const char *msg = json_string_value(json_object_get(rerr, "message"));
        const char *data = json_string_value(json_object_get(rerr, "data"));
        if (!ours.is_error)
            fail_msg("%s: %s was accepted, V8 answered %s", label, sent, recorded);
        if (ours.err.code != code || strcmp(ours.err.message, msg) != 0)
            fail_msg("%s: %s\n ours %d %s\n V8   %s", label, sent, ours.err.code, ours.err.message,
                     recorded);
        if (ours.has_id != (rid != NULL) || (rid && ours.id != json_integer_value(rid)))
            fail_msg("%s: id %s %lld, V8 %s", label, ours.has_id ? "known" : "unknown",
                     (long long)ours.id, recorded);
        if (ours.err.has_data != (data != NULL))
            fail_msg("%s: data presence differs: %s", label, recorded);
        if (data) {
            size_t n = prefix_len(data);
            if (prefix_len(ours.err.data) != n || memcmp(ours.err.data, data, n) != 0)
                fail_msg("%s: data\n ours %s\n V8   %s", label, ours.err.data, data);
            t->exact += strcmp(ours.err.data, data) == 0;
        } else {
            t->exact++;
        }
        t->framing++;
    } else {
        /* A result or a domain error: the protocol layer must not have stood in the way. */
        if (ours.is_error)
            fail_msg("%s: %s refused (%d %s %s), V8 answered %s", label, sent, ours.err.code,
                     ours.err.message, ours.err.data, recorded);
        if (!rid || ours.id != json_integer_value(rid))
            fail_msg("%s: id differs from %s", label, recorded);
        t->passed++;
    }
    json_decref(rec);
}

static char *path_in(const char *name)
{
    size_t n = strlen(g_dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", g_dir, name);
    return p;
}

static void test_error_cases(void **state)
{
    (void)state;
    char *path = path_in("error-cases.jsonl");
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    /* Read every record first: a reply is found by id among the later ones. */
    json_t *rows = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *row = json_loadb(line, (size_t)got, 0, &je);
        if (!row)
            fail_msg("%s: bad line: %s", path, je.text);
        json_array_append_new(rows, row);
    }
    free(line);
    fclose(f);

    tally t = {0, 0, 0};
    size_t n = json_array_size(rows);
    for (size_t i = 0; i < n; i++) {
        const json_t *row = json_array_get(rows, i);
        if (strcmp(json_string_value(json_object_get(row, "dir")), "send") != 0)
            continue;
        if (json_is_true(json_object_get(row, "binary")))
            continue; /* a WebSocket-level case: not ours */
        const char *raw = json_string_value(json_object_get(row, "raw"));
        const json_t *sid = json_object_get(json_object_get(row, "msg"), "id");
        assert_non_null(raw);
        assert_true(json_is_integer(sid));
        const char *label = "?";
        for (size_t k = i; k-- > 0;) {
            const json_t *note = json_array_get(rows, k);
            if (strcmp(json_string_value(json_object_get(note, "dir")), "note") == 0) {
                label = json_string_value(json_object_get(note, "text"));
                break;
            }
        }
        const char *answer = NULL;
        for (size_t k = i + 1; k < n && !answer; k++) {
            const json_t *r = json_array_get(rows, k);
            const json_t *rid = json_object_get(json_object_get(r, "msg"), "id");
            if (strcmp(json_string_value(json_object_get(r, "dir")), "recv") == 0 && rid &&
                json_integer_value(rid) == json_integer_value(sid))
                answer = json_string_value(json_object_get(r, "raw"));
        }
        if (!answer)
            fail_msg("%s: no recorded answer to %s", label, raw);
        compare(label, raw, answer, &t);
    }
    json_decref(rows);
    free(path);
    print_message("error-cases: %d errors compared (%d to the byte), %d commands let through\n",
                  t.framing, t.exact, t.passed);
    /* The recording holds 12 framing or parameter errors and 41 commands V8 ran. */
    assert_true(t.framing >= 12);
    assert_true(t.passed >= 41);
}

static void test_malformed_per_connection(void **state)
{
    (void)state;
    char *path = path_in("malformed-per-connection.json");
    json_error_t je;
    json_t *cases = json_load_file(path, 0, &je);
    if (!cases)
        fail_msg("%s: %s", path, je.text);
    tally t = {0, 0, 0};
    for (size_t i = 0; i < json_array_size(cases); i++) {
        const json_t *c = json_array_get(cases, i);
        const char *label = json_string_value(json_object_get(c, "label"));
        const json_t *frames = json_object_get(c, "frames");
        for (size_t k = 0; k < json_array_size(frames); k++) {
            const json_t *send = json_object_get(json_array_get(frames, k), "send");
            if (!send)
                continue;
            /* One text, or several sent back to back: replies come in order. */
            size_t count = json_is_array(send) ? json_array_size(send) : 1;
            size_t r = k + 1;
            for (size_t m = 0; m < count; m++, r++) {
                const json_t *s = json_is_array(send) ? json_array_get(send, m) : send;
                const json_t *recv = json_object_get(json_array_get(frames, r), "recv");
                if (!recv)
                    fail_msg("%s: no reply recorded", label);
                compare(label, json_string_value(s), json_string_value(recv), &t);
            }
        }
    }
    json_decref(cases);
    free(path);
    print_message("malformed-per-connection: %d errors compared (%d to the byte), %d let "
                  "through\n",
                  t.framing, t.exact, t.passed);
    /* 18 malformed messages and 7 that V8 ran (ids -3 and 0, params null, ...). */
    assert_true(t.framing >= 18);
    assert_true(t.passed >= 7);
}

static json_t *load_jsonl(const char *name)
{
    char *path = path_in(name);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    json_t *rows = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *row = json_loadb(line, (size_t)got, 0, &je);
        if (!row)
            fail_msg("%s: bad line: %s", path, je.text);
        json_array_append_new(rows, row);
    }
    free(line);
    fclose(f);
    free(path);
    return rows;
}

typedef struct traffic {
    int params, results, events;
} traffic;

static bool dir_is(const json_t *row, const char *a, const char *b)
{
    const char *d = json_string_value(json_object_get(row, "dir"));
    return d && (strcmp(d, a) == 0 || strcmp(d, b) == 0);
}

/* Every request, result and event of a recorded session that belongs to our
 * domains decodes (what heapscope's client reads from node, and what the
 * agent reads from DevTools). */
static void decode_traffic(const char *name, traffic *t)
{
    json_t *rows = load_jsonl(name);
    size_t n = json_array_size(rows);
    for (size_t i = 0; i < n; i++) {
        const json_t *row = json_array_get(rows, i);
        const json_t *msg = json_object_get(row, "msg");
        const char *method = json_string_value(json_object_get(msg, "method"));
        cdp_error err;
        if (method && dir_is(row, "send", "c2s")) {
            const cdp_method_desc *d = cdp_method_find(method);
            if (!d)
                continue;
            if (cdp_method_check_params(d->id, json_object_get(msg, "params"), &err) != 0)
                fail_msg("%s: %s params: %s", name, method, err.data);
            t->params++;
            /* Its answer: the same id on the same connection. */
            const json_t *id = json_object_get(msg, "id");
            const json_t *conn = json_object_get(row, "conn");
            for (size_t k = i + 1; k < n; k++) {
                const json_t *r = json_array_get(rows, k);
                const json_t *rm = json_object_get(r, "msg");
                if (!dir_is(r, "recv", "s2c") || !json_equal(json_object_get(rm, "id"), id) ||
                    (conn && !json_equal(json_object_get(r, "conn"), conn)))
                    continue;
                const json_t *result = json_object_get(rm, "result");
                if (result) {
                    if (cdp_method_check_returns(d->id, result, &err) != 0)
                        fail_msg("%s: %s result: %s", name, method, err.data);
                    t->results++;
                }
                break;
            }
        } else if (method && dir_is(row, "recv", "s2c")) {
            int ev = cdp_event_find(method);
            if (ev < 0)
                continue;
            if (cdp_event_check_params((cdp_event_id)ev, json_object_get(msg, "params"), &err) != 0)
                fail_msg("%s: %s: %s", name, method, err.data);
            t->events++;
        }
    }
    json_decref(rows);
}

static void test_recorded_traffic(void **state)
{
    (void)state;
    traffic t = {0, 0, 0};
    decode_traffic("main-flow.jsonl", &t);
    print_message("main-flow: %d requests, %d results, %d events decoded\n", t.params, t.results,
                  t.events);
    /* 14 HeapProfiler requests, their 14 results, 130 events (progress, chunks, stats). */
    assert_true(t.params >= 14 && t.results >= 14 && t.events >= 130);
    traffic d = {0, 0, 0};
    decode_traffic("devtools-frontend-memory-panel.jsonl", &d);
    print_message("memory panel: %d requests, %d results, %d events decoded\n", d.params, d.results,
                  d.events);
    /* 18 requests (Runtime ones included), 17 results (one -32000), 210 events. */
    assert_true(d.params >= 18 && d.results >= 17 && d.events >= 210);
    traffic o = {0, 0, 0};
    decode_traffic("devtools-frontend-heapprofiler-only.jsonl", &o);
    print_message("HeapProfiler-only proxy: %d requests, %d results, %d events decoded\n", o.params,
                  o.results, o.events);
    /* Runtime.* is answered by the proxy itself there: 36 requests, 14 results. */
    assert_true(o.params >= 36 && o.results >= 14 && o.events >= 406);
}

/* V8's SamplingHeapProfile files: decoded and encoded again, byte for byte. */
static void test_heapprofiles(void **state)
{
    (void)state;
    static const char *const files[] = {
        "sampling-getSamplingProfile.heapprofile",
        "sampling-stopSampling.heapprofile",
        "sampling-with-gc-flags.heapprofile",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *path = path_in(files[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            fail_msg("cannot open %s", path);
        char *text = NULL;
        size_t cap = 0;
        ssize_t got = getdelim(&text, &cap, '\0', f);
        fclose(f);
        assert_true(got > 0);
        while (got > 0 && (text[got - 1] == '\n' || text[got - 1] == '\r'))
            text[--got] = '\0';
        json_error_t je;
        json_t *j = json_loadb(text, (size_t)got, 0, &je);
        if (!j)
            fail_msg("%s: %s", path, je.text);
        cdp_heap_profiler_sampling_heap_profile p;
        cdp_error err;
        if (cdp_heap_profiler_sampling_heap_profile_decode(j, &p, &err) != 0)
            fail_msg("%s: %s", path, err.data);
        assert_true(p.has_samples && p.samples_count > 0);
        assert_true(p.head.has_id);
        assert_int_equal(p.head.id, 1);
        assert_string_equal(p.head.call_frame.function_name, "(root)");
        json_t *again = cdp_heap_profiler_sampling_heap_profile_encode(&p);
        char *out = json_dumps(again, JSON_COMPACT);
        assert_non_null(out);
        if (strcmp(out, text) != 0)
            fail_msg("%s is not written back as V8 wrote it", path);
        free(out);
        json_decref(again);
        cdp_heap_profiler_sampling_heap_profile_free(&p);
        json_decref(j);
        free(text);
        free(path);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <shared>/golden/v8-node20\n", argv[0]);
        return 2;
    }
    g_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_cases),
        cmocka_unit_test(test_malformed_per_connection),
        cmocka_unit_test(test_recorded_traffic),
        cmocka_unit_test(test_heapprofiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
