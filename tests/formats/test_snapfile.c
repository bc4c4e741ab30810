/*
 * test_snapfile.c — the streaming snapshot reader (src/formats/snap_read.c)
 * against an independent reading of the same files by jansson: V8's golden
 * snapshot (7 fields, trace tree, samples), one from our agent (6 fields),
 * hand-written ones with reordered and extra fields; every prefix and every
 * single-byte change of a small file (an error or a result, never a crash —
 * also built with AddressSanitizer), and each error's exact text.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "snapfile.h"

/* A small file with every section: 3 nodes, 3 edges, 2 trace functions. */
static const char SMALL[] =
    "{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"id\",\"self_size\","
    "\"edge_count\",\"trace_node_id\",\"detachedness\"],\"node_types\":[[\"hidden\",\"object\","
    "\"synthetic\"],\"string\",\"number\",\"number\",\"number\",\"number\",\"number\"],"
    "\"edge_fields\":[\"type\",\"name_or_index\",\"to_node\"],\"edge_types\":[[\"context\","
    "\"element\",\"property\",\"internal\",\"hidden\",\"shortcut\",\"weak\"],\"string_or_number\","
    "\"node\"],\"trace_function_info_fields\":[\"function_id\",\"name\",\"script_name\","
    "\"script_id\",\"line\",\"column\"],\"trace_node_fields\":[\"id\",\"function_info_index\","
    "\"count\",\"size\",\"children\"],\"sample_fields\":[\"timestamp_us\",\"last_assigned_id\"],"
    "\"location_fields\":[\"object_index\",\"script_id\",\"line\",\"column\"]},"
    "\"node_count\":3,\"edge_count\":3,\"trace_function_count\":2,\"extra_native_bytes\":77},\n"
    "\"nodes\":[2,1,1,0,2,0,0\n,1,2,3,32,1,2,1\n,1,3,5,16,0,3,2],\n"
    "\"edges\":[1,1,7\n,2,4,14\n,4,0,14],\n"
    "\"trace_function_infos\":[0,1,0,0,0,0,1,2,3,4,5,6],\n"
    "\"trace_tree\":[1,0,2,48,[2,1,1,32,[],3,1,1,16,[]]],\n"
    "\"samples\":[100,3,200,5],\n"
    "\"locations\":[7,4,10,2],\n"
    "\"strings\":[\"<dummy>\",\n\"root\",\n\"Foo\",\n\"Bar\",\n\"prop\"]}";

/* 6 fields in another order, an unknown field, edge fields reordered, and
 * unknown keys everywhere (skipped). */
static const char REORDERED[] =
    "{\"title\":\"x\",\"snapshot\":{\"uid\":3,\"meta\":{\"node_fields\":[\"id\",\"edge_count\","
    "\"extra\",\"name\",\"self_size\",\"type\"],\"odd\":{\"a\":[1,{\"b\":null}]},"
    "\"node_types\":[[\"hidden\",\"object\",\"synthetic\"],true],\"edge_fields\":[\"to_node\","
    "\"type\",\"name_or_index\"],\"edge_types\":[[\"element\",\"property\"]]},"
    "\"node_count\":2,\"edge_count\":2,\"root_index\":6},"
    "\"other\":[[1],{\"x\":2}],"
    "\"nodes\":[1,2,99,1,0,2,3,0,99,2,100,1],"
    "\"edges\":[6,0,5,6,1,2],"
    "\"strings\":[\"<dummy>\",\"a\",\"b\\u00e9\\n\"]}";

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return p;
}

static int field_index(json_t *fields, const char *name)
{
    for (size_t i = 0; i < json_array_size(fields); i++)
        if (strcmp(json_string_value(json_array_get(fields, i)), name) == 0)
            return (int)i;
    return -1;
}

static uint64_t num(json_t *a, size_t i)
{
    json_t *v = json_array_get(a, i);
    assert_true(json_is_integer(v));
    return (uint64_t)json_integer_value(v);
}

