/*
 * client_io.c — the client's sockets: parsing HOST:PORT and ws:// URLs, name
 * resolution, connecting with a time-out, and writing or waiting against a
 * deadline; also the last-error text. It does not know HTTP, WebSocket or CDP
 * (client_http.c and client_session.c do).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"

int hs_cl_fail(hs_client *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return code;
}

int64_t hs_cl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hs_cl_deadline(int timeout_ms)
{
    return hs_cl_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
}

int hs_cl_left_ms(int64_t deadline)
{
    int64_t left = deadline - hs_cl_now_ms();
    if (left < 0)
        return 0;
    return left > 1000000000 ? 1000000000 : (int)left;
}

/* Port: 1..65535 in decimal, nothing else. */
static bool port_ok(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/* Splits an authority "[v6]:port", "host:port" or (when port_default) "host". */
static int parse_authority(hs_client *c, const char *s, size_t len, const char *port_default,
                           hs_cl_addr *a)
{
    const char *host, *port = NULL;
    size_t host_len, port_len = 0;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return hs_cl_fail(c, HS_E_INVAL, "'%.*s': missing ']' after an IPv6 address", (int)len,
                              s);
        host = s + 1;
        host_len = (size_t)(close - host);
        const char *after = close + 1;
        size_t after_len = len - (size_t)(after - s);
        if (after_len > 0) {
            if (after[0] != ':')
                return hs_cl_fail(c, HS_E_INVAL, "'%.*s': expected ':PORT' after ']'", (int)len, s);
            port = after + 1;
            port_len = after_len - 1;
        }
    } else {
        const char *colon = memrchr(s, ':', len);
        if (colon && memchr(s, ':', (size_t)(colon - s)))
            return hs_cl_fail(c, HS_E_INVAL, "'%.*s': write an IPv6 address as [ADDRESS]:PORT",
                              (int)len, s);
        host = s;
        host_len = colon ? (size_t)(colon - s) : len;
        if (colon) {
            port = colon + 1;
            port_len = len - host_len - 1;
        }
    }
    if (host_len == 0 || host_len >= sizeof a->host)
        return hs_cl_fail(c, HS_E_INVAL, "'%.*s': no host name", (int)len, s);
    if (!port) {
        if (!port_default)
            return hs_cl_fail(c, HS_E_INVAL, "'%.*s': expected HOST:PORT", (int)len, s);
        port = port_default;
        port_len = strlen(port_default);
    }
    if (!port_ok(port, port_len))
        return hs_cl_fail(c, HS_E_INVAL, "'%.*s': the port must be a number from 1 to 65535",
                          (int)len, s);
    memcpy(a->host, host, host_len);
    a->host[host_len] = '\0';
    memcpy(a->port, port, port_len);
    a->port[port_len] = '\0';
    bool v6 = memchr(a->host, ':', host_len) != NULL;
    snprintf(a->authority, sizeof a->authority, v6 ? "[%s]:%s" : "%s:%s", a->host, a->port);
    snprintf(a->host_header, sizeof a->host_header, "%s", a->authority);
    a->unix_path[0] = '\0';
    return 0;
}

/* A Unix socket's path (len bytes of s). */
static int parse_unix(hs_client *c, const char *s, size_t len, hs_cl_addr *a)
{
    if (len == 0 || memchr(s, '\0', len))
        return hs_cl_fail(c, HS_E_INVAL, "unix: needs the path of a socket");
    if (len >= sizeof a->unix_path)
        return hs_cl_fail(c, HS_E_INVAL, "'unix:%.*s': a socket's path has at most %zu bytes",
                          (int)len, s, sizeof a->unix_path - 1);
    memcpy(a->unix_path, s, len);
    a->unix_path[len] = '\0';
    snprintf(a->host, sizeof a->host, "localhost");
    a->port[0] = '\0';
    snprintf(a->authority, sizeof a->authority, "unix:%s", a->unix_path);
    snprintf(a->host_header, sizeof a->host_header, "localhost");
    return 0;
}

int hs_cl_parse_hostport(hs_client *c, const char *s, size_t len, hs_cl_addr *a)
{
    if (len >= 5 && !strncmp(s, "unix:", 5))
        return parse_unix(c, s + 5, len - 5, a);
    return parse_authority(c, s, len, NULL, a);
}

