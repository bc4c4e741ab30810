/*
 * test_support.c — the client tests' peers: a real node --inspect child (its
 * port and URL read from its stderr, killed with the test even if the test
 * dies) and fake targets on threads that speak garbage on purpose. Waits are
 * on file descriptors with time-outs, never sleeps. Owns no assertions; the
 * tests decide what is right.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hs_ws.h"
#include "test_support.h"

int64_t test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t test_bound_ms(int64_t ms)
{
    const char *s = getenv("HS_TEST_TIME_SCALE");
    long k = s ? strtol(s, NULL, 10) : 1;
    return ms * (k >= 1 && k <= 100 ? k : 1);
}

static int left_ms(int64_t deadline)
{
    int64_t l = deadline - test_now_ms();
    return l < 0 ? 0 : (int)l;
}

/* ---- node --inspect -------------------------------------------------------------------- */

int node_start(node_target *t, const char *script)
{
    memset(t, 0, sizeof *t);
    t->pid = -1;
    t->err_fd = -1;
    const char *node = getenv("HS_TEST_NODE");
    if (!node || !*node)
        node = "node";
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        perror("pipe2");
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        /* Dies with the test, whatever happens to the test. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(p[1], 2);
        /* The debugger listens before the script runs: the script says when it
         * has run, so that tests do not race it. */
        char *full = NULL;
        if (asprintf(&full, "%s\n;process.stderr.write('hs-test-ready\\n');", script) < 0)
            _exit(127);
        execlp(node, node, "--inspect=127.0.0.1:0", "-e", full, (char *)NULL);
        dprintf(p[1], "exec %s: %s\n", node, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    t->pid = pid;
    t->err_fd = p[0];

    char buf[2048];
    size_t used = 0;
    int64_t deadline = test_now_ms() + 15000;
    static const char tag[] = "Debugger listening on ws://";
    for (;;) {
        buf[used] = '\0';
        char *at = strstr(buf, tag);
        if (at && strchr(at, '\n') && strstr(buf, "hs-test-ready\n")) {
            char *url = at + strlen("Debugger listening on ");
            size_t n = strcspn(url, "\r\n");
            if (n >= sizeof t->ws_url)
                break;
            memcpy(t->ws_url, url, n);
            t->ws_url[n] = '\0';
            const char *hp = t->ws_url + 5;
            const char *slash = strchr(hp, '/');
            if (!slash)
                break;
            snprintf(t->hostport, sizeof t->hostport, "%.*s", (int)(slash - hp), hp);
            snprintf(t->id, sizeof t->id, "%s", slash + 1);
            const char *colon = strrchr(t->hostport, ':');
            t->port = colon ? atoi(colon + 1) : 0;
            return 0;
        }
        if (used + 1 >= sizeof buf)
            break;
        struct pollfd pf = {.fd = t->err_fd, .events = POLLIN};
        int r = poll(&pf, 1, left_ms(deadline));
        if (r <= 0)
            break;
        ssize_t n = read(t->err_fd, buf + used, sizeof buf - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    fprintf(stderr, "node did not report its debugger URL; its stderr:\n%s\n", buf);
    node_stop(t);
    return -1;
}

void node_stop(node_target *t)
{
    if (t->pid > 0) {
        kill(t->pid, SIGKILL);
        while (waitpid(t->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        t->pid = -1;
    }
    if (t->err_fd >= 0)
        close(t->err_fd);
    t->err_fd = -1;
}

int node_wait_exit(node_target *t, int timeout_ms)
{
    /* node's stderr reaches end of file when it exits: wait for that. */
    int64_t deadline = test_now_ms() + timeout_ms;
    char buf[512];
    for (;;) {
        struct pollfd pf = {.fd = t->err_fd, .events = POLLIN};
        if (poll(&pf, 1, left_ms(deadline)) <= 0) {
            node_stop(t);
            return -1;
        }
        ssize_t n = read(t->err_fd, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0 && errno != EINTR) {
            node_stop(t);
            return -1;
        }
    }
    int status = 0;
    while (waitpid(t->pid, &status, 0) < 0 && errno == EINTR)
        ;
    t->pid = -1;
    close(t->err_fd);
    t->err_fd = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- fake targets ---------------------------------------------------------------------- */

int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        perror("closed_port");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd); /* bound but never listening: connections to it are refused */
    return ntohs(a.sin_port);
}

static int send_text(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Some bytes from the client, waiting at most 10 s. */
static ssize_t recv_some(int fd, char *buf, size_t size)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, 10000) <= 0)
        return -1;
    return recv(fd, buf, size, 0);
}

/* The request head (up to the blank line), NUL-terminated. */
static int recv_head(int fd, char *buf, size_t size)
{
    size_t used = 0;
    while (used + 1 < size) {
        ssize_t n = recv_some(fd, buf + used, size - 1 - used);
        if (n <= 0)
            return -1;
        used += (size_t)n;
        buf[used] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return 0;
    }
    return -1;
}

static int upgrade(int fd, bool good_accept)
{
    char head[4096];
    if (recv_head(fd, head, sizeof head) < 0)
        return -1;
    char *k = strcasestr(head, "\nSec-WebSocket-Key:");
    if (!k)
        return -1;
    k += strlen("\nSec-WebSocket-Key:");
    k += strspn(k, " \t");
    k[strcspn(k, "\r\n")] = '\0';
    char accept[29];
    if (hs_ws_accept_key(k, accept) < 0)
        return -1;
    if (!good_accept)
        accept[3] ^= 1;
    char resp[256];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    return send_text(fd, resp, (size_t)n);
}

static void *fake_main(void *arg)
{
    fake_target *f = arg;
    struct pollfd pf = {.fd = f->listen_fd, .events = POLLIN};
    if (poll(&pf, 1, 10000) <= 0)
        return NULL;
    int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return NULL;
    char buf[4096];
    switch (f->mode) {
    case FAKE_NOT_HTTP: {
        static const char banner[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
        send_text(fd, banner, sizeof banner - 1);
        break;
    }
    case FAKE_HTTP_400: {
        static const char resp[] = "HTTP/1.0 400 Bad Request\r\n"
                                   "Content-Type: text/html; charset=UTF-8\r\n\r\n"
                                   "WebSockets request was expected\r\n";
        if (recv_head(fd, buf, sizeof buf) == 0)
            send_text(fd, resp, sizeof resp - 1);
        close(fd);
        return NULL; /* node closes after the answer */
    }
    case FAKE_WS_BAD_ACCEPT:
        upgrade(fd, false);
        break;
    case FAKE_WS_NOT_JSON:
        if (upgrade(fd, true) == 0 && recv_some(fd, buf, sizeof buf) > 0) {
            static const char text[] = "hello, this is not JSON";
            unsigned char frame[2 + sizeof text] = {0x81, (unsigned char)(sizeof text - 1)};
            memcpy(frame + 2, text, sizeof text - 1);
            send_text(fd, frame, sizeof text + 1);
        }
        break;
    case FAKE_WS_CLOSE_1011:
        if (upgrade(fd, true) == 0 && recv_some(fd, buf, sizeof buf) > 0) {
            static const unsigned char frame[] = {0x88, 6, 0x03, 0xf3, 'b', 'o', 'o', 'm'};
            send_text(fd, frame, sizeof frame);
        }
        break;
    case FAKE_WS_EOF:
        if (upgrade(fd, true) == 0 && recv_some(fd, buf, sizeof buf) > 0) {
            close(fd);
            return NULL;
        }
        break;
    case FAKE_WS_MUTE:
        upgrade(fd, true);
        break;
    case FAKE_SILENT:
        break;
    }
    /* Keep the connection until the client lets go, so that a client that
     * waits for more instead of failing would hang here (and the test's time
     * checks catch it). */
    while (recv_some(fd, buf, sizeof buf) > 0)
        ;
    close(fd);
    return NULL;
}

int fake_start(fake_target *f, fake_mode mode)
{
    memset(f, 0, sizeof *f);
    f->mode = mode;
    f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        listen(f->listen_fd, 4) < 0 || getsockname(f->listen_fd, (struct sockaddr *)&a, &al) < 0) {
        perror("fake_start");
        return -1;
    }
    f->port = ntohs(a.sin_port);
    snprintf(f->hostport, sizeof f->hostport, "127.0.0.1:%d", f->port);
    snprintf(f->ws_url, sizeof f->ws_url, "ws://127.0.0.1:%d/fake", f->port);
    if (pthread_create(&f->thread, NULL, fake_main, f) != 0)
        return -1;
    f->started = true;
    return 0;
}

void fake_stop(fake_target *f)
{
    if (f->started)
        pthread_join(f->thread, NULL);
    f->started = false;
    if (f->listen_fd >= 0)
        close(f->listen_fd);
    f->listen_fd = -1;
}
