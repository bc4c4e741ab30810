/*
 * server.c — hs_server: the listener, every connection's state, the poll()
 * loop, timers, and the glue between sockets and wslay. It owns the file
 * descriptors and all buffering: the HTTP head buffer, the answer being
 * written, wslay's per-session contexts and the messages read but not yet
 * delivered. It decides the HTTP answers (node's inspector is the model:
 * 200 for an accepted discovery GET, 400 "WebSockets request was expected"
 * for everything else, 101 for an accepted upgrade) and the WebSocket close
 * codes wslay does not choose itself (1002 via ws_guard.c, 1003, 1008).
 *
 * It does not parse HTTP (http_req.c), compute handshake keys (ws_accept.c)
 * or know what a message means (the callbacks). Callbacks are made only from
 * hs_server_run, at points where no connection is freed underneath them:
 * connections that die are marked and freed (after session_closed) at the top
 * of the loop, never while a callback or hs_server_drain is on the stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h> // snprintf only: nothing here writes to a stream
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "heapscope/hs_err.h"
#include "hs_limits.h"
#include "hs_server.h"
#include "net_int.h"

/* ---- types ------------------------------------------------------------------- */

enum conn_state {
    CS_HTTP,       /* reading the request head */
    CS_HTTP_REPLY, /* writing a discovery answer */
    CS_WS,         /* a WebSocket session (the 101 may still be in c->out) */
    CS_LINGER,     /* write side shut; discarding input until EOF or deadline */
    CS_DEAD,       /* fd closed; freed at the next reap */
};

typedef struct pending_msg {
    struct pending_msg *next;
    size_t len;
    char text[];
} pending_msg;

struct hs_session {
    hs_server *srv;
    hs_session *prev, *next;
    int fd;
    unsigned slot; /* index in srv->fdtab */
    enum conn_state st;
    uint64_t deadline; /* monotonic ms; 0 = none */

    /* HTTP head; after an upgrade, the bytes a client sent after it. */
    char *in;
    size_t in_len, in_off;
    hs__http_req req;

    /* An answer to write before anything else (discovery answer or 101). */
    char *out;
    size_t out_len, out_off;

    /* WebSocket */
    wslay_event_context_ptr ws;
    hs__ws_guard guard;
    bool guard_bad; /* a header ws_guard rejects was seen: close guard.code */
    bool opened;    /* session_open was called: session_closed is owed */
    bool closing;   /* a close frame is queued or was received: no delivery */
    bool io_err;    /* EOF or a socket error seen by a wslay callback */
    size_t turn_read;
    uint64_t written; /* bytes written to the socket, for hs_server_drain */
    pending_msg *pend_head, *pend_tail;
    size_t pend_bytes;
    void *user;
};

typedef struct timer {
    int id; /* 0 = spent or cancelled */
    bool repeat;
    unsigned interval;
    uint64_t due;
    hs_timer_fn fn;
    void *ud;
} timer;

struct hs_server {
    hs_server_limits lim;
    hs_server_callbacks cb;
    void *ud;
    const char *req_host; /* the Host header, during http_get only */

    int lfd, efd, port;
    dev_t efd_dev; /* identity of efd, checked before we write to or close it */
    ino_t efd_ino;

    char *unix_path; /* the Unix socket's file, removed by hs_server_free */
    dev_t unix_dev;  /* its identity when bound: another file at the same */
    ino_t unix_ino;  /* path by then is not ours to remove */

    atomic_int stop;
    bool abandoned, running, woken_pending;
    uint64_t accept_resume; /* accept paused until then (out of fds) */

    hs_session *head, *tail;
    unsigned nconn;
    int *fdtab; /* every connection's fd by slot, for abandon_after_fork */

    struct pollfd *pfd; /* hs_server_run's poll set */
    hs_session **pconn;
    struct pollfd *dpfd; /* hs_server_drain's, which may run inside a callback
                            made while hs_server_run walks its own */
    hs_session **dpconn;

    const hs_session *drain_s; /* the session hs_server_drain works for */
    size_t drain_cap;          /* its queue level up to which it reads */

    timer *timers;
    size_t ntimers, cap_timers;
    int next_timer_id;
};

static const char resp_400[] = "HTTP/1.0 400 Bad Request\r\n"
                               "Content-Type: text/html; charset=UTF-8\r\n"
                               "\r\n"
                               "WebSockets request was expected\r\n";

/* ---- small helpers --------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static ssize_t send_some(int fd, const void *p, size_t n)
{
    ssize_t r;
    do
        r = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    return r;
}

static ssize_t recv_some(int fd, void *p, size_t n)
{
    ssize_t r;
    do
        r = recv(fd, p, n, MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    return r;
}

static bool would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK;
}

/* ---- connection lifetime --------------------------------------------------------- */

static void pending_clear(hs_session *c)
{
    pending_msg *m = c->pend_head;
    while (m) {
        pending_msg *n = m->next;
        free(m);
        m = n;
    }
    c->pend_head = c->pend_tail = NULL;
    c->pend_bytes = 0;
}

/* Closes the socket now; the memory goes at the next reap. */
static void conn_kill(hs_session *c)
{
    if (c->st == CS_DEAD)
        return;
    if (c->fd >= 0) {
        c->srv->fdtab[c->slot] = -1;
        close(c->fd);
        c->fd = -1;
    }
    c->st = CS_DEAD;
    c->closing = true;
    pending_clear(c);
}

static void conn_free(hs_session *c)
{
    if (c->fd >= 0 && !c->srv->abandoned)
        close(c->fd);
    if (c->ws)
        wslay_event_context_free(c->ws);
    pending_clear(c);
    free(c->in);
    free(c->out);
    free(c);
}

static void conn_unlink(hs_server *srv, hs_session *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        srv->tail = c->prev;
    srv->nconn--;
}

