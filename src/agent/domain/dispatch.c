/*
 * dispatch.c — CDP sessions on the service thread: a WebSocket message in,
 * a reply (and events) out. It owns the JSON-RPC rules as V8 applies them
 * (framing errors, -32601 for what is not served, -32602 for bad params
 * before any handler runs) and the life of sessions and calls; the meaning of
 * each method is the domain files'.
 *
 * Errors raised by handlers become JSON-RPC errors here and nowhere else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../agent_int.h"
#include "cdp_gen.h"
#include "cdp_msg.h"
#include "domain.h"
#include "inspect.h"

/* Replies carry no sessionId: V8 accepts one on a flat connection and
 * answers without it (golden malformed-per-connection: {"id":12,"result":{}}). */
struct hs_call {
    hs_cdp_session *s;
    int64_t id;
};

static void session_free_if_done(hs_cdp_session *s)
{
    if (s->closed && s->calls_pending == 0)
        free(s);
}

/* A message that could not be built (text NULL: out of memory) or queued
 * for want of memory would be lost without a word, and a client waiting for
 * its reply would wait for ever: the session ends instead (1011, an internal
 * error), so that the client sees an end. */
static void send_text(hs_cdp_session *s, char *text, size_t len)
{
    if (s && !s->closed && (!text || hs_session_send_text(s->ws, text, len) == -ENOMEM))
        hs_session_close(s->ws, 1011, "a message could not be sent");
    free(text);
}

/* ---- sessions ------------------------------------------------------------------ */

void hs__domain_session_open(void *ud, hs_session *ws)
{
    (void)ud;
    hs_cdp_session *s = calloc(1, sizeof(*s));
    if (!s) {
        hs_session_close(ws, 1011, "out of memory");
        return;
    }
    s->ws = ws;
    hs_session_set_user(ws, s);
}

void hs__domain_session_closed(void *ud, hs_session *ws)
{
    (void)ud;
    hs_cdp_session *s = hs_session_user(ws);
    if (!s)
        return;
    s->closed = true;
    s->ws = NULL;
    hs_session_set_user(ws, NULL);
    hs__timeline_session_closed(s);
    hs__objects_session_closed(s);
    session_free_if_done(s);
}

void hs__session_event(hs_cdp_session *s, const char *method, json_t *params)
{
    if (!s || s->closed) {
        json_decref(params);
        return;
    }
    size_t len = 0;
    char *text = cdp_format_event(method, params, NULL, &len);
    send_text(s, text, len);
}

void hs__session_string_event(hs_cdp_session *s, const char *method, const char *param,
                              const char *text, size_t n)
{
    if (!s || s->closed)
        return;
    size_t len = 0;
    char *out = cdp_format_string_event(method, param, text, n, &len);
    send_text(s, out, len);
}

/* ---- calls -------------------------------------------------------------------- */

static void call_finish(hs_call *c, char *text, size_t len)
{
    hs_cdp_session *s = c->s;
    send_text(s, text, len);
    s->calls_pending--;
    free(c);
    session_free_if_done(s);
}

hs_cdp_session *hs__call_session(hs_call *c)
{
    return c->s;
}

static void call_result(hs_call *c, json_t *result)
{
    size_t len = 0;
    char *text = cdp_format_result(c->id, result, NULL, &len);
    call_finish(c, text, len);
}

void hs__call_ok(hs_call *c, json_t *result)
{
    if (result)
        call_result(c, result);
    else
        hs__call_error(c, -32000, "Out of memory");
}

void hs__call_done(hs_call *c)
{
    call_result(c, NULL);
}

static void call_error_full(hs_call *c, const cdp_error *err)
{
    size_t len = 0;
    char *text = cdp_format_error(true, c->id, err, NULL, &len);
    call_finish(c, text, len);
}

void hs__call_error(hs_call *c, int code, const char *message)
{
    cdp_error err;
    cdp_error_set(&err, code, message, NULL);
    call_error_full(c, &err);
}

/* ---- dispatch ------------------------------------------------------------------- */

static hs_handler_fn find_handler(const char *method)
{
    const hs_handler *tables[] = {hs__heap_profiler_handlers, hs__timeline_handlers,
                                  hs__runtime_handlers, hs__attach_handlers};
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
        for (const hs_handler *h = tables[t]; h->method; h++)
            if (!strcmp(h->method, method))
                return h->fn;
    return NULL;
}

void hs__call_error_no_registry(hs_call *c, const char *method)
{
    char msg[200];
    snprintf(msg, sizeof(msg),
             "%s needs the live-block registry, which is off in sampling-only mode "
             "(HEAPSCOPE_MODE=sample)",
             method);
    hs__call_error(c, -32000, msg);
}

void hs__domain_session_message(void *ud, hs_session *ws, const char *text, size_t len)
{
    (void)ud;
    hs_cdp_session *s = hs_session_user(ws);
    if (!s)
        return;
    cdp_request req;
    cdp_error err;
    bool has_id = false;
    int64_t rid = 0;
    if (cdp_request_parse(text, len, &req, &err, &has_id, &rid) < 0) {
        size_t olen = 0;
        char *out = cdp_format_error(has_id, rid, &err, NULL, &olen);
        send_text(s, out, olen);
        return;
    }
    hs_call *c = calloc(1, sizeof(*c));
    if (!c) {
        cdp_error_set(&err, -32603, "Internal error", NULL);
        size_t olen = 0;
        char *out = cdp_format_error(true, req.id, &err, NULL, &olen);
        send_text(s, out, olen);
        cdp_request_release(&req);
        return;
    }
    c->s = s;
    c->id = req.id;
    s->calls_pending++;

    const cdp_method_desc *d = cdp_method_find(req.method);
    hs_handler_fn fn = find_handler(req.method);
    if (!fn) {
        cdp_error_method_not_found(&err, req.method);
        call_error_full(c, &err);
    } else if (d && cdp_method_check_params(d->id, req.params, &err) < 0) {
        /* V8 deserialises a known command's params before running it: bad
         * params are a -32602 even for a command that would then fail. */
        call_error_full(c, &err);
    } else {
        fn(c, req.params);
    }
    cdp_request_release(&req);
}
