/*
 * known_heap.h — the C++ part of known_heap (known_heap_tree.cpp), called
 * from known_heap.c.
 */
#ifndef HS_TESTS_KNOWN_HEAP_H
#define HS_TESTS_KNOWN_HEAP_H

#ifdef __cplusplus
extern "C" {
#endif

struct tree_truth {
    unsigned long long trees, tree_bytes;     /* Tree objects (make_tree) */
    unsigned long long nodes, node_bytes;     /* TreeNode objects (make_tree_node) */
    unsigned long long buffers, buffer_bytes; /* the children vectors' buffers */
    unsigned depth, fanout;
};

/* A complete tree of the given depth (levels) and fanout under cxx::g_tree. */
void build_tree(unsigned depth, unsigned fanout);
void tree_get_truth(struct tree_truth *t);
/* Of the values, in depth-first order. */
unsigned long long tree_checksum(void);

#ifdef __cplusplus
}
#endif

#endif
