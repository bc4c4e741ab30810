/*
 * test_analysis.c — hs_analyze on tiny graphs built by hand, with the
 * distances, dominators, redistributed and retained sizes worked out by hand
 * from DevTools' rules (spec §4.4).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analysis.h"

#include "v8_types.h"
enum { HIDDEN, ARRAY, STRING, OBJECT, CODE, CLOSURE, REGEXP, NUMBER, NATIVE, SYNTHETIC };
enum { CONTEXT, ELEMENT, PROPERTY, INTERNAL, EHIDDEN, SHORTCUT, WEAK };

typedef struct tnode {
    int type;
    const char *name;
    uint64_t self;
} tnode;
typedef struct tedge {
    uint32_t from;
    int type;
    uint32_t to;
    const char *name; /* NULL: index 0 for element/hidden, "" otherwise */
} tedge;

/* A snapfile from nodes and edges (edges in any order; ids 1, 3, 5, ...). */
static hs_snapfile *build(const tnode *nodes, uint32_t n, const tedge *edges, uint32_t m)
{
    hs_snapfile *s = calloc(1, sizeof *s);
    s->node_count = n;
    s->edge_count = m;
    s->node_type = calloc(n, 1);
    s->node_name = calloc(n, 4);
    s->node_id = calloc(n, 4);
    s->node_self = calloc(n, 8);
    s->first_edge = calloc(n + 1, 4);
    s->edge_type = calloc(m + 1, 1);
    s->edge_name = calloc(m + 1, 4);
    s->edge_to = calloc(m + 1, 4);
    uint32_t nstr = n + m + 1;
    s->string_off = calloc(nstr, 8);
    size_t arena = 1;
    for (uint32_t i = 0; i < n; i++)
        arena += strlen(nodes[i].name) + 1;
    for (uint32_t j = 0; j < m; j++)
        arena += (edges[j].name ? strlen(edges[j].name) : 0) + 1;
    s->arena = calloc(arena, 1);
    size_t off = 1; /* string 0 is "" */
    s->string_count = 1;
#define ADD_STR(str)                                                                               \
    (strcpy(s->arena + off, (str)), s->string_off[s->string_count] = off, off += strlen(str) + 1,  \
     s->string_count++)
    for (uint32_t i = 0; i < n; i++) {
        s->node_type[i] = (uint8_t)nodes[i].type;
        s->node_name[i] = ADD_STR(nodes[i].name);
        s->node_id[i] = 2 * i + 1;
        s->node_self[i] = nodes[i].self;
    }
    uint32_t k = 0;
    for (uint32_t v = 0; v < n; v++) {
        s->first_edge[v] = k;
        for (uint32_t j = 0; j < m; j++) {
            if (edges[j].from != v)
                continue;
            s->edge_type[k] = (uint8_t)edges[j].type;
            s->edge_to[k] = edges[j].to;
            if (edges[j].type == ELEMENT || edges[j].type == EHIDDEN)
                s->edge_name[k] = 0;
            else
                s->edge_name[k] = edges[j].name ? ADD_STR(edges[j].name) : 0;
            k++;
        }
    }
    s->first_edge[n] = k;
#undef ADD_STR
    assert_int_equal(v8_types_give(s), 0);
    return s;
}

static void drop(hs_snapfile *s)
{
    hs_snapfile_free(s);
    free(s);
}

static const char *class_of(const hs_analysis *a, uint32_t v)
{
    return a->class_names[a->class_index[v]];
}

/* root → (GC roots) → A; A → B, C; B, C → D: D is dominated by A, not B or C. */
static void test_diamond(void **state)
{
    (void)state;
    tnode nodes[] = {{SYNTHETIC, "", 0}, {SYNTHETIC, "(GC roots)", 0},
                     {NATIVE, "A", 1},   {NATIVE, "B", 2},
                     {NATIVE, "C", 4},   {NATIVE, "D", 8}};
    tedge edges[] = {{0, ELEMENT, 1, NULL}, {1, ELEMENT, 2, NULL}, {2, PROPERTY, 3, "b"},
                     {2, PROPERTY, 4, "c"}, {3, PROPERTY, 5, "d"}, {4, PROPERTY, 5, "d"}};
    hs_snapfile *s = build(nodes, 6, edges, 6);
    hs_analysis a;
    hs_read_error err;
    assert_int_equal(hs_analyze(s, &a, &err), 0);
    assert_false(a.has_user_roots); /* the root's only child is synthetic */
    int32_t dist[] = {0, 1, 2, 3, 3, 4};
    uint32_t dom[] = {0, 0, 1, 2, 2, 2};
    uint64_t ret[] = {15, 15, 15, 2, 4, 8};
    for (uint32_t i = 0; i < 6; i++) {
        assert_int_equal(a.distance[i], dist[i]);
        assert_int_equal(a.dominator[i], dom[i]);
        assert_int_equal(a.retained[i], ret[i]);
        assert_int_equal(a.self[i], nodes[i].self);
    }
    assert_int_equal(a.total_size, 15);
    assert_string_equal(class_of(&a, 2), "A");
    assert_string_equal(class_of(&a, 0), "(synthetic)");
    assert_int_equal(a.weak_only_count + a.unreachable_count, 0);
    hs_analysis_free(&a);
    drop(s);
}

