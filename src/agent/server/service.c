/*
 * service.c — the agent's service thread and its endpoint: where it listens,
 * what it says at /json/list, /json/version and /json/protocol, which Host
 * headers it accepts, and HEAPSCOPE_WAIT (hold the program before main until
 * a client sends Runtime.runIfWaitingForDebugger).
 *
 * Sockets, HTTP and WebSocket framing belong to src/net (hs_server); what a
 * message means belongs to domain/. This file only wires them: one
 * hs_server, run by one thread whose re-entry guard is set for its whole life
 * so that nothing it allocates is ever profiled.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../agent_int.h"
#include "../domain/domain.h"
#include "../snapshot/snapshot.h"
#include "cdp_gen.h"
#include "heapscope/hs_agent.h"
#include "heapscope/hs_err.h"
#include "hs_server.h"

/* Node's default port; the next ones are tried when it is taken (by node, or
 * by another program under heapscope), then an ephemeral one. */
#define HS_DEFAULT_PORT 9229
#define HS_PORT_TRIES 16

static struct service {
    hs_server *srv;
    pthread_t thread;
    bool running;
    bool stuck;         /* a stop timed out: the old thread may still use srv */
    char host[256];     /* as configured: the name a Host header may carry */
    char url_host[272]; /* host as it goes into URLs: IPv6 in brackets */
    int port;
    /* HEAPSCOPE_LISTEN=unix:PATH: the socket's path; "" on TCP. */
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char id[37];     /* target id: a random UUID, the WebSocket path */
    char title[512]; /* the program and its arguments */
    char file_url[PATH_MAX + 8];

    /* HEAPSCOPE_WAIT */
    pthread_mutex_t wait_mu;
    pthread_cond_t wait_cv;
    bool released;
} svc = {.wait_mu = PTHREAD_MUTEX_INITIALIZER, .wait_cv = PTHREAD_COND_INITIALIZER};

/* ---- identity --------------------------------------------------------------- */

/* The id is the WebSocket path, the only secret between a web page and the
 * endpoint (there is no Origin check, as in node): never a guessable one. */
static int make_uuid(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t)sizeof(b)) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
        if (fd >= 0)
            close(fd);
        if (n != (ssize_t)sizeof(b))
            return HS_E_STATE;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
    return 0;
}

/* The title: the command line, arguments separated by spaces, cut to fit. */
static void read_title(char *out, size_t size)
{
    out[0] = '\0';
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(out, size, "%s", program_invocation_name);
        return;
    }
    ssize_t n = read(fd, out, size - 1);
    close(fd);
    if (n <= 0) {
        snprintf(out, size, "%s", program_invocation_name);
        return;
    }
    while (n > 0 && out[n - 1] == '\0')
        n--;
    for (ssize_t i = 0; i < n; i++)
        if (out[i] == '\0')
            out[i] = ' ';
    out[n] = '\0';
}

static void read_file_url(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        n = 0;
    exe[n] = '\0';
    snprintf(out, size, "file://%s", exe);
}

/* ---- listen address ---------------------------------------------------------- */

/* HEAPSCOPE_LISTEN: "HOST:PORT", "[V6]:PORT", "PORT", "HOST", or "off". */
static int parse_listen(const char *spec, char *host, size_t hsize, int *port)
{
    snprintf(host, hsize, "127.0.0.1");
    *port = HS_DEFAULT_PORT;
    if (!spec || !*spec)
        return 0;
    const char *colon = NULL;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || (close[1] && close[1] != ':'))
            return HS_E_INVAL;
        if (close == spec + 1 || (size_t)(close - spec - 1) >= hsize)
            return HS_E_INVAL;
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        colon = close[1] ? close + 1 : NULL;
    } else {
        colon = strrchr(spec, ':');
        if (colon && strchr(spec, ':') != colon) {
            /* Several colons: only a bare IPv6 literal (no port) is valid. */
            unsigned char buf[16];
            if (inet_pton(AF_INET6, spec, buf) != 1)
                return HS_E_INVAL;
            colon = NULL;
        }
        size_t hl = colon ? (size_t)(colon - spec) : strlen(spec);
        const char *portstr = colon ? colon + 1 : NULL;
        if (!colon && hl > 0 && strspn(spec, "0123456789") == hl) { /* just a port */
            portstr = spec;
            hl = 0;
        }
        if (hl >= hsize)
            return HS_E_INVAL;
        if (hl) {
            memcpy(host, spec, hl);
            host[hl] = '\0';
        }
        colon = portstr ? portstr - 1 : NULL;
    }
    if (colon) {
        const char *p = colon + 1;
        if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 5)
            return HS_E_INVAL;
        long v = strtol(p, NULL, 10);
        if (v > 65535)
            return HS_E_INVAL;
        *port = (int)v;
    }
    return 0;
}

