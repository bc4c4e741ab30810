/*
 * fuzz_ws.c — libFuzzer target for a real hs_server session (src/net:
 * server.c, ws_guard.c, http_req.c, ws_accept.c and wslay behind them), with
 * the fuzz input as what the peer sends.
 *
 * Each input gets a fresh server listening on a Unix socket in a private
 * temporary directory, served by a thread; the harness connects, writes the
 * input, shuts its write side and reads everything the server answers until
 * the server closes the connection. Input: one control byte, then the bytes.
 * Control bit 0x80: the bytes are the whole connection, HTTP head included;
 * otherwise a valid upgrade request to the session path comes first and the
 * bytes are WebSocket frames (as a client sends them: masked). Bit 0x40: a
 * small message limit (100 bytes), to reach "message too big" cheaply.
 * Every message delivered is echoed, and one that starts with "close" makes
 * the server close the session with the code its next two bytes spell and
 * the rest as the reason; one that starts with "drain" is answered with
 * DRAIN_BYTES of 'D' that the callback waits out in hs_server_drain. A last
 * message, the sentinel, follows the input in session mode (see below).
 *
 * Invariants: every message delivered is valid UTF-8 within the limit; each
 * opened session is closed exactly once; the server always ends the
 * connection once the peer has stopped sending (no hang); what it answers
 * is an HTTP 400, 200 or 101, and after a 101, well-formed server frames:
 * unmasked, no reserved bits, known opcodes, control frames of at most 125
 * bytes, close codes a server may send with a reason in UTF-8 (cut to fit
 * by the server, never inside a character), text that is valid UTF-8 and that
 * matches a message it was sent (or the drain answer), and nothing after a
 * close frame; hs_server_drain ends with the queue written or the session
 * gone, never by its timeout.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "hs_limits.h"
#include "hs_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SMALL_MESSAGE 100u
/* Longer than this without the server closing is a hang (libFuzzer's own
 * -timeout would only say "slow"). */
#define DEADLINE_MS 5000

static const char upgrade[] = "GET /session HTTP/1.1\r\n"
                              "Host: localhost\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n"
                              "\r\n";

/* The last message of every session-mode input: a masked (key 0) text
 * frame whose echo tells the harness the server has answered all before it. */
#define SENTINEL "fuzz-sentinel"
static const char sentinel_frame[] = "\x81\x8d\0\0\0\0" SENTINEL;
#define IDLE_MS 20
/* More than a Unix socket's buffer takes at once. */
#define DRAIN_BYTES (512u * 1024u)

static char dir[64];
static char sock_path[96];

struct run {
    hs_server *srv;
    size_t max_message;
    unsigned opened, closed;
    /* Every message delivered, concatenated, to match the echoes against. */
    char *seen;
    size_t seen_len;
};

