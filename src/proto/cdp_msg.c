/*
 * cdp_msg.c — JSON-RPC framing: reading a request as V8's dispatcher reads it
 * (crdtp's Dispatchable, with node's "Message must be a valid JSON" in front),
 * writing results, errors, events and requests, and reading what a target
 * sends back. Owns no state and does no I/O; the parameters of a command are
 * the generated decoders' business (cdp_gen.c).
 *
 * How V8 reads a request, and so how we do: the text must be a JSON object
 * (else -32700 "Message must be a valid JSON", without id). Its members are
 * then taken in order; the first one that is wrong ends the reading with a
 * -32600, which carries the id only if a valid "id" came earlier:
 *   id         a number holding an int32 (1.0 counts, 2^31 does not)
 *   method     a string of 7-bit characters
 *   params     an object, an array (the command's decoder rejects it with
 *              -32602) or null (= absent)
 *   sessionId  a string of 7-bit characters
 *   anything else: "Message has property other than …"
 * After the members: no id → "Message must have integer 'id' property" (no
 * id), no or an empty method → "Message must have string 'method' property".
 *
 * Duplicate keys: V8 transcodes JSON to CBOR keeping every member. A
 * repeated top-level key ends the reading at its second occurrence with
 * -32700 "CBOR: duplicate map key at position N" (with the id if one came
 * before); a repeated parameter is simply read twice and the last value
 * stays. We do the same: jansson is asked to refuse repetitions (free on the
 * normal path); when it does, the top level is re-read from the text in
 * order (read_repeated_members), and a repetition deeper down keeps the last
 * value, as jansson does without the check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdp_codec.h"
#include "cdp_msg.h"

static const char k_invalid_json[] = "Message must be a valid JSON";
static const char k_id_error[] = "Message must have integer 'id' property";
static const char k_method_error[] = "Message must have string 'method' property";
static const char k_params_error[] = "Message may have object 'params' property";
static const char k_session_error[] = "Message may have string 'sessionId' property";
static const char k_unknown_error[] =
    "Message has property other than 'id', 'method', 'sessionId', 'params'";

/* Copies src into dst[cap], cut before a character that does not fit whole. */
static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void cdp_error_set(cdp_error *e, int code, const char *message, const char *data_or_null)
{
    if (!e)
        return;
    e->code = code;
    copy_text(e->message, sizeof e->message, message ? message : "");
    e->has_data = data_or_null != NULL;
    copy_text(e->data, sizeof e->data, data_or_null ? data_or_null : "");
}

void cdp_error_method_not_found(cdp_error *e, const char *method)
{
    static const char tail[] = "' wasn't found";
    char name[sizeof e->message - sizeof tail - 1];
    char text[sizeof e->message];
    copy_text(name, sizeof name, method ? method : "");
    snprintf(text, sizeof text, "'%s%s", name, tail);
    cdp_error_set(e, CDP_ERR_METHOD_NOT_FOUND, text, NULL);
}

/* ---- requests (agent side) ---------------------------------------------------- */

/* The reading of a request's members, one at a time in message order. */
typedef struct reader {
    bool has_id, params_seen;
    int64_t id;
    const char *method;
    const char *session_id;
    const json_t *params;
    const char *fail; /* first error, NULL so far */
    int fail_code;
    size_t at;      /* where V8's CBOR form of the message has the current key */
    char where[80]; /* text of a CBOR-level error */
} reader;

static void cbor_error(reader *r, const char *what)
{
    snprintf(r->where, sizeof r->where, "CBOR: %s at position %zu", what, r->at);
    r->fail = r->where;
    r->fail_code = CDP_ERR_PARSE;
}

