/*
 * expr.c — the expression language of Runtime.evaluate on a native heap
 * (docs/design/inspection.md): a recursive-descent parser that evaluates as
 * it parses, over a bounded input, with every lookup and memory read done
 * through the caller's hs_expr_env.
 *
 *   expr    := unary { ('+' | '-') unary }
 *   unary   := '*' unary | '&' name | postfix
 *   postfix := primary { '[' expr ']' }
 *   primary := number | name | '(' expr ')'
 *   number  := 0x<hex> | <decimal>
 *   name    := [A-Za-z_$] [A-Za-z0-9_$.:]*
 *
 * `*e` reads the word at e's address, `e[n]` is `*(e + 8n)`, `p + n` moves a
 * place by n bytes, `p - q` is the distance between two places. Errors read
 * as V8's do ("SyntaxError: Unexpected token '%'") so that the console shows
 * them as it shows any exception.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "value.h"

struct parser {
    const char *s;
    size_t len, pos;
    int depth;
    const hs_expr_env *env;
    char *err;
    size_t errlen, errpos;
    int failed;
};

__attribute__((format(printf, 3, 4))) static int fail_at(struct parser *p, size_t pos,
                                                         const char *fmt, ...)
{
    if (!p->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, p->errlen, fmt, ap);
        va_end(ap);
        p->errpos = pos;
        p->failed = 1;
    }
    return -1;
}

static void skip_space(struct parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int peek(struct parser *p)
{
    skip_space(p);
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int unexpected(struct parser *p)
{
    if (p->pos >= p->len)
        return fail_at(p, p->pos, "SyntaxError: Unexpected end of input");
    char tok[8];
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(tok, sizeof(tok), "%c", c);
    else
        snprintf(tok, sizeof(tok), "\\x%02x", c);
    return fail_at(p, p->pos, "SyntaxError: Unexpected token '%s'", tok);
}

static int is_name_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

static int is_name_char(int c)
{
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '.' || c == ':';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int number(struct parser *p, hs_val *out)
{
    size_t start = p->pos;
    uint64_t v = 0;
    int any = 0;
    if (p->pos + 1 < p->len && p->s[p->pos] == '0' && (p->s[p->pos + 1] | 0x20) == 'x') {
        p->pos += 2;
        for (int d; p->pos < p->len && (d = hexval(p->s[p->pos])) >= 0; p->pos++, any = 1) {
            if (v >> 60)
                return fail_at(p, start, "RangeError: the number does not fit in 64 bits");
            v = v << 4 | (uint64_t)d;
        }
    } else {
        for (; p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9'; p->pos++, any = 1) {
            uint64_t d = (uint64_t)(p->s[p->pos] - '0');
            if (v > (UINT64_MAX - d) / 10)
                return fail_at(p, start, "RangeError: the number does not fit in 64 bits");
            v = v * 10 + d;
        }
    }
    if (!any || (p->pos < p->len && is_name_char((unsigned char)p->s[p->pos])))
        return fail_at(p, start, "SyntaxError: Invalid or unexpected token");
    p->env->word(p->env->ud, v, out);
    return 0;
}

static int name(struct parser *p, int amp, hs_val *out)
{
    if (!is_name_start(peek(p)))
        return unexpected(p);
    size_t start = p->pos;
    while (p->pos < p->len && is_name_char((unsigned char)p->s[p->pos]))
        p->pos++;
    char msg[256] = "";
    if (p->env->name(p->env->ud, p->s + start, p->pos - start, amp, out, msg, sizeof(msg)) < 0)
        return fail_at(p, start, "%s", msg);
    return 0;
}

/* The address a value stands for: a place's, or a number taken as one. */
static uintptr_t address_of(const hs_val *v)
{
    return v->kind == HS_VAL_NUM ? (uintptr_t)v->num : v->addr;
}

static int is_place(const hs_val *v)
{
    return v->kind == HS_VAL_BLOCK || v->kind == HS_VAL_GLOBAL;
}

static int deref(struct parser *p, size_t at, const hs_val *v, hs_val *out)
{
    if (v->kind == HS_VAL_PROCESS)
        return fail_at(p, at, "TypeError: the global object is not an address");
    uint64_t w = 0;
    char msg[256] = "";
    if (p->env->read(p->env->ud, address_of(v), &w, msg, sizeof(msg)) < 0)
        return fail_at(p, at, "%s", msg);
    p->env->word(p->env->ud, w, out);
    return 0;
}

