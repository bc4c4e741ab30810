/*
 * test_net_loop.c — the loop of hs_server: timers, wake, stop from another
 * thread, hs_server_drain (progress, pings answered and messages held back
 * while it runs, -EPIPE, -ETIMEDOUT), backpressure against a client that
 * stops reading, the output-queue limit (1008), listening on IPv4, IPv6 and
 * names with busy ports, and hs_server_abandon_after_fork.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hs_limits.h"
#include "net_test.h"

/* ---- timers ---- */

static int timer_a, timer_r;

static void record(tsrv *t, int what)
{
    pthread_mutex_lock(&t->mu);
    if (t->ntimer_events < 8)
        t->timer_events[t->ntimer_events] = what;
    t->ntimer_events++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void on_a(void *ud)
{
    record(ud, 'A');
}

static void on_c(void *ud)
{
    record(ud, 'C');
}

static void on_b(void *ud)
{
    tsrv *t = ud;
    hs_server_timer_cancel(t->srv, timer_a);
    if (hs_server_timer_add(t->srv, 120, false, on_c, t) <= 0)
        record(t, 'E'); /* no cmocka assertion off the test thread */
}

static void on_r(void *ud)
{
    tsrv *t = ud;
    pthread_mutex_lock(&t->mu);
    int ticks = ++t->timer_ticks;
    pthread_mutex_unlock(&t->mu);
    if (ticks == 5) {
        hs_server_timer_cancel(t->srv, timer_r); /* from inside itself */
        record(t, 'R');
    }
}

static void add_timers(tsrv *t)
{
    timer_a = hs_server_timer_add(t->srv, 60, false, on_a, t);
    assert_true(timer_a > 0);
    assert_true(hs_server_timer_add(t->srv, 10, false, on_b, t) > 0);
    timer_r = hs_server_timer_add(t->srv, 5, true, on_r, t);
    assert_true(timer_r > 0 && timer_r != timer_a);
    assert_int_equal(hs_server_timer_add(t->srv, 5, false, NULL, t), -EINVAL);
}

static bool has_event(tsrv *t, int what)
{
    pthread_mutex_lock(&t->mu);
    bool found = false;
    for (int i = 0; i < t->ntimer_events && i < 8; i++)
        found |= t->timer_events[i] == what;
    pthread_mutex_unlock(&t->mu);
    return found;
}

static void test_timers(void **state)
{
    (void)state;
    tsrv *t = tsrv_start(NULL, add_timers);
    /* C is due 130 ms in, A was due at 60: had the cancel failed, A would
     * have fired before C. */
    assert_true(tsrv_wait(t, &t->ntimer_events, 2, T_WAIT_MS));
    for (int i = 0; !(has_event(t, 'C') && has_event(t, 'R')) && i < 3; i++)
        tsrv_wait(t, &t->ntimer_events, tsrv_get(t, &t->ntimer_events) + 1, T_WAIT_MS);
    assert_true(has_event(t, 'C'));
    assert_true(has_event(t, 'R'));
    assert_false(has_event(t, 'A'));
    /* The repeating timer stopped at 5: a new timer 30 ms later finds it so. */
    assert_int_equal(tsrv_get(t, &t->timer_ticks), 5);
    assert_int_equal(tsrv_stop(t), 0);
}

/* ---- wake and stop ---- */

static void test_wake(void **state)
{
    (void)state;
    tsrv *t = tsrv_start(NULL, NULL);
    hs_server_wake(t->srv);
    assert_true(tsrv_wait(t, &t->woken, 1, T_WAIT_MS));
    int before = tsrv_get(t, &t->woken);
    hs_server_wake(t->srv);
    hs_server_wake(t->srv);
    assert_true(tsrv_wait(t, &t->woken, before + 1, T_WAIT_MS));
    assert_int_equal(tsrv_stop(t), 0);
}

static void test_stop_from_other_thread(void **state)
{
    (void)state;
    tsrv *t = tsrv_start(NULL, NULL);
    int fd = t_ws_connect(t->port);
    assert_true(fd >= 0);
    assert_true(t_ws_text(fd, "hi"));
    assert_true(t_ws_expect_text(fd, "hi"));
    hs_server_stop(t->srv);
    /* 1001 "going away", then the connection closes; session_closed ran. */
    assert_int_equal(t_ws_expect_close(fd, NULL, 0), 1001);
    assert_true(tsrv_wait(t, &t->closed, 1, T_WAIT_MS));
    close(fd);
    assert_int_equal(tsrv_stop(t), 0);
}

/* ---- drain ---- */

static void test_drain_stream(void **state)
{
    (void)state;
    tsrv *t = tsrv_start(NULL, NULL);
    pthread_mutex_lock(&t->mu);
    t->queued_mark = 1024 * 1024; /* the producer's drain threshold */
    pthread_mutex_unlock(&t->mu);
    /* 16 MiB through a client with small buffers: more than the kernel can
     * hold, so the producer has to wait in hs_server_drain for the reader. */
    int fd = t_ws_handshake(t_connect_small(t->port, 16384));
    assert_true(fd >= 0);
    const int n = 1024;
    const size_t size = 16384;
    assert_true(t_ws_text(fd, "stream 1024 16384 5000"));
    /* Once the producer is about to wait, a ping and a message arrive. */
    assert_true(tsrv_wait(t, &t->over_mark, 1, T_WAIT_MS));
    assert_true(t_ws_send(fd, true, 9, "p", 1));
    assert_true(t_ws_text(fd, "sent during the stream"));
    int got = 0;
    bool pong_during = false, echo_seen = false;
    while (!echo_seen) {
        t_frame f;
        assert_true(t_ws_recv(fd, &f, T_WAIT_MS));
        if (f.opcode == 10) {
            assert_memory_equal(f.data, "p", 1);
            pong_during = got < n;
        } else {
            assert_int_equal(f.opcode, 1);
            if (got < n) {
                assert_int_equal(f.len, size);
                assert_int_equal(atoi((char *)f.data), got);
                got++;
            } else {
                assert_string_equal((char *)f.data, "sent during the stream");
                echo_seen = true;
            }
        }
        t_frame_free(&f);
    }
    assert_int_equal(got, n);
    assert_true(pong_during); /* drain answered the ping */
    assert_true(tsrv_wait(t, &t->stream_done, 1, T_WAIT_MS));
    assert_int_equal(t->stream_rc, 0);
    /* The message that came in during the stream waited for it to end. */
    assert_int_equal(t->stream_msgs_during, 0);
    assert_true(t->max_queued <= 1024 * 1024 + size);
    close(fd);
    assert_int_equal(tsrv_stop(t), 0);
}

static void test_drain_gone_and_timeout(void **state)
{
    (void)state;
    tsrv *t = tsrv_start(NULL, NULL);
    /* A client that leaves in the middle: -EPIPE. */
    int fd = t_ws_connect(t->port);
    assert_true(fd >= 0);
    assert_true(t_ws_text(fd, "stream 4000 16384 5000"));
    t_frame f;
    assert_true(t_ws_recv(fd, &f, T_WAIT_MS));
    t_frame_free(&f);
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    assert_true(tsrv_wait(t, &t->stream_done, 1, T_WAIT_MS));
    assert_int_equal(t->stream_rc, -EPIPE);
    assert_true(tsrv_wait(t, &t->closed, 1, T_WAIT_MS));
    /* A client that stays but stops reading: -ETIMEDOUT after 300 ms
     * without progress. */
    fd = t_ws_handshake(t_connect_small(t->port, 16384));
    assert_true(fd >= 0);
    assert_true(t_ws_text(fd, "stream 4000 16384 300"));
    assert_true(tsrv_wait(t, &t->stream_done, 2, T_WAIT_MS));
    assert_int_equal(t->stream_rc, -ETIMEDOUT);
    /* The session is still usable afterwards: what was queued arrives. */
    int seen = 0;
    for (;;) {
        assert_true(t_ws_recv(fd, &f, T_WAIT_MS));
        bool mine = f.len == 5 && !memcmp(f.data, "after", 5);
        if (!mine)
            assert_int_equal(atoi((char *)f.data), seen++);
        t_frame_free(&f);
        if (mine)
            break;
        if (seen == 1)
            assert_true(t_ws_text(fd, "after"));
    }
    assert_true(seen > 0);
    close(fd);
    assert_int_equal(tsrv_stop(t), 0);
}

/* ---- backpressure ---- */

#define SLOW_SIZE 1024
#define SLOW_PAUSE (128 * 1024)

/* Enough answers that they cannot all fit in the kernel's buffers: the
 * server's send buffer autotunes up to tcp_wmem's maximum (4 MiB here), and
 * answers pile up in the server's own queue only past that. A fixed 3000
 * (3 MiB) sometimes fit entirely, and the pause mark was never reached. */
static int slow_n(void)
{
    long wmem_max = 4L << 20;
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
    long lo, def, max;
    if (f) {
        if (fscanf(f, "%ld %ld %ld", &lo, &def, &max) == 3 && max > 0 && max < (64L << 20))
            wmem_max = max;
        fclose(f);
    }
    return (int)((wmem_max + 4 * SLOW_PAUSE) / SLOW_SIZE);
}

static void *slow_sender(void *arg)
{
    int fd = *(int *)arg;
    char msg[SLOW_SIZE + 1];
    long ok = 1;
    const int n_msgs = slow_n();
    for (int i = 0; i < n_msgs && ok; i++) {
        memset(msg, 'q', SLOW_SIZE);
        int l = snprintf(msg, sizeof(msg), "%d", i);
        msg[l] = ' ';
        msg[SLOW_SIZE] = 0;
        /* Blocks (with a long limit) while the server has stopped reading. */
        uint8_t fr[SLOW_SIZE + 14];
        size_t n = t_frame_build(fr, true, 0, 1, msg, SLOW_SIZE, true);
        for (int tries = 0; tries < 6 && !(ok = t_send(fd, fr, n)); tries++)
            ;
    }
    return (void *)ok;
}

static void test_slow_reader(void **state)
{
    (void)state;
    hs_server_limits lim = {.read_pause = SLOW_PAUSE};
    tsrv *t = tsrv_start(&lim, NULL);
    pthread_mutex_lock(&t->mu);
    t->queued_mark = SLOW_PAUSE;
    pthread_mutex_unlock(&t->mu);
    int a = t_ws_handshake(t_connect_small(t->port, 32768));
    assert_true(a >= 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, slow_sender, &a), 0);
    /* The answers pile up (A does not read) past the pause mark... */
    assert_true(tsrv_wait(t, &t->over_mark, 1, T_WAIT_MS));
    /* ...and meanwhile another client is served. */
    int b = t_ws_connect(t->port);
    assert_true(b >= 0);
    assert_true(t_ws_text(b, "other client"));
    assert_true(t_ws_expect_text(b, "other client"));
    /* Bounded: at most one message's answer above the mark. */
    pthread_mutex_lock(&t->mu);
    size_t peak = t->max_queued;
    pthread_mutex_unlock(&t->mu);
    assert_true(peak <= SLOW_PAUSE + SLOW_SIZE);
    /* A reads again: every answer arrives, in order, none lost. */
    for (int i = 0, n_msgs = slow_n(); i < n_msgs; i++) {
        t_frame f;
        assert_true(t_ws_recv(a, &f, T_WAIT_MS));
        assert_int_equal(f.opcode, 1);
        assert_int_equal(f.len, SLOW_SIZE);
        assert_int_equal(atoi((char *)f.data), i);
        t_frame_free(&f);
    }
    void *ok;
    pthread_join(th, &ok);
    assert_true(ok != NULL);
    assert_true(t->max_queued <= SLOW_PAUSE + SLOW_SIZE);
    close(a);
    close(b);
    assert_int_equal(tsrv_stop(t), 0);
}

