/*
 * hs_limits.h — every bound heapscope puts on what a peer can make it hold,
 * in one place, each with its reason (STYLE.md §5). The server side (src/net,
 * used by the agent inside arbitrary programs) and the client side
 * (libheapscope-client) both take their defaults from here; hs_server_limits
 * lets a caller (and the tests) choose others at run time.
 *
 * Sizes are bytes, times milliseconds. Plain macros so that they can size
 * arrays and appear in static assertions.
 */
#ifndef HEAPSCOPE_HS_LIMITS_H
#define HEAPSCOPE_HS_LIMITS_H

/* ---- server: HTTP phase ------------------------------------------------------ */

/* Request line plus headers of one HTTP request. A DevTools front end or
 * chrome-remote-interface sends well under 1 KiB; 8 KiB is what common servers
 * allow and keeps 64 idle connections under 1 MiB. Over it: 400 and close. */
#define HS_LIMIT_HEADER_BYTES (8u * 1024u)

/* Header lines in one request. Browsers send about 15; bounding the count
 * bounds the work spent on each request. Over it: 400 and close. */
#define HS_LIMIT_HEADERS 64u

/* From accept() until the request has been answered (or upgraded). A client
 * that trickles a request byte by byte (slowloris) or never reads the answer
 * would otherwise hold one of the few connection slots for ever. */
#define HS_LIMIT_HANDSHAKE_MS 10000u

/* After an answer or a close frame has been written the write side is shut
 * and input is discarded until the peer closes, so that a reset caused by
 * unread input cannot destroy the answer in flight. Bounded because the peer
 * may never close. */
#define HS_LIMIT_LINGER_MS 2000u

/* A close frame we queued must reach the peer within this time; a peer that
 * stops reading would otherwise keep its (possibly 64 MiB) queue alive. */
#define HS_LIMIT_CLOSE_MS 5000u

/* Connections of any kind at once (HTTP discovery and WebSocket sessions).
 * A debugging endpoint has one or two clients, but dashboards and CI
 * fleets poll; 128 holds the 100 concurrent clients of tests/load with room
 * for their discovery requests. Each connection costs a header buffer and,
 * as a session, up to HS_LIMIT_OUT_QUEUE of output (in practice far less:
 * answers stop being read for above HS_LIMIT_READ_PAUSE). At the limit no
 * more are accepted: they wait in the kernel's listen backlog (128) until a
 * slot frees, as a burst of clients whose discovery connections still
 * linger must not be turned away. The backlog bounds what waits (past it, TCP
 * drops the SYN and the client retries until its own time-out; a Unix
 * socket's connect fails with EAGAIN). The handshake time limit bounds how
 * long a connection that never finishes its request holds a slot; an idle
 * WebSocket session holds one until it closes, so 128 idle sessions make
 * the next client wait (docs/SECURITY.md). */
#define HS_LIMIT_CONNECTIONS 128u

/* ---- server: WebSocket sessions ---------------------------------------------- */

/* One incoming WebSocket message, after reassembly of its fragments. CDP
 * commands are small JSON objects (the largest HeapProfiler command is far
 * below 1 KiB); 1 MiB leaves room for tools that send big expressions.
 * Over it: close 1009 (RFC 6455 §7.4.1 "message too big"). */
#define HS_LIMIT_WS_MESSAGE (1024u * 1024u)

/* RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes
 * or less and MUST NOT be fragmented." Enforced by wslay and by ws_guard.c. */
#define HS_LIMIT_WS_CONTROL 125u

/* Frames in one fragmented message. wslay keeps one allocation per frame
 * until the message is complete, so 1 MiB sent as 1-byte fragments would cost
 * tens of MiB; 4096 lets a client fragment a full-size message into 256-byte
 * pieces. Over it: close 1009, as for a message too big to process. */
#define HS_LIMIT_WS_FRAGMENTS 4096u

/* Output queued on one session and not yet taken by the socket. A heap
 * snapshot is streamed in chunks by a producer that waits (hs_server_drain)
 * for the queue to go down, so only output the server pushes on its own can
 * grow it; a client that stops reading for good is closed with 1008 (policy
 * violation) once its queue passes this, instead of growing the program's
 * memory without end. */
#define HS_LIMIT_OUT_QUEUE (64u * 1024u * 1024u)

/* Backpressure: while a session's queued output is above this, its input is
 * not read, so a client that sends commands but does not read the answers
 * cannot make the answers pile up; reading resumes when the queue drains. */
#define HS_LIMIT_READ_PAUSE (1024u * 1024u)

/* Complete incoming messages read but not yet handed to session_message (they
 * pile up while hs_server_drain runs). Reading stops above this, so input
 * held in memory is at most this plus one message. */
#define HS_LIMIT_PENDING_IN (2u * 1024u * 1024u)

/* Bytes read from one connection per turn of the loop, so that one fast
 * sender cannot starve the others or the timers. */
#define HS_LIMIT_READ_TURN (256u * 1024u)

/* ---- client side (libheapscope-client) ---------------------------------------- */

/* One incoming message on the client. A heap snapshot arrives in chunks of
 * about 100 KiB, but getSamplingProfile and a whole /json/protocol answer
 * come in one message; 256 MiB covers a sampling profile of a large program
 * while still stopping a broken or hostile target from exhausting memory. */
#define HS_LIMIT_CLIENT_MESSAGE (256u * 1024u * 1024u)

/* One HTTP response to a discovery request (/json/list, /json/protocol),
 * headers and body. /json/protocol of a full browser is about 1 MiB. */
#define HS_LIMIT_CLIENT_HTTP_RESPONSE (8u * 1024u * 1024u)

/* TCP connect plus HTTP upgrade to a target on the same machine or network. */
#define HS_LIMIT_CLIENT_CONNECT_MS 5000u

/* Default time a client call waits for its answer; takeHeapSnapshot of a
 * large program streams for longer and is given its own time by the caller. */
#define HS_LIMIT_CLIENT_CALL_MS 30000u

#endif
