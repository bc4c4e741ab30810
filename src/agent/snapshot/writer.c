/*
 * writer.c — the child's output: a buffered writer of JSON text to a file
 * descriptor, the string table, and the mmap-backed arrays everything in the
 * child is built from. System calls only: no malloc, no stdio.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heapscope/hs_err.h"
#include "snapshot_int.h"

#define PAGE 4096u
#define JW_BUF (1u << 20)

static size_t round_page(size_t n)
{
    return (n + PAGE - 1) & ~(size_t)(PAGE - 1);
}

/* ---- hs_vec -------------------------------------------------------------- */

int hs__vec_reserve(struct hs_vec *v, size_t n)
{
    if (n <= v->cap)
        return 0;
    size_t nc = v->cap ? v->cap : PAGE / v->elem + 1;
    while (nc < n)
        nc *= 2;
    size_t ob = round_page(v->cap * v->elem), nb = round_page(nc * v->elem);
    void *p = v->p ? mremap(v->p, ob, nb, MREMAP_MAYMOVE)
                   : mmap(NULL, nb, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return HS_E_NOMEM;
    v->p = p;
    v->cap = nb / v->elem;
    return 0;
}

void *hs__vec_push(struct hs_vec *v)
{
    if (v->len == v->cap && hs__vec_reserve(v, v->len + 1) < 0)
        return NULL;
    return (char *)v->p + v->elem * v->len++;
}

void hs__vec_free(struct hs_vec *v)
{
    if (v->p)
        munmap(v->p, round_page(v->cap * v->elem));
    v->p = NULL;
    v->len = v->cap = 0;
}

/* ---- the JSON writer ----------------------------------------------------- */

int hs__jw_open(struct hs_jw *w, int fd)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    w->buf = mmap(NULL, JW_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (w->buf == MAP_FAILED) {
        w->buf = NULL;
        return HS_E_NOMEM;
    }
    w->cap = JW_BUF;
    return 0;
}

static void flush(struct hs_jw *w)
{
    size_t off = 0;
    while (off < w->len && !w->err) {
        ssize_t n = write(w->fd, w->buf + off, w->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            w->err = n < 0 ? -errno : HS_E_STATE;
        else
            off += (size_t)n;
    }
    w->bytes += off;
    w->len = 0;
}

void hs__jw_raw(struct hs_jw *w, const char *s, size_t n)
{
    while (n) {
        if (w->len == w->cap)
            flush(w);
        size_t k = w->cap - w->len < n ? w->cap - w->len : n;
        memcpy(w->buf + w->len, s, k);
        w->len += k;
        s += k;
        n -= k;
    }
}

void hs__jw_lit(struct hs_jw *w, const char *s)
{
    hs__jw_raw(w, s, strlen(s));
}

char *hs__fmt_u64(char *end, uint64_t v)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                                   "25262728293031323334353637383940414243444546474849"
                                   "50515253545556575859606162636465666768697071727374"
                                   "75767778798081828384858687888990919293949596979899";
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        *--end = pairs[d + 1];
        *--end = pairs[d];
    }
    if (v >= 10) {
        *--end = pairs[v * 2 + 1];
        *--end = pairs[v * 2];
    } else {
        *--end = (char)('0' + v);
    }
    return end;
}

char *hs__put_u64(char *p, uint64_t v)
{
    char d[HS_U64_DIGITS];
    char *s = hs__fmt_u64(d + sizeof(d), v);
    size_t n = (size_t)(d + sizeof(d) - s);
    memcpy(p, s, n);
    return p + n;
}

void hs__jw_u64(struct hs_jw *w, uint64_t v)
{
    char d[HS_U64_DIGITS];
    char *s = hs__fmt_u64(d + sizeof(d), v);
    hs__jw_raw(w, s, (size_t)(d + sizeof(d) - s));
}

/* The code point at s (n bytes left) and its length, or -1 for a byte that
 * does not start a valid UTF-8 sequence. */
static long utf8_next(const unsigned char *s, size_t n, size_t *len)
{
    unsigned c = s[0];
    /* F5..FF start nothing: they must not fall through to the 3-byte case. */
    size_t k = c >= 0xf5 ? 0 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (!k || k > n)
        return -1;
    long cp = c & (0x3f >> (k - 1));
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) || (k == 4 && cp < 0x10000) ||
        cp > 0x10ffff)
        return -1;
    *len = k;
    return cp;
}

