#!/usr/bin/env python3
"""Object-inspection benchmark (issue 7): what inspecting one object costs on a
large heap, through the agent (bench/inspect_bench.c under libheapscope.so,
5 M blocks by default) and, side by side in the same run, through V8
(node --inspect, holding 5 M small JS objects).

Per tool it measures, each command repeated (--reps, 20) and timed from
request to reply by bench/inspect_client.js (chrome-remote-interface):
  - HeapProfiler.getObjectByHeapObjectId of an id that names nothing (the
    worst case: a walk of the whole heap), of the oldest object and of the
    newest (one of them is found late in the walk);
  - a DevTools hover card: that command on the oldest object, the two
    Runtime.getProperties DevTools sends with it, releaseObjectGroup;
  - Runtime.evaluate of a global (g_head / globalThis.x);
  - Runtime.getProperties of a block of 1000 pointers to blocks (heapscope)
    and of an object with 1000 object-valued properties (node; also an array
    of 1000 objects, which DevTools would page instead);
  - the target's RSS (VmRSS) before and after 2 x --cycles evaluate +
    getProperties + releaseObjectGroup cycles: no growth expected.
V8 knows heap ids only after a heap snapshot (or while tracking): one
takeHeapSnapshot is taken first, on both targets, and timed too. Every answer
is checked (ids round-trip, the objects found are the right ones, the 1000
properties are the expected objects); a wrong one fails the run.
See bench/README.md ("Object inspection").

Usage: /usr/bin/python3 bench/inspect.py [--blocks N] [--reps R] [--cycles C]
           [--tools heapscope,node] [--build DIR] [--agent SO] [--smoke]
           [--markdown FILE] [--json FILE]
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# This file is named like the standard library's `inspect`: keep its directory
# out of the front of the module path, so that no library module imports it.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != HERE] + [HERE]

import argparse  # noqa: E402
import datetime  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import run  # noqa: E402  (bench/run.py: one copy of what the benches share)
from run import first_line, loadavg, machine  # noqa: E402
from snapshot import Failed, Program, finish, rel, status_kib  # noqa: E402  (bench/snapshot.py's, not copies)

ROOT = os.path.dirname(HERE)
SCRUB_PREFIXES = ("HEAPSCOPE_", "MALLOC_", "NODE_", "UV_", "V8_")
SCRUB_NAMES = ("LD_PRELOAD", "LD_AUDIT", "GLIBC_TUNABLES")
TOOLS = ["heapscope", "node"]
# An odd id (the agent's block ids are odd) far above any id either target has
# handed out at these sizes: it names nothing, so the lookup walks everything.
MISS_ID = "2147483647"

NODE_SCRIPT = r"""
const N = %(blocks)d, FAN = %(fan)d, step = Math.floor(N / FAN);
globalThis.x = Array.from({ length: N }, (_, i) => ({ a: i }));
globalThis.fan = {};
for (let k = 0; k < FAN; k++) fan['p' + k] = x[k * step];
globalThis.fanArr = Array.from({ length: FAN }, (_, k) => x[k * step]);
const u = process.memoryUsage();
process.stdout.write(JSON.stringify({ ready: true, blocks: N, fan: FAN, step,
  vm_rss_kb: Math.round(u.rss / 1024), heap_used: u.heapUsed }) + '\n');
