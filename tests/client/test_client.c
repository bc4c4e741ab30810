/*
 * test_client.c — libheapscope-client against a real V8 (node --inspect) and
 * against fake targets that misbehave: discovery, the three ways to connect,
 * every kind of call, events before answers, snapshot streaming, the target's
 * own errors, and the failures a user meets (refused, garbage, closed, silent).
 * Only the public API (include/heapscope/hs_client.h) is used, as a program
 * would use the shared library.
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "heapscope/hs_client.h"
#include "test_support.h"

static node_target g_node;

static const char g_script[] =
    "globalThis.probe = {kind: 'probe', nested: {n: 1}, list: [1, 2, 3]};"
    "setInterval(() => {}, 1000);";

static int group_setup(void **state)
{
    (void)state;
    return node_start(&g_node, g_script);
}

static int group_teardown(void **state)
{
    (void)state;
    node_stop(&g_node);
    return 0;
}

static hs_client *client_with(int connect_ms, int call_ms)
{
    hs_client_options o = {.connect_timeout_ms = connect_ms, .call_timeout_ms = call_ms};
    hs_client *c = NULL;
    assert_int_equal(hs_client_new(&o, &c), 0);
    assert_non_null(c);
    return c;
}

static hs_client *connected(void)
{
    hs_client *c = client_with(5000, 10000);
    int rc = hs_client_connect(c, g_node.ws_url);
    if (rc != 0)
        fail_msg("connect %s: %s", g_node.ws_url, hs_client_last_error(c));
    return c;
}

static void assert_contains(const char *text, const char *part)
{
    if (!text || !strstr(text, part))
        fail_msg("expected '%s' in '%s'", part, text ? text : "(null)");
}

/* ---- Discovery ------------------------------------------------------------------------- */

static void test_list_targets(void **state)
{
    (void)state;
    hs_client *c = client_with(0, 0);
    hs_target_list l;
    int rc = hs_client_list_targets(c, g_node.hostport, &l);
    if (rc != 0)
        fail_msg("%s", hs_client_last_error(c));
    assert_int_equal(l.count, 1);
    const hs_target *t = &l.items[0];
    assert_string_equal(t->id, g_node.id);
    assert_string_equal(t->type, "node");
    /* node's title is its argv[0] and pid: "/usr/bin/node[1234]". */
    char title[32];
    snprintf(title, sizeof title, "node[%d]", (int)g_node.pid);
    assert_non_null(t->title);
    assert_true(strlen(t->title) >= strlen(title));
    assert_string_equal(t->title + strlen(t->title) - strlen(title), title);
    assert_string_equal(t->web_socket_debugger_url, g_node.ws_url);
    assert_contains(t->devtools_frontend_url, g_node.id);
    assert_string_equal(t->description, "node.js instance");
    assert_non_null(l.json);
    assert_contains(l.json, g_node.id);
    hs_target_list_free(&l);
    assert_null(l.items);
    assert_int_equal(l.count, 0);

    /* A name: resolved, and each of its addresses tried (::1 may refuse first). */
    char by_name[64];
    snprintf(by_name, sizeof by_name, "localhost:%d", g_node.port);
    rc = hs_client_list_targets(c, by_name, &l);
    if (rc != 0)
        fail_msg("%s: %s", by_name, hs_client_last_error(c));
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].id, g_node.id);
    hs_target_list_free(&l);
    hs_version_info v;
    assert_int_equal(hs_client_version(c, g_node.hostport, &v), 0);
    assert_non_null(v.browser);
    assert_int_equal(strncmp(v.browser, "node.js/v", 9), 0);
    assert_string_equal(v.protocol_version, "1.1");
    hs_version_info_free(&v);
    hs_client_free(c);
}