/* Frees dead connections; session_closed for those that were sessions and for
 * sessions that are closing. A session ends when its close begins (a close
 * frame received or queued), not when its socket is finally gone: a client
 * that has had the echo of its close may act on another connection at once,
 * and must find the session's state (a timeline, objects) already released.
 * Only from the outermost level of hs_server_run (or hs_server_free). */
static void reap(hs_server *srv)
{
    hs_session *c = srv->head;
    while (c) {
        hs_session *next = c->next;
        if (c->opened && (c->st == CS_DEAD || c->closing)) {
            c->opened = false;
            if (srv->cb.session_closed)
                srv->cb.session_closed(srv->ud, c);
        }
        if (c->st == CS_DEAD) {
            conn_unlink(srv, c);
            conn_free(c);
            /* session_closed may have killed others (never freed them):
             * the saved next is still valid. */
        }
        c = next;
    }
}

/* Shuts the write side and waits (bounded) for the peer to close, so that
 * the peer's unread input does not turn our close into a reset that could
 * destroy the answer still in flight. */
static void conn_linger(hs_session *c)
{
    if (c->st == CS_DEAD)
        return;
    shutdown(c->fd, SHUT_WR);
    c->st = CS_LINGER;
    c->deadline = now_ms() + HS_LIMIT_LINGER_MS;
    pending_clear(c);
}

/* Writes c->out. 1: all written, 0: more to write, -1: socket error. */
static int flush_out(hs_session *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send_some(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0)
            return would_block() ? 0 : -1;
        c->out_off += (size_t)n;
        c->written += (uint64_t)n;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    return 1;
}

/* ---- HTTP ---------------------------------------------------------------------------- */

static void http_answer(hs_session *c, char *buf, size_t len)
{
    free(c->out);
    c->out = buf;
    c->out_len = len;
    c->out_off = 0;
    c->st = CS_HTTP_REPLY;
    int r = flush_out(c);
    if (r < 0)
        conn_kill(c);
    else if (r > 0)
        conn_linger(c);
}

static void http_400(hs_session *c)
{
    char *b = malloc(sizeof(resp_400) - 1);
    if (!b) {
        conn_kill(c);
        return;
    }
    memcpy(b, resp_400, sizeof(resp_400) - 1);
    http_answer(c, b, sizeof(resp_400) - 1);
}

static void http_200(hs_session *c, char *body, size_t len)
{
    char head[160];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.0 200 OK\r\n"
                      "Content-Type: application/json; charset=UTF-8\r\n"
                      "Cache-Control: no-cache\r\n"
                      "Content-Length: %zu\r\n"
                      "\r\n",
                      len);
    char *b = (hl > 0 && (size_t)hl < sizeof(head)) ? malloc((size_t)hl + len) : NULL;
    if (!b) {
        free(body);
        conn_kill(c);
        return;
    }
    memcpy(b, head, (size_t)hl);
    if (len)
        memcpy(b + hl, body, len);
    free(body);
    http_answer(c, b, (size_t)hl + len);
}

static int ws_start(hs_session *c, const char *accept);

/* The head is complete: choose the answer. */
static void http_request(hs_session *c)
{
    hs_server *srv = c->srv;
    hs__http_req *r = &c->req;
    if (hs__http_req_finish(r) < 0 || !hs__http_req_is_get(r)) {
        http_400(c);
        return;
    }
    const char *path = r->path;
    /* Node answers a query string (or anything not a plain path) with 400. */
    if (path[0] != '/' || strpbrk(path, "?#")) {
        http_400(c);
        return;
    }
    if (srv->cb.host_ok && !srv->cb.host_ok(srv->ud, r->host_s)) {
        http_400(c);
        return;
    }
    if (r->has_upgrade) {
        /* RFC 6455 §4.2.1: GET of HTTP/1.1 or later, "Upgrade: websocket",
         * "Connection: Upgrade", a Sec-WebSocket-Key of 16 bytes in base64,
         * Sec-WebSocket-Version 13. */
        bool ok = r->parser.http_minor >= 1 && r->upgrade_ws && r->connection_upgr &&
                  hs_ws_key_valid(r->key_s) && r->version_s && !strcmp(r->version_s, "13") &&
                  srv->cb.ws_accept_path && srv->cb.ws_accept_path(srv->ud, path);
        char accept[29];
        if (!ok || hs_ws_accept_key(r->key_s, accept) < 0) {
            http_400(c);
            return;
        }
        if (ws_start(c, accept) < 0)
            conn_kill(c);
        return;
    }
    char *body = NULL;
    size_t len = 0;
    srv->req_host = r->host_s;
    int got = srv->cb.http_get ? srv->cb.http_get(srv->ud, path, &body, &len) : -1;
    srv->req_host = NULL;
    if (got != 0) {
        if (got == -2)
            conn_kill(c);
        else
            http_400(c);
        return;
    }
    if (!body && len) {
        conn_kill(c);
        return;
    }
    http_200(c, body, len);
}

static void http_read(hs_session *c)
{
    size_t cap = c->srv->lim.max_header_bytes;
    while (c->st == CS_HTTP) {
        if (c->in_len == cap) {
            /* The head does not fit: too big, as node's 431 would say; but
             * like node's other refusals, the answer is the one 400. */
            http_400(c);
            return;
        }
        ssize_t n = recv_some(c->fd, c->in + c->in_len, cap - c->in_len);
        if (n == 0 || (n < 0 && !would_block())) {
            conn_kill(c);
            return;
        }
        if (n < 0)
            return;
        size_t from = c->in_len;
        c->in_len += (size_t)n;
        int r = hs__http_req_feed(&c->req, from, c->in_len);
        if (r < 0) {
            http_400(c);
            return;
        }
        if (r > 0) {
            http_request(c);
            return;
        }
    }
}

/* ---- WebSocket ------------------------------------------------------------------------ */

