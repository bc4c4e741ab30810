#!/usr/bin/python3
"""Writes a deterministic JSON array of about 30 MB for the jq integration
tests (integ-jq*): the same bytes on every run and machine.

usage: gen_json.py OUTPUT [MEGABYTES]
"""
import json
import os
import sys


def records():
    state = 0x2545F4914F6CDD1D
    mask = (1 << 64) - 1
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
             "hotel", "india", "juliett", "kilo", "lima", "mike", "november",
             "oscar", "papa", "quebec", "romeo", "sierra", "tango", "unicode-\u00e9\u4e2d"]
    i = 0
    while True:
        state ^= (state << 13) & mask
        state ^= state >> 7
        state ^= (state << 17) & mask
        r = state
        yield {
            "id": i,
            "name": "%s-%s-%d" % (words[r % 21], words[(r >> 8) % 21], r % 100000),
            "group": "g%02d" % ((r >> 16) % 40),
            "score": (r >> 20) % 1000000 / 1000.0,
            "active": bool((r >> 40) & 1),
            "tags": [words[(r >> s) % 21] for s in range(0, (r >> 44) % 7 * 4, 4)],
            "point": {"x": (r >> 24) % 2001 - 1000, "y": (r >> 34) % 2001 - 1000,
                      "label": None if r % 5 == 0 else "p%d" % (r % 997)},
            "history": [(r >> s) % 97 for s in range(0, (r >> 50) % 12 * 3, 3)],
            "note": words[(r >> 12) % 21] * ((r >> 56) % 6),
        }
        i += 1


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: gen_json.py OUTPUT [MEGABYTES]")
    out = sys.argv[1]
    limit = int(sys.argv[2] if len(sys.argv) == 3 else 30) * 1000 * 1000
    tmp = out + ".tmp"
    size = 0
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("[\n")
        first = True
        for rec in records():
            line = json.dumps(rec, ensure_ascii=False, sort_keys=False)
            if not first:
                f.write(",\n")
            f.write(line)
            size += len(line) + 2
            first = False
            if size >= limit:
                break
        f.write("\n]\n")
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
