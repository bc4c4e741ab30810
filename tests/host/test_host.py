#!/usr/bin/python3
"""Host safety with our own programs (issue 9 item 4): host_prog.c does what
a test suite may not cover, once without the agent and once under it
(LD_PRELOAD, full mode, endpoint on a free port), with heap snapshots taken
through `heapscope snapshot` while it works. One mode per ctest entry:

  fork     hundreds of forks whose children allocate, free and exit (some
           through exec of the program)
  spawn    vfork + exec and posix_spawn
  signals  SIGPROF/SIGALRM/SIGUSR1 storm over 4 threads in malloc and free,
           handlers on sigaltstacks
  threads  threads started and ending continuously
  dlopen   a library whose globals hold blocks: loaded (the snapshot shows
           the blocks retained by its (globals) group), unloaded without
           freeing them (a snapshot after dlclose: no crash, the blocks
           unreachable), then loaded and unloaded in a loop while snapshots
           are taken
  altstack a thread inside a handler running on its alternate stack (a
           malloc'd block): the snapshot still sees the thread's stack as its
           stack and the heap above the alternate stack as heap
  setstack a thread whose stack is a malloc'd block (pthread_attr_setstack)
           holds a block in a _Thread_local only: its TLS, at the top of
           that block, is the thread's TLS group, not part of its stack

Checks: the exit status, stdout (less the progress lines, whose numbers
depend on timing) and stderr (less the agent's "heapscope:" lines) are those
of the run without the agent; the program's own result lines say every
child, thread and handler did what it should; exactly one endpoint banner
(the children, which inherit LD_PRELOAD, stay passive); every snapshot
succeeds and is a V8 snapshot; after every snapshot the program is still
making progress.

Usage: test_host.py MODE PROGRAM AGENT_LIB HEAPSCOPE_CLI CHECK_PY HOST_LIB
Exits 0 when every check holds, 1 with a line per failure.
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostlib import (Program, Snap, clean_env, compare_lines, endpoint, expect,  # noqa: E402
                     failures, note, snapshot)

MODE, PROGRAM, AGENT, CLI, CHECK_PY, HOST_LIB = sys.argv[1:7]
NSNAP = 8
WAIT = 30.0  # seconds for any line the program owes


class Run:
    def __init__(self, agent, tmp):
        self.agent, self.tmp, self.nsnap = agent, tmp, 0
        self.what = "%s (%s)" % (MODE, "agent" if agent else "without the agent")
        env = clean_env({"LD_PRELOAD": AGENT, "HEAPSCOPE_LISTEN": "127.0.0.1:0"}
                        if agent else None)
        argv = [PROGRAM, "dlopen", HOST_LIB] if MODE == "dlopen" else [PROGRAM, MODE]
        self.p = Program(argv, env, self.what)
        self.target = endpoint(self.p) if agent else None

    def ask(self, cmd, regex):
        self.p.send(cmd)
        return self.p.line("out", regex, WAIT)

    def progress(self):
        m = self.ask("progress", r"^progress (\d+)\b")
        return int(m.group(1)) if m else None

    def snap(self, label):
        """A snapshot while the program works (agent run only): its path, or None."""
        if not self.agent:
            return None
        self.nsnap += 1
        path = os.path.join(self.tmp, "%s-%d.heapsnapshot" % (MODE, self.nsnap))
        return path if snapshot(CLI, CHECK_PY, self.target, path,
                                "%s: snapshot %d (%s)" % (self.what, self.nsnap, label)) else None

    def working_snapshots(self):
        """NSNAP snapshots (agent run) while the workers run; progress after each."""
        last = self.progress()
        for n in range(NSNAP):
            self.snap("working")
            now = self.progress()
            if now is None or last is None:
                return
            # The round in flight at the snapshot may be the only one since: ask until one
            # more has ended (the program's own pace), within WAIT.
            end = time.monotonic() + WAIT
            while now == last and time.monotonic() < end:
                now = self.progress()
                if now is None:
                    return
            if not expect(now > last, "%s: no round ended within %.0f s after snapshot %d "
                          "(stuck?)" % (self.what, WAIT, n + 1)):
                return
            last = now

    def finish(self):
        self.ask("stop", r"^done$")
        rc = self.p.finish(WAIT)
        progress = [ln for ln in self.p.all["out"] if ln.startswith("progress ")]
        note("%s: at the end: %s; %d snapshots" % (self.what, progress[-1] if progress else
                                                   "no progress line", self.nsnap))
        out = [ln for ln in self.p.all["out"]
               if not ln.startswith(("progress ", "ready ", "parked "))]
        err = self.p.all["err"]
        if self.agent:
            banners = [ln for ln in err if "DevTools listening on" in ln]
            expect(len(banners) == 1, "%s: %d endpoint banners (children must stay passive): "
                   "%s" % (self.what, len(banners), banners))
            err = [ln for ln in err if not ln.startswith("heapscope:")]
        return rc, out, err


def dlopen_checks(run):
    """load, snapshot, unload, snapshot, churn; the snapshots' view of the blocks."""
    sizes = (70001, 70002, 70003)
    m = run.ask("load", r"^loaded (-?\d+) blocks, mapped=(-?\d+)$")
    if not expect(m and m.groups() == ("3", "1"), "%s: load: %s" %
                  (run.what, m and m.group(0))):
        return
    path = run.snap("library loaded")
    if path:
        s = Snap(path)
        for size in sizes:
            bl = s.native(size)
            if not expect(len(bl) == 1, "%s: %d blocks of %d bytes in the snapshot while "
                          "the library is loaded, not 1" % (run.what, len(bl), size)):
                continue
            holders = bl[0]["retainers"]
            expect(any(h.startswith("(globals) ") and h.endswith("/libhost_lib.so")
                       for h in holders) and bl[0]["detached"] != 2,
                   "%s: the %d-byte block is retained by %s (detachedness %d), not by the "
                   "library's (globals)" % (run.what, size, holders, bl[0]["detached"]))
        note("%s: loaded: blocks %s named %s, retained by %s" %
             (run.what, sizes, sorted({b["name"] for z in sizes for b in s.native(z)}),
              sorted({h for z in sizes for b in s.native(z) for h in b["retainers"]})))
    m = run.ask("unload", r"^unloaded rc=(-?\d+) mapped=(-?\d+)$")
    if not expect(m and m.groups() == ("0", "0"), "%s: unload (dlclose, then the library "
                  "must be unmapped): %s" % (run.what, m and m.group(0))):
        return
    path = run.snap("library unloaded")
    if path:
        s = Snap(path)
        expect(not s.synthetic("libhost_lib"), "%s: after dlclose the snapshot still has "
               "groups of the library: %s" % (run.what,
                                              [g["name"] for g in s.synthetic("libhost_lib")]))
        for size in sizes:
            bl = s.native(size)
            if expect(len(bl) == 1, "%s: %d blocks of %d bytes after dlclose, not 1" %
                      (run.what, len(bl), size)):
                expect(bl[0]["detached"] == 2,
                       "%s: after dlclose the %d-byte block is not unreachable: detachedness "
                       "%d, retained by %s" % (run.what, size, bl[0]["detached"],
                                               bl[0]["retainers"]))
        note("%s: unloaded: the blocks are named %s" %
             (run.what, sorted({b["name"] for z in sizes for b in s.native(z)})))
    if run.ask("churn", r"^churning$"):
        run.working_snapshots()


