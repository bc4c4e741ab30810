#!/usr/bin/env python3
"""Heap-snapshot benchmark (issue 5): a program with a large linked heap
(bench/snapshot_bench.c, 10 M blocks / ~1 GB by default), a heap snapshot of it
taken through the agent's CDP endpoint, and, side by side in the same run, the
same program's leak check under valgrind memcheck.

Per tool it measures:
  heapscope  the snapshot's wall time (takeHeapSnapshot sent -> reply, or the
             `heapscope snapshot` process's whole run), live heap bytes per
             second, the file's size, the program's longest pause (the gap
             meter of its mutator thread), peak memory of the program and of
             the snapshot's forked child;
  valgrind   `valgrind --tool=memcheck --leak-check=full`: the time of a
             VALGRIND_DO_LEAK_CHECK client request made by the program, the
             same pause meter, valgrind's peak RSS, and how long valgrind takes
             from the program's last line to its exit (its leak check at exit).
Then a table with the ratios, and the budget (pause <= 50 ms at 1 GB, >= 500 MB/s)
stated as met or not. See bench/README.md ("Heap snapshots").

Usage: /usr/bin/python3 bench/snapshot.py [--small | --smoke] [--blocks N]
           [--mean-size B] [--tools heapscope,valgrind] [--client auto|cli|node]
           [--build DIR] [--markdown FILE] [--json FILE]
"""
import argparse
import datetime
import json
import os
import platform
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: one copy of what both need)
from run import first_line, loadavg, machine  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRUB_PREFIXES = ("HEAPSCOPE_", "MALLOC_", "TCMALLOC_", "HEAP_PROFILE_", "JEMALLOC_", "VALGRIND")
SCRUB_NAMES = ("LD_PRELOAD", "LD_AUDIT", "GLIBC_TUNABLES", "HEAPPROFILE", "HEAPCHECK")
PAUSE_BUDGET_MS = 50.0
RATE_BUDGET_MBS = 500.0
TOOLS = ["heapscope", "valgrind"]


def log(msg):
    sys.stderr.write("snapshot.py: %s\n" % msg)
    sys.stderr.flush()


def now_ns():
    return time.monotonic_ns()  # CLOCK_MONOTONIC, the program's clock


def rel(p):
    try:
        r = os.path.relpath(p, os.getcwd())
        return r if not r.startswith("../../") else p
    except ValueError:
        return p


class Failed(Exception):
    pass


# ---- /proc ------------------------------------------------------------------

