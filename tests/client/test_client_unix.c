/*
 * test_client_unix.c — libheapscope-client on Unix sockets, against a fake
 * target served by hs_server on a socket in a mkdtemp directory: discovery
 * (unix:PATH), the ways to connect (unix:PATH, unix:PATH:SELECTOR,
 * ws+unix://PATH:/ID), the Host header it sends there, a session that goes
 * over the socket whatever host the target's URL names, and the errors a user
 * meets (no path, a path too long, no socket, a stale socket). Only the public
 * API is used, as a program would use the shared library.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "heapscope/hs_client.h"
#include "hs_server.h"

/* The fake: one target whose WebSocket URL names a TCP address nobody serves
 * (port 1), as a target behind a forwarder would; the session must still go
 * over the socket the target was discovered on. */
#define FAKE_ID "a1b2c3"
#define FAKE_WS_URL "ws://localhost:1/" FAKE_ID

static struct fake {
    char dir[64], sock[128];
    hs_server *srv;
    pthread_t th;
    pthread_mutex_t mu;
    char last_host[64]; /* the last Host header seen, "(none)" if absent */
    int calls;
} F = {.mu = PTHREAD_MUTEX_INITIALIZER};

static bool fake_host_ok(void *ud, const char *host)
{
    (void)ud;
    pthread_mutex_lock(&F.mu);
    snprintf(F.last_host, sizeof F.last_host, "%s", host ? host : "(none)");
    pthread_mutex_unlock(&F.mu);
    return host && !strcmp(host, "localhost");
}

static int fake_http_get(void *ud, const char *path, char **body, size_t *len)
{
    (void)ud;
    if (!strcmp(path, "/json/list"))
        *body = strdup("[{\"id\":\"" FAKE_ID "\",\"type\":\"node\",\"title\":\"fake on a socket\","
                       "\"webSocketDebuggerUrl\":\"" FAKE_WS_URL "\"}]");
    else if (!strcmp(path, "/json/version"))
        *body = strdup("{\"Browser\":\"fake/1\",\"Protocol-Version\":\"1.1\"}");
    else
        return -1;
    *len = strlen(*body);
    return 0;
}

static bool fake_ws_path(void *ud, const char *path)
{
    (void)ud;
    return !strcmp(path, "/" FAKE_ID);
}

/* Every call succeeds with an empty result. */
static void fake_message(void *ud, hs_session *s, const char *text, size_t len)
{
    (void)ud;
    json_t *m = json_loadb(text, len, 0, NULL);
    json_t *reply = json_pack("{s:O,s:{}}", "id", json_object_get(m, "id"), "result");
    char *out = json_dumps(reply, JSON_COMPACT);
    hs_session_send_text(s, out, strlen(out));
    free(out);
    json_decref(reply);
    json_decref(m);
    pthread_mutex_lock(&F.mu);
    F.calls++;
    pthread_mutex_unlock(&F.mu);
}

static void *fake_run(void *arg)
{
    (void)arg;
    hs_server_run(F.srv);
    return NULL;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(F.dir, sizeof F.dir, "/tmp/hs-client-unix-XXXXXX");
    if (!mkdtemp(F.dir))
        return -1;
    snprintf(F.sock, sizeof F.sock, "%s/fake.sock", F.dir);
    static const hs_server_callbacks cb = {
        .http_get = fake_http_get,
        .ws_accept_path = fake_ws_path,
        .host_ok = fake_host_ok,
        .session_message = fake_message,
    };
    F.srv = hs_server_new(NULL, &cb, NULL);
    if (!F.srv || hs_server_listen_unix(F.srv, F.sock) != 0)
        return -1;
    return pthread_create(&F.th, NULL, fake_run, NULL) == 0 ? 0 : -1;
}

/* hs_server_free removes the socket; the directory is ours (mkdtemp). */
static int group_teardown(void **state)
{
    (void)state;
    hs_server_stop(F.srv);
    pthread_join(F.th, NULL);
    hs_server_free(F.srv);
    char stale[160];
    snprintf(stale, sizeof stale, "%s/stale.sock", F.dir);
    unlink(stale);
    rmdir(F.dir);
    return 0;
}

static hs_client *client(void)
{
    hs_client_options o = {.connect_timeout_ms = 3000, .call_timeout_ms = 3000};
    hs_client *c = NULL;
    assert_int_equal(hs_client_new(&o, &c), 0);
    return c;
}

