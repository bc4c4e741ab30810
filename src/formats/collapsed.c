/*
 * collapsed.c — a profile (profile.h) as collapsed stacks, the text
 * flamegraph.pl and speedscope read: one line per node with a self size,
 * its frames from the root joined by ';', a space, the bytes.
 */
#include "profile.h"

#include <stdlib.h>

/* A frame's name: ';' would split it and a line break end the line. */
static void put_clean(const char *s, FILE *f)
{
    for (; *s; s++)
        putc(*s == ';' ? ':' : *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

static void put_frame(const struct hs_profile *p, uint32_t i, FILE *f)
{
    const struct hs_profile_node *nd = &p->nodes[i];
    put_clean(hs_profile_name(p, i), f);
    const char *url = hs_profile_str(p, nd->url);
    if (*url) {
        fputs(" (", f);
        put_clean(url, f);
        if (nd->line >= 0)
            fprintf(f, ":%ld", (long)nd->line + 1);
        putc(')', f);
    }
}

int hs_profile_write_collapsed(const struct hs_profile *p, FILE *f, char *err, size_t err_size)
{
    uint32_t *path = malloc((p->node_count ? p->node_count : 1) * sizeof *path);
    if (!path) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < p->node_count; i++) {
        if (!p->nodes[i].self_size)
            continue;
        uint32_t d = 0;
        for (uint32_t k = i; k != HS_PROFILE_NONE; k = p->nodes[k].parent)
            path[d++] = k;
        while (d--) {
            put_frame(p, path[d], f);
            putc(d ? ';' : ' ', f);
        }
        fprintf(f, "%llu\n", (unsigned long long)p->nodes[i].self_size);
    }
    free(path);
    if (ferror(f)) {
        snprintf(err, err_size, "write failed");
        return -1;
    }
    return 0;
}