/* Pings from a client that does not read the pongs: the pongs count as
 * queued output, so reading pauses for them too. */
#define PING_N 300000
#define PING_PAUSE (64 * 1024)

static void add_sampler(tsrv *t)
{
    assert_true(hs_server_timer_add(t->srv, 1, true, tsrv_sample_queue, t) > 0);
}

struct ping_arg {
    int fd;
    tsrv *t;
};

static void *ping_sender(void *arg)
{
    struct ping_arg *pa = arg;
    uint8_t payload[125], fr[125 + 14];
    memset(payload, 'P', sizeof(payload));
    size_t n = t_frame_build(fr, true, 0, 9, payload, sizeof(payload), true);
    long ok = 1;
    for (int i = 0; i < PING_N && ok; i++)
        for (int tries = 0; tries < 6 && !(ok = t_send(pa->fd, fr, n)); tries++)
            ;
    pthread_mutex_lock(&pa->t->mu);
    pa->t->aux_done++;
    pthread_cond_broadcast(&pa->t->cv);
    pthread_mutex_unlock(&pa->t->mu);
    return (void *)ok;
}

static void test_ping_flood(void **state)
{
    (void)state;
    hs_server_limits lim = {.read_pause = PING_PAUSE};
    tsrv *t = tsrv_start(&lim, add_sampler);
    pthread_mutex_lock(&t->mu);
    t->queued_mark = PING_PAUSE;
    pthread_mutex_unlock(&t->mu);
    struct ping_arg pa = {t_ws_handshake(t_connect_small(t->port, 32768)), t};
    assert_true(pa.fd >= 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, ping_sender, &pa), 0);
    assert_true(tsrv_wait(t, &t->over_mark, 1, T_WAIT_MS));
    /* 39 MB of pings (more than the largest TCP buffers, tcp_rmem's 32 MiB
     * maximum included) cannot all be taken while nobody reads the pongs:
     * the sender must still be stuck a second later (were reading not
     * paused, it would be done in milliseconds and the queue huge). */
    assert_false(tsrv_wait(t, &t->aux_done, 1, 1000));
    int b = t_ws_connect(t->port);
    assert_true(b >= 0);
    assert_true(t_ws_text(b, "other client"));
    assert_true(t_ws_expect_text(b, "other client"));
    /* Every ping is answered once A reads. */
    for (int i = 0; i < PING_N; i++) {
        t_frame f;
        assert_true(t_ws_recv(pa.fd, &f, T_WAIT_MS));
        assert_int_equal(f.opcode, 10);
        assert_int_equal(f.len, 125);
        t_frame_free(&f);
    }
    void *ok;
    pthread_join(th, &ok);
    assert_true(ok != NULL);
    /* Checked between read turns: above the mark by at most one turn. */
    assert_true(t->max_queued <= PING_PAUSE + HS_LIMIT_READ_TURN);
    close(pa.fd);
    close(b);
    assert_int_equal(tsrv_stop(t), 0);
}

