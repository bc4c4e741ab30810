/*
 * runtime.c — the Runtime domain for native values (docs/design/inspection.md):
 * one execution context (the process), evaluate of the expression language
 * (expr.c), getProperties of blocks and globals (values.c), the objects'
 * release, the console's "Store as global variable", and what DevTools asks
 * of any target: getIsolateId, getHeapUsage, runIfWaitingForDebugger.
 *
 * An expression that does not evaluate is an exception result (as V8
 * reports a throwing script), never a JSON-RPC error and never a crash.
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../agent_int.h"
#include "../snapshot/snapshot.h"
#include "cdp_gen.h"
#include "domain.h"
#include "heapscope/hs_agent.h"
#include "inspect.h"

#define NO_CONTEXT "Cannot find context with specified id"

/* The console's stored values (temp1, temp2, …): the process's, as V8's
 * are the global object's, whichever session stored them. */
#define TEMPS_MAX 256
static char temp_names[TEMPS_MAX][16];
static const char *temp_name_ptrs[TEMPS_MAX];
static hs_val temps[TEMPS_MAX];
static size_t ntemps;
static int exception_ids;

/* ---- the execution context ------------------------------------------------------- */

/* The context's uniqueId: "<isolate>.<n>", as V8 shapes them. */
static void context_unique(char *out, size_t size)
{
    snprintf(out, size, "%" PRIu64 ".%" PRIu64, hs__objects_isolate(),
             hs__objects_isolate() ^ (uint64_t)0x5bd1e9955bd1e995u);
}

static json_t *context_description(void)
{
    char name[64], comm[32] = "", unique[64];
    FILE *f = fopen("/proc/self/comm", "re");
    if (f) {
        if (fgets(comm, sizeof(comm), f))
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
    }
    snprintf(name, sizeof(name), "%s[%d]", comm[0] ? comm : "process", (int)getpid());
    context_unique(unique, sizeof(unique));
    return json_pack("{si ss ss ss s{sb}}", "id", HS_CONTEXT_ID, "origin", "", "name", name,
                     "uniqueId", unique, "auxData", "isDefault", 1);
}

static void rt_enable(hs_call *c, const json_t *params)
{
    (void)params;
    hs_cdp_session *s = hs__call_session(c);
    if (!s->runtime_enabled) {
        s->runtime_enabled = true;
        hs__session_event(s, "Runtime.executionContextCreated",
                          json_pack("{so}", "context", context_description()));
    }
    hs__call_done(c);
}

static void rt_disable(hs_call *c, const json_t *params)
{
    (void)params;
    hs__call_session(c)->runtime_enabled = false;
    hs__call_done(c);
}

/* A context named in params (contextId or executionContextId: key, and
 * uniqueContextId, which DevTools sends once it knows it) that is not ours. */
static bool other_context(const json_t *params, const char *key)
{
    const json_t *id = json_object_get(params, key);
    const char *unique = json_string_value(json_object_get(params, "uniqueContextId"));
    char ours[64];
    context_unique(ours, sizeof(ours));
    return (id && json_number_value(id) != HS_CONTEXT_ID) || (unique && strcmp(unique, ours));
}

/* ---- evaluate ---------------------------------------------------------------------- */

struct env_ctx {
    hs_inspect *ix;
    hs_cdp_session *s;
};

/* A value kept from earlier ($0, $_, tempN): a block must still be live. */
static int held(hs_val v, const char *name, size_t len, hs_val *out, char *err, size_t errlen)
{
    if (!hs__val_live(&v)) {
        snprintf(err, errlen, "Error: %.*s was freed (it was block %" PRIu32 " at 0x%" PRIxPTR ")",
                 (int)len, name, v.id, v.base);
        return -1;
    }
    *out = v;
    return 0;
}