static void test_connect_ways(void **state)
{
    (void)state;
    char spec[256];
    const char *specs[4];
    specs[0] = g_node.ws_url;
    specs[1] = g_node.hostport;
    char by_id[256], by_title[256];
    snprintf(by_id, sizeof by_id, "%s/%s", g_node.hostport, g_node.id);
    snprintf(by_title, sizeof by_title, "%s/node[%d]", g_node.hostport, (int)g_node.pid);
    specs[2] = by_id;
    specs[3] = by_title;
    for (int i = 0; i < 4; i++) {
        hs_client *c = client_with(0, 0);
        int rc = hs_client_connect(c, specs[i]);
        if (rc != 0)
            fail_msg("connect '%s': %s", specs[i], hs_client_last_error(c));
        assert_string_equal(hs_client_ws_url(c), g_node.ws_url);
        assert_int_equal(hs_client_connect(c, specs[i]), HS_E_STATE); /* one session per client */
        assert_int_equal(hs_hp_collect_garbage(c), 0);
        hs_client_close(c);
        assert_null(hs_client_ws_url(c));
        assert_int_equal(hs_hp_collect_garbage(c), HS_E_STATE);
        hs_client_free(c);
    }

    hs_client *c = client_with(0, 0);
    snprintf(spec, sizeof spec, "%s/no-such-target", g_node.hostport);
    assert_int_equal(hs_client_connect(c, spec), HS_E_NOTFOUND);
    assert_contains(hs_client_last_error(c), "no-such-target");
    assert_int_equal(hs_client_connect_select(c, g_node.hostport, g_node.id), 0);
    hs_client_close(c);

    static const char *bad[] = {"127.0.0.1", "http://127.0.0.1:9229", "wss://x:1/y",
                                "::1:9229",  "127.0.0.1:0",           "127.0.0.1:99999",
                                "[::1:9229", "ws://u@127.0.0.1:1/x",  ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = hs_client_connect(c, bad[i]);
        if (rc != HS_E_INVAL)
            fail_msg("'%s' gave %d (%s), not HS_E_INVAL", bad[i], rc, hs_client_last_error(c));
        assert_true(hs_client_last_error(c)[0] != '\0');
    }
    hs_client_free(c);
}

/* ---- Calls ----------------------------------------------------------------------------- */

static void test_enable_disable_gc(void **state)
{
    (void)state;
    hs_client *c = connected();
    assert_int_equal(hs_hp_enable(c), 0);
    assert_int_equal(hs_hp_collect_garbage(c), 0);
    assert_int_equal(hs_hp_disable(c), 0);
    assert_null(hs_client_remote_error(c));
    assert_string_equal(hs_client_last_error(c), "");
    hs_client_free(c);
}

/* Runtime.evaluate through the generic call; the parsed result object. */
static json_t *evaluate(hs_client *c, const char *params)
{
    char *text = NULL;
    int rc = hs_client_call(c, "Runtime.evaluate", params, &text);
    if (rc != 0)
        fail_msg("Runtime.evaluate: %s", hs_client_last_error(c));
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(j);
    json_t *r = json_incref(json_object_get(j, "result"));
    json_decref(j);
    assert_non_null(r);
    return r;
}

static void test_object_ids(void **state)
{
    (void)state;
    hs_client *c = connected();
    assert_int_equal(hs_hp_enable(c), 0);
    /* Ids exist once the profiler has seen the heap (spec §2.5). */
    assert_int_equal(hs_hp_take_heap_snapshot(c, NULL, NULL), 0);

    json_t *r = evaluate(c, "{\"expression\":\"globalThis.probe\"}");
    const char *object_id = json_string_value(json_object_get(r, "objectId"));
    assert_non_null(object_id);
    char *id = NULL, *again = NULL;
    int rc = hs_hp_get_heap_object_id(c, object_id, &id);
    if (rc != 0)
        fail_msg("getHeapObjectId: %s", hs_client_last_error(c));
    assert_non_null(id);
    char *end;
    long long n = strtoll(id, &end, 10);
    assert_true(*end == '\0' && n > 0);
    assert_int_equal(hs_hp_get_heap_object_id(c, object_id, &again), 0);
    assert_string_equal(id, again);
    json_decref(r);

    hs_remote_object o;
    rc = hs_hp_get_object_by_heap_object_id(c, id, "hs-test", &o);
    if (rc != 0)
        fail_msg("getObjectByHeapObjectId: %s", hs_client_last_error(c));
    assert_string_equal(o.type, "object");
    assert_string_equal(o.class_name, "Object");
    assert_non_null(o.object_id);
    assert_null(o.subtype);
    hs_remote_object_free(&o);
    assert_null(o.type);

    assert_int_equal(hs_hp_add_inspected_heap_object(c, id), 0);
    r = evaluate(c, "{\"expression\":\"$0 === globalThis.probe\",\"includeCommandLineAPI\":true}");
    assert_true(json_is_true(json_object_get(r, "value")));
    json_decref(r);

    /* The target's error for an id that is not a number (spec §2.5). */
    assert_int_equal(hs_hp_get_object_by_heap_object_id(c, "not-a-number", NULL, &o), HS_E_REMOTE);
    assert_null(o.type);
    assert_int_equal(hs_client_remote_error(c)->code, -32000);
    free(id);
    free(again);
    hs_client_free(c);
}

