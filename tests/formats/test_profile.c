/*
 * test_profile.c — the .heapprofile reader and its exports (src/formats/
 * profile.h): Node 20's recorded profiles, one of the agent's
 * (data/profile/agent-ls.heapprofile, `heapscope run --sample=512 -- ls /`)
 * and a legacy one (node-level names, 1-based lines, no ids nor samples);
 * malformed input with the exact error texts; every prefix and every bit flip
 * of the small files read without a crash and with an error that names the
 * file and a byte inside it. Run twice: as built, and from the sanitizer tree
 * (san-formats-profile: ASan, UBSan). Usage: test_profile GOLDEN_DIR DATA_DIR
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "profile.h"
#include "profile.pb-c.h"

static const char *golden_dir, *data_dir;

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static void read_path(const char *dir, const char *name, struct hs_profile *p)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (hs_profile_read_file(path, p, err, sizeof err) != 0)
        fail_msg("%s", err);
}

/* Structural invariants any profile read must hold. */
static void check_shape(const struct hs_profile *p)
{
    assert_true(p->node_count >= 1);
    assert_int_equal(p->nodes[0].parent, HS_PROFILE_NONE);
    assert_int_equal(p->nodes[0].end, p->node_count);
    for (uint32_t i = 0; i < p->node_count; i++) {
        const struct hs_profile_node *n = &p->nodes[i];
        assert_true(n->end > i && n->end <= p->node_count);
        if (i) {
            assert_true(n->parent < i);
            assert_true(n->end <= p->nodes[n->parent].end);
        }
        assert_true(n->function < p->strings_len && n->url < p->strings_len &&
                    n->script_id < p->strings_len);
        assert_true(n->line >= -1 && n->column >= -1);
    }
    for (uint32_t s = 0; s < p->sample_count; s++) {
        uint32_t k = p->samples[s].node;
        assert_true(k == HS_PROFILE_NONE || (k < p->node_count && p->samples[s].node_id != 0 &&
                                             p->nodes[k].id == p->samples[s].node_id));
    }
    assert_int_equal(p->strings[p->strings_len - 1], '\0');
}

static uint32_t resolved(const struct hs_profile *p)
{
    uint32_t n = 0;
    for (uint32_t s = 0; s < p->sample_count; s++)
        n += p->samples[s].node != HS_PROFILE_NONE;
    return n;
}

/* ---- good files ------------------------------------------------------------------------- */

static void golden(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint32_t nodes, samples, resolved;
        uint64_t total;
    } files[] = {
        {"sampling-getSamplingProfile.heapprofile", 5, 10, 9, 10304},
        {"sampling-stopSampling.heapprofile", 6, 10, 10, 15912},
        {"sampling-with-gc-flags.heapprofile", 9, 777, 777, 3284800},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct hs_profile p;
        read_path(golden_dir, files[i].name, &p);
        check_shape(&p);
        assert_int_equal(p.node_count, files[i].nodes);
        assert_int_equal(p.sample_count, files[i].samples);
        assert_int_equal(resolved(&p), files[i].resolved);
        assert_int_equal(hs_profile_total(&p), files[i].total);
        assert_true(p.has_samples);
        assert_string_equal(hs_profile_name(&p, 0), "(root)");
        assert_int_equal(p.nodes[0].id, 1);
        assert_int_equal(p.nodes[0].line, -1);
        hs_profile_free(&p);
    }
    /* stopSampling: (root) > (EXTERNAL) 5608, processTimers node:internal/timers 503:24 ... */
    struct hs_profile p;
    read_path(golden_dir, "sampling-stopSampling.heapprofile", &p);
    assert_string_equal(hs_profile_name(&p, 1), "(EXTERNAL)");
    assert_int_equal(p.nodes[1].self_size, 5608);
    assert_int_equal(p.nodes[1].id, 29);
    assert_string_equal(hs_profile_name(&p, 2), "processTimers");
    assert_string_equal(hs_profile_str(&p, p.nodes[2].url), "node:internal/timers");
    assert_string_equal(hs_profile_str(&p, p.nodes[2].script_id), "13");
    assert_int_equal(p.nodes[2].line, 503);
    assert_int_equal(p.nodes[2].column, 24);
    assert_int_equal(p.nodes[2].end, 6);
    hs_profile_free(&p);
}

static void agent(void **state)
{
    (void)state;
    struct hs_profile p;
    read_path(data_dir, "agent-ls.heapprofile", &p);
    check_shape(&p);
    assert_int_equal(p.node_count, 8);
    assert_int_equal(hs_profile_total(&p), 624);
    assert_int_equal(p.sample_count, 1);
    assert_int_equal(resolved(&p), 1);
    assert_string_equal(hs_profile_name(&p, 1), "ls+0x61f0");
    assert_string_equal(hs_profile_str(&p, p.nodes[1].url), "/usr/bin/ls");
    hs_profile_free(&p);
}

