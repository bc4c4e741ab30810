/*
 * client_http.c — the client's HTTP/1.x: one request, one answer read with
 * http-parser in response mode, bounded in header and body size. Serves the
 * discovery GETs and the WebSocket upgrade (whose 101 ends the HTTP part; the
 * bytes after it are handed back for the WebSocket layer). It does not know what
 * the bodies mean (client_discovery.c) or WebSocket framing (client_session.c).
 */
#include <errno.h>
#include <http_parser.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_int.h"

typedef struct http_ctx {
    hs_cl_http_resp *r;
    size_t header_bytes;
    bool too_big;
    bool done;
    /* The header being read: its name (callbacks may split it) and where its
     * value goes (NULL: not one we keep). */
    char name[32];
    size_t name_len;
    bool in_value;
    char *value_dst;
    size_t value_cap, value_len;
} http_ctx;

void hs_cl_http_resp_free(hs_cl_http_resp *r)
{
    free(r->body);
    free(r->rest);
    memset(r, 0, sizeof *r);
}

static bool count_header(http_ctx *x, size_t n)
{
    x->header_bytes += n;
    if (x->header_bytes > HS_CLIENT_MAX_HTTP_HEADER_BYTES) {
        x->too_big = true;
        return false;
    }
    return true;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    http_ctx *x = p->data;
    if (!count_header(x, n))
        return -1;
    if (x->in_value) { /* a new header starts */
        x->in_value = false;
        x->name_len = 0;
    }
    size_t room = sizeof x->name - 1 - x->name_len;
    size_t k = n < room ? n : room;
    memcpy(x->name + x->name_len, at, k);
    x->name_len += k;
    x->name[x->name_len] = '\0';
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    http_ctx *x = p->data;
    if (!count_header(x, n))
        return -1;
    if (!x->in_value) {
        x->in_value = true;
        x->value_len = 0;
        x->value_dst = NULL;
        if (!strcasecmp(x->name, "upgrade")) {
            x->value_dst = x->r->upgrade;
            x->value_cap = sizeof x->r->upgrade;
        } else if (!strcasecmp(x->name, "connection")) {
            x->value_dst = x->r->connection;
            x->value_cap = sizeof x->r->connection;
        } else if (!strcasecmp(x->name, "sec-websocket-accept")) {
            x->value_dst = x->r->accept;
            x->value_cap = sizeof x->r->accept;
        }
    }
    if (x->value_dst) {
        size_t room = x->value_cap - 1 - x->value_len;
        size_t k = n < room ? n : room;
        memcpy(x->value_dst + x->value_len, at, k);
        x->value_len += k;
        x->value_dst[x->value_len] = '\0';
    }
    return 0;
}

static int on_status(http_parser *p, const char *at, size_t n)
{
    (void)at;
    return count_header(p->data, n) ? 0 : -1;
}

