/*
 * ws_guard.c — follows the frame boundaries of a client's byte stream just
 * far enough to catch the header violations that wslay 1.1.1 rejects in its
 * frame layer, where it answers with a close frame without a status code
 * instead of 1002, and bounds the number of fragments of a message (wslay
 * allocates per fragment). Everything else about frames (masking, opcodes, reserved
 * bits, fragmentation order, UTF-8, close codes, message size) is left to
 * wslay, whose event layer answers with the right code. No I/O, no state
 * beyond the current header.
 */
#include <string.h>

#include "hs_limits.h"
#include "net_int.h"

void hs__ws_guard_init(hs__ws_guard *g)
{
    memset(g, 0, sizeof(*g));
    g->need = 2;
}

/* Checks the header bytes seen so far; false on a violation. */
static bool header_ok(hs__ws_guard *g)
{
    unsigned op = g->hdr[0] & 0x0fu;
    bool fin = (g->hdr[0] & 0x80u) != 0;
    unsigned len7 = g->hdr[1] & 0x7fu;
    if (g->have == 2) {
        /* RFC 6455 §5.5: "All control frames MUST have a payload length of
         * 125 bytes or less and MUST NOT be fragmented." */
        if ((op & 0x8u) && (len7 > HS_LIMIT_WS_CONTROL || !fin))
            return false;
        /* §5.5.1: a close body, if any, "MUST" start with a 2-byte code. */
        if (op == 0x8u && len7 == 1)
            return false;
        if (!(op & 0x8u)) {
            g->frags = op == 0 ? g->frags + 1 : 1;
            if (g->frags > HS_LIMIT_WS_FRAGMENTS) {
                g->code = 1009;
                return false;
            }
        }
        g->need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((g->hdr[1] & 0x80u) ? 4 : 0);
    }
    if (g->have == 4 && len7 == 126) {
        /* §5.2: "the minimal number of bytes MUST be used to encode the
         * length". */
        unsigned v = ((unsigned)g->hdr[2] << 8) | g->hdr[3];
        if (v < 126)
            return false;
    }
    if (g->have == 10 && len7 == 127) {
        uint64_t v = 0;
        for (int i = 2; i < 10; i++)
            v = (v << 8) | g->hdr[i];
        /* §5.2: "the most significant bit MUST be 0". */
        if (v < 65536 || (v >> 63))
            return false;
    }
    return true;
}

static uint64_t header_length(const hs__ws_guard *g)
{
    unsigned len7 = g->hdr[1] & 0x7fu;
    if (len7 < 126)
        return len7;
    uint64_t v = 0;
    for (unsigned i = 2; i < (len7 == 126 ? 4u : 10u); i++)
        v = (v << 8) | g->hdr[i];
    return v;
}

size_t hs__ws_guard_scan(hs__ws_guard *g, const uint8_t *p, size_t n, bool *bad)
{
    size_t i = 0;
    *bad = false;
    while (i < n) {
        if (g->payload_left) {
            uint64_t skip = n - i < g->payload_left ? n - i : g->payload_left;
            g->payload_left -= skip;
            i += (size_t)skip;
            continue;
        }
        g->hdr[g->have++] = p[i];
        if (!header_ok(g)) {
            if (!g->code)
                g->code = 1002;
            *bad = true;
            return i;
        }
        i++;
        if (g->have == g->need) {
            g->payload_left = header_length(g);
            g->have = 0;
            g->need = 2;
        }
    }
    return n;
}
