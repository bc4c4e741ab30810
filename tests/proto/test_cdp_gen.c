/*
 * test_cdp_gen.c — unit tests of the generated codecs and tables
 * (src/proto/cdp_gen.c): encode→text→decode→encode round trips for every
 * type, params, returns and event struct; both protocol vintages; V8's error
 * texts and positions; numbers; the method and event tables; and the schema
 * served at /json/protocol against protocol/heapprofiler.json (its path is
 * argv[1]).
 */
#include <math.h>
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

static const char *g_schema_path;

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

/* Encodes *val, prints it, reads it back both as a client (integers kept) and
 * as the agent reads requests (every number a double), decodes, encodes again
 * and wants the same JSON. Leaves the decoded copy in *copy for field checks. */
#define ROUNDTRIP(T, val, copy)                                                                    \
    do {                                                                                           \
        json_t *j1_ = T##_encode(&(val));                                                          \
        assert_non_null(j1_);                                                                      \
        char *text_ = json_dumps(j1_, JSON_COMPACT);                                               \
        assert_non_null(text_);                                                                    \
        for (int as_real_ = 0; as_real_ < 2; as_real_++) {                                         \
            json_t *back_ = json_loads(text_, as_real_ ? JSON_DECODE_INT_AS_REAL : 0, NULL);       \
            cdp_error err_;                                                                        \
            assert_non_null(back_);                                                                \
            memset(&(copy), 0x5a, sizeof(copy));                                                   \
            if (T##_decode(back_, &(copy), &err_) != 0)                                            \
                fail_msg("%s: %s", #T, err_.data);                                                 \
            json_t *j2_ = T##_encode(&(copy));                                                     \
            assert_non_null(j2_);                                                                  \
            if (!json_equal(j1_, j2_)) {                                                           \
                char *t2_ = json_dumps(j2_, JSON_COMPACT);                                         \
                fail_msg("%s: %s != %s", #T, text_, t2_);                                          \
            }                                                                                      \
            json_decref(j2_);                                                                      \
            json_decref(back_);                                                                    \
            if (!as_real_)                                                                         \
                T##_free(&(copy));                                                                 \
        }                                                                                          \
        free(text_);                                                                               \
        json_decref(j1_);                                                                          \
    } while (0)

static void make_frame(cdp_runtime_call_frame *f, const char *name, int line)
{
    f->function_name = xstrdup(name);
    f->script_id = xstrdup("0");
    f->url = xstrdup("/usr/lib/libfoo.so");
    f->line_number = line;
    f->column_number = -1;
}

/* A tree: root with two children, the first with a grandchild. */
static void make_tree(cdp_heap_profiler_sampling_heap_profile_node *root)
{
    memset(root, 0, sizeof *root);
    make_frame(&root->call_frame, "(root)", -1);
    root->has_id = true;
    root->id = 1;
    root->children_count = 2;
    root->children = calloc(2, sizeof *root->children);
    assert_non_null(root->children);
    for (int i = 0; i < 2; i++) {
        cdp_heap_profiler_sampling_heap_profile_node *c = &root->children[i];
        make_frame(&c->call_frame, i ? "b" : "a", 10 + i);
        c->self_size = 1024.0 * (i + 1);
        c->has_id = true;
        c->id = 2 + i;
    }
    cdp_heap_profiler_sampling_heap_profile_node *a = &root->children[0];
    a->children_count = 1;
    a->children = calloc(1, sizeof *a->children);
    assert_non_null(a->children);
    make_frame(&a->children[0].call_frame, "leaf \xe2\x86\x92 \xc3\xa9", 99);
    a->children[0].self_size = 0.5;
    a->children[0].has_id = true;
    a->children[0].id = 4;
}

static void test_roundtrip_types(void **state)
{
    (void)state;
    cdp_runtime_call_frame f = {0}, f2;
    make_frame(&f, "main", 41);
    ROUNDTRIP(cdp_runtime_call_frame, f, f2);
    assert_string_equal(f2.function_name, "main");
    assert_string_equal(f2.url, "/usr/lib/libfoo.so");
    assert_int_equal(f2.line_number, 41);
    assert_int_equal(f2.column_number, -1);
    cdp_runtime_call_frame_free(&f2);
    cdp_runtime_call_frame_free(&f);
    cdp_runtime_call_frame_free(&f); /* zeroed: safe */

    cdp_runtime_remote_object ro = {0}, ro2;
    ro.type = xstrdup(CDP_RUNTIME_REMOTE_OBJECT_TYPE_OBJECT);
    ro.has_subtype = true;
    ro.subtype = xstrdup(CDP_RUNTIME_REMOTE_OBJECT_SUBTYPE_ARRAYBUFFER);
    ro.has_class_name = true;
    ro.class_name = xstrdup("malloc block");
    ro.has_value = true;
    ro.value = json_pack("{s:[i,s,b,n]}", "k", 1, "x", 1);
    ro.has_description = true;
    ro.description = xstrdup("64 bytes");
    ro.has_object_id = true;
    ro.object_id = xstrdup("heapscope:0x1234");
    ROUNDTRIP(cdp_runtime_remote_object, ro, ro2);
    /* (read as the agent reads requests, 1 is a real here; it is written back as 1) */
    assert_true(ro2.has_value && json_array_size(json_object_get(ro2.value, "k")) == 4);
    assert_false(ro2.has_unserializable_value);
    assert_null(ro2.unserializable_value);
    assert_string_equal(ro2.object_id, "heapscope:0x1234");
    cdp_runtime_remote_object_free(&ro2);
    /* Only the mandatory member. */
    cdp_runtime_remote_object_free(&ro);
    ro.type = xstrdup("undefined");
    ROUNDTRIP(cdp_runtime_remote_object, ro, ro2);
    assert_false(ro2.has_subtype || ro2.has_value || ro2.has_object_id);
    cdp_runtime_remote_object_free(&ro2);
    cdp_runtime_remote_object_free(&ro);
    /* value may be JSON null (has_value with a null or NULL value). */
    ro.type = xstrdup("object");
    ro.has_value = true;
    ro.value = NULL;
    ROUNDTRIP(cdp_runtime_remote_object, ro, ro2);
    assert_true(ro2.has_value && json_is_null(ro2.value));
    cdp_runtime_remote_object_free(&ro2);
    cdp_runtime_remote_object_free(&ro);

    cdp_heap_profiler_sampling_heap_profile_sample s = {.size = 4096, .node_id = 3, .ordinal = 7},
                                                   s2;
    ROUNDTRIP(cdp_heap_profiler_sampling_heap_profile_sample, s, s2);
    assert_true(s2.size == 4096 && s2.node_id == 3 && s2.ordinal == 7);
    cdp_heap_profiler_sampling_heap_profile_sample_free(&s2);

    cdp_heap_profiler_sampling_heap_profile p, p2;
    memset(&p, 0, sizeof p);
    make_tree(&p.head);
    p.has_samples = true;
    p.samples_count = 2;
    p.samples = calloc(2, sizeof *p.samples);
    assert_non_null(p.samples);
    p.samples[0] = s;
    p.samples[1] = (cdp_heap_profiler_sampling_heap_profile_sample){32, 4, 8};
    ROUNDTRIP(cdp_heap_profiler_sampling_heap_profile, p, p2);
    assert_int_equal(p2.head.children_count, 2);
    assert_int_equal(p2.head.children[0].children_count, 1);
    assert_string_equal(p2.head.children[0].children[0].call_frame.function_name,
                        "leaf \xe2\x86\x92 \xc3\xa9");
    assert_true(p2.head.children[0].children[0].self_size == 0.5);
    assert_int_equal(p2.head.children[1].id, 3);
    assert_true(p2.has_samples);
    assert_int_equal(p2.samples_count, 2);
    assert_int_equal(p2.samples[1].node_id, 4);
    cdp_heap_profiler_sampling_heap_profile_free(&p2);

    cdp_heap_profiler_sampling_heap_profile_node n2;
    ROUNDTRIP(cdp_heap_profiler_sampling_heap_profile_node, p.head, n2);
    assert_int_equal(n2.children[0].children[0].id, 4);
    cdp_heap_profiler_sampling_heap_profile_node_free(&n2);
    cdp_heap_profiler_sampling_heap_profile_free(&p);
}

static void test_roundtrip_commands_events(void **state)
{
    (void)state;
    cdp_heap_profiler_add_inspected_heap_object_params a = {.heap_object_id = xstrdup("65887")}, a2;
    ROUNDTRIP(cdp_heap_profiler_add_inspected_heap_object_params, a, a2);
    assert_string_equal(a2.heap_object_id, "65887");
    cdp_heap_profiler_add_inspected_heap_object_params_free(&a2);
    cdp_heap_profiler_add_inspected_heap_object_params_free(&a);

    cdp_heap_profiler_get_heap_object_id_params g = {.object_id = xstrdup("1.2.3")}, g2;
    ROUNDTRIP(cdp_heap_profiler_get_heap_object_id_params, g, g2);
    cdp_heap_profiler_get_heap_object_id_params_free(&g2);
    cdp_heap_profiler_get_heap_object_id_params_free(&g);
    cdp_heap_profiler_get_heap_object_id_returns gr = {.heap_snapshot_object_id = xstrdup("7")},
                                                 gr2;
    ROUNDTRIP(cdp_heap_profiler_get_heap_object_id_returns, gr, gr2);
    assert_string_equal(gr2.heap_snapshot_object_id, "7");
    cdp_heap_profiler_get_heap_object_id_returns_free(&gr2);
    cdp_heap_profiler_get_heap_object_id_returns_free(&gr);

    cdp_heap_profiler_get_object_by_heap_object_id_params o = {.object_id = xstrdup("9"),
                                                               .has_object_group = true,
                                                               .object_group = xstrdup("grp")},
                                                          o2;
    ROUNDTRIP(cdp_heap_profiler_get_object_by_heap_object_id_params, o, o2);
    assert_true(o2.has_object_group);
    assert_string_equal(o2.object_group, "grp");
    cdp_heap_profiler_get_object_by_heap_object_id_params_free(&o2);
    cdp_heap_profiler_get_object_by_heap_object_id_params_free(&o);
    cdp_heap_profiler_get_object_by_heap_object_id_returns orr, orr2;
    memset(&orr, 0, sizeof orr);
    orr.result.type = xstrdup("object");
    orr.result.has_description = true;
    orr.result.description = xstrdup("block");
    ROUNDTRIP(cdp_heap_profiler_get_object_by_heap_object_id_returns, orr, orr2);
    assert_string_equal(orr2.result.description, "block");
    cdp_heap_profiler_get_object_by_heap_object_id_returns_free(&orr2);
    cdp_heap_profiler_get_object_by_heap_object_id_returns_free(&orr);

    cdp_heap_profiler_get_sampling_profile_returns sp, sp2;
    memset(&sp, 0, sizeof sp);
    make_tree(&sp.profile.head);
    sp.profile.has_samples = true; /* empty array */
    ROUNDTRIP(cdp_heap_profiler_get_sampling_profile_returns, sp, sp2);
    assert_true(sp2.profile.has_samples);
    assert_int_equal(sp2.profile.samples_count, 0);
    assert_null(sp2.profile.samples);
    cdp_heap_profiler_get_sampling_profile_returns_free(&sp2);
    cdp_heap_profiler_stop_sampling_returns st, st2;
    memset(&st, 0, sizeof st);
    st.profile = sp.profile;
    ROUNDTRIP(cdp_heap_profiler_stop_sampling_returns, st, st2);
    cdp_heap_profiler_stop_sampling_returns_free(&st2);
    cdp_heap_profiler_get_sampling_profile_returns_free(&sp);

    cdp_heap_profiler_start_sampling_params ss = {.has_sampling_interval = true,
                                                  .sampling_interval = 16384,
                                                  .has_stack_depth = true,
                                                  .stack_depth = 64,
                                                  .has_include_objects_collected_by_major_gc = true,
                                                  .include_objects_collected_by_major_gc = true,
                                                  .has_include_objects_collected_by_minor_gc = true,
                                                  .include_objects_collected_by_minor_gc = false},
                                            ss2;
    ROUNDTRIP(cdp_heap_profiler_start_sampling_params, ss, ss2);
    assert_true(ss2.sampling_interval == 16384 && ss2.stack_depth == 64);
    assert_true(ss2.include_objects_collected_by_major_gc);
    assert_true(ss2.has_include_objects_collected_by_minor_gc);
    assert_false(ss2.include_objects_collected_by_minor_gc);
    cdp_heap_profiler_start_sampling_params_free(&ss2);

    cdp_heap_profiler_start_tracking_heap_objects_params tr = {true, true}, tr2;
    ROUNDTRIP(cdp_heap_profiler_start_tracking_heap_objects_params, tr, tr2);
    assert_true(tr2.has_track_allocations && tr2.track_allocations);

    cdp_heap_profiler_stop_tracking_heap_objects_params sto = {true, true, true, false,
                                                               true, true, true, true},
                                                        sto2;
    ROUNDTRIP(cdp_heap_profiler_stop_tracking_heap_objects_params, sto, sto2);
    assert_true(sto2.has_treat_global_objects_as_roots && !sto2.treat_global_objects_as_roots);
    assert_true(sto2.expose_internals && sto2.capture_numeric_value && sto2.report_progress);
    cdp_heap_profiler_take_heap_snapshot_params th = {.has_report_progress = true,
                                                      .report_progress = true,
                                                      .has_capture_numeric_value = true,
                                                      .capture_numeric_value = true,
                                                      .has_expose_internals = true,
                                                      .expose_internals = true},
                                                th2;
    ROUNDTRIP(cdp_heap_profiler_take_heap_snapshot_params, th, th2);
    assert_false(th2.has_treat_global_objects_as_roots);
    assert_true(th2.expose_internals);

    cdp_runtime_get_heap_usage_returns hu = {.used_size = 123456789,
                                             .total_size = 4294967296.0,
                                             .has_embedder_heap_used_size = true,
                                             .embedder_heap_used_size = 0,
                                             .has_backing_storage_size = true,
                                             .backing_storage_size = 1.5},
                                       hu2;
    ROUNDTRIP(cdp_runtime_get_heap_usage_returns, hu, hu2);
    assert_true(hu2.total_size == 4294967296.0 && hu2.backing_storage_size == 1.5);
    cdp_runtime_get_isolate_id_returns iso = {.id = xstrdup("hs-1")}, iso2;
    ROUNDTRIP(cdp_runtime_get_isolate_id_returns, iso, iso2);
    assert_string_equal(iso2.id, "hs-1");
    cdp_runtime_get_isolate_id_returns_free(&iso2);
    cdp_runtime_get_isolate_id_returns_free(&iso);

    cdp_heap_profiler_add_heap_snapshot_chunk_event ch = {.chunk = xstrdup("{\"snapshot\":")}, ch2;
    ROUNDTRIP(cdp_heap_profiler_add_heap_snapshot_chunk_event, ch, ch2);
    assert_string_equal(ch2.chunk, "{\"snapshot\":");
    cdp_heap_profiler_add_heap_snapshot_chunk_event_free(&ch2);
    cdp_heap_profiler_add_heap_snapshot_chunk_event_free(&ch);

    int64_t triplets[] = {0, 10, 4096, 1, 3, (int64_t)1 << 40};
    cdp_heap_profiler_heap_stats_update_event hs = {.stats_update = triplets,
                                                    .stats_update_count = 6},
                                              hs2;
    ROUNDTRIP(cdp_heap_profiler_heap_stats_update_event, hs, hs2);
    assert_int_equal(hs2.stats_update_count, 6);
    assert_memory_equal(hs2.stats_update, triplets, sizeof triplets);
    cdp_heap_profiler_heap_stats_update_event_free(&hs2);

    cdp_heap_profiler_last_seen_object_id_event ls = {.last_seen_object_id = 65887,
                                                      .timestamp = 1795437096021.273},
                                                ls2;
    ROUNDTRIP(cdp_heap_profiler_last_seen_object_id_event, ls, ls2);
    assert_true(ls2.timestamp == 1795437096021.273);
    cdp_heap_profiler_report_heap_snapshot_progress_event pr = {.done = 36235, .total = 36235}, pr2;
    ROUNDTRIP(cdp_heap_profiler_report_heap_snapshot_progress_event, pr, pr2);
    assert_false(pr2.has_finished);
    pr.has_finished = true;
    pr.finished = true;
    ROUNDTRIP(cdp_heap_profiler_report_heap_snapshot_progress_event, pr, pr2);
    assert_true(pr2.has_finished && pr2.finished);
}

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad test JSON %s: %s", text, e.text);
    return j;
}

static char *dumps(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    assert_non_null(s);
    return s;
}

/* The older rendering: no node id, no samples (and no since-members of
 * Runtime.getHeapUsage, which node 20 leaves out). */
static void test_vintages(void **state)
{
    (void)state;
    json_t *old = load("{\"head\":{\"callFrame\":{\"functionName\":\"(root)\",\"scriptId\":\"0\","
                       "\"url\":\"\",\"lineNumber\":-1,\"columnNumber\":-1},\"selfSize\":0,"
                       "\"children\":[{\"callFrame\":{\"functionName\":\"f\",\"scriptId\":\"1\","
                       "\"url\":\"a.js\",\"lineNumber\":2,\"columnNumber\":3},\"selfSize\":64,"
                       "\"children\":[]}]}}");
    cdp_heap_profiler_sampling_heap_profile p;
    cdp_error err;
    assert_int_equal(cdp_heap_profiler_sampling_heap_profile_decode(old, &p, &err), 0);
    assert_false(p.has_samples);
    assert_false(p.head.has_id);
    assert_int_equal(p.head.children_count, 1);
    assert_false(p.head.children[0].has_id);
    assert_true(p.head.children[0].self_size == 64);
    /* Encoding writes the newer shape. */
    json_t *j = cdp_heap_profiler_sampling_heap_profile_encode(&p);
    char *s = dumps(j);
    assert_non_null(strstr(s, "\"samples\":[]"));
    assert_non_null(strstr(s, "\"selfSize\":0,\"id\":0,\"children\""));
    free(s);
    json_decref(j);
    cdp_heap_profiler_sampling_heap_profile_free(&p);
    json_decref(old);

    json_t *usage = load("{\"usedSize\":5425968,\"totalSize\":7610368}");
    cdp_runtime_get_heap_usage_returns hu;
    assert_int_equal(cdp_runtime_get_heap_usage_returns_decode(usage, &hu, &err), 0);
    assert_false(hu.has_embedder_heap_used_size || hu.has_backing_storage_size);
    assert_true(hu.used_size == 5425968 && hu.total_size == 7610368);
    j = cdp_runtime_get_heap_usage_returns_encode(&hu);
    s = dumps(j);
    assert_string_equal(s, "{\"usedSize\":5425968,\"totalSize\":7610368,"
                           "\"embedderHeapUsedSize\":0,\"backingStorageSize\":0}");
    free(s);
    json_decref(j);
    json_decref(usage);

    /* The newer rendering's recorded profile decodes (golden stopSampling shape). */
    json_t *neu = load("{\"profile\":{\"head\":{\"callFrame\":{\"functionName\":\"(root)\","
                       "\"scriptId\":\"0\",\"url\":\"\",\"lineNumber\":-1,\"columnNumber\":-1},"
                       "\"selfSize\":0,\"id\":1,\"children\":[]},\"samples\":[{\"size\":1024,"
                       "\"nodeId\":1,\"ordinal\":1}]}}");
    cdp_heap_profiler_stop_sampling_returns r;
    assert_int_equal(cdp_heap_profiler_stop_sampling_returns_decode(neu, &r, &err), 0);
    assert_true(r.profile.head.has_id && r.profile.has_samples);
    assert_int_equal(r.profile.samples_count, 1);
    cdp_heap_profiler_stop_sampling_returns_free(&r);
    json_decref(neu);
}

static void test_numbers(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {1024.0, "1024"},
        {0.0, "0"},
        {-0.0, "0"},
        {-5.0, "-5"},
        {1.5, "1.5"},
        {9007199254740992.0, "9007199254740992"},
        {-9007199254740992.0, "-9007199254740992"},
        {18014398509481984.0, "18014398509481984.0"},
        {1e300, "1.0000000000000001e300"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdp_heap_profiler_sampling_heap_profile_sample s = {.size = cases[i].v};
        json_t *j = cdp_heap_profiler_sampling_heap_profile_sample_encode(&s);
        json_t *size = json_object_get(j, "size");
        char *t = json_dumps(size, JSON_ENCODE_ANY);
        assert_non_null(t);
        if (strcmp(t, cases[i].text) != 0)
            fail_msg("%g written as %s, want %s", cases[i].v, t, cases[i].text);
        /* Integral values go out as JSON integers, others as reals. */
        assert_int_equal(json_is_integer(size),
                         strchr(cases[i].text, '.') == NULL && strchr(cases[i].text, 'e') == NULL);
        free(t);
        json_decref(j);
    }
    /* NaN and infinities have no JSON spelling: null. */
    cdp_heap_profiler_sampling_heap_profile_sample nan = {.size = NAN, .ordinal = INFINITY};
    json_t *j = cdp_heap_profiler_sampling_heap_profile_sample_encode(&nan);
    assert_true(json_is_null(json_object_get(j, "size")));
    assert_true(json_is_null(json_object_get(j, "ordinal")));
    json_decref(j);

    /* number takes integers, integer takes integral reals. */
    cdp_error err;
    json_t *in = load("{\"samplingInterval\":4096,\"stackDepth\":2.5}");
    cdp_heap_profiler_start_sampling_params sp;
    assert_int_equal(cdp_heap_profiler_start_sampling_params_decode(in, &sp, &err), 0);
    assert_true(sp.sampling_interval == 4096 && sp.stack_depth == 2.5);
    json_decref(in);
    in = load("{\"done\":5.0,\"total\":-7}");
    cdp_heap_profiler_report_heap_snapshot_progress_event pr;
    assert_int_equal(cdp_heap_profiler_report_heap_snapshot_progress_event_decode(in, &pr, &err),
                     0);
    assert_int_equal(pr.done, 5);
    assert_int_equal(pr.total, -7);
    json_decref(in);
    in = load("{\"done\":5.5,\"total\":1}");
    assert_int_equal(cdp_heap_profiler_report_heap_snapshot_progress_event_decode(in, &pr, &err),
                     -1);
    assert_string_equal(err.data, "Failed to deserialize params.done - BINDINGS: int32 value "
                                  "expected at position 13");
    json_decref(in);
}

/* Decodes text with the params decoder of method and wants data exactly. */
static void expect_params_error(const char *method, const char *text, const char *data)
{
    const cdp_method_desc *d = cdp_method_find(method);
    assert_non_null(d);
    json_t *j = text ? json_loads(text, JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY, NULL) : NULL;
    if (text)
        assert_non_null(j);
    cdp_error err;
    memset(&err, 0, sizeof err);
    if (cdp_method_check_params(d->id, j, &err) != -1)
        fail_msg("%s %s accepted", method, text);
    assert_int_equal(err.code, -32602);
    assert_string_equal(err.message, "Invalid parameters");
    assert_true(err.has_data);
    if (strcmp(err.data, data) != 0)
        fail_msg("%s %s:\n got %s\nwant %s", method, text, err.data, data);
    json_decref(j);
}

static void expect_params_ok(const char *method, const char *text)
{
    const cdp_method_desc *d = cdp_method_find(method);
    assert_non_null(d);
    json_t *j = text ? json_loads(text, JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY, NULL) : NULL;
    cdp_error err;
    if (cdp_method_check_params(d->id, j, &err) != 0)
        fail_msg("%s %s: %s", method, text, err.data);
    json_decref(j);
}

static void test_params_errors(void **state)
{
    (void)state;
    /* The recorded node 20 answers (golden/v8-node20/error-cases), position included. */
    expect_params_error("HeapProfiler.startSampling", "{\"samplingInterval\":\"x\"}",
                        "Failed to deserialize params.samplingInterval - BINDINGS: double value "
                        "expected at position 25");
    expect_params_error("HeapProfiler.getObjectByHeapObjectId", "{\"objectId\":1}",
                        "Failed to deserialize params.objectId - BINDINGS: string value expected "
                        "at position 17");
    expect_params_error("HeapProfiler.getObjectByHeapObjectId", NULL,
                        "Failed to deserialize params - CBOR: map start expected at position 0");
    expect_params_error("HeapProfiler.getObjectByHeapObjectId", "null",
                        "Failed to deserialize params - CBOR: map start expected at position 0");
    expect_params_error("HeapProfiler.getObjectByHeapObjectId", "{}",
                        "Failed to deserialize params.objectId - BINDINGS: mandatory field "
                        "missing at position 8");
    expect_params_error("HeapProfiler.addInspectedHeapObject", "{}",
                        "Failed to deserialize params.heapObjectId - BINDINGS: mandatory field "
                        "missing at position 8");
    expect_params_error("HeapProfiler.startSampling", "[1]",
                        "Failed to deserialize params - CBOR: map start expected at position 7");
    expect_params_error("HeapProfiler.takeHeapSnapshot", "{\"reportProgress\":\"yes\"}",
                        "Failed to deserialize params.reportProgress - BINDINGS: bool value "
                        "expected at position 23");
    /* Positions after earlier members: key and value sizes add up. */
    expect_params_error("HeapProfiler.startSampling",
                        "{\"samplingInterval\":1.5,\"stackDepth\":true}",
                        "Failed to deserialize params.stackDepth - BINDINGS: double value "
                        "expected at position 45");
    expect_params_error("HeapProfiler.getObjectByHeapObjectId",
                        "{\"objectGroup\":\"g\",\"x\":[1,{\"a\":2}]}",
                        "Failed to deserialize params.objectId - BINDINGS: mandatory field "
                        "missing at position 46");
    expect_params_error("HeapProfiler.stopTrackingHeapObjects",
                        "{\"reportProgress\":true,\"exposeInternals\":null}",
                        "Failed to deserialize params.exposeInternals - BINDINGS: bool value "
                        "expected at position 40");

    /* Accepted: unknown members, null or absent params when nothing is mandatory, integer
     * numbers, and anything at all for a command without parameters. */
    expect_params_ok("HeapProfiler.startSampling", "{\"samplingInterval\":65536,\"bogusParam\":1}");
    expect_params_ok("HeapProfiler.startSampling", NULL);
    expect_params_ok("HeapProfiler.takeHeapSnapshot", "null");
    expect_params_ok("HeapProfiler.takeHeapSnapshot", "{}");
    expect_params_ok("HeapProfiler.collectGarbage", "[1]");
    expect_params_ok("HeapProfiler.enable", "{\"x\":1}");
    expect_params_ok("Runtime.getHeapUsage", "[]");
    expect_params_ok("HeapProfiler.getObjectByHeapObjectId", "{\"objectId\":\"1\",\"e\":{}}");

    json_t *j = load("{\"samplingInterval\":65536,\"bogusParam\":{\"a\":[1]}}");
    cdp_heap_profiler_start_sampling_params sp;
    cdp_error err;
    assert_int_equal(cdp_heap_profiler_start_sampling_params_decode(j, &sp, &err), 0);
    assert_true(sp.has_sampling_interval && sp.sampling_interval == 65536);
    assert_false(sp.has_stack_depth);
    json_decref(j);
    /* null = {} */
    memset(&sp, 0x5a, sizeof sp);
    assert_int_equal(cdp_heap_profiler_start_sampling_params_decode(json_null(), &sp, &err), 0);
    assert_false(sp.has_sampling_interval || sp.has_stack_depth ||
                 sp.has_include_objects_collected_by_major_gc ||
                 sp.has_include_objects_collected_by_minor_gc);
    /* err may be NULL */
    j = load("{\"samplingInterval\":true}");
    assert_int_equal(cdp_heap_profiler_start_sampling_params_decode(j, &sp, NULL), -1);
    json_decref(j);
}

static int is_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static void test_nested_errors(void **state)
{
    (void)state;
    cdp_error err;
    /* Depth: the path names every member on the way, as V8's does. */
    json_t *j = load("{\"profile\":{\"head\":{\"callFrame\":{\"functionName\":\"f\",\"scriptId\":"
                     "\"0\",\"url\":\"\",\"lineNumber\":\"x\",\"columnNumber\":0},\"selfSize\":0,"
                     "\"id\":1,\"children\":[]},\"samples\":[]}}");
    cdp_heap_profiler_stop_sampling_returns r;
    assert_int_equal(cdp_heap_profiler_stop_sampling_returns_decode(j, &r, &err), -1);
    assert_string_equal(err.data, "Failed to deserialize result.profile.head.callFrame.lineNumber"
                                  " - BINDINGS: int32 value expected at position 97");
    assert_true(is_zero(&r, sizeof r));
    json_decref(j);

    /* The first missing member in byte order of the names. */
    j = load("{\"url\":\"u\"}");
    cdp_runtime_call_frame f;
    assert_int_equal(cdp_runtime_call_frame_decode(j, &f, &err), -1);
    assert_string_equal(err.data, "Failed to deserialize Runtime.CallFrame.columnNumber - "
                                  "BINDINGS: mandatory field missing at position 14");
    assert_true(is_zero(&f, sizeof f));
    json_decref(j);

    /* Arrays: no index in the path, the element's own position. */
    j = load("{\"statsUpdate\":[1,2,\"x\"]}");
    cdp_heap_profiler_heap_stats_update_event hs;
    assert_int_equal(cdp_heap_profiler_heap_stats_update_event_decode(j, &hs, &err), -1);
    assert_string_equal(err.data, "Failed to deserialize params.statsUpdate - BINDINGS: int32 "
                                  "value expected at position 30");
    assert_true(is_zero(&hs, sizeof hs));
    json_decref(j);
    j = load("{\"statsUpdate\":{}}");
    assert_int_equal(cdp_heap_profiler_heap_stats_update_event_decode(j, &hs, &err), -1);
    assert_string_equal(err.data, "Failed to deserialize params.statsUpdate - CBOR: array start "
                                  "expected at position 27");
    json_decref(j);

    /* A bad node deep in the tree after good siblings: everything freed (ASan/valgrind). */
    j = load("{\"head\":{\"callFrame\":{\"functionName\":\"r\",\"scriptId\":\"0\",\"url\":\"\","
             "\"lineNumber\":0,\"columnNumber\":0},\"selfSize\":0,\"children\":[{\"callFrame\":{"
             "\"functionName\":\"a\",\"scriptId\":\"0\",\"url\":\"\",\"lineNumber\":0,"
             "\"columnNumber\":0},\"selfSize\":1,\"children\":[]},{\"callFrame\":{"
             "\"functionName\":\"b\",\"scriptId\":\"0\",\"url\":\"\",\"lineNumber\":0,"
             "\"columnNumber\":0},\"selfSize\":1,\"children\":[{\"selfSize\":2}]}]}}");
    cdp_heap_profiler_sampling_heap_profile p;
    assert_int_equal(cdp_heap_profiler_sampling_heap_profile_decode(j, &p, &err), -1);
    assert_non_null(strstr(err.data, "Failed to deserialize HeapProfiler.SamplingHeapProfile."
                                     "head.children.children.callFrame - BINDINGS: mandatory "
                                     "field missing at position "));
    assert_true(is_zero(&p, sizeof p));
    json_decref(j);

    /* Wrong container kinds. */
    j = load("{\"head\":[]}");
    assert_int_equal(cdp_heap_profiler_sampling_heap_profile_decode(j, &p, &err), -1);
    assert_string_equal(err.data, "Failed to deserialize HeapProfiler.SamplingHeapProfile.head - "
                                  "CBOR: map start expected at position 20");
    json_decref(j);
    j = load("{\"type\":\"object\",\"value\":[1]}");
    cdp_runtime_remote_object ro;
    assert_int_equal(cdp_runtime_remote_object_decode(j, &ro, &err), 0);
    assert_true(json_is_array(ro.value));
    cdp_runtime_remote_object_free(&ro);
    json_decref(j);
}

static void test_utf8_and_depth(void **state)
{
    (void)state;
    cdp_runtime_call_frame f = {0};
    f.function_name = xstrdup("bad\xff\xc3name\xed\xa0\x80");
    json_t *j = cdp_runtime_call_frame_encode(&f);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "functionName")),
                        "bad\xef\xbf\xbd\xef\xbf\xbdname\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(j, "url")), ""); /* NULL -> "" */
    json_decref(j);
    cdp_runtime_call_frame_free(&f);

    /* A deep chain of nodes (a long call stack): encode and decode without trouble. */
    enum { DEPTH = 400 };
    cdp_heap_profiler_sampling_heap_profile_node root, *n = &root;
    memset(&root, 0, sizeof root);
    for (int i = 0; i < DEPTH; i++) {
        make_frame(&n->call_frame, "f", i);
        n->has_id = true;
        n->id = i + 1;
        n->self_size = i;
        if (i + 1 < DEPTH) {
            n->children = calloc(1, sizeof *n->children);
            assert_non_null(n->children);
            n->children_count = 1;
            n = n->children;
        }
    }
    cdp_heap_profiler_sampling_heap_profile_node back;
    ROUNDTRIP(cdp_heap_profiler_sampling_heap_profile_node, root, back);
    n = &back;
    int depth = 1;
    while (n->children_count == 1) {
        n = n->children;
        depth++;
    }
    assert_int_equal(depth, DEPTH);
    assert_int_equal(n->id, DEPTH);
    cdp_heap_profiler_sampling_heap_profile_node_free(&back);
    cdp_heap_profiler_sampling_heap_profile_node_free(&root);
}