/* ---- discovery ------------------------------------------------------------------ */

static char *dump_pretty(json_t *j, size_t *len)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (s)
        *len = strlen(s);
    return s;
}

/* The URLs name the host the client asked, as sent (node does the same), so that a
 * client that reached us as localhost or through a forwarded address can
 * follow them; without a Host header, the address we listen on. */
static json_t *target_json(const char *req_host)
{
    char ws[400], fe[600], fe_compat[600], wsurl[sizeof(svc.unix_path) + 64];
    bool tcp = !svc.unix_path[0];
    if (tcp) {
        bool usable = req_host && *req_host && strlen(req_host) < 300;
        if (usable)
            snprintf(ws, sizeof(ws), "%s/%s", req_host, svc.id);
        else
            snprintf(ws, sizeof(ws), "%s:%d/%s", svc.url_host, svc.port, svc.id);
        snprintf(fe, sizeof(fe),
                 "devtools://devtools/bundled/js_app.html?experiments=true&v8only=true&ws=%s", ws);
        snprintf(fe_compat, sizeof(fe_compat),
                 "devtools://devtools/bundled/inspector.html?experiments=true&v8only=true&ws=%s",
                 ws);
        snprintf(wsurl, sizeof(wsurl), "ws://%s", ws);
    } else {
        /* The form of the ws package and of heapscope's client. DevTools
         * cannot open a Unix socket: no front-end URLs. */
        snprintf(wsurl, sizeof(wsurl), "ws+unix://%s:/%s", svc.unix_path, svc.id);
    }
    json_t *t = json_object();
    /* A member that cannot be made (out of memory) would leave a target a
     * client cannot use: then no target at all. */
    int bad =
        json_object_set_new(t, "description", json_string("heapscope agent: the native heap"));
    if (tcp) {
        bad |= json_object_set_new(t, "devtoolsFrontendUrl", json_string(fe));
        bad |= json_object_set_new(t, "devtoolsFrontendUrlCompat", json_string(fe_compat));
    }
    bad |= json_object_set_new(t, "id", json_string(svc.id));
    /* Invalid UTF-8 in argv must not make the list unservable. */
    json_t *title = json_string(svc.title);
    bad |= json_object_set_new(t, "title", title ? title : json_string("(program)"));
    bad |= json_object_set_new(t, "type", json_string("node"));
    json_t *url = json_string(svc.file_url);
    bad |= json_object_set_new(t, "url", url ? url : json_string("file://"));
    bad |= json_object_set_new(t, "webSocketDebuggerUrl", json_string(wsurl));
    if (bad) {
        json_decref(t);
        return NULL;
    }
    return t;
}

static int on_http_get(void *ud, const char *path, char **body, size_t *len)
{
    (void)ud;
    if (!strcmp(path, "/json") || !strcmp(path, "/json/") || !strcmp(path, "/json/list") ||
        !strcmp(path, "/json/list/")) {
        json_t *list = json_array();
        if (json_array_append_new(list, target_json(hs_server_request_host(svc.srv))) != 0) {
            json_decref(list);
            return -2;
        }
        *body = dump_pretty(list, len);
    } else if (!strcmp(path, "/json/version") || !strcmp(path, "/json/version/")) {
        json_t *v = json_object();
        char browser[64];
        snprintf(browser, sizeof(browser), "heapscope/v%s", hs_agent_version());
        /* What node's inspector says: clients treat a node target by it. */
        if (json_object_set_new(v, "Browser", json_string(browser)) |
            json_object_set_new(v, "Protocol-Version", json_string("1.1"))) {
            json_decref(v);
            return -2;
        }
        *body = dump_pretty(v, len);
    } else if (!strcmp(path, "/json/protocol") || !strcmp(path, "/json/protocol/")) {
        *body = malloc(cdp_protocol_json_len + 1);
        if (*body) {
            memcpy(*body, cdp_protocol_json, cdp_protocol_json_len + 1);
            *len = cdp_protocol_json_len;
        }
    } else {
        return -1;
    }
    return *body ? 0 : -2;
}

static bool on_ws_path(void *ud, const char *path)
{
    (void)ud;
    return path[0] == '/' && !strcmp(path + 1, svc.id);
}

/* DNS rebinding: a web page that makes its own name resolve to 127.0.0.1
 * sends its own name as Host. Accept only what cannot be such a name, as
 * node's inspector does: no Host (or an empty one), "localhost", an IP
 * literal, or the name the endpoint was configured with. Like node, not the
 * unspecified addresses (0.0.0.0/8, [::]): some systems look those up in DNS,
 * and browsers that let pages reach 0.0.0.0 reach this machine through it. */
