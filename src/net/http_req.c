/*
 * http_req.c — the head of one HTTP/1.x request (request line and headers),
 * parsed in place with http-parser. It records the URL and the few headers a
 * discovery request or a WebSocket upgrade depends on (Host, Upgrade,
 * Connection, Sec-WebSocket-Key, Sec-WebSocket-Version) as spans of the
 * connection's input buffer, counts header lines and rejects what it cannot
 * read unambiguously. It does no I/O and decides nothing: which answer a
 * request gets is server.c's business. Bodies are never parsed: every answer
 * closes the connection.
 */
#include <string.h>
#include <strings.h>

#include "net_int.h"

enum { LAST_NONE, LAST_FIELD, LAST_VALUE };

static hs__http_req *req_of(http_parser *p)
{
    return p->data;
}

/* http-parser reports a field or value in several pieces when it straddles
 * two feeds; the feeds are contiguous in the buffer, so the pieces are
 * adjacent. A piece that is not adjacent is a folded line (obs-fold), which
 * RFC 7230 §3.2.4 lets a server reject with 400. */
static int span_add(hs__http_req *r, hs__span *s, const char *at, size_t len, bool fresh)
{
    size_t off = (size_t)(at - r->buf);
    if (fresh || !s->set) {
        s->off = off;
        s->len = len;
        s->set = true;
        return 0;
    }
    if (s->off + s->len != off) {
        r->bad = true;
        return -1;
    }
    s->len += len;
    return 0;
}

static bool name_is(const hs__http_req *r, const char *name)
{
    size_t n = strlen(name);
    return r->field.len == n && strncasecmp(r->buf + r->field.off, name, n) == 0;
}

/* One header is complete: keep it if it is one we use. */
static void header_done(hs__http_req *r)
{
    if (!r->field.set)
        return;
    hs__span v = r->value.set ? r->value : (hs__span){r->field.off + r->field.len, 0, true};
    /* http-parser skips leading blanks but keeps trailing ones. */
    while (v.len && (r->buf[v.off + v.len - 1] == ' ' || r->buf[v.off + v.len - 1] == '\t'))
        v.len--;
    const char *val = r->buf + v.off;
    hs__span *slot = NULL;
    if (name_is(r, "host"))
        slot = &r->host;
    else if (name_is(r, "sec-websocket-key"))
        slot = &r->key;
    else if (name_is(r, "sec-websocket-version"))
        slot = &r->version;
    else if (name_is(r, "upgrade")) {
        r->has_upgrade = true;
        r->upgrade_ws |= hs__http_list_has(val, v.len, "websocket");
    } else if (name_is(r, "connection")) {
        r->connection_upgr |= hs__http_list_has(val, v.len, "upgrade");
    }
    if (slot) {
        /* RFC 7230 §5.4: a request with more than one Host is answered 400;
         * two keys or versions leave the handshake ambiguous. */
        if (slot->set)
            r->bad = true;
        *slot = v;
    }
    r->field.set = r->value.set = false;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    hs__http_req *r = req_of(p);
    return span_add(r, &r->url, at, len, false);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    hs__http_req *r = req_of(p);
    if (r->last != LAST_FIELD) {
        header_done(r);
        if (++r->nheaders > r->max_headers)
            return -1;
        r->last = LAST_FIELD;
        return span_add(r, &r->field, at, len, true);
    }
    return span_add(r, &r->field, at, len, false);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    hs__http_req *r = req_of(p);
    bool fresh = r->last != LAST_VALUE;
    r->last = LAST_VALUE;
    return span_add(r, &r->value, at, len, fresh);
}

static int on_headers_complete(http_parser *p)
{
    hs__http_req *r = req_of(p);
    header_done(r);
    r->done = true;
    /* 2: "no body, and what follows is another protocol": http_parser_execute
     * then returns just after the head, which is where WebSocket frames a
     * client sent early begin; a discovery request's body is never read. */
    return 2;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
};

void hs__http_req_init(hs__http_req *r, char *buf, size_t max_headers)
{
    memset(r, 0, sizeof(*r));
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    r->buf = buf;
    r->max_headers = max_headers;
}

int hs__http_req_feed(hs__http_req *r, size_t from, size_t to)
{
    if (r->done)
        return 1;
    if (r->bad)
        return -1;
    size_t n = http_parser_execute(&r->parser, &settings, r->buf + from, to - from);
    if (HTTP_PARSER_ERRNO(&r->parser) != HPE_OK || r->bad)
        return -1;
    if (r->done) {
        r->head_end = from + n;
        return 1;
    }
    if (n != to - from)
        return -1;
    return 0;
}

static const char *terminate(hs__http_req *r, const hs__span *s, bool *ok)
{
    if (!s->set)
        return NULL;
    char *p = r->buf + s->off;
    for (size_t i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 && c != '\t')
            *ok = false;
        if (c == 0x7f)
            *ok = false;
    }
    /* The byte after a URL or a value is a separator (SP, CR, LF or a
     * trimmed blank) inside the head, never data after it. */
    p[s->len] = '\0';
    return p;
}

int hs__http_req_finish(hs__http_req *r)
{
    bool ok = true;
    r->path = terminate(r, &r->url, &ok);
    r->host_s = terminate(r, &r->host, &ok);
    r->key_s = terminate(r, &r->key, &ok);
    r->version_s = terminate(r, &r->version, &ok);
    return ok && r->path ? 0 : -1;
}

bool hs__http_req_is_get(const hs__http_req *r)
{
    return r->parser.method == HTTP_GET && r->parser.http_major == 1;
}

bool hs__http_list_has(const char *list, size_t len, const char *token)
{
    size_t tl = strlen(token);
    size_t i = 0;
    while (i < len) {
        while (i < len && (list[i] == ' ' || list[i] == '\t' || list[i] == ','))
            i++;
        size_t start = i;
        while (i < len && list[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (list[end - 1] == ' ' || list[end - 1] == '\t'))
            end--;
        if (end - start == tl && strncasecmp(list + start, token, tl) == 0)
            return true;
    }
    return false;
}
