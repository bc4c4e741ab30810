/*
 * client_session.c — the client object and its WebSocket session: the upgrade
 * handshake, wslay in client mode over our non-blocking socket, the call loop
 * (send a request, read until its answer, dispatching events in arrival order),
 * events, time-outs, and the generic hs_client_call. JSON-RPC framing and event
 * decoding are the protocol layer's (cdp_msg.h, cdp_gen.h); HTTP is
 * client_http.c's; the typed HeapProfiler calls are client_hp.c's.
 */
#include <errno.h>
#include <nettle/base64.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cdp_gen.h"
#include "client_int.h"
#include "hs_ws.h"

/* ---- The client object ------------------------------------------------------------------- */

HS_API int hs_client_new(const hs_client_options *opt, hs_client **out)
{
    if (!out)
        return HS_E_INVAL;
    hs_client *c = calloc(1, sizeof *c);
    if (!c)
        return HS_E_NOMEM;
    if (opt)
        c->opt = *opt;
    if (c->opt.connect_timeout_ms <= 0)
        c->opt.connect_timeout_ms = HS_CLIENT_DEFAULT_CONNECT_MS;
    if (c->opt.call_timeout_ms <= 0)
        c->opt.call_timeout_ms = HS_CLIENT_DEFAULT_CALL_MS;
    c->fd = -1;
    *out = c;
    return 0;
}

void hs_cl_teardown(hs_client *c)
{
    if (c->ws)
        wslay_event_context_free(c->ws);
    c->ws = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->pre);
    c->pre = NULL;
    c->pre_len = c->pre_off = 0;
    free(c->ws_url);
    c->ws_url = NULL;
    c->fatal = 0;
    /* A call's answer (c->reply) is the call loop's to release: it may have
     * arrived just before the connection ended, and still counts. */
}

