/*
 * test_net_ws.c — WebSocket sessions of hs_server against frames written by
 * hand: echo, fragments, ping/pong, both closing handshakes, and every
 * violation with the close code it must get (1002, 1003, 1007, 1009), plus
 * ws_guard.c on its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net_int.h"
#include "net_test.h"

static int setup(void **state)
{
    hs_server_limits lim = {.max_message = 4096};
    *state = tsrv_start(&lim, NULL);
    return 0;
}

static int teardown(void **state)
{
    return tsrv_stop(*state) == 0 ? 0 : -1;
}

static int open_ws(tsrv *t)
{
    int fd = t_ws_connect(t->port);
    assert_true(fd >= 0);
    return fd;
}

/* Sends raw bytes and expects a close with code; then the session is gone. */
static void expect_violation(tsrv *t, const uint8_t *bytes, size_t n, int code)
{
    int before = tsrv_get(t, &t->closed);
    int fd = open_ws(t);
    assert_true(t_send(fd, bytes, n));
    int got = t_ws_expect_close(fd, NULL, 0);
    if (got != code)
        fail_msg("expected close %d, got %d", code, got);
    close(fd);
    assert_true(tsrv_wait(t, &t->closed, before + 1, T_WAIT_MS));
}

static void test_echo(void **state)
{
    tsrv *t = *state;
    int fd = open_ws(t);
    assert_true(t_ws_text(fd, "hello"));
    assert_true(t_ws_expect_text(fd, "hello"));
    assert_true(t_ws_text(fd, ""));
    assert_true(t_ws_expect_text(fd, ""));
    /* UTF-8 beyond ASCII, and a 16-bit length. */
    char big[3001];
    for (int i = 0; i < 1000; i++)
        memcpy(big + 3 * i, "\xe2\x82\xac", 3); /* € */
    big[3000] = 0;
    assert_true(t_ws_text(fd, big));
    assert_true(t_ws_expect_text(fd, big));
    /* Many messages in one write come back in order. */
    uint8_t buf[64 * 40];
    size_t o = 0;
    char msg[32];
    for (int i = 0; i < 40; i++) {
        int l = snprintf(msg, sizeof(msg), "m%d", i);
        o += t_frame_build(buf + o, true, 0, 1, msg, (size_t)l, true);
    }
    assert_true(t_send(fd, buf, o));
    for (int i = 0; i < 40; i++) {
        snprintf(msg, sizeof(msg), "m%d", i);
        assert_true(t_ws_expect_text(fd, msg));
    }
    close(fd);
    assert_true(tsrv_wait(t, &t->closed, 1, T_WAIT_MS));
}

/* Frames sent in the same write as the upgrade request. */
static void test_early_frames(void **state)
{
    tsrv *t = *state;
    int fd = t_connect(t->port);
    const char *req = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n";
    uint8_t buf[512];
    size_t o = strlen(req);
    memcpy(buf, req, o);
    o += t_frame_build(buf + o, true, 0, 1, "early", 5, true);
    o += t_frame_build(buf + o, true, 0, 1, "bird", 4, true);
    assert_true(t_send(fd, buf, o));
    char head[129];
    assert_true(t_recv_exact(fd, head, 129, T_WAIT_MS));
    assert_memory_equal(head, "HTTP/1.1 101 Switching Protocols\r\n", 34);
    assert_memory_equal(head + 125, "\r\n\r\n", 4);
    assert_true(t_ws_expect_text(fd, "early"));
    assert_true(t_ws_expect_text(fd, "bird"));
    close(fd);
}

