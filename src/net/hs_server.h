/*
 * hs_server.h — a small HTTP discovery + WebSocket (RFC 6455) server, driven
 * by one thread with poll(). It knows nothing of CDP: it answers discovery
 * GETs with bodies a callback produces, upgrades accepted paths to WebSocket
 * sessions and hands their text messages to a callback.
 *
 * Threads: one thread drives a server (hs_server_run and everything else
 * below). Only hs_server_wake, hs_server_stop and hs_server_abandon_after_fork
 * may be called from elsewhere; the first two are async-signal-safe.
 *
 * Callbacks run on the server thread, from hs_server_run (never from
 * hs_server_drain). They may call any function of this header, including
 * hs_server_drain, hs_session_close on any session and hs_server_timer_*.
 * A session handle may be used until its session_closed callback has
 * returned, and not after: the server may keep the connection a little longer
 * (to finish its close), but it is no longer the caller's.
 *
 * Errors: 0 or a positive value on success, -errno on failure (see
 * include/heapscope/hs_err.h). Nothing here raises SIGPIPE, blocks without a
 * time limit, writes to stdio or keeps global state.
 */
#ifndef HEAPSCOPE_HS_SERVER_H
#define HEAPSCOPE_HS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_ws.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hs_server hs_server;
typedef struct hs_session hs_session; /* one WebSocket connection */

/* A field left 0 takes its default from hs_limits.h. */
typedef struct hs_server_limits {
    size_t max_header_bytes;       /* HS_LIMIT_HEADER_BYTES: request line + headers; over: 400 */
    size_t max_headers;            /* HS_LIMIT_HEADERS: header lines; over: 400 */
    size_t max_message;            /* HS_LIMIT_WS_MESSAGE: incoming message; over: close 1009 */
    size_t max_out_queue;          /* HS_LIMIT_OUT_QUEUE per session; over: close 1008 */
    unsigned max_connections;      /* HS_LIMIT_CONNECTIONS; more wait in the backlog */
    unsigned handshake_timeout_ms; /* HS_LIMIT_HANDSHAKE_MS: accept → request answered */
    /* Additions to the contract (0 = default as well): */
    size_t read_pause; /* HS_LIMIT_READ_PAUSE: queued output above which input is not read */
} hs_server_limits;

typedef struct hs_server_callbacks {
    /* GET <path> that is not an upgrade (path without query; a query string is
     * answered 400 without asking). Return 0 with *body (malloc'd, taken even
     * when *body_len is 0; may be NULL if *body_len is 0) for a 200, -1 for
     * the node-style 400 "WebSockets request was expected", or -2 when the
     * document exists but could not be made (out of memory): the connection
     * is closed unanswered, never a 400 that says the path is wrong. NULL:
     * always 400. */
    int (*http_get)(void *ud, const char *path, char **body, size_t *body_len);
    /* May a WebSocket upgrade to <path> proceed? NULL: never. */
    bool (*ws_accept_path)(void *ud, const char *path);
    /* Is this Host header value acceptable (DNS rebinding)? NULL host = absent.
     * Asked for discovery and upgrades alike. NULL callback: any Host. */
    bool (*host_ok)(void *ud, const char *host);
    /* A session exists; the 101 answer is queued. May send or close. */
    void (*session_open)(void *ud, hs_session *s);
    /* One complete text message, valid UTF-8 (wslay checks), not
     * NUL-terminated; text is valid only during the call. */
    void (*session_message)(void *ud, hs_session *s, const char *text, size_t len);
    /* The session has ended: a close frame was received or queued, the
     * connection failed, or the server stopped. Called before any message of
     * another session that came after the close is delivered. s must not be
     * used after return; free what hs_session_user holds. */
    void (*session_closed)(void *ud, hs_session *s);
    /* Addition to the contract: called on the server thread, from
     * hs_server_run, after hs_server_wake (several wakes may give one call).
     * May be NULL. */
    void (*woken)(void *ud);
} hs_server_callbacks;

/* A server with no listener yet. lim NULL = all defaults; cb is copied.
 * Returns NULL when out of memory or when the eventfd cannot be made. */
hs_server *hs_server_new(const hs_server_limits *lim, const hs_server_callbacks *cb, void *ud);

/* Binds host:port and listens. port 0 = ephemeral. If port is taken, tries
 * port+1 … port+tries-1, then an ephemeral port (tries <= 1: port, then
 * ephemeral). host may be an IPv4 or IPv6 literal ("::1") or a name, which is
 * resolved with getaddrinfo, which may block on DNS (the first address that
 * can be bound is used); NULL or "" = 127.0.0.1. SO_REUSEADDR is set.
 * Returns the bound port, or -errno (-EALREADY if already listening,
 * HS_E_RESOLVE if the name does not resolve). */
int hs_server_listen(hs_server *srv, const char *host, int port, int tries);

