/*
 * cdp_codec.c — the primitive readers and writers under the generated codecs,
 * and the bookkeeping that lets decoding failures carry V8's texts and
 * positions (see cdp_codec.h for how positions are computed). Owns no state;
 * knows nothing of particular types or methods (that is cdp_gen.c) nor of
 * message framing (cdp_msg.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdp_codec.h"

void cdp_derr_set(cdp_derr *e, const char *what, size_t pos)
{
    e->what = what;
    e->pos = pos;
    e->depth = 0;
    e->dropped = 0;
}

void cdp_derr_field(cdp_derr *e, const char *name)
{
    if (e->depth < CDP_DERR_MAX_PATH)
        e->path[e->depth++] = name;
    else
        e->dropped++;
}

void cdp_derr_report(const cdp_derr *e, const char *root, cdp_error *err)
{
    char data[sizeof err->data];
    size_t n = 0;
    int w = snprintf(data, sizeof data, "Failed to deserialize %s", root);
    n = w > 0 ? (size_t)w : 0;
    if (e->dropped && n < sizeof data) {
        w = snprintf(data + n, sizeof data - n, ".(%u more)", e->dropped);
        n += w > 0 ? (size_t)w : 0;
    }
    for (unsigned i = e->depth; i-- > 0 && n < sizeof data;) {
        w = snprintf(data + n, sizeof data - n, ".%s", e->path[i]);
        n += w > 0 ? (size_t)w : 0;
    }
    if (e->what && n < sizeof data)
        snprintf(data + n, sizeof data - n, " - %s at position %zu", e->what, e->pos);
    cdp_error_set(err, CDP_ERR_INVALID_PARAMS, "Invalid parameters", data);
}

/* ---- sizes in crdtp's CBOR ------------------------------------------------ */

size_t cdp_cbor_head(uint64_t n)
{
    if (n < 24)
        return 1;
    if (n <= 0xff)
        return 2;
    if (n <= 0xffff)
        return 3;
    if (n <= 0xffffffffu)
        return 5;
    return 9;
}

bool cdp_is_string8(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

size_t cdp_cbor_string(const char *s, size_t len)
{
    if (cdp_is_string8(s, len))
        return cdp_cbor_head(len) + len;
    /* UTF-16 code units: one per character, two above U+FFFF (4-byte UTF-8). */
    uint64_t units = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xc0) == 0x80)
            continue;
        units += c >= 0xf0 ? 2 : 1;
    }
    return cdp_cbor_head(units * 2) + (size_t)(units * 2);
}

bool cdp_double_is_int32(double d)
{
    return d >= -2147483648.0 && d <= 2147483647.0 && d == (double)(int32_t)d;
}

static size_t cbor_int(int64_t n)
{
    return cdp_cbor_head(n >= 0 ? (uint64_t)n : (uint64_t)(-(n + 1)));
}

size_t cdp_cbor_value(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = CDP_CBOR_FIRST_MEMBER + 1;
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it)) {
            const char *key = json_object_iter_key(it);
            n += cdp_cbor_string(key, strlen(key)) + cdp_cbor_value(json_object_iter_value(it));
        }
        return n;
    }
    case JSON_ARRAY: {
        size_t n = CDP_CBOR_FIRST_MEMBER + 1;
        for (size_t i = 0; i < json_array_size(v); i++)
            n += cdp_cbor_value(json_array_get(v, i));
        return n;
    }
    case JSON_STRING:
        return cdp_cbor_string(json_string_value(v), json_string_length(v));
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        return i >= INT32_MIN && i <= INT32_MAX ? cbor_int(i) : 9;
    }
    case JSON_REAL: {
        double d = json_real_value(v);
        return cdp_double_is_int32(d) ? cbor_int((int64_t)d) : 9;
    }
    default: /* true, false, null */
        return 1;
    }
}

/* ---- readers ---------------------------------------------------------------- */

int cdp_dec_string(const json_t *v, size_t pos, char **out, cdp_derr *e, size_t *end)
{
    if (!json_is_string(v)) {
        cdp_derr_set(e, CDP_E_STRING, pos);
        return -1;
    }
    size_t len = json_string_length(v);
    char *s = malloc(len + 1);
    if (!s) {
        cdp_derr_set(e, CDP_E_NOMEM, pos);
        return -1;
    }
    memcpy(s, json_string_value(v), len + 1);
    *out = s;
    *end = pos + cdp_cbor_string(s, len);
    return 0;
}

int cdp_dec_number(const json_t *v, size_t pos, double *out, cdp_derr *e, size_t *end)
{
    if (!json_is_number(v)) {
        cdp_derr_set(e, CDP_E_DOUBLE, pos);
        return -1;
    }
    *out = json_number_value(v);
    *end = pos + cdp_cbor_value(v);
    return 0;
}

/* V8 takes only int32 here; we take any integral value that fits int64, so
 * that a client can read 64-bit sizes from heapscope. No command parameter of
 * the domain is an integer, so requests are judged exactly as V8 judges them. */
