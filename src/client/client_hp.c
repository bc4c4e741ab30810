/*
 * client_hp.c — the typed HeapProfiler calls of libheapscope-client: public
 * parameter structs turned into the generated cdp_* params and encoded by the
 * generated encoders, answers decoded by the generated decoders and moved into
 * the public mirrors (which keep jansson out of the public header). The call
 * loop, events and snapshot streaming are client_session.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "cdp_gen.h"
#include "client_int.h"

static const char *mname(cdp_method_id id)
{
    return cdp_methods[id].name;
}

/* A command without params or returns. */
static int simple(hs_client *c, cdp_method_id id)
{
    if (!c)
        return HS_E_INVAL;
    return hs_cl_call(c, mname(id), NULL, NULL, NULL);
}

HS_API int hs_hp_enable(hs_client *c)
{
    return simple(c, CDP_M_HEAP_PROFILER_ENABLE);
}

HS_API int hs_hp_disable(hs_client *c)
{
    return simple(c, CDP_M_HEAP_PROFILER_DISABLE);
}

HS_API int hs_hp_collect_garbage(hs_client *c)
{
    return simple(c, CDP_M_HEAP_PROFILER_COLLECT_GARBAGE);
}

/* Encoded params, or an out-of-memory failure. */
static int encoded(hs_client *c, json_t *j, json_t **out)
{
    *out = j;
    return j ? 0 : hs_cl_fail(c, HS_E_NOMEM, "out of memory");
}

HS_API int hs_hp_start_sampling(hs_client *c, const hs_start_sampling_params *p)
{
    if (!c)
        return HS_E_INVAL;
    cdp_heap_profiler_start_sampling_params q = {0};
    if (p) {
        q.has_sampling_interval = p->has_sampling_interval;
        q.sampling_interval = p->sampling_interval;
        q.has_stack_depth = p->has_stack_depth;
        q.stack_depth = p->stack_depth;
        q.has_include_objects_collected_by_major_gc = p->has_include_objects_collected_by_major_gc;
        q.include_objects_collected_by_major_gc = p->include_objects_collected_by_major_gc;
        q.has_include_objects_collected_by_minor_gc = p->has_include_objects_collected_by_minor_gc;
        q.include_objects_collected_by_minor_gc = p->include_objects_collected_by_minor_gc;
    }
    json_t *params;
    int rc = encoded(c, cdp_heap_profiler_start_sampling_params_encode(&q), &params);
    if (rc < 0)
        return rc;
    return hs_cl_call(c, mname(CDP_M_HEAP_PROFILER_START_SAMPLING), params, NULL, NULL);
}

/* ---- Sampling profiles: generated structs moved into the public mirror ---------------- */

static char *take(char **s)
{
    char *v = *s;
    *s = NULL;
    return v;
}

static void call_frame_free(hs_call_frame *f)
{
    free(f->function_name);
    free(f->script_id);
    free(f->url);
}

static void node_free(hs_sampling_node *n)
{
    for (size_t i = 0; i < n->children_count; i++)
        node_free(&n->children[i]);
    free(n->children);
    call_frame_free(&n->call_frame);
    memset(n, 0, sizeof *n);
}

HS_API void hs_sampling_profile_free(hs_sampling_profile *p)
{
    if (!p)
        return;
    node_free(&p->head);
    free(p->samples);
    memset(p, 0, sizeof *p);
}

/* Moves what src owns into dst; src is left for its _free to release the rest. */
static int move_node(cdp_heap_profiler_sampling_heap_profile_node *src, hs_sampling_node *dst)
{
    dst->call_frame.function_name = take(&src->call_frame.function_name);
    dst->call_frame.script_id = take(&src->call_frame.script_id);
    dst->call_frame.url = take(&src->call_frame.url);
    dst->call_frame.line_number = src->call_frame.line_number;
    dst->call_frame.column_number = src->call_frame.column_number;
    dst->self_size = src->self_size;
    dst->id = src->id;
    if (src->children_count == 0)
        return 0;
    dst->children = calloc(src->children_count, sizeof *dst->children);
    if (!dst->children)
        return -1;
    dst->children_count = src->children_count;
    for (size_t i = 0; i < src->children_count; i++)
        if (move_node(&src->children[i], &dst->children[i]) < 0)
            return -1;
    return 0;
}

static int move_profile(hs_client *c, cdp_heap_profiler_sampling_heap_profile *src,
                        hs_sampling_profile *dst)
{
    if (move_node(&src->head, &dst->head) < 0)
        goto oom;
    if (src->samples_count > 0) {
        dst->samples = calloc(src->samples_count, sizeof *dst->samples);
        if (!dst->samples)
            goto oom;
        dst->samples_count = src->samples_count;
        for (size_t i = 0; i < src->samples_count; i++) {
            dst->samples[i].size = src->samples[i].size;
            dst->samples[i].node_id = src->samples[i].node_id;
            dst->samples[i].ordinal = src->samples[i].ordinal;
        }
    }
    return 0;
oom:
    hs_sampling_profile_free(dst);
    return hs_cl_fail(c, HS_E_NOMEM, "out of memory");
}