HS_API void hs_client_close(hs_client *c)
{
    if (!c || c->in_callback || c->fd < 0)
        return;
    /* Polite but bounded: queue the close frame and write it if the socket
     * takes it now; the target does not need our goodbye. */
    wslay_event_queue_close(c->ws, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
    wslay_event_send(c->ws);
    hs_cl_teardown(c);
}

HS_API void hs_client_free(hs_client *c)
{
    if (!c || c->in_callback)
        return;
    hs_client_close(c);
    hs_cl_teardown(c);
    free(c);
}

HS_API const char *hs_client_last_error(const hs_client *c)
{
    return c ? c->err : "no client";
}

HS_API const hs_remote_error *hs_client_remote_error(const hs_client *c)
{
    return c && c->has_remote ? &c->remote : NULL;
}

HS_API const char *hs_client_ws_url(const hs_client *c)
{
    return c && c->fd >= 0 ? c->ws_url : NULL;
}

HS_API void hs_client_set_events(hs_client *c, const hs_client_events *ev, void *ud)
{
    if (!c)
        return;
    if (ev)
        c->ev = *ev;
    else
        memset(&c->ev, 0, sizeof c->ev);
    c->ev_ud = ud;
}

/* Common start of every call on a session. */
static int begin(hs_client *c, bool need_session)
{
    if (c->in_callback)
        return hs_cl_fail(c, HS_E_STATE, "a client callback may not call its own client");
    c->err[0] = '\0';
    c->has_remote = false;
    if (need_session && c->fd < 0)
        return hs_cl_fail(c, HS_E_STATE, "not connected to a target");
    return 0;
}

/* ---- wslay glue -------------------------------------------------------------------------- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *ud)
{
    (void)flags;
    hs_client *c = ud;
    if (c->stop_reading || c->fatal) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (c->pre_off < c->pre_len) {
        size_t n = c->pre_len - c->pre_off;
        if (n > len)
            n = len;
        memcpy(buf, c->pre + c->pre_off, n);
        c->pre_off += n;
        return (ssize_t)n;
    }
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n > 0)
            return n;
        if (n == 0) {
            c->io_eof = true;
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
            return -1;
        }
        c->io_errno = errno;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *ud)
{
    (void)flags;
    hs_client *c = ud;
    for (;;) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
            return -1;
        }
        c->io_errno = errno;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
}

static int fill_random(uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* RFC 6455 §5.3: a fresh unpredictable masking key for every frame. */
static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    (void)ud;
    if (fill_random(buf, len) < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return 0;
}

/* Marks the session as unusable from inside a wslay callback; the loop that
 * called wslay tears it down when wslay returns. */
__attribute__((format(printf, 3, 4))) static void set_fatal(hs_client *c, int code, const char *fmt,
                                                            ...)
{
    if (c->fatal)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    c->fatal = code;
}

/* The start of a peer's text, safe to print. */
static void excerpt(const uint8_t *msg, size_t len, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < size; i++)
        out[n++] = msg[i] >= 0x20 && msg[i] < 0x7f ? (char)msg[i] : '?';
    if (len > n && n + 4 <= size) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

static void bad_event(hs_client *c, const char *method, const cdp_error *err)
{
    set_fatal(c, HS_E_BADREPLY, "the target sent a malformed %s event: %s%s%s", method,
              err->message, err->has_data ? ": " : "", err->has_data ? err->data : "");
}

static bool is_event(const char *method, int ev)
{
    return strcmp(method, cdp_event_names[ev]) == 0;
}

/* Typed decoding with the generated decoders, then the callbacks. */
static void dispatch_event(hs_client *c, const cdp_incoming *in)
{
    const char *m = in->method;
    cdp_error err;
    c->in_callback = true;
    if (is_event(m, CDP_EV_HEAP_PROFILER_ADD_HEAP_SNAPSHOT_CHUNK)) {
        cdp_heap_profiler_add_heap_snapshot_chunk_event ev = {0};
        if (cdp_heap_profiler_add_heap_snapshot_chunk_event_decode(in->params, &ev, &err) < 0) {
            bad_event(c, m, &err);
            goto out;
        }
        size_t len = strlen(ev.chunk);
        if (c->sink && c->sink->write && !c->sink_err &&
            c->sink->write(c->sink->ud, ev.chunk, len) != 0)
            c->sink_err = HS_E_ABORTED;
        if (c->ev.add_heap_snapshot_chunk)
            c->ev.add_heap_snapshot_chunk(c->ev_ud, ev.chunk, len);
        cdp_heap_profiler_add_heap_snapshot_chunk_event_free(&ev);
        c->activity = true;
    } else if (is_event(m, CDP_EV_HEAP_PROFILER_REPORT_HEAP_SNAPSHOT_PROGRESS)) {
        cdp_heap_profiler_report_heap_snapshot_progress_event ev = {0};
        if (cdp_heap_profiler_report_heap_snapshot_progress_event_decode(in->params, &ev, &err) <
            0) {
            bad_event(c, m, &err);
            goto out;
        }
        bool finished = ev.has_finished && ev.finished;
        if (c->sink && c->sink->progress)
            c->sink->progress(c->sink->ud, ev.done, ev.total, finished);
        if (c->ev.report_heap_snapshot_progress)
            c->ev.report_heap_snapshot_progress(c->ev_ud, ev.done, ev.total, finished);
        cdp_heap_profiler_report_heap_snapshot_progress_event_free(&ev);
        c->activity = true;
    } else if (is_event(m, CDP_EV_HEAP_PROFILER_HEAP_STATS_UPDATE)) {
        cdp_heap_profiler_heap_stats_update_event ev = {0};
        if (cdp_heap_profiler_heap_stats_update_event_decode(in->params, &ev, &err) < 0) {
            bad_event(c, m, &err);
            goto out;
        }
        if (c->ev.heap_stats_update)
            c->ev.heap_stats_update(c->ev_ud, ev.stats_update, ev.stats_update_count);
        cdp_heap_profiler_heap_stats_update_event_free(&ev);
    } else if (is_event(m, CDP_EV_HEAP_PROFILER_LAST_SEEN_OBJECT_ID)) {
        cdp_heap_profiler_last_seen_object_id_event ev = {0};
        if (cdp_heap_profiler_last_seen_object_id_event_decode(in->params, &ev, &err) < 0) {
            bad_event(c, m, &err);
            goto out;
        }
        if (c->ev.last_seen_object_id)
            c->ev.last_seen_object_id(c->ev_ud, ev.last_seen_object_id, ev.timestamp);
        cdp_heap_profiler_last_seen_object_id_event_free(&ev);
    } else if (is_event(m, CDP_EV_HEAP_PROFILER_RESET_PROFILES)) {
        if (c->ev.reset_profiles)
            c->ev.reset_profiles(c->ev_ud);
    }
    if (c->ev.any) {
        char *text = in->params ? json_dumps(in->params, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        c->ev.any(c->ev_ud, m, text ? text : "{}");
        free(text);
    }
out:
    c->in_callback = false;
}

/* addHeapSnapshotChunk without a JSON parse: a heap snapshot arrives as
 * hundreds of megabytes of these, and a general parser spends most of the
 * snapshot's time on them. Only the exact shape V8 and the agent send,
 * {"method":"HeapProfiler.addHeapSnapshotChunk","params":{"chunk":"…"}},
 * with escapes that decode to ASCII; anything else (a sessionId, other
 * members, \u escapes beyond ASCII) returns false and takes the general
 * path. */
static bool fast_chunk(hs_client *c, const char *msg, size_t len)
{
    static const char head[] =
        "{\"method\":\"HeapProfiler.addHeapSnapshotChunk\",\"params\":{\"chunk\":\"";
    static const char tail[] = "\"}}";
    size_t hl = sizeof(head) - 1, tl = sizeof(tail) - 1;
    if (c->ev.any || len < hl + tl || memcmp(msg, head, hl) || memcmp(msg + len - tl, tail, tl))
        return false;
    const char *p = msg + hl, *end = msg + len - tl;
    char *out = malloc((size_t)(end - p) + 1), *o = out;
    if (!out)
        return false;
    while (p < end) {
        const char *q = memchr(p, '\\', (size_t)(end - p));
        const char *stop = q ? q : end;
        for (const char *r = p; r < stop; r++)
            if (*r == '"' || (unsigned char)*r < 0x20 || (unsigned char)*r >= 0x80)
                goto slow; /* the string ends early, or raw bytes to check */
        memcpy(o, p, (size_t)(stop - p));
        o += stop - p;
        if (!q)
            break;
        if (q + 1 >= end)
            goto slow;
        switch (q[1]) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '/':
            *o++ = '/';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'u': {
            if (end - q < 6)
                goto slow;
            unsigned v = 0;
            for (int i = 2; i < 6; i++) {
                char h = q[i];
                v = v * 16 + (unsigned)(h >= '0' && h <= '9'   ? h - '0'
                                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                               : 99);
            }
            if (v == 0 || v >= 0x80) /* NUL, or more than ASCII: the general path */
                goto slow;
            *o++ = (char)v;
            p = q + 6;
            continue;
        }
        default:
            goto slow;
        }
        p = q + 2;
    }
    *o = '\0';
    c->in_callback = true;
    size_t n = (size_t)(o - out);
    if (c->sink && c->sink->write && !c->sink_err && c->sink->write(c->sink->ud, out, n) != 0)
        c->sink_err = HS_E_ABORTED;
    if (c->ev.add_heap_snapshot_chunk)
        c->ev.add_heap_snapshot_chunk(c->ev_ud, out, n);
    c->activity = true;
    c->in_callback = false;
    free(out);
    return true;
slow:
    free(out);
    return false;
}

static void ws_on_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                         void *ud)
{
    (void)ctx;
    hs_client *c = ud;
    if (c->fatal)
        return;
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        set_fatal(c, HS_E_BADREPLY, "the target sent a binary WebSocket message (CDP is text)");
        return;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME)
        return; /* ping, pong, close: wslay answers them */
    if (fast_chunk(c, (const char *)arg->msg, arg->msg_length)) {
        c->dispatched++;
        if (!c->waiting)
            c->stop_reading = true;
        return;
    }
    cdp_incoming in;
    cdp_error err;
    if (cdp_incoming_parse((const char *)arg->msg, arg->msg_length, &in, &err) < 0) {
        char ex[48];
        excerpt(arg->msg, arg->msg_length, ex, sizeof ex);
        set_fatal(c, HS_E_BADREPLY, "the target sent a message that is not CDP (%s): \"%s\"",
                  err.message, ex);
        return;
    }
    if (in.is_response) {
        if (c->waiting && !c->have_reply && in.id == c->wait_id) {
            c->reply = in;
            c->have_reply = true;
            c->stop_reading = true;
            return;
        }
        cdp_incoming_release(&in); /* the late answer to a call that timed out */
        return;
    }
    dispatch_event(c, &in);
    cdp_incoming_release(&in);
    c->dispatched++;
    if (!c->waiting)
        c->stop_reading = true;
}

