/*
 * test_support.h — helpers for the client tests: a node --inspect child process
 * (started on an ephemeral port, found through its "Debugger listening" line)
 * and small fake targets that answer garbage, each on its own thread.
 */
#ifndef HS_TEST_CLIENT_SUPPORT_H
#define HS_TEST_CLIENT_SUPPORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- node --inspect --------------------------------------------------------- */

typedef struct node_target {
    pid_t pid;
    int err_fd;        /* node's stderr (read end) */
    char ws_url[256];  /* ws://127.0.0.1:PORT/ID */
    char hostport[64]; /* 127.0.0.1:PORT */
    char id[128];
    int port;
} node_target;

/* Starts `node --inspect=127.0.0.1:0 -e script` and waits (at most 15 s) for its
 * WebSocket URL and for the script to have run. The node binary is $HS_TEST_NODE, else "node" from
 * PATH. Returns 0, or -1 with a message on stderr. */
int node_start(node_target *t, const char *script);
/* Kills (SIGKILL) and reaps the child; safe to call twice. */
void node_stop(node_target *t);
/* Reaps a child that is expected to exit by itself within timeout_ms; returns
 * its exit status, or -1 (then it is killed). */
int node_wait_exit(node_target *t, int timeout_ms);

/* ---- fake targets ----------------------------------------------------------- */

typedef enum fake_mode {
    FAKE_NOT_HTTP,      /* writes an SSH banner and keeps the connection open */
    FAKE_HTTP_400,      /* answers like node does to a bad request */
    FAKE_WS_NOT_JSON,   /* upgrades, then answers the first message with non-JSON text */
    FAKE_WS_CLOSE_1011, /* upgrades, then answers the first message with close 1011 */
    FAKE_WS_EOF,        /* upgrades, reads the first message, then drops the connection */
    FAKE_WS_BAD_ACCEPT, /* answers the upgrade with a wrong Sec-WebSocket-Accept */
    FAKE_WS_MUTE,       /* upgrades, then never answers */
    FAKE_SILENT,        /* accepts and never says anything */
} fake_mode;

typedef struct fake_target {
    fake_mode mode;
    int listen_fd;
    int port;
    pthread_t thread;
    bool started;
    char hostport[64];
    char ws_url[96];
} fake_target;

/* Listens on 127.0.0.1 (ephemeral port) and serves one connection in a thread. */
int fake_start(fake_target *f, fake_mode mode);
/* Joins the thread (which ends once the client has closed, or after 10 s). */
void fake_stop(fake_target *f);

/* A 127.0.0.1 port with nothing listening (bound, then closed). */
int closed_port(void);

/* Monotonic milliseconds. */
int64_t test_now_ms(void);

/* An upper bound of ms on how long something may take, stretched by
 * HS_TEST_TIME_SCALE (an integer, default 1) for runs under Valgrind, which
 * slows the client's own work but not the waits it is tested for. */
int64_t test_bound_ms(int64_t ms);

#endif