def status_kib(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    out += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def private_kib(pid):
    """Pages of pid that no other process shares: for the snapshot's child,
    its own arrays plus the pages the program has written since the fork."""
    n = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    n += int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return n


def start_mono_ns(pid):
    """When pid started, on CLOCK_MONOTONIC (to 1/CLK_TCK: 10 ms)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None
    boot_minus_mono = time.clock_gettime_ns(time.CLOCK_BOOTTIME) - now_ns()
    return ticks * 10**9 // os.sysconf("SC_CLK_TCK") - boot_minus_mono


class MemSampler(threading.Thread):
    """Every period: the program's RSS; every child_period, the private memory
    of each of its child processes (the snapshot's fork; reading smaps_rollup
    walks the child's page tables, which costs CPU on a 2-core machine). Peak
    of their sum = the tree's peak physical memory (shared copy-on-write pages
    counted once). Also notes each child's start time: the snapshot's fork."""

    def __init__(self, pid, period, child_period=1.0):
        super().__init__(daemon=True)
        self.pid, self.period, self.child_period = pid, period, child_period
        self.stop = threading.Event()
        self.prog_peak = self.child_peak = self.tree_peak = 0
        self.children_seen = {}  # pid -> start, CLOCK_MONOTONIC ns

    def run(self):
        priv, last_child = 0, 0.0
        while not self.stop.is_set():
            rss = status_kib(self.pid, "VmRSS")
            if rss is None:
                break
            kids = children(self.pid)
            for c in kids:
                if c not in self.children_seen:
                    self.children_seen[c] = start_mono_ns(c)
            if not kids:
                priv = 0
            elif time.monotonic() - last_child >= self.child_period:
                last_child = time.monotonic()
                priv = sum(private_kib(c) or 0 for c in kids)
            self.prog_peak = max(self.prog_peak, rss)
            self.child_peak = max(self.child_peak, priv)
            self.tree_peak = max(self.tree_peak, rss + priv)
            self.stop.wait(self.period)


# ---- the program ------------------------------------------------------------

class Program:
    """hs-bench-snapshot as a child with its line protocol (see its header):
    JSON lines on stdout, the WebSocket URL from the agent's (or node's)
    banner on stderr. bench/inspect.py's targets are the same."""

    WS = re.compile(r"(?:DevTools|Debugger) listening on (ws://\S+)")

    def __init__(self, argv, env, timeout, log_path=None):
        self.argv, self.timeout = argv, timeout
        self.lines = queue.Queue()
        self.stderr = []
        self.ws = None
        self.ws_event = threading.Event()
        self.t_start = now_ns()
        self.p = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, start_new_session=True)
        self.status = None
        self.rusage = None
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self):
        for raw in self.p.stdout:
            try:
                self.lines.put(json.loads(raw))
            except ValueError:
                self.lines.put({"raw": raw.decode(errors="replace")})
        self.lines.put(None)

    def _read_err(self):
        for raw in self.p.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.stderr.append(line)
            m = self.WS.search(line)
            if m and not self.ws:
                self.ws = m.group(1)
                self.ws_event.set()

    def expect(self, key, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed("no %r from the program within %.0f s" % (key, timeout or self.timeout))
            try:
                obj = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if obj is None:
                raise Failed("the program ended before %r (stderr: %s)" %
                             (key, " | ".join(self.stderr[-5:])))
            if "error" in obj:
                raise Failed("the program answered %r" % obj)
            if key in obj:
                return obj

    def send(self, line):
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()

    def phase(self, k):
        self.send("phase %d" % k)
        return self.expect("phase")

    def wait(self):
        deadline = time.monotonic() + self.timeout
        while True:
            pid, status, ru = os.wait4(self.p.pid, os.WNOHANG)
            if pid:
                self.p.returncode = os.waitstatus_to_exitcode(status)
                self.rusage = ru
                return now_ns(), self.p.returncode
            if time.monotonic() > deadline:
                self.kill()
                raise Failed("the program did not exit within %.0f s" % self.timeout)
            time.sleep(0.005)

    def kill(self):
        if self.p.returncode is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.wait4(self.p.pid, 0)
            except ChildProcessError:
                pass


def gap_summary(stats, t_ready, t_from, t_to, t_stop):
    """The meter's gaps around the measured window [t_from, t_to]: before
    (t_ready .. t_from), during (every gap that overlaps the window: the
    program was stopped at some point in it) and after (t_to .. t_stop), from
    the list of gaps >= the threshold with their start times. Gaps are placed
    by time, not by the program's phase, which changes only when its main
    thread reads the driver's next line (under valgrind the mutator may resume
    after that). The histograms are per phase."""
    big = stats["big"]
    win = {"before": [g for (t, g, q) in big if t + g <= t_from and t >= t_ready],
           "during": [g for (t, g, q) in big if t < t_to and t + g > t_from],
           "after": [g for (t, g, q) in big if t >= t_to and t + g <= t_stop]}
    thr = stats["gap_threshold_ns"]
    out = {}
    for name, gaps in win.items():
        out[name] = {
            "max_ms": max(gaps) / 1e6 if gaps else None,  # None: all below the threshold
            "ge_0.1ms": sum(1 for g in gaps if g >= 100000),
            "ge_1ms": sum(1 for g in gaps if g >= 1000000),
            "ge_10ms": sum(1 for g in gaps if g >= 10000000),
            "ge_50ms": sum(1 for g in gaps if g >= 50000000),
        }
    out["phases"] = [{"iters": p["iters"], "max_ms": p["max_ns"] / 1e6,
                      "hist_log2_ns": {str(b): n for b, n in enumerate(p["hist"]) if n}}
                     for p in stats["phases"][:3]]
    during = sorted(((g, t) for (t, g, q) in big if t < t_to and t + g > t_from), reverse=True)[:5]
    out["top_during"] = [{"gap_ms": g / 1e6, "at_ms": (t - t_from) / 1e6} for g, t in during]
    out["window_ms"] = (t_to - t_from) / 1e6
    out["before_ms"] = (t_from - t_ready) / 1e6
    out["after_ms"] = (t_stop - t_to) / 1e6
    out["threshold_us"] = thr / 1000
    out["dropped"] = stats["big_dropped"]
    return out


def pause_ms(g, name="during"):
    """The longest gap in a window; below the threshold counts as the threshold."""
    m = g[name]["max_ms"]
    return m if m is not None else g["threshold_us"] / 1000


# ---- checking the snapshot ----------------------------------------------------

def check_snapshot(path, ready, full):
    """node_count, edge_count from the header; with full, reads the nodes
    array (streaming) for the blocks marked detached (leaked) and their bytes."""
    res = {"file_bytes": os.path.getsize(path)}
    with open(path, "rb") as f:
        head = f.read(1 << 16)
        m = re.search(rb'"node_count":(\d+),"edge_count":(\d+)', head)
        fields = re.search(rb'"node_fields":\[([^\]]*)\]', head)
        if not m or not fields:
            raise Failed("%s: no snapshot header (node_count/edge_count)" % path)
        res["nodes"], res["edges"] = int(m.group(1)), int(m.group(2))
        res["heap_edges_expected"] = ready["heap_edges"]
        names = [x.strip(b'"').decode() for x in fields.group(1).split(b",")]
        if not full:
            return res
        nf = len(names)
        i_size = names.index("self_size")
        i_det = names.index("detachedness") if "detachedness" in names else None
        start = head.find(b'"nodes":[')
        if start < 0:
            raise Failed("%s: no nodes array in the first 64 KiB" % path)
        f.seek(start + len(b'"nodes":['))
        carry, idx, n = b"", 0, 0
        leaked_n = leaked_b = total_b = 0
        cur_size = 0
        done = False
        while not done:
            buf = f.read(16 << 20)
            if not buf:
                raise Failed("%s: the nodes array does not end" % path)
            end = buf.find(b"]")
            if end >= 0:
                buf, done = buf[:end], True
            buf = carry + buf
            parts = buf.split(b",")
            carry = b"" if done else parts.pop()
            for s in parts:
                s = s.strip()
                if not s:
                    continue
                j = idx % nf
                if j == i_size:
                    cur_size = int(s)
                    total_b += cur_size
                elif j == i_det and s == b"2":
                    leaked_n += 1
                    leaked_b += cur_size
                idx += 1
            n = idx
        if n != res["nodes"] * nf:
            raise Failed("%s: %d node fields, header says %d nodes of %d" %
                         (path, n, res["nodes"], nf))
        res.update(self_size_total=total_b, leaked_nodes=leaked_n, leaked_bytes=leaked_b)
    return res


# ---- the two tools ------------------------------------------------------------

def base_env():
    return run.base_env(SCRUB_PREFIXES, SCRUB_NAMES)


def prog_args(a):
    argv = ["--blocks", str(a.blocks), "--mean-size", str(a.mean_size),
            "--leak-permille", str(a.leak_permille)]
    if a.touch_every:
        argv += ["--touch-every", str(a.touch_every)]
    if a.sleep_us:
        argv += ["--sleep-us", str(a.sleep_us)]
    return argv


def run_client(a, ws, out, work):
    """Takes the snapshot: returns (dict of times, client's peak RSS KiB)."""
    if a.client == "cli":
        # --timeout: the CLI's wait for each next event (30 s by default) must not
        # end a slow snapshot; the driver has its own time-out.
        cmd = [a.cli, "snapshot", "--target", ws, "-o", out, "--timeout", str(a.timeout * 1000)]
    else:
        cmd = ["node", os.path.join(HERE, "snapshot_client.js"), ws, out]
    log("  client: %s" % " ".join(shlex.quote(rel(c) if os.path.exists(c) else c) for c in cmd))
    t0 = now_ns()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work,
                         start_new_session=True)
    try:
        outb, errb = p.communicate(timeout=a.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise Failed("the snapshot client took more than %d s" % a.timeout)
    t1 = now_ns()
    if p.returncode != 0:
        raise Failed("the snapshot client failed (%d): %s" %
                     (p.returncode, (errb or outb).decode(errors="replace").strip()[-2000:]))
    r = {"t_start": t0, "t_exit": t1, "client": a.client,
         "stderr_tail": errb.decode(errors="replace").strip().splitlines()[-3:]}
    if a.client == "node":
        j = json.loads(outb.decode().strip().splitlines()[-1])
        for k, v in j.items():
            r[k] = int(v) if k.startswith("t_") else v
        r["t_from"], r["t_to"] = r["t_sent"], r["t_reply"]
    else:
        r["t_from"], r["t_to"] = t0, t1
    return r


def run_heapscope(a, work, env0):
    env = dict(env0)
    env["LD_PRELOAD"] = a.agent_copy
    env["HEAPSCOPE_LISTEN"] = "127.0.0.1:0"
    env["HEAPSCOPE_VERBOSE"] = "1"  # the agent's line per snapshot: its own pause figure
    for kv in a.agent_env:
        k, _, v = kv.partition("=")
        env[k] = v
    out = os.path.join(work, "bench.heapsnapshot")
    if os.path.exists(out):
        os.unlink(out)
    prog = Program([a.prog] + prog_args(a), env, a.timeout)
    try:
        ready = prog.expect("ready")
        if not prog.ws_event.wait(10):
            raise Failed("the agent printed no 'DevTools listening on ws://…'")
        log("  heapscope: %d blocks, %.0f MB built in %.1f s, RSS %.0f MiB; %s" %
            (ready["blocks"], ready["bytes"] / 1e6, ready["build_s"], ready["vm_rss_kb"] / 1024,
             prog.ws))
        mem = MemSampler(prog.p.pid, a.sample_ms / 1000)
        mem.start()
        time.sleep(a.settle)
        ph1 = prog.phase(1)
        c = run_client(a, prog.ws, out, work)
        ph2 = prog.phase(2)
        time.sleep(a.after)
        t_stop = now_ns()
        prog.send("stop")
        stats = prog.expect("stats")
        exiting = prog.expect("exiting")
        mem.stop.set()
        t_end, rc = prog.wait()
        mem.join()
        if rc != 0:
            raise Failed("the program exited with %d" % rc)
        r = {"tool": "heapscope", "ready": ready, "client": c,
             "time_s": (c["t_to"] - c["t_from"]) / 1e9,
             "gaps": gap_summary(stats, ready["t"], c["t_from"], c["t_to"], t_stop),
             "prog_hwm_kib": stats["vm_hwm_kb"], "tree_peak_kib": mem.tree_peak,
             "child_private_peak_kib": mem.child_peak, "snapshot_children": len(mem.children_seen),
             "minflt_during": ph2["minflt"] - ph1["minflt"],
             "exit_s": (t_end - exiting["t"]) / 1e9,
             "client_maxrss_kib": None,
             "agent_log": [l for l in prog.stderr if l.startswith("heapscope: snapshot")][-5:]}
        # The meter's gap at the fork: the stop itself (the fork ends it).
        forks = [t for t in mem.children_seen.values() if t]
        if len(forks) == 1:
            near = [(g, t) for (t, g, q) in stats["big"]
                    if t - 20000000 <= forks[0] <= t + g + 20000000]
            r["fork_at_ms"] = (forks[0] - c["t_from"]) / 1e6
            r["gap_at_fork_ms"] = max(near)[0] / 1e6 if near else None
        r["snapshot"] = sn = check_snapshot(out, ready, a.verify)
        # A snapshot that lost blocks, edges or a thread's stack must not look fast.
        if sn["nodes"] < ready["blocks"]:
            raise Failed("the snapshot has %d nodes for %d live blocks" % (sn["nodes"], ready["blocks"]))
        if sn["edges"] < ready["heap_edges"]:
            raise Failed("the snapshot has %d edges; the program wrote %d pointers" %
                         (sn["edges"], ready["heap_edges"]))
        if "leaked_nodes" in sn and not (0.9 * ready["leaked_blocks"] <= sn["leaked_nodes"]
                                         <= ready["leaked_blocks"]):
            raise Failed("the snapshot marks %d blocks leaked; the program leaked %d (more: a "
                         "thread's stack was missed; far fewer: false pointers)" %
                         (sn["leaked_nodes"], ready["leaked_blocks"]))
        if a.keep:
            shutil.move(out, a.keep)
        else:
            os.unlink(out)
        return r
    finally:
        prog.kill()


def run_valgrind(a, work, env0):
    vlog = os.path.join(work, "memcheck.log")
    cmd = ["valgrind", "--tool=memcheck", "--leak-check=full", "--fair-sched=" + a.fair_sched,
           "--log-file=" + vlog,
           a.prog] + prog_args(a)
    prog = Program(cmd, dict(env0), a.timeout)
    try:
        ready = prog.expect("ready")
        if not ready.get("valgrind"):
            raise Failed("the program does not see valgrind (built without <valgrind/memcheck.h>?)")
        log("  valgrind: %d blocks, %.0f MB built in %.1f s, RSS %.0f MiB" %
            (ready["blocks"], ready["bytes"] / 1e6, ready["build_s"], ready["vm_rss_kb"] / 1024))
        mem = MemSampler(prog.p.pid, a.sample_ms / 1000)
        mem.start()
        time.sleep(a.settle)
        ph1 = prog.phase(1)
        prog.send("leakcheck")
        lc = prog.expect("leakcheck_s")
        ph2 = prog.phase(2)
        time.sleep(a.after)
        t_stop = now_ns()
        prog.send("stop")
        stats = prog.expect("stats")
        exiting = prog.expect("exiting")
        t_end, rc = prog.wait()
        mem.stop.set()
        mem.join()
        if rc != 0:
            raise Failed("valgrind exited with %d" % rc)
        summary = []
        try:
            with open(vlog) as f:
                summary = [l.split("==", 2)[-1].strip() for l in f if
                           re.search(r"(definitely|indirectly|possibly) lost:|still reachable:", l)]
        except OSError:
            pass
        return {"tool": "valgrind", "ready": ready, "leakcheck": lc,
                "time_s": lc["leakcheck_s"],
                "gaps": gap_summary(stats, ready["t"], lc["t0"], lc["t1"], t_stop),
                "prog_hwm_kib": stats["vm_hwm_kb"], "tree_peak_kib": max(mem.tree_peak,
                                                                         stats["vm_hwm_kb"]),
                "minflt_during": ph2["minflt"] - ph1["minflt"],
                "exit_s": (t_end - exiting["t"]) / 1e9, "exit_summary": summary[-4:]}
    finally:
        prog.kill()


# ---- reporting ------------------------------------------------------------------

COLS = ["tool", "what is timed", "time s", "MB/s", "stop ms", "longest gap ms", "gaps >= 1 ms",
        "max gap before ms", "file MiB", "peak MiB", "exit s"]


def row(r):
    live = r["ready"]["bytes"]
    g = r["gaps"]
    what = ("takeHeapSnapshot, sent -> reply" if r["tool"] == "heapscope" and
            r["client"]["client"] == "node" else
            "`heapscope snapshot` run" if r["tool"] == "heapscope" else
            "VALGRIND_DO_LEAK_CHECK")
    stop = (r.get("gap_at_fork_ms") if r["tool"] == "heapscope" else pause_ms(g))
    return [r["tool"], what, "%.2f" % r["time_s"], "%.0f" % (live / r["time_s"] / 1e6),
            "%.1f" % stop if stop is not None else "?", "%.1f" % pause_ms(g),
            str(g["during"]["ge_1ms"]),
            "%.1f" % pause_ms(g, "before"),
            "%.0f" % (r["snapshot"]["file_bytes"] / 2**20) if "snapshot" in r else "-",
            "%.0f" % (r["tree_peak_kib"] / 1024), "%.2f" % r["exit_s"]]


def ratios(res):
    h, v = res.get("heapscope"), res.get("valgrind")
    if not h or not v:
        return []
    def q(x, y):
        return "%.1f×" % (x / y) if y else "-"
    return [("time", q(v["time_s"], h["time_s"])),
            ("stop", q(pause_ms(v["gaps"]), h.get("gap_at_fork_ms") or pause_ms(h["gaps"]))),
            ("peak memory", q(v["tree_peak_kib"], h["tree_peak_kib"]))]


def budget(res, ready):
    h = res.get("heapscope")
    if not h:
        return []
    gb = ready["bytes"] / 1e9
    stop = h.get("gap_at_fork_ms")
    longest = pause_ms(h["gaps"])
    rate = ready["bytes"] / h["time_s"] / 1e6
    if stop is None:
        lines = ["pause budget (<= %.0f ms at 1 GB; this heap: %.2f GB): the stop was not located; "
                 "longest gap %.1f ms, %s" % (PAUSE_BUDGET_MS, gb, longest,
                                              "met" if longest <= PAUSE_BUDGET_MS else "NOT met")]
    else:
        lines = ["pause budget (<= %.0f ms at 1 GB; this heap: %.2f GB): the stop %.1f ms, %s "
                 "(longest gap during the snapshot, preemption included: %.1f ms)" %
                 (PAUSE_BUDGET_MS, gb, stop, "met" if stop <= PAUSE_BUDGET_MS else "NOT met",
                  longest)]
    lines.append("scan-and-write budget (>= %.0f MB/s of heap): %.0f MB/s, %s" %
                 (RATE_BUDGET_MBS, rate, "met" if rate >= RATE_BUDGET_MBS else "NOT met"))
    if gb < 0.9:
        lines.append("(the budgets are stated at 1 GB; this is a smaller heap)")
    return lines


def details(res):
    out = []
    for name in TOOLS:
        r = res.get(name)
        if not r:
            continue
        g = r["gaps"]
        out.append("%s: pause meter, gaps >= %.0f µs: %.0f ms before: %s; during the %.0f ms "
                   "measured: %s; %.0f ms after: %s" %
                   (name, g["threshold_us"], g["before_ms"], fmt_phase(g["before"]),
                    g["window_ms"], fmt_phase(g["during"]), g["after_ms"], fmt_phase(g["after"])))
        if g["top_during"]:
            out.append("  longest gaps during: " + ", ".join(
                "%.2f ms at %+.0f ms" % (x["gap_ms"], x["at_ms"]) for x in g["top_during"]))
        out.append("  program peak RSS (VmHWM) %.0f MiB; page faults during %d" %
                   (r["prog_hwm_kib"] / 1024, r["minflt_during"]))
        if name == "heapscope":
            s, c = r["snapshot"], r["client"]
            out.append("  snapshot: %d nodes, %d edges (%d heap pointers written by the program; "
                       "%+d roots and others), %.0f MiB" %
                       (s["nodes"], s["edges"], s["heap_edges_expected"],
                        s["edges"] - s["heap_edges_expected"], s["file_bytes"] / 2**20))
            if "leaked_nodes" in s:
                out.append("  leaked (detachedness 2): %d nodes, %d bytes; the program leaked %d "
                           "blocks, %d bytes" % (s["leaked_nodes"], s["leaked_bytes"],
                                                 r["ready"]["leaked_blocks"],
                                                 r["ready"]["leaked_bytes"]))
            out.append("  snapshot child: private memory peak %.0f MiB (sampled every 1 s)" %
                       (r["child_private_peak_kib"] / 1024))
            if "fork_at_ms" in r:
                out.append("  the fork at %+.0f ms (from the child's start time, ±10 ms); the "
                           "meter's longest gap within 20 ms of it: %s" %
                           (r["fork_at_ms"], "%.1f ms" % r["gap_at_fork_ms"]
                            if r["gap_at_fork_ms"] is not None else "none >= the threshold"))
            if c["client"] == "node":
                def ms(k):
                    return "%.0f" % ((c[k] - c["t_sent"]) / 1e6) if c.get(k) else "?"
                out.append("  client (node): first progress +%s ms, finished +%s ms, first chunk "
                           "+%s ms, last chunk +%s ms, reply +%s ms; %d chunks, %d bytes" %
                           (ms("t_first_progress"), ms("t_finished"), ms("t_first_chunk"),
                            ms("t_last_chunk"), ms("t_reply"), c["chunks"], c["bytes"]))
            else:
                out.append("  client (heapscope snapshot), last lines: " +
                           " | ".join(c["stderr_tail"]))
            for l in r["agent_log"]:
                out.append("  agent: " + l)
        else:
            lc = r["leakcheck"]
            out.append("  leak check: leaked %d bytes in %d blocks, possibly %d bytes, reachable "
                       "%d bytes in %d blocks; the program leaked %d blocks, %d bytes" %
                       (lc["leaked"], lc["leaked_blocks"], lc["dubious"], lc["reachable"],
                        lc["reachable_blocks"], r["ready"]["leaked_blocks"],
                        r["ready"]["leaked_bytes"]))
            out.append("  valgrind at exit (after the mutator thread ended: its half is lost "
                       "then): " + "; ".join(r["exit_summary"]))
    return out


def fmt_phase(p):
    return "max %s, %d >= 0.1 ms, %d >= 1 ms, %d >= 10 ms" % (
        "%.2f ms" % p["max_ms"] if p["max_ms"] is not None else "below the threshold",
        p["ge_0.1ms"], p["ge_1ms"], p["ge_10ms"])


def text_table(rows_):
    w = [max(len(r[i]) for r in [COLS] + rows_) for i in range(len(COLS))]
    lines = ["  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(r))
             for r in [COLS] + rows_]
    return "\n".join(lines)


def md_table(rows_):
    lines = ["| " + " | ".join(COLS) + " |",
             "|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLS))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows_]
    return "\n".join(lines)


# ---- main -----------------------------------------------------------------------

ARGS = None


def has_cli_snapshot(cli):
    if not cli or not os.access(cli, os.X_OK):
        return False
    r = subprocess.run([cli, "snapshot", "--help"], capture_output=True, text=True, timeout=30)
    return r.returncode == 0 and "snapshot" in (r.stdout + r.stderr)


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=float, default=None, help="live blocks (default 10e6)")
    ap.add_argument("--mean-size", type=int, default=100, help="mean block size, bytes")
    ap.add_argument("--leak-permille", type=int, default=10)
    ap.add_argument("--small", action="store_true", help="1 M blocks (~100 MB)")
    ap.add_argument("--smoke", action="store_true", help="20 k blocks, short windows (ctest)")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--client", choices=["auto", "cli", "node"], default="auto")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--agent", help="default BUILD/lib/libheapscope.so")
    ap.add_argument("--cli", help="default BUILD/bin/heapscope")
    ap.add_argument("--prog", help="default BUILD/bin/hs-bench-snapshot")
    ap.add_argument("--agent-env", action="append", default=[], metavar="K=V",
                    help="more environment for the agent's run")
    ap.add_argument("--settle", type=float, default=1.0, help="s of meter before the snapshot")
    ap.add_argument("--after", type=float, default=1.0, help="s of meter after it")
    ap.add_argument("--touch-every", type=int, default=0,
                    help="the mutator writes a word every N readings (copy-on-write faults)")
    ap.add_argument("--sleep-us", type=int, default=0,
                    help="the mutator sleeps between readings instead of spinning")
    ap.add_argument("--fair-sched", choices=["yes", "no", "try"], default="yes",
                    help="valgrind's --fair-sched (yes: the spinning mutator cannot starve main)")
    ap.add_argument("--sample-ms", type=int, default=100, help="memory sampling period")
    ap.add_argument("--no-verify", dest="verify", action="store_false",
                    help="read only the snapshot's header, not its nodes")
    ap.add_argument("--keep", metavar="FILE", help="keep the snapshot here")
    ap.add_argument("--work", default=os.path.join(HERE, ".work", "snapshot"))
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    a = ARGS = ap.parse_args()

    if a.blocks is None:
        a.blocks = 20000 if a.smoke else 1000000 if a.small else 10000000
    a.blocks = int(a.blocks)
    if a.smoke:
        a.settle, a.after = min(a.settle, 0.2), min(a.after, 0.2)
    tools = [t for t in a.tools.split(",") if t]
    for t in tools:
        if t not in TOOLS:
            ap.error("unknown tool %r (known: %s)" % (t, ", ".join(TOOLS)))
    a.agent = os.path.abspath(a.agent or os.path.join(a.build, "lib", "libheapscope.so"))
    a.cli = os.path.abspath(a.cli or os.path.join(a.build, "bin", "heapscope"))
    a.prog = os.path.abspath(a.prog or os.path.join(a.build, "bin", "hs-bench-snapshot"))
    missing = [p for p in [a.prog] + ([a.agent] if "heapscope" in tools else [])
               if not os.path.exists(p)]
    if "valgrind" in tools and not shutil.which("valgrind"):
        missing.append("valgrind (scripts/deps.sh bench)")
    if "heapscope" in tools:
        if a.client == "auto":
            a.client = "cli" if has_cli_snapshot(a.cli) else "node"
        if a.client == "node" and not (shutil.which("node") and os.path.isdir(
                os.path.join(ROOT, "tests", "node", "node_modules", "chrome-remote-interface"))):
            missing.append("node and tests/node/node_modules (scripts/deps.sh test)")
    if missing:
        log("missing: " + ", ".join(missing))
        return 2

    os.makedirs(a.work, exist_ok=True)
    env0, dropped = base_env()
    if dropped:
        log("ignoring from the environment: " + " ".join(sorted(dropped)))
    tmp = tempfile.mkdtemp(prefix="hs-snapbench-")
    try:
        if "heapscope" in tools:  # a rebuild during the run cannot mix two builds
            a.agent_copy = os.path.join(tmp, "libheapscope.so")
            shutil.copy2(a.agent, a.agent_copy)
        load0 = loadavg()
        cmdline = "/usr/bin/python3 " + " ".join(shlex.quote(x) for x in
                                                  [rel(sys.argv[0])] + sys.argv[1:])
        log("%d blocks, mean %d B, tools %s%s" % (a.blocks, a.mean_size, ",".join(tools),
                                                  ", client " + a.client
                                                  if "heapscope" in tools else ""))
        res, failures = {}, []
        for t in tools:
            try:
                res[t] = (run_heapscope if t == "heapscope" else run_valgrind)(a, a.work, env0)
                log("  %s: %.2f s" % (t, res[t]["time_s"]))
            except Failed as e:
                failures.append("%s: %s" % (t, e))
                log("  %s FAILED: %s" % (t, e))
        load1 = loadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ready = next((r["ready"] for r in res.values()), None)
    head = []
    if ready:
        head.append("%d live blocks, %.3f GB requested (mean %.1f B), %d pointers between them, "
                    "%d leaked blocks; two threads" %
                    (ready["blocks"], ready["bytes"] / 1e9, ready["bytes"] / ready["blocks"],
                     ready["heap_edges"], ready["leaked_blocks"]))
    rows_ = [row(res[t]) for t in tools if t in res]
    rat = ratios(res)
    bud = budget(res, ready) if ready else []
    det = details(res)
    print("\n".join(head))
    if rows_:
        print(text_table(rows_))
    if rat:
        print("valgrind ÷ heapscope: " + ", ".join("%s %s" % x for x in rat))
    for l in bud + det:
        print(l)
    for f in failures:
        print("FAILED " + f)

    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("Command: `%s`  \n" % cmdline)
            f.write("Date: %s; machine: %s; load average %s before, %s after  \n" %
                    (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), machine() + ", kernel " + platform.release(), load0, load1))
            f.write("heapscope %s; %s  \n\n" %
                    (first_line(["git", "-C", ROOT, "describe", "--always", "--dirty"]),
                     first_line(["valgrind", "--version"])))
            f.write("\n".join(head) + "\n\n")
            if rows_:
                f.write(md_table(rows_) + "\n\n")
            if rat:
                f.write("valgrind ÷ heapscope: " + ", ".join("%s %s" % x for x in rat) + "\n\n")
            for l in bud:
                f.write("- " + l + "\n")
            f.write("\n```\n" + "\n".join(det + ["FAILED " + x for x in failures]) + "\n```\n")
    return finish(a, res, failures)


def finish(a, res, failures):
    """Writes --json (the arguments, every result, the failures); the exit status."""
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "results": res, "failures": failures}, f, indent=1,
                      default=str)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