static void assert_contains(const char *text, const char *part)
{
    if (!text || !strstr(text, part))
        fail_msg("expected '%s' in '%s'", part, text ? text : "(null)");
}

static int calls(void)
{
    pthread_mutex_lock(&F.mu);
    int n = F.calls;
    pthread_mutex_unlock(&F.mu);
    return n;
}

static void test_discovery(void **state)
{
    (void)state;
    char hp[160];
    snprintf(hp, sizeof hp, "unix:%s", F.sock);
    hs_client *c = client();
    hs_target_list l;
    int rc = hs_client_list_targets(c, hp, &l);
    if (rc != 0)
        fail_msg("list %s: %s", hp, hs_client_last_error(c));
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].id, FAKE_ID);
    assert_string_equal(l.items[0].web_socket_debugger_url, FAKE_WS_URL);
    hs_target_list_free(&l);
    pthread_mutex_lock(&F.mu);
    assert_string_equal(F.last_host, "localhost"); /* what curl sends on a socket */
    pthread_mutex_unlock(&F.mu);
    hs_version_info v;
    assert_int_equal(hs_client_version(c, hp, &v), 0);
    assert_string_equal(v.browser, "fake/1");
    hs_version_info_free(&v);
    hs_client_free(c);
}

/* Each way to name the target gives a session on the socket. */
static void test_connect_ways(void **state)
{
    (void)state;
    char target[4][200];
    snprintf(target[0], sizeof target[0], "unix:%s", F.sock);
    snprintf(target[1], sizeof target[1], "unix:%s:%s", F.sock, FAKE_ID);
    snprintf(target[2], sizeof target[2], "unix:%s:on a sock", F.sock); /* a title's part */
    snprintf(target[3], sizeof target[3], "ws+unix://%s:/%s", F.sock, FAKE_ID);
    for (int i = 0; i < 4; i++) {
        hs_client *c = client();
        int before = calls();
        int rc = hs_client_connect(c, target[i]);
        if (rc != 0)
            fail_msg("connect %s: %s", target[i], hs_client_last_error(c));
        rc = hs_hp_collect_garbage(c);
        if (rc != 0)
            fail_msg("call over %s: %s", target[i], hs_client_last_error(c));
        assert_int_equal(calls(), before + 1);
        /* The URL as the target or the user gave it. */
        assert_string_equal(hs_client_ws_url(c), i < 3 ? FAKE_WS_URL : target[3]);
        hs_client_close(c);
        hs_client_free(c);
    }
    char bad[200];
    snprintf(bad, sizeof bad, "unix:%s:no-such-target", F.sock);
    hs_client *c = client();
    assert_int_equal(hs_client_connect(c, bad), HS_E_NOTFOUND);
    assert_contains(hs_client_last_error(c), "has no target with id or title 'no-such-target'");
    snprintf(bad, sizeof bad, "ws+unix://%s:/%sx", F.sock, FAKE_ID);
    assert_int_equal(hs_client_connect(c, bad), HS_E_HTTP);
    assert_contains(hs_client_last_error(c), "WebSocket upgrade refused: HTTP 400");
    hs_client_free(c);
}

static void test_errors(void **state)
{
    (void)state;
    hs_client *c = client();
    hs_target_list l;
    assert_int_equal(hs_client_list_targets(c, "unix:", &l), HS_E_INVAL);
    assert_contains(hs_client_last_error(c), "unix: needs the path of a socket");
    assert_int_equal(hs_client_connect(c, "ws+unix://"), HS_E_INVAL);
    char longp[200] = "unix:/";
    memset(longp + 6, 'x', sizeof longp - 7);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(hs_client_connect(c, longp), HS_E_INVAL);
    assert_contains(hs_client_last_error(c), "a socket's path has at most 107 bytes");

    char hp[200];
    snprintf(hp, sizeof hp, "unix:%s/none.sock", F.dir);
    assert_int_equal(hs_client_list_targets(c, hp, &l), -ENOENT);
    assert_contains(hs_client_last_error(c), "no socket at unix:");
    assert_contains(hs_client_last_error(c), "/none.sock");

    /* A stale socket: bound, never listened on. */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/stale.sock", F.dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    snprintf(hp, sizeof hp, "unix:%s", sa.sun_path);
    assert_int_equal(hs_client_connect(c, hp), -ECONNREFUSED);
    assert_contains(hs_client_last_error(c), "nobody listens on it");
    assert_null(hs_client_ws_url(c));
    hs_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discovery),
        cmocka_unit_test(test_connect_ways),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