/* One member; false once the reading has failed. */
static bool read_member(reader *r, const char *key, const json_t *v)
{
    size_t klen = strlen(key);
    if (!cdp_is_string8(key, klen)) {
        cbor_error(r, "invalid map key"); /* V8 wants 7-bit top-level keys */
        return false;
    }
    if (strcmp(key, "id") == 0) {
        if (r->has_id)
            cbor_error(r, "duplicate map key");
        else if (!json_is_number(v) || !cdp_double_is_int32(json_number_value(v)))
            r->fail = k_id_error;
        else {
            r->has_id = true;
            r->id = (int64_t)json_number_value(v);
        }
    } else if (strcmp(key, "method") == 0) {
        if (r->method && *r->method)
            cbor_error(r, "duplicate map key");
        else if (!json_is_string(v) || !cdp_is_string8(json_string_value(v), json_string_length(v)))
            r->fail = k_method_error;
        else
            r->method = json_string_value(v);
    } else if (strcmp(key, "params") == 0) {
        if (r->params_seen)
            cbor_error(r, "duplicate map key");
        else if (json_is_object(v) || json_is_array(v))
            r->params = v;
        else if (!json_is_null(v))
            r->fail = k_params_error;
        r->params_seen = true;
    } else if (strcmp(key, "sessionId") == 0) {
        if (r->session_id && *r->session_id)
            cbor_error(r, "duplicate map key");
        else if (!json_is_string(v) || !cdp_is_string8(json_string_value(v), json_string_length(v)))
            r->fail = k_session_error;
        else
            r->session_id = json_string_value(v);
    } else {
        r->fail = k_unknown_error;
    }
    r->at += cdp_cbor_string(key, klen) + cdp_cbor_value(v);
    return r->fail == NULL;
}

/* The end of a JSON value that starts at s[i] (the text is known to be valid JSON). */
static size_t value_end(const char *s, size_t n, size_t i)
{
    int depth = 0;
    bool in_string = false;
    for (; i < n; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"') {
                in_string = false;
                if (depth == 0)
                    return i + 1;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return i; /* the end of an enclosing scalar */
            if (--depth == 0)
                return i + 1;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
            return i;
        }
    }
    return n;
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* jansson folds repeated keys; V8 sees each occurrence. When jansson saw a
 * repeated key somewhere, read the top-level members from the text itself
 * (already known to be valid JSON) as V8 does: a repeated top-level key then
 * ends the reading with V8's CBOR error (read_member sees the second
 * occurrence). Returns false with r->fail set when the reading fails there
 * or before, true when the top level is fine and the repetition is nested
 * (where V8 too reads every occurrence and keeps the last). */
static bool read_repeated_members(reader *r, const char *s, size_t n)
{
    json_t *held = json_array();     /* the values r may point into, until the end */
    size_t i = skip_ws(s, n, 0) + 1; /* past '{' */
    while (held && !r->fail) {
        i = skip_ws(s, n, i);
        if (i >= n || s[i] == '}')
            break;
        size_t kend = value_end(s, n, i);
        json_t *key = json_loadb(s + i, kend - i, JSON_DECODE_ANY, NULL);
        i = skip_ws(s, n, kend) + 1; /* past ':' */
        i = skip_ws(s, n, i);
        size_t vend = value_end(s, n, i);
        json_t *val = json_loadb(s + i, vend - i,
                                 JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, NULL);
        if (!json_is_string(key) || json_array_append_new(held, val) != 0) {
            json_decref(key);
            break; /* out of memory (the text is valid JSON): fall back to jansson's reading */
        }
        read_member(r, json_string_value(key), val);
        json_decref(key);
        i = skip_ws(s, n, vend);
        if (i < n && s[i] == ',')
            i++;
    }
    json_decref(held);
    if (r->fail) /* V8's answer: a repetition, or an error before it (no pointers kept) */
        return false;
    *r = (reader){.at = CDP_CBOR_FIRST_MEMBER}; /* nested repetition: read jansson's tree */
    return true;
}