/* X ⇄ Y, unreachable and each retained by the other: both hung under the root. */
static void test_unreachable_cycle(void **state)
{
    (void)state;
    tnode nodes[] = {{SYNTHETIC, "", 0},
                     {SYNTHETIC, "(GC roots)", 0},
                     {NATIVE, "A", 1},
                     {NATIVE, "X", 16},
                     {NATIVE, "Y", 32}};
    tedge edges[] = {
        {0, ELEMENT, 1, NULL}, {1, ELEMENT, 2, NULL}, {3, PROPERTY, 4, "y"}, {4, PROPERTY, 3, "x"}};
    hs_snapfile *s = build(nodes, 5, edges, 4);
    hs_analysis a;
    assert_int_equal(hs_analyze(s, &a, NULL), 0);
    assert_int_equal(a.distance[3], HS_DISTANCE_NONE);
    assert_int_equal(a.distance[4], HS_DISTANCE_NONE);
    assert_int_equal(a.dominator[3], 0);
    assert_int_equal(a.dominator[4], 0);
    assert_int_equal(a.retained[3], 16);
    assert_int_equal(a.retained[4], 32);
    assert_int_equal(a.retained[0], 49);
    assert_int_equal(a.unreachable_count, 2);
    assert_int_equal(a.weak_only_count, 0);
    hs_analysis_free(&a);
    drop(s);
}

/* A -weak-> W → Z: W has only a weak retainer, so a DFS starts from it under the root. */
static void test_weak_only(void **state)
{
    (void)state;
    tnode nodes[] = {{SYNTHETIC, "", 0}, {SYNTHETIC, "(GC roots)", 0},
                     {NATIVE, "A", 1},   {NATIVE, "W", 2},
                     {NATIVE, "Z", 4},   {NATIVE, "self", 8}};
    tedge edges[] = {{0, ELEMENT, 1, NULL}, {1, ELEMENT, 2, NULL}, {2, WEAK, 3, "w"},
                     {3, PROPERTY, 4, "z"}, {1, ELEMENT, 5, NULL}, {5, PROPERTY, 5, "me"}};
    hs_snapfile *s = build(nodes, 6, edges, 6);
    hs_analysis a;
    assert_int_equal(hs_analyze(s, &a, NULL), 0);
    assert_int_equal(a.distance[3], HS_DISTANCE_NONE); /* weak edges are not followed */
    assert_int_equal(a.distance[4], HS_DISTANCE_NONE);
    assert_int_equal(a.dominator[3], 0);
    assert_int_equal(a.dominator[4], 3);
    assert_int_equal(a.retained[3], 6);
    assert_int_equal(a.retained[2], 1);  /* the weak edge retains nothing */
    assert_int_equal(a.dominator[5], 1); /* a self-edge is no retainer */
    assert_int_equal(a.retained[0], 15);
    assert_int_equal(a.weak_only_count, 1);
    assert_int_equal(a.unreachable_count, 0);
    hs_analysis_free(&a);
    drop(s);
}

/*
 * The root's shortcut to a Window makes a user root: system distances for
 * what only (GC roots) reaches, hidden/array sizes moved onto their single
 * owner, and (GC roots)' edge into the page-owned O not essential.
 */
static void test_user_roots(void **state)
{
    (void)state;
    tnode nodes[] = {{SYNTHETIC, "", 0},        {SYNTHETIC, "(GC roots)", 0},
                     {OBJECT, "Window", 10},    {OBJECT, "Obj", 3},
                     {HIDDEN, "system / X", 5}, {ARRAY, "(object elements)", 7},
                     {ARRAY, "shared", 9}};
    tedge edges[] = {{0, SHORTCUT, 2, "global"}, {0, ELEMENT, 1, NULL},
                     {1, ELEMENT, 4, NULL},      {1, ELEMENT, 3, NULL},
                     {2, PROPERTY, 3, "o"},      {2, INTERNAL, 5, "elements"},
                     {2, INTERNAL, 6, "s"},      {3, INTERNAL, 6, "s"}};
    hs_snapfile *s = build(nodes, 7, edges, 8);
    hs_analysis a;
    assert_int_equal(hs_analyze(s, &a, NULL), 0);
    assert_true(a.has_user_roots);
    int32_t dist[] = {
        HS_DISTANCE_SYSTEM, HS_DISTANCE_SYSTEM + 1, 1, 2, HS_DISTANCE_SYSTEM + 2, 2, 2};
    uint64_t self[] = {0, 0, 17, 3,
                       5, 0, 9}; /* E's 7 onto Window; H's owner is synthetic; S has two */
    uint32_t dom[] = {0, 0, 0, 2, 1, 2, 2}; /* O under Window, not the root */
    uint64_t ret[] = {34, 5, 29, 3, 5, 0, 9};
    for (uint32_t i = 0; i < 7; i++) {
        assert_int_equal(a.distance[i], dist[i]);
        assert_int_equal(a.self[i], self[i]);
        assert_int_equal(a.dominator[i], dom[i]);
        assert_int_equal(a.retained[i], ret[i]);
    }
    assert_string_equal(class_of(&a, 2), "Window");
    assert_string_equal(class_of(&a, 4), "(system)");
    assert_string_equal(class_of(&a, 5), "(array)");
    assert_int_equal(a.class_index[5], a.class_index[6]);
    hs_analysis_free(&a);
    drop(s);
}