/* ---- Connecting -------------------------------------------------------------------------- */

static bool has_token(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list; *p;) {
        p += strspn(p, " \t,");
        size_t k = strcspn(p, " \t,");
        if (k == n && !strncasecmp(p, token, n))
            return true;
        p += k;
    }
    return false;
}

int hs_cl_connect_ws(hs_client *c, const char *url, const hs_cl_addr *via)
{
    hs_cl_addr a;
    char *path = NULL, *req = NULL;
    int fd = -1, rc;
    hs_cl_http_resp r = {0};
    if ((rc = hs_cl_parse_ws_url(c, url, &a, &path)) < 0)
        return rc;
    if (via)
        a = *via;
    int64_t deadline = hs_cl_deadline(c->opt.connect_timeout_ms);
    if ((rc = hs_cl_tcp_connect(c, &a, deadline, &fd)) < 0)
        goto out;

    uint8_t nonce[16];
    char key[BASE64_ENCODE_RAW_LENGTH(sizeof nonce) + 1];
    if ((rc = fill_random(nonce, sizeof nonce)) < 0) {
        hs_cl_fail(c, rc, "getrandom: %s", strerror(-rc));
        goto out;
    }
    base64_encode_raw(key, sizeof nonce, nonce);
    key[sizeof key - 1] = '\0';
    char want[29];
    if (hs_ws_accept_key(key, want) < 0) {
        rc = hs_cl_fail(c, HS_E_NOMEM, "cannot compute Sec-WebSocket-Accept");
        goto out;
    }
    int n = asprintf(&req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path, a.host_header, key);
    if (n < 0) {
        req = NULL;
        rc = hs_cl_fail(c, HS_E_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = hs_cl_http_exchange(c, fd, req, (size_t)n, deadline, url, &r)) < 0)
        goto out;
    if (r.status != 101) {
        size_t show = strcspn(r.body, "\r\n");
        rc = hs_cl_fail(c, HS_E_HTTP, "%s: WebSocket upgrade refused: HTTP %d%s%.*s%s", url,
                        r.status, show ? " \"" : "", (int)(show > 120 ? 120 : show), r.body,
                        show ? "\"" : "");
        goto out;
    }
    if (strcasecmp(r.upgrade, "websocket") != 0 || !has_token(r.connection, "upgrade")) {
        rc = hs_cl_fail(c, HS_E_BADREPLY, "%s: the 101 answer does not upgrade to websocket", url);
        goto out;
    }
    if (strcmp(r.accept, want) != 0) {
        rc = hs_cl_fail(c, HS_E_BADREPLY,
                        "%s: wrong Sec-WebSocket-Accept in the handshake (\"%s\", expected \"%s\")",
                        url, r.accept, want);
        goto out;
    }

    static const struct wslay_event_callbacks cbs = {
        .recv_callback = ws_recv_cb,
        .send_callback = ws_send_cb,
        .genmask_callback = ws_genmask_cb,
        .on_msg_recv_callback = ws_on_msg_cb,
    };
    if (wslay_event_context_client_init(&c->ws, &cbs, c) != 0) {
        c->ws = NULL;
        rc = hs_cl_fail(c, HS_E_NOMEM, "out of memory");
        goto out;
    }
    wslay_event_config_set_max_recv_msg_length(c->ws, HS_CLIENT_MAX_WS_MESSAGE);
    c->ws_url = strdup(url);
    if (!c->ws_url) {
        rc = hs_cl_fail(c, HS_E_NOMEM, "out of memory");
        goto out;
    }
    c->fd = fd;
    fd = -1;
    c->pre = r.rest;
    c->pre_len = r.rest_len;
    c->pre_off = 0;
    r.rest = NULL;
    c->err[0] = '\0';
    rc = 0;
out:
    if (rc < 0 && c->ws) {
        wslay_event_context_free(c->ws);
        c->ws = NULL;
        free(c->ws_url);
        c->ws_url = NULL;
    }
    if (fd >= 0)
        close(fd);
    hs_cl_http_resp_free(&r);
    free(req);
    free(path);
    return rc;
}

