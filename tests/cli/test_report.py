#!/usr/bin/python3
"""heapscope report and diff (issue 8) on snapshots whose truth is known.

The known-heap program (tests/snapshot/known_heap.c) runs under the agent and
is snapshotted twice by signal, before and after its "more" command; its
"truth" command says what every site holds. Then:

  report --format json: every site's count and bytes equal the truth; the
      list's chain is retained by its head only once (DevTools' maxRet); the
      biggest retainer is the list, held through g_list; the leaks are the
      300 make_leak blocks and the 3 make_cycle_node blocks;
  report on V8's golden snapshot: node 20's classes (Function, Object, ...),
      totals equal to the file's header;
  diff: exactly the 1000 make_more_node blocks added, nothing freed;
      --fail-if-grown exits 1 above the growth and 0 at it;
  errors: a truncated file, a missing file and bad options give a clear
      message and exit 1 (2 for the command line), never a crash.

Usage: test_report.py HEAPSCOPE AGENT_LIB KNOWN_HEAP SHARED_DIR WORKDIR
"""

import json
import os
import signal
import subprocess
import shutil
import sys
import tempfile
import time

heapscope, agent, known, shared, parent = sys.argv[1:6]
# A fresh directory of our own under the one given: nothing given is removed.
os.makedirs(parent, exist_ok=True)
work = tempfile.mkdtemp(prefix="report-", dir=parent)
failures = []
passes = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    (passes if cond else failures).append(what)


def run(*args):
    return subprocess.run([heapscope, *args], capture_output=True, text=True, timeout=120)


def wait_for(path, proc, limit=60.0):
    """The agent writes to a temporary file and renames it: the name is the end."""
    end = time.monotonic() + limit
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > end:
            raise SystemExit("no snapshot %s (program %s)" % (path, proc.poll()))
        time.sleep(0.02)


# ---- two snapshots of one process -------------------------------------------------
env = dict(os.environ, LD_PRELOAD=agent, HEAPSCOPE_LISTEN="off", HEAPSCOPE_SNAPSHOT_SIGNAL="USR2",
           HEAPSCOPE_SNAPSHOT_OUT=os.path.join(work, "kh-%n.heapsnapshot"))
