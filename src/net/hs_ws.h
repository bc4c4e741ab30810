/*
 * hs_ws.h — WebSocket helpers shared by the server (src/net) and the client
 * (src/client). No I/O, no state.
 */
#ifndef HEAPSCOPE_HS_WS_H
#define HEAPSCOPE_HS_WS_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2: base64 of
 * the SHA-1 of the key followed by the fixed GUID). out receives 28
 * characters and a NUL. Returns 0, or -EINVAL if client_key is NULL or longer
 * than 256 bytes (out untouched). The key is used as given; check it with
 * hs_ws_key_valid first where that matters. */
int hs_ws_accept_key(const char *client_key, char out[29]);

/* Is key a well-formed Sec-WebSocket-Key: base64 that decodes to exactly 16
 * bytes (RFC 6455 §4.1 item 7), i.e. 22 base64 characters then "=="? */
bool hs_ws_key_valid(const char *key);

#ifdef __cplusplus
}
#endif
#endif