/* Without user roots nothing is redistributed. */
static void test_no_redistribution(void **state)
{
    (void)state;
    tnode nodes[] = {
        {SYNTHETIC, "", 0}, {SYNTHETIC, "(GC roots)", 0}, {OBJECT, "O", 3}, {ARRAY, "arr", 7}};
    tedge edges[] = {{0, ELEMENT, 1, NULL}, {1, ELEMENT, 2, NULL}, {2, INTERNAL, 3, "elements"}};
    hs_snapfile *s = build(nodes, 4, edges, 3);
    hs_analysis a;
    assert_int_equal(hs_analyze(s, &a, NULL), 0);
    assert_int_equal(a.self[2], 3);
    assert_int_equal(a.self[3], 7);
    assert_int_equal(a.retained[2], 10);
    hs_analysis_free(&a);
    drop(s);
}

/* A WeakMap value is retained through its key, not the table's edge. */
static void test_weakmap(void **state)
{
    (void)state;
    /* ids: root 1, (GC roots) 3, table 5, key 7, value 9 */
    tnode nodes[] = {{SYNTHETIC, "", 0},
                     {SYNTHETIC, "(GC roots)", 0},
                     {ARRAY, "(WeakMap table)", 4},
                     {OBJECT, "Key", 2},
                     {OBJECT, "Value", 8}};
    const char *name = "1 / part of key (Key @7) -> value (Value @9) pair in WeakMap (table @5)";
    tedge edges[] = {{0, ELEMENT, 1, NULL},
                     {1, ELEMENT, 2, NULL},
                     {1, ELEMENT, 3, NULL},
                     {2, INTERNAL, 4, name},
                     {3, INTERNAL, 4, name}};
    hs_snapfile *s = build(nodes, 5, edges, 5);
    hs_analysis a;
    assert_int_equal(hs_analyze(s, &a, NULL), 0);
    assert_int_equal(a.dominator[4], 3);
    assert_int_equal(a.retained[3], 10);
    assert_int_equal(a.distance[4], 3);
    hs_analysis_free(&a);
    drop(s);
}

static void test_class_names(void **state)
{
    (void)state;
    tnode nodes[] = {{SYNTHETIC, "", 0},
                     {OBJECT, "<div id=a>", 1},
                     {NATIVE, "Detached <span class=x y>", 1},
                     {CLOSURE, "f", 1},
                     {CODE, "c", 1},
                     {REGEXP, "/a/", 1},
                     {STRING, "hello", 1},
                     {OBJECT, "<div>", 1},
                     {NATIVE, "plain name", 1}};
    tedge edges[] = {{0, ELEMENT, 1, NULL}};
    hs_snapfile *s = build(nodes, 9, edges, 1);
    hs_analysis a;
    assert_int_equal(hs_analyze(s, &a, NULL), 0);
    assert_string_equal(class_of(&a, 1), "<div>");
    assert_int_equal(a.class_index[1], a.class_index[7]);
    assert_string_equal(class_of(&a, 2), "Detached <span>");
    assert_string_equal(class_of(&a, 3), "Function");
    assert_string_equal(class_of(&a, 4), "(compiled code)");
    assert_string_equal(class_of(&a, 5), "RegExp");
    assert_string_equal(class_of(&a, 6), "(string)");
    assert_string_equal(class_of(&a, 8), "plain name");
    hs_analysis_free(&a);
    drop(s);
}

static void test_bad_edge(void **state)
{
    (void)state;
    tnode nodes[] = {{SYNTHETIC, "", 0}, {NATIVE, "A", 1}};
    tedge edges[] = {{0, ELEMENT, 1, NULL}};
    hs_snapfile *s = build(nodes, 2, edges, 1);
    s->edge_to[0] = 7;
    hs_analysis a;
    hs_read_error err;
    assert_int_equal(hs_analyze(s, &a, &err), -1);
    assert_non_null(strstr(err.text, "edge 0"));
    assert_null(a.retained);
    drop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diamond),           cmocka_unit_test(test_unreachable_cycle),
        cmocka_unit_test(test_weak_only),         cmocka_unit_test(test_user_roots),
        cmocka_unit_test(test_no_redistribution), cmocka_unit_test(test_weakmap),
        cmocka_unit_test(test_class_names),       cmocka_unit_test(test_bad_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