static int env_name(void *ud, const char *name, size_t len, int amp, hs_val *out, char *err,
                    size_t errlen)
{
    struct env_ctx *e = ud;
    memset(out, 0, sizeof(*out));
    bool var = name[0] == '$' || (len == 4 && !memcmp(name, "this", 4)) ||
               (len == 10 && !memcmp(name, "globalThis", 10));
    for (size_t i = 0; i < ntemps && !var; i++)
        var = strlen(temp_names[i]) == len && !memcmp(temp_names[i], name, len);
    if (var && amp) {
        snprintf(err, errlen, "TypeError: & takes the name of a global variable, not %.*s",
                 (int)(len > 64 ? 64 : len), name);
        return -1;
    }
    if (len == 2 && name[0] == '$' && name[1] >= '0' && name[1] < '0' + HS_INSPECTED_MAX)
        return held(e->s->inspected[name[1] - '0'], name, len, out, err, errlen);
    if (len == 2 && !memcmp(name, "$_", 2))
        return held(e->s->last, name, len, out, err, errlen);
    if ((len == 4 && !memcmp(name, "this", 4)) || (len == 10 && !memcmp(name, "globalThis", 10))) {
        out->kind = HS_VAL_PROCESS;
        return 0;
    }
    for (size_t i = 0; i < ntemps; i++)
        if (strlen(temp_names[i]) == len && !memcmp(temp_names[i], name, len))
            return held(temps[i], name, len, out, err, errlen);
    struct hs_globals *g = hs__inspect_globals(e->ix);
    uintptr_t addr;
    uint64_t size;
    if (name[0] != '$' && g && hs__globals_find(g, name, len, &addr, &size)) {
        if (amp) {
            out->kind = HS_VAL_GLOBAL;
            out->addr = out->base = addr;
            out->size = size;
            return 0;
        }
        return hs__val_of_global(e->ix, addr, size, out, err, errlen);
    }
    snprintf(err, errlen, "ReferenceError: %.*s is not defined", (int)(len > 200 ? 200 : len),
             name);
    return -1;
}

static int env_read(void *ud, uintptr_t addr, uint64_t *word, char *err, size_t errlen)
{
    (void)ud;
    if (hs__mem_read(addr, word, 8) == 8)
        return 0;
    snprintf(err, errlen, "Error: cannot read memory at 0x%" PRIxPTR, addr);
    return -1;
}

static void env_word(void *ud, uint64_t w, hs_val *out)
{
    struct env_ctx *e = ud;
    hs__val_of_word(e->ix, w, out);
}

/* V8's shape of a thrown error: an error object and the details. */
static json_t *exception_result(const char *text, size_t col)
{
    char cls[32] = "Error";
    const char *colon = strchr(text, ':');
    if (colon && (size_t)(colon - text) < sizeof(cls))
        snprintf(cls, sizeof(cls), "%.*s", (int)(colon - text), text);
    json_t *ex = json_pack("{ss ss ss ss}", "type", "object", "subtype", "error", "className", cls,
                           "description", text);
    json_t *exc = json_deep_copy(ex);
    return json_pack("{so s{si ss si si ss so}}", "result", ex, "exceptionDetails", "exceptionId",
                     ++exception_ids, "text", "Uncaught", "lineNumber", 0, "columnNumber", (int)col,
                     "scriptId", "0", "exception", exc);
}

/* params.expression evaluated in s's view of the process (ix: open until
 * the caller ends it). 0 and *v, or -1 with the error and its column. */
static int eval_param(hs_cdp_session *s, const json_t *params, hs_inspect *ix, hs_val *v, char *err,
                      size_t errlen, size_t *col)
{
    const json_t *e = json_object_get(params, "expression");
    struct env_ctx ctx = {ix, s};
    hs_expr_env env = {&ctx, env_name, env_read, env_word};
    const char *src = json_string_value(e);
    return hs__expr_eval(src ? src : "", json_string_length(e), &env, v, err, errlen, col);
}

static void rt_evaluate(hs_call *c, const json_t *params)
{
    hs_cdp_session *s = hs__call_session(c);
    if (other_context(params, "contextId")) {
        hs__call_error(c, -32000, NO_CONTEXT);
        return;
    }
    const char *group = json_string_value(json_object_get(params, "objectGroup"));
    hs_inspect ix = {0};
    hs_val v;
    char err[300];
    size_t col = 0;
    json_t *result;
    if (eval_param(s, params, &ix, &v, err, sizeof(err), &col) < 0) {
        result = exception_result(err, col);
    } else {
        const char *msg = "Internal error";
        json_t *ro = hs__val_remote(&ix, s, group, &v, &msg);
        if (!ro) {
            hs__inspect_end(&ix);
            hs__call_error(c, -32000, msg);
            return;
        }
        s->last = v;
        result = json_pack("{so}", "result", ro);
    }
    hs__inspect_end(&ix);
    hs__call_ok(c, result);
}