static void test_tables(void **state)
{
    (void)state;
    for (int i = 0; i < CDP_M__COUNT; i++) {
        const cdp_method_desc *d = &cdp_methods[i];
        assert_int_equal(d->id, i);
        assert_ptr_equal(cdp_method_find(d->name), d);
        if (i > 0)
            assert_true(strcmp(cdp_methods[i - 1].name, d->name) < 0);
        size_t dl = strlen(d->domain);
        assert_memory_equal(d->name, d->domain, dl);
        assert_int_equal(d->name[dl], '.');
        assert_string_equal(d->name + dl + 1, d->command);
        if (d->params_required)
            assert_true(d->has_params);
    }
    /* HeapProfiler's 12 commands and Runtime's 12. */
    assert_int_equal(CDP_M__COUNT, 24);
    const cdp_method_desc *d = cdp_method_find("HeapProfiler.startSampling");
    assert_non_null(d);
    assert_int_equal(d->id, CDP_M_HEAP_PROFILER_START_SAMPLING);
    assert_true(d->has_params && !d->has_returns && !d->params_required);
    d = cdp_method_find("HeapProfiler.getObjectByHeapObjectId");
    assert_true(d->has_params && d->has_returns && d->params_required);
    d = cdp_method_find("Runtime.getHeapUsage");
    assert_true(!d->has_params && d->has_returns && d->experimental);
    d = cdp_method_find("HeapProfiler.enable");
    assert_true(!d->has_params && !d->has_returns);
    assert_null(cdp_method_find("HeapProfiler.fooBar"));
    assert_null(cdp_method_find("enable"));
    assert_null(cdp_method_find(""));
    assert_null(cdp_method_find(NULL));
    assert_null(cdp_method_find("Runtime.queryObjects"));
    d = cdp_method_find("Runtime.evaluate");
    assert_true(d->has_params && d->has_returns && d->params_required);

    assert_int_equal(CDP_EV__COUNT, 6);
    assert_string_equal(cdp_event_names[CDP_EV_HEAP_PROFILER_ADD_HEAP_SNAPSHOT_CHUNK],
                        "HeapProfiler.addHeapSnapshotChunk");
    assert_string_equal(cdp_event_names[CDP_EV_HEAP_PROFILER_RESET_PROFILES],
                        "HeapProfiler.resetProfiles");
    for (int i = 0; i < CDP_EV__COUNT; i++)
        assert_int_equal(cdp_event_find(cdp_event_names[i]), i);
    assert_int_equal(cdp_event_find("HeapProfiler.enable"), -1);
    assert_int_equal(cdp_event_find(NULL), -1);
}