static int on_headers_complete(http_parser *p)
{
    http_ctx *x = p->data;
    x->r->status = (int)p->status_code;
    /* 2: no body, and what follows is another protocol. Said for every 101 so
     * that a 101 lacking the Upgrade headers is caught by our checks rather than
     * parsed as a second HTTP answer. */
    return p->status_code == 101 ? 2 : 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    http_ctx *x = p->data;
    hs_cl_http_resp *r = x->r;
    if (r->body_len + n > HS_CLIENT_MAX_HTTP_BODY) {
        x->too_big = true;
        return -1;
    }
    char *b = realloc(r->body, r->body_len + n + 1);
    if (!b)
        return -1;
    memcpy(b + r->body_len, at, n);
    r->body = b;
    r->body_len += n;
    b[r->body_len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *p)
{
    http_ctx *x = p->data;
    x->done = true;
    /* Stop here: anything after the answer is not ours to parse (after a 101 the
     * parser stops by itself and says where). */
    if (!p->upgrade)
        http_parser_pause(p, 1);
    return 0;
}

static int parse_error(hs_client *c, const http_parser *p, const http_ctx *x, const char *what,
                       size_t seen)
{
    if (x->too_big)
        return hs_cl_fail(c, HS_E_BADREPLY, "%s: the answer is larger than the client accepts",
                          what);
    enum http_errno e = HTTP_PARSER_ERRNO(p);
    if (seen < 5 || e == HPE_INVALID_CONSTANT || e == HPE_INVALID_VERSION ||
        e == HPE_INVALID_STATUS)
        return hs_cl_fail(c, HS_E_BADREPLY, "%s: the answer is not HTTP (%s)", what,
                          http_errno_description(e));
    return hs_cl_fail(c, HS_E_BADREPLY, "%s: malformed HTTP answer (%s)", what,
                      http_errno_description(e));
}

int hs_cl_http_exchange(hs_client *c, int fd, const char *req, size_t req_len, int64_t deadline,
                        const char *what, hs_cl_http_resp *out)
{
    memset(out, 0, sizeof *out);
    int rc = hs_cl_send_all(fd, req, req_len, deadline);
    if (rc == -ETIMEDOUT)
        return hs_cl_fail(c, rc, "%s: could not send the request within %d ms", what,
                          c->opt.connect_timeout_ms);
    if (rc < 0)
        return hs_cl_fail(c, rc == -EPIPE ? HS_E_CLOSED : rc,
                          "%s: the connection broke while sending the request: %s", what,
                          strerror(-rc));

    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_status = on_status;
    s.on_header_field = on_header_field;
    s.on_header_value = on_header_value;
    s.on_headers_complete = on_headers_complete;
    s.on_body = on_body;
    s.on_message_complete = on_message_complete;
    http_parser p;
    http_parser_init(&p, HTTP_RESPONSE);
    http_ctx x = {.r = out};
    p.data = &x;

    char buf[4096];
    size_t seen = 0;
    while (!x.done) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                rc = errno == ECONNRESET ? HS_E_CLOSED : -errno;
                hs_cl_fail(c, rc, "%s: the connection broke while reading the answer: %s", what,
                           strerror(errno));
                goto fail;
            }
            rc = hs_cl_poll(fd, POLLIN, deadline, NULL);
            if (rc == -ETIMEDOUT) {
                hs_cl_fail(c, rc, "%s: no %sanswer within %d ms", what, seen ? "complete " : "",
                           c->opt.connect_timeout_ms);
                goto fail;
            }
            if (rc < 0) {
                hs_cl_fail(c, rc, "%s: %s", what, strerror(-rc));
                goto fail;
            }
            continue;
        }
        if (n == 0) {
            /* End of stream: tells the parser that a body without a length ends here. */
            http_parser_execute(&p, &s, NULL, 0);
            if (x.done)
                break;
            if (HTTP_PARSER_ERRNO(&p) != HPE_OK && seen > 0) {
                rc = parse_error(c, &p, &x, what, seen);
                goto fail;
            }
            rc = hs_cl_fail(c, HS_E_CLOSED,
                            seen ? "%s: the target closed the connection in the middle of its "
                                   "answer"
                                 : "%s: the target closed the connection without answering",
                            what);
            goto fail;
        }
        size_t used = http_parser_execute(&p, &s, buf, (size_t)n);
        seen += (size_t)n;
        if (x.done) {
            if (p.upgrade && used < (size_t)n) {
                out->rest_len = (size_t)n - used;
                out->rest = malloc(out->rest_len);
                if (!out->rest) {
                    rc = hs_cl_fail(c, HS_E_NOMEM, "out of memory");
                    goto fail;
                }
                memcpy(out->rest, buf + used, out->rest_len);
            }
            break;
        }
        if (HTTP_PARSER_ERRNO(&p) != HPE_OK || used != (size_t)n) {
            rc = parse_error(c, &p, &x, what, seen);
            goto fail;
        }
    }
    out->upgraded = p.upgrade;
    if (!out->body) {
        out->body = calloc(1, 1);
        if (!out->body) {
            rc = hs_cl_fail(c, HS_E_NOMEM, "out of memory");
            goto fail;
        }
    }
    return 0;
fail:
    hs_cl_http_resp_free(out);
    return rc;
}

int hs_cl_http_get(hs_client *c, const hs_cl_addr *a, const char *path, char **body,
                   size_t *body_len)
{
    char what[320];
    snprintf(what, sizeof what, "%s%s", a->authority, path);
    int64_t deadline = hs_cl_deadline(c->opt.connect_timeout_ms);
    int fd = -1;
    int rc = hs_cl_tcp_connect(c, a, deadline, &fd);
    if (rc < 0)
        return rc;
    char req[600];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n"
                     "Connection: close\r\n\r\n",
                     path, a->host_header);
    hs_cl_http_resp r;
    rc = hs_cl_http_exchange(c, fd, req, (size_t)n, deadline, what, &r);
    close(fd);
    if (rc < 0)
        return rc;
    if (r.status != 200) {
        /* Node's refusals carry a one-line text body: show it. */
        size_t show = strcspn(r.body, "\r\n");
        rc = hs_cl_fail(c, HS_E_HTTP, "%s: HTTP %d%s%.*s%s", what, r.status, show ? " \"" : "",
                        (int)(show > 120 ? 120 : show), r.body, show ? "\"" : "");
        hs_cl_http_resp_free(&r);
        return rc;
    }
    *body = r.body;
    *body_len = r.body_len;
    r.body = NULL;
    hs_cl_http_resp_free(&r);
    return 0;
}