/* The console asks whether a line is complete before running it: a syntax
 * error (above all "Unexpected end of input", which makes Enter start a new
 * line) is reported as V8 reports it; the expression is not kept. */
static void rt_compile_script(hs_call *c, const json_t *params)
{
    if (other_context(params, "executionContextId")) {
        hs__call_error(c, -32000, NO_CONTEXT);
        return;
    }
    hs_inspect ix = {0};
    hs_val v;
    char err[300];
    size_t col = 0;
    int rc = eval_param(hs__call_session(c), params, &ix, &v, err, sizeof(err), &col);
    hs__inspect_end(&ix);
    if (rc < 0 && !strncmp(err, "SyntaxError", 11)) {
        json_t *ex = exception_result(err, col);
        hs__call_ok(c,
                    json_pack("{sO}", "exceptionDetails", json_object_get(ex, "exceptionDetails")));
        json_decref(ex);
        return;
    }
    hs__call_done(c);
}

/* ---- objects ------------------------------------------------------------------------ */

static void rt_get_properties(hs_call *c, const json_t *params)
{
    hs_cdp_session *s = hs__call_session(c);
    const char *id = json_string_value(json_object_get(params, "objectId"));
    const char *msg = NULL, *group = NULL;
    hs_val v;
    /* What the slots point at joins the object's group. */
    if (hs__objects_get(s, id, &v, &group, &msg) < 0) {
        hs__call_error(c, -32000, msg);
        return;
    }
    /* Slots are data properties: there are no accessors. */
    if (hs__flag(params, "accessorPropertiesOnly")) {
        hs__call_ok(c, json_pack("{s[]}", "result"));
        return;
    }
    hs_inspect ix = {0};
    json_t *r = hs__val_properties(&ix, s, group, &v, temp_name_ptrs, temps, ntemps, &msg);
    hs__inspect_end(&ix);
    /* Completion asks for names only: slots are named by their offsets. */
    json_t *list = json_object_get(r, "result");
    for (size_t i = json_array_size(list);
         hs__flag(params, "nonIndexedPropertiesOnly") && i-- > 0;) {
        const char *n = json_string_value(json_object_get(json_array_get(list, i), "name"));
        if (n && n[0] >= '0' && n[0] <= '9' && strspn(n, "0123456789") == strlen(n))
            json_array_remove(list, i);
    }
    if (r)
        hs__call_ok(c, r);
    else
        hs__call_error(c, -32000, msg ? msg : "Internal error");
}

static void rt_release_object(hs_call *c, const json_t *params)
{
    hs_cdp_session *s = hs__call_session(c);
    const char *id = json_string_value(json_object_get(params, "objectId"));
    const char *msg = NULL;
    if (hs__objects_release(s, id, &msg) < 0)
        hs__call_error(c, -32000, msg);
    else
        hs__call_done(c);
}

static void rt_release_object_group(hs_call *c, const json_t *params)
{
    hs__objects_release_group(hs__call_session(c),
                              json_string_value(json_object_get(params, "objectGroup")));
    hs__call_done(c);
}

/* heapscope runs no JavaScript. The one function DevTools calls that has a
 * native meaning is the console's "Store as global variable"
 * (ConsoleModel.saveToTempVariable): called on the global object with the
 * value to store, it picks the first free name temp<N> and returns it. */
static bool is_save_to_temp(const char *decl)
{
    return decl && strstr(decl, "temp") && strstr(decl, "in this");
}

