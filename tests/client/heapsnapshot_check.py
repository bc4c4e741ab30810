#!/usr/bin/python3
"""Checks .heapsnapshot (and .heaptimeline) files against V8's layout
(../shared/spec/v8-heapprofiler.md section 4), for test_cli_snapshot.sh,
test_cli_run_snapshot.sh and test_cli_track.sh.

  heapsnapshot_check.py check FILE [--node-fields N] [--counts NODES EDGES]
                                   [--count TYPE:NAME=N]... [--samples N]
                                   [--trace-function NAME]... [--no-traces]
      one file: V8's framing and section order, strings last with "<dummy>"
      first, header counts equal to the arrays' lengths, every node's
      edge_count adding up, every to_node a node's offset, every index inside
      its table, node 0 the synthetic root with id 1. --node-fields: how many
      fields a node must have; --counts: the header's node_count and edge_count
      (what a tool printed); --count: exactly N nodes of TYPE named NAME (a
      NAME ending in '*' is a prefix).
      The timeline (section 2.3): --samples: N > 0 (timestamp_us,
      last_assigned_id) pairs, timestamps increasing, ids never decreasing and
      higher at the end than at the start; --trace-function: the allocation
      stacks (trace_function_count functions in trace_function_infos, a
      well-formed trace_tree) name a function NAME and one of its trace nodes
      counts allocations; --no-traces: none recorded.
  heapsnapshot_check.py compare A B --tolerance FRACTION [--count TYPE:NAME=N]...
      both files pass `check`; identical meta, node_fields and section order;
      node_count and edge_count differ by at most FRACTION of the larger.

Exits 0 if everything holds, 1 with a line per failure on stderr.
"""
import argparse
import json
import sys

V8_SECTIONS = ["snapshot", "nodes", "edges", "trace_function_infos", "trace_tree", "samples",
               "locations", "strings"]
U32 = 1 << 32

failures = []


def fail(msg):
    failures.append(msg)


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as e:
        fail("%s: not ASCII (V8 escapes all non-ASCII text): %s" % (path, e))
        text = raw.decode("utf-8", "replace")
    # The DevTools loader skips one character after "snapshot" and expects '{'.
    if not text.startswith('{"snapshot":{"meta":'):
        fail("%s: does not start with V8's '{\"snapshot\":{\"meta\":' but %r" % (path, text[:30]))
    try:
        doc = json.loads(text, object_pairs_hook=lambda pairs: pairs)
    except ValueError as e:
        fail("%s: not valid JSON: %s" % (path, e))
        return None
    return doc


def as_dict(pairs):
    return {k: (as_dict(v) if isinstance(v, list) and v and isinstance(v[0], tuple) else v)
            for k, v in pairs}