HS_API int hs_hp_stop_sampling(hs_client *c, hs_sampling_profile *out)
{
    if (!c || !out)
        return HS_E_INVAL;
    memset(out, 0, sizeof *out);
    const char *m = mname(CDP_M_HEAP_PROFILER_STOP_SAMPLING);
    json_t *result;
    int rc = hs_cl_call(c, m, NULL, &result, NULL);
    if (rc < 0)
        return rc;
    cdp_heap_profiler_stop_sampling_returns r = {0};
    cdp_error err;
    if (cdp_heap_profiler_stop_sampling_returns_decode(result, &r, &err) < 0)
        rc = hs_cl_bad_result(c, m, &err);
    else
        rc = move_profile(c, &r.profile, out);
    cdp_heap_profiler_stop_sampling_returns_free(&r);
    json_decref(result);
    return rc;
}

HS_API int hs_hp_get_sampling_profile(hs_client *c, hs_sampling_profile *out)
{
    if (!c || !out)
        return HS_E_INVAL;
    memset(out, 0, sizeof *out);
    const char *m = mname(CDP_M_HEAP_PROFILER_GET_SAMPLING_PROFILE);
    json_t *result;
    int rc = hs_cl_call(c, m, NULL, &result, NULL);
    if (rc < 0)
        return rc;
    cdp_heap_profiler_get_sampling_profile_returns r = {0};
    cdp_error err;
    if (cdp_heap_profiler_get_sampling_profile_returns_decode(result, &r, &err) < 0)
        rc = hs_cl_bad_result(c, m, &err);
    else
        rc = move_profile(c, &r.profile, out);
    cdp_heap_profiler_get_sampling_profile_returns_free(&r);
    json_decref(result);
    return rc;
}

/* ---- Tracking and snapshots ------------------------------------------------------------ */

HS_API int hs_hp_start_tracking_heap_objects(hs_client *c, const hs_start_tracking_params *p)
{
    if (!c)
        return HS_E_INVAL;
    cdp_heap_profiler_start_tracking_heap_objects_params q = {0};
    if (p) {
        q.has_track_allocations = p->has_track_allocations;
        q.track_allocations = p->track_allocations;
    }
    json_t *params;
    int rc = encoded(c, cdp_heap_profiler_start_tracking_heap_objects_params_encode(&q), &params);
    if (rc < 0)
        return rc;
    return hs_cl_call(c, mname(CDP_M_HEAP_PROFILER_START_TRACKING_HEAP_OBJECTS), params, NULL,
                      NULL);
}

/* takeHeapSnapshot and stopTrackingHeapObjects have the same parameters. */
#define HS_SNAPSHOT_PARAMS(q, p)                                                                   \
    do {                                                                                           \
        if (p) {                                                                                   \
            (q).has_report_progress = (p)->has_report_progress;                                    \
            (q).report_progress = (p)->report_progress;                                            \
            (q).has_treat_global_objects_as_roots = (p)->has_treat_global_objects_as_roots;        \
            (q).treat_global_objects_as_roots = (p)->treat_global_objects_as_roots;                \
            (q).has_capture_numeric_value = (p)->has_capture_numeric_value;                        \
            (q).capture_numeric_value = (p)->capture_numeric_value;                                \
            (q).has_expose_internals = (p)->has_expose_internals;                                  \
            (q).expose_internals = (p)->expose_internals;                                          \
        }                                                                                          \
    } while (0)

HS_API int hs_hp_take_heap_snapshot(hs_client *c, const hs_snapshot_params *p,
                                    const hs_snapshot_sink *sink)
{
    if (!c)
        return HS_E_INVAL;
    cdp_heap_profiler_take_heap_snapshot_params q = {0};
    HS_SNAPSHOT_PARAMS(q, p);
    json_t *params;
    int rc = encoded(c, cdp_heap_profiler_take_heap_snapshot_params_encode(&q), &params);
    if (rc < 0)
        return rc;
    return hs_cl_call(c, mname(CDP_M_HEAP_PROFILER_TAKE_HEAP_SNAPSHOT), params, NULL, sink);
}

HS_API int hs_hp_stop_tracking_heap_objects(hs_client *c, const hs_snapshot_params *p,
                                            const hs_snapshot_sink *sink)
{
    if (!c)
        return HS_E_INVAL;
    cdp_heap_profiler_stop_tracking_heap_objects_params q = {0};
    HS_SNAPSHOT_PARAMS(q, p);
    json_t *params;
    int rc = encoded(c, cdp_heap_profiler_stop_tracking_heap_objects_params_encode(&q), &params);
    if (rc < 0)
        return rc;
    return hs_cl_call(c, mname(CDP_M_HEAP_PROFILER_STOP_TRACKING_HEAP_OBJECTS), params, NULL, sink);
}