static void test_fragments_and_ping(void **state)
{
    tsrv *t = *state;
    int fd = open_ws(t);
    assert_true(t_ws_send(fd, false, 1, "Hel", 3));
    assert_true(t_ws_send(fd, false, 0, "lo, ", 4));
    /* RFC 6455 §5.4: control frames may come between fragments. */
    assert_true(t_ws_send(fd, true, 9, "abc", 3));
    assert_true(t_ws_send(fd, true, 0, "world", 5));
    t_frame f;
    assert_true(t_ws_recv(fd, &f, T_WAIT_MS));
    assert_int_equal(f.opcode, 10);
    assert_true(f.fin);
    assert_int_equal(f.len, 3);
    assert_memory_equal(f.data, "abc", 3);
    t_frame_free(&f);
    assert_true(t_ws_expect_text(fd, "Hello, world"));
    /* A lone ping, empty and full-size (125). */
    assert_true(t_ws_send(fd, true, 9, "", 0));
    assert_true(t_ws_recv(fd, &f, T_WAIT_MS));
    assert_int_equal(f.opcode, 10);
    assert_int_equal(f.len, 0);
    t_frame_free(&f);
    char p125[125];
    memset(p125, 'p', sizeof(p125));
    assert_true(t_ws_send(fd, true, 9, p125, 125));
    assert_true(t_ws_recv(fd, &f, T_WAIT_MS));
    assert_int_equal(f.opcode, 10);
    assert_int_equal(f.len, 125);
    t_frame_free(&f);
    /* An unsolicited pong is ignored. */
    assert_true(t_ws_send(fd, true, 10, "x", 1));
    assert_true(t_ws_text(fd, "after pong"));
    assert_true(t_ws_expect_text(fd, "after pong"));
    /* A UTF-8 sequence split across fragments is fine. */
    assert_true(t_ws_send(fd, false, 1, "\xe2\x82", 2));
    assert_true(t_ws_send(fd, true, 0, "\xac", 1));
    assert_true(t_ws_expect_text(fd, "\xe2\x82\xac"));
    close(fd);
}

static void test_client_close(void **state)
{
    tsrv *t = *state;
    int fd = open_ws(t);
    uint8_t body[] = {0x03, 0xe8, 'd', 'o', 'n', 'e'}; /* 1000 "done" */
    assert_true(t_ws_send(fd, true, 8, body, sizeof(body)));
    char reason[64];
    assert_int_equal(t_ws_expect_close(fd, reason, sizeof(reason)), 1000);
    assert_string_equal(reason, "done");
    assert_true(tsrv_wait(t, &t->closed, 1, T_WAIT_MS));
    close(fd);
    /* A close without a code is answered without one. */
    fd = open_ws(t);
    assert_true(t_ws_send(fd, true, 8, "", 0));
    assert_int_equal(t_ws_expect_close(fd, NULL, 0), 0);
    close(fd);
    assert_true(tsrv_wait(t, &t->closed, 2, T_WAIT_MS));
}

/* A session ends when the peer's close arrives, not when its socket is gone:
 * a client that has the echo of its close and acts on another connection
 * finds the session already ended (the agent's timeline and objects are
 * released by then), even while it keeps its first socket open. */
static void test_closed_before_next_message(void **state)
{
    tsrv *t = *state;
    int a = open_ws(t);
    int b = open_ws(t);
    assert_true(t_ws_send(a, true, 8, "", 0));
    assert_int_equal(t_ws_expect_close(a, NULL, 0), 0);
    assert_true(t_ws_text(b, "after"));
    assert_true(t_ws_expect_text(b, "after"));
    assert_int_equal(tsrv_get(t, &t->closed), 1);
    close(a);
    close(b);
    assert_true(tsrv_wait(t, &t->closed, 2, T_WAIT_MS));
}

static void test_server_close(void **state)
{
    tsrv *t = *state;
    int fd = open_ws(t);
    assert_true(t_ws_text(fd, "close"));
    char reason[64];
    assert_int_equal(t_ws_expect_close(fd, reason, sizeof(reason)), 4000);
    assert_string_equal(reason, "bye");
    close(fd);
    assert_true(tsrv_wait(t, &t->closed, 1, T_WAIT_MS));
}

static void test_abrupt_disconnect(void **state)
{
    tsrv *t = *state;
    int fd = open_ws(t);
    assert_true(t_ws_send(fd, false, 1, "half a mess", 11)); /* never finished */
    close(fd);
    assert_true(tsrv_wait(t, &t->closed, 1, T_WAIT_MS));
    /* In the middle of a frame header. */
    fd = open_ws(t);
    assert_true(t_send(fd, "\x81", 1));
    close(fd);
    assert_true(tsrv_wait(t, &t->closed, 2, T_WAIT_MS));
    assert_int_equal(tsrv_get(t, &t->messages), 0);
}

