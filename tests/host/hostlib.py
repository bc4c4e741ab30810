"""Shared by the host-safety tests (test_host.py, test_python_suite.py): a
program under test with its output read line by line, the agent's endpoint
found from its banner, heap snapshots through `heapscope snapshot`, and
checks that collect failures instead of stopping at the first one.

Every wait is on a line a process printed (or its exit), with a deadline;
never a sleep."""
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr, flush=True)


def expect(cond, msg):
    if not cond:
        fail(msg)
    return cond


def note(msg):
    """What the test observed (not a pass/fail criterion)."""
    print("note: " + msg, flush=True)


def clean_env(extra=None):
    """The test's environment without any heapscope setting or preload."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("HEAPSCOPE_") and k != "LD_PRELOAD"}
    e.update(extra or {})
    return e


BANNER = r"^heapscope: DevTools listening on ws://(127\.0\.0\.1:\d+)/\S+$"


class Program:
    """A process, in a process group of its own, whose stdout and stderr lines are kept
    (all of them, for the comparison) and queued (for waits)."""

    def __init__(self, argv, env, what, cwd=None, stdin=True):
        self.what = what
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     bufsize=1, errors="replace", start_new_session=True)
        self.q = {"out": queue.Queue(), "err": queue.Queue()}
        self.all = {"out": [], "err": []}
        self.pumps = []
        for name, f in (("out", self.proc.stdout), ("err", self.proc.stderr)):
            t = threading.Thread(target=self._pump, args=(name, f), daemon=True)
            t.start()
            self.pumps.append(t)

    def _pump(self, name, f):
        for line in f:
            line = line.rstrip("\n")
            self.all[name].append(line)
            self.q[name].put(line)
        self.q[name].put(None)

    def line(self, stream, regex, timeout):
        """The next line on stream matching regex (a match object); None, and a failure,
        after timeout or at the stream's end."""
        end = time.monotonic() + timeout
        while True:
            try:
                ln = self.q[stream].get(timeout=max(end - time.monotonic(), 0.001))
            except queue.Empty:
                ln = False
            if ln is None or ln is False:
                if ln is None:
                    self.q[stream].put(None)
                fail("%s: no line matching /%s/ on std%s (%s); last lines:\n  %s" %
                     (self.what, regex, stream, "it ended" if ln is None else
                      "%.0f s passed" % timeout, "\n  ".join(self.all[stream][-8:])))
                return None
            m = re.search(regex, ln)
            if m:
                return m

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout):
        """Exit status (None, and a failure, if it does not end in time); all output read."""
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            fail("%s: did not exit within %.0f s" % (self.what, timeout))
            self.kill()
            return None
        for t in self.pumps:
            t.join(10)
        return rc

    def kill(self):
        """Ends the program and whatever it left in its process group (a child stuck in a
        deadlock would outlive the test otherwise). Only while the program is not reaped:
        until then no other process can have its pid as a group id."""
        if self.proc.returncode is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def endpoint(p, timeout=20.0):
    """HOST:PORT of the agent's endpoint, from its banner on stderr."""
    m = p.line("err", BANNER, timeout)
    return m.group(1) if m else None


def snapshot(cli, check_py, target, path, what, timeout_s=60):
    """`heapscope snapshot` of target into path; True if it succeeded and the file is a
    V8 heap snapshot (tests/client/heapsnapshot_check.py)."""
    try:
        r = subprocess.run([cli, "snapshot", "--target", target, "-o", path, "--no-progress",
                            "--timeout", "30000"], capture_output=True, text=True,
                           timeout=timeout_s)
    except subprocess.TimeoutExpired:
        fail("%s: heapscope snapshot did not finish in %d s" % (what, timeout_s))
        return False
    if not expect(r.returncode == 0, "%s: heapscope snapshot exited %d: %s" %
                  (what, r.returncode, r.stderr.strip())):
        return False
    c = subprocess.run([sys.executable, check_py, "check", path, "--node-fields", "6"],
                       capture_output=True, text=True)
    return expect(c.returncode == 0, "%s: %s is not a V8 heap snapshot: %s" %
                  (what, path, c.stderr.strip()))


def compare_lines(plain, agent, what):
    """Identical line lists, or a failure showing the first difference."""
    if plain == agent:
        return True
    n = next((i for i, (a, b) in enumerate(zip(plain, agent)) if a != b),
             min(len(plain), len(agent)))
    fail("%s differs from the run without the agent at line %d:\n  without: %r\n  with:    "
         "%r" % (what, n + 1, plain[n] if n < len(plain) else "<end>",
                 agent[n] if n < len(agent) else "<end>"))
    return False


class Snap:
    """A .heapsnapshot's nodes (type, name, self size, detachedness) and, for each node,
    the names of the nodes that hold an edge to it."""

    def __init__(self, path):
        import json
        with open(path) as f:
            d = json.load(f)
        meta = d["snapshot"]["meta"]
        nf, ef = meta["node_fields"], meta["edge_fields"]
        types = meta["node_types"][0]
        s, n, e = d["strings"], d["nodes"], d["edges"]
        w, ew = len(nf), len(ef)
        it, iname, isize, iec = (nf.index(k) for k in ("type", "name", "self_size",
                                                      "edge_count"))
        idet = nf.index("detachedness") if "detachedness" in nf else None
        ito = ef.index("to_node")
        self.nodes = [{"type": types[n[i + it]], "name": s[n[i + iname]],
                       "size": n[i + isize], "detached": n[i + idet] if idet is not None else 0,
                       "retainers": []} for i in range(0, len(n), w)]
        k = 0
        for i, nd in enumerate(self.nodes):
            for _ in range(n[i * w + iec]):
                self.nodes[e[k + ito] // w]["retainers"].append(nd["name"])
                k += ew

    def native(self, size):
        return [nd for nd in self.nodes if nd["type"] == "native" and nd["size"] == size]

    def synthetic(self, substring):
        return [nd for nd in self.nodes if nd["type"] == "synthetic" and substring in nd["name"]]