static const hs_sampling_node *find_node(const hs_sampling_node *n, int64_t id)
{
    if (n->id == id)
        return n;
    for (size_t i = 0; i < n->children_count; i++) {
        const hs_sampling_node *f = find_node(&n->children[i], id);
        if (f)
            return f;
    }
    return NULL;
}

static double tree_self_size(const hs_sampling_node *n)
{
    double s = n->self_size;
    for (size_t i = 0; i < n->children_count; i++)
        s += tree_self_size(&n->children[i]);
    return s;
}

static void check_profile(const hs_sampling_profile *p)
{
    assert_string_equal(p->head.call_frame.function_name, "(root)");
    assert_string_equal(p->head.call_frame.script_id, "0");
    assert_int_equal(p->head.call_frame.line_number, -1);
    assert_int_equal(p->head.id, 1);
    assert_true(p->head.children_count > 0);
    assert_true(p->samples_count > 0);
    assert_true(tree_self_size(&p->head) > 0);
    /* V8 may sample an allocation made while it builds the profile: such a
     * sample names a node that is not in the tree (spec §3.6). A few, not many. */
    size_t orphans = 0;
    for (size_t i = 0; i < p->samples_count; i++) {
        assert_true(p->samples[i].size > 0);
        assert_true(p->samples[i].ordinal >= 1);
        if (!find_node(&p->head, p->samples[i].node_id))
            orphans++;
    }
    if (orphans * 10 > p->samples_count)
        fail_msg("%zu of %zu samples name no node of the tree", orphans, p->samples_count);
}

static void test_sampling(void **state)
{
    (void)state;
    hs_client *c = connected();
    hs_start_sampling_params sp = {.has_sampling_interval = true, .sampling_interval = 256};
    assert_int_equal(hs_hp_start_sampling(c, &sp), 0);
    json_t *r = evaluate(c, "{\"expression\":\"globalThis.keep = []; for (let i = 0; i < 20000; "
                            "i++) keep.push({i, s: 'x' + i}); keep.length\"}");
    assert_int_equal(json_integer_value(json_object_get(r, "value")), 20000);
    json_decref(r);

    hs_sampling_profile p;
    int rc = hs_hp_get_sampling_profile(c, &p);
    if (rc != 0)
        fail_msg("getSamplingProfile: %s", hs_client_last_error(c));
    check_profile(&p);
    hs_sampling_profile_free(&p);
    assert_null(p.samples);

    rc = hs_hp_stop_sampling(c, &p);
    if (rc != 0)
        fail_msg("stopSampling: %s", hs_client_last_error(c));
    check_profile(&p);
    hs_sampling_profile_free(&p);

    /* Not started any more: V8's error, code and text kept. */
    assert_int_equal(hs_hp_stop_sampling(c, &p), HS_E_REMOTE);
    assert_null(p.samples);
    const hs_remote_error *e = hs_client_remote_error(c);
    assert_non_null(e);
    assert_int_equal(e->code, -32000);
    assert_string_equal(e->message, "V8 sampling heap profiler was not started.");
    assert_false(e->has_data);
    assert_string_equal(hs_client_last_error(c),
                        "-32000 V8 sampling heap profiler was not started.");
    assert_int_equal(hs_hp_get_sampling_profile(c, &p), HS_E_REMOTE);
    /* A later success clears it. */
    assert_int_equal(hs_hp_collect_garbage(c), 0);
    assert_null(hs_client_remote_error(c));
    hs_client_free(c);
}