def altstack_checks(run, tid):
    """A thread parked in a handler on its alternate stack (a heap block): its stack is
    still its stack, and the heap above the alternate stack is not a root."""
    path = run.snap("a thread inside a handler on its alternate stack")
    if not path:
        return
    s = Snap(path)
    group = "(stack) %s hs-parked" % tid
    held = s.native(50001)
    if expect(len(held) == 1, "%s: %d blocks of 50001 bytes, not 1" % (run.what, len(held))):
        expect(group in held[0]["retainers"] and held[0]["detached"] != 2,
               "%s: the block held on the parked thread's own stack is retained by %s "
               "(detachedness %d), not by %s" % (run.what, held[0]["retainers"],
                                                 held[0]["detached"], group))
    for size in (50002, 50003):
        bl = s.native(size)
        if expect(len(bl) == 1, "%s: %d blocks of %d bytes, not 1" % (run.what, len(bl), size)):
            expect(bl[0]["detached"] == 2,
                   "%s: the leaked %d-byte block (allocated after the alternate stack) is "
                   "retained by %s (detachedness %d), not unreachable" %
                   (run.what, size, bl[0]["retainers"], bl[0]["detached"]))


def setstack_checks(run, tid):
    """A thread on a stack that is a heap block: the static TLS at the top of that block
    retains what a _Thread_local holds; the (stack) group does not."""
    path = run.snap("a thread on a malloc'd stack")
    if not path:
        return
    s = Snap(path)
    held = s.native(50004)
    if expect(len(held) == 1, "%s: %d blocks of 50004 bytes, not 1" % (run.what, len(held))):
        r = held[0]["retainers"]
        expect("(TLS) %s hs-setstack" % tid in r and "(stack) %s hs-setstack" % tid not in r,
               "%s: the block held by a _Thread_local is retained by %s, not by the thread's "
               "(TLS) group alone" % (run.what, r))


def one_run(agent, tmp):
    run = Run(agent, tmp)
    try:
        if agent and not run.target:
            return None
        parked = (run.p.line("out", r"^parked (\d+)$", WAIT)
                  if MODE in ("altstack", "setstack") else None)
        if not run.p.line("out", r"^ready \d+$", WAIT):
            return None
        if parked and MODE == "setstack":
            setstack_checks(run, parked.group(1))
        elif parked:
            altstack_checks(run, parked.group(1))
        elif MODE == "dlopen":
            dlopen_checks(run)
        else:
            run.working_snapshots()
        return run.finish()
    finally:
        run.p.kill()


def main():
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="hs-host-")
    try:
        plain = one_run(False, tmp)
        agent = one_run(True, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if plain and agent:
        expect(plain[0] == 0, "%s: exit status %s without the agent" % (MODE, plain[0]))
        expect(agent[0] == plain[0], "%s: exit status %s under the agent, %s without" %
               (MODE, agent[0], plain[0]))
        compare_lines(plain[1], agent[1], "%s: stdout under the agent" % MODE)
        compare_lines(plain[2], agent[2], "%s: stderr under the agent (less heapscope: lines)" %
                      MODE)
        # What the program checked itself: every child's status or output, every thread's
        # result, every handler on its alternate stack.
        results = "\n".join(agent[1])
        ok = "differs" not in results
        if MODE == "signals":
            ok = ok and "off the alternate stack: 0, on a thread without one: 0" in results
        if MODE not in ("altstack", "setstack"):
            ok = ok and ("%s bad=0" % MODE) in agent[1]
        expect(ok, "%s: the program's results under the agent:\n  %s" %
               (MODE, "\n  ".join(agent[1])))
        note("%s: output under the agent:\n  %s" % (MODE, "\n  ".join(agent[1])))
    print("%s: %d failures, %.1f s" % (MODE, len(failures), time.monotonic() - started))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