static void ws_set_closing(hs_session *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->deadline = now_ms() + HS_LIMIT_CLOSE_MS;
    pending_clear(c);
}

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
    (void)flags;
    hs_session *c = user;
    if (c->guard_bad || c->turn_read >= HS_LIMIT_READ_TURN) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    ssize_t n;
    if (c->in_off < c->in_len) {
        /* Frames the client sent right behind its upgrade request. */
        n = (ssize_t)(c->in_len - c->in_off < len ? c->in_len - c->in_off : len);
        memcpy(buf, c->in + c->in_off, (size_t)n);
        c->in_off += (size_t)n;
        if (c->in_off == c->in_len) {
            free(c->in);
            c->in = NULL;
            c->in_len = c->in_off = 0;
        }
    } else {
        n = recv_some(c->fd, buf, len);
        if (n <= 0) {
            if (n < 0 && would_block()) {
                wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
            } else {
                c->io_err = true;
                wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
            }
            return -1;
        }
    }
    c->turn_read += (size_t)n;
    bool bad;
    size_t ok = hs__ws_guard_scan(&c->guard, buf, (size_t)n, &bad);
    if (bad) {
        c->guard_bad = true;
        if (ok == 0) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
            return -1;
        }
    }
    return (ssize_t)ok;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user)
{
    (void)flags;
    hs_session *c = user;
    ssize_t n = send_some(c->fd, data, len);
    if (n < 0) {
        if (would_block()) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        } else {
            c->io_err = true;
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        }
        return -1;
    }
    c->written += (uint64_t)n;
    return n;
}

static void ws_frame_start_cb(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
    hs_session *c = user;
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        /* CDP is text only. RFC 6455 §7.4.1: 1003 "a type of data it cannot
         * accept". (Node drops the connection without a close frame.) */
        wslay_event_queue_close(ctx, WSLAY_CODE_UNSUPPORTED_DATA, NULL, 0);
        wslay_event_shutdown_read(ctx);
        ws_set_closing(c);
    }
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    (void)ctx;
    hs_session *c = user;
    if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        /* wslay has queued the echo of the peer's close. */
        ws_set_closing(c);
        return;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME || c->closing)
        return;
    pending_msg *m = malloc(sizeof(*m) + arg->msg_length + 1);
    if (!m) {
        wslay_event_queue_close(ctx, WSLAY_CODE_INTERNAL_SERVER_ERROR, NULL, 0);
        wslay_event_shutdown_read(ctx);
        ws_set_closing(c);
        return;
    }
    m->next = NULL;
    m->len = arg->msg_length;
    if (arg->msg_length)
        memcpy(m->text, arg->msg, arg->msg_length);
    m->text[arg->msg_length] = '\0';
    if (c->pend_tail)
        c->pend_tail->next = m;
    else
        c->pend_head = m;
    c->pend_tail = m;
    c->pend_bytes += arg->msg_length;
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .on_frame_recv_start_callback = ws_frame_start_cb,
    .on_msg_recv_callback = ws_msg_cb,
};

static size_t ws_queued(const hs_session *c)
{
    return c->ws ? wslay_event_get_queued_msg_length(c->ws) : 0;
}

/* In hs_server_run, input waits while the session's answers are above
 * read_pause (backpressure). hs_server_drain produces no answers from input,
 * only buffers it (bounded by HS_LIMIT_PENDING_IN) and answers pings; for the
 * session it drains it reads as long as the queue is within read_pause of
 * where it stood when the drain began, so that a ping is not held up by a
 * whole snapshot while a ping flood still cannot grow the queue without
 * bound. */
static bool ws_can_read(const hs_session *c, bool draining)
{
    const hs_server *srv = c->srv;
    size_t cap = srv->lim.read_pause;
    if (draining && c == srv->drain_s)
        cap = srv->drain_cap;
    return c->st == CS_WS && !c->closing && !c->guard_bad && wslay_event_want_read(c->ws) &&
           ws_queued(c) <= cap && c->pend_bytes <= HS_LIMIT_PENDING_IN;
}

static bool ws_wants_write(const hs_session *c)
{
    return c->st == CS_WS && (c->out || wslay_event_want_write(c->ws));
}

/* Queued output to the socket as far as it takes it; then, once our close
 * frame is out, on to lingering. */
static void ws_flush(hs_session *c)
{
    if (c->st != CS_WS)
        return;
    if (c->out) {
        int r = flush_out(c);
        if (r < 0) {
            conn_kill(c);
            return;
        }
        if (r == 0)
            return;
    }
    if (wslay_event_send(c->ws) < 0 && c->io_err) {
        conn_kill(c);
        return;
    }
    if (wslay_event_get_close_sent(c->ws))
        conn_linger(c);
    else if (!wslay_event_get_write_enabled(c->ws))
        conn_kill(c); /* wslay gave up writing (out of memory) */
}

static void ws_read(hs_session *c)
{
    c->turn_read = 0;
    int r = wslay_event_recv(c->ws);
    if (c->io_err) {
        /* EOF or reset: the peer is gone, nothing more can be said. */
        conn_kill(c);
        return;
    }
    if (c->guard_bad && !wslay_event_get_close_sent(c->ws)) {
        wslay_event_queue_close(c->ws, c->guard.code, NULL, 0);
        wslay_event_shutdown_read(c->ws);
    }
    /* wslay stops reading once it has queued a close (a protocol error, 1007,
     * 1009, or the echo of the peer's close) or failed (r < 0). */
    if (r < 0 || c->guard_bad || !wslay_event_get_read_enabled(c->ws))
        ws_set_closing(c);
}

/* Socket I/O for one session: no callbacks, safe inside hs_server_drain. */
static void ws_service(hs_session *c, short revents, bool draining)
{
    if (c->st != CS_WS)
        return;
    if (revents & (POLLERR | POLLNVAL)) {
        conn_kill(c);
        return;
    }
    if ((revents & (POLLIN | POLLHUP)) && ws_can_read(c, draining)) {
        ws_read(c);
        if (c->st != CS_WS)
            return;
    } else if ((revents & POLLHUP) && !(revents & POLLIN)) {
        conn_kill(c);
        return;
    }
    ws_flush(c);
}