/* trace_tree flattened in preorder, by recursion (the reader has none). */
static void flatten(json_t *list, uint32_t parent, const hs_snapfile *s, uint32_t *k)
{
    assert_int_equal(json_array_size(list) % 5, 0);
    for (size_t i = 0; i < json_array_size(list); i += 5) {
        uint32_t me = (*k)++;
        assert_true(me < s->trace_node_total);
        assert_int_equal(s->trace_node_ids[me], num(list, i));
        assert_int_equal(s->trace_node_func[me], num(list, i + 1));
        assert_int_equal(s->trace_node_count[me], num(list, i + 2));
        assert_int_equal(s->trace_node_size[me], num(list, i + 3));
        assert_int_equal(s->trace_node_parent[me], parent);
        flatten(json_array_get(list, i + 4), me, s, k);
    }
}

/* Everything the reader gave, against jansson's reading of the same text. */
static void check_same(const hs_snapfile *s, const char *text, size_t len)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    assert_non_null(root);
    json_t *snap = json_object_get(root, "snapshot"), *meta = json_object_get(snap, "meta");
    json_t *nfields = json_object_get(meta, "node_fields");
    json_t *efields = json_object_get(meta, "edge_fields");
    size_t nf = json_array_size(nfields), ef = json_array_size(efields);
    json_t *nodes = json_object_get(root, "nodes"), *edges = json_object_get(root, "edges");
    json_t *strings = json_object_get(root, "strings");

    assert_int_equal(s->node_count, json_integer_value(json_object_get(snap, "node_count")));
    assert_int_equal(s->edge_count, json_integer_value(json_object_get(snap, "edge_count")));
    assert_int_equal(json_array_size(nodes), s->node_count * nf);
    assert_int_equal(json_array_size(edges), s->edge_count * ef);

    json_t *ntypes = json_array_get(json_object_get(meta, "node_types"), 0);
    json_t *etypes = json_array_get(json_object_get(meta, "edge_types"), 0);
    assert_int_equal(s->node_type_count, json_array_size(ntypes));
    assert_int_equal(s->edge_type_count, json_array_size(etypes));
    for (uint32_t i = 0; i < s->node_type_count; i++) {
        assert_string_equal(s->node_type_names[i], json_string_value(json_array_get(ntypes, i)));
        assert_int_equal(hs_snapfile_node_type(s, s->node_type_names[i]), i);
    }
    for (uint32_t i = 0; i < s->edge_type_count; i++) {
        assert_string_equal(s->edge_type_names[i], json_string_value(json_array_get(etypes, i)));
        assert_int_equal(hs_snapfile_edge_type(s, s->edge_type_names[i]), i);
    }
    assert_int_equal(hs_snapfile_node_type(s, "no such type"), -1);

    int ft = field_index(nfields, "type"), fn = field_index(nfields, "name"),
        fi = field_index(nfields, "id"), fs = field_index(nfields, "self_size"),
        fe = field_index(nfields, "edge_count"), ftr = field_index(nfields, "trace_node_id"),
        fd = field_index(nfields, "detachedness");
    assert_int_equal(s->node_trace != NULL, ftr >= 0);
    assert_int_equal(s->node_det != NULL, fd >= 0);
    uint64_t e = 0;
    for (uint32_t i = 0; i < s->node_count; i++) {
        size_t b = (size_t)i * nf;
        assert_int_equal(s->node_type[i], num(nodes, b + (size_t)ft));
        assert_int_equal(s->node_name[i], num(nodes, b + (size_t)fn));
        assert_int_equal(s->node_id[i], num(nodes, b + (size_t)fi));
        assert_int_equal(s->node_self[i], num(nodes, b + (size_t)fs));
        if (ftr >= 0)
            assert_int_equal(s->node_trace[i], num(nodes, b + (size_t)ftr));
        if (fd >= 0)
            assert_int_equal(s->node_det[i], num(nodes, b + (size_t)fd));
        assert_int_equal(s->first_edge[i], e);
        e += num(nodes, b + (size_t)fe);
    }
    assert_int_equal(s->first_edge[s->node_count], e);

    int et = field_index(efields, "type"), en = field_index(efields, "name_or_index"),
        eto = field_index(efields, "to_node");
    for (uint32_t i = 0; i < s->edge_count; i++) {
        size_t b = (size_t)i * ef;
        assert_int_equal(s->edge_type[i], num(edges, b + (size_t)et));
        assert_int_equal(s->edge_name[i], num(edges, b + (size_t)en));
        assert_int_equal((uint64_t)s->edge_to[i] * nf, num(edges, b + (size_t)eto));
    }

    assert_int_equal(s->string_count, json_array_size(strings));
    for (uint32_t i = 0; i < s->string_count; i++)
        assert_string_equal(hs_snapfile_str(s, i), json_string_value(json_array_get(strings, i)));
    assert_string_equal(hs_snapfile_str(s, s->string_count), "");

    json_t *samples = json_object_get(root, "samples");
    assert_int_equal(s->sample_count * 2, json_array_size(samples));
    for (size_t i = 0; i < json_array_size(samples); i++)
        assert_int_equal(s->samples[i], num(samples, i));
    json_t *tfi = json_object_get(root, "trace_function_infos");
    assert_int_equal((size_t)s->trace_function_count * 6, json_array_size(tfi));
    for (size_t i = 0; i < json_array_size(tfi); i++)
        assert_int_equal(s->trace_functions[i], num(tfi, i));
    json_t *locs = json_object_get(root, "locations");
    assert_int_equal(s->location_count * 4, json_array_size(locs));
    for (size_t i = 0; i < json_array_size(locs); i++)
        assert_int_equal((uint64_t)s->locations[i] * (i % 4 ? 1 : nf), num(locs, i));
    uint32_t k = 0;
    json_t *tree = json_object_get(root, "trace_tree");
    if (tree)
        flatten(tree, UINT32_MAX, s, &k);
    assert_int_equal(k, s->trace_node_total);
    json_t *ri = json_object_get(snap, "root_index");
    assert_int_equal(s->root_node, ri ? (size_t)json_integer_value(ri) / nf : 0);
    json_t *extra = json_object_get(snap, "extra_native_bytes");
    assert_int_equal(s->extra_native_bytes, extra ? json_integer_value(extra) : 0);
    json_decref(root);
}