int hs_cl_parse_ws_url(hs_client *c, const char *url, hs_cl_addr *a, char **path)
{
    static const char scheme[] = "ws://", unix_scheme[] = "ws+unix://";
    if (strncasecmp(url, "wss://", 6) == 0)
        return hs_cl_fail(c, HS_E_INVAL, "'%s': wss:// (TLS) is not supported", url);
    const char *rest;
    int rc;
    if (strncasecmp(url, unix_scheme, sizeof unix_scheme - 1) == 0) {
        const char *sock = url + sizeof unix_scheme - 1;
        size_t sock_len = strcspn(sock, ":");
        if ((rc = parse_unix(c, sock, sock_len, a)) < 0)
            return rc;
        rest = sock + sock_len + (sock[sock_len] == ':');
    } else if (strncasecmp(url, scheme, sizeof scheme - 1) == 0) {
        const char *auth = url + sizeof scheme - 1;
        size_t auth_len = strcspn(auth, "/?#");
        if (memchr(auth, '@', auth_len))
            return hs_cl_fail(c, HS_E_INVAL, "'%s': user names in the URL are not supported", url);
        if ((rc = parse_authority(c, auth, auth_len, "80", a)) < 0)
            return rc;
        rest = auth + auth_len;
    } else {
        return hs_cl_fail(c, HS_E_INVAL, "'%s' is not a ws:// or ws+unix:// URL", url);
    }
    size_t rest_len = strcspn(rest, "#");
    char *p = malloc(rest_len + 2);
    if (!p)
        return hs_cl_fail(c, HS_E_NOMEM, "out of memory");
    if (rest_len == 0 || rest[0] != '/') {
        p[0] = '/';
        memcpy(p + 1, rest, rest_len);
        p[rest_len + 1] = '\0';
    } else {
        memcpy(p, rest, rest_len);
        p[rest_len] = '\0';
    }
    for (char *q = p; *q; q++) {
        if ((unsigned char)*q <= ' ' || *q == 0x7f) {
            free(p);
            return hs_cl_fail(c, HS_E_INVAL, "'%s': the path has spaces or control characters",
                              url);
        }
    }
    *path = p;
    return 0;
}

int hs_cl_poll(int fd, short events, int64_t deadline, short *revents)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, hs_cl_left_ms(deadline));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -ETIMEDOUT;
        if (revents)
            *revents = p.revents;
        return 0;
    }
}

/* One address: connect without blocking, then wait for the outcome. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, int *fd_out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS) {
            rc = -errno;
        } else {
            rc = hs_cl_poll(fd, POLLOUT, deadline, NULL);
            if (rc == 0) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                    rc = -errno;
                else
                    rc = -soerr;
            }
        }
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    /* Requests are small and each waits for its answer: no Nagle delay. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *fd_out = fd;
    return 0;
}

/* A Unix socket: connect() completes or fails at once, unless the backlog is
 * full (EAGAIN), which is waited out until the deadline. */
static int unix_connect(hs_client *c, const hs_cl_addr *a, int64_t deadline, int *fd_out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, a->unix_path, strlen(a->unix_path) + 1);
    int rc;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return hs_cl_fail(c, -errno, "socket: %s", strerror(errno));
        if (connect(fd, (const struct sockaddr *)&sa, sizeof sa) == 0) {
            *fd_out = fd;
            return 0;
        }
        rc = -errno;
        close(fd);
        if (rc != -EAGAIN && rc != -EINTR)
            break;
        if (hs_cl_left_ms(deadline) == 0) {
            rc = -ETIMEDOUT;
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000}; /* retry a full backlog */
        nanosleep(&ts, NULL);
    }
    if (rc == -ECONNREFUSED)
        return hs_cl_fail(c, rc, "connection refused by %s (nobody listens on it: a stale socket?)",
                          a->authority);
    if (rc == -ENOENT)
        return hs_cl_fail(c, rc, "no socket at %s (is the target running?)", a->authority);
    if (rc == -EACCES)
        return hs_cl_fail(c, rc, "permission denied on %s (the socket is its owner's only)",
                          a->authority);
    if (rc == -ETIMEDOUT)
        return hs_cl_fail(c, rc, "no connection to %s within %d ms", a->authority,
                          c->opt.connect_timeout_ms);
    return hs_cl_fail(c, rc, "cannot connect to %s: %s", a->authority, strerror(-rc));
}

int hs_cl_tcp_connect(hs_client *c, const hs_cl_addr *a, int64_t deadline, int *fd)
{
    if (a->unix_path[0])
        return unix_connect(c, a, deadline, fd);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(a->host, a->port, &hints, &res);
    if (g != 0) {
        if (g == EAI_SYSTEM)
            return hs_cl_fail(c, -errno, "cannot resolve '%s': %s", a->host, strerror(errno));
        if (g == EAI_MEMORY)
            return hs_cl_fail(c, HS_E_NOMEM, "out of memory resolving '%s'", a->host);
        return hs_cl_fail(c, HS_E_RESOLVE, "cannot resolve '%s': %s", a->host, gai_strerror(g));
    }
    int rc = -ECONNREFUSED;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        rc = connect_one(ai, deadline, fd);
        if (rc == 0 || rc == -ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    if (rc == -ECONNREFUSED)
        return hs_cl_fail(c, rc, "connection refused by %s (is the target running, on this port?)",
                          a->authority);
    if (rc == -ETIMEDOUT)
        return hs_cl_fail(c, rc, "no connection to %s within %d ms", a->authority,
                          c->opt.connect_timeout_ms);
    if (rc < 0)
        return hs_cl_fail(c, rc, "cannot connect to %s: %s", a->authority, strerror(-rc));
    return 0;
}

int hs_cl_send_all(int fd, const void *buf, size_t len, int64_t deadline)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int rc = hs_cl_poll(fd, POLLOUT, deadline, NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}