p = subprocess.Popen([known], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
assert p.stdout.readline().startswith("start ")
p.stdin.write("truth\n")
p.stdin.flush()
truth = json.loads(p.stdout.readline())
first, second = (os.path.join(work, "kh-%d.heapsnapshot" % n) for n in (1, 2))
p.send_signal(signal.SIGUSR2)
wait_for(first, p)
p.stdin.write("more\n")
p.stdin.flush()
after = json.loads(p.stdout.readline())
p.send_signal(signal.SIGUSR2)
wait_for(second, p)
p.stdin.close()
p.wait(timeout=60)

# ---- report -------------------------------------------------------------------------
r = run("report", first, "--format", "json", "--top", "1000")
check(r.returncode == 0, "report exits 0 (%s)" % r.stderr.strip())
rep = json.loads(r.stdout)
classes = {c["name"].split(" ")[0].split("(")[0]: c for c in rep["classes"]}
for key in ("list", "table", "leaks", "cycle", "tree", "tree_nodes", "stack"):
    site, want = truth[key]["site"], truth[key]
    got = classes.get(site, {})
    check(got.get("count") == want["count"] and got.get("shallow") == want["bytes"],
          "report: %s %s objects, %s bytes (truth %d, %d)" % (site, got.get("count"),
                                                           got.get("shallow"), want["count"],
                                                           want["bytes"]))
lst = classes["make_list_node"]
check(lst["retained"] == truth["list"]["bytes"],
      "report: the list's class retains its bytes once (maxRet %d)" % lst["retained"])
top = rep["retainers"][0]
check(top["name"].startswith("make_list_node") and top["retained"] == truth["list"]["bytes"] and
      any(step["edge"] == "g_list" for step in top["path"]),
      "report: the biggest retainer is the list's head, held through g_list")
leaks = {l["site"].split(" ")[0]: l for l in rep["leaks"]}
check(leaks.get("make_leak", {}).get("count") == truth["leaks"]["count"] and
      leaks.get("make_leak", {}).get("bytes") == truth["leaks"]["bytes"],
      "report: leaks: the 300 make_leak blocks")
check(leaks.get("make_cycle_node", {}).get("count") == truth["cycle"]["count"],
      "report: leaks: the 3 make_cycle_node blocks of the unreachable cycle")
check(set(leaks) == {"make_leak", "make_cycle_node"}, "report: no other leak (%s)" % sorted(leaks))
check(rep["leaked"]["objects"] == truth["leaks"]["count"] + truth["cycle"]["count"],
      "report: leaked objects in all")

text = run("report", first, "--top", "3", "--filter", "make_l")
check(text.returncode == 0 and "make_list_node" in text.stdout and "make_leak" in text.stdout and
      "make_blob" not in text.stdout, "report --filter keeps only matching classes")

golden = os.path.join(shared, "golden", "v8-node20", "snapshot-stopTracking.heapsnapshot")
g = run("report", golden, "--format", "json", "--top", "50")
check(g.returncode == 0, "report reads V8's snapshot (%s)" % g.stderr.strip())
grep = json.loads(g.stdout)
header = json.load(open(golden))["snapshot"]
check(grep["nodes"] == header["node_count"] and grep["edges"] == header["edge_count"],
      "report: V8's node and edge counts")
names = {c["name"] for c in grep["classes"]}
check({"Function", "Object", "(compiled code)"} <= names, "report: V8's classes by constructor")

# ---- diff ---------------------------------------------------------------------------
added = after["more"]
d = run("diff", first, second, "--format", "json", "--top", "1000")
check(d.returncode == 0, "diff exits 0 (%s)" % d.stderr.strip())
diff = json.loads(d.stdout)
check(diff["added"] == added["count"] and diff["added_bytes"] == added["bytes"] and
      diff["freed"] == 0 and diff["growth"] == added["bytes"],
      "diff: %d objects (%d bytes) added, none freed" % (diff["added"], diff["added_bytes"]))
grown = [c for c in diff["classes"] if c["added"] or c["freed"]]
check(len(grown) == 1 and grown[0]["name"].startswith("make_more_node") and
      grown[0]["added"] == added["count"], "diff: only make_more_node grew")
same = run("diff", first, first, "--format", "json")
check(json.loads(same.stdout)["growth"] == 0 and json.loads(same.stdout)["added"] == 0,
      "diff of a snapshot with itself: nothing")
over = run("diff", first, second, "--fail-if-grown", str(added["bytes"] - 1))
check(over.returncode == 1 and "FAIL" in over.stdout, "diff --fail-if-grown below the growth: exit 1")
at = run("diff", first, second, "--fail-if-grown", str(added["bytes"]))
check(at.returncode == 0, "diff --fail-if-grown at the growth: exit 0")
back = run("diff", second, first, "--fail-if-grown", "0")
check(back.returncode == 0 and "-46.9 KiB" in back.stdout, "diff the other way: shrinking passes the gate")

# ---- profiles -----------------------------------------------------------------------
def functions(path):
    """Per function (name, url, line): self, and total with recursion counted once."""
    prof = json.load(open(path))
    out = {}

    def key(n):
        cf = n.get("callFrame", n)
        return (cf.get("functionName") or "(anonymous)", cf.get("url", ""), cf.get("lineNumber", -1))

    def walk(n, path_keys):
        k = key(n)
        total = n["selfSize"] + sum(walk(c, path_keys + [k]) for c in n.get("children", []))
        f = out.setdefault(k, [0, 0])
        f[0] += n["selfSize"]
        if k not in path_keys:
            f[1] += total
        return total

    walk(prof["head"], [])
    return out


gdir = os.path.join(shared, "golden", "v8-node20")
prof_a = os.path.join(gdir, "sampling-stopSampling.heapprofile")
prof_b = os.path.join(gdir, "sampling-with-gc-flags.heapprofile")
pr = run("report", prof_b, "--format", "json", "--top", "1000")
check(pr.returncode == 0, "report reads a .heapprofile (%s)" % pr.stderr.strip())
prep = json.loads(pr.stdout)
want = functions(prof_b)
got_self = {f["function"].split(" (")[0]: f["self"] for f in prep["by_self"]}
got_total = {f["function"].split(" (")[0]: f["total"] for f in prep["by_total"]}
exp_self = {}
exp_total = {}
for (name, url, line), (fs, ft) in want.items():
    if name != "(root)":
        if fs:
            exp_self[name] = exp_self.get(name, 0) + fs
        if ft:
            exp_total[name] = exp_total.get(name, 0) + ft
check(got_self == exp_self, "report profile: every function's self bytes (%d functions)" % len(exp_self))
check(got_total == exp_total, "report profile: every function's total bytes, recursion once")
check(prep["total"] == sum(f[0] for f in want.values()), "report profile: the total")
# Recursion: f -> g -> f. f's total counts the inner f once, inside the outer one.
def frame(name, self_size, kids, nid):
    return {"callFrame": {"functionName": name, "scriptId": "1", "url": "r.js", "lineNumber": 1,
                          "columnNumber": 0}, "selfSize": self_size, "id": nid, "children": kids}


rec = os.path.join(work, "recursive.heapprofile")
with open(rec, "w") as f:
    json.dump({"head": {"callFrame": {"functionName": "(root)", "scriptId": "0", "url": "",
                                      "lineNumber": -1, "columnNumber": -1},
                        "selfSize": 0, "id": 1,
                        "children": [frame("f", 10, [frame("g", 5, [frame("f", 7, [], 4)], 3)], 2)]},
               "samples": []}, f)
rr = json.loads(run("report", rec, "--format", "json").stdout)
fself = {x["function"].split(" (")[0]: x["self"] for x in rr["by_self"]}
ftotal = {x["function"].split(" (")[0]: x["total"] for x in rr["by_total"]}
check(fself == {"f": 17, "g": 5} and ftotal == {"f": 22, "g": 12},
      "report profile: recursion counted once in total (f 22, g 12: %s)" % ftotal)
tree = run("report", prof_b, "--tree", "--top", "8")
check(tree.returncode == 0 and "call tree" in tree.stdout and "  allocateBatch" in tree.stdout,
      "report --tree: the call tree, indented")
check("<- (anonymous) <- listOnTimeout <- processTimers" in tree.stdout,
      "report --tree: bottom up, allocateBatch's callers")
pd = run("diff", prof_a, prof_b, "--format", "json", "--top", "1000")
pdiff = json.loads(pd.stdout)
ta, tb = (sum(f[0] for f in functions(x).values()) for x in (prof_a, prof_b))
check(pd.returncode == 0 and pdiff["growth"] == tb - ta and
      sum(f["growth"] for f in pdiff["functions"]) == tb - ta,
      "diff of two profiles: the functions' growths add up to the totals' (%d)" % (tb - ta))
gate = run("diff", prof_a, prof_b, "--fail-if-grown", str(tb - ta - 1))
check(gate.returncode == 1, "diff of profiles --fail-if-grown: exit 1 above the limit")
mixed = run("diff", prof_a, first)
check(mixed.returncode == 1 and "only be compared with a profile" in mixed.stderr,
      "diff of a profile with a snapshot: a clear error")

# ---- errors -------------------------------------------------------------------------
cut = os.path.join(work, "cut.heapsnapshot")
with open(first, "rb") as f:
    data = f.read()
with open(cut, "wb") as f:
    f.write(data[: len(data) // 2])
for args, code, text in (
    (("report", cut), 1, "cut.heapsnapshot: byte"),
    (("report", os.path.join(work, "missing.heapsnapshot")), 1, "missing.heapsnapshot"),
    (("diff", first, cut), 1, "cut.heapsnapshot: byte"),
    (("report",), 2, "usage"),
    (("report", first, "--top", "0"), 2, "usage"),
    (("diff", first), 2, "usage"),
    (("diff", first, second, "--fail-if-grown", "-5"), 2, "usage"),
):
    e = run(*args)
    check(e.returncode == code and text in e.stderr,
          "%s: exit %d with %r (%d, %s)" % (" ".join(args[:1] + tuple(os.path.basename(a) for a in args[1:])),
                                            code, text, e.returncode, e.stderr.strip()[:120]))

print("%d passed, %d failed" % (len(passes), len(failures)))
if failures:
    print("files kept in %s" % work)
else:
    shutil.rmtree(work)  # our own mkdtemp directory, and only when all passed
sys.exit(1 if failures else 0)