process.stdin.on('data', (d) => { if (String(d).startsWith('stop')) process.exit(0); });
process.stdin.on('end', () => process.exit(0));
"""


def log(msg):
    sys.stderr.write("inspect.py: %s\n" % msg)
    sys.stderr.flush()


class Target(Program):
    """The inspected process (snapshot.py's Program: JSON lines on stdout,
    "ready" first; the WebSocket URL from the agent's or node's banner)."""

    def stop(self):
        """Ends the target; its exit status (None if it had to be killed)."""
        try:
            self.send("stop")
            self.p.stdin.close()
            return self.p.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
            return None


def run_client(a, spec, tmp):
    path = os.path.join(tmp, "spec-%s.json" % spec["tool"])
    with open(path, "w") as f:
        json.dump(spec, f)
    cmd = ["node", os.path.join(HERE, "inspect_client.js"), path]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=a.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise Failed("the client took more than %d s" % a.timeout)
    if p.returncode != 0:
        raise Failed("the client failed (%d): %s" %
                     (p.returncode, (err or out).decode(errors="replace").strip()[-2000:]))
    return json.loads(out.decode().strip().splitlines()[-1])


def measure(a, tool, env0, tmp):
    env = dict(env0)
    if tool == "heapscope":
        env["LD_PRELOAD"] = a.agent_copy
        env["HEAPSCOPE_LISTEN"] = "127.0.0.1:0"
        argv = [a.prog, "--blocks", str(a.blocks), "--fan", str(a.fan)]
    else:
        argv = ["node", "--inspect=127.0.0.1:0", "-e",
                NODE_SCRIPT % {"blocks": a.blocks, "fan": a.fan}]
    t0 = time.monotonic()
    tg = Target(argv, env, a.timeout)
    try:
        ready = tg.expect("ready")
        build_s = time.monotonic() - t0
        if not tg.ws_event.wait(10):
            raise Failed("no 'listening on ws://…' line from the target")
        ready_rss = status_kib(tg.p.pid, "VmRSS")
        log("  %s: %d objects built in %.1f s, RSS %.0f MiB; %s" %
            (tool, ready["blocks"], build_s, ready_rss / 1024, tg.ws))
        spec = {"ws": tg.ws, "pid": tg.p.pid, "tool": tool, "reps": a.reps,
                "cycles": a.cycles, "snapshot": a.snapshot, "blocks": ready["blocks"],
                "fan": ready["fan"], "step": ready["step"], "miss_id": MISS_ID}
        if tool == "heapscope":
            spec["exprs"] = {"global": "g_head", "first": "g_head", "last": "g_tail",
                             "fan": "g_fan"}
            spec.update(head=ready["head"], tail=ready["tail"], fan_targets=ready["fan_targets"])
        else:
            spec["exprs"] = {"global": "globalThis.x", "first": "x[0]",
                             "last": "x[x.length - 1]", "fan": "globalThis.fan",
                             "fanArr": "globalThis.fanArr"}
        c = run_client(a, spec, tmp)
        if tool == "heapscope":  # the program's own view: the list is intact
            tg.send("check")
            chk = tg.expect("check")
            if chk["check"] != "ok":
                raise Failed("the program's list check: %r" % chk)
            c["checks"].append("the program walked its %d blocks from g_head" % chk["walked"])
        hwm = status_kib(tg.p.pid, "VmHWM")
        rc = tg.stop()
        if rc != 0:
            raise Failed("the target exited with %r" % rc)
        return {"tool": tool, "ready": ready, "build_s": build_s, "ready_rss_kib": ready_rss,
                "hwm_kib": hwm, "client": c}
    finally:
        tg.kill()


# ---- reporting --------------------------------------------------------------------

# (key in the client's times, what, heapscope's object, node's object)
ROWS = [
    ("miss", "getObjectByHeapObjectId, id naming nothing (full walk)", "id 2147483647",
     "id 2147483647"),
    ("first", "getObjectByHeapObjectId, the oldest object", "`g_head`'s block", "`x[0]`"),
    ("last", "getObjectByHeapObjectId, the newest object", "`g_tail`'s block", "`x[N-1]`"),
    ("hover", "hover card: that on the oldest + 2 getProperties + release",
     "`g_head`'s block (2 slots)", "`x[0]` (1 property)"),
    ("evaluate", "Runtime.evaluate of a global", "`g_head`", "`globalThis.x`"),
    ("props", "Runtime.getProperties, 1000 pointers", "`g_fan`: 1000 slots",
     "`fan`: 1000 properties"),
    ("propsArr", "Runtime.getProperties, array of 1000 objects", "–", "`fanArr`"),
]
COLS = ["measure", "heapscope median ms", "max ms", "V8 median ms", "max ms", "V8 ÷ heapscope"]


def med(xs):
    return statistics.median(xs) if xs else None


def fmt_ms(v):
    if v is None:
        return "–"
    return "%.0f" % v if v >= 100 else "%.1f" % v if v >= 1 else "%.2f" % v


def ratio(h, v):
    """V8 ÷ heapscope: above 1, heapscope is faster."""
    if h is None or v is None or not h:
        return "–"
    q = v / h
    return "%.2f×" % q if q < 10 else "%.0f×" % q


def table_rows(res):
    rows = []
    h = res.get("heapscope", {}).get("client", {})
    n = res.get("node", {}).get("client", {})
    if h.get("snapshot") or n.get("snapshot"):
        hs_, ns_ = h.get("snapshot"), n.get("snapshot")
        rows.append(["takeHeapSnapshot, once (V8's ids)",
                     fmt_ms(hs_ and hs_["ms"]), "1 run" if hs_ else "–",
                     fmt_ms(ns_ and ns_["ms"]), "1 run" if ns_ else "–",
                     ratio(hs_ and hs_["ms"], ns_ and ns_["ms"])])
    for key, what, _, _ in ROWS:
        ht = h.get("times", {}).get(key)
        nt = n.get("times", {}).get(key)
        if not ht and not nt:
            continue
        rows.append([what, fmt_ms(med(ht)), fmt_ms(max(ht) if ht else None), fmt_ms(med(nt)),
                     fmt_ms(max(nt) if nt else None), ratio(med(ht), med(nt))])
    return rows


def rss_rows(res):
    out = []
    for tool in TOOLS:
        r = res.get(tool)
        if not r:
            continue
        s = r["client"]["rss"]
        out.append([tool, "%.0f" % (s["before_kib"] / 1024),
                    "%+d" % (s["after1_kib"] - s["before_kib"]),
                    "%+d" % (s["after2_kib"] - s["after1_kib"]),
                    "%.2f / %.2f" % tuple(s["cycle_ms"])])
    return out


RSS_COLS = ["tool", "RSS MiB before", "KiB growth, cycles 1–%d", "KiB growth, next %d",
            "ms per cycle (1st / 2nd)"]


def text_table(cols, rows_):
    w = [max(len(r[i]) for r in [cols] + rows_) for i in range(len(cols))]
    return "\n".join("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i])
                               for i, c in enumerate(r)) for r in [cols] + rows_)


def md_table(cols, rows_):
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(cols))) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows_])


def details(res):
    out = []
    for tool in TOOLS:
        r = res.get(tool)
        if not r:
            continue
        c = r["client"]
        sn = c.get("snapshot")
        out.append("%s: %d objects built in %.1f s; RSS %.0f MiB when ready, VmHWM %.0f MiB at "
                   "the end%s" %
                   (tool, r["ready"]["blocks"], r["build_s"], r["ready_rss_kib"] / 1024,
                    (r["hwm_kib"] or 0) / 1024,
                    "; snapshot %d nodes, %d edges, %.0f MiB of JSON, %.2f s, RSS %.0f MiB "
                    "after it" % (sn["nodes"] or 0, sn["edges"] or 0, sn["bytes"] / 2**20, sn["ms"] / 1e3,
                     sn["rss_after_kib"] / 1024) if sn else ""))
        out.append("  ids: oldest %s, newest %s, missing %s" %
                   (c["ids"]["first"], c["ids"]["last"], c["ids"]["miss"]))
        for key, what, hobj, nobj in ROWS:
            t = c["times"].get(key)
            if t:
                out.append("  %-9s %-28s min %s, median %s, max %s ms (%d runs)" %
                           (key, hobj if tool == "heapscope" else nobj, fmt_ms(min(t)),
                            fmt_ms(med(t)), fmt_ms(max(t)), len(t)))
        s = c["rss"]
        out.append("  RSS KiB (after HeapProfiler.collectGarbage): %d before, %d after %d "
                   "cycles, %d after %d more" % (s["before_kib"], s["after1_kib"], s["cycles"],
                                                  s["after2_kib"], s["cycles"]))
        for x in c["checks"]:
            out.append("  checked: " + x)
    return out


# ---- main -------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=float, default=None, help="objects (default 5e6)")
    ap.add_argument("--fan", type=int, default=1000, help="pointers in the getProperties object")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per command (20)")
    ap.add_argument("--cycles", type=int, default=None,
                    help="getProperties + release cycles per RSS reading (1000)")
    ap.add_argument("--smoke", action="store_true",
                    help="20 k objects, 3 reps, 50 cycles: a few seconds (ctest)")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--no-snapshot", dest="snapshot", action="store_false",
                    help="no heap snapshot first (node then has no ids: its id rows fail)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--agent", help="default BUILD/lib/libheapscope.so")
    ap.add_argument("--prog", help="default BUILD/bin/hs-bench-inspect")
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    a = ap.parse_args()

    a.blocks = int(a.blocks if a.blocks is not None else 20000 if a.smoke else 5e6)
    a.reps = a.reps if a.reps is not None else 3 if a.smoke else 20
    a.cycles = a.cycles if a.cycles is not None else 50 if a.smoke else 1000
    if a.smoke:
        a.timeout = min(a.timeout, 120)
    if a.blocks < a.fan:
        ap.error("--blocks must be at least --fan")
    tools = [t for t in a.tools.split(",") if t]
    for t in tools:
        if t not in TOOLS:
            ap.error("unknown tool %r (known: %s)" % (t, ", ".join(TOOLS)))
    a.agent = os.path.abspath(a.agent or os.path.join(a.build, "lib", "libheapscope.so"))
    a.prog = os.path.abspath(a.prog or os.path.join(a.build, "bin", "hs-bench-inspect"))
    missing = [p for p in ([a.agent, a.prog] if "heapscope" in tools else [])
               if not os.path.exists(p)]
    if not (shutil.which("node") and os.path.isdir(
            os.path.join(ROOT, "tests", "node", "node_modules", "chrome-remote-interface"))):
        missing.append("node and tests/node/node_modules (scripts/deps.sh test)")
    if missing:
        log("missing: " + ", ".join(missing))
        return 2

    env0, dropped = run.base_env(SCRUB_PREFIXES, SCRUB_NAMES)
    if dropped:
        log("ignoring from the environment: " + " ".join(sorted(dropped)))
    tmp = tempfile.mkdtemp(prefix="hs-inspectbench-")
    res, failures = {}, []
    try:
        if "heapscope" in tools:  # a rebuild during the run cannot mix two builds
            a.agent_copy = os.path.join(tmp, "libheapscope.so")
            shutil.copy2(a.agent, a.agent_copy)
        load0 = loadavg()
        t_start = time.monotonic()
        log("%d objects, %d reps, %d cycles, tools %s" % (a.blocks, a.reps, a.cycles,
                                                         ",".join(tools)))
        for t in tools:
            try:
                res[t] = measure(a, t, env0, tmp)
                log("  %s: done" % t)
            except Failed as e:
                failures.append("%s: %s" % (t, e))
                log("  %s FAILED: %s" % (t, e))
        load1 = loadavg()
        took = time.monotonic() - t_start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows_ = table_rows(res)
    rss_cols = [c % a.cycles if "%d" in c else c for c in RSS_COLS]
    rss_ = rss_rows(res)
    det = details(res)
    head = ("%d objects per target (heapscope: 16-byte blocks in a linked list; node: `{a: i}` "
            "in an array), %d timed runs of each command, %d-cycle RSS rounds" %
            (a.blocks, a.reps, a.cycles))
    print(head)
    if rows_:
        print(text_table(COLS, rows_))
        print()
        print(text_table(rss_cols, rss_))
    for line in det:
        print(line)
    for f in failures:
        print("FAILED " + f)

    if a.markdown:
        cmdline = "/usr/bin/python3 " + " ".join(shlex.quote(x) for x in
                                                  [rel(sys.argv[0])] + sys.argv[1:])
        sha = (hashlib.sha256(open(a.agent, "rb").read()).hexdigest()[:12]
               if os.path.exists(a.agent) else "?")
        with open(a.markdown, "w") as f:
            f.write("Command: `%s`  \n" % cmdline)
            f.write("Date: %s; %.0f s in all; machine: %s, kernel %s; load average %s before, "
                    "%s after  \n" % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), took,
                                      machine(), platform.release(), load0, load1))
            f.write("heapscope %s (agent sha256 %s); node %s  \n\n" %
                    (first_line(["git", "-C", ROOT, "describe", "--always", "--dirty"]), sha,
                     first_line(["node", "--version"])))
            f.write(head + "\n\n")
            if rows_:
                f.write(md_table(COLS, rows_) + "\n\n" + md_table(rss_cols, rss_) + "\n\n")
            f.write("```\n" + "\n".join(det + ["FAILED " + x for x in failures]) + "\n```\n")
    return finish(a, res, failures)


if __name__ == "__main__":
    sys.exit(main())
