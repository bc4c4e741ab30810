/*
 * test_snapshot_writer.c — the snapshot child's output (src/agent/snapshot/
 * writer.c, compiled into this test): the buffered JSON writer (numbers,
 * string escapes, UTF-8 to \uXXXX, invalid UTF-8 to '?', output beyond its
 * 1 MiB buffer, write errors), the string table and the mmap-backed vector.
 * The output is read back from a memfd (or a pipe) and checked byte for byte;
 * strings are also decoded here as JSON and compared with a reference UTF-8
 * decoder written from the Unicode standard's table of well-formed sequences.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "heapscope/hs_err.h"
#include "snapshot_int.h"

#define JW_BUF (1u << 20) /* writer.c's buffer */

/* ---- output to a memfd, read back --------------------------------------- */

struct out {
    struct hs_jw w;
    int fd;
    char *data; /* after out_end: everything written, NUL-terminated */
    size_t len;
};

static void out_begin(struct out *o)
{
    memset(o, 0, sizeof(*o));
    o->fd = memfd_create("hs-jw-test", MFD_CLOEXEC);
    assert_true(o->fd >= 0);
    assert_int_equal(hs__jw_open(&o->w, o->fd), 0);
}

static void out_end(struct out *o)
{
    assert_int_equal(hs__jw_close(&o->w), 0);
    off_t size = lseek(o->fd, 0, SEEK_END);
    assert_true(size >= 0);
    assert_int_equal((uint64_t)size, o->w.bytes);
    o->len = (size_t)size;
    o->data = malloc(o->len + 1);
    assert_non_null(o->data);
    size_t got = 0;
    while (got < o->len) {
        ssize_t n = pread(o->fd, o->data + got, o->len - got, (off_t)got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    o->data[o->len] = 0;
    close(o->fd);
}

static void out_free(struct out *o)
{
    free(o->data);
    o->data = NULL;
}

/* The JSON text hs__jw_string writes for s[0..n). */
static char *jstring(const char *s, size_t n, size_t *outlen)
{
    struct out o;
    out_begin(&o);
    hs__jw_string(&o.w, s, n);
    out_end(&o);
    if (outlen)
        *outlen = o.len;
    return o.data;
}

static void check_string(const char *s, size_t n, const char *want)
{
    char *got = jstring(s, n, NULL);
    if (strcmp(got, want) != 0)
        fail_msg("hs__jw_string: got %s, want %s", got, want);
    free(got);
}
#define CHECK_STR(lit, want) check_string(lit, sizeof(lit) - 1, want)

/* ---- numbers ------------------------------------------------------------- */

static void test_numbers(void **state)
{
    (void)state;
    static const uint64_t v[] = {0,
                                 1,
                                 9,
                                 10,
                                 99,
                                 100,
                                 UINT32_MAX,
                                 4294967296,
                                 UINT64_MAX,
                                 10000000000000000000u,
                                 9999999999999999999u};
    struct out o;
    out_begin(&o);
    char want[512];
    size_t wl = 0;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        if (i) {
            hs__jw_lit(&o.w, ",");
            want[wl++] = ',';
        }
        hs__jw_u64(&o.w, v[i]);
        wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "%llu", (unsigned long long)v[i]);
    }
    out_end(&o);
    assert_string_equal(o.data, want);
    assert_string_equal(o.data, "0,1,9,10,99,100,4294967295,4294967296,18446744073709551615,"
                                "10000000000000000000,9999999999999999999");
    out_free(&o);
}

/* A number that does not fit the buffer's rest goes through the slow path,
 * split over a flush. */
static void test_number_at_buffer_edge(void **state)
{
    (void)state;
    for (size_t room = 0; room <= 21; room++) {
        struct out o;
        out_begin(&o);
        size_t fill = JW_BUF - room;
        char *pad = malloc(fill);
        assert_non_null(pad);
        memset(pad, 'x', fill);
        hs__jw_raw(&o.w, pad, fill);
        hs__jw_u64(&o.w, UINT64_MAX);
        /* Never past the buffer (the overflow could land unnoticed in a
         * neighbouring mapping and even be flushed intact). */
        assert_true(o.w.len <= o.w.cap);
        hs__jw_u64(&o.w, 42);
        assert_true(o.w.len <= o.w.cap);
        out_end(&o);
        assert_int_equal(o.len, fill + 22);
        assert_memory_equal(o.data, pad, fill);
        assert_string_equal(o.data + fill, "1844674407370955161542");
        free(pad);
        out_free(&o);
    }
}

