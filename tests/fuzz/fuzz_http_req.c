/*
 * fuzz_http_req.c — libFuzzer target for the HTTP request-head parser
 * (src/net/http_req.c) with the server's limits.
 *
 * Input: one control byte, then the bytes a client sends. The control byte
 * chooses the header-line limit (the default or a small one) and the size of
 * the pieces the head arrives in (all at once, or n bytes at a time), as
 * recv() may cut it anywhere. The bytes sit in an allocation of exactly
 * their size, at most HS_LIMIT_HEADER_BYTES as in the server.
 *
 * Invariants: the parse is the same whether the head arrives whole or in
 * pieces (result, end of head, the spans and flags it records); a complete
 * head ends inside the input and every recorded span lies inside the head,
 * before its end (hs__http_req_finish writes a NUL after each); no more
 * header lines than the limit are accepted; after a successful finish the
 * views are NUL-terminated copies of their spans with no control character.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "hs_limits.h"
#include "net_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds buf[0, len) in pieces of `step` bytes (0: at once) as the server
 * does: until the head is complete or refused. */
static int parse(hs__http_req *r, char *buf, size_t len, size_t max_headers, size_t step)
{
    hs__http_req_init(r, buf, max_headers);
    if (len == 0)
        return 0;
    size_t from = 0;
    int rc = 0;
    while (from < len && rc == 0) {
        size_t to = step && len - from > step ? from + step : len;
        rc = hs__http_req_feed(r, from, to);
        from = to;
    }
    return rc;
}

static bool same_span(const hs__span *a, const hs__span *b)
{
    return a->set == b->set && (!a->set || (a->off == b->off && a->len == b->len));
}

static void check_span(const hs__span *s, size_t head_end)
{
    if (s->set)
        CHECK(s->off <= head_end && s->len < head_end - s->off);
}

static void check_view(const char *view, const hs__span *s, const char *buf)
{
    if (!s->set) {
        CHECK(view == NULL);
        return;
    }
    CHECK(view == buf + s->off && strlen(view) == s->len);
    for (size_t i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)view[i];
        CHECK((c >= 0x20 || c == '\t') && c != 0x7f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    data++;
    size--;
    if (size > HS_LIMIT_HEADER_BYTES)
        size = HS_LIMIT_HEADER_BYTES;
    size_t max_headers = (ctl & 0x80) ? (ctl & 7u) + 1 : HS_LIMIT_HEADERS;
    size_t step = ctl & 0x78 ? ((ctl >> 3) & 15u) : 0;

    char *whole = malloc(size ? size : 1);
    char *cut = malloc(size ? size : 1);
    CHECK(whole && cut);
    if (size) {
        memcpy(whole, data, size);
        memcpy(cut, data, size);
    }
    hs__http_req a, b;
    int ra = parse(&a, whole, size, max_headers, 0);
    int rb = parse(&b, cut, size, max_headers, step);
    CHECK(ra == rb);
    if (ra == 1) {
        CHECK(a.head_end == b.head_end && a.head_end <= size && a.done);
        CHECK(same_span(&a.url, &b.url) && same_span(&a.host, &b.host) &&
              same_span(&a.key, &b.key) && same_span(&a.version, &b.version));
        CHECK(a.has_upgrade == b.has_upgrade && a.upgrade_ws == b.upgrade_ws &&
              a.connection_upgr == b.connection_upgr && a.nheaders == b.nheaders);
        CHECK(a.nheaders <= max_headers);
        CHECK(!a.upgrade_ws || a.has_upgrade);
        check_span(&b.url, b.head_end);
        check_span(&b.host, b.head_end);
        check_span(&b.key, b.head_end);
        check_span(&b.version, b.head_end);
        /* A second feed after the head is complete changes nothing. */
        CHECK(hs__http_req_feed(&b, b.head_end, size) == 1 && b.head_end == a.head_end);
        if (hs__http_req_finish(&b) == 0) {
            CHECK(b.path != NULL);
            check_view(b.path, &b.url, cut);
            check_view(b.host_s, &b.host, cut);
            check_view(b.key_s, &b.key, cut);
            check_view(b.version_s, &b.version, cut);
            /* Nothing at or after the end of the head was written. */
            CHECK(memcmp(cut + b.head_end, data + b.head_end, size - b.head_end) == 0);
        }
    }
    free(whole);
    free(cut);
    return 0;
}