static void read_ok(const char *name, const char *text, size_t len)
{
    hs_snapfile s;
    hs_read_error err;
    int rc = hs_snapfile_read_mem(name, text, len, &s, &err);
    if (rc != 0)
        fail_msg("%s", err.text);
    check_same(&s, text, len);
    hs_snapfile_free(&s);
}

static void test_golden(void **state)
{
    (void)state;
    const char *path = HS_GOLDEN_DIR "/snapshot-stopTracking.heapsnapshot";
    hs_snapfile s;
    hs_read_error err;
    if (hs_snapfile_read(path, &s, &err) != 0)
        fail_msg("%s", err.text);
    size_t len;
    char *text = slurp(path, &len);
    check_same(&s, text, len);
    /* What the header says, and node 0 (spec §4.2). */
    assert_int_equal(s.node_count, 36963);
    assert_int_equal(s.edge_count, 167468);
    assert_int_equal(s.trace_function_count, 11);
    assert_non_null(s.node_trace);
    assert_int_equal(s.node_id[0], 1);
    assert_int_equal(s.node_type[0], hs_snapfile_node_type(&s, "synthetic"));
    assert_string_equal(hs_snapfile_str(&s, 0), "<dummy>");
    assert_string_equal(hs_snapfile_str(&s, s.node_name[1]), "(GC roots)");
    assert_int_equal(s.edge_to[s.first_edge[0]], 1);
    assert_true(s.sample_count > 0);
    assert_true(s.trace_node_total > 1);
    assert_int_equal(s.trace_node_parent[0], UINT32_MAX);
    hs_snapfile_free(&s);

    /* An error past the first 1 MiB chunks: its offset counts the chunks before. */
    size_t i = 2500000, j;
    while (text[i] < '0' || text[i] > '9')
        i++;
    for (j = i; text[j] >= '0' && text[j] <= '9'; j++)
        ;
    char *bad = malloc(len + 3);
    assert_non_null(bad);
    memcpy(bad, text, i);
    memcpy(bad + i, "\"s\"", 3);
    memcpy(bad + i + 3, text + j, len - j);
    assert_int_equal(hs_snapfile_read_mem("big", bad, i + 3 + len - j, &s, &err), -1);
    char want[128];
    snprintf(want, sizeof(want), "big: byte %zu: expected a number in \"edges\", found a string",
             i + 3);
    assert_string_equal(err.text, want);
    free(bad);
    free(text);
}

