"""Allocation-heavy, deterministic Python workload for bench/run.py.

Run with PYTHONMALLOC=malloc (so every object goes through malloc, where the
profilers see it) and PYTHONHASHSEED=0 (so the output is the same each run):
    PYTHONMALLOC=malloc PYTHONHASHSEED=0 /usr/bin/python3 py_alloc.py 200000
Small objects with slots, dicts, lists, tuples and strings, some of them freed
along the way, then a sort of many short strings. Prints one number.
"""
import sys


class Node:
    __slots__ = ("key", "val", "kids")

    def __init__(self, key, val):
        self.key, self.val, self.kids = key, val, []


def run(n):
    table, total = {}, 0
    for i in range(n):
        k = "k%d" % (i * 7919 % n)
        node = Node(k, [i, str(i), (i, i + 1)])
        table.setdefault(k[:4], []).append(node)
        if i % 3 == 0:
            node.kids.append({"x": i, "y": [i] * 4})
        if i % 5 == 0 and table:
            lst = table[k[:4]]
            total += len(lst.pop().val[1])
    words = " ".join(str(i) for i in range(n // 2)).split()
    total += sum(len(w) for w in sorted(words, key=lambda w: (len(w), w[::-1])))
    return total + len(table)


print(run(int(sys.argv[1])))
