/*
 * flame_html.c — a profile (profile.h) as one self-contained HTML file: the
 * data as inline JSON ({"strings": [...], "nodes": [[parent, name, url, line,
 * self, total], ...]} in preorder, strings by index) and a small inline
 * script that draws an icicle graph of absolutely placed div.frame boxes
 * (width from the subtree's bytes, a tooltip each, click to zoom, Escape or
 * the root to zoom out). No network, no external asset. Once drawn, body's
 * data-frames says how many boxes there are (data-error: a script error).
 */
#include "profile.h"

#include <stdlib.h>
#include <string.h>

/* s as a JSON string that is also safe inside <script>. */
static void put_json_string(const char *s, FILE *f)
{
    putc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c < 0x20 || *c == '<' || *c == '>' || *c == '&')
            fprintf(f, "\\u%04x", *c);
        else
            putc(*c, f);
    }
    putc('"', f);
}

static void put_html_text(const char *s, FILE *f)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            putc(*s, f);
    }
}

static uint32_t str_index(const uint32_t *offs, uint32_t n, uint32_t off)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (offs[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const char page_head[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
    "script-src 'unsafe-inline'; style-src 'unsafe-inline'\">\n<title>";

static const char page_style[] =
    "</title>\n<style>\n"
    "body{font:12px sans-serif;margin:8px;background:#fff;color:#222}\n"
    "h1{font-size:15px;margin:0 0 4px}\n#info{margin:0 0 8px;color:#555}\n"
    "#graph{position:relative;width:100%}\n"
    ".frame{position:absolute;height:17px;box-sizing:border-box;border:1px solid #fff;"
    "overflow:hidden;white-space:nowrap;text-overflow:ellipsis;padding:0 3px;"
    "line-height:15px;cursor:pointer}\n"
    ".frame:hover{border-color:#000}\n.ancestor{opacity:.55}\n"
    "</style></head>\n<body>\n<h1>";

static const char page_script[] =
    "<script>\n"
    "'use strict';\n"
    "window.addEventListener('error', e => { document.body.dataset.error = String(e.message); "
    "});\n"
    "(function () {\n"
    "  const D = JSON.parse(document.getElementById('data').textContent);\n"
    "  const S = D.strings, N = D.nodes;\n"
    "  const kids = N.map(() => []);\n"
    "  N.forEach((n, i) => { if (n[0] >= 0) kids[n[0]].push(i); });\n"
    "  const graph = document.getElementById('graph');\n"
    "  const total = N.length ? N[0][5] : 0;\n"
    "  const fmt = b => b < 1024 ? b + ' B' : b < 1048576 ? (b / 1024).toFixed(1) + ' KiB' :\n"
    "    (b / 1048576).toFixed(1) + ' MiB';\n"
    "  const label = i => {\n"
    "    const n = N[i];\n"
    "    let s = S[n[1]] || '(anonymous)';\n"
    "    if (S[n[2]]) s += ' (' + S[n[2]] + (n[3] >= 0 ? ':' + (n[3] + 1) : '') + ')';\n"
    "    return s;\n"
    "  };\n"
    "  const hue = s => { let h = 0; for (const c of s) h = (h * 31 + c.charCodeAt(0)) >>> 0;\n"
    "    return h; };\n"
    "  document.getElementById('info').textContent = 'total ' + fmt(total) + ' (' + total +\n"
    "    ' bytes) in ' + N.length + ' nodes; click a frame to zoom, Escape to zoom out';\n"
    "  let zoom = 0;\n"
    "  function box(i, x, w, row, anc) {\n"
    "    const n = N[i], d = document.createElement('div');\n"
    "    d.className = anc ? 'frame ancestor' : 'frame';\n"
    "    d.style.left = x + 'px';\n"
    "    d.style.width = Math.max(w, 0.5) + 'px';\n"
    "    d.style.top = row * 18 + 'px';\n"
    "    const h = hue(S[n[1]] || '');\n"
    "    d.style.background = 'hsl(' + (h % 50 + 5) + ',' + (h % 30 + 60) + '%,' +\n"
    "      (h % 20 + 60) + '%)';\n"
    "    const pct = total ? (100 * n[5] / total).toFixed(2) : '0';\n"
    "    d.title = label(i) + '\\nself: ' + fmt(n[4]) + ' (' + n[4] + ' bytes)\\ntotal: ' +\n"
    "      fmt(n[5]) + ' (' + n[5] + ' bytes, ' + pct + '%)';\n"
    "    if (w > 30) d.textContent = label(i);\n"
    "    d.addEventListener('click', () => { zoom = i; draw(); });\n"
    "    graph.appendChild(d);\n"
    "  }\n"
    "  function draw() {\n"
    "    graph.textContent = '';\n"
    "    const W = graph.clientWidth || 1000;\n"
    "    let row = 0, count = 0, rows = 1;\n"
    "    const anc = [];\n"
    "    for (let k = N.length ? N[zoom][0] : -1; k >= 0; k = N[k][0]) anc.unshift(k);\n"
    "    for (const a of anc) box(a, 0, W, row++, true);\n"
    "    const todo = N.length ? [[zoom, 0, W, row]] : [];\n"
    "    while (todo.length) {\n"
    "      const [i, x, w, r] = todo.pop();\n"
    "      if (!N[i][5]) continue;\n"
    "      box(i, x, w, r, false);\n"
    "      count++;\n"
    "      rows = Math.max(rows, r + 1);\n"
    "      let cx = x;\n"
    "      for (const c of kids[i]) {\n"
    "        const cw = w * N[c][5] / N[i][5];\n"
    "        todo.push([c, cx, cw, r + 1]);\n"
    "        cx += cw;\n"
    "      }\n"
    "    }\n"
    "    graph.style.height = rows * 18 + 'px';\n"
    "    document.body.dataset.frames = String(count);\n"
    "  }\n"
    "  document.addEventListener('keydown', e => { if (e.key === 'Escape') { zoom = 0; "
    "draw(); } });\n"
    "  window.addEventListener('resize', draw);\n"
    "  draw();\n"
    "})();\n"
    "</script>\n</body></html>\n";

int hs_profile_write_html(const struct hs_profile *p, const char *title, FILE *f, char *err,
                          size_t err_size)
{
    uint32_t n = p->node_count, nstr = 0;
    for (size_t o = 0; o < p->strings_len; o += strlen(p->strings + o) + 1)
        nstr++;
    uint32_t *offs = malloc((nstr ? nstr : 1) * sizeof *offs);
    uint64_t *total = malloc((n ? n : 1) * sizeof *total);
    if (!offs || !total) {
        free(offs);
        free(total);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    nstr = 0;
    for (size_t o = 0; o < p->strings_len; o += strlen(p->strings + o) + 1)
        offs[nstr++] = (uint32_t)o;
    for (uint32_t i = 0; i < n; i++)
        total[i] = p->nodes[i].self_size;
    for (uint32_t i = n; i-- > 0;)
        if (p->nodes[i].parent != HS_PROFILE_NONE)
            total[p->nodes[i].parent] += total[i];

    fputs(page_head, f);
    put_html_text(title, f);
    fputs(page_style, f);
    put_html_text(title, f);
    fputs("</h1>\n<p id=\"info\"></p>\n<div id=\"graph\"></div>\n"
          "<script type=\"application/json\" id=\"data\">{\"strings\":[",
          f);
    for (uint32_t s = 0; s < nstr; s++) {
        if (s)
            putc(',', f);
        put_json_string(p->strings + offs[s], f);
    }
    fputs("],\n\"nodes\":[", f);
    for (uint32_t i = 0; i < n; i++) {
        const struct hs_profile_node *nd = &p->nodes[i];
        fprintf(f, "%s[%lld,%u,%u,%ld,%llu,%llu]", i ? ",\n" : "",
                nd->parent == HS_PROFILE_NONE ? -1LL : (long long)nd->parent,
                str_index(offs, nstr, nd->function), str_index(offs, nstr, nd->url), (long)nd->line,
                (unsigned long long)nd->self_size, (unsigned long long)total[i]);
    }
    fputs("]}</script>\n", f);
    fputs(page_script, f);
    free(offs);
    free(total);
    if (ferror(f)) {
        snprintf(err, err_size, "write failed");
        return -1;
    }
    return 0;
}
