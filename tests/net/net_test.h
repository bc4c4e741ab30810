/*
 * net_test.h — what the src/net tests share: a server run on an ephemeral
 * port in its own thread, with callbacks that echo text messages and obey a
 * few commands, and raw-socket client helpers (HTTP requests, WebSocket
 * frames written and read by hand). Waits are condition variables and poll()
 * with time limits, never sleeps.
 */
#ifndef HS_NET_TEST_H
#define HS_NET_TEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_server.h"

#define T_WAIT_MS 5000

typedef struct tsrv {
    hs_server *srv;
    pthread_t th;
    int port;
    int run_rc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Counters, under mu. */
    int opened, closed, woken, messages;
    size_t max_queued; /* highest hs_session_queued seen after a send */
    int flood_rc;      /* "flood": what hs_session_send_text returned last */
    int flood_sent;
    int stream_rc; /* "stream": 0, or the hs_server_drain failure */
    int stream_done;
    int stream_msgs_during; /* messages delivered while a stream ran (must be 0) */
    bool streaming;
    int send_after_close_rc; /* "close": hs_session_send_text right after */
    size_t queued_mark;      /* over_mark counts sends that left more queued */
    int over_mark;
    int timer_events[8];
    int ntimer_events;
    int timer_ticks;
    hs_session *live; /* the last session opened, while it is open */
    int aux_done;     /* for a test's own client threads */
} tsrv;

/* Starts a server on 127.0.0.1:<ephemeral> in a thread. lim may be NULL.
 * before_run, if not NULL, runs on the test thread before the server thread
 * starts (e.g. to add timers). */
tsrv *tsrv_start(const hs_server_limits *lim, void (*before_run)(tsrv *));
/* The same on host (a literal or a name; "unix:PATH": a Unix socket, port 0). */
tsrv *tsrv_start_on(const char *host, const hs_server_limits *lim, void (*before_run)(tsrv *));
/* hs_server_stop from this thread, join, free. Returns hs_server_run's value. */
int tsrv_stop(tsrv *t);
/* A repeating timer (add it in before_run) that records the queue of
 * t->live into max_queued / over_mark, for output the test cannot see being
 * queued (pongs). */
void tsrv_sample_queue(void *ud);
/* Waits until *counter >= n (read under t->mu). */
bool tsrv_wait(tsrv *t, const int *counter, int n, int timeout_ms);
int tsrv_get(tsrv *t, const int *counter);

/* ---- client side ---- */
int t_connect(int port);
/* A connected Unix socket, or -errno (EACCES, ECONNREFUSED, ENOENT, ...). */
int t_connect_unix(const char *path);
/* With small socket buffers (set before connect), so that a client that
 * stops reading makes the server queue up quickly. */
int t_connect_small(int port, int bufsize);
/* Sends all of buf (blocking, with poll). */
bool t_send(int fd, const void *buf, size_t n);
/* Reads exactly n bytes; false on EOF, error or time-out. */
bool t_recv_exact(int fd, void *buf, size_t n, int timeout_ms);
/* Reads until EOF: returns the length, or -1 on time-out/error. */
long t_recv_all(int fd, char *buf, size_t cap, int timeout_ms);
/* Connects, sends req, reads the whole answer up to EOF. */
long t_http(int port, const char *req, char *out, size_t cap);

/* Upgrades to /ws; returns the fd or -1 if the answer was not the exact 101. */
int t_ws_connect(int port);
/* The same on a connected fd (closed on failure). */
int t_ws_handshake(int fd);

typedef struct t_frame {
    bool fin;
    unsigned rsv, opcode;
    size_t len;
    uint8_t *data; /* malloc'd, NUL-terminated */
} t_frame;

/* Builds a client frame (masked unless mask is false). Returns its length;
 * out must hold n + 14 bytes. */
size_t t_frame_build(uint8_t *out, bool fin, unsigned rsv, unsigned opcode, const void *p, size_t n,
                     bool mask);
bool t_ws_send(int fd, bool fin, unsigned opcode, const void *p, size_t n);
bool t_ws_text(int fd, const char *s);
/* Reads one server frame. */
bool t_ws_recv(int fd, t_frame *f, int timeout_ms);
void t_frame_free(t_frame *f);
/* Reads frames until a close frame; returns its code (0 if it had none), or
 * -1 if the connection ended or timed out first. Then expects EOF. */
int t_ws_expect_close(int fd, char *reason, size_t cap);
/* Reads one text frame and compares it with s. */
bool t_ws_expect_text(int fd, const char *s);

#endif