static void test_remote_errors(void **state)
{
    (void)state;
    hs_client *c = connected();
    char *out = (char *)"untouched";
    assert_int_equal(hs_client_call(c, "HeapProfiler.fooBar", NULL, &out), HS_E_REMOTE);
    assert_null(out);
    assert_int_equal(hs_client_remote_error(c)->code, -32601);
    assert_string_equal(hs_client_remote_error(c)->message, "'HeapProfiler.fooBar' wasn't found");

    assert_int_equal(
        hs_client_call(c, "HeapProfiler.startSampling", "{\"samplingInterval\":\"x\"}", NULL),
        HS_E_REMOTE);
    const hs_remote_error *e = hs_client_remote_error(c);
    assert_int_equal(e->code, -32602);
    assert_string_equal(e->message, "Invalid parameters");
    assert_true(e->has_data);
    assert_contains(e->data, "params.samplingInterval");
    assert_contains(hs_client_last_error(c), "-32602 Invalid parameters (Failed to deserialize");

    hs_start_sampling_params sp = {.has_sampling_interval = true, .sampling_interval = -1};
    assert_int_equal(hs_hp_start_sampling(c, &sp), HS_E_REMOTE);
    assert_string_equal(hs_client_remote_error(c)->message, "Invalid sampling interval");

    /* Caller mistakes are not sent. */
    assert_int_equal(hs_client_call(c, "Runtime.evaluate", "[1]", NULL), HS_E_INVAL);
    assert_int_equal(hs_client_call(c, "Runtime.evaluate", "{bad json", NULL), HS_E_INVAL);
    assert_int_equal(hs_client_call(c, "", NULL, NULL), HS_E_INVAL);
    /* And the session is fine after all this. */
    char *res = NULL;
    assert_int_equal(hs_client_call(c, "HeapProfiler.collectGarbage", "{}", &res), 0);
    assert_string_equal(res, "{}");
    free(res);
    hs_client_free(c);
}

/* ---- Snapshots and events -------------------------------------------------------------- */

typedef struct snap_rec {
    hs_client *c;
    bool returned; /* set when the call has returned */
    int late;      /* callbacks after the return */
    char *buf;     /* the sink's copy, to check the whole afterwards */
    size_t len, cap;
    int sink_calls, event_chunks, any_chunks, progress, finished, progress_after_chunk;
    int reentry_rc;
    int stop_after; /* the sink refuses after this many chunks (0: never) */
    int stats_updates, last_seen;
    int64_t last_seen_id;
} snap_rec;

static int sink_write(void *ud, const char *data, size_t len)
{
    snap_rec *r = ud;
    r->sink_calls++;
    if (r->returned)
        r->late++;
    if (r->len + len + 1 > r->cap) {
        r->cap = (r->len + len + 1) * 2;
        r->buf = realloc(r->buf, r->cap);
        assert_non_null(r->buf);
    }
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    r->buf[r->len] = '\0';
    return r->stop_after && r->sink_calls >= r->stop_after ? 1 : 0;
}

static void sink_progress(void *ud, int64_t done, int64_t total, bool finished)
{
    snap_rec *r = ud;
    assert_true(done <= total);
    r->progress++;
    if (finished)
        r->finished++;
    if (r->sink_calls > 0)
        r->progress_after_chunk++;
}

static void ev_chunk(void *ud, const char *chunk, size_t len)
{
    snap_rec *r = ud;
    assert_int_equal(strlen(chunk), len);
    r->event_chunks++;
    if (r->returned)
        r->late++;
    /* Callbacks may not call back into their client. */
    r->reentry_rc = hs_hp_collect_garbage(r->c);
}