static void test_out_queue_limit(void **state)
{
    (void)state;
    hs_server_limits lim = {.max_out_queue = 256 * 1024};
    tsrv *t = tsrv_start(&lim, NULL);
    int fd = t_ws_connect(t->port);
    assert_true(fd >= 0);
    /* Pushed without waiting: 16 x 16 KiB fit, the 17th closes with 1008. */
    assert_true(t_ws_text(fd, "flood 100 16384"));
    assert_int_equal(t_ws_expect_close(fd, NULL, 0), 1008);
    assert_true(tsrv_wait(t, &t->closed, 1, T_WAIT_MS));
    assert_int_equal(t->flood_rc, -ENOBUFS);
    assert_int_equal(t->flood_sent, 16);
    close(fd);
    /* And nothing is accepted on a closing session. */
    fd = t_ws_connect(t->port);
    assert_true(t_ws_text(fd, "close"));
    assert_int_equal(t_ws_expect_close(fd, NULL, 0), 4000);
    assert_int_equal(tsrv_get(t, &t->send_after_close_rc), -EPIPE);
    close(fd);
    assert_int_equal(tsrv_stop(t), 0);
}

/* ---- listening ---- */

static void test_listen(void **state)
{
    (void)state;
    /* IPv6 loopback. */
    tsrv *t6 = tsrv_start_on("::1", NULL, NULL);
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)t6->port)};
    a6.sin6_addr = in6addr_loopback;
    assert_int_equal(connect(fd, (struct sockaddr *)&a6, sizeof(a6)), 0);
    const char *req = "GET /json/version HTTP/1.1\r\nHost: [::1]\r\n\r\n";
    assert_true(t_send(fd, req, strlen(req)));
    char got[512];
    long n = t_recv_all(fd, got, sizeof(got) - 1, T_WAIT_MS);
    assert_true(n > 12);
    assert_memory_equal(got, "HTTP/1.0 400", 12); /* the test's host_ok refuses [::1] */
    close(fd);
    assert_int_equal(tsrv_stop(t6), 0);

    /* A name. */
    tsrv *tn = tsrv_start_on("localhost", NULL, NULL);
    assert_true(tn->port > 0);
    assert_int_equal(tsrv_stop(tn), 0);

    /* A busy port: the next ones, then an ephemeral one. */
    tsrv *t = tsrv_start(NULL, NULL);
    hs_server_callbacks cb = {0};
    hs_server *s2 = hs_server_new(NULL, &cb, NULL);
    assert_non_null(s2);
    assert_int_equal(hs_server_port(s2), -1);
    int p2 = hs_server_listen(s2, "127.0.0.1", t->port, 3);
    assert_true(p2 > 0 && p2 != t->port);
    assert_int_equal(hs_server_port(s2), p2);
    assert_int_equal(hs_server_listen(s2, "127.0.0.1", 0, 1), -EALREADY);
    hs_server_free(s2);
    s2 = hs_server_new(NULL, &cb, NULL);
    p2 = hs_server_listen(s2, "127.0.0.1", t->port, 1);
    assert_true(p2 > 0 && p2 != t->port);
    hs_server_free(s2);
    s2 = hs_server_new(NULL, &cb, NULL);
    assert_int_equal(hs_server_listen(s2, "127.0.0.1", 70000, 1), -EINVAL);
    hs_server_free(s2);
    /* The first server is unaffected. */
    n = t_http(t->port, "GET /json/version HTTP/1.1\r\n\r\n", got, sizeof(got) - 1);
    assert_true(n > 12);
    assert_memory_equal(got, "HTTP/1.0 200", 12);
    assert_int_equal(tsrv_stop(t), 0);
}

