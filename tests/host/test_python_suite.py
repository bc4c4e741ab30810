#!/usr/bin/python3
"""Host safety with a test suite nobody here wrote (issue 9 item 4): a
bounded subset of CPython's own test suite (Debian's libpython3.11-testsuite,
run by /usr/bin/python3 -m test) without the agent and under it, in full
mode (heap snapshots taken over CDP while it runs) or in sampling mode
(HEAPSCOPE_MODE=sample: sampling from load, its profile written on a
signal while the tests run, then sampling profiles taken over CDP; a
client's stopSampling ends the sampler started at load, so no profile is
expected at exit).

The modules run in the one interpreter the agent profiles (no -j: regrtest's
workers would be child processes, which the agent leaves alone; see
docs/design/agent.md "fork and exec"). Children the tests start (subprocess,
os.fork, os.popen) inherit LD_PRELOAD: a forked child keeps the agent but
not its endpoint, an exec'd program goes passive. The checks that the runs
are what they claim to be: the agent's endpoint banner comes once, and its
summary file holds exactly one record, the interpreter's (without
HEAPSCOPE_FOLLOW_CHILDREN no child writes one).

Checks: regrtest's verdict and exit status (--fail-env-changed: a module that
leaves a thread, a child process or a file behind fails) are the same, and
every module's outcome is the same: its number of tests and, for every test
case, whether it passed, was skipped, failed or erred (from --junit-xml);
every snapshot is a V8 snapshot; every profile is a SamplingHeapProfile
with samples.

Usage: test_python_suite.py full|sampling PYTHON AGENT_LIB HEAPSCOPE_CLI CHECK_PY
Exits 0 when every check holds, 1 with a line per failure.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostlib import (Program, clean_env, endpoint, expect, fail, failures,  # noqa: E402
                     note, snapshot)

MODE, PYTHON, AGENT, CLI, CHECK_PY = sys.argv[1:6]

# malloc-heavy containers and parsers, threads (with fork: test_threading),
# fork and exec (test_os, test_posix, test_popen), mmap, C extensions (zlib,
# hashlib, decimal, pickle): about 20 s of CPU time without the agent.
# test_signal is not here: on this machine it hangs without the agent too.
MODULES = ["test_list", "test_dict", "test_set", "test_json", "test_re", "test_threading",
           "test_mmap", "test_thread", "test_heapq", "test_struct", "test_pickle",
           "test_collections", "test_functools", "test_unicode", "test_bytes", "test_zlib",
           "test_hashlib", "test_decimal", "test_posix", "test_popen", "test_os"]
# While these run, the agent run takes a snapshot (full) or a sampling profile (sampling).
PROBE_AT = ["test_threading", "test_pickle", "test_decimal"]
TIME_LIMIT = 240.0
# A real-time signal none of the modules uses (glibc keeps 32 and 33).
PROFILE_SIGNAL = 40


def outcomes(xml_path, what):
    """[(tests, {test case: outcome})] per testsuite, in run order."""
    try:
        root = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError) as e:
        fail("%s: no readable --junit-xml file: %s" % (what, e))
        return []
    res = []
    for suite in root.iter("testsuite"):
        cases = {}
        for c in suite.iter("testcase"):
            tags = {x.tag for x in c}
            cases[c.get("name")] = ("error" if "error" in tags else "failure" if "failure" in
                                    tags else "skipped" if "skipped" in tags else c.get("result"))
        res.append((int(suite.get("tests", "0")), cases))
    return res


def probe(p, run_dir, target, n, what):
    """While tests run: a snapshot over CDP (full); the from-load profile on
    PROFILE_SIGNAL, then 1 s sampling profiles over CDP (sampling)."""
    if MODE == "full":
        path = os.path.join(run_dir, "probe-%d.heapsnapshot" % n)
        if snapshot(CLI, CHECK_PY, target, path, what):
            note("%s: snapshot of %d bytes" % (what, os.path.getsize(path)))
        return
    if n == 1:
        os.kill(p.proc.pid, PROFILE_SIGNAL)
        m = p.line("err", r"^heapscope: wrote the sampling profile \(on signal\) to (\S+)$", 60)
        if m:
            check_profile(m.group(1), what + ": from load, on signal")
        return
    path = os.path.join(run_dir, "probe-%d.heapprofile" % n)
    r = subprocess.run([CLI, "sample", "--target", target, "--duration", "1", "-o", path],
                       capture_output=True, text=True, timeout=60)
    if expect(r.returncode == 0, "%s: heapscope sample exited %d: %s" %
              (what, r.returncode, r.stderr.strip())):
        check_profile(path, what + ": over CDP")


def check_profile(path, what):
    try:
        with open(path) as f:
            prof = json.load(f)
    except (OSError, ValueError) as e:
        fail("%s: %s is not a JSON profile: %s" % (what, path, e))
        return
    expect(isinstance(prof.get("head"), dict) and isinstance(prof.get("samples"), list) and
           prof["samples"], "%s: %s is not a SamplingHeapProfile with samples" % (what, path))
    note("%s: profile with %d samples" % (what, len(prof.get("samples") or [])))


def one_run(agent, tmp):
    what = "python %s (%s)" % (MODE, "agent" if agent else "without the agent")
    run_dir = os.path.join(tmp, "agent" if agent else "plain")
    os.mkdir(run_dir)
    xml_path = os.path.join(run_dir, "results.xml")
    summary = os.path.join(run_dir, "summary")
    extra = {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0", "TMPDIR": run_dir}
    if agent:
        extra.update({"LD_PRELOAD": AGENT, "HEAPSCOPE_LISTEN": "127.0.0.1:0",
                      "HEAPSCOPE_SUMMARY": summary})
        if MODE == "sampling":
            extra.update({"HEAPSCOPE_MODE": "sample", "HEAPSCOPE_SAMPLE": "4096",
                          "HEAPSCOPE_PROFILE_SIGNAL": str(PROFILE_SIGNAL),
                          "HEAPSCOPE_PROFILE_OUT": os.path.join(run_dir, "load.heapprofile")})
    env = clean_env(extra)
    for k in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
        env.pop(k, None)
    t0 = time.monotonic()
    p = Program([PYTHON, "-m", "test", "--fail-env-changed", "--junit-xml", xml_path] + MODULES,
                env, what, cwd=run_dir, stdin=False)
    try:
        target = endpoint(p) if agent else None
        for n, mod in enumerate(PROBE_AT, 1):
            if not p.line("out", r"\] %s$" % mod, TIME_LIMIT):
                break
            if target:
                probe(p, run_dir, target, n, "%s: during %s" % (what, mod))
        rc = p.finish(TIME_LIMIT)
    finally:
        p.kill()
    wall = time.monotonic() - t0
    verdict = [ln for ln in p.all["out"] if ln.startswith("Tests result:")]
    if agent:
        banners = [ln for ln in p.all["err"] if "DevTools listening on" in ln]
        expect(len(banners) == 1, "%s: %d endpoint banners, not 1: %s" %
               (what, len(banners), banners))
        try:
            with open(summary) as f:
                records = f.read().splitlines()
        except OSError:
            records = []
        pids = [re.search(r"\bpid=(\d+)", r) for r in records]
        expect(len(records) == 1 and pids[0] and int(pids[0].group(1)) == p.proc.pid,
               "%s: the summary holds %s, not one record of pid %d (a child was profiled, or "
               "the interpreter was not)" % (what, records, p.proc.pid))
    note("%s: %.1f s, exit status %s, %s" % (what, wall, rc, verdict))
    return rc, verdict, outcomes(xml_path, what)


def main():
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="hs-host-python-")
    try:
        plain = one_run(False, tmp)
        agent = one_run(True, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    expect(plain[0] == 0 and plain[1] == ["Tests result: SUCCESS"],
           "without the agent: exit status %s, %s (the comparison needs a clean run)" %
           (plain[0], plain[1]))
    expect(agent[:2] == plain[:2], "under the agent (%s): exit status %s, %s; without: %s, %s" %
           (MODE, agent[0], agent[1], plain[0], plain[1]))
    expect(len(plain[2]) == len(MODULES) and len(agent[2]) == len(MODULES),
           "%d and %d test suites in the results (without, with the agent), not %d" %
           (len(plain[2]), len(agent[2]), len(MODULES)))
    cases = 0
    for mod, a, b in zip(MODULES, plain[2], agent[2]):
        cases += a[0]
        if a == b:
            continue
        diff = sorted((k, a[1].get(k), b[1].get(k)) for k in set(a[1]) | set(b[1])
                      if a[1].get(k) != b[1].get(k))
        fail("%s: %d tests without the agent, %d under it (%s); cases that differ (without, "
             "with): %s" % (mod, a[0], b[0], MODE, diff[:10]))
    note("%d modules, %d test cases, each with the same outcome" % (len(MODULES), cases))
    print("python-%s: %d failures, %.1f s" % (MODE, len(failures), time.monotonic() - started))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