/* ---- strings: exact output ---------------------------------------------- */

static void test_string_escapes(void **state)
{
    (void)state;
    CHECK_STR("", "\"\"");
    CHECK_STR("plain ascii ~!@#$%^&*()", "\"plain ascii ~!@#$%^&*()\"");
    CHECK_STR("say \"hi\"", "\"say \\\"hi\\\"\"");
    CHECK_STR("C:\\dir\\", "\"C:\\\\dir\\\\\"");
    CHECK_STR("\"\\\"", "\"\\\"\\\\\\\"\"");
    CHECK_STR("a\nb", "\"a\\nb\"");
    CHECK_STR("\t", "\"\\u0009\"");
    CHECK_STR("\r\b\f", "\"\\u000d\\u0008\\u000c\"");
    CHECK_STR("\x01\x1f", "\"\\u0001\\u001f\"");
    CHECK_STR("\x7f", "\"\x7f\""); /* DEL is not a control character to JSON */
    CHECK_STR(" /", "\" /\"");
    /* Embedded NUL: written by length, as \u0000. */
    check_string("a\0b", 3, "\"a\\u0000b\"");
}

static void test_string_utf8(void **state)
{
    (void)state;
    CHECK_STR("\xc3\xa9", "\"\\u00e9\"");                /* é */
    CHECK_STR("caf\xc3\xa9!", "\"caf\\u00e9!\"");        /* é in text */
    CHECK_STR("\xe2\x82\xac", "\"\\u20ac\"");            /* € */
    CHECK_STR("\xf0\x9f\x98\x80", "\"\\ud83d\\ude00\""); /* U+1F600 */
    CHECK_STR("\xc2\x80", "\"\\u0080\"");                /* first 2-byte */
    CHECK_STR("\xdf\xbf", "\"\\u07ff\"");                /* last 2-byte */
    CHECK_STR("\xe0\xa0\x80", "\"\\u0800\"");            /* first 3-byte */
    CHECK_STR("\xed\x9f\xbf", "\"\\ud7ff\"");            /* below the surrogates */
    CHECK_STR("\xee\x80\x80", "\"\\ue000\"");            /* above them */
    CHECK_STR("\xef\xbf\xbf", "\"\\uffff\"");            /* last 3-byte */
    CHECK_STR("\xf0\x90\x80\x80", "\"\\ud800\\udc00\""); /* U+10000 */
    CHECK_STR("\xf4\x8f\xbf\xbf", "\"\\udbff\\udfff\""); /* U+10FFFF */
    CHECK_STR("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",    /* back to back */
              "\"\\u00e9\\u20ac\\ud83d\\ude00\"");
}

static void test_string_invalid_utf8(void **state)
{
    (void)state;
    /* One '?' per byte that does not start a well-formed sequence; the
     * scan resumes at the next byte. */
    CHECK_STR("\x80", "\"?\""); /* lone continuation */
    CHECK_STR("a\xbf"
              "b",
              "\"a?b\"");
    CHECK_STR("\xc3", "\"?\""); /* truncated at the end */
    CHECK_STR("\xe2\x82", "\"??\"");
    CHECK_STR("\xf0\x9f\x98", "\"???\"");
    CHECK_STR("\xe2\x82x", "\"??x\"");         /* truncated mid-string */
    CHECK_STR("\xc3\xc3\xa9", "\"?\\u00e9\""); /* a lead, then a real é */
    CHECK_STR("\xc0\x80", "\"??\"");           /* overlong NUL */
    CHECK_STR("\xc1\xbf", "\"??\"");           /* overlong 2-byte */
    CHECK_STR("\xe0\x80\x80", "\"???\"");      /* overlong 3-byte */
    CHECK_STR("\xe0\x9f\xbf", "\"???\"");
    CHECK_STR("\xf0\x80\x80\x80", "\"????\""); /* overlong 4-byte */
    CHECK_STR("\xf0\x8f\xbf\xbf", "\"????\"");
    CHECK_STR("\xed\xa0\x80", "\"???\"");                /* surrogate U+D800 */
    CHECK_STR("\xed\xbf\xbf", "\"???\"");                /* surrogate U+DFFF */
    CHECK_STR("\xed\xa0\xbd\xed\xb8\x80", "\"??????\""); /* CESU-8 pair */
    CHECK_STR("\xf4\x90\x80\x80", "\"????\"");           /* U+110000 */
    CHECK_STR("\xf5\x80\x80\x80", "\"????\"");           /* F5..FF never lead */
    CHECK_STR("\xf5\x80\x80", "\"???\"");
    CHECK_STR("\xf8\x88\x80\x80\x80", "\"?????\"");
    CHECK_STR("\xfc\x84\x80\x80\x80\x80", "\"??????\"");
    CHECK_STR("\xfe\xff", "\"??\"");
}

