/*
 * net_int.h — internals of src/net shared between its files, grouped by the
 * file that defines them. Not for use outside src/net (the tests include it
 * to reach the I/O-free parts directly).
 */
#ifndef HEAPSCOPE_NET_INT_H
#define HEAPSCOPE_NET_INT_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- http_req.c: one HTTP/1.x request head, parsed in place --------------- */

/* A run of bytes inside the connection's input buffer. */
typedef struct hs__span {
    size_t off, len;
    bool set;
} hs__span;

typedef struct hs__http_req {
    http_parser parser;
    char *buf;          /* the connection's input buffer; spans point into it */
    size_t max_headers; /* header lines allowed */
    size_t nheaders;
    int last; /* what the previous callback was: 0 none, 1 field, 2 value */
    hs__span url, field, value;
    hs__span host, key, version;
    bool has_upgrade;     /* an Upgrade header is present at all */
    bool upgrade_ws;      /* Upgrade lists the "websocket" token */
    bool connection_upgr; /* Connection lists the "upgrade" token */
    bool bad;             /* a duplicate Host/key/version, a folded line, … */
    bool done;            /* the head is complete */
    size_t head_end;      /* offset of the first byte after the head */
    /* After hs__http_req_finish: NUL-terminated views into buf (NULL = absent). */
    const char *path, *host_s, *key_s, *version_s;
} hs__http_req;

void hs__http_req_init(hs__http_req *r, char *buf, size_t max_headers);

/* Parses buf[from, to), which must directly follow what earlier calls were
 * given. Returns 1 when the head is complete (r->head_end set; bytes after it
 * are not parsed and belong to the next protocol), 0 when more bytes are
 * needed, -1 when the request is malformed. */
int hs__http_req_feed(hs__http_req *r, size_t from, size_t to);

/* After feed returned 1: NUL-terminates the URL and the interesting header
 * values in place and sets the _s views. Returns -1 if one of them contains
 * a NUL or a control character. */
int hs__http_req_finish(hs__http_req *r);

/* Is the request a GET of HTTP/1.x? */
bool hs__http_req_is_get(const hs__http_req *r);

/* Does a comma-separated header value list token (case-insensitively)? */
bool hs__http_list_has(const char *list, size_t len, const char *token);

/* ---- ws_guard.c: frame-header checks wslay's event layer does not report --- */

/* wslay 1.1.1 answers these violations in its frame layer with a close frame
 * that carries no status code; heapscope wants 1002 (RFC 6455 §7.4.1), so
 * they are caught before wslay sees the frame. */
typedef struct hs__ws_guard {
    uint8_t hdr[14];
    unsigned have;         /* header bytes seen */
    unsigned need;         /* header bytes this frame has (2 until known) */
    uint64_t payload_left; /* payload bytes to skip before the next header */
    uint32_t frags;        /* data frames of the message being received */
    uint16_t code;         /* after a violation: the close code it calls for */
} hs__ws_guard;

void hs__ws_guard_init(hs__ws_guard *g);

/* Follows frames through n more client bytes. Returns how many of them may
 * be handed on; if that is less than n, *bad is set: the byte at the returned
 * offset completes a header that violates RFC 6455 (a control frame longer
 * than 125 bytes or fragmented, a close frame with a 1-byte body, a length
 * not in its minimal form or with the top bit set: g->code 1002) or starts
 * fragment number HS_LIMIT_WS_FRAGMENTS + 1 of a message (g->code 1009). */
size_t hs__ws_guard_scan(hs__ws_guard *g, const uint8_t *p, size_t n, bool *bad);

#endif
