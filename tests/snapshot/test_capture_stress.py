#!/usr/bin/python3
"""The capture's promises (issue 5 item 1, docs/design/snapshot.md "Capture"):
heap snapshots of stress_threads (see its header) while it runs many threads
allocating, threads blocked in system calls or blocking every signal, threads
forking. One mode per ctest entry:

  churn-signal  64 threads in malloc/realloc/free and 4 holding malloc's arena
                locks (mallinfo2 in a loop); 20 snapshots on SIGUSR2
  churn-cdp     the same, 12 snapshots through `heapscope snapshot --target`
  churn-exit    3 snapshots on SIGUSR2, then exit() with all 64 still
                allocating: the snapshot at exit (HEAPSCOPE_SNAPSHOT_AT_EXIT)
  blocked       threads in read, pthread_cond_wait, nanosleep, poll, accept,
                futex, epoll_wait; 3 snapshots; then woken
  sigmask       a thread blocking every signal: the stop times out (200 ms),
                the snapshot completes; then it lets signals in and is seen
  fork          6 threads fork+exec /bin/true and fork+malloc+_exit(7) with a
                SIGCHLD handler reaping waitpid(-1, WNOHANG); 40 snapshots

After every snapshot: the agent's child is gone (no process whose parent is
the program with exit signal 0, /proc/*/stat), the file is a V8 snapshot
(tests/client/heapsnapshot_check.py), and the program answers "check": every
worker went round its loop again and its own waitpid(-1, WNOHANG) saw no
child it did not make. Every wait is on a line a process printed (or its
exit), with a time limit; never a sleep.

Usage: test_capture_stress.py MODE PROGRAM AGENT_LIB HEAPSCOPE_CLI CHECK_PY
Exits 0 when every check holds, 1 with a line per failure.
"""
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

MODE, PROGRAM, AGENT, CLI, CHECK_PY = sys.argv[1:6]
TMP = tempfile.mkdtemp(prefix="hs-stress-")
failures = []
notes = []
started = time.monotonic()


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr, flush=True)


def expect(cond, msg):
    if not cond:
        fail(msg)
    return cond


def note(msg):
    """What the test observed and reports (not a pass/fail criterion)."""
    notes.append(msg)
    print("note: " + msg, flush=True)


# ---- the program under the agent ------------------------------------------------------------


class Program:
    def __init__(self, args, env=None, agent=True):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("HEAPSCOPE_") or k == "LD_PRELOAD":
                del e[k]
        if agent:
            e["LD_PRELOAD"] = AGENT
            e["HEAPSCOPE_LISTEN"] = "off"
        e.update(env or {})
        self.proc = subprocess.Popen([PROGRAM] + args, env=e, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     bufsize=1)
        self.q = {"out": queue.Queue(), "err": queue.Queue()}
        self.seen = {"out": [], "err": []}
        for name, f in (("out", self.proc.stdout), ("err", self.proc.stderr)):
            threading.Thread(target=self._pump, args=(name, f), daemon=True).start()

    def _pump(self, name, f):
        for line in f:
            self.q[name].put(line.rstrip("\n"))
        self.q[name].put(None)

    def line(self, stream, regex, timeout=20.0, what=None):
        """The next line on stream matching regex (a match object), or None after timeout
        or at the stream's end (a failure, with what came instead)."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            try:
                ln = self.q[stream].get(timeout=max(left, 0.001))
            except queue.Empty:
                ln = False
            if ln is None or ln is False:
                if ln is None:
                    self.q[stream].put(None)  # stays at its end
                fail("%s: no line matching /%s/ on std%s (%s); last lines:\n  %s" %
                     (what or MODE, regex, stream, "it ended" if ln is None else
                      "%.0f s passed" % timeout, "\n  ".join(self.seen[stream][-8:])))
                return None
            self.seen[stream].append(ln)
            m = re.search(regex, ln)
            if m:
                return m

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout=30.0):
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            fail("the program did not exit within %.0f s" % timeout)
            self.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---- processes ------------------------------------------------------------------------------


def children_of(pid):
    """[(pid, state, exit_signal)] of the processes whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        f = st[st.rindex(")") + 2:].split()
        # f[0] is field 3 (state), f[1] field 4 (ppid), f[35] field 38 (exit_signal).
        if int(f[1]) == pid:
            out.append((int(d), f[0], int(f[35])))
    return out