static void legacy(void **state)
{
    (void)state;
    struct hs_profile p;
    read_path(data_dir, "legacy.heapprofile", &p);
    check_shape(&p);
    assert_int_equal(p.node_count, 4);
    assert_false(p.has_samples);
    assert_int_equal(p.sample_count, 0);
    assert_int_equal(hs_profile_total(&p), 148);
    assert_string_equal(hs_profile_name(&p, 1), "main");
    assert_int_equal(p.nodes[1].line, 2); /* 1-based 3 */
    assert_int_equal(p.nodes[1].column, 4);
    assert_int_equal(p.nodes[1].id, 0);
    assert_string_equal(hs_profile_name(&p, 2), "(anonymous)");
    assert_int_equal(p.nodes[2].parent, 1);
    assert_int_equal(p.nodes[0].line, -1); /* 0: unknown */
    assert_int_equal(p.nodes[3].parent, 0);
    /* Strings are kept once: main.js's url is one offset. */
    assert_int_equal(p.nodes[1].url, p.nodes[2].url);
    hs_profile_free(&p);
}

/* A call tree 200000 levels deep: no recursion anywhere in the reader. */
static void deep(void **state)
{
    (void)state;
    enum { DEPTH = 200000 };
    static const char open_node[] = "{\"callFrame\":{\"functionName\":\"f\"},\"selfSize\":1,"
                                    "\"children\":[";
    size_t cap = 16 + DEPTH * (sizeof open_node + 2), len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)sprintf(text, "{\"head\":");
    for (int i = 0; i < DEPTH; i++) {
        memcpy(text + len, open_node, sizeof open_node - 1);
        len += sizeof open_node - 1;
    }
    for (int i = 0; i < DEPTH; i++) {
        memcpy(text + len, "]}", 2);
        len += 2;
    }
    text[len++] = '}';
    struct hs_profile p;
    char err[256];
    if (hs_profile_read_mem("deep", text, len, &p, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(p.node_count, DEPTH);
    assert_int_equal(hs_profile_total(&p), DEPTH);
    for (uint32_t i = 1; i < p.node_count; i++)
        assert_int_equal(p.nodes[i].parent, i - 1);
    check_shape(&p);
    hs_profile_free(&p);
    /* Cut anywhere, it is an error, never a crash. */
    assert_int_equal(hs_profile_read_mem("deep", text, len / 2, &p, err, sizeof err), -1);
    free(text);
}

/* ---- bad input: exact errors ------------------------------------------------------------ */

static void errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"", "t: byte 0: expected a .heapprofile, found nothing"},
        {"   ", "t: byte 3: expected a .heapprofile, found nothing"},
        {"[]", "t: byte 1: expected an object (a .heapprofile), found an array"},
        {"{}", "t: byte 2: expected head in the profile"},
        {"{\"head\":", "t: byte 8: expected more JSON, found the end of the file (truncated?)"},
        {"{\"head\":{\"selfSize\":1,\"callFrame\":{}}",
         "t: byte 37: expected more JSON, found the end of the file (truncated?)"},
        {"{\"head\" 1}", "t: byte 9: expected JSON: object key and value must be separated by "
                         "a colon (':')"},
        {"{\"head\":[]}", "t: byte 9: expected an object for head, found an array"},
        {"{\"head\":{\"selfSize\":1}}",
         "t: byte 22: expected callFrame (or functionName) in the node"},
        {"{\"head\":{\"callFrame\":{}}}", "t: byte 24: expected selfSize in the node"},
        {"{\"head\":{\"callFrame\":{},\"selfSize\":-1}}",
         "t: byte 37: expected a non-negative integer for selfSize, found -1"},
        {"{\"head\":{\"callFrame\":{},\"selfSize\":1.5}}",
         "t: byte 38: expected a non-negative integer for selfSize, found 1.5"},
        {"{\"head\":{\"callFrame\":{\"functionName\":7},\"selfSize\":1}}",
         "t: byte 38: expected a string for functionName, found a number"},
        {"{\"head\":{\"callFrame\":{\"lineNumber\":-2},\"selfSize\":1}}",
         "t: byte 37: expected an integer of at least -1 for lineNumber, found -2"},
        {"{\"head\":{\"callFrame\":{},\"selfSize\":1,\"children\":[1]}}",
         "t: byte 50: expected a node object in children, found a number"},
        {"{\"head\":{\"callFrame\":{},\"selfSize\":1,\"children\":{}}}",
         "t: byte 49: expected an array for children, found an object"},
        {"{\"head\":{\"callFrame\":{},\"selfSize\":1},\"head\":{}}",
         "t: byte 46: expected one head, found a second"},
        {"{\"head\":{\"callFrame\":{},\"selfSize\":1},\"samples\":[{\"size\":8}]}",
         "t: byte 59: expected nodeId in the sample"},
        {"{\"head\":{\"callFrame\":{},\"selfSize\":1},\"samples\":[3]}",
         "t: byte 50: expected a sample object in samples, found a number"},
        {"{\"head\":{\"callFrame\":{},\"selfSize\":1}} x",
         "t: byte 40: expected JSON: trailing garbage"},
        {"{\"head\":{\"callFrame\":{\"url\":\"\\u00\"},\"selfSize\":1}}",
         "t: byte 33: expected JSON: invalid (non-hex) character occurs after '\\u' inside "
         "string."},
    };
    int wrong = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hs_profile p;
        char err[512];
        int rc =
            hs_profile_read_mem("t", cases[i].text, strlen(cases[i].text), &p, err, sizeof err);
        if (rc != -1 || strcmp(err, cases[i].err) != 0) {
            print_error("case %zu (%s): rc %d, error '%s', expected '%s'\n", i, cases[i].text, rc,
                        err, cases[i].err);
            wrong++;
        }
        assert_null(p.nodes);
        assert_null(p.strings);
    }
    assert_int_equal(wrong, 0);
    /* Unknown keys are skipped whatever their shape; scriptId may be a number. */
    const char *ok = "{\"x\":[{\"head\":1}],\"head\":{\"callFrame\":{\"scriptId\":5,\"more\":{}},"
                     "\"selfSize\":3,\"extra\":[[{}]],\"children\":[]},\"samples\":[]}";
    struct hs_profile p;
    char err[512];
    assert_int_equal(hs_profile_read_mem("t", ok, strlen(ok), &p, err, sizeof err), 0);
    assert_int_equal(p.node_count, 1);
    assert_string_equal(hs_profile_str(&p, p.nodes[0].script_id), "5");
    assert_string_equal(hs_profile_name(&p, 0), "(anonymous)");
    hs_profile_free(&p);
    assert_int_equal(hs_profile_read_file("/nonexistent/x.heapprofile", &p, err, sizeof err), -1);
    assert_string_equal(err, "/nonexistent/x.heapprofile: No such file or directory");
}