/* Removes every "x-heapscope*" member, recursively. */
static void strip_private(json_t *j)
{
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(j, tmp, key, v)
        {
            if (strncmp(key, "x-heapscope", 11) == 0)
                json_object_del(j, key);
            else
                strip_private(v);
        }
    } else if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++)
            strip_private(json_array_get(j, i));
    }
}

static const json_t *find_named(const json_t *arr, const char *key, const char *name)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *x = json_array_get(arr, i);
        if (strcmp(json_string_value(json_object_get(x, key)), name) == 0)
            return x;
    }
    return NULL;
}

static void test_served_schema(void **state)
{
    (void)state;
    assert_int_equal(strlen(cdp_protocol_json), cdp_protocol_json_len);
    assert_null(strstr(cdp_protocol_json, "x-heapscope"));
    json_error_t e;
    json_t *served =
        json_loadb(cdp_protocol_json, cdp_protocol_json_len, JSON_REJECT_DUPLICATES, &e);
    if (!served)
        fail_msg("served schema is not JSON: %s", e.text);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(served, "version"), "major")), "1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(served, "version"), "minor")), "3");
    json_t *domains = json_object_get(served, "domains");
    assert_int_equal(json_array_size(domains), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(domains, 0), "domain")),
                        "Runtime");
    const json_t *hp = json_array_get(domains, 1);
    assert_string_equal(json_string_value(json_object_get(hp, "domain")), "HeapProfiler");

    /* Same as the committed description without the heapscope-only keys. */
    json_t *committed = json_load_file(g_schema_path, JSON_REJECT_DUPLICATES, &e);
    if (!committed)
        fail_msg("%s: %s", g_schema_path, e.text);
    strip_private(committed);
    json_object_del(committed, "x-heapscope-comment");
    assert_true(json_equal(served, committed));
    json_decref(committed);

    /* Every command of the served domains is in the method table and vice versa,
     * with has_params/has_returns as the schema says; events likewise. */
    size_t ncmd = 0, nev = 0;
    for (size_t di = 0; di < json_array_size(domains); di++) {
        const json_t *dom = json_array_get(domains, di);
        const char *dn = json_string_value(json_object_get(dom, "domain"));
        const json_t *cmds = json_object_get(dom, "commands");
        for (size_t i = 0; i < json_array_size(cmds); i++, ncmd++) {
            const json_t *c = json_array_get(cmds, i);
            char name[128];
            snprintf(name, sizeof name, "%s.%s", dn, json_string_value(json_object_get(c, "name")));
            const cdp_method_desc *d = cdp_method_find(name);
            if (!d)
                fail_msg("%s missing from the method table", name);
            assert_int_equal(d->has_params, json_object_get(c, "parameters") != NULL);
            assert_int_equal(d->has_returns, json_object_get(c, "returns") != NULL);
            assert_int_equal(d->experimental, json_is_true(json_object_get(c, "experimental")));
        }
        const json_t *evs = json_object_get(dom, "events");
        for (size_t i = 0; i < json_array_size(evs); i++, nev++) {
            char name[128];
            snprintf(name, sizeof name, "%s.%s", dn,
                     json_string_value(json_object_get(json_array_get(evs, i), "name")));
            if (cdp_event_find(name) < 0)
                fail_msg("%s missing from the event table", name);
        }
    }
    assert_int_equal(ncmd, CDP_M__COUNT);
    assert_int_equal(nev, CDP_EV__COUNT);

    /* The members the task names are there, with their flags. */
    const json_t *cmds = json_object_get(hp, "commands");
    const json_t *ss = find_named(cmds, "name", "startSampling");
    const json_t *sd = find_named(json_object_get(ss, "parameters"), "name", "stackDepth");
    assert_non_null(sd);
    assert_string_equal(json_string_value(json_object_get(sd, "type")), "number");
    assert_true(json_is_true(json_object_get(sd, "optional")));
    const json_t *th = find_named(cmds, "name", "takeHeapSnapshot");
    const json_t *tg =
        find_named(json_object_get(th, "parameters"), "name", "treatGlobalObjectsAsRoots");
    assert_true(json_is_true(json_object_get(tg, "deprecated")));
    const json_t *ei = find_named(json_object_get(th, "parameters"), "name", "exposeInternals");
    assert_true(json_is_true(json_object_get(ei, "experimental")));
    json_decref(served);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s protocol/heapprofiler.json\n", argv[0]);
        return 2;
    }
    g_schema_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_types), cmocka_unit_test(test_roundtrip_commands_events),
        cmocka_unit_test(test_vintages),        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_params_errors),   cmocka_unit_test(test_nested_errors),
        cmocka_unit_test(test_utf8_and_depth),  cmocka_unit_test(test_tables),
        cmocka_unit_test(test_served_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
