/*
 * test_net_http.c — the HTTP side of hs_server: discovery answers byte for
 * byte as node's inspector gives them (golden discovery-http.txt), the Host
 * check, the upgrade handshake and its refusals, request-head limits, the
 * handshake time-out, the connection limit, and hs_ws_accept_key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_int.h"
#include "net_test.h"

static const char ok_version[] = "HTTP/1.0 200 OK\r\n"
                                 "Content-Type: application/json; charset=UTF-8\r\n"
                                 "Cache-Control: no-cache\r\n"
                                 "Content-Length: 11\r\n"
                                 "\r\n"
                                 "{\"ok\":true}";

static const char bad[] = "HTTP/1.0 400 Bad Request\r\n"
                          "Content-Type: text/html; charset=UTF-8\r\n"
                          "\r\n"
                          "WebSockets request was expected\r\n";

static void expect_answer(int port, const char *req, const char *want)
{
    char got[4096];
    long n = t_http(port, req, got, sizeof(got) - 1);
    if (n != (long)strlen(want) || memcmp(got, want, (size_t)n) != 0)
        fail_msg("request:\n%s\nexpected:\n%s\ngot (%ld):\n%s", req, want, n, n > 0 ? got : "");
}

static void test_accept_key(void **state)
{
    (void)state;
    char out[29];
    /* RFC 6455 §1.3's example. */
    assert_int_equal(hs_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(hs_ws_accept_key(NULL, out), -EINVAL);
    assert_true(hs_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_false(hs_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ="));
    assert_false(hs_ws_key_valid("dGhlIHNhbXBsZSBub25jZ!=="));
    assert_false(hs_ws_key_valid("dGhlIHNhbXBsZQ=="));
    assert_false(hs_ws_key_valid(NULL));
}

static void test_list_tokens(void **state)
{
    (void)state;
    const char *v = "keep-alive, Upgrade";
    assert_true(hs__http_list_has(v, strlen(v), "upgrade"));
    assert_false(hs__http_list_has(v, strlen(v), "websocket"));
    v = "upgraded";
    assert_false(hs__http_list_has(v, strlen(v), "upgrade"));
    v = " websocket ,";
    assert_true(hs__http_list_has(v, strlen(v), "websocket"));
}

static void test_discovery_200(void **state)
{
    (void)state;
    tsrv *t = tsrv_start(NULL, NULL);
    expect_answer(t->port, "GET /json/version HTTP/1.1\r\nHost: 127.0.0.1:9229\r\n\r\n",
                  ok_version);
    /* HTTP/1.0 without Host, as in the golden file. */
    expect_answer(t->port, "GET /json/version HTTP/1.0\r\n\r\n", ok_version);
    expect_answer(t->port, "GET /json/version HTTP/1.1\r\nHost: localhost:9229\r\n\r\n",
                  ok_version);
    /* A request that arrives in pieces. */
    int fd = t_connect(t->port);
    const char *parts[] = {"GET /json/ver", "sion HTTP/1.1\r\nHo", "st: 127.0.0.1\r", "\n\r\n"};
    for (int i = 0; i < 4; i++)
        assert_true(t_send(fd, parts[i], strlen(parts[i])));
    char got[512];
    long n = t_recv_all(fd, got, sizeof(got) - 1, T_WAIT_MS);
    close(fd);
    assert_int_equal(n, (long)strlen(ok_version));
    assert_memory_equal(got, ok_version, (size_t)n);
    assert_int_equal(tsrv_stop(t), 0);
}

static void test_discovery_400(void **state)
{
    (void)state;
    tsrv *t = tsrv_start(NULL, NULL);
    static const char *const reqs[] = {
        "GET /json/list HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", /* callback says -1 */
        "GET /json/version?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET /json/version#x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "HEAD /json/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "POST /json/version HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
        "POST /json/version HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nabcde",
        "PUT /json/new HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", /* the WS path without upgrade */
        "GET /json/version HTTP/1.1\r\nHost: evil.example:9229\r\n\r\n",
        "GET /json/version HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET http://127.0.0.1/json/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET /json/version HTTP/2.0\r\n\r\n",
        "this is not http\r\n\r\n",
        "GET /json/version HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET /json/version HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
        "GET /json/version HTTP/1.1\r\nHost: 127.0.0.1\x01\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
        expect_answer(t->port, reqs[i], bad);
    assert_int_equal(tsrv_stop(t), 0);
}

#define UPG_HEAD(path, host) "GET " path " HTTP/1.1\r\nHost: " host "\r\n"
#define UPG_REST                                                                                   \
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"                                                \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

static void test_upgrade(void **state)
{
    (void)state;
    tsrv *t = tsrv_start(NULL, NULL);
    int fd = t_ws_connect(t->port); /* checks the 101 byte for byte */
    assert_true(fd >= 0);
    assert_true(tsrv_wait(t, &t->opened, 1, T_WAIT_MS));
    /* Header names in other cases, Connection as a list, no Host. */
    int fd2 = t_connect(t->port);
    const char *req =
        "GET /ws HTTP/1.1\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, Upgrade\r\n"
        "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version:   13  \r\n\r\n";
    assert_true(t_send(fd2, req, strlen(req)));
    char got[200] = {0};
    assert_true(t_recv_exact(fd2, got, 12, T_WAIT_MS));
    assert_memory_equal(got, "HTTP/1.1 101", 12);
    assert_true(tsrv_wait(t, &t->opened, 2, T_WAIT_MS));
    close(fd);
    close(fd2);
    assert_true(tsrv_wait(t, &t->closed, 2, T_WAIT_MS));
    assert_int_equal(tsrv_stop(t), 0);
}

static void test_upgrade_refused(void **state)
{
    (void)state;
    tsrv *t = tsrv_start(NULL, NULL);
    static const char *const reqs[] = {
        UPG_HEAD("/nope", "127.0.0.1") UPG_REST,
        UPG_HEAD("/ws", "evil.example") UPG_REST,
        UPG_HEAD("/ws?x=1", "127.0.0.1") UPG_REST,
        /* no key */
        UPG_HEAD("/ws", "127.0.0.1") "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                     "Sec-WebSocket-Version: 13\r\n\r\n",
        /* a key that is not 16 bytes */
        UPG_HEAD("/ws",
                 "127.0.0.1") "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
        /* version 8 */
        UPG_HEAD("/ws", "127.0.0.1") "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                     "Sec-WebSocket-Version: 8\r\n\r\n",
        /* no Connection: upgrade */
        UPG_HEAD("/ws", "127.0.0.1") "Upgrade: websocket\r\nConnection: keep-alive\r\n"
                                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                     "Sec-WebSocket-Version: 13\r\n\r\n",
        /* another protocol */
        UPG_HEAD("/ws", "127.0.0.1") "Upgrade: h2c\r\nConnection: Upgrade\r\n"
                                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                     "Sec-WebSocket-Version: 13\r\n\r\n",
        /* HTTP/1.0 cannot upgrade */
        "GET /ws HTTP/1.0\r\n" UPG_REST,
        /* POST */
        "POST /ws HTTP/1.1\r\n" UPG_REST,
        /* two keys */
        UPG_HEAD("/ws", "127.0.0.1") "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" UPG_REST,
    };
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
        expect_answer(t->port, reqs[i], bad);
    assert_int_equal(tsrv_get(t, &t->opened), 0);
    assert_int_equal(tsrv_stop(t), 0);
}

static void test_head_limits(void **state)
{
    (void)state;
    tsrv *t = tsrv_start(NULL, NULL);
    /* Over 8 KiB of head. */
    size_t big = 9000;
    char *req = malloc(big + 100);
    int o = sprintf(req, "GET /json/version HTTP/1.1\r\nX-Big: ");
    memset(req + o, 'a', big);
    strcpy(req + o + big, "\r\n\r\n");
    expect_answer(t->port, req, bad);
    /* Just under the limit is fine. */
    o = sprintf(req, "GET /json/version HTTP/1.1\r\nX-Big: ");
    size_t fill = 8192 - (size_t)o - 4;
    memset(req + o, 'a', fill);
    strcpy(req + o + fill, "\r\n\r\n");
    assert_int_equal(strlen(req), 8192);
    expect_answer(t->port, req, ok_version);
    /* 65 header lines, and 64. */
    for (int lines = 65; lines >= 64; lines--) {
        o = sprintf(req, "GET /json/version HTTP/1.1\r\n");
        for (int i = 0; i < lines; i++)
            o += sprintf(req + o, "X-%d: y\r\n", i);
        strcpy(req + o, "\r\n");
        expect_answer(t->port, req, lines > 64 ? bad : ok_version);
    }
    free(req);
    assert_int_equal(tsrv_stop(t), 0);
}

static void test_handshake_timeout(void **state)
{
    (void)state;
    hs_server_limits lim = {.handshake_timeout_ms = 200};
    tsrv *t = tsrv_start(&lim, NULL);
    /* Half a request, then silence: the server closes without answering. */
    int fd = t_connect(t->port);
    assert_true(t_send(fd, "GET /json/version HTTP/1.1\r\n", 28));
    char got[64];
    assert_int_equal(t_recv_all(fd, got, sizeof(got), T_WAIT_MS), 0);
    close(fd);
    /* Nothing at all. */
    fd = t_connect(t->port);
    assert_int_equal(t_recv_all(fd, got, sizeof(got), T_WAIT_MS), 0);
    close(fd);
    assert_int_equal(tsrv_stop(t), 0);
}

static void test_connection_limit(void **state)
{
    (void)state;
    hs_server_limits lim = {.max_connections = 8};
    tsrv *t = tsrv_start(&lim, NULL);
    int fds[8];
    for (int i = 0; i < 8; i++) {
        fds[i] = t_ws_connect(t->port);
        assert_true(fds[i] >= 0);
    }
    assert_true(tsrv_wait(t, &t->opened, 8, T_WAIT_MS));
    /* The ninth waits in the backlog, unanswered, while the sessions still
     * work; once one goes, it is served. */
    int extra = t_connect(t->port);
    assert_true(extra >= 0);
    const char *req = "GET /json/version HTTP/1.1\r\n\r\n";
    assert_true(t_send(extra, req, strlen(req)));
    assert_true(t_ws_text(fds[3], "still here"));
    assert_true(t_ws_expect_text(fds[3], "still here"));
    struct pollfd pfd = {.fd = extra, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 200), 0);
    close(fds[0]);
    char got[4096];
    long n = t_recv_all(extra, got, sizeof(got) - 1, T_WAIT_MS);
    assert_true(n > 0);
    got[n] = '\0';
    assert_non_null(strstr(got, " 200 OK\r\n"));
    close(extra);
    assert_true(tsrv_wait(t, &t->closed, 1, T_WAIT_MS));
    expect_answer(t->port, req, ok_version);
    for (int i = 1; i < 8; i++)
        close(fds[i]);
    assert_true(tsrv_wait(t, &t->closed, 8, T_WAIT_MS));
    assert_int_equal(tsrv_stop(t), 0);
}

/* 200 connections opened and dropped in every state: before sending, in the
 * middle of a head, after a complete request without reading the answer,
 * right after an upgrade. The server must still answer. */
static void test_connect_drop_storm(void **state)
{
    (void)state;
    tsrv *t = tsrv_start(NULL, NULL);
    const char *partial = "GET /json/version HTTP/1.1\r\nHo";
    const char *full = "GET /json/version HTTP/1.1\r\n\r\n";
    int upgrades = 0;
    for (int i = 0; i < 200; i++) {
        int fd = (i % 4 == 3) ? t_ws_connect(t->port) : t_connect(t->port);
        assert_true(fd >= 0);
        if (i % 4 == 1)
            t_send(fd, partial, strlen(partial));
        if (i % 4 == 2)
            t_send(fd, full, strlen(full));
        if (i % 4 == 3)
            upgrades++;
        if (i % 8 == 5) {
            /* An abortive close (RST) as well as orderly ones. */
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(fd);
    }
    expect_answer(t->port, "GET /json/version HTTP/1.1\r\n\r\n", ok_version);
    int fd = t_ws_connect(t->port);
    assert_true(fd >= 0);
    assert_true(t_ws_text(fd, "after the storm"));
    assert_true(t_ws_expect_text(fd, "after the storm"));
    close(fd);
    /* Every session that was opened is closed, none twice (cb_closed counts). */
    assert_true(tsrv_wait(t, &t->closed, upgrades + 1, T_WAIT_MS));
    assert_int_equal(tsrv_get(t, &t->opened), upgrades + 1);
    assert_int_equal(tsrv_stop(t), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),       cmocka_unit_test(test_list_tokens),
        cmocka_unit_test(test_discovery_200),    cmocka_unit_test(test_discovery_400),
        cmocka_unit_test(test_upgrade),          cmocka_unit_test(test_upgrade_refused),
        cmocka_unit_test(test_head_limits),      cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_connection_limit), cmocka_unit_test(test_connect_drop_storm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