static int ws_start(hs_session *c, const char *accept)
{
    hs_server *srv = c->srv;
    char head[160];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 101 Switching Protocols\r\n"
                      "Upgrade: websocket\r\n"
                      "Connection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: %s\r\n"
                      "\r\n",
                      accept);
    if (hl <= 0 || (size_t)hl >= sizeof(head))
        return -EINVAL;
    char *out = malloc((size_t)hl);
    if (!out)
        return -ENOMEM;
    if (wslay_event_context_server_init(&c->ws, &ws_callbacks, c) != 0) {
        c->ws = NULL;
        free(out);
        return -ENOMEM;
    }
    memcpy(out, head, (size_t)hl);
    wslay_event_config_set_max_recv_msg_length(c->ws, srv->lim.max_message);
    hs__ws_guard_init(&c->guard);
    free(c->out);
    c->out = out;
    c->out_len = (size_t)hl;
    c->out_off = 0;
    /* What the client sent after its head is its first frames. */
    c->in_off = c->req.head_end;
    if (c->in_off >= c->in_len) {
        free(c->in);
        c->in = NULL;
        c->in_len = c->in_off = 0;
    }
    c->st = CS_WS;
    c->deadline = 0;
    c->opened = true;
    if (srv->cb.session_open)
        srv->cb.session_open(srv->ud, c);
    if (c->st == CS_WS && c->in && ws_can_read(c, false))
        ws_read(c);
    ws_flush(c);
    return 0;
}

/* ---- descriptors ------------------------------------------------------------------------ */

/* The host program owns the low descriptor numbers: shells and daemons dup2
 * onto fixed ones (3, 4, ...) or close them all and reopen. Ours are moved
 * high, out of their way, so that the host never writes into our eventfd or
 * reads our sockets, and we never write into or close its files. The range
 * up there has room for every descriptor the server can hold at once (its
 * connections, the listener, the eventfd, a few to spare). A connection
 * that finds no room there is refused (closed: -1, EMFILE), never kept low;
 * the eventfd and the listener (`must` false) stay where they are, or there
 * would be no endpoint at all. */
static int fd_high(const hs_server *srv, int fd, bool must)
{
    if (fd < 0)
        return fd;
    struct rlimit rl;
    long floor = 1000;
    long want = (long)srv->lim.max_connections + 8;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (long)rl.rlim_cur - want < floor)
        floor = (long)rl.rlim_cur - want;
    if (floor <= fd || floor < 3)
        return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, (int)floor);
    if (nfd < 0 && must) {
        close(fd);
        errno = EMFILE;
        return -1;
    }
    if (nfd < 0)
        return fd; /* no room up there: stay where we are */
    close(fd);
    return nfd;
}

/* Is fd still the eventfd we made? A host that closed it and reused the
 * number must not get our 8-byte writes or lose its file to our close. */
static bool efd_is_ours(const hs_server *srv)
{
    struct stat st;
    return srv->efd >= 0 && fstat(srv->efd, &st) == 0 && st.st_dev == srv->efd_dev &&
           st.st_ino == srv->efd_ino;
}

/* ---- accept ---------------------------------------------------------------------------- */

static void conn_accept(hs_server *srv, uint64_t now)
{
    for (int i = 0; i < 16 && srv->nconn < srv->lim.max_connections; i++) {
        int fd = fd_high(srv, accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), true);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                srv->accept_resume = now + 100; /* else poll reports it again at once */
            return;
        }
        hs_session *c = calloc(1, sizeof(*c));
        char *in = c ? malloc(srv->lim.max_header_bytes) : NULL;
        unsigned slot = 0;
        while (slot < srv->lim.max_connections && srv->fdtab[slot] >= 0)
            slot++;
        if (!c || !in || slot == srv->lim.max_connections) {
            free(c);
            free(in);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->srv = srv;
        c->fd = fd;
        c->slot = slot;
        srv->fdtab[slot] = fd;
        c->st = CS_HTTP;
        c->in = in;
        c->deadline = now + srv->lim.handshake_timeout_ms;
        hs__http_req_init(&c->req, c->in, srv->lim.max_headers);
        c->prev = srv->tail;
        if (srv->tail)
            srv->tail->next = c;
        else
            srv->head = c;
        srv->tail = c;
        srv->nconn++;
    }
}

/* ---- server object --------------------------------------------------------------------- */