static bool on_host_ok(void *ud, const char *host)
{
    (void)ud;
    if (!host || !*host)
        return true;
    char name[300];
    size_t n = strlen(host);
    if (n >= sizeof(name))
        return false;
    memcpy(name, host, n + 1);
    unsigned char buf[16];
    if (name[0] == '[') { /* [v6]:port */
        char *close = strchr(name, ']');
        if (!close || (close[1] && close[1] != ':'))
            return false;
        if (close[1] && (!close[2] || strspn(close + 2, "0123456789") != strlen(close + 2)))
            return false;
        *close = '\0';
        static const unsigned char unspecified[16];
        return inet_pton(AF_INET6, name + 1, buf) == 1 && memcmp(buf, unspecified, 16) != 0;
    }
    char *colon = strchr(name, ':');
    if (colon) {
        if (strchr(colon + 1, ':'))
            return false;
        if (!colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
            return false;
        *colon = '\0';
    }
    if (inet_pton(AF_INET, name, buf) == 1)
        return buf[0] != 0;
    if (!strcasecmp(name, "localhost"))
        return true;
    return svc.host[0] && !strcasecmp(name, svc.host);
}

/* ---- the thread --------------------------------------------------------------- */

static void *service_main(void *arg)
{
    (void)arg;
    hs__shim_guard(1);
    hs__snapshot_register_agent_thread();
    /* Cancellation would leave a session's state half-updated. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    hs__timeline_autostart();
    hs_server_run(svc.srv);
    /* Whatever ended the loop, nobody can release a waiting program now. */
    hs__service_release_wait();
    return NULL;
}

/* Can /json/list carry s? Asked of jansson itself, which makes the list:
 * json_string refuses what is not UTF-8 as JSON takes it. */
static bool json_can_carry(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

static void print_banner(void)
{
    if (svc.unix_path[0]) {
        dprintf(2, "heapscope: DevTools listening on ws+unix://%s:/%s\n", svc.unix_path, svc.id);
        dprintf(2,
                "heapscope: DevTools cannot open a Unix socket; take a snapshot with "
                "heapscope snapshot --target unix:%s -o FILE\n",
                svc.unix_path);
        return;
    }
    dprintf(2, "heapscope: DevTools listening on ws://%s:%d/%s\n", svc.url_host, svc.port, svc.id);
    dprintf(2,
            "heapscope: for the Memory panel open "
            "devtools://devtools/bundled/js_app.html?experiments=true&v8only=true&ws=%s:%d/%s\n",
            svc.url_host, svc.port, svc.id);
}

int hs__service_start(void)
{
    if (svc.running)
        return HS_OK;
    if (svc.stuck) {
        dprintf(2, "heapscope: the previous service thread did not stop; no new endpoint\n");
        return HS_E_STATE;
    }
    const char *spec = hs__config.listen;
    if (spec && (!strcmp(spec, "off") || !strcmp(spec, "none")))
        return HS_OK;
    int port = 0;
    svc.unix_path[0] = '\0';
    if (spec && !strncmp(spec, "unix:", 5)) {
        if (spec[5] != '/' || strlen(spec + 5) >= sizeof(svc.unix_path)) {
            dprintf(2,
                    "heapscope: HEAPSCOPE_LISTEN=%s: unix: takes an absolute path of at most %zu "
                    "bytes; no DevTools endpoint\n",
                    spec, sizeof(svc.unix_path) - 1);
            return HS_E_INVAL;
        }
        /* What the discovery could not hand out: ws+unix://PATH:/ID and the
         * client's unix:PATH:SEL end the path at its first ':', and /json/list
         * (JSON) cannot carry a path that is not UTF-8. */
        if (strchr(spec + 5, ':') || !json_can_carry(spec + 5)) {
            dprintf(2,
                    "heapscope: HEAPSCOPE_LISTEN=%s: a Unix socket's path must be UTF-8 without "
                    "':' (its URL ws+unix://PATH:/ID ends the path at the first ':'); no DevTools "
                    "endpoint\n",
                    spec);
            return HS_E_INVAL;
        }
        /* Host headers stay checked: a browser cannot reach the socket, but a
         * TCP forwarder (socat) put in front of it could bring one back. */
        snprintf(svc.unix_path, sizeof(svc.unix_path), "%s", spec + 5);
        snprintf(svc.host, sizeof(svc.host), "localhost");
    } else if (parse_listen(spec, svc.host, sizeof(svc.host), &port) < 0) {
        dprintf(2, "heapscope: HEAPSCOPE_LISTEN=%s is not HOST:PORT; no DevTools endpoint\n", spec);
        return HS_E_INVAL;
    }
    /* Everything set up here is the agent's own: never profiled. */
    int was = hs__shim_guarded();
    hs__shim_guard(1);
    int rc = HS_OK;
    if (make_uuid(svc.id) < 0) {
        dprintf(2, "heapscope: no randomness for an unguessable target id; no DevTools endpoint\n");
        rc = HS_E_STATE;
        goto out;
    }
    read_title(svc.title, sizeof(svc.title));
    read_file_url(svc.file_url, sizeof(svc.file_url));
    snprintf(svc.url_host, sizeof(svc.url_host), strchr(svc.host, ':') ? "[%s]" : "%s", svc.host);

    static const hs_server_callbacks cb = {
        .http_get = on_http_get,
        .ws_accept_path = on_ws_path,
        .host_ok = on_host_ok,
        .session_open = hs__domain_session_open,
        .session_message = hs__domain_session_message,
        .session_closed = hs__domain_session_closed,
    };
    svc.srv = hs_server_new(NULL, &cb, NULL);
    if (!svc.srv) {
        dprintf(2, "heapscope: out of memory for the server; no DevTools endpoint\n");
        rc = HS_E_NOMEM;
        goto out;
    }
    if (svc.unix_path[0]) {
        int r = hs_server_listen_unix(svc.srv, svc.unix_path);
        if (r < 0) {
            dprintf(2, "heapscope: cannot listen on unix:%s: %s; no DevTools endpoint\n",
                    svc.unix_path,
                    r == -EADDRINUSE ? "another server listens on it"
                    : r == -EEXIST   ? "something other than a stale socket of this user's is "
                                       "there (not replaced)"
                                     : hs_strerror(r));
            hs_server_free(svc.srv);
            svc.srv = NULL;
            rc = r;
            goto out;
        }
    }
    int tries = port ? HS_PORT_TRIES : 1;
    int bound = svc.unix_path[0] ? 0 : hs_server_listen(svc.srv, svc.host, port, tries);
    if (bound < 0) {
        dprintf(2, "heapscope: cannot listen on %s:%d: %s; no DevTools endpoint\n", svc.host, port,
                hs_strerror(bound));
        hs_server_free(svc.srv);
        svc.srv = NULL;
        rc = bound;
        goto out;
    }
    /* A client told the configured port (node's 9229 by default) must learn
     * why nothing of ours answers there. */
    if (port && bound != port)
        dprintf(2, "heapscope: port %d is taken; listening on port %d instead\n", port, bound);
    svc.port = bound;
    /* The thread must not receive the program's signals: block them all
     * while it is created (it inherits the mask). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&svc.thread, NULL, service_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        dprintf(2, "heapscope: cannot start the service thread: %s\n", strerror(err));
        hs_server_free(svc.srv);
        svc.srv = NULL;
        rc = -err;
        goto out;
    }
    svc.running = true;
    print_banner();
out:
    hs__shim_guard(was);
    return rc;
}

/* Stops the thread at exit so that clients see an orderly close. Bounded:
 * a thread stuck in a handler must not hold the program's exit. */
void hs__service_stop(void)
{
    if (!svc.running)
        return;
    svc.running = false;
    hs_server_stop(svc.srv);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    if (pthread_timedjoin_np(svc.thread, NULL, &until) == 0) {
        hs_server_free(svc.srv);
        svc.srv = NULL;
    } else {
        svc.stuck = true;
    }
}

/* In a forked child: the thread does not exist here; its sockets must not
 * stay open in the child (a second process answering on the parent's
 * connections would corrupt them). */
void hs__service_after_fork_child(void)
{
    if (!svc.running)
        return;
    svc.running = false;
    hs_server_abandon_after_fork(svc.srv);
    svc.srv = NULL;
}

/* ---- HEAPSCOPE_WAIT --------------------------------------------------------------- */

void hs__service_release_wait(void)
{
    pthread_mutex_lock(&svc.wait_mu);
    svc.released = true;
    pthread_cond_broadcast(&svc.wait_cv);
    pthread_mutex_unlock(&svc.wait_mu);
}

void hs__service_wait_for_debugger(void)
{
    if (!svc.running) {
        dprintf(2, "heapscope: HEAPSCOPE_WAIT ignored: there is no DevTools endpoint\n");
        return;
    }
    dprintf(2, "heapscope: waiting for the debugger (Runtime.runIfWaitingForDebugger) "
               "before main\n");
    pthread_mutex_lock(&svc.wait_mu);
    while (!svc.released)
        pthread_cond_wait(&svc.wait_cv, &svc.wait_mu);
    pthread_mutex_unlock(&svc.wait_mu);
}

hs_server *hs__service_server(void)
{
    return svc.srv;
}

const char *hs__service_target_id(void)
{
    return svc.id;
}