int cdp_request_parse(const char *text, size_t len, cdp_request *req, cdp_error *err,
                      bool *reply_id_known, int64_t *reply_id)
{
    reader r = {.at = CDP_CBOR_FIRST_MEMBER};
    json_error_t jerr;
    json_t *root = NULL;

    memset(req, 0, sizeof *req);
    if (reply_id_known)
        *reply_id_known = false;
    if (reply_id)
        *reply_id = 0;
    /* Numbers as doubles: V8 reads every JSON number so (an id of 1.0 is 1). Strings
     * may hold U+0000, as V8's reader allows (a request with one still gets its reply). */
    if (text) {
        root = json_loadb(text, len,
                          JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &jerr);
        if (!root && json_error_code(&jerr) == json_error_duplicate_key) {
            root = json_loadb(text, len, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &jerr);
            if (json_is_object(root) && !read_repeated_members(&r, text, len))
                goto failed;
        }
    }
    if (!root || !json_is_object(root)) {
        json_decref(root);
        cdp_error_set(err, CDP_ERR_PARSE, k_invalid_json, NULL);
        return -1;
    }
    for (void *it = json_object_iter(root); it; it = json_object_iter_next(root, it))
        if (!read_member(&r, json_object_iter_key(it), json_object_iter_value(it)))
            goto failed;
    if (!r.has_id)
        r.fail = k_id_error;
    else if (!r.method || !*r.method)
        r.fail = k_method_error;
    if (r.fail)
        goto failed;
    req->root = root;
    req->id = r.id;
    req->method = r.method;
    req->params = r.params;
    req->session_id = r.session_id;
    if (reply_id_known)
        *reply_id_known = true;
    if (reply_id)
        *reply_id = r.id;
    return 0;

failed:
    cdp_error_set(err, r.fail_code ? r.fail_code : CDP_ERR_INVALID_REQUEST, r.fail, NULL);
    if (reply_id_known)
        *reply_id_known = r.has_id;
    if (reply_id)
        *reply_id = r.has_id ? r.id : 0;
    json_decref(root);
    return -1;
}

void cdp_request_release(cdp_request *req)
{
    if (!req)
        return;
    json_decref(req->root);
    memset(req, 0, sizeof *req);
}

/* ---- serialising ---------------------------------------------------------------- */

/* Dumps and frees o; NULL when o is NULL or out of memory. */
static char *dump(json_t *o, size_t *len)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    if (len)
        *len = s ? strlen(s) : 0;
    return s;
}

/* Adds member key = value (stolen) to o; on failure frees o and returns NULL. */
static json_t *with(json_t *o, const char *key, json_t *value)
{
    if (!o) {
        json_decref(value);
        return NULL;
    }
    if (json_object_set_new(o, key, value) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *with_session(json_t *o, const char *session_id)
{
    return session_id ? with(o, "sessionId", cdp_enc_string(session_id)) : o;
}

static json_t *or_empty(json_t *v)
{
    return v ? v : json_object();
}

char *cdp_format_result(int64_t id, json_t *result, const char *session_id, size_t *len)
{
    json_t *o = with(json_object(), "id", json_integer(id));
    o = with(o, "result", or_empty(result));
    return dump(with_session(o, session_id), len);
}

char *cdp_format_error(bool has_id, int64_t id, const cdp_error *err, const char *session_id,
                       size_t *len)
{
    json_t *e = with(json_object(), "code", json_integer(err->code));
    e = with(e, "message", cdp_enc_string(err->message));
    if (err->has_data)
        e = with(e, "data", cdp_enc_string(err->data));
    json_t *o = json_object();
    if (has_id)
        o = with(o, "id", json_integer(id));
    o = with(o, "error", e);
    return dump(with_session(o, session_id), len);
}

char *cdp_format_event(const char *method, json_t *params, const char *session_id, size_t *len)
{
    json_t *o = with(json_object(), "method", cdp_enc_string(method));
    o = with(o, "params", or_empty(params));
    return dump(with_session(o, session_id), len);
}

char *cdp_format_string_event(const char *method, const char *param, const char *text, size_t n,
                              size_t *len)
{
    size_t ml = strlen(method), pl = strlen(param), extra = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f')
            extra += 1;
        else if (c < 0x20)
            extra += 5;
    }
    /* {"method":"M","params":{"P":"T"}} */
    size_t cap = 11 + ml + 13 + pl + 3 + n + extra + 3 + 1;
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    memcpy(o, "{\"method\":\"", 11);
    o += 11;
    memcpy(o, method, ml);
    o += ml;
    memcpy(o, "\",\"params\":{\"", 13);
    o += 13;
    memcpy(o, param, pl);
    o += pl;
    memcpy(o, "\":\"", 3);
    o += 3;
    static const char hex[] = "0123456789ABCDEF"; /* as jansson writes them */
    for (size_t i = 0; i < n;) {
        size_t run = i;
        while (run < n && (unsigned char)text[run] >= 0x20 && text[run] != '"' && text[run] != '\\')
            run++;
        memcpy(o, text + i, run - i);
        o += run - i;
        if (run == n)
            break;
        unsigned char c = (unsigned char)text[run];
        *o++ = '\\';
        switch (c) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
        i = run + 1;
    }
    memcpy(o, "\"}}", 3);
    o += 3;
    *o = '\0';
    if (len)
        *len = (size_t)(o - out);
    return out;
}

char *cdp_format_request(int64_t id, const char *method, json_t *params, const char *session_id,
                         size_t *len)
{
    json_t *o = with(json_object(), "id", json_integer(id));
    o = with(o, "method", cdp_enc_string(method));
    o = with(o, "params", or_empty(params));
    return dump(with_session(o, session_id), len);
}

/* ---- what a target sends (client side) ----------------------------------------- */

static bool get_int64(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == (double)(int64_t)d) {
            *out = (int64_t)d;
            return true;
        }
    }
    return false;
}