/* v moved by delta bytes: still a place of the same kind while inside it. */
static void move(struct parser *p, hs_val *v, uint64_t delta)
{
    if (v->kind == HS_VAL_NUM) {
        v->num += delta;
        return;
    }
    uintptr_t a = v->addr + (uintptr_t)delta;
    if (a >= v->base && a - v->base < v->size) {
        v->addr = a;
        return;
    }
    p->env->word(p->env->ud, a, v);
}

static int expr(struct parser *p, hs_val *out);

static int primary(struct parser *p, hs_val *out)
{
    int c = peek(p);
    if (c == '(') {
        p->pos++;
        if (expr(p, out) < 0)
            return -1;
        if (peek(p) != ')')
            return unexpected(p);
        p->pos++;
        return 0;
    }
    if (c >= '0' && c <= '9')
        return number(p, out);
    return name(p, 0, out);
}

static int postfix(struct parser *p, hs_val *out)
{
    if (primary(p, out) < 0)
        return -1;
    while (peek(p) == '[') {
        size_t at = p->pos++;
        hs_val idx;
        if (expr(p, &idx) < 0)
            return -1;
        if (peek(p) != ']')
            return unexpected(p);
        p->pos++;
        if (idx.kind != HS_VAL_NUM)
            return fail_at(p, at, "TypeError: the index is not a number");
        move(p, out, idx.num * 8u);
        hs_val w;
        if (deref(p, at, out, &w) < 0)
            return -1;
        *out = w;
    }
    return 0;
}

static int unary(struct parser *p, hs_val *out)
{
    if (++p->depth > HS_EXPR_MAX_DEPTH)
        return fail_at(p, p->pos, "RangeError: the expression is nested too deeply");
    int c = peek(p), rc;
    if (c == '*') {
        size_t at = p->pos++;
        hs_val v;
        rc = unary(p, &v) < 0 ? -1 : deref(p, at, &v, out);
    } else if (c == '&') {
        p->pos++;
        rc = name(p, 1, out);
    } else {
        rc = postfix(p, out);
    }
    p->depth--;
    return rc;
}

static int expr(struct parser *p, hs_val *out)
{
    if (unary(p, out) < 0)
        return -1;
    for (int c; (c = peek(p)) == '+' || c == '-';) {
        size_t at = p->pos++;
        hs_val r;
        if (unary(p, &r) < 0)
            return -1;
        if (out->kind == HS_VAL_PROCESS || r.kind == HS_VAL_PROCESS)
            return fail_at(p, at, "TypeError: the global object is not an address");
        if (c == '+') {
            if (is_place(out) && is_place(&r))
                return fail_at(p, at, "TypeError: cannot add two addresses");
            if (is_place(&r)) {
                hs_val t = *out;
                *out = r;
                r = t;
            }
            move(p, out, r.num);
        } else if (is_place(&r)) {
            if (!is_place(out))
                return fail_at(p, at, "TypeError: cannot subtract an address from a number");
            uint64_t d = (uint64_t)(out->addr - r.addr);
            memset(out, 0, sizeof(*out));
            out->kind = HS_VAL_NUM;
            out->num = d;
        } else {
            move(p, out, (uint64_t)0 - r.num);
        }
    }
    return 0;
}

int hs__expr_eval(const char *src, size_t len, const hs_expr_env *env, hs_val *out, char *err,
                  size_t errlen, size_t *col)
{
    struct parser p = {.s = src, .len = len, .env = env, .err = err, .errlen = errlen};
    memset(out, 0, sizeof(*out));
    if (errlen)
        err[0] = '\0';
    if (len > HS_EXPR_MAX_LEN) {
        fail_at(&p, 0, "RangeError: the expression is longer than 4096 characters");
    } else if (memchr(src, '\0', len)) {
        fail_at(&p, (size_t)((const char *)memchr(src, '\0', len) - src),
                "SyntaxError: Invalid or unexpected token");
    } else if (expr(&p, out) == 0 && peek(&p) >= 0) {
        unexpected(&p);
    }
    if (p.failed) {
        memset(out, 0, sizeof(*out));
        *col = p.errpos;
        return -1;
    }
    return 0;
}
