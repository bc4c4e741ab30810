#!/usr/bin/env python3
"""`heapscope report` on a generated multi-gigabyte heap snapshot, beside memlab
(issue 8): the same file, one run each, one after the other.

The snapshot is written by hs-bench-bigsnap-gen (bench/bigsnap_gen.c): a
heap-like V8-format graph of --nodes nodes (28 M, about 2.0 GB, by default),
generated once and cached in --work (bench/.work, git-ignored) with the
generator's counts beside it (FILE.json). Then, per size:

  heapscope  /usr/bin/time -v heapscope report FILE --format json
             (read, DevTools' analysis with dominators and retained sizes,
             classes, retainer paths, leaks; JSON to a file)
  memlab     /usr/bin/time -v node --max-old-space-size=20000
             bench/report_memlab.js FILE (memlab's loader, then what its
             analyses run first: shortest paths, dominators, retained sizes;
             then class aggregates)

Wall time and peak RSS come from GNU time (`Elapsed (wall clock) time`,
`Maximum resident set size`). Checks (exit status 1, FAILED): each tool exits
0 within --timeout and reports the generator's node and edge counts; heapscope's
leaked objects are the generator's unreachable nodes. A tool that fails at one size is
not run at larger ones, and the failure (exit status, the last lines of its
stderr) is printed with the table.

Usage: /usr/bin/python3 bench/report.py [--ladder | --sizes 0.5,2 | --nodes N]
           [--tools heapscope,memlab] [--build DIR] [--markdown FILE] [--json FILE]
           [--smoke] [--clean]
See bench/README.md ("Reports of big snapshots").
"""
import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from run import first_line, loadavg, machine  # noqa: E402

BYTES_PER_NODE = 78  # the generator's file size per node at 5-30 M nodes, measured
LADDER = [3500000, 7000000, 14000000, 28000000]  # 0.26, 0.54, 1.08, 2.22 GB
SEED = 42
SMOKE_NODES = 20000