hs_server *hs_server_new(const hs_server_limits *lim, const hs_server_callbacks *cb, void *ud)
{
    hs_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return NULL;
    if (lim)
        srv->lim = *lim;
    if (!srv->lim.max_header_bytes)
        srv->lim.max_header_bytes = HS_LIMIT_HEADER_BYTES;
    if (!srv->lim.max_headers)
        srv->lim.max_headers = HS_LIMIT_HEADERS;
    if (!srv->lim.max_message)
        srv->lim.max_message = HS_LIMIT_WS_MESSAGE;
    if (!srv->lim.max_out_queue)
        srv->lim.max_out_queue = HS_LIMIT_OUT_QUEUE;
    if (!srv->lim.max_connections)
        srv->lim.max_connections = HS_LIMIT_CONNECTIONS;
    if (!srv->lim.handshake_timeout_ms)
        srv->lim.handshake_timeout_ms = HS_LIMIT_HANDSHAKE_MS;
    if (!srv->lim.read_pause)
        srv->lim.read_pause = HS_LIMIT_READ_PAUSE;
    if (cb)
        srv->cb = *cb;
    srv->ud = ud;
    srv->lfd = -1;
    srv->port = -1;
    srv->next_timer_id = 1;
    atomic_init(&srv->stop, 0);
    unsigned n = srv->lim.max_connections;
    srv->fdtab = malloc(n * sizeof(*srv->fdtab));
    srv->pfd = malloc((n + 2) * sizeof(*srv->pfd));
    srv->pconn = malloc((n + 2) * sizeof(*srv->pconn));
    srv->dpfd = malloc((n + 2) * sizeof(*srv->dpfd));
    srv->dpconn = malloc((n + 2) * sizeof(*srv->dpconn));
    srv->efd = fd_high(srv, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), false);
    struct stat est;
    if (srv->efd >= 0 && fstat(srv->efd, &est) == 0) {
        srv->efd_dev = est.st_dev;
        srv->efd_ino = est.st_ino;
    }
    if (!srv->fdtab || !srv->pfd || !srv->pconn || !srv->dpfd || !srv->dpconn || srv->efd < 0) {
        if (srv->efd >= 0)
            close(srv->efd);
        free(srv->fdtab);
        free(srv->pfd);
        free(srv->pconn);
        free(srv->dpfd);
        free(srv->dpconn);
        free(srv);
        return NULL;
    }
    for (unsigned i = 0; i < n; i++)
        srv->fdtab[i] = -1;
    return srv;
}

static int bind_one(const hs_server *srv, const struct addrinfo *ai, int port)
{
    struct sockaddr_storage ss;
    if (ai->ai_addrlen > sizeof(ss))
        return -EINVAL;
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    else if (ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
    else
        return -EAFNOSUPPORT;
    int fd =
        fd_high(srv, socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), false);
    if (fd < 0)
        return -errno;
    int one = 1;
    /* A port left in TIME_WAIT by a previous run is free to reuse. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int hs_server_listen(hs_server *srv, const char *host, int port, int tries)
{
    if (!srv || port < 0 || port > 65535)
        return -EINVAL;
    if (srv->lfd >= 0)
        return -EALREADY;
    if (!host || !*host)
        host = "127.0.0.1";
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, NULL, &hints, &res);
    if (g != 0) {
        if (g == EAI_SYSTEM)
            return errno ? -errno : HS_E_RESOLVE;
        return g == EAI_MEMORY ? -ENOMEM : HS_E_RESOLVE;
    }
    if (tries < 1)
        tries = 1;
    int err = -EADDRNOTAVAIL;
    int fd = -1;
    /* port, port+1, …, port+tries-1, then 0 (ephemeral). */
    for (int k = 0; fd < 0; k++) {
        int p;
        if (port == 0 || k >= tries || port + k > 65535)
            p = 0;
        else
            p = port + k;
        bool busy = false;
        for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
            int r = bind_one(srv, ai, p);
            if (r >= 0)
                fd = r;
            else {
                err = r;
                busy |= r == -EADDRINUSE || r == -EACCES;
            }
        }
        if (fd >= 0 || p == 0 || !busy)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return err;
    int bp = bound_port(fd);
    if (bp < 0) {
        close(fd);
        return bp;
    }
    srv->lfd = fd;
    srv->port = bp;
    return bp;
}

/* What is at the socket's path: nothing (0); a socket of ours that nobody
 * listens on any more, its process having died without removing it (1: to be
 * replaced); anything else is left alone and refused (< 0). A socket that is
 * bound but not yet listening looks the same as a dead one, which is why
 * hs_server_listen_unix never puts one at the path: its socket appears there
 * already listening. */
static int unix_probe(const struct sockaddr_un *sa)
{
    struct stat st;
    if (lstat(sa->sun_path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
        return -EEXIST;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* Non-blocking: a live listener with a full backlog says EAGAIN instead of
     * holding us. Only ECONNREFUSED means that nobody listens. */
    int e = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ? errno : 0;
    close(fd);
    return e == ECONNREFUSED ? 1 : -EADDRINUSE;
}

/* The socket is bound, given mode 0600 and made to listen under a temporary
 * name in a fresh directory of mode 0700 next to the path (the same
 * filesystem), where no one else can reach it, replace it or plant a symbolic
 * link; its identity is taken there. Only then is it moved to the path:
 * link() where nothing is (it fails if something appeared meanwhile, and we
 * look again), rename() over a stale socket (atomic: the path never lacks a
 * file, and nothing but that socket is replaced). Another agent starting at
 * the same path therefore never sees ours bound but not listening and never
 * takes it for stale, and ours never acts on, records or later removes its
 * file. (Two agents replacing the same stale socket at the same moment: the
 * later rename wins and the earlier one's endpoint is unreachable, but
 * neither removes the other's file.) */
int hs_server_listen_unix(hs_server *srv, const char *path)
{
    if (!srv || !path || path[0] != '/')
        return -EINVAL;
    if (srv->lfd >= 0)
        return -EALREADY;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, n + 1);
    int r = unix_probe(&sa);
    if (r < 0)
        return r;
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    char tdir[sizeof(sa.sun_path) + 32];
    int dl = (int)(strrchr(path, '/') - path);
    snprintf(tdir, sizeof(tdir), "%.*s/.heapscope-XXXXXX", dl, path);
    if (!mkdtemp(tdir)) {
        free(copy);
        return -errno;
    }
    /* Its name, or when that is too long for sun_path (a path near the
     * limit), the same through a descriptor of the directory. */
    struct sockaddr_un tsa = {.sun_family = AF_UNIX};
    int dfd = -1, fd = -1;
    if ((size_t)snprintf(tsa.sun_path, sizeof(tsa.sun_path), "%s/s", tdir) >=
        sizeof(tsa.sun_path)) {
        dfd = open(tdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            r = -errno;
            goto out;
        }
        snprintf(tsa.sun_path, sizeof(tsa.sun_path), "/proc/self/fd/%d/s", dfd);
    }
    fd = fd_high(srv, socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), false);
    if (fd < 0) {
        r = -errno;
        goto out;
    }
    /* chmod rather than the umask, which would change it for the program's
     * threads too; nobody can connect there before it is 0600 anyway. */
    struct stat st;
    if (bind(fd, (const struct sockaddr *)&tsa, sizeof(tsa)) < 0 ||
        chmod(tsa.sun_path, S_IRUSR | S_IWUSR) < 0 || lstat(tsa.sun_path, &st) < 0 ||
        listen(fd, 128) < 0) {
        r = -errno;
        goto out;
    }
    for (int tries = 0;; tries++) {
        if (r == 0 && link(tsa.sun_path, path) == 0)
            break;
        if (r == 0 && (errno != EEXIST || tries >= 8)) {
            r = -errno;
            goto out;
        }
        if (r == 1) {
            if (rename(tsa.sun_path, path) == 0)
                break;
            r = -errno;
            goto out;
        }
        r = unix_probe(&sa);
        if (r < 0)
            goto out;
    }
    r = 0;
    srv->lfd = fd;
    fd = -1;
    srv->unix_path = copy;
    copy = NULL;
    srv->unix_dev = st.st_dev;
    srv->unix_ino = st.st_ino;
out:
    if (fd >= 0)
        close(fd);
    unlink(tsa.sun_path); /* still there after link(), or on failure */
    if (dfd >= 0)
        close(dfd);
    rmdir(tdir);
    free(copy);
    return r;
}