/* ---- every prefix, every bit flipped ---------------------------------------------------- */

static void check_error(const char *err, size_t len)
{
    unsigned long long at;
    if (sscanf(err, "f: byte %llu: expected ", &at) != 1 || at > len)
        fail_msg("bad error text '%s' (%zu bytes)", err, len);
}

static void mangled(const char *dir, const char *name)
{
    size_t len;
    char *text = slurp(dir, name, &len);
    size_t end = len;
    while (end && text[end - 1] != '}')
        end--;
    char *buf = malloc(len);
    assert_non_null(buf);
    struct hs_profile p;
    char err[512];
    for (size_t n = 0; n <= len; n++) {
        char *pre = malloc(n ? n : 1); /* exactly n bytes: reading past them is caught */
        assert_non_null(pre);
        memcpy(pre, text, n);
        int rc = hs_profile_read_mem("f", pre, n, &p, err, sizeof err);
        free(pre);
        if (n < end) {
            if (rc != -1)
                fail_msg("%s: the first %zu bytes read as a profile", name, n);
            check_error(err, n);
        } else {
            if (rc != 0)
                fail_msg("%s: %zu bytes: %s", name, n, err);
            check_shape(&p);
            hs_profile_free(&p);
        }
    }
    unsigned long ok = 0, bad = 0;
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, text, len);
            buf[i] ^= (char)(1 << bit);
            if (hs_profile_read_mem("f", buf, len, &p, err, sizeof err) == 0) {
                check_shape(&p);
                hs_profile_free(&p);
                ok++;
            } else {
                check_error(err, len);
                bad++;
            }
        }
    }
    /* Most flips break the file; some (in names, digits) do not. */
    assert_true(bad > ok && ok > 0);
    free(buf);
    free(text);
}

static void prefixes_and_flips(void **state)
{
    (void)state;
    mangled(data_dir, "agent-ls.heapprofile");
    mangled(data_dir, "legacy.heapprofile");
    mangled(golden_dir, "sampling-stopSampling.heapprofile");
}

/* ---- exports ---------------------------------------------------------------------------- */

static char *export(const struct hs_profile *p, int which, size_t *len)
{
    char *buf = NULL, err[256];
    FILE *f = open_memstream(&buf, len);
    assert_non_null(f);
    int rc = which == 0   ? hs_profile_write_pprof(p, f, err, sizeof err)
             : which == 1 ? hs_profile_write_collapsed(p, f, err, sizeof err)
                          : hs_profile_write_html(p, "t <&>", f, err, sizeof err);
    assert_int_equal(rc, 0);
    fclose(f);
    return buf;
}

