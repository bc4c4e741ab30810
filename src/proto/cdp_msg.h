/*
 * cdp_msg.h — JSON-RPC framing of the Chrome DevTools Protocol as V8 speaks it.
 *
 * Parses one incoming text message (a request on the agent side, a response
 * or event on the client side) and serialises outgoing ones. Does no I/O.
 * Error texts and codes are V8's (see docs/design/endpoint-contracts.md and
 * golden/v8-node20/error-cases* in the shared reference material), so a
 * client cannot tell heapscope's answers to malformed input from node's.
 *
 * Ownership: every json_t handed in as "stolen" belongs to the callee from
 * then on, even when the call fails; every char * returned is malloc'd and
 * belongs to the caller.
 */
#ifndef HS_CDP_MSG_H
#define HS_CDP_MSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* JSON-RPC error codes V8 uses. */
enum {
    CDP_ERR_PARSE = -32700,
    CDP_ERR_INVALID_REQUEST = -32600,
    CDP_ERR_METHOD_NOT_FOUND = -32601,
    CDP_ERR_INVALID_PARAMS = -32602,
    CDP_ERR_INTERNAL = -32603,
    CDP_ERR_SERVER = -32000,
};

/* One error as it travels in {"error":{"code","message","data"?}}. Texts that do
 * not fit are cut (at a UTF-8 character boundary) and stay NUL-terminated. */
typedef struct cdp_error {
    int code;
    char message[160];
    char data[256];
    bool has_data;
} cdp_error;
void cdp_error_set(cdp_error *e, int code, const char *message, const char *data_or_null);

typedef struct cdp_request {
    json_t *root;           /* owns everything below */
    int64_t id;             /* V8 accepts any integer in int32 range, even 0 and negative */
    const char *method;     /* non-empty, 7-bit ASCII */
    const json_t *params;   /* NULL when absent or null: means {} */
    const char *session_id; /* NULL when absent */
} cdp_request;

/* 0: *req filled. -1: *err filled; *reply_id_known and *reply_id say whether the
 * error reply carries an id (V8 texts: -32700 "Message must be a valid JSON",
 * -32600 "Message must have integer 'id' property", "Message must have string
 * 'method' property", "Message may have object 'params' property", "Message has
 * property other than 'id', 'method', 'sessionId', 'params'").
 *
 * Like V8, the properties are checked in the order they appear, and an error
 * carries the id only if a valid "id" came before the offending property.
 * Numbers are read as V8 reads them, as doubles: every number in
 * req->params is a JSON real (use the generated decoders, which accept both).
 * Duplicate keys as V8: a repeated top-level key is -32700 "CBOR: duplicate
 * map key at position N"; a repeated parameter keeps its last value.
 * reply_id_known and reply_id may be NULL. */
int cdp_request_parse(const char *text, size_t len, cdp_request *req, cdp_error *err,
                      bool *reply_id_known, int64_t *reply_id);
/* Frees req->root and zeroes *req; safe on a zeroed or already released request. */
void cdp_request_release(cdp_request *req);

/* Serialised messages, malloc'd, compact, 7-bit ASCII (non-ASCII escaped as
 * \uXXXX); *len set (len may be NULL). result/params are stolen (NULL = {}).
 * session_id NULL = no "sessionId" member. NULL only when out of memory. */
char *cdp_format_result(int64_t id, json_t *result, const char *session_id, size_t *len);
char *cdp_format_error(bool has_id, int64_t id, const cdp_error *err, const char *session_id,
                       size_t *len);
char *cdp_format_event(const char *method, json_t *params, const char *session_id, size_t *len);
/* The same for an event whose params are one string, {"<param>":"<text>"},
 * without building a JSON value: for megabytes of snapshot chunks. text is
 * n bytes of valid UTF-8 (not checked); quotes, backslashes and control
 * characters are escaped as jansson escapes them, other bytes are copied (a
 * snapshot's text is ASCII). len may be NULL. NULL when out of memory. */
char *cdp_format_string_event(const char *method, const char *param, const char *text, size_t n,
                              size_t *len);
char *cdp_format_request(int64_t id, const char *method, json_t *params, const char *session_id,
                         size_t *len);

/* Client side: a message from a target. */
typedef struct cdp_incoming {
    json_t *root;
    bool is_response; /* has "id" (V8 never sends id 0, but accept it) */
    int64_t id;
    const json_t *result; /* response without error */
    bool is_error;
    cdp_error error;
    const char *method;     /* event */
    const json_t *params;   /* event, may be NULL */
    const char *session_id; /* NULL when absent (addition to the contract) */
} cdp_incoming;
/* 0: *in filled: a response (is_response; is_error with error, else result),
 * an event (method, params), or V8's answer to a request it could not read:
 * an error without id (is_error, is_response false). -1: the text is not a
 * CDP message; *err says why (-32700 "Message must be a valid JSON" for text
 * that is not a JSON object, -32600 "Invalid message from target" with the
 * reason in data) and *in is zeroed. Never crashes on any input. */
int cdp_incoming_parse(const char *text, size_t len, cdp_incoming *in, cdp_error *err);
void cdp_incoming_release(cdp_incoming *in);

/* -32601 "'<method>' wasn't found" (a very long name is shortened to fit). */
void cdp_error_method_not_found(cdp_error *e, const char *method);

#endif /* HS_CDP_MSG_H */