/* {"code":int,"message":string,"data"?:any} into *e; false if malformed. */
static bool read_error(const json_t *v, cdp_error *e)
{
    int64_t code;
    const json_t *msg = json_object_get(v, "message");
    const json_t *data = json_object_get(v, "data");
    if (!json_is_object(v) || !get_int64(json_object_get(v, "code"), &code) || code < INT32_MIN ||
        code > INT32_MAX || !json_is_string(msg))
        return false;
    if (!data || json_is_null(data)) {
        cdp_error_set(e, (int)code, json_string_value(msg), NULL);
    } else if (json_is_string(data)) {
        cdp_error_set(e, (int)code, json_string_value(msg), json_string_value(data));
    } else {
        /* V8 sends a string; keep anything else readable. */
        char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
        cdp_error_set(e, (int)code, json_string_value(msg), text ? text : "");
        free(text);
    }
    return true;
}

static int bad_incoming(cdp_incoming *in, json_t *root, cdp_error *err, const char *why)
{
    json_decref(root);
    memset(in, 0, sizeof *in);
    cdp_error_set(err, CDP_ERR_INVALID_REQUEST, "Invalid message from target", why);
    return -1;
}

int cdp_incoming_parse(const char *text, size_t len, cdp_incoming *in, cdp_error *err)
{
    json_error_t jerr;
    memset(in, 0, sizeof *in);
    json_t *root = text ? json_loadb(text, len, 0, &jerr) : NULL;
    if (!root) {
        cdp_error_set(err, CDP_ERR_PARSE, k_invalid_json, text ? jerr.text : "no text");
        return -1;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        cdp_error_set(err, CDP_ERR_PARSE, k_invalid_json, "not a JSON object");
        return -1;
    }
    const json_t *id = json_object_get(root, "id");
    const json_t *method = json_object_get(root, "method");
    const json_t *error = json_object_get(root, "error");
    const json_t *session = json_object_get(root, "sessionId");
    if (session && !json_is_string(session))
        return bad_incoming(in, root, err, "'sessionId' is not a string");
    if (id) {
        if (!get_int64(id, &in->id))
            return bad_incoming(in, root, err, "'id' is not an integer");
        in->is_response = true;
        if (error) {
            if (!read_error(error, &in->error))
                return bad_incoming(in, root, err, "malformed 'error'");
            in->is_error = true;
        } else {
            const json_t *result = json_object_get(root, "result");
            if (!json_is_object(result))
                return bad_incoming(in, root, err, "response without object 'result' or 'error'");
            in->result = result;
        }
    } else if (method) {
        const json_t *params = json_object_get(root, "params");
        if (!json_is_string(method))
            return bad_incoming(in, root, err, "'method' is not a string");
        if (params && !json_is_null(params) && !json_is_object(params))
            return bad_incoming(in, root, err, "event 'params' is not an object");
        in->method = json_string_value(method);
        in->params = json_is_object(params) ? params : NULL;
    } else if (error) {
        /* V8's answer to a request it could not read: an error without id. */
        if (!read_error(error, &in->error))
            return bad_incoming(in, root, err, "malformed 'error'");
        in->is_error = true;
    } else {
        return bad_incoming(in, root, err, "neither a response nor an event");
    }
    in->session_id = session ? json_string_value(session) : NULL;
    in->root = root;
    return 0;
}

void cdp_incoming_release(cdp_incoming *in)
{
    if (!in)
        return;
    json_decref(in->root);
    memset(in, 0, sizeof *in);
}
