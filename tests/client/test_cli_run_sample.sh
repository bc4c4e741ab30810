#!/usr/bin/env bash
# `heapscope run --sample[=INTERVAL] [-o FILE] [--sample-signal SIG]`: the
# environment it hands the program (read back with env), its usage errors, what
# it says after the program when a profile was or was not written (the program
# writes one itself, standing in for the agent, which may write it too), and the profile signal sent to
# run reaching the program. Usage: test_cli_run_sample.sh HEAPSCOPE
set -u
hs=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$tmp" || exit 1
dir=$(pwd -P)

# run_env ARGS...: the HEAPSCOPE_SAMPLE/PROFILE_*/PID lines env prints under `heapscope run ARGS -- env`.
run_env() {
  env -u HEAPSCOPE_SAMPLE -u HEAPSCOPE_PROFILE_OUT -u HEAPSCOPE_PROFILE_SIGNAL \
    "$hs" run --listen off "$@" -- env 2>/dev/null |
    grep -E '^HEAPSCOPE_(SAMPLE|PROFILE_[A-Z]+|PID)=' | sort
}

out=$(run_env --sample=4096 -o x)
pid=$(sed -n 's/^HEAPSCOPE_PID=//p' <<<"$out")
expect_eq "$out" "HEAPSCOPE_PID=$pid
HEAPSCOPE_PROFILE_OUT=$dir/x
HEAPSCOPE_SAMPLE=4096" "--sample=4096 -o x: interval, absolute file, no signal"

out=$(run_env --sample)
pid=$(sed -n 's/^HEAPSCOPE_PID=//p' <<<"$out")
expect_match "$pid" '^[0-9]+$' "HEAPSCOPE_PID is set"
expect_eq "$out" "HEAPSCOPE_PID=$pid
HEAPSCOPE_PROFILE_OUT=$dir/heapscope-$pid.heapprofile
HEAPSCOPE_SAMPLE=32768" "--sample: default interval, heapscope-<pid>.heapprofile here"

out=$(run_env --sample -o "$tmp/sub/../y.heapprofile" --output /abs/z.heapprofile)
expect_match "$out" "HEAPSCOPE_PROFILE_OUT=/abs/z.heapprofile" "the last -o/--output wins"

for sig in USR1:USR1 SIGUSR2:USR2 usr1:USR1 sigHup:HUP 12:12 34:34; do
  out=$(run_env --sample --sample-signal "${sig%%:*}")
  expect_match "$out" "HEAPSCOPE_PROFILE_SIGNAL=${sig#*:}
" "--sample-signal ${sig%%:*}"
done

out=$(run_env)
expect_eq "$(grep -v '^HEAPSCOPE_PID=' <<<"$out")" "" "without --sample: no sampling variables"

# Usage errors: exit 2, the program does not run.
usage() {
  out=$("$hs" run --listen off "$@" -- sh -c 'echo ran' 2>/dev/null)
  expect_eq "$?/$out" "2/" "usage error: run $*"
}
usage --sample=0
usage --sample=
usage --sample=-1
usage --sample=4k
usage --sample=abc
usage -o x
usage --sample-signal USR1
usage --sample --sample-signal KILL
usage --sample --sample-signal SIGSTOP
usage --sample --sample-signal 9
usage --sample --sample-signal 0
usage --sample --sample-signal 999
usage --sample --sample-signal NOPE
usage --sample --sample-signal ''
usage --sample -o ''
err=$("$hs" run --sample=0 -- true 2>&1)
expect_eq "$err" "heapscope run: --sample=INTERVAL takes a number of bytes (> 0), not '0'" \
  "--sample=0 message"
"$hs" help | grep -q -- '--sample\[=INTERVAL\]' && ok || fail "usage lists run --sample"

# After the program: a profile written during the run is announced with how to
# open it, even when the program changed directory (the path is absolute).
err=$("$hs" run --listen off --sample -o p.heapprofile -- \
  sh -c 'cd / && printf "{}" >"$HEAPSCOPE_PROFILE_OUT"' 2>&1)
expect_eq "$?" 0 "run with a profile: exit status"
# (The agent may write it again at exit: only its place is checked.)
[ -s "$dir/p.heapprofile" ] && ok || fail "the profile is not where -o said, after a chdir"
expect_match "$err" \
  "heapscope: allocation profile in $dir/p.heapprofile: open it in Chrome DevTools \(Memory panel, Load\) or in speedscope" \
  "run says where the profile is and how to open it"
# A file left by an earlier run and not rewritten is not announced: the program
# dies by SIGKILL, before the agent can write at exit.
err=$("$hs" run --listen off --sample -o p.heapprofile -- sh -c 'kill -KILL $$' 2>&1)
expect_match "$err" "heapscope: sh \(pid [0-9]+\): no allocation profile was written to $dir/p.heapprofile" \
  "an old profile is not taken for a new one"
[[ $err == *"allocation profile in"* ]] && fail "old profile announced" || ok

# The profile signal sent to run (the pid the user sees) reaches the program.
mkfifo "$tmp/ready"
"$hs" run --listen off --sample --sample-signal USR1 -o s.heapprofile -- \
  sh -c 'trap "echo got-USR1; exit 7" USR1; echo ready >"$0"; while :; do sleep 5 & wait $!; done' \
  "$tmp/ready" >"$tmp/sig.out" 2>/dev/null &
run_pid=$!
pids+=($run_pid)
# Opened read-write: an open for reading alone would block (past read's -t)
# if the program never started.
exec {ready_fd}<>"$tmp/ready"
line=""
read -r -t 30 -u "$ready_fd" line
exec {ready_fd}<&-
expect_eq "$line" "ready" "the program started"
kill -USR1 "$run_pid"
wait "$run_pid"
expect_eq "$?" 7 "USR1 to run reaches the program (its exit status comes back)"
expect_eq "$(cat "$tmp/sig.out")" "got-USR1" "the program's trap ran"

echo "cli-run-sample: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