int cdp_dec_integer(const json_t *v, size_t pos, int64_t *out, cdp_derr *e, size_t *end)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) ||
            d != (double)(int64_t)d) {
            cdp_derr_set(e, CDP_E_INT32, pos);
            return -1;
        }
        *out = (int64_t)d;
    } else {
        cdp_derr_set(e, CDP_E_INT32, pos);
        return -1;
    }
    *end = pos + cdp_cbor_value(v);
    return 0;
}

int cdp_dec_bool(const json_t *v, size_t pos, bool *out, cdp_derr *e, size_t *end)
{
    if (!json_is_boolean(v)) {
        cdp_derr_set(e, CDP_E_BOOL, pos);
        return -1;
    }
    *out = json_is_true(v);
    *end = pos + 1;
    return 0;
}

int cdp_dec_any(const json_t *v, size_t pos, json_t **out, cdp_derr *e, size_t *end)
{
    (void)e;
    *out = json_incref((json_t *)v);
    *end = pos + cdp_cbor_value(v);
    return 0;
}

int cdp_dec_dict(const json_t *v, size_t pos, json_t **out, cdp_derr *e, size_t *end)
{
    if (!json_is_object(v)) {
        cdp_derr_set(e, CDP_E_DICT, pos);
        return -1;
    }
    return cdp_dec_any(v, pos, out, e, end);
}

int cdp_dec_object_begin(const json_t *v, size_t pos, cdp_derr *e, size_t *at)
{
    if (!json_is_object(v)) {
        /* V8 steps into an array's envelope before it looks for the map start. */
        cdp_derr_set(e, CDP_E_MAP_START, json_is_array(v) ? pos + CDP_CBOR_ENVELOPE : pos);
        return -1;
    }
    *at = pos + CDP_CBOR_FIRST_MEMBER;
    return 0;
}

int cdp_dec_array_begin(const json_t *v, size_t pos, cdp_derr *e, size_t *at)
{
    if (!json_is_array(v)) {
        cdp_derr_set(e, CDP_E_ARRAY_START, json_is_object(v) ? pos + CDP_CBOR_ENVELOPE : pos);
        return -1;
    }
    *at = pos + CDP_CBOR_FIRST_MEMBER;
    return 0;
}

/* ---- writers ---------------------------------------------------------------- */

json_t *cdp_enc_number(double d)
{
    /* ±2^53: every integer up to there is exact in a double. */
    if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == (double)(int64_t)d)
        return json_integer((json_int_t)d);
    if (d - d != 0) /* NaN or infinite: JSON has no spelling for them */
        return json_null();
    return json_real(d);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

json_t *cdp_enc_string(const char *s)
{
    if (!s)
        return json_string("");
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    size_t bad = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (k == 0) {
            bad++;
            k = 1;
        }
        i += k;
    }
    if (bad == 0)
        return json_stringn(s, n);
    /* Native names (paths, symbols) need not be UTF-8: keep what we can. */
    char *fixed = malloc(n + bad * 2 + 1);
    if (!fixed)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (k == 0) {
            memcpy(fixed + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(fixed + o, s + i, k);
            o += k;
            i += k;
        }
    }
    json_t *j = json_stringn(fixed, o);
    free(fixed);
    return j;
}

/* Does v hold a real that V8 would write as an integer (a request's numbers
 * are all reals, see cdp_msg.h)? */
static bool has_integral_real(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_REAL: {
        json_t *n = cdp_enc_number(json_real_value(v));
        bool integral = json_is_integer(n);
        json_decref(n);
        return integral;
    }
    case JSON_OBJECT:
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it))
            if (has_integral_real(json_object_iter_value(it)))
                return true;
        return false;
    case JSON_ARRAY:
        for (size_t i = 0; i < json_array_size(v); i++)
            if (has_integral_real(json_array_get(v, i)))
                return true;
        return false;
    default:
        return false;
    }
}

/* A copy of v with its numbers written as V8 writes them. */
static json_t *normalized(const json_t *v)
{
    json_t *out;
    switch (json_typeof(v)) {
    case JSON_REAL:
        return cdp_enc_number(json_real_value(v));
    case JSON_OBJECT:
        out = json_object();
        for (void *it = json_object_iter((json_t *)v); out && it;
             it = json_object_iter_next((json_t *)v, it)) {
            if (json_object_set_new(out, json_object_iter_key(it),
                                    normalized(json_object_iter_value(it))) != 0) {
                json_decref(out);
                out = NULL;
            }
        }
        return out;
    case JSON_ARRAY:
        out = json_array();
        for (size_t i = 0; out && i < json_array_size(v); i++) {
            if (json_array_append_new(out, normalized(json_array_get(v, i))) != 0) {
                json_decref(out);
                out = NULL;
            }
        }
        return out;
    default:
        return json_incref((json_t *)v);
    }
}

json_t *cdp_enc_any(const json_t *v)
{
    if (!v)
        return json_null();
    return has_integral_real(v) ? normalized(v) : json_incref((json_t *)v);
}