/* ---- fork ---- */

/* In the child: is any descriptor still one of the server's? (a socket
 * whose local port is the server's, or an eventfd) */
static int server_fds_left(int port)
{
    int left = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == dirfd(d))
            continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET &&
            ntohs(((struct sockaddr_in *)&ss)->sin_port) == port)
            left++;
        char path[64], link[64] = {0};
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (readlink(path, link, sizeof(link) - 1) > 0 && strstr(link, "eventfd"))
            left++;
    }
    closedir(d);
    return left;
}

static void test_abandon_after_fork(void **state)
{
    (void)state;
    tsrv *t = tsrv_start(NULL, NULL);
    int fd = t_ws_connect(t->port);
    assert_true(fd >= 0);
    assert_true(tsrv_wait(t, &t->opened, 1, T_WAIT_MS));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int before = server_fds_left(t->port);
        hs_server_abandon_after_fork(t->srv);
        int after = server_fds_left(t->port);
        /* listener + session + eventfd before; nothing after. */
        if (!(before >= 3 && after == 0))
            fprintf(stderr, "child: before %d after %d\n", before, after);
        _exit(before >= 3 && after == 0 ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* The parent's server and session are untouched. */
    assert_true(t_ws_text(fd, "still mine"));
    assert_true(t_ws_expect_text(fd, "still mine"));
    close(fd);
    assert_int_equal(tsrv_stop(t), 0);
}

/* The server's descriptors live at the top of the descriptor range, out of
 * the host's way; a connection that finds no room up there is refused, never
 * kept on a low number the host may dup2 onto. RLIMIT_NOFILE 200 and 8
 * connections: the server's range starts at 200 - (8 + 8) = 184. */
static void test_descriptors_stay_high(void **state)
{
    (void)state;
    struct rlimit old, rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    rl = old;
    rl.rlim_cur = 200;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    hs_server_limits lim = {.max_connections = 8};
    tsrv *t = tsrv_start(&lim, NULL); /* eventfd and listener: 184 and 185 */
    /* Take 186..196 ourselves: three places are left up there. */
    int filler[11];
    for (int i = 0; i < 11; i++) {
        filler[i] = fcntl(0, F_DUPFD, 186 + i);
        assert_int_equal(filler[i], 186 + i);
    }
    int ws[3];
    for (int i = 0; i < 3; i++) {
        ws[i] = t_ws_connect(t->port);
        assert_true(ws[i] >= 0);
    }
    assert_true(tsrv_wait(t, &t->opened, 3, T_WAIT_MS));
    for (int k = 197; k < 200; k++)
        assert_true(fcntl(k, F_GETFD) >= 0); /* the three sessions' sockets */
    /* A fourth finds no room high: refused, though the limit (8) allows it. */
    char got[512];
    assert_int_equal(t_http(t->port, "GET /json/version HTTP/1.1\r\n\r\n", got, sizeof(got) - 1),
                     0);
    /* Once a session goes, its place serves the next one. */
    close(ws[0]);
    assert_true(tsrv_wait(t, &t->closed, 1, T_WAIT_MS));
    assert_true(t_http(t->port, "GET /json/version HTTP/1.1\r\n\r\n", got, sizeof(got) - 1) > 0);
    close(ws[1]);
    close(ws[2]);
    assert_true(tsrv_wait(t, &t->closed, 3, T_WAIT_MS));
    assert_int_equal(tsrv_stop(t), 0);
    for (int i = 0; i < 11; i++)
        close(filler[i]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_wake),
        cmocka_unit_test(test_stop_from_other_thread),
        cmocka_unit_test(test_drain_stream),
        cmocka_unit_test(test_drain_gone_and_timeout),
        cmocka_unit_test(test_slow_reader),
        cmocka_unit_test(test_ping_flood),
        cmocka_unit_test(test_out_queue_limit),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_abandon_after_fork),
        cmocka_unit_test(test_descriptors_stay_high),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
