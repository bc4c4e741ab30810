/*
 * client_int.h — private to libheapscope-client: the client object, the limits it
 * applies to what targets send, and the functions the client's .c files share.
 */
#ifndef HS_CLIENT_INT_H
#define HS_CLIENT_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wslay/wslay.h>

#include "cdp_msg.h"
#include "heapscope/hs_client.h"

/* Limits on what a target may send us: src/common/hs_limits.h, each with its
 * reason there. */
#include "hs_limits.h"

/* Status line plus headers of an HTTP answer (node sends ~150 bytes): the
 * server's bound on requests serves for answers too. */
#define HS_CLIENT_MAX_HTTP_HEADER_BYTES HS_LIMIT_HEADER_BYTES
#define HS_CLIENT_MAX_HTTP_BODY HS_LIMIT_CLIENT_HTTP_RESPONSE
#define HS_CLIENT_MAX_WS_MESSAGE HS_LIMIT_CLIENT_MESSAGE
#define HS_CLIENT_DEFAULT_CONNECT_MS ((int)HS_LIMIT_CLIENT_CONNECT_MS)
#define HS_CLIENT_DEFAULT_CALL_MS ((int)HS_LIMIT_CLIENT_CALL_MS)
/* Text of last-error. */
#define HS_CLIENT_ERR_TEXT 512

struct hs_client {
    hs_client_options opt;
    char err[HS_CLIENT_ERR_TEXT];
    hs_remote_error remote;
    bool has_remote;
    bool in_callback; /* a user callback is running: reject re-entry */

    /* The session; fd < 0 when not connected. */
    int fd;
    wslay_event_context_ptr ws;
    char *ws_url;
    /* Bytes that followed the 101 answer in the same read: the first frames. */
    char *pre;
    size_t pre_len, pre_off;
    int64_t next_id;

    /* Transport outcome of the last wslay_event_recv/send. */
    bool io_eof;
    int io_errno;
    /* Set inside the message callback when the session cannot go on. */
    int fatal;
    /* Makes the recv callback report "would block" so that wslay_event_recv
     * returns: the answer is in, or wait_events has something. */
    bool stop_reading;

    /* The call being waited for. */
    bool waiting;
    int64_t wait_id;
    const char *wait_method;
    bool have_reply;
    cdp_incoming reply;
    const hs_snapshot_sink *sink;
    int sink_err;  /* HS_E_ABORTED once the sink refused */
    int event_err; /* an event for this call did not decode */
    bool activity; /* a message for the call arrived: restart its clock */
    unsigned dispatched;

    hs_client_events ev;
    void *ev_ud;
};

/* Sets c->err from fmt and returns code (so that `return hs_cl_fail(…)` reads well). */
int hs_cl_fail(hs_client *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Monotonic milliseconds. */
int64_t hs_cl_now_ms(void);
/* deadline for a time-out in ms from now. */
int64_t hs_cl_deadline(int timeout_ms);
/* Milliseconds left until deadline, for poll (>= 0). */
int hs_cl_left_ms(int64_t deadline);

/* An endpoint: host without brackets, port as digits, the text to put in a
 * Host header ("[::1]:9229") and the one to name it by in messages. On a Unix
 * socket unix_path is set, host_header is "localhost" (what curl sends there)
 * and authority "unix:PATH". */
typedef struct hs_cl_addr {
    char host[256];
    char port[8];
    char authority[272];
    char host_header[272];
    char unix_path[108]; /* sun_path's size; "" for TCP */
} hs_cl_addr;

/* "HOST:PORT" (port required) or "unix:PATH" into *a; len bytes of s. */
int hs_cl_parse_hostport(hs_client *c, const char *s, size_t len, hs_cl_addr *a);
/* "ws://HOST[:PORT][/PATH]" or "ws+unix://SOCKET[:PATH]" (the ws package's
 * form; SOCKET ends at the first ':'): *a and path (malloc'd, "/" if absent). */
int hs_cl_parse_ws_url(hs_client *c, const char *url, hs_cl_addr *a, char **path);
/* A connected, non-blocking, close-on-exec socket (TCP, or Unix for
 * a->unix_path) in *fd, or an error with text: -ECONNREFUSED, -ETIMEDOUT,
 * HS_E_RESOLVE, -errno. */
int hs_cl_tcp_connect(hs_client *c, const hs_cl_addr *a, int64_t deadline, int *fd);
/* Writes all of buf before deadline. */
int hs_cl_send_all(int fd, const void *buf, size_t len, int64_t deadline);
/* Waits for events on fd; 0 when ready, -ETIMEDOUT, -errno. */
int hs_cl_poll(int fd, short events, int64_t deadline, short *revents);

/* An HTTP/1.x answer read with http-parser. */
typedef struct hs_cl_http_resp {
    int status;
    char *body; /* NUL-terminated */
    size_t body_len;
    bool upgraded; /* a 101: the connection now speaks another protocol */
    char *rest;    /* bytes after the 101's headers (malloc'd), rest_len of them */
    size_t rest_len;
    char upgrade[32]; /* Upgrade header (truncated) */
    char connection[64];
    char accept[40]; /* Sec-WebSocket-Accept */
} hs_cl_http_resp;
void hs_cl_http_resp_free(hs_cl_http_resp *r);

/* Sends req on fd and reads the answer until its end (or its headers, for a 101).
 * what names the exchange in error texts ("127.0.0.1:9229/json/list"). */
int hs_cl_http_exchange(hs_client *c, int fd, const char *req, size_t req_len, int64_t deadline,
                        const char *what, hs_cl_http_resp *out);
/* GET path from a (connects, Connection: close); 200 only, else HS_E_HTTP. */
int hs_cl_http_get(hs_client *c, const hs_cl_addr *a, const char *path, char **body,
                   size_t *body_len);

/* Opens the WebSocket session to url (c not connected). via, if not NULL, is
 * where to connect instead of url's own address: the Unix socket the target
 * was discovered on, whatever host its URL names. */
int hs_cl_connect_ws(hs_client *c, const char *url, const hs_cl_addr *via);
/* Closes the session, if any, without ceremony. */
void hs_cl_teardown(hs_client *c);

/* The call machinery: sends {id, method, params} (params stolen; NULL = {}),
 * waits for the answer, dispatching events meanwhile. On success *result (if not
 * NULL) is a new reference to the result object ({} when absent). sink, if not
 * NULL, receives addHeapSnapshotChunk and reportHeapSnapshotProgress. */
int hs_cl_call(hs_client *c, const char *method, json_t *params, json_t **result,
               const hs_snapshot_sink *sink);
/* A result that does not decode as the protocol says. */
int hs_cl_bad_result(hs_client *c, const char *method, const cdp_error *err);

#endif