static bool utf8_valid(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

static int cb_http_get(void *ud, const char *path, char **body, size_t *body_len)
{
    (void)ud;
    CHECK(path[0] == '/' && !strpbrk(path, "?#"));
    if (strcmp(path, "/json") != 0)
        return -1;
    *body = strdup("[]");
    *body_len = *body ? 2 : 0;
    return 0;
}

static bool cb_ws_path(void *ud, const char *path)
{
    (void)ud;
    return strcmp(path, "/session") == 0;
}

static void cb_open(void *ud, hs_session *s)
{
    struct run *r = ud;
    r->opened++;
    hs_session_set_user(s, r);
}

static void cb_message(void *ud, hs_session *s, const char *text, size_t len)
{
    struct run *r = ud;
    CHECK(hs_session_user(s) == r && r->closed < r->opened);
    CHECK(len <= r->max_message && utf8_valid((const uint8_t *)text, len));
    char *seen = realloc(r->seen, r->seen_len + len + 1);
    CHECK(seen);
    memcpy(seen + r->seen_len, text, len);
    r->seen = seen;
    r->seen_len += len;
    r->seen[r->seen_len] = '\0';
    if (len >= 7 && !memcmp(text, "close", 5)) {
        /* The rest is the reason (NULL when there is none), from its first
         * whole character: hs_session_close takes UTF-8. */
        uint16_t code = (uint16_t)((uint8_t)text[5] << 8 | (uint8_t)text[6]);
        size_t from = 7;
        while (from < len && ((uint8_t)text[from] & 0xc0) == 0x80)
            from++;
        char *reason = len > 7 ? strndup(text + from, len - from) : NULL;
        CHECK(len == 7 || reason);
        hs_session_close(s, code, reason);
        free(reason);
        return;
    }
    if (len >= 5 && !memcmp(text, "drain", 5)) {
        /* A producer's way (snapshot streaming): queue more than the
         * socket takes and wait in hs_server_drain, which meanwhile reads
         * and buffers the peer's further frames and answers its pings. */
        char *big = malloc(DRAIN_BYTES);
        CHECK(big);
        memset(big, 'D', DRAIN_BYTES);
        int rc = hs_session_send_text(s, big, DRAIN_BYTES);
        free(big);
        CHECK(rc == 0 || rc == -EPIPE);
        rc = hs_server_drain(r->srv, s, 0, DEADLINE_MS / 2);
        CHECK(rc == 0 || rc == -EPIPE);
        return;
    }
    int rc = hs_session_send_text(s, text, len);
    CHECK(rc == 0 || rc == -EPIPE || rc == -ENOBUFS);
}

static void cb_closed(void *ud, hs_session *s)
{
    struct run *r = ud;
    CHECK(hs_session_user(s) == r);
    r->closed++;
    CHECK(r->closed <= r->opened);
}

static void *serve(void *arg)
{
    struct run *r = arg;
    CHECK(hs_server_run(r->srv) == 0);
    return NULL;
}

static void remove_dir(void)
{
    rmdir(dir);
}

/* One directory per process, for every input's socket (a server removes its
 * socket file when freed). */
static void setup(void)
{
    if (dir[0])
        return;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/fuzz_ws.XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    CHECK(mkdtemp(dir));
    snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
    atexit(remove_dir);
}

/* The text a "drain" message is answered with. */
static bool all_d(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 'D')
            return false;
    return n > 0;
}

