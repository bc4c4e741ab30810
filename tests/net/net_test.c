/*
 * net_test.c — the shared test server and raw-socket client of tests/net
 * (see net_test.h). The client side is written from RFC 6455 independently
 * of src/net so that the tests check the server against the RFC, not against
 * itself.
 */
#include "net_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- server callbacks ---- */

static int cb_http_get(void *ud, const char *path, char **body, size_t *len)
{
    (void)ud;
    if (strcmp(path, "/json/version") != 0)
        return -1;
    *body = strdup("{\"ok\":true}");
    *len = strlen(*body);
    return 0;
}

static bool cb_ws_path(void *ud, const char *path)
{
    (void)ud;
    return strcmp(path, "/ws") == 0;
}

static bool cb_host_ok(void *ud, const char *host)
{
    (void)ud;
    return !host || !strncmp(host, "127.0.0.1", 9) || !strncmp(host, "localhost", 9);
}

static void bump(tsrv *t, int *counter)
{
    pthread_mutex_lock(&t->mu);
    (*counter)++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void cb_open(void *ud, hs_session *s)
{
    tsrv *t = ud;
    hs_session_set_user(s, t);
    t->live = s;
    bump(t, &t->opened);
}

static void cb_closed(void *ud, hs_session *s)
{
    tsrv *t = ud;
    if (hs_session_user(s) != t)
        abort(); /* the pointer set at open must come back */
    if (t->live == s)
        t->live = NULL;
    bump(t, &t->closed);
}

static void cb_woken(void *ud)
{
    tsrv *t = ud;
    bump(t, &t->woken);
}

static void note_queued(tsrv *t, hs_session *s)
{
    size_t q = hs_session_queued(s);
    pthread_mutex_lock(&t->mu);
    if (q > t->max_queued)
        t->max_queued = q;
    if (t->queued_mark && q > t->queued_mark) {
        t->over_mark++;
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
}

void tsrv_sample_queue(void *ud)
{
    tsrv *t = ud;
    if (t->live)
        note_queued(t, t->live);
}

/* "stream N SIZE TIMEOUT": N messages of SIZE bytes ("<seq> xxxx…"), waiting
 * in hs_server_drain whenever more than 1 MiB is queued, as a snapshot
 * producer does. */
static void stream(tsrv *t, hs_session *s, int n, size_t size, int timeout_ms)
{
    char *buf = malloc(size + 1);
    int rc = 0;
    t->streaming = true;
    for (int i = 0; i < n && rc == 0; i++) {
        memset(buf, 'x', size);
        int hl = snprintf(buf, size + 1, "%d ", i);
        buf[hl] = ' ';
        if (hs_session_queued(s) > 1024 * 1024)
            rc = hs_server_drain(t->srv, s, 256 * 1024, timeout_ms);
        if (rc == 0)
            rc = hs_session_send_text(s, buf, size);
        note_queued(t, s);
    }
    if (rc == 0)
        rc = hs_server_drain(t->srv, s, 0, timeout_ms);
    t->streaming = false;
    free(buf);
    pthread_mutex_lock(&t->mu);
    t->stream_rc = rc;
    t->stream_done++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void cb_message(void *ud, hs_session *s, const char *text, size_t len)
{
    tsrv *t = ud;
    if (t->streaming)
        t->stream_msgs_during++; /* would be a re-entrant delivery */
    int n, timeout;
    size_t size;
    if (len == 5 && !memcmp(text, "close", 5)) {
        hs_session_close(s, 4000, "bye");
        int rc = hs_session_send_text(s, "late", 4);
        pthread_mutex_lock(&t->mu);
        t->send_after_close_rc = rc;
        pthread_mutex_unlock(&t->mu);
    } else if (len < 64 && sscanf(text, "flood %d %zu", &n, &size) == 2) {
        char *buf = malloc(size);
        memset(buf, 'f', size);
        int rc = 0, sent = 0;
        for (int i = 0; i < n && rc == 0; i++) {
            rc = hs_session_send_text(s, buf, size);
            if (rc == 0)
                sent++;
            note_queued(t, s);
        }
        free(buf);
        pthread_mutex_lock(&t->mu);
        t->flood_rc = rc;
        t->flood_sent = sent;
        pthread_mutex_unlock(&t->mu);
    } else if (len < 64 && sscanf(text, "stream %d %zu %d", &n, &size, &timeout) == 3) {
        stream(t, s, n, size, timeout);
    } else {
        hs_session_send_text(s, text, len);
        note_queued(t, s);
    }
    bump(t, &t->messages);
}

static void *run_thread(void *arg)
{
    tsrv *t = arg;
    t->run_rc = hs_server_run(t->srv);
    return NULL;
}

tsrv *tsrv_start(const hs_server_limits *lim, void (*before_run)(tsrv *))
{
    return tsrv_start_on("127.0.0.1", lim, before_run);
}

tsrv *tsrv_start_on(const char *host, const hs_server_limits *lim, void (*before_run)(tsrv *))
{
    tsrv *t = calloc(1, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    hs_server_callbacks cb = {
        .http_get = cb_http_get,
        .ws_accept_path = cb_ws_path,
        .host_ok = cb_host_ok,
        .session_open = cb_open,
        .session_message = cb_message,
        .session_closed = cb_closed,
        .woken = cb_woken,
    };
    t->srv = hs_server_new(lim, &cb, t);
    if (!t->srv)
        abort();
    if (host && !strncmp(host, "unix:", 5)) { /* a Unix socket: port stays 0 */
        if (hs_server_listen_unix(t->srv, host + 5) != 0 || hs_server_port(t->srv) != -1)
            abort();
    } else {
        t->port = hs_server_listen(t->srv, host, 0, 1);
        if (t->port <= 0 || hs_server_port(t->srv) != t->port)
            abort();
    }
    if (before_run)
        before_run(t);
    if (pthread_create(&t->th, NULL, run_thread, t) != 0)
        abort();
    return t;
}

int tsrv_stop(tsrv *t)
{
    hs_server_stop(t->srv);
    pthread_join(t->th, NULL);
    hs_server_free(t->srv);
    int rc = t->run_rc;
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
    return rc;
}

bool tsrv_wait(tsrv *t, const int *counter, int n, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&t->mu);
    int rc = 0;
    while (*counter < n && rc == 0)
        rc = pthread_cond_timedwait(&t->cv, &t->mu, &until);
    bool ok = *counter >= n;
    pthread_mutex_unlock(&t->mu);
    return ok;
}

int tsrv_get(tsrv *t, const int *counter)
{
    pthread_mutex_lock(&t->mu);
    int v = *counter;
    pthread_mutex_unlock(&t->mu);
    return v;
}

/* ---- client ---- */

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int t_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int t_connect_unix(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(a.sun_path))
        return -ENAMETOOLONG;
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int t_connect_small(int port, int bufsize)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static bool wait_fd(int fd, short ev, long long until)
{
    for (;;) {
        long long left = until - mono_ms();
        if (left < 0)
            left = 0;
        struct pollfd p = {.fd = fd, .events = ev};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return true;
        if (r == 0)
            return false;
        if (errno != EINTR)
            return false;
    }
}

bool t_send(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    long long until = mono_ms() + T_WAIT_MS;
    while (n) {
        if (!wait_fd(fd, POLLOUT, until))
            return false;
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return false;
        }
        p += r;
        n -= (size_t)r;
    }
    return true;
}

bool t_recv_exact(int fd, void *buf, size_t n, int timeout_ms)
{
    char *p = buf;
    long long until = mono_ms() + timeout_ms;
    while (n) {
        if (!wait_fd(fd, POLLIN, until))
            return false;
        ssize_t r = recv(fd, p, n, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

long t_recv_all(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t len = 0;
    long long until = mono_ms() + timeout_ms;
    for (;;) {
        if (!wait_fd(fd, POLLIN, until))
            return -1;
        char sink[4096];
        char *dst = len < cap ? buf + len : sink;
        size_t room = len < cap ? cap - len : sizeof(sink);
        ssize_t r = recv(fd, dst, room, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r < 0)
            return errno == ECONNRESET ? (long)len : -1;
        if (r == 0)
            break;
        if (len < cap)
            len += (size_t)r;
    }
    if (len < cap)
        buf[len] = '\0';
    return (long)len;
}

long t_http(int port, const char *req, char *out, size_t cap)
{
    int fd = t_connect(port);
    if (fd < 0)
        return -1;
    long n = -1;
    if (t_send(fd, req, strlen(req)))
        n = t_recv_all(fd, out, cap, T_WAIT_MS);
    close(fd);
    return n;
}

static const char upgrade_req[] = "GET /ws HTTP/1.1\r\n"
                                  "Host: 127.0.0.1\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Connection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"
                                  "\r\n";

static const char upgrade_resp[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                   "Upgrade: websocket\r\n"
                                   "Connection: Upgrade\r\n"
                                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                   "\r\n";

int t_ws_connect(int port)
{
    return t_ws_handshake(t_connect(port));
}

int t_ws_handshake(int fd)
{
    if (fd < 0)
        return -1;
    char got[sizeof(upgrade_resp)] = {0};
    if (!t_send(fd, upgrade_req, strlen(upgrade_req)) ||
        !t_recv_exact(fd, got, strlen(upgrade_resp), T_WAIT_MS) ||
        memcmp(got, upgrade_resp, strlen(upgrade_resp)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

size_t t_frame_build(uint8_t *out, bool fin, unsigned rsv, unsigned opcode, const void *p, size_t n,
                     bool mask)
{
    size_t o = 0;
    out[o++] = (uint8_t)((fin ? 0x80u : 0) | ((rsv & 7u) << 4) | (opcode & 0x0fu));
    uint8_t mbit = mask ? 0x80u : 0;
    if (n < 126) {
        out[o++] = (uint8_t)(mbit | n);
    } else if (n < 65536) {
        out[o++] = mbit | 126;
        out[o++] = (uint8_t)(n >> 8);
        out[o++] = (uint8_t)n;
    } else {
        out[o++] = mbit | 127;
        for (int i = 7; i >= 0; i--)
            out[o++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d}; /* RFC 6455 §5.7's example key */
    if (mask) {
        memcpy(out + o, key, 4);
        o += 4;
    }
    const uint8_t *src = p;
    for (size_t i = 0; i < n; i++)
        out[o + i] = mask ? (uint8_t)(src[i] ^ key[i % 4]) : src[i];
    return o + n;
}

bool t_ws_send(int fd, bool fin, unsigned opcode, const void *p, size_t n)
{
    uint8_t *f = malloc(n + 14);
    size_t fl = t_frame_build(f, fin, 0, opcode, p, n, true);
    bool ok = t_send(fd, f, fl);
    free(f);
    return ok;
}

bool t_ws_text(int fd, const char *s)
{
    return t_ws_send(fd, true, 1, s, strlen(s));
}

bool t_ws_recv(int fd, t_frame *f, int timeout_ms)
{
    memset(f, 0, sizeof(*f));
    uint8_t h[2];
    if (!t_recv_exact(fd, h, 2, timeout_ms))
        return false;
    f->fin = (h[0] & 0x80) != 0;
    f->rsv = (h[0] >> 4) & 7u;
    f->opcode = h[0] & 0x0fu;
    if (h[1] & 0x80)
        return false; /* RFC 6455 §5.1: a server MUST NOT mask */
    uint64_t len = h[1] & 0x7fu;
    if (len >= 126) {
        uint8_t x[8];
        size_t k = len == 126 ? 2 : 8;
        if (!t_recv_exact(fd, x, k, timeout_ms))
            return false;
        len = 0;
        for (size_t i = 0; i < k; i++)
            len = (len << 8) | x[i];
    }
    if (len > 64u * 1024 * 1024)
        return false;
    f->len = (size_t)len;
    f->data = malloc(f->len + 1);
    if (!t_recv_exact(fd, f->data, f->len, timeout_ms)) {
        t_frame_free(f);
        return false;
    }
    f->data[f->len] = 0;
    return true;
}

void t_frame_free(t_frame *f)
{
    free(f->data);
    f->data = NULL;
}

int t_ws_expect_close(int fd, char *reason, size_t cap)
{
    for (;;) {
        t_frame f;
        if (!t_ws_recv(fd, &f, T_WAIT_MS))
            return -1;
        if (f.opcode != 8) {
            t_frame_free(&f);
            continue;
        }
        int code = f.len >= 2 ? (f.data[0] << 8) | f.data[1] : 0;
        if (reason && cap) {
            size_t rl = f.len > 2 ? f.len - 2 : 0;
            if (rl >= cap)
                rl = cap - 1;
            memcpy(reason, f.data + 2 > f.data + f.len ? f.data : f.data + 2, rl);
            reason[rl] = 0;
        }
        t_frame_free(&f);
        /* After its close frame the server closes the connection. */
        char tail[256];
        if (t_recv_all(fd, tail, sizeof(tail), T_WAIT_MS) != 0)
            return -2;
        return code;
    }
}

bool t_ws_expect_text(int fd, const char *s)
{
    t_frame f;
    if (!t_ws_recv(fd, &f, T_WAIT_MS))
        return false;
    bool ok = f.fin && f.opcode == 1 && f.len == strlen(s) && !memcmp(f.data, s, f.len);
    if (!ok)
        fprintf(stderr, "expected text '%.80s', got opcode %u len %zu '%.80s'\n", s, f.opcode,
                f.len, f.data);
    t_frame_free(&f);
    return ok;
}