/* ---- The loop ---------------------------------------------------------------------------- */

/* Tears the session down after a failure whose text is already in c->err. */
static int session_failed(hs_client *c, int code)
{
    hs_cl_teardown(c);
    return code;
}

static int transport_error(hs_client *c, const char *verb)
{
    const char *during = c->wait_method ? " during " : "";
    const char *method = c->wait_method ? c->wait_method : "";
    if (c->io_eof || c->io_errno == ECONNRESET || c->io_errno == EPIPE)
        return session_failed(
            c, hs_cl_fail(c, HS_E_CLOSED, "the target closed the connection%s%s", during, method));
    if (c->io_errno)
        return session_failed(c, hs_cl_fail(c, -c->io_errno, "%s the session failed%s%s: %s", verb,
                                            during, method, strerror(c->io_errno)));
    return session_failed(c, hs_cl_fail(c, HS_E_NOMEM, "out of memory"));
}

/* Dispatches what wslay has buffered and what the socket holds now. */
static int recv_step(hs_client *c)
{
    c->io_eof = false;
    c->io_errno = 0;
    int r = wslay_event_recv(c->ws);
    if (c->fatal)
        return session_failed(c, c->fatal);
    if (r != 0) {
        if (!c->io_eof && !c->io_errno && r != WSLAY_ERR_NOMEM)
            return session_failed(
                c, hs_cl_fail(c, HS_E_BADREPLY, "the target broke the WebSocket protocol"));
        return transport_error(c, "reading from");
    }
    if (!wslay_event_get_read_enabled(c->ws)) {
        if (wslay_event_get_close_received(c->ws)) {
            unsigned code = wslay_event_get_status_code_received(c->ws);
            wslay_event_send(c->ws); /* our half of the closing handshake, if it fits */
            return session_failed(c, hs_cl_fail(c, HS_E_CLOSED,
                                                "the target closed the WebSocket (code %u)%s%s",
                                                code, c->wait_method ? " during " : "",
                                                c->wait_method ? c->wait_method : ""));
        }
        return session_failed(c, hs_cl_fail(c, HS_E_BADREPLY,
                                            "the target broke the WebSocket protocol (a bad "
                                            "frame, or a message over %u MiB)",
                                            HS_CLIENT_MAX_WS_MESSAGE >> 20));
    }
    return 0;
}