def no_snapshot_child(pid, what, program_children_allowed=False):
    kids = children_of(pid)
    clones = [k for k in kids if k[2] == 0]
    expect(not clones, "%s: the snapshot's child is still there after its line: %s" %
           (what, clones))
    if not program_children_allowed:
        expect(not kids, "%s: the program has children it never made: %s" % (what, kids))


# ---- snapshots ------------------------------------------------------------------------------


class Snap:
    """A .heapsnapshot as nodes and retainers."""

    def __init__(self, path):
        with open(path) as f:
            d = json.load(f)
        meta = d["snapshot"]["meta"]
        nf, ef = meta["node_fields"], meta["edge_fields"]
        ntypes, etypes = meta["node_types"][0], meta["edge_types"][0]
        s, n, e = d["strings"], d["nodes"], d["edges"]
        w, ew = len(nf), len(ef)
        ni = {k: nf.index(k) for k in ("type", "name", "id", "self_size", "edge_count")}
        det = nf.index("detachedness") if "detachedness" in nf else None
        self.nodes = []
        for i in range(0, len(n), w):
            self.nodes.append({
                "i": i // w, "type": ntypes[n[i + ni["type"]]], "name": s[n[i + ni["name"]]],
                "id": n[i + ni["id"]], "size": n[i + ni["self_size"]],
                "detached": n[i + det] if det is not None else 0, "edges": []})
        self.retainers = [[] for _ in self.nodes]
        k = 0
        for nd in self.nodes:
            for _ in range(n[nd["i"] * w + ni["edge_count"]]):
                t = etypes[e[k]]
                name = s[e[k + 1]] if t in ("property", "internal", "shortcut", "context") \
                    else e[k + 1]
                to = e[k + 2] // w
                nd["edges"].append((t, name, to))
                self.retainers[to].append((nd["i"], t, name))
                k += ew
        self.by_name = {}
        for nd in self.nodes:
            self.by_name.setdefault(nd["name"], []).append(nd)

    def blocks(self, site):
        """Blocks allocated in function `site` (names are 'site file:LINE' or 'site')."""
        return [nd for nd in self.nodes if nd["type"] == "native" and
                (nd["name"] == site or nd["name"].startswith(site + " "))]

    def groups(self, prefix):
        return [nd for nd in self.nodes if nd["type"] == "synthetic" and
                nd["name"].startswith(prefix)]

    def retainer_names(self, nd):
        return sorted({self.nodes[r[0]]["name"] for r in self.retainers[nd["i"]]})

    def leaked_blocks(self):
        return [nd for nd in self.nodes if nd["type"] == "native" and nd["detached"] == 2]


def check_file(path, what):
    r = subprocess.run([sys.executable, CHECK_PY, "check", path, "--node-fields", "6"],
                       capture_output=True, text=True)
    return expect(r.returncode == 0, "%s: %s is not a V8 snapshot: %s" % (what, path,
                                                                        r.stderr.strip()))


WROTE = (r"^heapscope: wrote a heap snapshot \((on signal|at exit)\) to (\S+): (\d+) blocks, "
         r"(\d+) leaked \((\d+) bytes\), pause ([0-9.]+) ms$")


def signal_snapshot(p, n, what):
    """Sends SIGUSR2, waits for the agent's line; {path, blocks, leaked, pause_ms, wall_s}."""
    t0 = time.monotonic()
    os.kill(p.proc.pid, signal.SIGUSR2)
    m = p.line("err", WROTE, 20.0, "%s: snapshot %d" % (what, n))
    if not m:
        return None
    path = os.path.join(TMP, "s-%d.heapsnapshot" % n)
    expect(m.group(1) == "on signal" and m.group(2) == path,
           "%s: snapshot %d went to %s (%s), not %s" % (what, n, m.group(2), m.group(1), path))
    return {"path": m.group(2), "blocks": int(m.group(3)), "leaked": int(m.group(4)),
            "pause_ms": float(m.group(6)), "wall_s": time.monotonic() - t0}