/* Ours: HEAPSCOPE_SNAPSHOT_AT_EXIT=1 on a small program, 6 fields; with
 * HEAPSCOPE_TRACK=stacks, 7 fields, trace functions and a trace tree. */
static void test_agent(void **state)
{
    (void)state;
    static const char *const files[] = {HS_DATA_DIR "/agent-small.heapsnapshot",
                                        HS_DATA_DIR "/agent-track.heapsnapshot"};
    for (int f = 0; f < 2; f++) {
        hs_snapfile s;
        hs_read_error err;
        if (hs_snapfile_read(files[f], &s, &err) != 0)
            fail_msg("%s", err.text);
        size_t len;
        char *text = slurp(files[f], &len);
        check_same(&s, text, len);
        assert_true(s.node_count > 100);
        assert_int_equal(s.node_id[0], 1);
        if (f == 0) {
            assert_null(s.node_trace);
            assert_int_equal(s.trace_node_total, 0);
        } else {
            assert_non_null(s.node_trace);
            assert_true(s.trace_function_count > 1);
            assert_true(s.trace_node_total > 1);
        }
        hs_snapfile_free(&s);
        read_ok("agent", text, len);
        free(text);
    }
}

static void test_small_and_reordered(void **state)
{
    (void)state;
    read_ok("small", SMALL, sizeof(SMALL) - 1);
    read_ok("reordered", REORDERED, sizeof(REORDERED) - 1);

    hs_snapfile s;
    hs_read_error err;
    assert_int_equal(hs_snapfile_read_mem("r", REORDERED, sizeof(REORDERED) - 1, &s, &err), 0);
    assert_int_equal(s.node_type[1], 1);
    assert_int_equal(s.node_id[1], 3);
    assert_int_equal(s.node_self[1], 100);
    assert_int_equal(s.edge_to[0], 1);
    assert_int_equal(s.root_node, 1);
    assert_string_equal(hs_snapfile_str(&s, 2), "b\xc3\xa9\n");
    hs_snapfile_free(&s);

    assert_int_equal(hs_snapfile_read_mem("s", SMALL, sizeof(SMALL) - 1, &s, &err), 0);
    assert_int_equal(s.extra_native_bytes, 77);
    assert_int_equal(s.trace_node_total, 3);
    assert_int_equal(s.trace_node_parent[2], 0);
    assert_int_equal(s.locations[0], 1);
    hs_snapfile_free(&s);
}

/* An error, the snapfile left empty. */
static void expect_error(const char *text, size_t len)
{
    hs_snapfile s;
    hs_read_error err;
    memset(&s, 0x5a, sizeof(s));
    assert_int_equal(hs_snapfile_read_mem("f", text, len, &s, &err), -1);
    assert_true(strncmp(err.text, "f: byte ", 8) == 0);
    assert_true(err.offset <= len + 1);
    assert_null(s.node_type);
    assert_null(s.arena);
    assert_int_equal(s.node_count, 0);
}

static void test_every_prefix(void **state)
{
    (void)state;
    for (size_t n = 0; n < sizeof(SMALL) - 1; n++)
        expect_error(SMALL, n);
    /* Every 7th prefix of the agent's 7-field file, and each around the end. */
    size_t len;
    char *text = slurp(HS_DATA_DIR "/agent-track.heapsnapshot", &len);
    for (size_t n = 0; n < len; n += n + 64 < len ? 7 : 1)
        expect_error(text, n);
    free(text);

    hs_read_error err;
    hs_snapfile s;
    assert_int_equal(hs_snapfile_read_mem("f", SMALL, 0, &s, &err), -1);
    assert_string_equal(err.text, "f: byte 0: empty file");
    assert_int_equal(hs_snapfile_read_mem("f", SMALL, 100, &s, &err), -1);
    assert_string_equal(err.text, "f: byte 100: unexpected end of file (truncated?)");
}