/* ---- strings: decoded as JSON, against a reference UTF-8 decoder ------- */

/* Unicode 15, table 3-7: the well-formed UTF-8 byte sequences. Returns the
 * code point at s and its length, or -1. */
static long ref_utf8(const unsigned char *s, size_t n, size_t *len)
{
    unsigned b = s[0];
    if (b < 0x80) {
        *len = 1;
        return b;
    }
    size_t k;
    unsigned lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (b >= 0xc2 && b <= 0xdf)
        k = 2;
    else if (b == 0xe0)
        k = 3, lo = 0xa0;
    else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef)
        k = 3;
    else if (b == 0xed)
        k = 3, hi = 0x9f;
    else if (b == 0xf0)
        k = 4, lo = 0x90;
    else if (b >= 0xf1 && b <= 0xf3)
        k = 4;
    else if (b == 0xf4)
        k = 4, hi = 0x8f;
    else
        return -1;
    if (n < k || s[1] < lo || s[1] > hi)
        return -1;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return -1;
    long cp = b & (k == 2 ? 0x1f : k == 3 ? 0x0f : 0x07);
    for (size_t i = 1; i < k; i++)
        cp = (cp << 6) | (s[i] & 0x3f);
    *len = k;
    return cp;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Decodes one JSON string (the whole of j[0..n), quotes included) into code
 * points; fails the test on anything that is not strict JSON, on non-ASCII
 * or raw control bytes, and on unpaired surrogates. Returns the count. */
static size_t json_decode(const char *j, size_t n, long *cps)
{
    assert_true(n >= 2);
    assert_int_equal(j[0], '"');
    assert_int_equal(j[n - 1], '"');
    size_t k = 0;
    for (size_t i = 1; i < n - 1;) {
        unsigned char c = (unsigned char)j[i];
        if (c >= 0x80 || c < 0x20)
            fail_msg("byte 0x%02x at %zu is not printable ASCII", c, i);
        if (c == '"')
            fail_msg("unescaped quote at %zu", i);
        if (c != '\\') {
            cps[k++] = c;
            i++;
            continue;
        }
        assert_true(i + 1 < n - 1);
        char e = j[i + 1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            cps[k++] = (unsigned char)map[simple - "\"\\/bfnrt"];
            i += 2;
            continue;
        }
        if (e != 'u' || i + 6 > n - 1)
            fail_msg("bad escape at %zu", i);
        long u = hex4(j + i + 2);
        assert_true(u >= 0);
        i += 6;
        if (u >= 0xdc00 && u < 0xe000)
            fail_msg("lone low surrogate at %zu", i);
        if (u >= 0xd800 && u < 0xdc00) {
            if (i + 6 > n - 1 || j[i] != '\\' || j[i + 1] != 'u')
                fail_msg("high surrogate without a low one at %zu", i);
            long l = hex4(j + i + 2);
            if (l < 0xdc00 || l >= 0xe000)
                fail_msg("high surrogate without a low one at %zu", i);
            u = 0x10000 + ((u - 0xd800) << 10) + (l - 0xdc00);
            i += 6;
        }
        cps[k++] = u;
    }
    return k;
}

/* What the string should decode to: each well-formed sequence's code point,
 * '?' for each byte that starts none. */
static size_t ref_decode(const unsigned char *s, size_t n, long *cps)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t len = 0;
        long cp = ref_utf8(s + i, n - i, &len);
        if (cp < 0) {
            cps[k++] = '?';
            i++;
        } else {
            cps[k++] = cp;
            i += len;
        }
    }
    return k;
}