static void ev_any(void *ud, const char *method, const char *params)
{
    snap_rec *r = ud;
    assert_non_null(params);
    if (!strcmp(method, "HeapProfiler.addHeapSnapshotChunk")) {
        assert_int_equal(strncmp(params, "{\"chunk\":", 9), 0);
        r->any_chunks++;
    }
}

static void ev_stats(void *ud, const int64_t *stats, size_t n)
{
    snap_rec *r = ud;
    assert_int_equal(n % 3, 0);
    assert_true(n == 0 || stats != NULL);
    r->stats_updates++;
}

static void ev_last_seen(void *ud, int64_t id, double ts)
{
    snap_rec *r = ud;
    assert_true(id > 0 && ts > 1e12); /* ms since the epoch */
    r->last_seen++;
    r->last_seen_id = id;
}

static void check_snapshot_json(const snap_rec *r)
{
    json_error_t je;
    json_t *j = json_loadb(r->buf, r->len, 0, &je);
    if (!j)
        fail_msg("snapshot is not JSON: %s at %d", je.text, je.position);
    json_t *snap = json_object_get(j, "snapshot");
    assert_true(json_is_object(snap));
    json_int_t nodes = json_integer_value(json_object_get(snap, "node_count"));
    size_t fields = json_array_size(json_object_get(json_object_get(snap, "meta"), "node_fields"));
    assert_true(nodes > 0 && fields > 0);
    assert_int_equal(json_array_size(json_object_get(j, "nodes")), (size_t)nodes * fields);
    json_decref(j);
}

static void test_snapshot_streams(void **state)
{
    (void)state;
    hs_client *c = connected();
    snap_rec r = {.c = c, .reentry_rc = 1};
    hs_client_events ev = {.add_heap_snapshot_chunk = ev_chunk,
                           .report_heap_snapshot_progress = sink_progress,
                           .any = ev_any};
    hs_client_set_events(c, &ev, &r);
    hs_snapshot_params p = {.has_report_progress = true, .report_progress = true};
    hs_snapshot_sink sink = {.write = sink_write, .ud = &r};
    int rc = hs_hp_take_heap_snapshot(c, &p, &sink);
    r.returned = true;
    if (rc != 0)
        fail_msg("takeHeapSnapshot: %s", hs_client_last_error(c));
    /* Node streams a few MB in 100 KiB chunks: many calls, all before the answer. */
    assert_true(r.sink_calls >= 2);
    assert_int_equal(r.event_chunks, r.sink_calls);
    assert_int_equal(r.any_chunks, r.sink_calls);
    assert_int_equal(r.late, 0);
    assert_int_equal(r.reentry_rc, HS_E_STATE);
    /* Progress came through the event callback (the sink had none), in order. */
    assert_true(r.progress >= 2);
    assert_int_equal(r.finished, 1);
    assert_int_equal(r.progress_after_chunk, 0);
    check_snapshot_json(&r);
    /* After the call no event is pending. */
    int late = r.late;
    assert_int_equal(hs_client_wait_events(c, 0), 0);
    assert_int_equal(r.late, late);
    free(r.buf);
    hs_client_free(c);
}

static void test_snapshot_sink_stops(void **state)
{
    (void)state;
    hs_client *c = connected();
    snap_rec r = {.c = c, .stop_after = 1};
    hs_snapshot_sink sink = {.write = sink_write, .progress = sink_progress, .ud = &r};
    assert_int_equal(hs_hp_take_heap_snapshot(c, NULL, &sink), HS_E_ABORTED);
    assert_int_equal(r.sink_calls, 1);
    assert_int_equal(r.progress, 0); /* no reportProgress asked */
    /* The rest was read off the wire: the session answers the next call. */
    assert_int_equal(hs_hp_collect_garbage(c), 0);
    free(r.buf);
    hs_client_free(c);
}