def cdp_snapshot(url, n, what):
    path = os.path.join(TMP, "c-%d.heapsnapshot" % n)
    t0 = time.monotonic()
    try:
        r = subprocess.run([CLI, "snapshot", "--target", url, "-o", path, "--no-progress",
                            "--timeout", "20000"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        fail("%s: heapscope snapshot %d did not finish in 30 s" % (what, n))
        return None
    if not expect(r.returncode == 0, "%s: heapscope snapshot %d exited %d: %s" %
                  (what, n, r.returncode, r.stderr.strip())):
        return None
    return {"path": path, "wall_s": time.monotonic() - t0}


def env_signal(extra=None):
    e = {"HEAPSCOPE_SNAPSHOT_SIGNAL": "USR2",
         "HEAPSCOPE_SNAPSHOT_OUT": os.path.join(TMP, "s-%n.heapsnapshot")}
    e.update(extra or {})
    return e


def ready(p, what):
    """The program's "thread ROLE TID ..." lines up to "ready PID": {role: [tid, ...fields]}."""
    threads = {}
    while True:
        m = p.line("out", r"^(thread|ready) (.*)$", 20.0, "%s: start" % what)
        if not m:
            return None
        if m.group(1) == "ready":
            expect(int(m.group(2)) == p.proc.pid, "ready %s is not pid %d" % (m.group(2),
                                                                            p.proc.pid))
            return threads
        f = m.group(2).split()
        threads[f[0]] = f[1:]


def program_check(p, nworkers, what, waitpid_expected=True):
    """Sends "check": every worker ran again; the program's waitpid(-1, WNOHANG)."""
    p.send("check")
    m = p.line("out", r"^check progressed=(\d+) of (\d+) waitpid=(-?\d+)/(\d+) sigchld=(\d+)$",
               20.0, "%s: check" % what)
    if not m:
        return
    expect(int(m.group(1)) == nworkers,
           "%s: only %s of %d workers ran again after the snapshot (stuck in the stop?)" %
           (what, m.group(1), nworkers))
    if waitpid_expected:
        expect((m.group(3), m.group(4)) == ("-1", "10"),
               "%s: the program's waitpid(-1, WNOHANG) gave %s/errno %s, not -1/ECHILD: it sees "
               "a child" % (what, m.group(3), m.group(4)))
        expect(m.group(5) == "0", "%s: the program got %s SIGCHLD without a child" %
               (what, m.group(5)))


# ---- churn ----------------------------------------------------------------------------------

NCHURN = 64
NLOCKERS = 4  # threads holding malloc's arena locks (mallinfo2 in a loop)


def check_churn_snapshot(path, threads, what):
    """Every worker's slot array held by its own thread's (stack) group; nothing leaked.
    A worker the stop missed (not running within the agent's 200 ms: possible on a loaded
    machine) has no (stack) group; its array must then be held by the (anonymous memory)
    of its stack mapping. Returns (churn_block blocks, workers missed)."""
    s = Snap(path)
    slots = s.blocks("churn_slots")
    expect(len(slots) == NCHURN, "%s: %d churn_slots blocks, not %d" % (what, len(slots),
                                                                       NCHURN))
    stacks = {}
    for g in s.groups("(stack) "):
        m = re.fullmatch(r"\(stack\) (\d+) (churn-\d+)", g["name"])
        if m:
            expect(threads.get(m.group(2), [None])[0] == m.group(1),
                   "%s: %s: no worker %s has tid %s" % (what, g["name"], m.group(2), m.group(1)))
            stacks[m.group(2)] = g["name"]
    missed = NCHURN - len(stacks)
    anon, extra, stale = 0, [], []
    groups = set(stacks.values())
    choices = []  # per slot array held by stacks: the worker groups that hold it
    for b in slots:
        rs = {s.nodes[r[0]]["name"]: s.nodes[r[0]]["type"] for r in s.retainers[b["i"]]}
        mine = [x for x in rs if x in groups]
        anons = [x for x in rs if x.startswith("(anonymous memory) 0x")]
        # Other blocks may hold a stale copy of the address (the scan is conservative: a
        # buffer's unwritten bytes are scanned too), and so may another worker's stack (a
        # dead local still holding the address of a block freed there before this array
        # took its place: the workers share malloc's arenas); no other root may.
        others = [x for x, t in rs.items() if x not in mine and x not in anons and t != "native"]
        extra += [x for x, t in rs.items() if t == "native"]
        if mine and not anons and not others:
            choices.append((b, mine))
        elif not mine and len(anons) == 1 and not others:
            anon += 1
        else:
            fail("%s: a churn_slots block (id %d) is retained by %s, not by a worker's "
                 "(stack) group" % (what, b["id"], sorted(rs)))
    # Each array to its own worker: a distinct group for every array (arrays held by one
    # stack first; the stale extra holders are then the groups left over).
    owners = set()
    for b, mine in sorted(choices, key=lambda c: len(c[1])):
        free = [g for g in mine if g not in owners]
        if free:
            owners.add(free[0])
            if len(mine) > 1:
                stale.append("%d: %s" % (b["id"], sorted(mine)))
    expect(len(owners) + anon == len(slots) and anon <= missed,
           "%s: %d distinct (stack) groups and %d (anonymous memory) hold the %d slot arrays; "
           "%d workers were not stopped" % (what, len(owners), anon, len(slots), missed))
    if extra:
        note("%s: blocks also pointing at a slot array (stale copies): %s" % (what, extra))
    if stale:
        note("%s: slot arrays also held by another worker's stack (stale copies): %s" %
             (what, stale))
    leaked = s.leaked_blocks()
    expect(not leaked, "%s: %d blocks reported leaked in a program that leaks nothing: %s" %
           (what, len(leaked), sorted({b["name"] for b in leaked})[:5]))
    churned = s.blocks("churn_block")
    expect(churned, "%s: no churn_block block in the snapshot" % what)
    return len(churned), missed


def churn_results(p, what):
    res = {}
    while True:
        m = p.line("out", r"^(worker (\d+) iters (\d+) sum ([0-9a-f]+) errors (\d+)|done .*)$",
                   60.0, "%s: results" % what)
        if not m or m.group(1).startswith("done"):
            break
        res[int(m.group(2))] = (int(m.group(3)), m.group(4), int(m.group(5)))
    expect(len(res) == NCHURN, "%s: %d workers reported, not %d" % (what, len(res), NCHURN))
    return res


def compare_reference(res, what):
    """The same work without the agent: the same checksums. Every 8th worker (the run
    without the agent is single-threaded: all 64 would take twice as long again)."""
    picked = sorted(i for i in res if i % 8 == 0)
    inp = "".join("%d %d\n" % (i, res[i][0]) for i in picked)
    r = subprocess.run([PROGRAM, "churn-ref"], input=inp, capture_output=True, text=True,
                       timeout=60, env={k: v for k, v in os.environ.items()
                                        if k != "LD_PRELOAD" and not k.startswith("HEAPSCOPE_")})
    ref = {}
    for ln in r.stdout.splitlines():
        m = re.fullmatch(r"worker (\d+) iters (\d+) sum ([0-9a-f]+) errors (\d+)", ln)
        if m:
            ref[int(m.group(1))] = (int(m.group(2)), m.group(3), int(m.group(4)))
    for i in picked:
        expect(ref.get(i) == res[i], "%s: worker %d: %s under the agent, %s without" %
               (what, i, res[i], ref.get(i)))
    for i, v in res.items():
        expect(v[2] == 0, "%s: worker %d read back %d wrong bytes" % (what, i, v[2]))
    return sum(v[0] for v in res.values())


def mode_churn_signal(nsnap=20):
    what = "churn-signal"
    p = Program(["churn", str(NCHURN), str(NLOCKERS)], env_signal())
    try:
        threads = ready(p, what)
        if threads is None:
            return
        expect(len(threads) == NCHURN + NLOCKERS, "%d workers announced" % len(threads))
        pauses, walls, churned = [], [], []
        for n in range(1, nsnap + 1):
            w = "%s: snapshot %d" % (what, n)
            r = signal_snapshot(p, n, what)
            if not r:
                return
            pauses.append(r["pause_ms"])
            walls.append(r["wall_s"])
            no_snapshot_child(p.proc.pid, w)
            expect(r["leaked"] == 0, "%s: the agent says %d blocks leaked" % (w, r["leaked"]))
            program_check(p, NCHURN + NLOCKERS, w)
            if n in (1, nsnap):
                check_file(r["path"], w)
            churned.append(check_churn_snapshot(r["path"], threads, w))
            expect(r["pause_ms"] < 2000, "%s: pause %.1f ms" % (w, r["pause_ms"]))
        p.send("stop")
        res = churn_results(p, what)
        rc = p.finish()
        expect(rc == 0, "%s: exit status %s" % (what, rc))
        t_ref = time.monotonic()
        total = compare_reference(res, what)
        note("%s: snapshots %.1f s, reference %.1f s" % (what, t_ref - started,
                                                          time.monotonic() - t_ref))
        note("%s: %d snapshots of %d threads churning; pause %.0f-%.0f ms (median %.0f), "
             "signal to file %.2f-%.2f s; %d iterations in all; %d-%d churn_block blocks; "
             "workers not stopped in time: %d" %
             (what, nsnap, NCHURN, min(pauses), max(pauses), sorted(pauses)[len(pauses) // 2],
              min(walls), max(walls), total, min(c[0] for c in churned),
              max(c[0] for c in churned), sum(c[1] for c in churned)))
    finally:
        p.kill()


def mode_churn_cdp(nsnap=12):
    what = "churn-cdp"
    p = Program(["churn", str(NCHURN), str(NLOCKERS)], {"HEAPSCOPE_LISTEN": "127.0.0.1:0"})
    try:
        m = p.line("err", r"listening on (ws://\S+)", 20.0, "%s: the endpoint" % what)
        threads = ready(p, what)
        if not m or threads is None:
            return
        walls, missed = [], 0
        for n in range(1, nsnap + 1):
            w = "%s: snapshot %d" % (what, n)
            r = cdp_snapshot(m.group(1), n, what)
            if not r:
                return
            walls.append(r["wall_s"])
            no_snapshot_child(p.proc.pid, w)
            program_check(p, NCHURN + NLOCKERS, w)
            if n in (1, nsnap):
                check_file(r["path"], w)
            missed += check_churn_snapshot(r["path"], threads, w)[1]
        p.send("stop")
        res = churn_results(p, what)
        rc = p.finish()
        expect(rc == 0, "%s: exit status %s" % (what, rc))
        t_ref = time.monotonic()
        compare_reference(res, what)
        note("%s: snapshots %.1f s, reference %.1f s" % (what, t_ref - started,
                                                          time.monotonic() - t_ref))
        note("%s: %d snapshots through CDP, %.2f-%.2f s each; "
             "workers not stopped in time: %d" % (what, nsnap, min(walls), max(walls), missed))
    finally:
        p.kill()


def mode_churn_exit():
    what = "churn-exit"
    p = Program(["churn", str(NCHURN), str(NLOCKERS)],
                env_signal({"HEAPSCOPE_SNAPSHOT_AT_EXIT": "1"}))
    try:
        threads = ready(p, what)
        if threads is None:
            return
        for n in range(1, 4):
            w = "%s: snapshot %d" % (what, n)
            r = signal_snapshot(p, n, what)
            if not r:
                return
            no_snapshot_child(p.proc.pid, w)
            program_check(p, NCHURN + NLOCKERS, w)
        p.send("exit")
        p.line("out", r"^exiting$", 20.0, what)
        m = p.line("err", WROTE, 30.0, "%s: the snapshot at exit" % what)
        rc = p.finish()
        expect(rc == 0, "%s: exit status %s" % (what, rc))
        if m and expect(m.group(1) == "at exit", "%s: the last snapshot was %s" %
                        (what, m.group(1))):
            path = m.group(2)
            expect(path == os.path.join(TMP, "s-4.heapsnapshot"), "%s: at exit to %s" %
                   (what, path))
            check_file(path, what + " at exit")
            missed = check_churn_snapshot(path, threads, what + " at exit")[1]
            note("%s: at exit with %d threads allocating: %s blocks, pause %s ms, workers not "
                 "stopped in time: %d" % (what, NCHURN, m.group(3), m.group(6), missed))
    finally:
        p.kill()


# ---- blocked in system calls ----------------------------------------------------------------

# Restarted after a handler with SA_RESTART (signal(7)); the others return EINTR.
RESTARTED = ("read", "cond", "accept", "futex")
INTERRUPTED = ("sleep", "poll", "epoll")


def check_held_by_stack(s, site, tid, comm, what):
    """The one block of site is held by (stack) TID COMM, and by nothing else."""
    bl = s.blocks(site)
    if not expect(len(bl) == 1, "%s: %d blocks of %s, not 1" % (what, len(bl), site)):
        return
    names = s.retainer_names(bl[0])
    expect(names == ["(stack) %s %s" % (tid, comm)],
           "%s: %s is retained by %s, not only by (stack) %s %s" % (what, site, names, tid, comm))
    expect(bl[0]["detached"] == 1, "%s: %s has detachedness %d (2 = leaked)" %
           (what, site, bl[0]["detached"]))


def settle(p, what):
    """Every blocked thread back in its system call before the next snapshot."""
    p.send("settle")
    p.line("out", r"^settled$", 20.0, "%s: settle" % what)


def blocked_results(p, roles, what):
    res = {}
    for _ in roles:
        m = p.line("out", r"^result (\w+) rc=(-?\d+) err=(\d+) eintr=(\d+) wakeups=(\d+) "
                   r"intact=(\d) rem=(\d+)$", 20.0, "%s: results" % what)
        if not m:
            break
        res[m.group(1)] = {k: int(m.group(i)) for i, k in
                           enumerate(("rc", "err", "eintr", "wakeups", "intact", "rem"), 2)}
    p.line("out", r"^done$", 20.0, what)
    return res


def mode_blocked(nsnap=3):
    what = "blocked"
    p = Program(["blocked"], env_signal())
    try:
        threads = ready(p, what)
        if threads is None:
            return
        roles = sorted(threads)
        expect(roles == sorted(RESTARTED + INTERRUPTED), "roles %s" % roles)
        for n in range(1, nsnap + 1):
            w = "%s: snapshot %d" % (what, n)
            settle(p, w)
            r = signal_snapshot(p, n, what)
            if not r:
                return
            no_snapshot_child(p.proc.pid, w)
            check_file(r["path"], w)
            s = Snap(r["path"])
            for role, (tid, comm, site) in threads.items():
                check_held_by_stack(s, site, tid, comm, "%s: %s" % (w, role))
            expect(not s.leaked_blocks(), "%s: leaked %s" % (w, [b["name"] for b in
                                                                 s.leaked_blocks()]))
        settle(p, what)  # the sleeper must be in nanosleep for SIGUSR1 to wake it
        p.send("wake")
        res = blocked_results(p, roles, what)
        rc = p.finish()
        expect(rc == 0, "%s: exit status %s" % (what, rc))
        for role in roles:
            v = res.get(role)
            if not expect(v is not None, "%s: no result from %s" % (what, role)):
                continue
            expect(v["intact"] == 1, "%s: %s's buffer changed" % (what, role))
            # Each woken as it expects: a byte read (119 = 'w'), the predicate, the word.
            want_rc = 0 if role in ("cond", "futex", "sleep") else ord("w")
            expect(v["rc"] == want_rc and v["err"] == 0,
                   "%s: %s ended with rc=%d err=%d, not rc=%d" % (what, role, v["rc"], v["err"],
                                                                  want_rc))
            if role in RESTARTED:
                expect(v["eintr"] == 0, "%s: %s returned EINTR %d times (SA_RESTART restarts "
                       "it)" % (what, role, v["eintr"]))
            else:
                # Interrupted by each stop, as the design says (and as by any signal);
                # the program's retry loop carried on. Exactly one EINTR per snapshot:
                # nothing else signals these threads (SIGUSR2 is blocked in them).
                expect(v["eintr"] == nsnap, "%s: %s returned EINTR %d times in %d snapshots" %
                       (what, role, v["eintr"], nsnap))
        cw, fw = res.get("cond", {}).get("wakeups"), res.get("futex", {}).get("wakeups")
        note("%s: after %d snapshots: EINTR from %s; restarted without EINTR: %s; "
             "pthread_cond_wait returned %s times, FUTEX_WAIT %s times (1 = only the wake); "
             "nanosleep(3600 s) had %s s left when woken (the retry with rem kept the time)" %
             (what, nsnap, ", ".join("%s %d" % (r, res[r]["eintr"]) for r in INTERRUPTED
                                     if r in res),
              ", ".join(r for r in RESTARTED if r in res and res[r]["eintr"] == 0), cw, fw,
              res.get("sleep", {}).get("rem")))
        if "sleep" in res:
            expect(3000 < res["sleep"]["rem"] <= 3600,
                   "%s: nanosleep's remaining time %d s" % (what, res["sleep"]["rem"]))
    finally:
        p.kill()


def mode_sigmask():
    what = "sigmask"
    p = Program(["sigmask"], env_signal())
    try:
        threads = ready(p, what)
        if threads is None:
            return
        mtid, mcomm, msite = threads["masked"]
        ntid, ncomm, nsite = threads["normal"]
        pauses = []
        for n in (1, 2):
            w = "%s: snapshot %d (every signal blocked)" % (what, n)
            settle(p, w)
            r = signal_snapshot(p, n, what)
            if not r:
                return
            pauses.append(r["pause_ms"])
            no_snapshot_child(p.proc.pid, w)
            # The stop waited its 200 ms for the masked thread, then went on without it.
            expect(200 <= r["pause_ms"] < 2000 and r["wall_s"] < 10,
                   "%s: pause %.1f ms, %.2f s in all (the stop gives up after 200 ms)" %
                   (w, r["pause_ms"], r["wall_s"]))
            check_file(r["path"], w)
            s = Snap(r["path"])
            check_held_by_stack(s, nsite, ntid, ncomm, w + ": the normal thread")
            expect(not s.groups("(stack) %s " % mtid) and not s.groups("(TLS) %s " % mtid),
                   "%s: the masked thread, never stopped, has groups" % w)
            bl = s.blocks(msite)
            if expect(len(bl) == 1, "%s: %d blocks of %s" % (w, len(bl), msite)):
                # Not stopped, so no registers and no stack pointer: its stack is not a
                # (stack) root; the whole stack mapping is then other anonymous memory.
                names = s.retainer_names(bl[0])
                expect(bl[0]["detached"] == 1, "%s: the masked thread's buffer is reported "
                       "leaked (retained by %s)" % (w, names))
                expect(len(names) == 1 and names[0].startswith("(anonymous memory) 0x"),
                       "%s: the masked thread's buffer is retained by %s, not by the "
                       "(anonymous memory) of its stack mapping" % (w, names))
                if n == 1:
                    note("%s: the thread that blocks every signal is not stopped (pause %.0f "
                         "ms: the 200 ms stop timeout); no (stack)/(TLS) group for it; its "
                         "stack-only buffer is retained by %s" % (what, r["pause_ms"], names))
        # It lets signals in: the stops still pending arrive (the handler is kept, so they
        # do no harm), and the next snapshot stops it like any other.
        p.send("unmask")
        m = p.line("out", r"^unmasked pending=(\S+)$", 20.0, what)
        if m:
            note("%s: signals pending on the masked thread after 2 snapshots: %s (SIGRTMAX "
                 "is %d)" % (what, m.group(1), signal.SIGRTMAX))
            expect(m.group(1) != "none", "%s: no stop signal pending on the masked thread" %
                   what)
        threads = ready(p, what + " after unmask")
        if threads is None:
            return
        r = signal_snapshot(p, 3, what)
        if r:
            w = "%s: snapshot 3 (signals let in)" % what
            no_snapshot_child(p.proc.pid, w)
            note("%s: pause %.1f ms once it lets signals in" % (w, r["pause_ms"]))
            s = Snap(r["path"])
            check_held_by_stack(s, msite, mtid, mcomm, w + ": the formerly masked thread")
            check_held_by_stack(s, nsite, ntid, ncomm, w + ": the normal thread")
        p.send("wake")
        res = blocked_results(p, ["masked", "normal"], what)
        rc = p.finish()
        expect(rc == 0, "%s: exit status %s (a stale stop signal would kill it)" % (what, rc))
        for role in ("masked", "normal"):
            v = res.get(role, {})
            expect(v.get("rc") == ord("w") and v.get("eintr") == 0 and v.get("intact") == 1,
                   "%s: %s: %s" % (what, role, v))
    finally:
        p.kill()


# ---- fork -----------------------------------------------------------------------------------

NFORKERS = 6


def mode_fork(nsnap=40):
    what = "fork"
    p = Program(["fork", str(NFORKERS)], env_signal())
    try:
        if ready(p, what) is None:
            return
        pauses = []
        for n in range(1, nsnap + 1):
            w = "%s: snapshot %d" % (what, n)
            r = signal_snapshot(p, n, what)
            if not r:
                return
            pauses.append(r["pause_ms"])
            no_snapshot_child(p.proc.pid, w, program_children_allowed=True)
            program_check(p, NFORKERS, w, waitpid_expected=False)
            if n in (1, nsnap):
                check_file(r["path"], w)
        p.send("stop")
        m = p.line("out", r"^forks created=(\d+) failed=(\d+) reaped=(\d+) foreign=(\d+) "
                   r"dup=(\d+) badstatus=(\d+) unreaped=(\d+) sigchld=(\d+) "
                   r"sigchld_foreign=(\d+) last_waitpid=(-?\d+)/(\d+)$", 30.0, what)
        p.line("out", r"^done$", 20.0, what)
        rc = p.finish()
        expect(rc == 0, "%s: exit status %s" % (what, rc))
        if not m:
            return
        v = dict(zip(("created", "failed", "reaped", "foreign", "dup", "badstatus", "unreaped",
                      "sigchld", "sigchld_foreign", "last", "last_errno"),
                     (int(x) for x in m.groups())))
        expect(v["created"] > nsnap, "%s: only %d forks during %d snapshots" %
               (what, v["created"], nsnap))
        expect(v["failed"] == 0, "%s: %d forks failed" % (what, v["failed"]))
        expect(v["foreign"] == 0 and v["sigchld_foreign"] == 0,
               "%s: the program saw children it did not make: %s" % (what, v))
        expect(v["reaped"] == v["created"] and v["dup"] == 0 and v["unreaped"] == 0,
               "%s: children reaped %d of %d (dup %d, unreaped %d)" %
               (what, v["reaped"], v["created"], v["dup"], v["unreaped"]))
        expect(v["badstatus"] == 0, "%s: %d children ended otherwise than /bin/true or "
               "_exit(7) (a child deadlocked in malloc would never end)" % (what, v["badstatus"]))
        expect((v["last"], v["last_errno"]) == (-1, 10),
               "%s: waitpid(-1) at the end gave %d/%d, not -1/ECHILD" %
               (what, v["last"], v["last_errno"]))
        note("%s: %d snapshots while %d threads forked %d children (%d SIGCHLD), pause "
             "%.0f-%.0f ms; none foreign" % (what, nsnap, NFORKERS, v["created"], v["sigchld"],
                                            min(pauses), max(pauses)))
    finally:
        p.kill()


MODES = {"churn-signal": mode_churn_signal, "churn-cdp": mode_churn_cdp,
         "churn-exit": mode_churn_exit, "blocked": mode_blocked, "sigmask": mode_sigmask,
         "fork": mode_fork}

if __name__ == "__main__":
    try:
        MODES[MODE]()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("%s: %d failures, %.1f s" % (MODE, len(failures), time.monotonic() - started))
    sys.exit(1 if failures else 0)
