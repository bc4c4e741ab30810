/*
 * known_heap_tree.cpp — the C++ object graph of known_heap: cxx::g_tree → a
 * Tree (make_tree) → its root TreeNode (make_tree_node); every inner node
 * keeps its children in a std::vector reserved to exactly `fanout` entries,
 * so each vector has one buffer, full (its end and capacity pointers point
 * past the buffer: the only pointer into it is its start). The buffers are
 * allocated by operator new from the standard allocator's template code.
 */
#include <vector>

#include "known_heap.h"

namespace cxx
{

struct TreeNode {
    unsigned long value;
    std::vector<TreeNode *> children;
}; // 32 bytes

struct Tree {
    TreeNode *root;
    unsigned long nodes;
}; // 16 bytes

Tree *g_tree;

} // namespace cxx

static tree_truth truth;

__attribute__((noinline)) cxx::Tree *make_tree()
{
    cxx::Tree *t = new cxx::Tree();
    truth.trees++;
    truth.tree_bytes += sizeof(cxx::Tree);
    return t;
}

__attribute__((noinline)) cxx::TreeNode *make_tree_node(unsigned long value)
{
    cxx::TreeNode *n = new cxx::TreeNode();
    n->value = value;
    truth.nodes++;
    truth.node_bytes += sizeof(cxx::TreeNode);
    return n;
}

static unsigned long next_value = 1;

__attribute__((noinline)) static cxx::TreeNode *grow(unsigned levels, unsigned fanout)
{
    cxx::TreeNode *n = make_tree_node(next_value++ * 5);
    if (levels > 1) {
        n->children.reserve(fanout);
        truth.buffers++;
        truth.buffer_bytes += fanout * sizeof(cxx::TreeNode *);
        for (unsigned i = 0; i < fanout; i++)
            n->children.push_back(grow(levels - 1, fanout));
    }
    return n;
}

extern "C" void build_tree(unsigned depth, unsigned fanout)
{
    truth.depth = depth;
    truth.fanout = fanout;
    cxx::g_tree = make_tree();
    cxx::g_tree->root = grow(depth, fanout);
    cxx::g_tree->nodes = truth.nodes;
}

extern "C" void tree_get_truth(struct tree_truth *t)
{
    *t = truth;
}

static unsigned long long sum(const cxx::TreeNode *n, unsigned long long h)
{
    h = h * 1099511628211ull ^ n->value;
    for (const cxx::TreeNode *c : n->children)
        h = sum(c, h);
    return h;
}

extern "C" unsigned long long tree_checksum(void)
{
    return sum(cxx::g_tree->root, 14695981039346656037ull);
}