static void collapsed(void **state)
{
    (void)state;
    struct hs_profile p;
    read_path(data_dir, "legacy.heapprofile", &p);
    size_t len;
    char *text = export(&p, 1, &len);
    assert_string_equal(text, "(root);main (file:///app/main.js:3) 100\n"
                              "(root);main (file:///app/main.js:3);(anonymous) "
                              "(file:///app/main.js:10) 40\n"
                              "(root);(GC) 8\n");
    free(text);
    hs_profile_free(&p);
    /* ';' and line breaks in names do not split frames or lines. */
    const char *odd = "{\"head\":{\"callFrame\":{\"functionName\":\"a;b\\nc\"},\"selfSize\":2}}";
    char err[256];
    assert_int_equal(hs_profile_read_mem("t", odd, strlen(odd), &p, err, sizeof err), 0);
    text = export(&p, 1, &len);
    assert_string_equal(text, "a:b c 2\n");
    free(text);
    hs_profile_free(&p);
}

static void pprof(void **state)
{
    (void)state;
    struct hs_profile p;
    read_path(golden_dir, "sampling-getSamplingProfile.heapprofile", &p);
    size_t len;
    char *gz = export(&p, 0, &len);
    assert_true(len > 18 && (unsigned char)gz[0] == 0x1f && (unsigned char)gz[1] == 0x8b);
    /* gunzip, unpack, and add up. */
    uLongf cap = 1 << 20;
    unsigned char *raw = malloc(cap);
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz;
    z.avail_in = (uInt)len;
    z.next_out = raw;
    z.avail_out = (uInt)cap;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    HsPprof__Profile *prof = hs_pprof__profile__unpack(NULL, z.total_out, raw);
    inflateEnd(&z);
    assert_non_null(prof);
    assert_int_equal(prof->n_sample_type, 2);
    assert_string_equal(prof->string_table[prof->sample_type[0]->type], "objects");
    assert_string_equal(prof->string_table[prof->sample_type[0]->unit], "count");
    assert_string_equal(prof->string_table[prof->sample_type[1]->type], "space");
    assert_string_equal(prof->string_table[prof->sample_type[1]->unit], "bytes");
    assert_string_equal(prof->string_table[prof->default_sample_type], "space");
    assert_string_equal(prof->string_table[0], "");
    int64_t space = 0, objects = 0;
    for (size_t i = 0; i < prof->n_sample; i++) {
        assert_int_equal(prof->sample[i]->n_value, 2);
        objects += prof->sample[i]->value[0];
        space += prof->sample[i]->value[1];
        /* Leaf first: the first location is the node that allocated. */
        assert_true(prof->sample[i]->n_location_id >= 1);
    }
    assert_int_equal(space, 10304);
    assert_int_equal(objects, 9); /* the 10th sample's node is not in the tree */
    assert_int_equal(prof->n_location, p.node_count);
    /* allocateBatch at target.js, 0-based line 4 (function start) -> 5. */
    bool found = false;
    for (size_t i = 0; i < prof->n_function; i++) {
        HsPprof__Function *fn = prof->function[i];
        if (!strcmp(prof->string_table[fn->name], "allocateBatch")) {
            found = true;
            assert_string_equal(prof->string_table[fn->filename], "/scratch/v8/target.js");
            assert_int_equal(fn->start_line, 5);
        }
    }
    assert_true(found);
    hs_pprof__profile__free_unpacked(prof, NULL);
    free(raw);
    free(gz);
    hs_profile_free(&p);
}

static void html(void **state)
{
    (void)state;
    const char *odd =
        "{\"head\":{\"callFrame\":{\"functionName\":\"</script><b>\"},\"selfSize\":2}}";
    struct hs_profile p;
    char err[256];
    assert_int_equal(hs_profile_read_mem("t", odd, strlen(odd), &p, err, sizeof err), 0);
    size_t len;
    char *text = export(&p, 2, &len);
    assert_non_null(strstr(text, "<title>t &lt;&amp;&gt;</title>"));
    assert_non_null(strstr(text, "\"\\u003c/script\\u003e\\u003cb\\u003e\""));
    assert_non_null(strstr(text, "\"nodes\":[[-1,1,0,-1,2,2]]"));
    /* No external asset: nothing is fetched from anywhere. */
    assert_null(strstr(text, "http://"));
    assert_null(strstr(text, "https://"));
    assert_null(strstr(text, " src="));
    free(text);
    hs_profile_free(&p);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s GOLDEN_DIR DATA_DIR\n", argv[0]);
        return 2;
    }
    golden_dir = argv[1];
    data_dir = argv[2];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden), cmocka_unit_test(agent),  cmocka_unit_test(legacy),
        cmocka_unit_test(deep),   cmocka_unit_test(errors), cmocka_unit_test(collapsed),
        cmocka_unit_test(pprof),  cmocka_unit_test(html),   cmocka_unit_test(prefixes_and_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
