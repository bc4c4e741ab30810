#!/usr/bin/env python3
"""Side-by-side benchmark: the same workloads, in one run, under each tool.

Every round runs each tool once, in turn (round-robin, the starting tool
rotating from round to round), so that drift in the machine's speed affects
all tools alike. Round 0 is an untimed check round: each tool's stdout is
captured and compared with the plain run's (so a broken profiler cannot look
fast), the agent must have counted allocations, and the peers must have
written their profiles. Rounds 1..N are timed with stdout on /dev/null.
Prints, per workload and tool, the median, min and max wall time, the ratio of
the median to the plain run's median, the median CPU time and peak RSS
(ru_maxrss from wait4), and the number of timed runs. Exits 1 if any run
failed (exit status, timeout, output mismatch, missing profile).

Usage: /usr/bin/python3 bench/run.py [--reps N] [--workloads jq,python,...]
           [--tools baseline,heapscope,...] [--with-massif] [--agent PATH]
           [--quick] [--markdown FILE] [--json FILE]
See bench/README.md.
"""
import argparse
import datetime
import glob
import hashlib
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"  # Debian's, not whatever python3 is first on PATH
LIBDIR = "/usr/lib/x86_64-linux-gnu"
JEMALLOC = os.path.join(LIBDIR, "libjemalloc.so.2")
TCMALLOC = os.path.join(LIBDIR, "libtcmalloc.so.4")

# Inherited variables that would change what a workload or tool does; the
# runner removes them so results do not depend on the caller's shell.
SCRUB_PREFIXES = ("HEAPSCOPE_", "PYTHON", "MALLOC_", "TCMALLOC_", "HEAP_PROFILE_", "JEMALLOC_")
SCRUB_NAMES = ("LD_PRELOAD", "LD_AUDIT", "GLIBC_TUNABLES", "HEAPPROFILE", "HEAPCHECK",
               "CPUPROFILE", "JE_MALLOC_CONF")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- workloads --------------------------------------------------------------

def gen_json(path, n):
    """A deterministic JSON array of n objects (about 155 bytes each)."""
    rnd = random.Random(42)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
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
    os.rename(tmp, path)  # never leave a truncated input behind


def json_input(work, quick):
    n = 20000 if quick else 200000
    path = os.path.join(work, "big-%d.json" % n)
    if not os.path.exists(path):
        log("generating %s" % path)
        gen_json(path, n)
    return path


JQ_FILTER = ('map(select(.score > 250) | {id, t: (.tags | sort | join("-")), s: (.nested.b | add)})'
             ' | group_by(.t) | map({t: .[0].t, n: length, s: (map(.s) | add)})'
             ' | sort_by(-.n) | .[:20]')

SQL_WORKLOAD = """PRAGMA journal_mode=OFF;
PRAGMA synchronous=OFF;
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, v REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n})
INSERT INTO t SELECT x, 'name-' || (x * 7919 % {n}), x % 97, (x * 31 % 1000) / 7.0 FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, v);
SELECT grp, count(*), round(sum(v), 2) FROM t GROUP BY grp ORDER BY grp LIMIT 5;
SELECT count(*) FROM t WHERE name LIKE 'name-1%';
"""


class Workload:
    """argv may contain {tmp}: the per-run temporary directory."""

    def __init__(self, argv, env=None, stdin=None, desc=None, inputs=()):
        self.argv, self.env, self.stdin = argv, env or {}, stdin
        self.inputs = inputs
        shown = ["env"] + ["%s=%s" % kv for kv in sorted(self.env.items())] if self.env else []
        self.desc = desc or shlex.join(shown + [rel(a) for a in argv])
        if stdin:
            self.desc += " < " + rel(stdin)


def rel(path):
    """Paths inside the repository shown relative to it, for the tables."""
    if isinstance(path, str) and path.startswith(ROOT + os.sep):
        return os.path.relpath(path, ROOT)
    return path