static void rt_call_function_on(hs_call *c, const json_t *params)
{
    hs_cdp_session *s = hs__call_session(c);
    const char *decl = json_string_value(json_object_get(params, "functionDeclaration"));
    const char *id = json_string_value(json_object_get(params, "objectId"));
    const char *msg = NULL;
    hs_val self = {.kind = HS_VAL_PROCESS};
    if (!id && !json_object_get(params, "executionContextId") &&
        !json_object_get(params, "uniqueContextId")) {
        hs__call_error(
            c, -32000,
            "Either ObjectId or executionContextId or uniqueContextId must be specified");
        return;
    }
    if (id ? hs__objects_get(s, id, &self, NULL, &msg) < 0
           : other_context(params, "executionContextId")) {
        hs__call_error(c, -32000, id ? msg : NO_CONTEXT);
        return;
    }
    const json_t *args = json_object_get(params, "arguments");
    const json_t *arg0 = json_array_get(args, 0);
    const char *arg_id = json_string_value(json_object_get(arg0, "objectId"));
    const json_t *arg_num = json_object_get(arg0, "value");
    hs_val arg = {.kind = HS_VAL_NUM};
    /* A primitive comes by value: a number (a slot's word) is stored as one. */
    bool have = arg_id ? hs__objects_get(s, arg_id, &arg, NULL, &msg) == 0 && hs__val_live(&arg)
                       : json_is_number(arg_num) && json_number_value(arg_num) >= 0 &&
                             json_number_value(arg_num) < 18446744073709551616.0;
    if (!arg_id && have)
        arg.num = (uint64_t)json_number_value(arg_num);
    if (is_save_to_temp(decl) && self.kind == HS_VAL_PROCESS && json_array_size(args) == 1 &&
        have) {
        if (ntemps == TEMPS_MAX) {
            hs__call_ok(c, exception_result("RangeError: at most 256 values can be stored", 0));
            return;
        }
        snprintf(temp_names[ntemps], sizeof(temp_names[ntemps]), "temp%zu", ntemps + 1);
        temp_name_ptrs[ntemps] = temp_names[ntemps];
        temps[ntemps] = arg;
        hs__call_ok(
            c, json_pack("{s{ss ss}}", "result", "type", "string", "value", temp_names[ntemps++]));
        return;
    }
    hs__call_ok(c, exception_result("EvalError: heapscope runs no JavaScript: functions cannot be "
                                    "called on a native process",
                                    0));
}

/* No lexical declarations in a native program. */
static void rt_global_lexical_scope_names(hs_call *c, const json_t *params)
{
    if (other_context(params, "executionContextId")) {
        hs__call_error(c, -32000, NO_CONTEXT);
        return;
    }
    hs__call_ok(c, json_pack("{s[]}", "names"));
}

/* ---- the rest of what DevTools asks ---------------------------------------------- */

static void rt_run_if_waiting(hs_call *c, const json_t *params)
{
    (void)params;
    hs__service_release_wait();
    hs__call_done(c);
}

/* One process, one heap: the target id names it. */
static void rt_get_isolate_id(hs_call *c, const json_t *params)
{
    (void)params;
    hs__call_ok(c, json_pack("{ss}", "id", hs__service_target_id()));
}

/* usedSize: bytes the program's live blocks hold (requested sizes).
 * totalSize: what the allocator holds from the system (glibc's arenas and
 * mmapped chunks), never less than usedSize (another allocator under us
 * reports nothing to mallinfo2). */
static void rt_get_heap_usage(hs_call *c, const json_t *params)
{
    (void)params;
    hs_agent_stats st;
    hs_agent_get_stats(&st);
    struct mallinfo2 mi = mallinfo2();
    /* Sampling-only mode keeps no registry: glibc's count of bytes in use
     * (chunk sizes, a little above the requested ones) stands in. */
    double used = hs__registry_on ? (double)st.live_bytes : (double)mi.uordblks + (double)mi.hblkhd;
    double total = (double)mi.arena + (double)mi.hblkhd;
    if (total < used)
        total = used;
    /* No embedder heap and no backing stores in a native program. */
    cdp_runtime_get_heap_usage_returns r = {.used_size = used,
                                            .total_size = total,
                                            .has_embedder_heap_used_size = true,
                                            .has_backing_storage_size = true,
                                            .backing_storage_size = 0};
    hs__call_ok(c, cdp_runtime_get_heap_usage_returns_encode(&r));
}

const hs_handler hs__runtime_handlers[] = {
    {"Runtime.enable", rt_enable},
    {"Runtime.disable", rt_disable},
    {"Runtime.evaluate", rt_evaluate},
    {"Runtime.getProperties", rt_get_properties},
    {"Runtime.releaseObject", rt_release_object},
    {"Runtime.releaseObjectGroup", rt_release_object_group},
    {"Runtime.callFunctionOn", rt_call_function_on},
    {"Runtime.globalLexicalScopeNames", rt_global_lexical_scope_names},
    {"Runtime.compileScript", rt_compile_script},
    {"Runtime.runIfWaitingForDebugger", rt_run_if_waiting},
    {"Runtime.getIsolateId", rt_get_isolate_id},
    {"Runtime.getHeapUsage", rt_get_heap_usage},
    {NULL, NULL},
};
