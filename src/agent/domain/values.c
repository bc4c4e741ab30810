/*
 * values.c — native values as Runtime sees them (docs/design/inspection.md):
 * reading the process's memory without ever faulting, telling what a word
 * points at, and the RemoteObject and property shapes DevTools renders.
 *
 * Memory is read with process_vm_readv on our own pid: an unmapped or
 * unreadable address is an EFAULT, never a signal (pread of /proc/self/mem
 * where that system call is refused). Blocks are checked against the
 * registry at every use: a value handed out earlier may have been freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../agent_int.h"
#include "../snapshot/snapshot.h"
#include "inspect.h"

/* getProperties shows at most this many bytes of a place, from its address. */
#define SHOW_MAX 8192u
/* The [[bytes]] preview. */
#define PREVIEW_BYTES 64u
/* Globals listed on the global object. */
#define GLOBALS_MAX 1024u

ssize_t hs__mem_read(uintptr_t addr, void *buf, size_t n)
{
    if (n == 0)
        return 0;
    if (addr + n < addr)
        n = (size_t)(UINTPTR_MAX - addr) + 1;
    struct iovec local = {buf, n}, remote = {(void *)addr, n};
    ssize_t r = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (r > 0)
        return r;
    if (r == 0 || errno == EFAULT)
        return -EFAULT;
    /* Refused (seccomp, old kernel): /proc/self/mem reports EIO instead. */
    int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t got = 0;
    while ((size_t)got < n) {
        ssize_t k = pread(fd, (char *)buf + got, n - (size_t)got, (off_t)(addr + (uintptr_t)got));
        if (k <= 0)
            break;
        got += k;
    }
    close(fd);
    return got > 0 ? got : -EFAULT;
}

void hs__inspect_end(hs_inspect *ix)
{
    hs__globals_close(ix->globals);
    ix->globals = NULL;
    ix->globals_failed = false;
}

struct hs_globals *hs__inspect_globals(hs_inspect *ix)
{
    if (!ix->globals && !ix->globals_failed) {
        ix->globals = hs__globals_open();
        ix->globals_failed = !ix->globals;
    }
    return ix->globals;
}

static void block_val(const hs_block *b, uintptr_t at, hs_val *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = HS_VAL_BLOCK;
    out->addr = at;
    out->base = b->addr;
    out->size = b->size;
    out->id = b->id;
    out->site = b->site;
}

void hs__val_of_word(hs_inspect *ix, uint64_t w, hs_val *out)
{
    hs_block b;
    uintptr_t start;
    uint64_t size;
    const char *sym;
    if (w && hs__registry_on && hs__registry_lookup((uintptr_t)w, &b)) {
        block_val(&b, (uintptr_t)w, out);
        return;
    }
    memset(out, 0, sizeof(*out));
    struct hs_globals *g = w ? hs__inspect_globals(ix) : NULL;
    if (g && (sym = hs__globals_at(g, (uintptr_t)w, &start, &size)) != NULL) {
        out->kind = HS_VAL_GLOBAL;
        out->addr = (uintptr_t)w;
        out->base = start;
        out->size = size;
        return;
    }
    out->kind = HS_VAL_NUM;
    out->num = w;
}

int hs__val_of_id(uint32_t id, hs_val *out)
{
    hs_block b;
    if (!hs__registry_on || !hs__registry_find_id(id, &b))
        return 0;
    block_val(&b, b.addr, out);
    return 1;
}

int hs__val_of_global(hs_inspect *ix, uintptr_t addr, uint64_t size, hs_val *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (size > 8) {
        out->kind = HS_VAL_GLOBAL;
        out->addr = out->base = addr;
        out->size = size;
        return 0;
    }
    uint64_t w = 0;
    if (hs__mem_read(addr, &w, (size_t)size) != (ssize_t)size) {
        snprintf(err, errlen, "Error: cannot read %" PRIu64 " bytes at 0x%" PRIxPTR, size, addr);
        return -1;
    }
    if (size == 8)
        hs__val_of_word(ix, w, out);
    else {
        out->kind = HS_VAL_NUM;
        out->num = w;
    }
    return 0;
}