/* ---- Object ids -------------------------------------------------------------------------- */

HS_API int hs_hp_get_heap_object_id(hs_client *c, const char *object_id, char **heap_object_id)
{
    if (!c || !heap_object_id)
        return HS_E_INVAL;
    *heap_object_id = NULL;
    if (!object_id)
        return hs_cl_fail(c, HS_E_INVAL, "no object id given");
    const char *m = mname(CDP_M_HEAP_PROFILER_GET_HEAP_OBJECT_ID);
    cdp_heap_profiler_get_heap_object_id_params q = {.object_id = (char *)object_id};
    json_t *params;
    int rc = encoded(c, cdp_heap_profiler_get_heap_object_id_params_encode(&q), &params);
    if (rc < 0)
        return rc;
    json_t *result;
    if ((rc = hs_cl_call(c, m, params, &result, NULL)) < 0)
        return rc;
    cdp_heap_profiler_get_heap_object_id_returns r = {0};
    cdp_error err;
    if (cdp_heap_profiler_get_heap_object_id_returns_decode(result, &r, &err) < 0)
        rc = hs_cl_bad_result(c, m, &err);
    else
        *heap_object_id = take(&r.heap_snapshot_object_id);
    cdp_heap_profiler_get_heap_object_id_returns_free(&r);
    json_decref(result);
    return rc;
}

HS_API void hs_remote_object_free(hs_remote_object *o)
{
    if (!o)
        return;
    free(o->type);
    free(o->subtype);
    free(o->class_name);
    free(o->value_json);
    free(o->unserializable_value);
    free(o->description);
    free(o->object_id);
    memset(o, 0, sizeof *o);
}

static int move_remote_object(hs_client *c, cdp_runtime_remote_object *src, hs_remote_object *dst)
{
    dst->type = take(&src->type);
    dst->subtype = take(&src->subtype);
    dst->class_name = take(&src->class_name);
    dst->unserializable_value = take(&src->unserializable_value);
    dst->description = take(&src->description);
    dst->object_id = take(&src->object_id);
    if (src->value) {
        dst->value_json = json_dumps(src->value, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!dst->value_json) {
            hs_remote_object_free(dst);
            return hs_cl_fail(c, HS_E_NOMEM, "out of memory");
        }
    }
    return 0;
}

HS_API int hs_hp_get_object_by_heap_object_id(hs_client *c, const char *heap_object_id,
                                              const char *object_group, hs_remote_object *out)
{
    if (!c || !out)
        return HS_E_INVAL;
    memset(out, 0, sizeof *out);
    if (!heap_object_id)
        return hs_cl_fail(c, HS_E_INVAL, "no heap object id given");
    const char *m = mname(CDP_M_HEAP_PROFILER_GET_OBJECT_BY_HEAP_OBJECT_ID);
    cdp_heap_profiler_get_object_by_heap_object_id_params q = {
        .object_id = (char *)heap_object_id,
        .has_object_group = object_group != NULL,
        .object_group = (char *)object_group,
    };
    json_t *params;
    int rc = encoded(c, cdp_heap_profiler_get_object_by_heap_object_id_params_encode(&q), &params);
    if (rc < 0)
        return rc;
    json_t *result;
    if ((rc = hs_cl_call(c, m, params, &result, NULL)) < 0)
        return rc;
    cdp_heap_profiler_get_object_by_heap_object_id_returns r = {0};
    cdp_error err;
    if (cdp_heap_profiler_get_object_by_heap_object_id_returns_decode(result, &r, &err) < 0)
        rc = hs_cl_bad_result(c, m, &err);
    else
        rc = move_remote_object(c, &r.result, out);
    cdp_heap_profiler_get_object_by_heap_object_id_returns_free(&r);
    json_decref(result);
    return rc;
}

HS_API int hs_hp_add_inspected_heap_object(hs_client *c, const char *heap_object_id)
{
    if (!c)
        return HS_E_INVAL;
    if (!heap_object_id)
        return hs_cl_fail(c, HS_E_INVAL, "no heap object id given");
    cdp_heap_profiler_add_inspected_heap_object_params q = {.heap_object_id =
                                                                (char *)heap_object_id};
    json_t *params;
    int rc = encoded(c, cdp_heap_profiler_add_inspected_heap_object_params_encode(&q), &params);
    if (rc < 0)
        return rc;
    return hs_cl_call(c, mname(CDP_M_HEAP_PROFILER_ADD_INSPECTED_HEAP_OBJECT), params, NULL, NULL);
}
