/*
 * test_net_unix.c — hs_server_listen_unix: the same HTTP and WebSocket
 * service on a Unix socket, Host headers still checked; the socket's mode
 * 0600 whatever the umask; what is at the path already (a stale socket of
 * ours: replaced; a live one: -EADDRINUSE; a file, a directory, a symbolic
 * link: -EEXIST and untouched); bad paths; the file removed by
 * hs_server_free only while it is still the one bound, and never by a fork
 * child's hs_server_abandon_after_fork; another server starting at the same
 * path while the first is between bind and listen. Each test works in its own mkdtemp
 * directory and removes only what it made there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net_test.h"

typedef struct tdir {
    char dir[64];
    char sock[PATH_MAX];
} tdir;

static int setup(void **state)
{
    tdir *d = calloc(1, sizeof(*d));
    snprintf(d->dir, sizeof(d->dir), "/tmp/hs-net-unix-XXXXXX");
    if (!mkdtemp(d->dir))
        return -1;
    snprintf(d->sock, sizeof(d->sock), "%s/s", d->dir);
    *state = d;
    return 0;
}

/* Removes what the tests may have left in the directory, then the directory. */
static int teardown(void **state)
{
    tdir *d = *state;
    char p[PATH_MAX];
    static const char *const names[] = {"s", "t", "target", NULL};
    for (int i = 0; names[i]; i++) {
        snprintf(p, sizeof(p), "%s/%s", d->dir, names[i]);
        struct stat st;
        if (lstat(p, &st) == 0)
            S_ISDIR(st.st_mode) ? rmdir(p) : unlink(p);
    }
    rmdir(d->dir);
    free(d);
    return 0;
}

/* listen() of this program, the server's included: when race_path is set, it
 * first starts race_other at that path (once), as another agent would that
 * came while this one was between bind and listen. */
static const char *race_path;
static hs_server *race_other;
static int race_rc = 1;

int listen(int fd, int backlog)
{
    if (race_path) {
        const char *p = race_path;
        race_path = NULL;
        race_rc = hs_server_listen_unix(race_other, p);
    }
    return (int)syscall(SYS_listen, fd, backlog);
}

/* How many entries the directory has besides . and .. */
static int entries(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(dp));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(dp);
    return n;
}

/* Sends req on a new connection to the socket and reads the answer to EOF. */
static long unix_http(const char *path, const char *req, char *out, size_t cap)
{
    int fd = t_connect_unix(path);
    if (fd < 0)
        return -1;
    long n = t_send(fd, req, strlen(req)) ? t_recv_all(fd, out, cap - 1, T_WAIT_MS) : -1;
    close(fd);
    if (n >= 0)
        out[n] = '\0';
    return n;
}

