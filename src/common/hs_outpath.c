/*
 * hs_outpath.c — see hs_outpath.h.
 */
#include "hs_outpath.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct out {
    char *p;
    size_t left; /* room for characters, the NUL excluded */
    int len, full;
};

static void put(struct out *o, char c)
{
    if (o->full || o->left == 0) {
        o->full = 1;
        return;
    }
    *o->p++ = c;
    o->left--;
    o->len++;
}

static void put_number(struct out *o, unsigned long v)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        put(o, digits[--n]);
}

static int finish(struct out *o, size_t size)
{
    if (size)
        *o->p = '\0';
    return o->full || !size ? -1 : o->len;
}

int hs_outpath_expand(const char *pattern, long pid, unsigned long n, char *out, size_t size)
{
    struct out o = {out, size ? size - 1 : 0, 0, 0};
    for (const char *s = pattern; *s; s++) {
        if (s[0] == '%' && s[1] == 'p') {
            put_number(&o, pid < 0 ? 0 : (unsigned long)pid);
            s++;
        } else if (s[0] == '%' && s[1] == 'n') {
            put_number(&o, n);
            s++;
        } else if (s[0] == '%' && s[1] == '%') {
            put(&o, '%');
            s++;
        } else {
            put(&o, *s);
        }
    }
    return finish(&o, size);
}

int hs_outpath_has_seq(const char *pattern)
{
    for (const char *s = pattern; *s; s++) {
        if (s[0] == '%' && (s[1] == 'n' || s[1] == 'p' || s[1] == '%')) {
            if (s[1] == 'n')
                return 1;
            s++;
        }
    }
    return 0;
}

int hs_outpath_quote(const char *s, char *out, size_t size)
{
    struct out o = {out, size ? size - 1 : 0, 0, 0};
    for (; *s; s++) {
        put(&o, *s);
        if (*s == '%')
            put(&o, '%');
    }
    return finish(&o, size);
}

int hs_outpath_write_file(const char *path, int (*write_fn)(int fd, void *arg), void *arg)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    /* A fresh name, created exclusively: in a directory others can write to,
     * a predictable name could be a planted symlink to a file of ours. */
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = write_fn(fd, arg);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    return rc;
}