static void test_every_byte_change(void **state)
{
    (void)state;
    static const unsigned char repl[] = {'0', '9', '[',  ']', '{', '}', '"',  ',', ':', '-',
                                         '.', 'e', '\\', 0,   ' ', 'x', 0xff, 't', 'n'};
    size_t n = sizeof(SMALL) - 1, ok = 0, bad = 0;
    char *buf = malloc(n);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof(repl) + 2; k++) {
            memcpy(buf, SMALL, n);
            buf[i] =
                k < sizeof(repl) ? (char)repl[k] : (char)(SMALL[i] + (k == sizeof(repl) ? 1 : -1));
            hs_snapfile s;
            hs_read_error err;
            if (hs_snapfile_read_mem("f", buf, n, &s, &err) == 0) {
                /* Whatever was read is consistent. */
                assert_int_equal(s.first_edge[s.node_count], s.edge_count);
                for (uint32_t e = 0; e < s.edge_count; e++)
                    assert_true(s.edge_to[e] < s.node_count);
                ok++;
                hs_snapfile_free(&s);
            } else {
                assert_true(err.text[0] != 0);
                bad++;
            }
        }
    }
    free(buf);
    assert_true(ok > 0 && bad > 0);
}

/* The libFuzzer corpus (fuzz_snapfile.c, merged): each file read without a
 * crash or a leak, an error with a text or a consistent result. */
static void test_fuzz_corpus(void **state)
{
    (void)state;
    DIR *d = opendir(HS_DATA_DIR "/snapfile-corpus");
    assert_non_null(d);
    size_t files = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), HS_DATA_DIR "/snapfile-corpus/%s", e->d_name);
        hs_snapfile s;
        hs_read_error err;
        if (hs_snapfile_read(path, &s, &err) == 0) {
            assert_int_equal(s.first_edge[s.node_count], s.edge_count);
            for (uint32_t i = 0; i < s.edge_count; i++)
                assert_true(s.edge_to[i] < s.node_count);
            for (uint32_t i = 0; i < s.node_count; i++)
                assert_true(s.node_name[i] < s.string_count);
            hs_snapfile_free(&s);
        } else {
            assert_true(strncmp(err.text, path, strlen(path)) == 0);
        }
        files++;
    }
    closedir(d);
    assert_true(files > 10);
}