static uint64_t get_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static bool close_code_ok(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

/* The frames after a 101. The last one may be cut short: the server may
 * close while its output is still queued once the peer has gone. */
static void check_frames(const uint8_t *p, size_t n, const struct run *r)
{
    bool closed = false, in_text = false;
    size_t i = 0;
    while (i < n) {
        CHECK(!closed);
        if (n - i < 2)
            return;
        uint8_t b0 = p[i], b1 = p[i + 1];
        unsigned op = b0 & 0x0f;
        CHECK((b0 & 0x70) == 0 && (b1 & 0x80) == 0);
        uint64_t len = b1 & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (n - i < 4)
                return;
            len = get_be(p + i + 2, 2);
            h = 4;
            CHECK(len >= 126);
        } else if (len == 127) {
            if (n - i < 10)
                return;
            len = get_be(p + i + 2, 8);
            h = 10;
            CHECK(len > 0xffff && len >> 63 == 0);
        }
        if (n - i - h < len)
            return;
        const uint8_t *pl = p + i + h;
        switch (op) {
        case 0x0: /* continuation of a text message */
            CHECK(in_text);
            break;
        case 0x1:
            CHECK(!in_text);
            break;
        case 0x8:
            CHECK(len == 0 || (len >= 2 && len <= 125));
            if (len >= 2)
                CHECK(close_code_ok((unsigned)get_be(pl, 2)) && utf8_valid(pl + 2, len - 2));
            closed = true;
            break;
        case 0x9:
        case 0xa:
            CHECK(len <= 125);
            break;
        default:
            CHECK(!"opcode a server never sends");
        }
        if (op <= 1) {
            in_text = !(b0 & 0x80);
            /* An echo: a message the server was sent (checked per frame,
             * enough for the single-frame answers it writes). */
            CHECK(utf8_valid(pl, len) || in_text);
            CHECK(len == 0 || (r->seen && memmem(r->seen, r->seen_len, pl, len)) || all_d(pl, len));
        } else {
            CHECK(b0 & 0x80);
        }
        i += h + len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    setup();
    uint8_t ctl = data[0];
    data++;
    size--;
    bool raw = ctl & 0x80;
    struct run r = {.max_message = (ctl & 0x40) ? SMALL_MESSAGE : HS_LIMIT_WS_MESSAGE};
    hs_server_limits lim = {.max_message = r.max_message};
    hs_server_callbacks cb = {.http_get = cb_http_get,
                              .ws_accept_path = cb_ws_path,
                              .session_open = cb_open,
                              .session_message = cb_message,
                              .session_closed = cb_closed};
    r.srv = hs_server_new(&lim, &cb, &r);
    CHECK(r.srv);
    CHECK(hs_server_listen_unix(r.srv, sock_path) == 0);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, serve, &r) == 0);

    /* Write and read at once: the server may answer before it has read
     * everything, and must not be blocked by an answer nobody reads. The
     * server drops messages it has read but not yet delivered when the peer
     * goes away, so in session mode the harness ends its side only once the
     * server has answered everything it sent: the echo of a last message
     * (the sentinel) has come back, the server has closed, or it has said
     * nothing for IDLE_MS (the input ended inside a frame). */
    size_t pre = raw ? 0 : sizeof(upgrade) - 1;
    size_t post = raw ? 0 : sizeof(sentinel_frame) - 1;
    size_t total = pre + size + post, off = 0;
    uint8_t *in = malloc(total ? total : 1);
    CHECK(in);
    memcpy(in, upgrade, pre);
    if (size)
        memcpy(in + pre, data, size);
    memcpy(in + pre + size, sentinel_frame, post);
    uint8_t *out = NULL;
    size_t out_len = 0, out_cap = 0;
    bool eof = false, wr_done = false;
    int waited = 0;
    while (!eof) {
        if (!wr_done && off == total &&
            (raw || waited >= IDLE_MS ||
             (out && memmem(out, out_len, SENTINEL, strlen(SENTINEL))))) {
            shutdown(fd, SHUT_WR);
            wr_done = true;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN | (off < total ? POLLOUT : 0)};
        int pr = poll(&pfd, 1, wr_done ? 100 : IDLE_MS);
        CHECK(pr >= 0 || errno == EINTR);
        if (pr == 0) {
            waited += wr_done ? 100 : IDLE_MS;
            CHECK(waited < DEADLINE_MS); /* the server did not end the connection */
            continue;
        }
        if (pfd.revents & POLLOUT) {
            ssize_t w = send(fd, in + off, total - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                off = total; /* the server has closed: nothing more to say */
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            if (out_cap - out_len < 65536) {
                out = realloc(out, out_cap = out_cap * 2 + 65536);
                CHECK(out);
            }
            ssize_t n = recv(fd, out + out_len, out_cap - out_len, MSG_DONTWAIT);
            if (n > 0)
                out_len += (size_t)n;
            else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                eof = true;
        }
    }
    free(in);
    close(fd);
    hs_server_stop(r.srv);
    CHECK(pthread_join(th, NULL) == 0);
    hs_server_free(r.srv);
    CHECK(r.closed == r.opened && r.opened <= 1);

    static const char s101[] = "HTTP/1.1 101 Switching Protocols\r\n";
    if (out_len >= sizeof(s101) - 1 && !memcmp(out, s101, sizeof(s101) - 1)) {
        CHECK(r.opened == 1);
        const uint8_t *end = memmem(out, out_len, "\r\n\r\n", 4);
        CHECK(end);
        end += 4;
        check_frames(end, out_len - (size_t)(end - out), &r);
    } else if (out_len) {
        CHECK(r.opened == 0);
        CHECK(out_len >= 12 &&
              (!memcmp(out, "HTTP/1.0 400", 12) || !memcmp(out, "HTTP/1.0 200", 12)));
    }
    free(out);
    free(r.seen);
    return 0;
}