static void put_u16(struct hs_jw *w, unsigned u)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\',       'u', hex[(u >> 12) & 15], hex[(u >> 8) & 15], hex[(u >> 4) & 15],
                 hex[u & 15]};
    hs__jw_raw(w, e, 6);
}

void hs__jw_string(struct hs_jw *w, const char *s, size_t n)
{
    hs__jw_raw(w, "\"", 1);
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' && u[run] != '\\')
            run++;
        if (run > i) {
            hs__jw_raw(w, s + i, run - i);
            i = run;
            continue;
        }
        unsigned c = u[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            hs__jw_raw(w, e, 2);
            i++;
        } else if (c == '\n') {
            hs__jw_raw(w, "\\n", 2);
            i++;
        } else if (c < 0x20) {
            put_u16(w, c);
            i++;
        } else {
            size_t len = 0;
            long cp = utf8_next(u + i, n - i, &len);
            if (cp < 0) {
                hs__jw_raw(w, "?", 1);
                i++;
            } else if (cp >= 0x10000) {
                cp -= 0x10000;
                put_u16(w, 0xd800 + (unsigned)(cp >> 10));
                put_u16(w, 0xdc00 + (unsigned)(cp & 0x3ff));
                i += len;
            } else {
                put_u16(w, (unsigned)cp);
                i += len;
            }
        }
    }
    hs__jw_raw(w, "\"", 1);
}

int hs__jw_close(struct hs_jw *w)
{
    if (w->buf) {
        flush(w);
        munmap(w->buf, JW_BUF);
        w->buf = NULL;
    }
    return w->err;
}

/* ---- the string table ---------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

int hs__strtab_init(struct hs_strtab *t)
{
    memset(t, 0, sizeof(*t));
    t->chars.elem = 1;
    t->offs.elem = sizeof(uint64_t);
    uint64_t *o = hs__vec_push(&t->offs);
    if (!o)
        return HS_E_NOMEM;
    *o = 0;
    return hs__strtab_add(t, "<dummy>", 7) == 0 ? 0 : HS_E_NOMEM;
}

uint32_t hs__strtab_count(const struct hs_strtab *t)
{
    return (uint32_t)(t->offs.len - 1);
}

void hs__strtab_get(const struct hs_strtab *t, uint32_t i, const char **s, size_t *n)
{
    const uint64_t *o = t->offs.p;
    *s = (const char *)t->chars.p + o[i];
    *n = (size_t)(o[i + 1] - o[i]);
}

static int grow_slots(struct hs_strtab *t)
{
    size_t ns = t->nslots ? t->nslots * 2 : 1024;
    size_t bytes = round_page(ns * sizeof(uint32_t));
    uint32_t *sl = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sl == MAP_FAILED)
        return HS_E_NOMEM;
    for (uint32_t i = 0; i < hs__strtab_count(t); i++) {
        const char *s;
        size_t n;
        hs__strtab_get(t, i, &s, &n);
        size_t j = hash_bytes(s, n) & (ns - 1);
        while (sl[j])
            j = (j + 1) & (ns - 1);
        sl[j] = i + 1;
    }
    if (t->slots)
        munmap(t->slots, round_page(t->nslots * sizeof(uint32_t)));
    t->slots = sl;
    t->nslots = ns;
    return 0;
}

uint32_t hs__strtab_add(struct hs_strtab *t, const char *s, size_t n)
{
    if ((hs__strtab_count(t) + 1) * 2 > t->nslots && grow_slots(t) < 0)
        return UINT32_MAX;
    size_t j = hash_bytes(s, n) & (t->nslots - 1);
    for (; t->slots[j]; j = (j + 1) & (t->nslots - 1)) {
        const char *e;
        size_t en;
        hs__strtab_get(t, t->slots[j] - 1, &e, &en);
        if (en == n && !memcmp(e, s, n))
            return t->slots[j] - 1;
    }
    if (hs__vec_reserve(&t->chars, t->chars.len + n) < 0 || !hs__vec_push(&t->offs))
        return UINT32_MAX;
    if (n)
        memcpy((char *)t->chars.p + t->chars.len, s, n);
    t->chars.len += n;
    ((uint64_t *)t->offs.p)[t->offs.len - 1] = t->chars.len;
    uint32_t idx = hs__strtab_count(t) - 1;
    t->slots[j] = idx + 1;
    return idx;
}

void hs__strtab_free(struct hs_strtab *t)
{
    hs__vec_free(&t->chars);
    hs__vec_free(&t->offs);
    if (t->slots)
        munmap(t->slots, round_page(t->nslots * sizeof(uint32_t)));
    memset(t, 0, sizeof(*t));
}