/* Removes the socket's file if it is still the one bound here. */
static void unix_remove(hs_server *srv)
{
    struct stat st;
    if (srv->unix_path && lstat(srv->unix_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
        st.st_dev == srv->unix_dev && st.st_ino == srv->unix_ino)
        unlink(srv->unix_path);
}

const char *hs_server_request_host(const hs_server *srv)
{
    return srv->req_host;
}

int hs_server_port(const hs_server *srv)
{
    return srv ? srv->port : -1;
}

void hs_server_stop(hs_server *srv)
{
    if (!srv)
        return;
    atomic_store(&srv->stop, 1);
    hs_server_wake(srv);
}

void hs_server_wake(hs_server *srv)
{
    if (!srv || srv->efd < 0)
        return;
    int saved = errno;
    if (!efd_is_ours(srv)) {
        errno = saved;
        return;
    }
    uint64_t one = 1;
    ssize_t r;
    do
        r = write(srv->efd, &one, sizeof(one));
    while (r < 0 && errno == EINTR);
    errno = saved;
}

static void drain_eventfd(hs_server *srv)
{
    uint64_t v;
    ssize_t r;
    do
        r = read(srv->efd, &v, sizeof(v));
    while (r < 0 && errno == EINTR);
    if (r == (ssize_t)sizeof(v))
        srv->woken_pending = true;
}

/* Sessions get close 1001 as far as the socket takes it now; every
 * connection is closed; sessions get session_closed. */
static void close_all(hs_server *srv, bool callbacks)
{
    for (hs_session *c = srv->head; c; c = c->next) {
        if (c->st == CS_WS && !c->closing && !c->out) {
            wslay_event_queue_close(c->ws, WSLAY_CODE_GOING_AWAY, NULL, 0);
            wslay_event_send(c->ws);
        }
        conn_kill(c);
    }
    if (callbacks) {
        reap(srv);
    } else {
        while (srv->head) {
            hs_session *c = srv->head;
            conn_unlink(srv, c);
            conn_free(c);
        }
    }
}

void hs_server_free(hs_server *srv)
{
    if (!srv)
        return;
    int saved = errno;
    if (srv->abandoned) {
        /* The descriptors are closed (or belong to someone else by now). */
        while (srv->head) {
            hs_session *c = srv->head;
            conn_unlink(srv, c);
            conn_free(c);
        }
    } else {
        close_all(srv, true);
        if (srv->lfd >= 0)
            close(srv->lfd);
        unix_remove(srv);
        if (efd_is_ours(srv))
            close(srv->efd);
    }
    free(srv->unix_path);
    free(srv->timers);
    free(srv->fdtab);
    free(srv->pfd);
    free(srv->pconn);
    free(srv->dpfd);
    free(srv->dpconn);
    free(srv);
    errno = saved;
}

void hs_server_abandon_after_fork(hs_server *srv)
{
    if (!srv)
        return;
    int saved = errno;
    /* Only close(): shutdown() would end the parent's connections too. The
     * fd table is a flat array so that a list caught mid-update by the fork
     * cannot lead us astray. */
    if (srv->lfd >= 0)
        close(srv->lfd);
    if (efd_is_ours(srv))
        close(srv->efd);
    srv->lfd = srv->efd = -1;
    for (unsigned i = 0; i < srv->lim.max_connections; i++) {
        if (srv->fdtab[i] >= 0)
            close(srv->fdtab[i]);
        srv->fdtab[i] = -1;
    }
    srv->abandoned = true;
    atomic_store(&srv->stop, 1);
    errno = saved;
}

/* ---- timers ------------------------------------------------------------------------------ */

int hs_server_timer_add(hs_server *srv, unsigned ms, bool repeat, hs_timer_fn fn, void *ud)
{
    if (!srv || !fn)
        return -EINVAL;
    if (srv->ntimers == srv->cap_timers) {
        size_t cap = srv->cap_timers ? srv->cap_timers * 2 : 8;
        timer *t = realloc(srv->timers, cap * sizeof(*t));
        if (!t)
            return -ENOMEM;
        srv->timers = t;
        srv->cap_timers = cap;
    }
    int id = srv->next_timer_id;
    srv->next_timer_id = id == 0x7fffffff ? 1 : id + 1;
    if (repeat && ms == 0)
        ms = 1;
    srv->timers[srv->ntimers++] = (timer){
        .id = id, .repeat = repeat, .interval = ms, .due = now_ms() + ms, .fn = fn, .ud = ud};
    return id;
}

void hs_server_timer_cancel(hs_server *srv, int id)
{
    if (!srv || id <= 0)
        return;
    for (size_t i = 0; i < srv->ntimers; i++)
        if (srv->timers[i].id == id)
            srv->timers[i].id = 0;
}

static void timers_fire(hs_server *srv)
{
    uint64_t now = now_ms();
    /* By index: a callback may add timers (and so move the array). */
    for (size_t i = 0; i < srv->ntimers; i++) {
        timer t = srv->timers[i];
        if (t.id == 0 || t.due > now)
            continue;
        if (t.repeat) {
            uint64_t next = t.due + t.interval;
            srv->timers[i].due = next > now ? next : now + t.interval;
        } else {
            srv->timers[i].id = 0;
        }
        t.fn(t.ud);
        if (atomic_load(&srv->stop))
            break;
    }
    size_t k = 0;
    for (size_t i = 0; i < srv->ntimers; i++)
        if (srv->timers[i].id)
            srv->timers[k++] = srv->timers[i];
    srv->ntimers = k;
}

/* ---- the loop ---------------------------------------------------------------------------- */

static int poll_timeout(uint64_t now, uint64_t until)
{
    if (until == UINT64_MAX)
        return -1;
    if (until <= now)
        return 0;
    uint64_t d = until - now;
    return d > 60000 ? 60000 : (int)d;
}

static void expire(hs_server *srv, uint64_t now)
{
    for (hs_session *c = srv->head; c; c = c->next) {
        if (c->st == CS_DEAD || !c->deadline || c->deadline > now)
            continue;
        /* A head never completed, an answer never read, a close frame never
         * taken, a peer that never closed: all end the same way. */
        conn_kill(c);
    }
}

static bool deliverable(const hs_session *c)
{
    return c->st == CS_WS && !c->closing && c->pend_head && ws_queued(c) <= c->srv->lim.read_pause;
}

/* Hands complete messages to session_message, while the session's answers
 * do not pile up above read_pause (the rest waits for the queue to drain). */
static void dispatch(hs_server *srv)
{
    for (hs_session *c = srv->head; c; c = c->next) {
        while (deliverable(c) && !atomic_load(&srv->stop)) {
            pending_msg *m = c->pend_head;
            c->pend_head = m->next;
            if (!c->pend_head)
                c->pend_tail = NULL;
            c->pend_bytes -= m->len;
            if (srv->cb.session_message)
                srv->cb.session_message(srv->ud, c, m->text, m->len);
            free(m);
        }
    }
}

int hs_server_run(hs_server *srv)
{
    if (!srv || srv->running || srv->abandoned)
        return -EINVAL;
    srv->running = true;
    int rc = 0;
    while (!atomic_load(&srv->stop)) {
        uint64_t now = now_ms();
        expire(srv, now);
        reap(srv);

        uint64_t until = UINT64_MAX;
        size_t n = 0;
        srv->pfd[n] = (struct pollfd){.fd = srv->efd, .events = POLLIN};
        srv->pconn[n++] = NULL;
        /* At the connection limit the listening socket is not watched: new
         * connections wait in the kernel's backlog (listen's 128) until a
         * slot frees, instead of being turned away while others linger. */
        bool room = srv->nconn < srv->lim.max_connections;
        if (srv->lfd >= 0 && room && srv->accept_resume <= now) {
            srv->pfd[n] = (struct pollfd){.fd = srv->lfd, .events = POLLIN};
            srv->pconn[n++] = NULL;
        } else if (srv->lfd >= 0 && room && srv->accept_resume < until) {
            until = srv->accept_resume;
        }
        for (hs_session *c = srv->head; c; c = c->next) {
            /* Frames that came with the upgrade request, and answers queued
             * by the last callbacks: handle them before sleeping. */
            if (c->st == CS_WS && c->in && ws_can_read(c, false))
                ws_read(c);
            if (ws_wants_write(c))
                ws_flush(c);
            short ev = 0;
            switch (c->st) {
            case CS_HTTP:
            case CS_LINGER:
                ev = POLLIN;
                break;
            case CS_HTTP_REPLY:
                ev = POLLOUT;
                break;
            case CS_WS:
                if (ws_can_read(c, false))
                    ev |= POLLIN;
                if (ws_wants_write(c))
                    ev |= POLLOUT;
                if (deliverable(c))
                    until = now;
                break;
            case CS_DEAD:
                until = now;
                break;
            }
            if (c->st == CS_DEAD || c->fd < 0)
                continue;
            if (c->deadline && c->deadline < until)
                until = c->deadline;
            srv->pfd[n] = (struct pollfd){.fd = c->fd, .events = ev};
            srv->pconn[n++] = c;
        }
        for (size_t i = 0; i < srv->ntimers; i++)
            if (srv->timers[i].id && srv->timers[i].due < until)
                until = srv->timers[i].due;

        int pr = poll(srv->pfd, (nfds_t)n, poll_timeout(now, until));
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        bool accept_ready = false;
        for (size_t i = 0; i < n && pr > 0; i++) {
            short re = srv->pfd[i].revents;
            if (!re)
                continue;
            hs_session *c = srv->pconn[i];
            if (!c) {
                if (srv->pfd[i].fd == srv->efd)
                    drain_eventfd(srv);
                else
                    accept_ready = true;
                continue;
            }
            switch (c->st) {
            case CS_HTTP:
                if (re & (POLLERR | POLLNVAL))
                    conn_kill(c);
                else
                    http_read(c);
                break;
            case CS_HTTP_REPLY: {
                if (re & (POLLERR | POLLNVAL | POLLHUP)) {
                    conn_kill(c);
                    break;
                }
                int r = flush_out(c);
                if (r < 0)
                    conn_kill(c);
                else if (r > 0)
                    conn_linger(c);
                break;
            }
            case CS_WS:
                ws_service(c, re, false);
                break;
            case CS_LINGER: {
                char sink[4096];
                ssize_t r = 0;
                for (int k = 0; k < 16; k++) {
                    r = recv_some(c->fd, sink, sizeof(sink));
                    if (r <= 0)
                        break;
                }
                if (r == 0 || (r < 0 && !would_block()) || (re & (POLLERR | POLLNVAL)))
                    conn_kill(c);
                break;
            }
            case CS_DEAD:
                break;
            }
        }
        if (accept_ready) {
            /* Connections that died in this round still count in nconn until
             * they are reaped: a client arriving as others leave would be
             * left waiting as over the limit with the slots already free. */
            reap(srv);
            conn_accept(srv, now_ms());
        }
        /* Sessions that ended in this round end before the others' messages
         * of the same round are delivered (see reap). */
        reap(srv);
        dispatch(srv);
        timers_fire(srv);
        if (srv->woken_pending) {
            srv->woken_pending = false;
            if (srv->cb.woken)
                srv->cb.woken(srv->ud);
        }
    }
    close_all(srv, true);
    srv->running = false;
    return rc;
}

static int drain_loop(hs_server *srv, hs_session *s, size_t below, int timeout_ms)
{
    uint64_t last_written = s->written;
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (atomic_load(&srv->stop))
            return -ECANCELED;
        if (s->st != CS_WS || s->closing)
            return -EPIPE;
        if (ws_queued(s) <= below && !s->out)
            return 0;
        uint64_t now = now_ms();
        if (s->written != last_written) {
            last_written = s->written;
            if (timeout_ms >= 0)
                deadline = now + (uint64_t)timeout_ms;
        }
        if (now >= deadline)
            return -ETIMEDOUT;
        size_t n = 0;
        srv->dpfd[n] = (struct pollfd){.fd = srv->efd, .events = POLLIN};
        srv->dpconn[n++] = NULL;
        for (hs_session *c = srv->head; c; c = c->next) {
            if (c->st != CS_WS)
                continue;
            /* Read without waiting for poll to say so: while the socket takes
             * everything the producer queues this loop may never poll, and a
             * ping must not wait for the end of the stream. */
            if (ws_can_read(c, true))
                ws_read(c);
            if (ws_wants_write(c))
                ws_flush(c);
            if (c->st != CS_WS)
                continue;
            short ev = 0;
            if (ws_can_read(c, true))
                ev |= POLLIN;
            if (ws_wants_write(c))
                ev |= POLLOUT;
            srv->dpfd[n] = (struct pollfd){.fd = c->fd, .events = ev};
            srv->dpconn[n++] = c;
        }
        if (s->st != CS_WS || s->closing)
            return -EPIPE;
        if (ws_queued(s) <= below && !s->out)
            return 0;
        if (s->written != last_written)
            continue;
        int pr = poll(srv->dpfd, (nfds_t)n, poll_timeout(now, deadline));
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        for (size_t i = 0; i < n && pr > 0; i++) {
            short re = srv->dpfd[i].revents;
            if (!re)
                continue;
            if (!srv->dpconn[i])
                drain_eventfd(srv);
            else
                ws_service(srv->dpconn[i], re, true);
        }
    }
}