static void test_protocol_errors(void **state)
{
    tsrv *t = *state;
    uint8_t f[300];
    size_t n;
    /* Unmasked client frame (§5.1). */
    n = t_frame_build(f, true, 0, 1, "hi", 2, false);
    expect_violation(t, f, n, 1002);
    /* Reserved bits without an extension (§5.2). */
    n = t_frame_build(f, true, 4, 1, "hi", 2, true);
    expect_violation(t, f, n, 1002);
    n = t_frame_build(f, true, 1, 1, "hi", 2, true);
    expect_violation(t, f, n, 1002);
    /* Reserved opcodes, data (3) and control (0xB). */
    n = t_frame_build(f, true, 0, 3, "hi", 2, true);
    expect_violation(t, f, n, 1002);
    n = t_frame_build(f, true, 0, 0xb, "hi", 2, true);
    expect_violation(t, f, n, 1002);
    /* A continuation with nothing to continue. */
    n = t_frame_build(f, true, 0, 0, "hi", 2, true);
    expect_violation(t, f, n, 1002);
    /* A new text message inside a fragmented one. */
    n = t_frame_build(f, false, 0, 1, "a", 1, true);
    n += t_frame_build(f + n, true, 0, 1, "b", 1, true);
    expect_violation(t, f, n, 1002);
    /* Control frames: fragmented, longer than 125 (§5.5). */
    n = t_frame_build(f, false, 0, 9, "p", 1, true);
    expect_violation(t, f, n, 1002);
    uint8_t p126[126] = {0};
    n = t_frame_build(f, true, 0, 9, p126, sizeof(p126), true);
    expect_violation(t, f, n, 1002);
    /* A close body of one byte; a close code that may not be sent. */
    n = t_frame_build(f, true, 0, 8, "\x03", 1, true);
    expect_violation(t, f, n, 1002);
    n = t_frame_build(f, true, 0, 8, "\x03\xed", 2, true); /* 1005 */
    expect_violation(t, f, n, 1002);
    /* A length not in its shortest form (§5.2): 5 bytes in the 16-bit form. */
    uint8_t nonmin[] = {0x81, 0x80 | 126, 0, 5, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'};
    expect_violation(t, nonmin, sizeof(nonmin), 1002);
    /* A valid message right before a bad frame: answered if it was read on
     * its own, dropped if it came in the same read (the session is failing,
     * nothing more may be sent but the close); never anything else. */
    int fd = open_ws(t);
    n = t_frame_build(f, true, 0, 1, "ok", 2, true);
    n += t_frame_build(f + n, true, 0, 9, p126, sizeof(p126), true);
    assert_true(t_send(fd, f, n));
    t_frame r;
    assert_true(t_ws_recv(fd, &r, T_WAIT_MS));
    if (r.opcode == 1) {
        assert_memory_equal(r.data, "ok", 2);
        t_frame_free(&r);
        assert_int_equal(t_ws_expect_close(fd, NULL, 0), 1002);
    } else {
        assert_int_equal(r.opcode, 8);
        assert_int_equal((r.data[0] << 8) | r.data[1], 1002);
        t_frame_free(&r);
    }
    close(fd);
}

static void test_bad_utf8(void **state)
{
    tsrv *t = *state;
    uint8_t f[64];
    size_t n = t_frame_build(f, true, 0, 1, "\xc3\x28", 2, true);
    expect_violation(t, f, n, 1007);
    /* Overlong encoding of '/', a surrogate, a truncated sequence at the end. */
    n = t_frame_build(f, true, 0, 1, "\xc0\xaf", 2, true);
    expect_violation(t, f, n, 1007);
    n = t_frame_build(f, true, 0, 1, "\xed\xa0\x80", 3, true);
    expect_violation(t, f, n, 1007);
    n = t_frame_build(f, false, 0, 1, "ok\xe2", 3, true);
    n += t_frame_build(f + n, true, 0, 0, "\x82", 1, true);
    expect_violation(t, f, n, 1007);
    /* In a close reason. */
    n = t_frame_build(f, true, 0, 8, "\x03\xe8\xff", 3, true);
    expect_violation(t, f, n, 1007);
    assert_int_equal(tsrv_get(t, &t->messages), 0);
}

static void test_binary(void **state)
{
    tsrv *t = *state;
    uint8_t f[64];
    size_t n = t_frame_build(f, true, 0, 2, "\x00\x01\x02", 3, true);
    expect_violation(t, f, n, 1003);
    /* Fragmented binary: refused at its first frame. */
    n = t_frame_build(f, false, 0, 2, "\x00", 1, true);
    expect_violation(t, f, n, 1003);
    assert_int_equal(tsrv_get(t, &t->messages), 0);
}

static void test_too_big(void **state)
{
    tsrv *t = *state; /* max_message is 4096 here */
    size_t big = 5000;
    char *p = malloc(big);
    memset(p, 'b', big);
    uint8_t *f = malloc(big + 64);
    size_t n = t_frame_build(f, true, 0, 1, p, big, true);
    expect_violation(t, f, n, 1009);
    /* Exactly the limit passes. */
    int fd = open_ws(t);
    p[4096] = 0;
    assert_true(t_ws_text(fd, p));
    assert_true(t_ws_expect_text(fd, p));
    close(fd);
    /* Fragments that add up to more than the limit. */
    memset(p, 'b', big);
    n = 0;
    for (int i = 0; i < 5; i++)
        n += t_frame_build(f + n, i == 4, 0, i ? 0 : 1, p, 1000, true);
    expect_violation(t, f, n, 1009);
    /* 4096 fragments make a message; the 4097th closes with 1009. */
    uint8_t *many = malloc(4097 * 7);
    for (int extra = 0; extra <= 1; extra++) {
        int frags = 4096 + extra;
        n = 0;
        for (int i = 0; i < frags; i++)
            n += t_frame_build(many + n, i == frags - 1, 0, i ? 0 : 1, "z", 1, true);
        if (extra) {
            expect_violation(t, many, n, 1009);
        } else {
            fd = open_ws(t);
            assert_true(t_send(fd, many, n));
            memset(p, 'z', 4096);
            p[4096] = 0;
            assert_true(t_ws_expect_text(fd, p));
            close(fd);
        }
    }
    free(many);
    /* A header announcing 2^40 bytes is refused at its first payload bytes. */
    uint8_t huge[] = {0x81, 0x80 | 127, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4, 'a', 'b'};
    expect_violation(t, huge, sizeof(huge), 1009);
    free(p);
    free(f);
    assert_int_equal(tsrv_get(t, &t->messages), 2);
}

/* ws_guard.c on its own: frame boundaries are followed across chunks. */
static void test_guard(void **state)
{
    (void)state;
    hs__ws_guard g;
    hs__ws_guard_init(&g);
    uint8_t f[400];
    size_t n = t_frame_build(f, true, 0, 1, "hello", 5, true);
    uint8_t p300[300] = {0};
    n += t_frame_build(f + n, true, 0, 2, p300, 300, true);
    n += t_frame_build(f + n, true, 0, 9, "", 0, true);
    bool bad;
    for (size_t i = 0; i < n; i++) /* one byte at a time */
        assert_int_equal(hs__ws_guard_scan(&g, f + i, 1, &bad), 1);
    size_t ok_len = n;
    n += t_frame_build(f + n, false, 0, 10, "x", 1, true); /* fragmented pong */
    hs__ws_guard_init(&g);
    assert_int_equal(hs__ws_guard_scan(&g, f, n, &bad), ok_len + 1);
    assert_true(bad);
    /* 127 with a 64-bit length whose top bit is set. */
    uint8_t top[] = {0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0};
    hs__ws_guard_init(&g);
    assert_int_equal(hs__ws_guard_scan(&g, top, sizeof(top), &bad), 9);
    assert_true(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_early_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fragments_and_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_before_next_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abrupt_disconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protocol_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
        cmocka_unit_test(test_guard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