static void test_tracking(void **state)
{
    (void)state;
    hs_client *c = connected();
    snap_rec r = {.c = c};
    hs_client_events ev = {.heap_stats_update = ev_stats, .last_seen_object_id = ev_last_seen};
    hs_client_set_events(c, &ev, &r);
    hs_start_tracking_params tp = {.has_track_allocations = true, .track_allocations = true};
    assert_int_equal(hs_hp_start_tracking_heap_objects(c, &tp), 0);
    /* V8 reports every ~50 ms while tracking; events arrive between calls too. */
    int64_t deadline = test_now_ms() + 5000;
    while (r.last_seen < 2 && test_now_ms() < deadline) {
        int n = hs_client_wait_events(c, (int)(deadline - test_now_ms()));
        assert_true(n >= 0);
    }
    assert_true(r.last_seen >= 2);
    assert_true(r.stats_updates >= 1);
    hs_snapshot_sink sink = {.write = sink_write, .ud = &r};
    int rc = hs_hp_stop_tracking_heap_objects(c, NULL, &sink);
    if (rc != 0)
        fail_msg("stopTrackingHeapObjects: %s", hs_client_last_error(c));
    assert_true(r.sink_calls >= 2);
    check_snapshot_json(&r);
    free(r.buf);
    hs_client_free(c);
}

/* ---- Failures -------------------------------------------------------------------------- */

static void test_refused(void **state)
{
    (void)state;
    int port = closed_port();
    assert_true(port > 0);
    char hp[64], url[96];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/x", port);
    hs_client *c = client_with(5000, 5000);
    int64_t t0 = test_now_ms();
    hs_target_list l;
    assert_int_equal(hs_client_list_targets(c, hp, &l), -ECONNREFUSED);
    assert_contains(hs_client_last_error(c), "refused");
    assert_contains(hs_client_last_error(c), hp);
    assert_int_equal(hs_client_connect(c, url), -ECONNREFUSED);
    assert_int_equal(hs_client_connect(c, hp), -ECONNREFUSED);
    assert_true(test_now_ms() - t0 < test_bound_ms(1000));
    assert_null(hs_client_ws_url(c));
    /* [IPv6]:PORT is understood (the outcome depends on the machine's IPv6). */
    snprintf(hp, sizeof hp, "[::1]:%d", port);
    int rc = hs_client_list_targets(c, hp, &l);
    assert_true(rc < 0 && rc != HS_E_INVAL);
    assert_contains(hs_client_last_error(c), hp);
    hs_client_free(c);
}

/* Runs one fake and checks the client's failure, its text and its speed. */
static void expect_fake(fake_mode mode, bool via_ws, int want, const char *text)
{
    fake_target f;
    assert_int_equal(fake_start(&f, mode), 0);
    hs_client *c = client_with(3000, 3000);
    int64_t t0 = test_now_ms();
    int rc;
    if (via_ws) {
        rc = hs_client_connect(c, f.ws_url);
        if (rc == 0) {
            rc = hs_hp_enable(c);
            assert_null(hs_client_ws_url(c)); /* such a session is over */
        }
    } else {
        hs_target_list l;
        rc = hs_client_list_targets(c, f.hostport, &l);
    }
    int64_t took = test_now_ms() - t0;
    if (rc != want)
        fail_msg("fake %d: got %d (%s), wanted %d", mode, rc, hs_client_last_error(c), want);
    assert_contains(hs_client_last_error(c), text);
    if (took > test_bound_ms(1500))
        fail_msg("fake %d: took %lld ms: the client waited instead of failing", mode,
                 (long long)took);
    if (via_ws)
        assert_int_equal(hs_hp_enable(c), HS_E_STATE);
    hs_client_free(c);
    fake_stop(&f);
}

