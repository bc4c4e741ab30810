#!/usr/bin/python3
"""Checks that a .heapprofile has the shape of the ones Node 20 writes.

Usage: heapprofile_shape.py GOLDEN.heapprofile FILE [--function NAME]...
                            [--stats SAMPLES NODES SELF_BYTES]

The golden file gives the expected keys, in order, of the top level, of every
node, of every callFrame and of every sample. FILE must have exactly those at
every level, with the same JSON types; be compact JSON byte for byte as
JSON.stringify writes it (what DevTools saves); have "(root)" with id 1 at the
head; have unique node ids; have every sample's nodeId in the tree; and
contain a node for each --function NAME.

One exception, V8's own (spec §3.6): building the profile allocates on the JS
heap, so a sample taken while the tree is translated is listed while its node,
created after the tree was read, is not (golden sampling-getSamplingProfile:
nodeId 29, ordinal 9221). Such a sample is accepted only when it is that: its
nodeId above every id in the tree and its ordinal above every other sample's. --stats compares with the counts the
CLI printed. Prints what is wrong and exits 1, or exits 0.
"""
import json
import sys


def kind(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    return type(v).__name__


def shape(obj):
    return [(k, kind(v)) for k, v in obj.items()]


def main(argv):
    args = argv[1:]
    functions, stats, files = [], None, []
    while args:
        a = args.pop(0)
        if a == "--function":
            functions.append(args.pop(0))
        elif a == "--stats":
            stats = tuple(int(args.pop(0)) for _ in range(3))
        else:
            files.append(a)
    if len(files) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    golden_path, path = files
    with open(golden_path, encoding="utf-8") as f:
        golden = json.load(f)
    with open(path, "rb") as f:
        raw = f.read()
    errors = []
    try:
        doc = json.loads(raw.decode("utf-8"))
    except ValueError as e:
        print(f"{path}: not JSON: {e}", file=sys.stderr)
        return 1

    compact = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if raw != compact:
        errors.append("not compact JSON as JSON.stringify writes it "
                      f"({len(raw)} bytes, re-serialised {len(compact)})")

    want_top = shape(golden)
    want_node = shape(golden["head"])
    want_frame = shape(golden["head"]["callFrame"])
    want_sample = shape(golden["samples"][0])
    if not isinstance(doc, dict) or shape(doc) != want_top:
        errors.append(f"top level {shape(doc) if isinstance(doc, dict) else kind(doc)} "
                      f"!= {want_top}")
        doc = {"head": None, "samples": []}

    ids, names, self_bytes = set(), set(), 0
    stack = [("head", doc["head"])]
    while stack:
        where, node = stack.pop()
        if not isinstance(node, dict) or shape(node) != want_node:
            errors.append(f"{where}: {shape(node) if isinstance(node, dict) else node} "
                          f"!= {want_node}")
            continue
        if shape(node["callFrame"]) != want_frame:
            errors.append(f"{where}.callFrame: {shape(node['callFrame'])} != {want_frame}")
        if node["id"] in ids:
            errors.append(f"{where}: node id {node['id']} twice")
        ids.add(node["id"])
        names.add(node["callFrame"].get("functionName"))
        self_bytes += node["selfSize"]
        for i, child in enumerate(node["children"]):
            stack.append((f"{where}.children[{i}]", child))

    head = doc["head"]
    if isinstance(head, dict) and shape(head) == want_node:
        frame = head["callFrame"]
        if (frame.get("functionName"), frame.get("scriptId"), head["id"]) != ("(root)", "0", 1):
            errors.append(f"head is not (root) with scriptId \"0\" and id 1: {frame}, "
                          f"id {head['id']}")

    orphans, last_ordinal = [], 0
    for i, s in enumerate(doc["samples"]):
        if not isinstance(s, dict) or shape(s) != want_sample:
            errors.append(f"samples[{i}]: {s} does not have the shape {want_sample}")
        elif s["nodeId"] not in ids:
            orphans.append((i, s))
        else:
            last_ordinal = max(last_ordinal, s["ordinal"])
    for i, s in orphans:
        if ids and s["nodeId"] > max(ids) and s["ordinal"] > last_ordinal:
            print(f"{path}: note: samples[{i}] {s} was taken while V8 built the profile",
                  file=sys.stderr)
        else:
            errors.append(f"samples[{i}]: nodeId {s['nodeId']} is not in the tree")

    for name in functions:
        if name not in names:
            errors.append(f"no node for function {name!r} (functions: {sorted(names)})")

    if stats is not None:
        got = (len(doc["samples"]), len(ids), self_bytes)
        if got != stats:
            errors.append(f"(samples, nodes, self bytes) = {got}, the CLI said {stats}")

    for e in errors[:20]:
        print(f"{path}: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
