#!/usr/bin/env python3
"""Side-by-side benchmark: the same workloads, in one run, under each tool.

Each repetition runs every tool once, in turn (round-robin), so that drift in
the machine's speed affects all tools alike. Prints, per workload and tool,
the median, min and max wall time, the ratio of medians to the plain run, and
the median peak RSS. Every run's exit status is checked, and for each tool the
output of the first run is compared with the plain run's, so that a broken
profiler cannot look fast.

Usage: /usr/bin/python3 bench/run.py [--reps N] [--workloads jq,python,sqlite]
           [--tools baseline,heapscope,...] [--agent PATH] [--quick]
           [--markdown FILE] [--json FILE]
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"  # Debian's, not whatever python3 is first on PATH
LIBDIR = "/usr/lib/x86_64-linux-gnu"


# ---- workloads --------------------------------------------------------------

def gen_json(path, n):
    """A deterministic JSON array of n objects (about 155 bytes each)."""
    rnd = random.Random(42)
    with open(path, "w") as f:
        f.write("[")
        for i in range(n):
            if i:
                f.write(",")
            json.dump({"id": i, "name": "user%d" % i,
                       "tags": [rnd.choice("abcdefgh") * rnd.randint(1, 8)
                                for _ in range(rnd.randint(1, 6))],
                       "score": rnd.random() * 1000,
                       "nested": {"a": rnd.randint(0, 10**6),
                                  "b": [rnd.randint(0, 100) for _ in range(5)]}}, f)
        f.write("]")


PY_WORKLOAD = r'''
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
'''

SQL_WORKLOAD = """
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, v REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n})
INSERT INTO t SELECT x, 'name-' || (x * 7919 % {n}), x % 97, (x * 31 % 1000) / 7.0 FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, v);
SELECT grp, count(*), round(sum(v), 2) FROM t GROUP BY grp ORDER BY grp LIMIT 5;
SELECT count(*) FROM t WHERE name LIKE 'name-1%';
"""


def prepare(workload, work, quick, build):
    """Writes the workload's inputs; returns (argv, env, stdin path or None)."""
    if workload == "jq":
        n = 20000 if quick else 200000
        path = os.path.join(work, "big-%d.json" % n)
        if not os.path.exists(path):
            gen_json(path, n)
        return ["jq", "-S", ".", path], {}, None
    if workload == "python":
        path = os.path.join(work, "py_alloc.py")
        with open(path, "w") as f:
            f.write(PY_WORKLOAD)
        n = "40000" if quick else "200000"
        return [PY, path, n], {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"}, None
    if workload == "sqlite":
        path = os.path.join(work, "workload.sql")
        with open(path, "w") as f:
            f.write(SQL_WORKLOAD.format(n=20000 if quick else 300000))
        return ["sqlite3", ":memory:"], {}, path
    if workload == "stress":
        # tests/integ/stress.c: 8 threads, 10 M malloc/calloc/realloc/free.
        path = os.path.join(build, "tests", "integ", "stress")
        if not os.path.exists(path):
            raise SystemExit("%s not built (build with tests)" % path)
        return [path], {}, None
    raise SystemExit("unknown workload %s" % workload)


# ---- tools ------------------------------------------------------------------

TOOLS = ["baseline", "heapscope", "heapscope-nowrap", "heaptrack", "jemalloc-noprof",
         "jemalloc", "gperftools", "massif"]
DEFAULT_TOOLS = [t for t in TOOLS if t != "massif"]


def wrap(tool, argv, env, agent, tmp):
    """The command and environment that run argv under tool."""
    env = dict(env)
    if tool == "baseline":
        return argv, env
    if tool in ("heapscope", "heapscope-nowrap"):
        env["LD_PRELOAD"] = agent
        if tool == "heapscope-nowrap":
            env["HEAPSCOPE_WRAPPERS"] = ""
        return argv, env
    if tool == "heaptrack":
        return ["heaptrack", "-o", os.path.join(tmp, "ht")] + argv, env
    if tool == "jemalloc-noprof":
        env["LD_PRELOAD"] = os.path.join(LIBDIR, "libjemalloc.so.2")
        return argv, env
    if tool == "jemalloc":
        env["LD_PRELOAD"] = os.path.join(LIBDIR, "libjemalloc.so.2")
        # prof_final: dump at exit, else a short run writes no profile at all.
        env["MALLOC_CONF"] = "prof:true,lg_prof_sample:15,prof_final:true,prof_prefix:%s/jeprof" % tmp
        return argv, env
    if tool == "gperftools":
        env["LD_PRELOAD"] = os.path.join(LIBDIR, "libtcmalloc.so.4")
        env["HEAPPROFILE"] = os.path.join(tmp, "gp")
        return argv, env
    if tool == "massif":
        return ["valgrind", "--tool=massif", "--massif-out-file=%s/massif.out" % tmp] + argv, env
    raise SystemExit("unknown tool %s" % tool)


def run_once(cmd, env, stdin_path, capture):
    full_env = dict(os.environ)
    full_env.pop("LD_PRELOAD", None)
    full_env.update(env)
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    out = tempfile.TemporaryFile() if capture else subprocess.DEVNULL
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=full_env, stdin=stdin, stdout=out, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    digest = None
    if capture:
        out.seek(0)
        digest = hashlib.sha256(out.read()).hexdigest()
        out.close()
    if stdin_path:
        stdin.close()
    return wall, usage.ru_maxrss, p.returncode, digest, err


def versions():
    def first_line(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not found"
    def deb(pkg):
        return first_line(["dpkg-query", "-W", "-f=${Version}", pkg])
    return {"jq": first_line(["jq", "--version"]), "python3": first_line([PY, "--version"]),
            "sqlite3": first_line(["sqlite3", "--version"]).split(" ")[0],
            "heaptrack": first_line(["heaptrack", "--version"]),
            "jemalloc": deb("libjemalloc2"), "gperftools": deb("libgoogle-perftools4"),
            "valgrind": first_line(["valgrind", "--version"]), "glibc": platform.libc_ver()[1]}


def machine():
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return "%d cores, %s" % (os.cpu_count(), model)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workloads", default="jq,python",
                    help="jq, python, sqlite, stress (8 threads; needs a build with tests)")
    ap.add_argument("--tools", default=",".join(DEFAULT_TOOLS))
    ap.add_argument("--agent", default=os.path.join(ROOT, "build", "lib", "libheapscope.so"))
    ap.add_argument("--work", default=os.path.join(HERE, ".work"))
    ap.add_argument("--quick", action="store_true", help="small inputs, one repetition")
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    args = ap.parse_args()
    tools = args.tools.split(",")
    for t in tools:
        if t not in TOOLS:
            ap.error("unknown tool %s (known: %s)" % (t, ", ".join(TOOLS)))
    if "baseline" not in tools:
        tools.insert(0, "baseline")
    reps = 1 if args.quick else args.reps
    if any(t.startswith("heapscope") for t in tools) and not os.path.exists(args.agent):
        raise SystemExit("agent not found at %s (build first, or pass --agent)" % args.agent)
    os.makedirs(args.work, exist_ok=True)

    results, failures = {}, []
    for wl in args.workloads.split(","):
        build = os.path.dirname(os.path.dirname(os.path.abspath(args.agent)))
        argv, env, stdin_path = prepare(wl, args.work, args.quick, build)
        times = {t: [] for t in tools}
        rss = {t: [] for t in tools}
        ref = None
        for rep in range(reps):
            for tool in tools:
                # massif is 20-50x slower: one run is enough to place it.
                if tool == "massif" and rep > 0:
                    continue
                with tempfile.TemporaryDirectory(prefix="hsbench-") as tmp:
                    cmd, e = wrap(tool, argv, env, args.agent, tmp)
                    capture = rep == 0
                    wall, maxrss, rc, digest, err = run_once(cmd, {**env, **e}, stdin_path, capture)
                    if tool == "gperftools" and rep == 0 and not any(
                            f.startswith("gp") for f in os.listdir(tmp)):
                        failures.append("%s/%s: wrote no heap profile" % (wl, tool))
                    if tool == "jemalloc" and rep == 0 and not any(
                            f.startswith("jeprof") for f in os.listdir(tmp)):
                        failures.append("%s/%s: wrote no heap profile" % (wl, tool))
                if rc != 0:
                    failures.append("%s/%s: exit status %d: %s" % (wl, tool, rc, err[-300:]))
                # heaptrack prints its own progress on stdout: not comparable.
                if capture and tool != "heaptrack":
                    if tool == "baseline":
                        ref = digest
                    elif digest != ref:
                        failures.append("%s/%s: output differs from the plain run" % (wl, tool))
                times[tool].append(wall)
                rss[tool].append(maxrss)
                print("%s rep %d/%d %-16s %7.3f s %8d KiB" % (wl, rep + 1, reps, tool, wall,
                                                              maxrss), file=sys.stderr)
        base = statistics.median(times["baseline"])
        results[wl] = {t: {"median": statistics.median(v), "min": min(v), "max": max(v),
                           "ratio": statistics.median(v) / base, "reps": len(v),
                           "rss_kib": int(statistics.median(rss[t]))}
                       for t, v in times.items()}

    cmdline = "/usr/bin/python3 bench/run.py " + " ".join(sys.argv[1:])
    lines = []
    for wl, per in results.items():
        lines.append("| %s | tool | median s | min s | max s | ratio | peak RSS MiB | runs |" % wl)
        lines.append("|---|---|---|---|---|---|---|---|")
        for t in tools:
            r = per[t]
            lines.append("| | %s | %.3f | %.3f | %.3f | %.2f× | %.0f | %d |" % (
                t, r["median"], r["min"], r["max"], r["ratio"], r["rss_kib"] / 1024, r["reps"]))
        lines.append("")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("Command: `%s`\n\nDate: %s. Machine: %s.\n\n" % (
                cmdline, datetime.date.today().isoformat(), machine()))
            f.write("Versions: %s.\n\n" % ", ".join("%s %s" % kv for kv in versions().items()))
            f.write(table + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": cmdline, "machine": machine(), "versions": versions(),
                       "results": results, "failures": failures}, f, indent=1)
    for msg in failures:
        print("FAIL: " + msg, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