static void test_garbage(void **state)
{
    (void)state;
    expect_fake(FAKE_NOT_HTTP, false, HS_E_BADREPLY, "not HTTP");
    expect_fake(FAKE_NOT_HTTP, true, HS_E_BADREPLY, "not HTTP");
    expect_fake(FAKE_HTTP_400, false, HS_E_HTTP, "HTTP 400 \"WebSockets request was expected\"");
    expect_fake(FAKE_HTTP_400, true, HS_E_HTTP, "WebSocket upgrade refused: HTTP 400");
    expect_fake(FAKE_WS_BAD_ACCEPT, true, HS_E_BADREPLY, "Sec-WebSocket-Accept");
    expect_fake(FAKE_WS_NOT_JSON, true, HS_E_BADREPLY, "not CDP");
    expect_fake(FAKE_WS_NOT_JSON, true, HS_E_BADREPLY, "\"hello, this is not JSON\"");
    expect_fake(FAKE_WS_CLOSE_1011, true, HS_E_CLOSED, "code 1011");
    expect_fake(FAKE_WS_EOF, true, HS_E_CLOSED, "closed the connection during HeapProfiler.enable");
}

static void test_node_refuses_bad_path(void **state)
{
    (void)state;
    hs_client *c = client_with(0, 0);
    char url[300];
    snprintf(url, sizeof url, "ws://%s/nope", g_node.hostport);
    assert_int_equal(hs_client_connect(c, url), HS_E_HTTP);
    assert_contains(hs_client_last_error(c), "HTTP 400");
    hs_client_free(c);
}

static void test_timeouts(void **state)
{
    (void)state;
    /* Nothing ever answers: the connect time-out applies. */
    fake_target f;
    assert_int_equal(fake_start(&f, FAKE_SILENT), 0);
    hs_client *c = client_with(300, 300);
    int64_t t0 = test_now_ms();
    hs_target_list l;
    assert_int_equal(hs_client_list_targets(c, f.hostport, &l), -ETIMEDOUT);
    int64_t took = test_now_ms() - t0;
    assert_true(took >= 250 && took < test_bound_ms(2000));
    hs_client_free(c);
    fake_stop(&f);

    /* A session whose target never answers: the call time-out applies, and the
     * session stays open (a late answer would be recognised and dropped). */
    assert_int_equal(fake_start(&f, FAKE_WS_MUTE), 0);
    c = client_with(2000, 300);
    assert_int_equal(hs_client_connect(c, f.ws_url), 0);
    t0 = test_now_ms();
    assert_int_equal(hs_hp_enable(c), -ETIMEDOUT);
    took = test_now_ms() - t0;
    assert_true(took >= 250 && took < test_bound_ms(2000));
    assert_contains(hs_client_last_error(c), "no answer to HeapProfiler.enable within 300 ms");
    assert_non_null(hs_client_ws_url(c));
    hs_client_free(c);
    fake_stop(&f);
}

static void test_target_exits_mid_call(void **state)
{
    (void)state;
    node_target t;
    /* process.exit and even process.kill(process.pid) wait for the debugger to
     * detach; a kill from a child process does not. */
    assert_int_equal(node_start(&t, "globalThis.die = () => require('child_process')"
                                    ".execSync('kill -9 ' + process.pid);"
                                    "setInterval(() => {}, 1000);"),
                     0);
    hs_client *c = client_with(5000, 5000);
    assert_int_equal(hs_client_connect(c, t.hostport), 0);
    int rc = hs_client_call(c, "Runtime.evaluate", "{\"expression\":\"die()\"}", NULL);
    assert_int_equal(rc, HS_E_CLOSED);
    assert_contains(hs_client_last_error(c), "during Runtime.evaluate");
    assert_null(hs_client_ws_url(c));
    assert_int_equal(node_wait_exit(&t, 5000), 128 + 9);
    hs_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_targets),      cmocka_unit_test(test_connect_ways),
        cmocka_unit_test(test_enable_disable_gc), cmocka_unit_test(test_object_ids),
        cmocka_unit_test(test_sampling),          cmocka_unit_test(test_remote_errors),
        cmocka_unit_test(test_snapshot_streams),  cmocka_unit_test(test_snapshot_sink_stops),
        cmocka_unit_test(test_tracking),          cmocka_unit_test(test_refused),
        cmocka_unit_test(test_garbage),           cmocka_unit_test(test_node_refuses_bad_path),
        cmocka_unit_test(test_timeouts),          cmocka_unit_test(test_target_exits_mid_call),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