def check(path, node_fields=None, counts=None):
    pairs = load(path)
    if pairs is None:
        return None
    keys = [k for k, _ in pairs]
    if keys != V8_SECTIONS:
        fail("%s: sections %s, V8 writes %s" % (path, keys, V8_SECTIONS))
    doc = dict(pairs)
    if "snapshot" not in doc or "nodes" not in doc or "edges" not in doc or "strings" not in doc:
        return None
    snap = as_dict(doc["snapshot"])
    meta = snap.get("meta", {})
    nf = meta.get("node_fields", [])
    ef = meta.get("edge_fields", [])
    for f in ("type", "name", "id", "self_size", "edge_count"):
        if f not in nf:
            fail("%s: node_fields %s lack %s" % (path, nf, f))
            return None
    for f in ("type", "name_or_index", "to_node"):
        if f not in ef:
            fail("%s: edge_fields %s lack %s" % (path, ef, f))
            return None
    if node_fields is not None and len(nf) != node_fields:
        fail("%s: %d node fields %s, expected %d" % (path, len(nf), nf, node_fields))
    nodes, edges, strings = doc["nodes"], doc["edges"], doc["strings"]
    n, e = snap.get("node_count"), snap.get("edge_count")
    if counts is not None and (n, e) != counts:
        fail("%s: header says %s nodes, %s edges; the tool said %d, %d" % (path, n, e, *counts))
    if not isinstance(n, int) or len(nodes) != n * len(nf):
        fail("%s: node_count %s but %d numbers in nodes (%d fields)" % (path, n, len(nodes),
                                                                         len(nf)))
        return None
    if not isinstance(e, int) or len(edges) != e * len(ef):
        fail("%s: edge_count %s but %d numbers in edges (%d fields)" % (path, e, len(edges),
                                                                         len(ef)))
        return None
    for name, arr in (("nodes", nodes), ("edges", edges)):
        bad = [v for v in arr if not isinstance(v, int) or v < 0 or v >= U32]
        if bad:
            fail("%s: %s holds values that are not unsigned 32-bit integers: %s" % (path, name,
                                                                                 bad[:5]))
    if not strings or strings[0] != "<dummy>":
        fail("%s: strings[0] is %r, not '<dummy>'" % (path, strings[:1]))
    ntypes = meta["node_types"][0]
    etypes = meta["edge_types"][0]
    ti, ni, ii, ci = (nf.index(f) for f in ("type", "name", "id", "edge_count"))
    eti, eni, eto = (ef.index(f) for f in ("type", "name_or_index", "to_node"))
    if nodes and (ntypes[nodes[ti]] != "synthetic" or strings[nodes[ni]] != "" or nodes[ii] != 1):
        fail("%s: node 0 is not the synthetic root \"\" with id 1" % path)
    total = sum(nodes[i + ci] for i in range(0, len(nodes), len(nf)))
    if total != e:
        fail("%s: the nodes' edge_counts add up to %d, edge_count is %d" % (path, total, e))
    for i in range(0, len(nodes), len(nf)):
        if nodes[i + ti] >= len(ntypes) or nodes[i + ni] >= len(strings):
            fail("%s: node at %d has a type or name index out of range" % (path, i))
            break
    by_name = ("context", "property", "internal", "shortcut", "weak")
    for i in range(0, len(edges), len(ef)):
        to = edges[i + eto]
        if to % len(nf) or to >= len(nodes):
            fail("%s: edge at %d goes to %d, not a node's offset" % (path, i, to))
            break
        if edges[i + eti] >= len(etypes):
            fail("%s: edge at %d has type %d of %d" % (path, i, edges[i + eti], len(etypes)))
            break
        if etypes[edges[i + eti]] in by_name and edges[i + eni] >= len(strings):
            fail("%s: edge at %d is named by string %d of %d" % (path, i, edges[i + eni],
                                                                 len(strings)))
            break
    return {"snap": snap, "keys": keys, "nodes": nodes, "strings": strings, "nf": nf, "doc": doc}


def check_samples(path, doc, n):
    samples = doc["doc"].get("samples", [])
    fields = doc["snap"]["meta"].get("sample_fields")
    if fields != ["timestamp_us", "last_assigned_id"]:
        fail("%s: sample_fields are %s" % (path, fields))
        return
    if n <= 0 or len(samples) != 2 * n:
        fail("%s: %d numbers in samples, expected %d pairs (> 0)" % (path, len(samples), n))
        return
    times, ids = samples[0::2], samples[1::2]
    if any(b <= a for a, b in zip(times, times[1:])):
        fail("%s: sample timestamps do not increase: %s" % (path, times[:10]))
    if any(b < a for a, b in zip(ids, ids[1:])) or ids[-1] <= ids[0]:
        fail("%s: sample ids go down or never move: %s" % (path, ids[:10]))


def trace_nodes(tree, nfuncs, out):
    """The trace_tree's nodes [id, function_info_index, count, size, children] into out;
    False when it is not well formed."""
    if not isinstance(tree, list) or len(tree) % 5:
        return False
    for i in range(0, len(tree), 5):
        node_id, func, count, size, children = tree[i:i + 5]
        if not all(isinstance(v, int) and v >= 0 for v in (node_id, func, count, size)):
            return False
        if func >= nfuncs:
            return False
        out.append((node_id, func, count, size))
        if not trace_nodes(children, nfuncs, out):
            return False
    return True