int hs_server_drain(hs_server *srv, hs_session *s, size_t below, int timeout_ms)
{
    if (!srv || !s)
        return -EINVAL;
    const hs_session *saved_s = srv->drain_s;
    size_t saved_cap = srv->drain_cap;
    srv->drain_s = s;
    srv->drain_cap = ws_queued(s) + srv->lim.read_pause;
    int rc = drain_loop(srv, s, below, timeout_ms);
    srv->drain_s = saved_s;
    srv->drain_cap = saved_cap;
    return rc;
}

/* ---- sessions ---------------------------------------------------------------------------- */

int hs_session_send_text(hs_session *s, const char *text, size_t len)
{
    if (!s || (!text && len))
        return -EINVAL;
    if (s->st != CS_WS || s->closing)
        return -EPIPE;
    if (ws_queued(s) + len > s->srv->lim.max_out_queue || len > s->srv->lim.max_out_queue) {
        /* The client has stopped reading what the server sends on its own:
         * RFC 6455 §7.4.1 1008, "a message that violates its policy". */
        hs_session_close(s, WSLAY_CODE_POLICY_VIOLATION, "output queue over limit");
        return -ENOBUFS;
    }
    struct wslay_event_msg m = {
        .opcode = WSLAY_TEXT_FRAME, .msg = (const uint8_t *)(text ? text : ""), .msg_length = len};
    int r = wslay_event_queue_msg(s->ws, &m);
    if (r == WSLAY_ERR_NOMEM)
        return -ENOMEM;
    if (r != 0)
        return -EPIPE;
    return 0;
}

size_t hs_session_queued(const hs_session *s)
{
    return s ? ws_queued(s) : 0;
}

void hs_session_close(hs_session *s, uint16_t code, const char *reason)
{
    if (!s || s->st != CS_WS || s->closing)
        return;
    /* RFC 6455 §7.4: 1004-1006 and 1015 must not be sent; below 1000 and
     * above 4999 are not codes. */
    if (code < 1000 || code > 4999 || code == 1004 || code == 1005 || code == 1006 ||
        code == 1015 || (code > 1015 && code < 3000))
        code = WSLAY_CODE_NORMAL_CLOSURE;
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > 123) {
        rl = 123;
        while (rl && ((unsigned char)reason[rl] & 0xc0u) == 0x80u)
            rl--; /* do not cut a UTF-8 sequence */
    }
    wslay_event_queue_close(s->ws, code, (const uint8_t *)reason, rl);
    ws_set_closing(s);
}

void hs_session_set_user(hs_session *s, void *user)
{
    if (s)
        s->user = user;
}

void *hs_session_user(const hs_session *s)
{
    return s ? s->user : NULL;
}
