#!/usr/bin/python3
"""An allocation-heavy, deterministic Python workload for the heapscope
integration test integ-python: run with PYTHONMALLOC=malloc (so that every
object goes through malloc) and PYTHONHASHSEED=0. It builds and tears down
dicts, lists, tuples, sets, strings, bytes and instances of small classes, and
prints checksums that depend only on the values computed, never on addresses
or timing, so the output is the same with and without a profiler.
"""
import hashlib
import sys
import zlib


class Point:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


class Node:
    def __init__(self, key, payload):
        self.key = key
        self.payload = payload
        self.children = []

    def add(self, child):
        self.children.append(child)
        return child

    def total(self):
        return len(self.payload) + sum(c.total() for c in self.children)


def rng(seed):
    x = seed
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) & ((1 << 64) - 1)
        yield x >> 33


def dict_phase(h, r):
    d = {}
    for i in range(120000):
        v = next(r)
        k = "key-%d-%d" % (v % 5000, i % 7)
        d[k] = d.get(k, 0) + v % 1000
        if i % 3 == 0:
            d.pop("key-%d-%d" % ((v >> 5) % 5000, (i + 1) % 7), None)
    items = sorted(d.items())
    h.update(repr(items[:200]).encode())
    h.update(str(len(items)).encode())
    return len(items)


def list_phase(h, r):
    rows = [[next(r) % 1000 for _ in range(20)] for _ in range(12000)]
    rows.sort()
    flat = [x for row in rows for x in row if x % 3]
    pts = [Point(flat[i], flat[i + 1]) for i in range(0, len(flat) - 1, 2)]
    s = sum(p.x * p.y for p in pts) % 1000003
    tuples = sorted({(p.x % 97, p.y % 89) for p in pts})
    h.update(("%d %d %d" % (len(flat), s, len(tuples))).encode())
    return s


def string_phase(h, r):
    parts = []
    for i in range(60000):
        v = next(r)
        parts.append("%08x:%s" % (v, "abcdefghij"[v % 10] * (v % 17)))
    text = "|".join(parts)
    words = text.split("|")
    upper = [w.upper() for w in words if len(w) > 12]
    joined = "".join(reversed(upper)).encode()
    h.update(hashlib.sha1(joined).digest())
    counts = {}
    for w in words:
        counts[w[-1:]] = counts.get(w[-1:], 0) + 1
    h.update(repr(sorted(counts.items())).encode())
    b = bytearray()
    for w in words[:20000]:
        b += w.encode()
    return zlib.crc32(bytes(b))


def tree_phase(h, r):
    root = Node("root", "r")
    frontier = [root]
    count = 1
    while count < 40000:
        parent = frontier[next(r) % len(frontier)]
        child = parent.add(Node("n%d" % count, "x" * (next(r) % 40)))
        frontier.append(child)
        count += 1
    total = 0
    stack = [root]
    while stack:
        n = stack.pop()
        total += len(n.payload) + len(n.key)
        stack.extend(n.children)
    h.update(str(total).encode())
    del frontier, root
    return total


def churn_phase(h, r):
    live = {}
    acc = 0
    for i in range(150000):
        v = next(r)
        k = v % 3000
        if k in live:
            acc += len(live.pop(k))
        else:
            live[k] = [i, str(v), (v % 7, v % 11), {"v": v % 13}] * (v % 4 + 1)
    h.update(str(acc).encode())
    return acc


def main():
    h = hashlib.sha256()
    r = rng(12345)
    results = []
    for _ in range(4):
        results.append(dict_phase(h, r))
        results.append(list_phase(h, r))
        results.append(string_phase(h, r))
        results.append(tree_phase(h, r))
        results.append(churn_phase(h, r))
    print("py_workload results:", " ".join(str(x) for x in results))
    print("py_workload sha256:", h.hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