def prepare(name, work, quick, build):
    if name == "jq":
        path = json_input(work, quick)
        return Workload(["jq", "-S", ".", path], inputs=[path])
    if name == "jq-filter":
        path = json_input(work, quick)
        return Workload(["jq", "-c", JQ_FILTER, path], inputs=[path])
    if name == "python":
        script = os.path.join(HERE, "workloads", "py_alloc.py")
        n = "40000" if quick else "200000"
        return Workload([PY, script, n], {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"})
    if name == "sqlite":
        n = 20000 if quick else 300000
        path = os.path.join(work, "sqlite-%d.sql" % n)
        text = SQL_WORKLOAD.format(n=n)
        if not os.path.exists(path) or open(path).read() != text:
            with open(path, "w") as f:
                f.write(text)
        return Workload(["sqlite3", "-bail", "{tmp}/bench.db"], stdin=path)
    if name == "stress":
        # tests/integ/stress.c: 8 threads, 10 M malloc/calloc/realloc/free.
        path = os.path.join(build, "tests", "integ", "stress")
        if not os.path.exists(path):
            raise SystemExit("%s not built (configure with tests, build, or pass --agent "
                             "from that build tree)" % path)
        return Workload([path])
    raise SystemExit("unknown workload %s (known: %s)" % (name, ", ".join(WORKLOADS)))


WORKLOADS = ["jq", "jq-filter", "python", "sqlite", "stress"]
DEFAULT_WORKLOADS = ["jq", "python"]


# ---- tools ------------------------------------------------------------------

# Sampling (issue 4): heapscope's sampling-only mode and full mode with
# sampling, and jemalloc's profiler, at the same mean intervals (2^15 and 2^19).
# heapscope-hooks-only: sampling-only mode with sampling never started, the
# cost of interposing the malloc family alone.
SAMPLING_TOOLS = ["heapscope-hooks-only", "heapscope-sample32k", "heapscope-sample512k",
                  "heapscope-full-sample32k", "jemalloc-prof512k"]
# The allocation timeline (issue 6), started at load with no client connected:
# full mode plus HEAPSCOPE_TRACK=on (per-fragment counts on the allocation and
# free paths, a 50 ms tick) or =stacks (the same plus every allocation's stack).
TRACK_TOOLS = {"heapscope-track": "on", "heapscope-track-stacks": "stacks"}
# Full mode (the registry), checked with the summary record in round 0.
FULL_TOOLS = ["heapscope", "heapscope-nowrap"] + list(TRACK_TOOLS)
TOOLS = ["baseline", "heapscope", "heapscope-nowrap", "heaptrack", "jemalloc-noprof",
         "jemalloc", "gperftools", "massif"] + SAMPLING_TOOLS + list(TRACK_TOOLS)
DEFAULT_TOOLS = [t for t in TOOLS
                 if t != "massif" and t not in SAMPLING_TOOLS and t not in TRACK_TOOLS]
ONE_RUN_TOOLS = {"massif"}  # too slow for repetitions: one timed run, marked


def wrap(tool, argv, env, agent, tmp, check):
    """The command and environment that run argv under tool."""
    env = dict(env)
    if tool == "baseline":
        return argv, env
    if tool in FULL_TOOLS:
        env["LD_PRELOAD"] = agent
        if tool == "heapscope-nowrap":
            env["HEAPSCOPE_WRAPPERS"] = ""
        if tool in TRACK_TOOLS:
            env["HEAPSCOPE_TRACK"] = TRACK_TOOLS[tool]
        if check:  # proves the agent was loaded and counted; written at exit
            env["HEAPSCOPE_SUMMARY"] = os.path.join(tmp, "heapscope-summary")
        return argv, env
    if tool == "heapscope-hooks-only":
        env["LD_PRELOAD"] = agent
        env["HEAPSCOPE_LISTEN"] = "off"
        env["HEAPSCOPE_MODE"] = "sample"
        return argv, env
    if tool in ("heapscope-sample32k", "heapscope-sample512k", "heapscope-full-sample32k"):
        env["LD_PRELOAD"] = agent
        env["HEAPSCOPE_LISTEN"] = "off"
        env["HEAPSCOPE_SAMPLE"] = "524288" if tool.endswith("512k") else "32768"
        if tool != "heapscope-full-sample32k":
            env["HEAPSCOPE_MODE"] = "sample"
        # Written at exit, as `heapscope run --sample` does; checked in round 0.
        env["HEAPSCOPE_PROFILE_OUT"] = os.path.join(tmp, "hs.heapprofile")
        return argv, env
    if tool == "heaptrack":
        return ["heaptrack", "-o", os.path.join(tmp, "ht")] + argv, env
    if tool == "jemalloc-noprof":
        env["LD_PRELOAD"] = JEMALLOC
        return argv, env
    if tool in ("jemalloc", "jemalloc-prof512k"):
        env["LD_PRELOAD"] = JEMALLOC
        # prof_final: dump at exit; without it a run this short writes no
        # profile at all (prof_interval and prof_gdump are off by default).
        lg = 19 if tool == "jemalloc-prof512k" else 15
        env["MALLOC_CONF"] = ("prof:true,lg_prof_sample:%d,prof_final:true,prof_prefix:%s/jeprof"
                              % (lg, tmp))
        return argv, env
    if tool == "gperftools":
        # libtcmalloc.so.4 contains the heap profiler (libtcmalloc_and_profiler
        # only adds the CPU profiler); it dumps gp.NNNN.heap at exit.
        env["LD_PRELOAD"] = TCMALLOC
        env["HEAPPROFILE"] = os.path.join(tmp, "gp")
        return argv, env
    if tool == "massif":
        return ["valgrind", "--tool=massif", "--massif-out-file=%s/massif.out" % tmp] + argv, env
    raise SystemExit("unknown tool %s" % tool)


TRACK_FAILED = "HEAPSCOPE_TRACK: cannot start"  # the agent's message on stderr
_track_unverified = set()  # tools whose summary said nothing about the timeline
_summaries = {}  # tool -> its last check run's summary record (for the log and --json)


def summary_fields(text):
    """The key=value fields of the first heapscope-summary record."""
    for line in text.splitlines():
        if line.startswith("heapscope-summary "):
            return dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
    return {}


def track_problem(tool, fields):
    """The timeline's fields in the summary record (timeline=off|on|stacks,
    timeline_allocs: blocks allocated since tracking started, timeline_ticks,
    timeline_stacks: distinct stacks interned) must show that tracking ran in
    the requested mode. An agent whose record has no timeline fields cannot
    be checked: said once on stderr, not a failure."""
    want = TRACK_TOOLS[tool]
    if "timeline" not in fields:
        if tool not in _track_unverified:
            _track_unverified.add(tool)
            log("note: %s: the agent's summary record has no timeline fields; tracking "
                "itself is not verified (only that the agent was loaded and counted)" % tool)
        return None

    def num(key):
        try:
            return int(fields.get(key, ""))
        except ValueError:
            return None
    if fields["timeline"] != want:
        return "HEAPSCOPE_TRACK=%s, but the agent's summary says timeline=%s" % (
            want, fields["timeline"])
    if "timeline_allocs" in fields and not num("timeline_allocs"):
        return "the timeline counted no allocations (timeline_allocs=%s)" % fields[
            "timeline_allocs"]
    # Started at load, the timeline sees (nearly) every allocation of the run.
    if num("timeline_allocs") and num("allocs") and num("timeline_allocs") < num("allocs") // 2:
        return "the timeline counted %d of the run's %d allocations" % (
            num("timeline_allocs"), num("allocs"))
    stacks = num("timeline_stacks")
    if want == "stacks" and "timeline_stacks" in fields and not stacks:
        return "the timeline recorded no stacks (timeline_stacks=%s)" % fields["timeline_stacks"]
    if want == "on" and stacks:
        return "HEAPSCOPE_TRACK=on recorded stacks (timeline_stacks=%d)" % stacks
    return None


def artifacts_problem(tool, tmp, check, err=""):
    """None if the tool left the evidence that it profiled, else why not."""
    def nonempty(pattern):
        return any(os.path.getsize(p) > 0 for p in glob.glob(os.path.join(tmp, pattern)))
    if tool in TRACK_TOOLS and TRACK_FAILED in err:
        return "the agent could not start the timeline: " + err[err.find(TRACK_FAILED):][:200]
    if tool in FULL_TOOLS and check:
        path = os.path.join(tmp, "heapscope-summary")
        if not os.path.exists(path) or not os.path.getsize(path):
            return "the agent wrote no HEAPSCOPE_SUMMARY record (was it loaded?)"
        text = open(path, errors="replace").read()
        _summaries[tool] = text.strip().splitlines()[0] if text.strip() else ""
        m = re.search(r"\ballocs=(\d+)", text)
        if m and int(m.group(1)) == 0:
            return "the agent counted no allocations"
        fields = summary_fields(text)
        if tool in TRACK_TOOLS:
            problem = track_problem(tool, fields)
            if problem:
                return problem
        elif fields.get("timeline", "off") != "off":
            return "the timeline ran (timeline=%s) without HEAPSCOPE_TRACK" % fields["timeline"]
    if tool == "heaptrack" and not nonempty("ht*"):
        return "heaptrack wrote no output file"
    if tool.startswith("heapscope-") and "sample" in tool:
        path = os.path.join(tmp, "hs.heapprofile")
        try:
            prof = json.load(open(path))
        except (OSError, ValueError) as e:
            return "the agent wrote no readable profile (%s)" % e
        # Live samples only: a program that frees everything before exit
        # (jq, python) leaves an empty tree, which is still a profile.
        if not isinstance(prof, dict) or prof.get("head", {}).get("id") != 1:
            return "the agent's profile has no root node"
    if tool in ("jemalloc", "jemalloc-prof512k") and not nonempty("jeprof*.heap"):
        return "jemalloc wrote no heap profile"
    if tool == "gperftools" and not nonempty("gp*.heap"):
        return "gperftools wrote no heap profile"
    if tool == "massif" and not nonempty("massif.out"):
        return "massif wrote no output file"
    return None


HT_BANNER = (b"heaptrack output will be written to", b"starting application, this might take")


def heaptrack_span(f, size):
    """heaptrack prints its own banner and epilogue on stdout around the
    program's output: the byte range [start, end) of the program's part."""
    f.seek(0)
    head = f.read(1 << 16)
    start = 0
    for _ in range(3):
        nl = head.find(b"\n", start)
        line = head[start:nl] if nl >= 0 else b""
        if nl < 0 or not (line.startswith(HT_BANNER) or line.endswith(b"libheaptrack_preload.so")):
            break
        start = nl + 1
    base = max(start, size - (1 << 16))
    f.seek(base)
    tail = f.read()
    i = tail.rfind(b"Heaptrack finished!")
    while i >= 0:
        if base + i == start or (i > 0 and tail[i - 1:i] == b"\n"):
            return start, base + i
        i = tail.rfind(b"Heaptrack finished!", 0, i)
    return start, size


def sha256_file(f, start=0, end=None):
    """Hashes a byte range of f in chunks (jq's output is ~70 MB)."""
    h = hashlib.sha256()
    f.seek(start)
    left = (end - start) if end is not None else None
    while left is None or left > 0:
        chunk = f.read(1 << 20 if left is None else min(1 << 20, left))
        if not chunk:
            break
        h.update(chunk)
        if left is not None:
            left -= len(chunk)
    return h.hexdigest()


# ---- running ----------------------------------------------------------------

def base_env(prefixes=SCRUB_PREFIXES, names=SCRUB_NAMES):
    """The caller's environment without the variables that would change what
    a workload or tool does, and the names of those removed."""
    env, dropped = {}, []
    for k, v in os.environ.items():
        if k in names or k.startswith(prefixes):
            dropped.append(k)
        else:
            env[k] = v
    return env, dropped


class Run:
    def __init__(self, wall, cpu, maxrss_kib, rc, digest, err, timed_out):
        self.wall, self.cpu, self.maxrss_kib = wall, cpu, maxrss_kib
        self.rc, self.digest, self.err, self.timed_out = rc, digest, err, timed_out


# The child is started by a fresh, minimal interpreter rather than by this
# process: a child's ru_maxrss starts from the RSS of the process that forked
# it (fork copies the address space, exec carries the high-water mark over),
# and this runner is much bigger than `python3 -I -S` (about 5 MiB). The
# trampoline times fork..wait4 and writes the wait4 results to a file.
SPAWN = r"""
import os, sys, time
out, preload, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
env = dict(os.environ)
if preload:
    env["LD_PRELOAD"] = preload
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvpe(cmd[0], cmd, env)
    except OSError as e:
        os.write(2, ("cannot run %s: %s\n" % (cmd[0], e)).encode())
    os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(out, "w") as f:
    f.write("%r %d %r %r %d" % (wall, status, ru.ru_utime, ru.ru_stime, ru.ru_maxrss))
"""


def run_once(cmd, env, stdin_path, cwd, capture, timeout, heaptrack=False):
    """Runs cmd to completion; stdout to /dev/null, or captured and hashed."""
    env = dict(env)
    preload = env.pop("LD_PRELOAD", "")  # for the child only, not the trampoline
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    out = open(os.path.join(cwd, ".stdout"), "w+b") if capture else subprocess.DEVNULL
    err = open(os.path.join(cwd, ".stderr"), "w+b")  # a file: a pipe could fill and block
    rusage = os.path.join(cwd, ".rusage")
    timed_out = []

    def kill():
        timed_out.append(True)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass

    p = subprocess.Popen([PY, "-I", "-S", "-c", SPAWN, rusage, preload] + cmd, env=env,
                         stdin=stdin, stdout=out, stderr=err, cwd=cwd, start_new_session=True)
    timer = threading.Timer(timeout, kill)
    timer.start()
    p.wait()
    timer.cancel()
    try:  # anything the tool left running in the background
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        wall, status, utime, stime, maxrss = open(rusage).read().split()
        wall, cpu, maxrss = float(wall), float(utime) + float(stime), int(maxrss)
        rc = os.waitstatus_to_exitcode(int(status))
    except (OSError, ValueError):
        wall, cpu, maxrss, rc = float("nan"), float("nan"), 0, p.returncode or -1
    digest = None
    if capture:
        out.flush()
        size = os.fstat(out.fileno()).st_size
        start, end = heaptrack_span(out, size) if heaptrack else (0, size)
        digest = sha256_file(out, start, end)
        out.close()
    err.seek(max(0, os.fstat(err.fileno()).st_size - 4096))
    text = err.read().decode(errors="replace")
    err.close()
    if stdin_path:
        stdin.close()
    return Run(wall, cpu, maxrss, rc, digest, text, bool(timed_out))


def bench_workload(name, wl, tools, reps, args, env0):
    """Returns {tool: {...}} and a list of failure messages."""
    samples = {t: [] for t in tools}
    failed = {}  # tool -> message; a failed tool is not run again
    ref = None

    def one(tool, rnd, check):
        with tempfile.TemporaryDirectory(prefix="hsbench-") as tmp:
            argv = [a.replace("{tmp}", tmp) for a in wl.argv]
            cmd, extra = wrap(tool, argv, wl.env, args.agent, tmp, check)
            env = dict(env0)
            env.update(extra)
            r = run_once(cmd, env, wl.stdin, tmp, check, args.timeout, tool == "heaptrack")
            problem = None
            if r.timed_out:
                problem = "killed after the %g s timeout" % args.timeout
            elif r.rc != 0:
                problem = "exit status %d; stderr ends: %s" % (r.rc, r.err[-400:].strip())
            else:
                problem = artifacts_problem(tool, tmp, check, r.err)
        label = "check" if rnd == 0 else "rep %d/%d" % (rnd, reps)
        log("[%s] %-9s %-22s %8.3f s  cpu %7.3f s  %7.0f MiB%s" % (
            name, label, tool, r.wall, r.cpu, r.maxrss_kib / 1024,
            "  FAIL: " + problem if problem else ""))
        return r, problem

    # Round 0: untimed; checks outputs and profiles, and warms the caches.
    digests, summaries = {}, {}
    for tool in tools:
        if tool in ONE_RUN_TOOLS:
            continue  # checked on its single timed run instead
        _summaries.pop(tool, None)
        r, problem = one(tool, 0, True)
        if tool in _summaries:
            summaries[tool] = _summaries.pop(tool)
            if tool in TRACK_TOOLS:
                log("[%s] check     %-22s %s" % (name, tool, summaries[tool]))
        if problem:
            failed[tool] = problem
        else:
            digests[tool] = r.digest
    ref = digests.get("baseline")
    if "baseline" in failed:
        ref = None
    for tool, d in digests.items():
        if tool != "baseline" and ref is not None and d != ref:
            failed[tool] = "stdout differs from the plain run's (sha256 %s vs %s)" % (
                d[:12], ref[:12])
            log("[%s] check     %-22s FAIL: %s" % (name, tool, failed[tool]))

    # Rounds 1..reps: timed, round-robin, the starting tool rotating.
    order = [t for t in tools]
    for rnd in range(1, reps + 1):
        k = (rnd - 1) % len(order)
        for tool in order[k:] + order[:k]:
            if tool in failed or (tool in ONE_RUN_TOOLS and samples[tool]):
                continue
            check = tool in ONE_RUN_TOOLS
            r, problem = one(tool, rnd, check)
            if not problem and check and ref is not None and r.digest != ref:
                problem = "stdout differs from the plain run's"
                log("[%s] %-9s %-22s FAIL: %s" % (name, "rep %d/%d" % (rnd, reps), tool, problem))
            if problem:
                failed[tool] = problem
                continue
            samples[tool].append(r)

    res = {}
    base = samples.get("baseline")
    base_med = statistics.median(x.wall for x in base) if base and "baseline" not in failed else None
    for tool in tools:
        runs = samples[tool]
        if tool in failed or not runs:
            res[tool] = {"failed": failed.get(tool, "no runs")}
            continue
        walls = [x.wall for x in runs]
        med = statistics.median(walls)
        res[tool] = {"median": med, "min": min(walls), "max": max(walls),
                     "ratio": med / base_med if base_med else None,
                     "cpu": statistics.median(x.cpu for x in runs),
                     "rss_kib": int(statistics.median(x.maxrss_kib for x in runs)),
                     "runs": len(runs), "one_run_only": tool in ONE_RUN_TOOLS,
                     "walls": walls, "rss_all_kib": [x.maxrss_kib for x in runs]}
        if tool in summaries:
            res[tool]["agent_summary"] = summaries[tool]
    return res, ["%s/%s: %s" % (name, t, m) for t, m in failed.items()]


# ---- reporting --------------------------------------------------------------

COLS = ["tool", "median s", "min s", "max s", "ratio", "cpu s", "peak RSS MiB", "runs"]


def rows(res, tools):
    out = []
    for t in tools:
        r = res[t]
        if "failed" in r:
            out.append([t, "FAILED", "", "", "", "", "", "0"])
            continue
        out.append([t, "%.3f" % r["median"], "%.3f" % r["min"], "%.3f" % r["max"],
                    "%.2fx" % r["ratio"] if r["ratio"] is not None else "-",
                    "%.2f" % r["cpu"], "%.0f" % (r["rss_kib"] / 1024),
                    "%d%s" % (r["runs"], "*" if r["one_run_only"] else "")])
    return out


def notes(results):
    n = []
    if any(r.get("one_run_only") for res in results.values() for r in res.values()):
        n.append("* one run only (too slow to repeat): its min = median = max, so its "
                 "ratio is noisier than the others'.")
    if _track_unverified:
        n.append("%s: this agent's summary record has no timeline fields, so the check round "
                 "verified that the agent was loaded and counted allocations, not that the "
                 "timeline ran." % ", ".join(sorted(_track_unverified)))
    return n


def text_table(name, wl, res, tools):
    body = rows(res, tools)
    widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(COLS)]
    fmt = "  ".join("%-*s" if i == 0 else "%*s" for i in range(len(COLS)))
    lines = ["%s: %s" % (name, wl.desc),
             fmt % tuple(sum(([w, c] for w, c in zip(widths, COLS)), []))]
    for r in body:
        lines.append(fmt % tuple(sum(([w, c] for w, c in zip(widths, r)), [])))
    return "\n".join(lines)


def md_table(name, wl, res, tools):
    lines = ["### %s" % name, "", "`%s`" % wl.desc, "",
             "| " + " | ".join(COLS) + " |", "|" + "---|" * len(COLS)]
    for r in rows(res, tools):
        lines.append("| " + " | ".join(r) + " |")
    return "\n".join(lines)


def spawn_floor_kib():
    """ru_maxrss of /bin/true started the way the workloads are: the floor of
    the peak RSS column."""
    with tempfile.TemporaryDirectory(prefix="hsbench-") as tmp:
        return run_once(["true"], base_env()[0], None, tmp, False, 60).maxrss_kib


def first_line(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "not found"


def versions(agent):
    def deb(pkg):
        return pkg + " " + first_line(["dpkg-query", "-W", "-f=${Version}", pkg])
    v = {"jq": first_line(["jq", "--version"]), "python3": first_line([PY, "--version"]),
         "sqlite3": first_line(["sqlite3", "--version"]).split(" ")[0],
         "heaptrack": first_line(["heaptrack", "--version"]),
         "jemalloc": deb("libjemalloc2"), "gperftools": deb("libgoogle-perftools4"),
         "valgrind": first_line(["valgrind", "--version"]),
         "glibc": platform.libc_ver()[1], "kernel": platform.release()}
    hs = first_line(["git", "-C", ROOT, "describe", "--always", "--dirty"])
    if os.path.exists(agent):
        h = hashlib.sha256(open(agent, "rb").read()).hexdigest()[:12]
        mtime = datetime.datetime.fromtimestamp(os.path.getmtime(agent)).strftime("%Y-%m-%d %H:%M")
        hs += " (agent %s, sha256 %s, built %s)" % (rel(agent), h, mtime)
    v["heapscope"] = hs
    return v


def machine():
    model, mem = "unknown", ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = ", %.0f GiB RAM" % (int(line.split()[1]) / 2**20)
    except OSError:
        pass
    return "nproc %d, %s%s" % (len(os.sched_getaffinity(0)), model, mem)


def loadavg():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="workloads: %s\ntools: %s" % (", ".join(WORKLOADS),
                                                                      ", ".join(TOOLS)))
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions (default 5)")
    ap.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                    help="comma-separated (default %(default)s)")
    ap.add_argument("--tools", default=",".join(DEFAULT_TOOLS),
                    help="comma-separated; baseline is always added (default %(default)s)")
    ap.add_argument("--with-massif", action="store_true",
                    help="add massif (one timed run per workload)")
    ap.add_argument("--agent", default=os.path.join(ROOT, "build", "lib", "libheapscope.so"),
                    help="the agent (default ../build/lib/libheapscope.so from this script)")
    ap.add_argument("--work", default=os.path.join(HERE, ".work"),
                    help="where inputs are generated (default bench/.work)")
    ap.add_argument("--quick", action="store_true",
                    help="small inputs and one timed repetition: a smoke test of the runner")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run (default 600)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown")
    ap.add_argument("--json", metavar="FILE", help="also write everything, raw samples included")
    args = ap.parse_args()

    tools = [t for t in args.tools.split(",") if t]
    for t in tools:
        if t not in TOOLS:
            ap.error("unknown tool %s (known: %s)" % (t, ", ".join(TOOLS)))
    if args.with_massif and "massif" not in tools:
        tools.append("massif")
    if "baseline" in tools:
        tools.remove("baseline")
    tools.insert(0, "baseline")
    tools = list(dict.fromkeys(tools))
    workloads = [w for w in args.workloads.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            ap.error("unknown workload %s (known: %s)" % (w, ", ".join(WORKLOADS)))
    reps = 1 if args.quick else args.reps
    if reps < 1:
        ap.error("--reps must be at least 1")
    args.agent = os.path.abspath(args.agent)
    args.work = os.path.abspath(args.work)
    if any(t.startswith("heapscope") for t in tools) and not os.path.isfile(args.agent):
        log("agent not found at %s (build it first, or pass --agent)" % args.agent)
        return 2
    needs = {"heaptrack": "heaptrack", "massif": "valgrind", "jemalloc": JEMALLOC,
             "jemalloc-noprof": JEMALLOC, "jemalloc-prof512k": JEMALLOC, "gperftools": TCMALLOC}
    for t in tools:
        need = needs.get(t)
        if need and not (os.path.exists(need) if need.startswith("/") else
                         any(os.access(os.path.join(d, need), os.X_OK)
                             for d in os.environ.get("PATH", "").split(os.pathsep))):
            log("%s needs %s, which is not installed (scripts/deps.sh bench)" % (t, need))
            return 2
    os.makedirs(args.work, exist_ok=True)
    env0, dropped = base_env()
    if dropped:
        log("not passed to the workloads: %s" % ", ".join(sorted(dropped)))

    ver = versions(args.agent)
    build = os.path.dirname(os.path.dirname(args.agent))
    snapshot = None
    if any(t.startswith("heapscope") for t in tools):
        # A private copy: a rebuild of the agent during the run cannot mix
        # two builds into one table.
        snapshot = tempfile.TemporaryDirectory(prefix="hsbench-agent-")
        copy = os.path.join(snapshot.name, os.path.basename(args.agent))
        shutil.copy2(args.agent, copy)
        args.agent = copy
    cmdline = shlex.join([sys.executable] + sys.argv)
    started = datetime.datetime.now().astimezone()
    load0 = loadavg()
    log("%s | %s | load %s" % (cmdline, machine(), load0))
    results, descs, failures = {}, {}, []
    t_start = time.monotonic()
    for name in workloads:
        wl = prepare(name, args.work, args.quick, build)
        descs[name] = wl
        log("[%s] %s" % (name, wl.desc))
        res, fails = bench_workload(name, wl, tools, reps, args, env0)
        results[name] = res
        failures += fails
    elapsed = time.monotonic() - t_start
    load1 = loadavg()
    floor_mib = spawn_floor_kib() / 1024

    print()
    for name in workloads:
        print(text_table(name, descs[name], results[name], tools))
        print()
    for n in notes(results):
        print(n)
    print("ratio = tool's median wall time / baseline's median wall time, same workload, "
          "same run. %d timed run(s) per tool after one untimed check run; %.0f s in all."
          % (reps, elapsed))
    print("peak RSS = median ru_maxrss (wait4) of the tool's process tree; a run of /bin/true "
          "gives %.0f MiB (the floor)." % floor_mib)

    if snapshot:
        snapshot.cleanup()
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("# heapscope side-by-side benchmark\n\n")
            f.write("- Command: `%s` (in `%s`)\n" % (cmdline, os.getcwd()))
            f.write("- Date: %s; %.0f s in all\n" % (started.strftime("%Y-%m-%d %H:%M %Z"),
                                                     elapsed))
            f.write("- Machine: %s; load average %s before, %s after\n" % (machine(), load0,
                                                                         load1))
            f.write("- Versions: %s\n" % "; ".join("%s: %s" % kv for kv in ver.items()))
            f.write("- %d timed run(s) per tool, round-robin, after one untimed check run; "
                    "ratio = median / baseline median; peak RSS = median ru_maxrss (wait4), "
                    "floor %.0f MiB (/bin/true)\n\n" % (reps, floor_mib))
            for name in workloads:
                f.write(md_table(name, descs[name], results[name], tools) + "\n\n")
            for n in notes(results):
                f.write(n.replace("*", "\\*", 1) + "\n\n")
            if failures:
                f.write("Failures:\n\n" + "".join("- %s\n" % m for m in failures))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": cmdline, "cwd": os.getcwd(), "date": started.isoformat(),
                       "elapsed_s": elapsed, "rss_floor_mib": floor_mib,
                       "machine": machine(), "loadavg": [load0, load1],
                       "versions": ver, "reps": reps, "quick": args.quick, "tools": tools,
                       "workloads": {n: descs[n].desc for n in workloads},
                       "results": results, "failures": failures}, f, indent=1)
    for msg in failures:
        log("FAIL: " + msg)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