bool hs__val_live(hs_val *v)
{
    if (v->kind != HS_VAL_BLOCK)
        return true;
    hs_block b;
    if (!hs__registry_on || !hs__registry_lookup(v->base, &b) || b.addr != v->base || b.id != v->id)
        return false;
    v->size = b.size; /* a realloc in place keeps the block */
    return true;
}

/* ---- shapes -------------------------------------------------------------------- */

static json_t *number(uint64_t w)
{
    char d[32];
    /* Exact below 2^53; pointer-like words read better in hex. */
    if (w < (1ull << 32))
        snprintf(d, sizeof(d), "%" PRIu64, w);
    else
        snprintf(d, sizeof(d), "0x%" PRIx64, w);
    return json_pack("{ss sf ss}", "type", "number", "value", (double)w, "description", d);
}

static void place_names(hs_inspect *ix, const hs_val *v, char *cls, size_t cn, char *desc,
                        size_t dn)
{
    uintptr_t off = v->addr - v->base;
    char at[48] = "";
    if (off)
        snprintf(at, sizeof(at), " +%" PRIuPTR, off);
    switch (v->kind) {
    case HS_VAL_BLOCK:
        snprintf(cls, cn, "%s", hs__snapshot_site_name(v->site));
        snprintf(desc, dn, "%s @ 0x%" PRIxPTR "%s (%" PRIu64 " bytes)", cls, v->base, at, v->size);
        break;
    case HS_VAL_GLOBAL: {
        uintptr_t start;
        uint64_t size;
        struct hs_globals *g = hs__inspect_globals(ix);
        const char *sym = g ? hs__globals_at(g, v->base, &start, &size) : NULL;
        snprintf(cls, cn, "%s", sym ? sym : "(global)");
        snprintf(desc, dn, "&%s%s @ 0x%" PRIxPTR " (%" PRIu64 " bytes)", cls, at, v->addr, v->size);
        break;
    }
    default: /* HS_VAL_PROCESS */
        snprintf(cls, cn, "global");
        snprintf(desc, dn, "global (process %d)", (int)getpid());
        break;
    }
}

json_t *hs__val_remote(hs_inspect *ix, hs_cdp_session *s, const char *group, const hs_val *v,
                       const char **msg)
{
    if (v->kind == HS_VAL_NONE)
        return json_pack("{ss}", "type", "undefined");
    if (v->kind == HS_VAL_NUM)
        return number(v->num);
    char cls[512], desc[700], id[64];
    place_names(ix, v, cls, sizeof(cls), desc, sizeof(desc));
    if (hs__objects_add(s, group, v, id, msg) < 0)
        return NULL;
    return json_pack("{ss ss ss ss}", "type", "object", "className", cls, "description", desc,
                     "objectId", id);
}

static int add_prop(json_t *list, const char *name, json_t *value, bool internal)
{
    if (!value)
        return -1;
    json_t *p = internal ? json_pack("{ss so}", "name", name, "value", value)
                         : json_pack("{ss so sb sb sb sb}", "name", name, "value", value,
                                     "writable", 0, "configurable", 0, "enumerable", 1, "isOwn", 1);
    return p ? json_array_append_new(list, p) : -1;
}

static json_t *string(const char *s)
{
    return json_pack("{ss ss}", "type", "string", "value", s);
}

/* "48 65 6c 6c 6f 00 |Hello.|" */
static void preview(const unsigned char *b, size_t n, char *out, size_t size)
{
    size_t k = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && k + 4 < size; i++)
        k += (size_t)snprintf(out + k, size - k, "%02x ", b[i]);
    if (k + 1 < size)
        out[k++] = '|';
    for (size_t i = 0; i < n && k + 2 < size; i++)
        out[k++] = b[i] >= 0x20 && b[i] < 0x7f ? (char)b[i] : '.';
    if (k + 1 < size)
        out[k++] = '|';
    out[k < size ? k : size - 1] = '\0';
}