/* SMALL with the first `from` replaced by `to`. */
static char *with(const char *from, const char *to)
{
    const char *at = strstr(SMALL, from);
    assert_non_null(at);
    size_t a = (size_t)(at - SMALL), fl = strlen(from), tl = strlen(to);
    char *p = malloc(sizeof(SMALL) - fl + tl);
    assert_non_null(p);
    memcpy(p, SMALL, a);
    memcpy(p + a, to, tl);
    strcpy(p + a + tl, at + fl);
    return p;
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *from, *to, *text;
    } cases[] = {
        {"[2,1,1,0,2,0,0", "[2,\"x\",1,0,2,0,0",
         "byte 754: expected a number in \"nodes\", found a string"},
        {"[2,1,1,0,2,0,0", "[2,-1,1,0,2,0,0",
         "byte 753: expected an unsigned integer in \"nodes\", found -1"},
        {"[2,1,1,0,2,0,0", "[2,1.5,1,0,2,0,0",
         "byte 754: expected an unsigned integer in \"nodes\", found 1.5"},
        {"3,2],", "3,2,9],", "byte 797: nodes has 22 numbers, node_count 3 × 7 fields = 21"},
        {",1,3,5,16,0,3,2]", "]", "byte 780: nodes has 14 numbers, node_count 3 × 7 fields = 21"},
        {"[1,1,7\n", "[1,1,8\n", "byte 811: edge 0 points to node offset 8, not a multiple of 7"},
        {"[1,1,7\n", "[1,1,21\n",
         "byte 812: edge 0 points to node offset 21, past the last node (node_count 3 × 7 "
         "fields)"},
        {"4,0,14]", "4,0,14,1]", "byte 830: edges has 10 numbers, edge_count 3 × 3 fields = 9"},
        {"[2,1,1,0,2,0,0", "[2,99,1,0,2,0,0",
         "byte 1033: node 0's name is string 99 but there are 5 strings"},
        {"2,4,14", "2,44,14", "byte 1033: edge 1's name is string 44 but there are 5 strings"},
        {"[2,1,1,0,2,0,0", "[7,1,1,0,2,0,0",
         "byte 750: node 0's type is 7 but there are 3 node types"},
        {"[1,1,7\n", "[9,1,7\n", "byte 807: edge 0's type is 9 but there are 7 edge types"},
        {"[2,1,1,0,2,0,0", "[2,1,1,0,3,0,0",
         "byte 795: the nodes' edge_count fields add up to 4, but edge_count is 3"},
        {"\"node_count\":3", "\"node_count\":\"3\"",
         "byte 675: expected a number for \"node_count\", found a string"},
        {"\"node_fields\":[\"type\",", "\"node_fields\":[",
         "byte 104: meta.node_fields has no \"type\""},
        {"\"name\",\"id\"", "\"name\",\"name\"", "byte 56: meta.node_fields names \"name\" twice"},
        {"{\"snapshot\":{\"meta\":", "{\"nodes\":[],\"snapshot\":{\"meta\":",
         "byte 10: \"nodes\" comes before the snapshot's meta"},
        {"[1,0,2,48,[", "[1,0,2,48,7,[",
         "byte 904: expected an array of children in \"trace_tree\", found a number"},
        {"[1,0,2,48,[", "[1,0,2,[",
         "byte 901: expected a number in \"trace_tree\", found an array"},
        {"16,[]]]", "16]]",
         "byte 925: expected an array of children in \"trace_tree\", found "
         "the end of the array"},
        {"[1,0,2,48,[2,1", "[1,0,2,48,[2,9",
         "byte 1032: trace node 1's function is 9 but there are 2 trace functions"},
        {"1,2,3,4,5,6]", "1,2,3,4,5]",
         "byte 876: trace_function_infos has 11 numbers, trace_function_count 2 × 6 fields = 12"},
        {"1,2,3,4,5,6]", "1,22,3,4,5,6]",
         "byte 1033: trace function 1's name is string 22 but there are 5 strings"},
        {"[100,3,200,5]", "[100,3,200]", "byte 952: samples has 3 numbers, not pairs"},
        {"[7,4,10,2]", "[8,4,10,2]",
         "byte 970: location 0 points to node offset 8, not a multiple of 7"},
        {"\"Bar\",\n", "\"Bar\",\n7,\n",
         "byte 1025: expected a string in \"strings\", found a number"},
        {"\"strings\":[", "\"strings\":{\"a\":1},\"x\":[",
         "byte 991: expected an array for \"strings\", found an object"},
        {"\"prop\"]}", "\"prop\"]", "byte 1031: unexpected end of file (truncated?)"},
        {"\"prop\"]}", "\"prop\"]}}", "byte 1033: invalid JSON (parse error: trailing garbage)"},
        {"[1,1,7\n", "[1,1,7\n,]",
         "byte 814: invalid JSON (parse error: unallowed token at this "
         "point in JSON text)"},
        {"\"strings\"", "\"strung\"", "byte 1031: no \"strings\" array"},
        {"\"extra_native_bytes\":77", "\"extra_native_bytes\":77,\"root_index\":8",
         "byte 1047: root_index 8 is not the offset of a node (node_count 3 × 7 fields)"},
        {"\"extra_native_bytes\":77", "\"extra_native_bytes\":77,\"root_index\":21",
         "byte 1048: root_index 21 is not the offset of a node (node_count 3 × 7 fields)"},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *doc = with(cases[i].from, cases[i].to);
        hs_snapfile s;
        hs_read_error err;
        char want[600];
        snprintf(want, sizeof(want), "app.heapsnapshot: %s", cases[i].text);
        int rc = hs_snapfile_read_mem("app.heapsnapshot", doc, strlen(doc), &s, &err);
        if (rc != -1 || strcmp(err.text, want) != 0) {
            print_error("case %zu: rc %d\n got: %s\nwant: %s\n", i, rc, err.text, want);
            failed++;
            free(doc);
            continue;
        }
        char num[32];
        snprintf(num, sizeof(num), "byte %llu:", (unsigned long long)err.offset);
        assert_non_null(strstr(err.text, num));
        free(doc);
    }
    assert_int_equal(failed, 0);

    static const char *const whole[][2] = {
        {"[1,2]", "byte 1: expected an object at the top, found an array"},
        {"{\"snapshot\":[]}", "byte 13: expected an object for \"snapshot\", found an array"},
        {"{\"strings\":[]}", "byte 14: no \"snapshot\" with a \"meta\""},
        /* Found by fuzzing: edges without node_fields divided by zero. */
        {"{\"snapshot\":{\"meta\":{\"edge_fields\":[\"type\",\"name_or_index\",\"to_node\"],"
         "\"edge_types\":[[\"a\"]]},\"node_count\":1,\"edge_count\":1},\"edges\":[0,0,0]}",
         "byte 132: \"edges\" but meta has no edge_fields, edge_types or node_fields"},
        {"{\"trace_tree\":["
         "[[[[[[[[[[",
         "byte 16: expected a number in \"trace_tree\", found an "
         "array"},
    };
    for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
        hs_snapfile s;
        hs_read_error err;
        assert_int_equal(hs_snapfile_read_mem("x", whole[i][0], strlen(whole[i][0]), &s, &err), -1);
        char want[600];
        snprintf(want, sizeof(want), "x: %s", whole[i][1]);
        assert_string_equal(err.text, want);
    }

    hs_snapfile s;
    hs_read_error err;
    assert_int_equal(hs_snapfile_read("/nonexistent/app.heapsnapshot", &s, &err), -1);
    assert_string_equal(err.text, "/nonexistent/app.heapsnapshot: No such file or directory");
}