static void check_roundtrip(const unsigned char *s, size_t n)
{
    size_t jl;
    char *j = jstring((const char *)s, n, &jl);
    long *got = malloc((jl + 1) * sizeof(long)), *want = malloc((n + 1) * sizeof(long));
    assert_non_null(got);
    assert_non_null(want);
    size_t gn = json_decode(j, jl, got), wn = ref_decode(s, n, want);
    assert_int_equal(gn, wn);
    assert_memory_equal(got, want, wn * sizeof(long));
    free(got);
    free(want);
    free(j);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static size_t put_utf8(unsigned char *p, uint32_t cp)
{
    if (cp < 0x80) {
        p[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        p[0] = (unsigned char)(0xc0 | (cp >> 6));
        p[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        p[0] = (unsigned char)(0xe0 | (cp >> 12));
        p[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        p[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    p[0] = (unsigned char)(0xf0 | (cp >> 18));
    p[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    p[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    p[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Every byte value in every position, valid text that must come back
 * unchanged, and random bytes with many near-valid sequences. */
static void test_string_roundtrip(void **state)
{
    (void)state;
    unsigned char s[64];
    for (unsigned b = 0; b < 256; b++) {
        s[0] = (unsigned char)b;
        check_roundtrip(s, 1);
        for (unsigned c = 0; c < 256; c += 7) {
            s[1] = (unsigned char)c;
            s[2] = 0x80 + (unsigned char)(c % 64);
            s[3] = 0xbf - (unsigned char)(c % 64);
            check_roundtrip(s, 2);
            check_roundtrip(s, 3);
            check_roundtrip(s, 4);
        }
    }
    /* Every code point, valid UTF-8 in, the same code points out. */
    for (uint32_t cp = 0; cp <= 0x10ffff; cp += (cp < 0x1000 ? 1 : 61)) {
        if (cp >= 0xd800 && cp < 0xe000)
            continue;
        size_t n = put_utf8(s, cp);
        n += put_utf8(s + n,
                      0x10ffff - cp < 0xd800 || 0x10ffff - cp >= 0xe000 ? 0x10ffff - cp : 'z');
        check_roundtrip(s, n);
    }
    static const unsigned char pool[] = {0x00, 0x0a, 0x09, 0x1f, '"',  '\\', 'a',  0x7f, 0x80,
                                         0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf,
                                         0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3,
                                         0xf4, 0xf5, 0xf7, 0xf8, 0xfb, 0xfc, 0xfd, 0xfe, 0xff};
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = rnd() % sizeof(s);
        for (size_t i = 0; i < n; i++)
            s[i] = rnd() % 2 ? pool[rnd() % sizeof(pool)] : (unsigned char)rnd();
        check_roundtrip(s, n);
    }
}

/* ---- more than the buffer ------------------------------------------------ */

struct mirror {
    char *p;
    size_t len, cap;
};

static void mirror_add(struct mirror *m, const char *s, size_t n)
{
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->p = realloc(m->p, m->cap);
        assert_non_null(m->p);
    }
    memcpy(m->p + m->len, s, n);
    m->len += n;
}

static void test_large_output(void **state)
{
    (void)state;
    struct out o;
    out_begin(&o);
    struct mirror m = {0};
    char tmp[64];
    /* About 5 MB of numbers, escaped strings and literals... */
    for (uint64_t i = 0; m.len < 5u * 1000 * 1000; i++) {
        uint64_t v = i * 0x9e3779b97f4a7c15u >> (i % 64);
        hs__jw_u64(&o.w, v);
        mirror_add(&m, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v));
        hs__jw_lit(&o.w, ",");
        mirror_add(&m, ",", 1);
        if (i % 3 == 0) {
            hs__jw_string(&o.w, "n\xc3\xa9\n\"\xf0\x9f\x98\x80\x80", 10);
            const char *js = "\"n\\u00e9\\n\\\"\\ud83d\\ude00?\"";
            mirror_add(&m, js, strlen(js));
        }
    }
    /* ...then one piece bigger than the buffer, in one call. */
    size_t big = 3 * JW_BUF + 12345;
    char *b = malloc(big);
    assert_non_null(b);
    for (size_t i = 0; i < big; i++)
        b[i] = (char)('a' + i % 26);
    hs__jw_raw(&o.w, b, big);
    mirror_add(&m, b, big);
    free(b);
    hs__jw_lit(&o.w, "]");
    mirror_add(&m, "]", 1);
    out_end(&o);
    assert_int_equal(o.len, m.len);
    assert_true(o.len > 5u * JW_BUF);
    assert_memory_equal(o.data, m.p, m.len);
    free(m.p);
    out_free(&o);
}

/* ---- pipes and write errors ---------------------------------------------- */

static void test_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct hs_jw w;
    assert_int_equal(hs__jw_open(&w, p[1]), 0);
    hs__jw_lit(&w, "{\"a\":");
    hs__jw_u64(&w, 7);
    hs__jw_lit(&w, ",\"s\":");
    hs__jw_string(&w, "\xe2\x82\xac", 3);
    hs__jw_lit(&w, "}");
    assert_int_equal(hs__jw_close(&w), 0);
    close(p[1]);
    char buf[128];
    size_t got = 0;
    ssize_t n;
    while ((n = read(p[0], buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)n;
    close(p[0]);
    buf[got] = 0;
    assert_string_equal(buf, "{\"a\":7,\"s\":\"\\u20ac\"}");
    assert_int_equal(w.bytes, got);
}

static void test_write_error(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);

    /* Small output: the error shows at the flush in close. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    struct hs_jw w;
    assert_int_equal(hs__jw_open(&w, p[1]), 0);
    hs__jw_lit(&w, "[1,2,3]");
    assert_int_equal(w.err, 0);
    assert_int_equal(hs__jw_close(&w), -EPIPE);
    assert_int_equal(hs__jw_close(&w), -EPIPE); /* twice is harmless */
    close(p[1]);

    /* Large output: the first flush fails, later output is dropped. */
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    assert_int_equal(hs__jw_open(&w, p[1]), 0);
    for (int i = 0; i < 500000; i++) {
        hs__jw_u64(&w, UINT64_MAX);
        hs__jw_string(&w, "x\xc3\xa9\n", 4);
    }
    assert_int_equal(w.err, -EPIPE);
    assert_int_equal(w.bytes, 0);
    assert_int_equal(hs__jw_close(&w), -EPIPE);
    close(p[1]);

    /* Not a file descriptor at all. */
    assert_int_equal(hs__jw_open(&w, -1), 0);
    hs__jw_u64(&w, 1);
    assert_int_equal(hs__jw_close(&w), -EBADF);
}

/* ---- the string table ---------------------------------------------------- */

static void assert_entry(const struct hs_strtab *t, uint32_t i, const char *s, size_t n)
{
    const char *e;
    size_t en;
    hs__strtab_get(t, i, &e, &en);
    assert_int_equal(en, n);
    assert_memory_equal(e, s, n);
}

static void test_strtab_basics(void **state)
{
    (void)state;
    struct hs_strtab t;
    assert_int_equal(hs__strtab_init(&t), 0);
    assert_int_equal(hs__strtab_count(&t), 1);
    assert_entry(&t, 0, "<dummy>", 7);
    assert_int_equal(hs__strtab_add(&t, "<dummy>", 7), 0);

    char a1[] = "alpha", a2[] = "alpha";
    uint32_t a = hs__strtab_add(&t, a1, 5);
    assert_int_equal(a, 1);
    assert_int_equal(hs__strtab_add(&t, a2, 5), a); /* by content, not address */
    assert_int_equal(hs__strtab_add(&t, "alph", 4), 2);
    assert_int_equal(hs__strtab_add(&t, "alphabet", 5), a); /* by length, too */

    uint32_t empty = hs__strtab_add(&t, "", 0);
    assert_int_equal(empty, 3);
    assert_int_equal(hs__strtab_add(&t, "xyz", 0), empty);
    assert_entry(&t, empty, "", 0);

    /* Embedded NULs count: these four are all different. */
    uint32_t n1 = hs__strtab_add(&t, "a\0b", 3);
    uint32_t n2 = hs__strtab_add(&t, "a\0c", 3);
    uint32_t n3 = hs__strtab_add(&t, "a\0", 2);
    uint32_t n4 = hs__strtab_add(&t, "a", 1);
    uint32_t n5 = hs__strtab_add(&t, "\0", 1);
    assert_int_equal(n1, 4);
    assert_int_equal(n2, 5);
    assert_int_equal(n3, 6);
    assert_int_equal(n4, 7);
    assert_int_equal(n5, 8);
    assert_int_equal(hs__strtab_add(&t, "a\0b", 3), n1);
    assert_int_equal(hs__strtab_add(&t, "\0", 1), n5);
    assert_entry(&t, n1, "a\0b", 3);
    assert_entry(&t, n2, "a\0c", 3);
    assert_entry(&t, n3, "a\0", 2);
    assert_entry(&t, n5, "\0", 1);
    assert_int_equal(hs__strtab_count(&t), 9);

    /* Re-adding an entry's own bytes finds it. */
    const char *e;
    size_t en;
    hs__strtab_get(&t, a, &e, &en);
    assert_int_equal(hs__strtab_add(&t, e, en), a);
    assert_entry(&t, 0, "<dummy>", 7);
    hs__strtab_free(&t);
    assert_null(t.slots);
}

static size_t nth_string(char *buf, uint32_t i)
{
    /* Varying lengths, shared prefixes, a NUL inside some. */
    int n = snprintf(buf, 64, "str-%u-%.*s", i, (int)(i % 17), "abcdefghijklmnopq");
    if (i % 5 == 0)
        buf[3] = 0;
    return (size_t)n;
}

static void test_strtab_growth(void **state)
{
    (void)state;
    enum { N = 100000 };
    struct hs_strtab t;
    assert_int_equal(hs__strtab_init(&t), 0);
    char buf[64];
    for (uint32_t i = 0; i < N; i++) {
        size_t n = nth_string(buf, i);
        assert_int_equal(hs__strtab_add(&t, buf, n), i + 1);
        if (i % 7 == 0) /* duplicates interleaved with growth */
            assert_int_equal(hs__strtab_add(&t, buf, n), i + 1);
    }
    assert_int_equal(hs__strtab_count(&t), N + 1);
    assert_true(t.nslots >= 2 * (size_t)(N + 1));
    assert_entry(&t, 0, "<dummy>", 7);
    for (uint32_t i = 0; i < N; i++) {
        size_t n = nth_string(buf, i);
        assert_entry(&t, i + 1, buf, n);
        assert_int_equal(hs__strtab_add(&t, buf, n), i + 1);
    }
    assert_int_equal(hs__strtab_add(&t, "<dummy>", 7), 0);
    assert_int_equal(hs__strtab_count(&t), N + 1);
    hs__strtab_free(&t);
}

/* ---- hs_vec --------------------------------------------------------------- */

struct rec12 {
    uint32_t a, b, c;
};

static void test_vec_growth(void **state)
{
    (void)state;
    enum { N = 3000000 };
    struct hs_vec v = {.elem = sizeof(uint64_t)};
    for (uint64_t i = 0; i < N; i++) {
        uint64_t *p = hs__vec_push(&v);
        assert_non_null(p);
        *p = i * 0x9e3779b97f4a7c15u;
        if ((i & (i - 1)) == 0) /* at every power of two: all still there */
            for (uint64_t j = 0; j <= i; j++)
                assert_true(((uint64_t *)v.p)[j] == j * 0x9e3779b97f4a7c15u);
    }
    assert_int_equal(v.len, N);
    assert_true(v.cap >= v.len);
    for (uint64_t i = 0; i < N; i++)
        if (((uint64_t *)v.p)[i] != i * 0x9e3779b97f4a7c15u)
            fail_msg("element %llu changed", (unsigned long long)i);
    hs__vec_free(&v);
    assert_null(v.p);
    assert_int_equal(v.len, 0);
    assert_int_equal(v.cap, 0);

    /* An element size that does not divide the page. */
    struct hs_vec r = {.elem = sizeof(struct rec12)};
    for (uint32_t i = 0; i < 2 * N; i++) {
        struct rec12 *p = hs__vec_push(&r);
        assert_non_null(p);
        *p = (struct rec12){i, ~i, i * 3u};
    }
    const struct rec12 *rv = r.p;
    for (uint32_t i = 0; i < 2 * N; i++)
        if (rv[i].a != i || rv[i].b != ~i || rv[i].c != i * 3u)
            fail_msg("record %u changed", i);

    /* Reserve ahead, then push within it: no move. */
    assert_int_equal(hs__vec_reserve(&r, r.len + 1000), 0);
    void *before = r.p;
    for (int i = 0; i < 1000; i++)
        assert_non_null(hs__vec_push(&r));
    assert_ptr_equal(r.p, before);
    hs__vec_free(&r);

    /* Bytes, as the string table keeps its characters. */
    struct hs_vec c = {.elem = 1};
    for (uint32_t i = 0; i < 5 * N; i++) {
        char *p = hs__vec_push(&c);
        assert_non_null(p);
        *p = (char)(i * 31u);
    }
    for (uint32_t i = 0; i < 5 * N; i++)
        if (((char *)c.p)[i] != (char)(i * 31u))
            fail_msg("byte %u changed", i);
    hs__vec_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_number_at_buffer_edge),
        cmocka_unit_test(test_string_escapes),
        cmocka_unit_test(test_string_utf8),
        cmocka_unit_test(test_string_invalid_utf8),
        cmocka_unit_test(test_string_roundtrip),
        cmocka_unit_test(test_large_output),
        cmocka_unit_test(test_pipe),
        cmocka_unit_test(test_write_error),
        cmocka_unit_test(test_strtab_basics),
        cmocka_unit_test(test_strtab_growth),
        cmocka_unit_test(test_vec_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