static int send_step(hs_client *c)
{
    if (!wslay_event_want_write(c->ws))
        return 0;
    c->io_eof = false;
    c->io_errno = 0;
    if (wslay_event_send(c->ws) != 0)
        return transport_error(c, "writing to");
    return 0;
}

/* Waits for the socket (readable, or writable when output is queued). */
static int wait_step(hs_client *c, int64_t deadline)
{
    short want = POLLIN | (wslay_event_want_write(c->ws) ? POLLOUT : 0);
    int rc = hs_cl_poll(c->fd, want, deadline, NULL);
    if (rc < 0 && rc != -ETIMEDOUT)
        return session_failed(c, hs_cl_fail(c, rc, "poll: %s", strerror(-rc)));
    return rc;
}

static void copy_remote(hs_client *c, const cdp_error *e)
{
    c->has_remote = true;
    c->remote.code = e->code;
    snprintf(c->remote.message, sizeof c->remote.message, "%s", e->message);
    snprintf(c->remote.data, sizeof c->remote.data, "%s", e->has_data ? e->data : "");
    c->remote.has_data = e->has_data;
    hs_cl_fail(c, HS_E_REMOTE, "%d %s%s%s%s", e->code, e->message, e->has_data ? " (" : "",
               e->has_data ? e->data : "", e->has_data ? ")" : "");
}