static json_t *process_props(hs_inspect *ix, hs_cdp_session *s, const char *group,
                             const char *const *temp_names, const hs_val *temps, size_t ntemps,
                             const char **msg)
{
    json_t *res = json_array();
    for (size_t i = 0; res && i < ntemps; i++)
        if (add_prop(res, temp_names[i], hs__val_remote(ix, s, group, &temps[i], msg), false) < 0)
            goto fail;
    struct hs_globals *g = hs__inspect_globals(ix);
    const char *name;
    uintptr_t addr;
    uint64_t size;
    for (size_t i = 0; res && g && i < GLOBALS_MAX && hs__globals_main(g, i, &name, &addr, &size);
         i++) {
        hs_val v;
        char err[128];
        uintptr_t start;
        uint64_t ssize;
        if (!hs__globals_at(g, addr, &start, &ssize))
            continue; /* not in writable data (__abi_tag, _IO_stdin_used) */
        json_t *val = hs__val_of_global(ix, addr, size, &v, err, sizeof(err)) == 0
                          ? hs__val_remote(ix, s, group, &v, msg)
                          : string(err);
        if (add_prop(res, name, val, false) < 0)
            goto fail;
    }
    return res;
fail:
    json_decref(res);
    return NULL;
}

json_t *hs__val_properties(hs_inspect *ix, hs_cdp_session *s, const char *group, hs_val *v,
                           const char *const *temp_names, const hs_val *temps, size_t ntemps,
                           const char **msg)
{
    *msg = "Internal error";
    if (v->kind == HS_VAL_PROCESS) {
        json_t *res = process_props(ix, s, group, temp_names, temps, ntemps, msg);
        return res ? json_pack("{so}", "result", res) : NULL;
    }
    if (v->kind == HS_VAL_NUM || v->kind == HS_VAL_NONE)
        return json_pack("{s[]}", "result");
    if (!hs__val_live(v)) {
        *msg = "Object is not available";
        return NULL;
    }
    /* A block shrunk in place since: nothing is left from an address past its end. */
    uint64_t left = v->addr - v->base < v->size ? v->size - (v->addr - v->base) : 0;
    size_t want = left > SHOW_MAX ? SHOW_MAX : (size_t)left;
    static unsigned char buf[SHOW_MAX];
    ssize_t got = hs__mem_read(v->addr, buf, want);
    if (got < 0) {
        static char err[96];
        snprintf(err, sizeof(err), "Cannot read memory at 0x%" PRIxPTR ": %s", v->addr,
                 strerror((int)-got));
        *msg = err;
        return NULL;
    }
    json_t *res = json_array(), *inl = json_array();
    char name[32], text[4 * PREVIEW_BYTES + 8];
    for (size_t off = 0; res && off < (size_t)got; off += 8) {
        uint64_t w = 0;
        size_t n = (size_t)got - off < 8 ? (size_t)got - off : 8;
        memcpy(&w, buf + off, n);
        hs_val wv;
        if (n == 8)
            hs__val_of_word(ix, w, &wv);
        else
            wv = (hs_val){.kind = HS_VAL_NUM, .num = w};
        snprintf(name, sizeof(name), "%zu", off);
        if (add_prop(res, name, hs__val_remote(ix, s, group, &wv, msg), false) < 0)
            goto fail;
    }
    snprintf(text, sizeof(text), "0x%" PRIxPTR, v->addr);
    int rc = add_prop(inl, "[[address]]", string(text), true);
    rc |= add_prop(inl, "[[size]]", number(v->size), true);
    if (v->kind == HS_VAL_BLOCK) {
        rc |= add_prop(inl, "[[site]]", string(hs__snapshot_site_name(v->site)), true);
        rc |= add_prop(inl, "[[heap snapshot id]]", number(v->id), true);
    }
    preview(buf, (size_t)got < PREVIEW_BYTES ? (size_t)got : PREVIEW_BYTES, text, sizeof(text));
    rc |= add_prop(inl, "[[bytes]]", string(text), true);
    if ((uint64_t)got < left) {
        if ((size_t)got < want)
            snprintf(text, sizeof(text),
                     "the first %zd of %" PRIu64 " bytes: the rest is unreadable", got, left);
        else
            snprintf(text, sizeof(text),
                     "the first %zd of %" PRIu64 " bytes: evaluate <this> + %zd for the rest", got,
                     left, got);
        rc |= add_prop(inl, "[[shown]]", string(text), true);
    }
    if (rc < 0)
        goto fail;
    return json_pack("{so so}", "result", res, "internalProperties", inl);
fail:
    json_decref(res);
    json_decref(inl);
    return NULL;
}