static hs_server *bare_server(void)
{
    hs_server *srv = hs_server_new(NULL, NULL, NULL);
    assert_non_null(srv);
    return srv;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---- the service ---- */

static void test_serves_http_and_ws(void **state)
{
    tdir *d = *state;
    char spec[PATH_MAX + 8];
    snprintf(spec, sizeof(spec), "unix:%s", d->sock);
    /* Mode 0600 must not depend on the umask: with 0 the file would be 0777. */
    mode_t old = umask(0);
    tsrv *t = tsrv_start_on(spec, NULL, NULL);
    umask(old);

    struct stat st;
    assert_int_equal(lstat(d->sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, geteuid());

    char buf[512];
    assert_true(unix_http(d->sock, "GET /json/version HTTP/1.1\r\nHost: localhost\r\n\r\n", buf,
                          sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "HTTP/1.0 200 OK\r\n"));
    assert_non_null(strstr(buf, "{\"ok\":true}"));
    /* The Host check applies on the socket as on TCP. */
    assert_true(unix_http(d->sock, "GET /json/version HTTP/1.1\r\nHost: evil.com\r\n\r\n", buf,
                          sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "HTTP/1.0 400 Bad Request\r\n"));

    int fd = t_ws_handshake(t_connect_unix(d->sock));
    assert_true(fd >= 0);
    assert_true(t_ws_text(fd, "over a unix socket"));
    assert_true(t_ws_expect_text(fd, "over a unix socket"));
    close(fd);

    assert_int_equal(tsrv_stop(t), 0);
    assert_false(exists(d->sock)); /* removed by hs_server_free */
}

/* ---- what is at the path already ---- */

static void test_existing_paths(void **state)
{
    tdir *d = *state;
    hs_server *srv = bare_server();

    /* A regular file: refused, untouched. */
    int fd = open(d->sock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "data", 4), 4);
    close(fd);
    assert_int_equal(hs_server_listen_unix(srv, d->sock), -EEXIST);
    char buf[8] = {0};
    fd = open(d->sock, O_RDONLY | O_CLOEXEC);
    assert_int_equal(read(fd, buf, sizeof(buf)), 4);
    close(fd);
    assert_string_equal(buf, "data");
    assert_int_equal(unlink(d->sock), 0);

    /* A directory. */
    assert_int_equal(mkdir(d->sock, 0700), 0);
    assert_int_equal(hs_server_listen_unix(srv, d->sock), -EEXIST);
    assert_int_equal(rmdir(d->sock), 0);

    /* A symbolic link, even one to nothing: not followed, not removed. */
    char target[PATH_MAX];
    snprintf(target, sizeof(target), "%s/target", d->dir);
    assert_int_equal(symlink(target, d->sock), 0);
    assert_int_equal(hs_server_listen_unix(srv, d->sock), -EEXIST);
    assert_false(exists(target));
    char link[PATH_MAX] = {0};
    assert_int_equal(readlink(d->sock, link, sizeof(link) - 1), (ssize_t)strlen(target));
    assert_int_equal(unlink(d->sock), 0);

    /* A live socket: another server listens on it. */
    hs_server *first = bare_server();
    assert_int_equal(hs_server_listen_unix(first, d->sock), 0);
    assert_int_equal(hs_server_listen_unix(srv, d->sock), -EADDRINUSE);
    fd = t_connect_unix(d->sock);
    assert_true(fd >= 0); /* still the first one's */
    close(fd);
    hs_server_free(first);
    assert_false(exists(d->sock));

    /* A stale socket (its server died without removing it): replaced. */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, d->sock);
    int stale = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(stale);
    assert_int_equal(t_connect_unix(d->sock), -ECONNREFUSED);
    assert_int_equal(hs_server_listen_unix(srv, d->sock), 0);
    struct stat st;
    assert_int_equal(lstat(d->sock, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    fd = t_connect_unix(d->sock);
    assert_true(fd >= 0);
    close(fd);
    hs_server_free(srv);
    assert_false(exists(d->sock));
}

static void test_bad_paths(void **state)
{
    tdir *d = *state;
    hs_server *srv = bare_server();
    assert_int_equal(hs_server_listen_unix(srv, "relative.sock"), -EINVAL);
    assert_false(exists("relative.sock"));
    assert_int_equal(hs_server_listen_unix(srv, NULL), -EINVAL);
    assert_int_equal(hs_server_listen_unix(NULL, d->sock), -EINVAL);
    char longp[200];
    memset(longp, 'x', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(hs_server_listen_unix(srv, longp), -ENAMETOOLONG);
    char nodir[PATH_MAX];
    snprintf(nodir, sizeof(nodir), "%s/missing/s", d->dir);
    assert_int_equal(hs_server_listen_unix(srv, nodir), -ENOENT);
    assert_int_equal(hs_server_listen_unix(srv, d->sock), 0);
    assert_int_equal(hs_server_listen_unix(srv, d->sock), -EALREADY);
    assert_int_equal(hs_server_listen(srv, "127.0.0.1", 0, 1), -EALREADY);
    hs_server_free(srv);
    assert_false(exists(d->sock));
}

/* Near the limit of sun_path (107 bytes) with a short last name, where the
 * temporary name next to it would be too long: still served, nothing left. */
static void test_path_at_the_limit(void **state)
{
    tdir *d = *state;
    char sub[256], path[PATH_MAX];
    struct sockaddr_un sa;
    size_t room = sizeof(sa.sun_path) - 1 - strlen(d->dir) - strlen("//s");
    int n = snprintf(sub, sizeof(sub), "%s/", d->dir);
    memset(sub + n, 'x', room);
    sub[n + room] = '\0';
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof(path), "%s/s", sub);
    assert_int_equal(strlen(path), sizeof(sa.sun_path) - 1);
    hs_server *srv = bare_server();
    assert_int_equal(hs_server_listen_unix(srv, path), 0);
    assert_int_equal(entries(sub), 1);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    int fd = t_connect_unix(path);
    assert_true(fd >= 0);
    close(fd);
    hs_server_free(srv);
    assert_int_equal(entries(sub), 0);
    assert_int_equal(rmdir(sub), 0);
}

/* ---- another server starting at the same path ---- */

/* B comes while A is between bind and listen. A's socket must not be at the
 * path yet, or B takes it for a dead one (it refuses connections), removes
 * it and binds its own; A would then chmod and record B's file, serve on a
 * socket nobody can reach, and remove B's live socket when freed. Here B
 * gets the path and A, seeing B live, refuses. */
static void test_start_race(void **state)
{
    tdir *d = *state;
    hs_server *a = bare_server(), *b = bare_server();
    race_other = b;
    race_path = d->sock;
    int ra = hs_server_listen_unix(a, d->sock);
    assert_null(race_path); /* B did start in A's listen() */
    assert_int_equal(race_rc, 0);
    assert_int_equal(ra, -EADDRINUSE);
    assert_int_equal(entries(d->dir), 1); /* the path; no temporary left */
    hs_server_free(a);
    int fd = t_connect_unix(d->sock);
    assert_true(fd >= 0); /* B's, still there after A is gone */
    close(fd);
    hs_server_free(b);
    assert_false(exists(d->sock));
    assert_int_equal(entries(d->dir), 0);
}

/* ---- removal ---- */

static void test_removes_only_its_own_file(void **state)
{
    tdir *d = *state;
    hs_server *srv = bare_server();
    assert_int_equal(hs_server_listen_unix(srv, d->sock), 0);
    /* Someone replaced the socket with one of theirs meanwhile: a socket too,
     * so only its identity tells it from ours. */
    assert_int_equal(unlink(d->sock), 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, d->sock);
    int other = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(other, (struct sockaddr *)&sa, sizeof(sa)), 0);
    hs_server_free(srv);
    assert_true(exists(d->sock));
    close(other);
}

static void test_fork_child_leaves_the_socket(void **state)
{
    tdir *d = *state;
    hs_server *srv = bare_server();
    assert_int_equal(hs_server_listen_unix(srv, d->sock), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        hs_server_abandon_after_fork(srv);
        hs_server_free(srv);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int fd = t_connect_unix(d->sock);
    assert_true(fd >= 0); /* the parent's listener, at its path */
    close(fd);
    hs_server_free(srv);
    assert_false(exists(d->sock));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_serves_http_and_ws, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_at_the_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removes_only_its_own_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_child_leaves_the_socket, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