int hs_cl_call(hs_client *c, const char *method, json_t *params, json_t **result,
               const hs_snapshot_sink *sink)
{
    if (result)
        *result = NULL;
    int rc = begin(c, true);
    if (rc < 0) {
        json_decref(params);
        return rc;
    }
    /* V8 takes any int32 id; stay positive and wrap long before the limit. */
    if (c->next_id >= 0x7fffffff)
        c->next_id = 0;
    int64_t id = ++c->next_id;
    size_t len = 0;
    char *text = cdp_format_request(id, method, params, NULL, &len);
    if (!text)
        return hs_cl_fail(c, HS_E_NOMEM, "cannot format the request for %s", method);
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
    int q = wslay_event_queue_msg(c->ws, &msg);
    free(text);
    if (q != 0)
        return hs_cl_fail(c, q == WSLAY_ERR_NOMEM ? HS_E_NOMEM : HS_E_STATE,
                          "cannot queue %s on the session", method);

    c->waiting = true;
    c->wait_id = id;
    c->wait_method = method;
    c->have_reply = false;
    c->sink = sink;
    c->sink_err = 0;
    c->activity = false;
    c->stop_reading = false;
    int64_t deadline = hs_cl_deadline(c->opt.call_timeout_ms);
    for (;;) {
        if ((rc = send_step(c)) < 0)
            goto out;
        rc = recv_step(c);
        if (c->have_reply || rc < 0)
            break;
        if (c->activity) {
            c->activity = false;
            deadline = hs_cl_deadline(c->opt.call_timeout_ms);
        }
        rc = wait_step(c, deadline);
        if (rc == -ETIMEDOUT) {
            /* Stays connected: a late answer is recognised by its id and dropped. */
            rc = hs_cl_fail(c, rc, "no answer to %s within %d ms", method, c->opt.call_timeout_ms);
            goto out;
        }
        if (rc < 0)
            goto out;
    }
    if (!c->have_reply)
        goto out; /* rc < 0 with its text */
    /* An answer that arrived with the connection's end still counts. */
    if (c->reply.is_error) {
        copy_remote(c, &c->reply.error);
        rc = HS_E_REMOTE;
    } else if (c->sink_err) {
        rc = hs_cl_fail(c, HS_E_ABORTED,
                        "%s: the snapshot sink asked to stop; the rest was read and dropped",
                        method);
    } else {
        if (result) {
            *result = c->reply.result ? json_incref((json_t *)c->reply.result) : json_object();
            if (!*result)
                rc = hs_cl_fail(c, HS_E_NOMEM, "out of memory");
        }
        if (rc >= 0) {
            rc = 0;
            c->err[0] = '\0';
        }
    }
    cdp_incoming_release(&c->reply);
    c->have_reply = false;
out:
    c->waiting = false;
    c->wait_method = NULL;
    c->sink = NULL;
    return rc;
}

int hs_cl_bad_result(hs_client *c, const char *method, const cdp_error *err)
{
    return hs_cl_fail(c, HS_E_BADREPLY, "the target's answer to %s does not fit the protocol: %s",
                      method, err->has_data ? err->data : err->message);
}

HS_API int hs_client_wait_events(hs_client *c, int timeout_ms)
{
    if (!c)
        return HS_E_INVAL;
    int rc = begin(c, true);
    if (rc < 0)
        return rc;
    c->dispatched = 0;
    c->stop_reading = false;
    int64_t deadline = hs_cl_deadline(timeout_ms);
    for (;;) {
        if ((rc = send_step(c)) < 0)
            return rc;
        rc = recv_step(c);
        if (c->dispatched > 0)
            return (int)c->dispatched;
        if (rc < 0)
            return rc;
        rc = wait_step(c, deadline);
        if (rc == -ETIMEDOUT)
            return 0;
        if (rc < 0)
            return rc;
    }
}

HS_API int hs_client_call(hs_client *c, const char *method, const char *params_json,
                          char **result_json)
{
    if (result_json)
        *result_json = NULL;
    if (!c)
        return HS_E_INVAL;
    if (!method || !*method)
        return hs_cl_fail(c, HS_E_INVAL, "no method name");
    json_t *params = NULL;
    if (params_json) {
        json_error_t je;
        params = json_loads(params_json, JSON_REJECT_DUPLICATES, &je);
        if (!params || !json_is_object(params)) {
            json_decref(params);
            return hs_cl_fail(c, HS_E_INVAL, "params for %s must be a JSON object%s%s", method,
                              params ? "" : ": ", params ? "" : je.text);
        }
    }
    json_t *result = NULL;
    int rc = hs_cl_call(c, method, params, result_json ? &result : NULL, NULL);
    if (rc < 0)
        return rc;
    if (result_json) {
        *result_json = json_dumps(result, JSON_COMPACT);
        json_decref(result);
        if (!*result_json)
            return hs_cl_fail(c, HS_E_NOMEM, "out of memory");
    }
    return 0;
}