/* Listens on a Unix stream socket at path (absolute, shorter than sun_path's
 * 108 bytes) instead of TCP, with mode 0600: the kernel lets only the owner
 * (and root) connect. A socket already at path that is this user's and that
 * nobody listens on (left by a process that died) is replaced; anything else
 * there is refused: -EADDRINUSE if a server listens on it, -EEXIST if it is
 * not a socket or not this user's. The socket is bound, made 0600 and
 * listening in a fresh 0700 directory next to path (.heapscope-XXXXXX,
 * removed before returning; the caller must be able to write path's
 * directory) and only then linked or renamed to path, so another server
 * starting at path never sees it bound but not listening and never takes it
 * for stale. hs_server_free removes the file if it is
 * still the one bound here (a fork child's hs_server_abandon_after_fork does
 * not). Host headers are checked as on TCP. Returns 0 or -errno (-EINVAL for
 * a relative path, -ENAMETOOLONG, -EALREADY if already listening). */
int hs_server_listen_unix(hs_server *srv, const char *path);

/* During http_get: the request's Host header (already accepted by host_ok),
 * NULL if it had none. NULL outside http_get. Discovery answers name the host
 * the client used, as node's inspector does. */
const char *hs_server_request_host(const hs_server *srv);

/* The bound port, or -1 before a successful hs_server_listen (and on a Unix
 * socket). */
int hs_server_port(const hs_server *srv);

/* Serves until hs_server_stop. On stop, every session is sent close 1001
 * (going away) as far as the socket takes it without waiting, its connection
 * is closed and session_closed is called; then returns 0. The listener stays
 * open until hs_server_free. Returns -errno if poll fails for good (sessions
 * closed the same way). A stop is permanent: run again returns at once. */
int hs_server_run(hs_server *srv);

/* Makes hs_server_run (or a running hs_server_drain, which then returns
 * -ECANCELED) return soon. Any thread, async-signal-safe. */
void hs_server_stop(hs_server *srv);

/* Makes the server thread call cb->woken soon. Any thread, async-signal-safe. */
void hs_server_wake(hs_server *srv);

/* Closes every socket and frees everything. Sessions still open (hs_server_run
 * never ran or failed) get session_closed first, on the calling thread. NULL
 * is a no-op. Not while hs_server_run runs. */
void hs_server_free(hs_server *srv);

/* In a fork child (an atfork handler): closes the server's file descriptors
 * (listener, wake eventfd, connections) in the child only — no shutdown(), so
 * the parent's connections are untouched — taking no lock and freeing nothing.
 * Afterwards the server must not be used; hs_server_free on it only frees
 * memory. Async-signal-safe. */
void hs_server_abandon_after_fork(hs_server *srv);

/* Timers run on the server thread, from hs_server_run, on the monotonic
 * clock. Returns an id > 0, or -ENOMEM / -EINVAL (fn NULL). A repeating
 * timer fires every ms (at least 1) until cancelled. A timer may cancel
 * itself or others; cancelling an unknown or spent id is a no-op. */
typedef void (*hs_timer_fn)(void *ud);
int hs_server_timer_add(hs_server *srv, unsigned ms, bool repeat, hs_timer_fn fn, void *ud);
void hs_server_timer_cancel(hs_server *srv, int id);

/* Session output (server thread only). The text is copied and queued, written
 * as the socket allows. Returns 0; -EPIPE if the session is closing or gone;
 * -ENOBUFS if the queue would pass max_out_queue, in which case the session
 * is being closed with 1008; -ENOMEM. text must be valid UTF-8 (not checked). */
int hs_session_send_text(hs_session *s, const char *text, size_t len);

/* Payload bytes queued and not yet fully written. */
size_t hs_session_queued(const hs_session *s);

/* Starts the closing handshake with code (1000…4999, else 1000) and reason
 * (UTF-8, cut to 123 bytes; NULL = none). No session_message is delivered
 * afterwards; session_closed follows when the server is back in its loop
 * (not from inside this call). Closing a closing session is a no-op. */
void hs_session_close(hs_session *s, uint16_t code, const char *reason);

/* One pointer of the caller's, NULL until set. */
void hs_session_set_user(hs_session *s, void *user);
void *hs_session_user(const hs_session *s);

/* For long producers (snapshot streaming) on the server thread: does socket I/O
 * only — writes queued output of every session, reads and buffers input
 * (messages are delivered later by hs_server_run, never from inside this
 * call), answers pings — until s's queue is at most `below` bytes (0), s is
 * closing or gone (-EPIPE), timeout_ms pass without any byte written to s
 * (-ETIMEDOUT; timeout_ms < 0: no limit) or hs_server_stop was called
 * (-ECANCELED). Discovery requests and new connections wait meanwhile. */
int hs_server_drain(hs_server *srv, hs_session *s, size_t below, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