def gib(x):
    return x / 2**30


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def generate(gen, work, nodes):
    """The cached snapshot of `nodes` nodes and the generator's counts."""
    path = os.path.join(work, "bigsnap-n%d-s%d.heapsnapshot" % (nodes, SEED))
    meta = path + ".json"
    if os.path.exists(path) and os.path.exists(meta):
        info = json.load(open(meta))
        if info.get("bytes") == os.path.getsize(path) and info.get("nodes") == nodes:
            log("cached: %s (%.2f GiB)" % (os.path.relpath(path), gib(info["bytes"])))
            return path, info
    os.makedirs(work, exist_ok=True)
    t = time.monotonic()
    r = subprocess.run([gen, "--nodes", str(nodes), "--seed", str(SEED), "-o", path + ".part"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("report.py: %s failed: %s" % (gen, r.stderr.strip()))
    info = json.loads(r.stdout)
    os.replace(path + ".part", path)
    with open(meta, "w") as f:
        f.write(r.stdout)
    log("generated %s: %d nodes, %d edges, %.2f GiB in %.1f s" %
        (os.path.relpath(path), info["nodes"], info["edges"], gib(info["bytes"]),
         time.monotonic() - t))
    return path, info


def timed(cmd, out_path, timeout):
    """Runs cmd under /usr/bin/time -v, stdout to out_path; returns a dict."""
    with tempfile.NamedTemporaryFile("r", suffix=".time", delete=False) as tf:
        tpath = tf.name
    full = ["/usr/bin/time", "-v", "-o", tpath] + cmd
    t0 = time.monotonic()
    with open(out_path, "w") as out:
        p = subprocess.Popen(full, stdout=out, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            _, err = p.communicate()
            os.unlink(tpath)
            return {"ok": False, "why": "timed out after %d s" % timeout,
                    "wall": time.monotonic() - t0, "stderr": err}
    text = open(tpath).read()
    os.unlink(tpath)
    res = {"cmd": cmd, "rc": p.returncode, "stderr": err, "time_v": text}

    def field(name):
        m = re.search(r"^\s*" + re.escape(name) + r": (.*)$", text, re.M)
        return m.group(1).strip() if m else None
    w = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    if w:
        parts = [float(x) for x in w.split(":")]
        res["wall"] = sum(v * 60 ** (len(parts) - 1 - i) for i, v in enumerate(parts))
    else:
        res["wall"] = time.monotonic() - t0
    rss = field("Maximum resident set size (kbytes)")
    res["rss_mib"] = int(rss) / 1024 if rss else None
    res["user"] = float(field("User time (seconds)") or 0)
    res["sys"] = float(field("System time (seconds)") or 0)
    res["major_faults"] = int(field("Major (requiring I/O) page faults") or 0)
    res["ok"] = p.returncode == 0
    if not res["ok"]:
        sig = re.search(r"Command terminated by signal (\d+)", text)
        res["why"] = ("killed by signal %s" % sig.group(1)) if sig else "exit status %d" % p.returncode
    return res


def run_heapscope(cli, path, info, out, timeout):
    r = timed([cli, "report", path, "--format", "json"], out, timeout)
    if r["ok"]:
        try:
            j = json.load(open(out))
        except ValueError as e:
            r.update(ok=False, why="report is not JSON: %s" % e)
            return r
        r["report"] = {"nodes": j["nodes"], "edges": j["edges"], "live": j["live"],
                       "leaked": j["leaked"], "classes": len(j["classes"])}
        bad = []
        if j["nodes"] != info["nodes"] or j["edges"] != info["edges"]:
            bad.append("%d nodes, %d edges; the generator wrote %d, %d" %
                       (j["nodes"], j["edges"], info["nodes"], info["edges"]))
        if j["leaked"]["objects"] != info["unreachable_nodes"]:
            bad.append("%d leaked objects; the generator wrote %d unreachable nodes" %
                       (j["leaked"]["objects"], info["unreachable_nodes"]))
        if bad:
            r.update(ok=False, why="; ".join(bad))
    return r


def run_memlab(node, modules, path, info, out, timeout, heap_mb):
    r = timed([node, "--max-old-space-size=%d" % heap_mb, os.path.join(HERE, "report_memlab.js"),
               path, modules], out, timeout)
    if r["ok"]:
        try:
            j = json.loads(open(out).read().strip().splitlines()[-1])
        except (ValueError, IndexError) as e:
            r.update(ok=False, why="no result line: %s" % e)
            return r
        r["report"] = {k: j[k] for k in ("nodes", "edges", "phases", "classes", "root_retained",
                                         "memlab")}
        if j["nodes"] != info["nodes"] or j["edges"] != info["edges"]:
            r.update(ok=False, why="%d nodes, %d edges; the generator wrote %d, %d" %
                     (j["nodes"], j["edges"], info["nodes"], info["edges"]))
    return r


def cell(r, key, fmt):
    if r is None:
        return "–"
    if not r.get("ok"):
        return "FAILED"
    return fmt % r[key]


def md_table(cols, rows):
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---:" if i else "---"
                                                          for i in range(len(cols))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def text_table(cols, rows):
    w = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
    line = lambda r: "  ".join(x.rjust(w[i]) if i else x.ljust(w[i]) for i, x in enumerate(r))
    return "\n".join([line(cols)] + [line(r) for r in rows])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=float, help="one size, in nodes (default: 28e6, ~2.0 GB)")
    ap.add_argument("--sizes", help="sizes in GB (10^9 bytes), comma-separated, e.g. 0.25,2")
    ap.add_argument("--ladder", action="store_true",
                    help="3.5, 7, 14 and 28 M nodes (0.26, 0.54, 1.08, 2.22 GB)")
    ap.add_argument("--smoke", action="store_true",
                    help="%d nodes (a few hundred KB): ctest -R bench-report-smoke" % SMOKE_NODES)
    ap.add_argument("--tools", default="heapscope,memlab")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="a Release build tree (bin/heapscope, bin/hs-bench-bigsnap-gen)")
    ap.add_argument("--cli", help="heapscope (default BUILD/bin/heapscope)")
    ap.add_argument("--gen", help="the generator (default BUILD/bin/hs-bench-bigsnap-gen)")
    ap.add_argument("--node-modules", default=os.path.join(ROOT, "tests/node/node_modules"))
    ap.add_argument("--heap-mb", type=int, default=20000, help="node --max-old-space-size")
    ap.add_argument("--work", default=os.path.join(HERE, ".work"))
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--clean", action="store_true", help="delete the generated files at the end")
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    a = ap.parse_args()

    cli = a.cli or os.path.join(a.build, "bin", "heapscope")
    gen = a.gen or os.path.join(a.build, "bin", "hs-bench-bigsnap-gen")
    for p in (cli, gen):
        if not os.access(p, os.X_OK):
            sys.exit("report.py: %s: not found (build with cmake first, or --build DIR)" % p)
    if a.smoke:
        sizes = [SMOKE_NODES]
    elif a.nodes:
        sizes = [int(a.nodes)]
    elif a.ladder:
        sizes = LADDER
    elif a.sizes:
        gbs = [float(x) for x in a.sizes.split(",")]
        sizes = [int(round(g * 1e9 / BYTES_PER_NODE / 1e5) * 1e5) for g in gbs]
    else:
        sizes = [28000000]
    tools = a.tools.split(",")
    notes = []
    node = shutil.which("node")
    if "memlab" in tools and (not node or not os.path.isdir(
            os.path.join(a.node_modules, "@memlab", "core"))):
        if a.smoke:
            tools.remove("memlab")
            notes.append("memlab skipped: node or %s/@memlab/core not found" % a.node_modules)
        else:
            sys.exit("report.py: memlab needs node and %s/@memlab/core (scripts/deps.sh test)" %
                     a.node_modules)

    t_all = time.monotonic()
    load0 = loadavg()
    rows, results, failures, dead = [], [], [], set()
    for n in sizes:
        path, info = generate(gen, a.work, n)
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL)  # both read it from page cache
        res = {"nodes": info["nodes"], "edges": info["edges"], "bytes": info["bytes"],
               "generator": info, "load_before": loadavg()}
        outdir = tempfile.mkdtemp(prefix="hs-report-bench-")
        for tool in tools:
            if tool in dead:
                res[tool] = None
                continue
            log("%s: %.2f GiB, %d nodes ..." % (tool, gib(info["bytes"]), n))
            out = os.path.join(outdir, tool + ".out")
            if tool == "heapscope":
                r = run_heapscope(cli, path, info, out, a.timeout)
            elif tool == "memlab":
                r = run_memlab(node, a.node_modules, path, info, out, a.timeout, a.heap_mb)
            else:
                sys.exit("report.py: unknown tool %s" % tool)
            r["load_after"] = loadavg()
            if r.get("ok"):
                log("  %.1f s, peak RSS %.0f MiB" % (r["wall"], r["rss_mib"]))
            else:
                tail = "\n".join(r.get("stderr", "").strip().splitlines()[-4:])
                failures.append("%s at %d nodes (%.2f GiB): %s%s" % (
                    tool, n, gib(info["bytes"]), r["why"], ("\n    " + tail.replace(
                        "\n", "\n    ")) if tail else ""))
                log("  FAILED: " + failures[-1])
                dead.add(tool)
            r.pop("time_v", None)
            res[tool] = r
        shutil.rmtree(outdir, ignore_errors=True)
        results.append(res)
        hs, ml = res.get("heapscope"), res.get("memlab")
        if hs and ml and hs.get("ok") and ml.get("ok"):
            # informational: memlab roots unreached cycles differently (see the README)
            rr, live = ml["report"]["root_retained"], hs["report"]["live"]["bytes"]
            notes.append("%d nodes: memlab's root retains %d bytes: %s" % (
                n, rr, "heapscope's live bytes" if rr == live else
                "heapscope's live + leaked bytes" if rr == live + hs["report"]["leaked"]["bytes"]
                else "heapscope: live %d" % live))
        row = ["%.2f GiB" % gib(info["bytes"]), "%.1f M" % (info["nodes"] / 1e6),
               "%.1f M" % (info["edges"] / 1e6)]
        for tool in ("heapscope", "memlab"):
            r = res.get(tool)
            if tool in tools:
                row += [cell(r, "wall", "%.1f"), cell(r, "rss_mib", "%.0f")]
        if len(tools) == 2:
            ok = hs and ml and hs.get("ok") and ml.get("ok")
            row += ["%.1f×" % (ml["wall"] / hs["wall"]) if ok else "–",
                    "%.1f×" % (ml["rss_mib"] / hs["rss_mib"]) if ok else "–"]
        if hs and hs.get("ok"):
            row += ["%.2f× / %.0f B" % (hs["rss_mib"] * 2**20 / info["bytes"],
                                        hs["rss_mib"] * 2**20 / info["nodes"])]
        else:
            row += ["–"]
        rows.append(row)
    took = time.monotonic() - t_all
    load1 = loadavg()

    cols = ["file", "nodes", "edges"]
    for tool in ("heapscope", "memlab"):
        if tool in tools:
            cols += [tool + " s", tool + " peak RSS MiB"]
    if len(tools) == 2:
        cols += ["memlab ÷ heapscope time", "memlab ÷ heapscope RSS"]
    cols += ["heapscope RSS ÷ file / per node"]
    det = []
    for res in results:
        for tool in tools:
            r = res.get(tool)
            if not r or not r.get("ok"):
                continue
            rep = r["report"]
            if tool == "heapscope":
                det.append("%d nodes: heapscope %.1f s (user %.1f, sys %.1f), %.0f MiB; live %d "
                           "objects / %d bytes, leaked %d / %d" % (
                               res["nodes"], r["wall"], r["user"], r["sys"], r["rss_mib"],
                               rep["live"]["objects"], rep["live"]["bytes"],
                               rep["leaked"]["objects"], rep["leaked"]["bytes"]))
            else:
                ph = rep["phases"]
                det.append("%d nodes: memlab %s %.1f s (user %.1f, sys %.1f), %.0f MiB; load "
                           "%.1f s (RSS %d MiB), analyze %.1f s (RSS %d MiB), classes %.1f s; "
                           "root retains %d bytes" % (
                               res["nodes"], rep["memlab"], r["wall"], r["user"], r["sys"],
                               r["rss_mib"], ph["load"]["s"], ph["load"]["rss_mib"],
                               ph["analyze"]["s"], ph["analyze"]["rss_mib"],
                               ph["classes"]["s"], rep["root_retained"]))
    print(text_table(cols, rows))
    for line in det + notes:
        print(line)
    for f in failures:
        print("FAILED " + f)

    if a.markdown:
        cmdline = "/usr/bin/python3 " + " ".join(shlex.quote(x) for x in
                                                  [os.path.relpath(sys.argv[0], ROOT)]
                                                  + sys.argv[1:])
        with open(a.markdown, "w") as f:
            f.write("Command: `%s`  \n" % cmdline)
            f.write("Date: %s; %.0f s in all; machine: %s, kernel %s; load average %s before, "
                    "%s after  \n" % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), took,
                                      machine(), platform.release(), load0, load1))
            f.write("heapscope %s; node %s\n\n" %
                    (first_line(["git", "-C", ROOT, "describe", "--always", "--dirty"]),
                     first_line(["node", "--version"]) if node else "–"))
            f.write(md_table(cols, rows) + "\n\n")
            f.write("```\n" + "\n".join(det + notes + ["FAILED " + x for x in failures]) +
                    "\n```\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"sizes": results, "load_before": load0, "load_after": load1,
                       "seconds": took, "failures": failures}, f, indent=1)
    if a.clean:
        for n in sizes:
            for suf in ("", ".json"):
                p = os.path.join(a.work, "bigsnap-n%d-s%d.heapsnapshot%s" % (n, SEED, suf))
                if os.path.exists(p):
                    os.unlink(p)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