/* A deep trace tree: bounded by the reader's own stack, no recursion. */
static void test_deep_tree(void **state)
{
    (void)state;
    size_t depth = 100001, cap = sizeof(SMALL) + depth * 16;
    char *doc = malloc(cap);
    assert_non_null(doc);
    const char *at = strstr(SMALL, "\"trace_tree\":[") + strlen("\"trace_tree\":[");
    size_t a = (size_t)(at - SMALL), n = a;
    memcpy(doc, SMALL, a);
    for (size_t i = 0; i < depth; i++)
        n += (size_t)sprintf(doc + n, "%zu,0,1,1,[", i + 1);
    for (size_t i = 0; i < depth; i++)
        doc[n++] = ']';
    const char *rest = strstr(at, "],\n\"samples\"");
    strcpy(doc + n, rest);
    hs_snapfile s;
    hs_read_error err;
    assert_int_equal(hs_snapfile_read_mem("deep", doc, strlen(doc), &s, &err), -1);
    assert_non_null(strstr(err.text, "trace_tree is nested more than 100000 deep"));

    /* 99999 levels are fine, each node the child of the one before. */
    n = a;
    for (size_t i = 0; i < 99999; i++)
        n += (size_t)sprintf(doc + n, "%zu,0,1,1,[", i + 1);
    for (size_t i = 0; i < 99999; i++)
        doc[n++] = ']';
    strcpy(doc + n, rest);
    if (hs_snapfile_read_mem("deep", doc, strlen(doc), &s, &err) != 0)
        fail_msg("%s", err.text);
    assert_int_equal(s.trace_node_total, 99999);
    assert_int_equal(s.trace_node_parent[99998], 99997);
    hs_snapfile_free(&s);
    free(doc);
}

/* Huge counts in the header allocate nothing beyond what the file holds. */
static void test_huge_counts(void **state)
{
    (void)state;
    char *doc = with("\"node_count\":3,\"edge_count\":3",
                     "\"node_count\":4000000000,\"edge_count\":4000000000");
    hs_snapfile s;
    hs_read_error err;
    assert_int_equal(hs_snapfile_read_mem("f", doc, strlen(doc), &s, &err), -1);
    assert_non_null(strstr(err.text, "nodes has 21 numbers, node_count 4000000000 × 7 fields"));
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_agent),
        cmocka_unit_test(test_small_and_reordered),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_every_byte_change),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_fuzz_corpus),
        cmocka_unit_test(test_deep_tree),
        cmocka_unit_test(test_huge_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
