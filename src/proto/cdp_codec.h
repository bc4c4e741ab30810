/*
 * cdp_codec.h — helpers behind the generated codecs (cdp_gen.c) and the
 * framing (cdp_msg.c). Internal to hs_proto: other parts use cdp_gen.h and
 * cdp_msg.h only.
 *
 * Positions. V8 reports where deserialisation failed as an offset into the
 * CBOR form of the message that its JSON-to-CBOR transcoder
 * (inspector_protocol's crdtp) produced from our text. We cannot see that
 * buffer, but its layout is fixed, so we compute the same offsets from the
 * parsed JSON:
 *   - an object or array is an envelope (7 bytes: tag 0xd8 0x18, byte string
 *     head 0x5a + 4 length bytes), a start byte, its members, a stop byte;
 *   - a string is a head (1, 2, 3, 5 or 9 bytes by length) and its bytes when
 *     every character is below U+007F, else a byte string of UTF-16 units;
 *   - a number that is integral and fits int32 is a CBOR integer (head only),
 *     any other number a 9-byte double; true, false and null are 1 byte.
 * Offsets of params errors count from the start of the params envelope, as
 * V8's do: "params":{} missing a field reports 8, a bad first value 8 + the
 * key's size. With duplicate keys (which jansson folds) or exotic escapes the
 * number may differ from V8's; clients compare texts only up to " at position".
 */
#ifndef HS_CDP_CODEC_H
#define HS_CDP_CODEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cdp_msg.h"

/* V8's texts (crdtp status.cc), without the " at position N" tail. */
#define CDP_E_MAP_START "CBOR: map start expected"
#define CDP_E_ARRAY_START "CBOR: array start expected"
#define CDP_E_MISSING "BINDINGS: mandatory field missing"
#define CDP_E_BOOL "BINDINGS: bool value expected"
#define CDP_E_INT32 "BINDINGS: int32 value expected"
#define CDP_E_DOUBLE "BINDINGS: double value expected"
#define CDP_E_STRING "BINDINGS: string value expected"
#define CDP_E_DICT "BINDINGS: dictionary value expected"
#define CDP_E_NOMEM "out of memory"

/* CBOR envelope header and the offset of an object's first key from the
 * envelope's start. */
#define CDP_CBOR_ENVELOPE 7u
#define CDP_CBOR_FIRST_MEMBER 8u

#define CDP_DERR_MAX_PATH 16

/* A decoding failure under construction: the innermost decoder sets what and
 * pos, each enclosing one adds its field name while unwinding (as V8's
 * DeserializerState does), cdp_derr_report turns it into a cdp_error. */
typedef struct cdp_derr {
    const char *what;
    size_t pos;
    unsigned depth;   /* entries in path, innermost first */
    unsigned dropped; /* outer names that did not fit */
    const char *path[CDP_DERR_MAX_PATH];
} cdp_derr;

void cdp_derr_set(cdp_derr *e, const char *what, size_t pos);
void cdp_derr_field(cdp_derr *e, const char *name);
/* -32602 "Invalid parameters", data "Failed to deserialize <root>.<path> - <what> at position
 * <pos>". */
void cdp_derr_report(const cdp_derr *e, const char *root, cdp_error *err);

/* Sizes in crdtp's CBOR (see above). */
size_t cdp_cbor_head(uint64_t n);
size_t cdp_cbor_string(const char *s, size_t len);
size_t cdp_cbor_value(const json_t *v);

/* Does the double hold an int32 exactly (as crdtp's transcoder checks)? */
bool cdp_double_is_int32(double d);
/* Is every byte a 7-bit character below DEL (crdtp's STRING8)? */
bool cdp_is_string8(const char *s, size_t len);

/* Typed readers: 0 with *out set and *end = position after the value, or -1
 * with e set. pos is where the value starts. */
int cdp_dec_string(const json_t *v, size_t pos, char **out, cdp_derr *e, size_t *end);
int cdp_dec_number(const json_t *v, size_t pos, double *out, cdp_derr *e, size_t *end);
int cdp_dec_integer(const json_t *v, size_t pos, int64_t *out, cdp_derr *e, size_t *end);
int cdp_dec_bool(const json_t *v, size_t pos, bool *out, cdp_derr *e, size_t *end);
int cdp_dec_any(const json_t *v, size_t pos, json_t **out, cdp_derr *e, size_t *end);
int cdp_dec_dict(const json_t *v, size_t pos, json_t **out, cdp_derr *e, size_t *end);
/* Container starts: 0 with *at = position of the first member, or -1. */
int cdp_dec_object_begin(const json_t *v, size_t pos, cdp_derr *e, size_t *at);
int cdp_dec_array_begin(const json_t *v, size_t pos, cdp_derr *e, size_t *at);

/* Writers, new references (NULL only when out of memory). */
json_t *cdp_enc_number(double d);      /* integral within ±2^53: integer, as V8 writes it */
json_t *cdp_enc_string(const char *s); /* NULL s = ""; invalid UTF-8 bytes become U+FFFD */
json_t *cdp_enc_any(const json_t *v);  /* NULL = null; integral reals become integers */

#endif /* HS_CDP_CODEC_H */
