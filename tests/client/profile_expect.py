#!/usr/bin/env python3
"""What `heapscope convert`'s outputs must say about a .heapprofile, computed
here independently of heapscope (test_cli_convert.sh).

  profile_expect.py PROFILE totals
      prints "TOTAL OBJECTS FRAMES": the sum of the self sizes, how many
      samples name a node of the tree, how many nodes have bytes in their
      subtree (the HTML flame graph's rectangles)
  profile_expect.py PROFILE collapsed FILE
      FILE's lines are exactly the nodes with a self size: "root;...;node SELF",
      frames named NAME or NAME (URL:LINE), in any order
  profile_expect.py PROFILE pprof-raw FILE
      FILE is `go tool pprof -raw`'s output for the converted profile: its
      samples add up to TOTAL bytes and OBJECTS objects
Exit status 0 when it holds, 1 (with what differs) when not.
"""
import json
import re
import sys


def nodes(profile):
    """(path, self, id, subtree total) for every node, root first."""
    out = []

    def frame(n):
        cf = n.get('callFrame')
        if cf is not None:
            name, url, line = cf.get('functionName', ''), cf.get('url', ''), cf.get('lineNumber', -1)
        else:  # legacy: 1-based lines on the node
            name, url = n.get('functionName', ''), n.get('url', '')
            ln = n.get('lineNumber', 0)
            line = ln - 1 if ln > 0 else -1
        s = name or '(anonymous)'
        if url:
            s += ' (' + url + (':%d' % (line + 1) if line >= 0 else '') + ')'
        return s.replace(';', ':').replace('\n', ' ').replace('\r', ' ')

    def walk(n, prefix):
        path = prefix + [frame(n)]
        i = len(out)
        out.append([';'.join(path), n['selfSize'], n.get('id', 0), 0])
        total = n['selfSize'] + sum(walk(c, path) for c in n.get('children', []))
        out[i][3] = total
        return total

    walk(profile['head'], [])
    return out


def main():
    profile = json.load(open(sys.argv[1]))
    ns = nodes(profile)
    total = sum(n[1] for n in ns)
    ids = {n[2] for n in ns if n[2]}
    objects = sum(1 for s in profile.get('samples', []) if s['nodeId'] in ids)
    what = sys.argv[2]
    if what == 'totals':
        print(total, objects, sum(1 for n in ns if n[3] > 0))
        return 0
    text = open(sys.argv[3], encoding='utf-8').read()
    if what == 'collapsed':
        want = sorted('%s %d' % (n[0], n[1]) for n in ns if n[1] > 0)
        got = sorted(text.splitlines())
        if got != want:
            print('collapsed lines differ:\n  got  %r\n  want %r' % (got, want), file=sys.stderr)
            return 1
        if sum(int(l.rsplit(' ', 1)[1]) for l in got) != total:
            print('collapsed total differs', file=sys.stderr)
            return 1
        return 0
    if what == 'pprof-raw':
        m = re.search(r'^Samples:\n.*\n((?:\s+\d+\s+\d+:.*\n)*)', text, re.M)
        if not m:
            print('no samples in pprof -raw output:\n' + text, file=sys.stderr)
            return 1
        vals = [tuple(map(int, re.match(r'\s+(\d+)\s+(\d+):', l).groups()))
                for l in m.group(1).splitlines()]
        got = (sum(v[1] for v in vals), sum(v[0] for v in vals))
        if got != (total, objects):
            print('pprof says %d bytes, %d objects; the profile %d, %d' % (got + (total, objects)),
                  file=sys.stderr)
            return 1
        return 0
    print('unknown check ' + what, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main())
