/*
 * ws_accept.c — the opening handshake's key arithmetic (RFC 6455 §4.2.2):
 * Sec-WebSocket-Accept from Sec-WebSocket-Key with nettle's SHA-1 and
 * base64, and the shape check of a key. Used by the server and the client.
 * Owns no state and does no I/O; what else a handshake must carry is
 * checked in http_req.c (server) and by the client.
 */
#include <errno.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <string.h>

#include "hs_ws.h"

/* RFC 6455 §1.3: the GUID appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int hs_ws_accept_key(const char *client_key, char out[29])
{
    if (!client_key)
        return -EINVAL;
    size_t n = strnlen(client_key, 257);
    if (n > 256)
        return -EINVAL;
    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&ctx);
    sha1_update(&ctx, n, (const uint8_t *)client_key);
    sha1_update(&ctx, sizeof(ws_guid) - 1, (const uint8_t *)ws_guid);
    sha1_digest(&ctx, sizeof(digest), digest);
    _Static_assert(BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) == 28, "accept value is 28 chars");
    base64_encode_raw(out, sizeof(digest), digest);
    out[28] = '\0';
    return 0;
}

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

bool hs_ws_key_valid(const char *key)
{
    /* 16 bytes are 128 bits: 22 characters (the last carries 2 bits; its
     * unused bits are not checked, as lenient decoders do not), then "==". */
    if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=')
        return false;
    for (int i = 0; i < 22; i++)
        if (!is_b64(key[i]))
            return false;
    return true;
}