def check_traces(path, doc, names):
    d, snap, strings = doc["doc"], doc["snap"], doc["strings"]
    infos, tree = d.get("trace_function_infos", []), d.get("trace_tree", [])
    nfields = len(snap["meta"].get("trace_function_info_fields", []))
    count = snap.get("trace_function_count")
    if not names:
        if count or infos or tree:
            fail("%s: allocation stacks recorded (%s functions, %d tree numbers) where none "
                 "were asked for" % (path, count, len(tree)))
        return
    if not nfields or not count or len(infos) != count * nfields:
        fail("%s: trace_function_count %s, %d numbers in trace_function_infos" % (path, count,
                                                                                len(infos)))
        return
    nodes = []
    if not tree or not trace_nodes(tree, count, nodes):
        fail("%s: trace_tree is empty or not nested [id, function, count, size, children]: %s"
             % (path, str(tree)[:80]))
        return
    fnames = [strings[infos[i + 1]] if infos[i + 1] < len(strings) else None
              for i in range(0, len(infos), nfields)]
    for name in names:
        funcs = {i for i, n in enumerate(fnames) if n == name}
        if not funcs:
            fail("%s: no function %s in trace_function_infos %s" % (path, name, fnames[:20]))
        elif not any(f in funcs and c > 0 for _, f, c, _ in nodes):
            fail("%s: no trace node of %s counts an allocation" % (path, name))


def count_nodes(doc, type_name, name):
    nf, nodes, strings = doc["nf"], doc["nodes"], doc["strings"]
    ntypes = doc["snap"]["meta"]["node_types"][0]
    ti, ni = nf.index("type"), nf.index("name")
    prefix = name.endswith("*")
    want = name[:-1] if prefix else name
    found = 0
    for i in range(0, len(nodes), len(nf)):
        if ntypes[nodes[i + ti]] != type_name:
            continue
        s = strings[nodes[i + ni]]
        if (s.startswith(want) if prefix else s == want):
            found += 1
    return found


def check_counts(path, doc, specs):
    for spec in specs:
        what, _, n = spec.rpartition("=")
        type_name, _, name = what.partition(":")
        found = count_nodes(doc, type_name, name)
        if found != int(n):
            fail("%s: %d %s nodes named %s, expected %s" % (path, found, type_name, name, n))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("file")
    c.add_argument("--node-fields", type=int)
    c.add_argument("--counts", type=int, nargs=2)
    c.add_argument("--count", action="append", default=[])
    c.add_argument("--samples", type=int)
    c.add_argument("--trace-function", action="append", default=[])
    c.add_argument("--no-traces", action="store_true")
    m = sub.add_parser("compare")
    m.add_argument("a")
    m.add_argument("b")
    m.add_argument("--tolerance", type=float, required=True)
    m.add_argument("--count", action="append", default=[])
    args = ap.parse_args()
    if args.cmd == "check":
        doc = check(args.file, args.node_fields, tuple(args.counts) if args.counts else None)
        if doc:
            check_counts(args.file, doc, args.count)
            if args.samples is not None:
                check_samples(args.file, doc, args.samples)
            if args.trace_function or args.no_traces:
                check_traces(args.file, doc, args.trace_function)
    else:
        a, b = check(args.a), check(args.b)
        if a and b:
            check_counts(args.a, a, args.count)
            check_counts(args.b, b, args.count)
            if a["snap"]["meta"] != b["snap"]["meta"]:
                fail("meta differs between %s and %s" % (args.a, args.b))
            if a["nf"] != b["nf"]:
                fail("node_fields differ: %s, %s" % (a["nf"], b["nf"]))
            if a["keys"] != b["keys"]:
                fail("section order differs: %s, %s" % (a["keys"], b["keys"]))
            for key in ("node_count", "edge_count"):
                x, y = a["snap"][key], b["snap"][key]
                if abs(x - y) > args.tolerance * max(x, y):
                    fail("%s: %d in %s, %d in %s: more than %g apart" % (key, x, args.a, y,
                                                                       args.b, args.tolerance))
    for f in failures:
        print("heapsnapshot_check: " + f, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
