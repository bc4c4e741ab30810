#!/usr/bin/env bash
# `heapscope run --snapshot-at-exit / --snapshot-signal[=SIG] / --snapshot-out
# PATTERN`: the environment it hands the program (read back with env), its
# usage errors, and the agent writing snapshots of run_snapshot_target (a known
# heap: 100 blocks from keep_block, 10 from leak_block) at exit and on a
# signal sent twice (to run, then to the program), each file checked with
# heapsnapshot_check.py (V8's layout, 6 node fields, the known blocks), and
# what run says after the program. Every wait is on a line a process printed,
# never a sleep. Usage: test_cli_run_snapshot.sh HEAPSCOPE TARGET PYTHON
set -u
hs=$1 target=$2 python=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$tmp" || exit 1
dir=$(pwd -P)
# check_snapshot FILE WHAT: a whole snapshot of run_snapshot_target's heap.
# A third argument: the node field count (7 while sampling: allocation stacks).
check_snapshot() {
  "$python" "$here/heapsnapshot_check.py" check "$1" --node-fields "${3:-6}" \
    --count 'native:keep_block*=100' --count 'native:leak_block*=10' && ok ||
    fail "$2: $1 is not a V8 snapshot holding the target's blocks"
}
# The agent's line for a snapshot written to FILE (a regex).
wrote_re() {
  printf '^heapscope: wrote a heap snapshot \\(%s\\) to %s: ([0-9]+) blocks, ([0-9]+) leaked \\(([0-9]+) bytes\\), pause [0-9.]+ ms$' "$1" "$2"
}

# ---- the environment --------------------------------------------------------------------
# run_env ARGS...: the HEAPSCOPE_SNAPSHOT_* lines env prints under `heapscope run ARGS -- env`.
run_env() {
  env -u HEAPSCOPE_SNAPSHOT_OUT -u HEAPSCOPE_SNAPSHOT_AT_EXIT -u HEAPSCOPE_SNAPSHOT_SIGNAL \
    "$hs" run --listen off "$@" -- env 2>/dev/null | grep -E '^HEAPSCOPE_SNAPSHOT_' | sort
}
default_out="HEAPSCOPE_SNAPSHOT_OUT=$dir/heapscope-%p-%n.heapsnapshot"

expect_eq "$(run_env --snapshot-at-exit)" "HEAPSCOPE_SNAPSHOT_AT_EXIT=1
$default_out" "--snapshot-at-exit: the default pattern, absolute"
expect_eq "$(run_env --snapshot-signal)" "$default_out
HEAPSCOPE_SNAPSHOT_SIGNAL=USR2" "--snapshot-signal without a value: USR2"
expect_eq "$(run_env --snapshot-signal --snapshot-at-exit)" "HEAPSCOPE_SNAPSHOT_AT_EXIT=1
$default_out
HEAPSCOPE_SNAPSHOT_SIGNAL=USR2" "--snapshot-signal followed by an option: USR2"
for sig in HUP:HUP SIGUSR1:USR1 usr2:USR2 12:12 34:34; do
  expect_match "$(run_env --snapshot-signal "${sig%%:*}")" "HEAPSCOPE_SNAPSHOT_SIGNAL=${sig#*:}$" \
    "--snapshot-signal ${sig%%:*}"
  expect_match "$(run_env --snapshot-signal="${sig%%:*}")" "HEAPSCOPE_SNAPSHOT_SIGNAL=${sig#*:}$" \
    "--snapshot-signal=${sig%%:*}"
done
expect_match "$(run_env --snapshot-at-exit --snapshot-out 'sub/s-%n.hs')" \
  "HEAPSCOPE_SNAPSHOT_OUT=$dir/sub/s-%n.hs$" "--snapshot-out relative: made absolute"
expect_match "$(run_env --snapshot-at-exit --snapshot-out=/abs/%p.hs)" \
  "HEAPSCOPE_SNAPSHOT_OUT=/abs/%p.hs$" "--snapshot-out=/absolute"
mkdir "$tmp/50%p"
expect_match "$(cd "$tmp/50%p" && run_env --snapshot-at-exit)" \
  "HEAPSCOPE_SNAPSHOT_OUT=$dir/50%%p/heapscope-%p-%n.heapsnapshot$" \
  "a '%' in the directory is quoted"
expect_eq "$(run_env --sample)" "" "without snapshot options: no snapshot variables"

# Transparent huge pages for malloc's heap (a short fork, so a short pause),
# unless the user said otherwise, asked for --no-hugepages, or samples only.
tunables() {
  "$hs" run --listen off "$@" -- env 2>/dev/null | grep -E '^GLIBC_TUNABLES=' || true
}
expect_eq "$(env -u GLIBC_TUNABLES "$hs" run --listen off -- env 2>/dev/null | grep '^GLIBC_TUNABLES=')" \
  "GLIBC_TUNABLES=glibc.malloc.hugetlb=1" "huge pages asked for by default"
expect_eq "$(GLIBC_TUNABLES=glibc.malloc.check=0 tunables)" \
  "GLIBC_TUNABLES=glibc.malloc.check=0:glibc.malloc.hugetlb=1" "appended to the user's tunables"
expect_eq "$(GLIBC_TUNABLES=glibc.malloc.hugetlb=0 tunables)" \
  "GLIBC_TUNABLES=glibc.malloc.hugetlb=0" "the user's own hugetlb setting is kept"
expect_eq "$(env -u GLIBC_TUNABLES "$hs" run --listen off --no-hugepages -- env 2>/dev/null | grep '^GLIBC_TUNABLES=')" \
  "" "--no-hugepages"
expect_eq "$(env -u GLIBC_TUNABLES HEAPSCOPE_MODE=sample "$hs" run --listen off -- env 2>/dev/null | grep '^GLIBC_TUNABLES=')" \
  "" "sampling-only mode takes no snapshots: no huge pages"

# Usage errors: exit 2, the program does not run.
usage() {
  out=$("$hs" run --listen off "$@" -- sh -c 'echo ran' 2>/dev/null)
  expect_eq "$?/$out" "2/" "usage error: run $*"
}
usage --snapshot-out x
usage --snapshot-out=x
usage --snapshot-signal KILL
usage --snapshot-signal SIGSTOP
usage --snapshot-signal 9
usage --snapshot-signal=0
usage --snapshot-signal=NOPE
usage --snapshot-signal=
usage --snapshot-at-exit --snapshot-out ''
usage --snapshot-at-exit --snapshot-out=
err=$("$hs" run --snapshot-out x -- true 2>&1)
expect_eq "$err" "heapscope run: --snapshot-out only goes with --snapshot-at-exit or --snapshot-signal" \
  "--snapshot-out alone: message"
err=$("$hs" run --snapshot-signal KILL -- true 2>&1)
expect_eq "$err" "heapscope run: --snapshot-signal: the program cannot catch 'KILL'" \
  "--snapshot-signal KILL: message"
"$hs" help | grep -q -- '--snapshot-signal\[=SIG\]' && ok || fail "usage lists run --snapshot-signal"

# ---- at exit ---------------------------------------------------------------------------------
err=$("$hs" run --listen off --snapshot-at-exit -- "$target" </dev/null 2>&1 >"$tmp/exit.out")
expect_eq "$?" 0 "at exit: exit status"
pid=$(sed -n 's/^ready //p' "$tmp/exit.out")
file=$dir/heapscope-$pid-1.heapsnapshot
line=$(grep '^heapscope: wrote a heap snapshot' <<<"$err")
if expect_match "$line" "$(wrote_re 'at exit' "$file")" "at exit: the agent's line"; then
  [ "${BASH_REMATCH[1]}" -ge 110 ] && ok || fail "at exit: ${BASH_REMATCH[1]} blocks, not >= 110"
fi
check_snapshot "$file" "at exit"
expect_match "$err" "heapscope: heap snapshot in $file: open it in Chrome DevTools \(Memory panel, Load\)" \
  "at exit: run says where the snapshot is"

# ---- a signal, twice (to run, then to the program), then exit; a relative pattern ---------
mkdir "$tmp/snaps"
mkfifo "$tmp/in" "$tmp/out"
"$hs" run --listen off --snapshot-signal --snapshot-at-exit --snapshot-out 'snaps/s-%p-%n.hs' \
  -- "$target" <"$tmp/in" >"$tmp/out" 2>&1 &
run_pid=$!
pids+=($run_pid)
exec {to_prog}>"$tmp/in" {from_run}<"$tmp/out"
# expect_run_line REGEX: expect_line on run's output (from_run), for up to 60 s.
expect_run_line() {
  out_fd[run]=$from_run
  expect_line run "$1" 60
}
if expect_run_line '^ready ([0-9]+)$'; then
  pid=${BASH_REMATCH[1]}
  kill -USR2 "$run_pid"
  expect_run_line "$(wrote_re 'on signal' "$dir/snaps/s-$pid-1.hs")" && ok
  kill -USR2 "$pid"
  expect_run_line "$(wrote_re 'on signal' "$dir/snaps/s-$pid-2.hs")" && ok
  exec {to_prog}>&-
  expect_run_line "$(wrote_re 'at exit' "$dir/snaps/s-$pid-3.hs")" && ok
  expect_run_line "^heapscope: 3 heap snapshots, $dir/snaps/s-$pid-1.hs to $dir/snaps/s-$pid-3.hs: open them in Chrome DevTools \(Memory panel, Load\)$" &&
    ok
  wait "$run_pid"
  expect_eq "$?" 0 "signals: exit status"
  for n in 1 2 3; do check_snapshot "$dir/snaps/s-$pid-$n.hs" "snapshot $n"; done
  expect_eq "$(ls "$tmp/snaps")" "s-$pid-1.hs
s-$pid-2.hs
s-$pid-3.hs" "three files, no temporary one left"
fi
{ exec {from_run}<&- {to_prog}>&-; } 2>/dev/null

# ---- one signal for both the sampling profile and the snapshot ------------------------------
rm -f "$tmp/in" "$tmp/out"
mkfifo "$tmp/in" "$tmp/out"
"$hs" run --listen off --sample --sample-signal USR1 -o both.heapprofile --snapshot-signal USR1 \
  --snapshot-out both.heapsnapshot -- "$target" <"$tmp/in" >"$tmp/out" 2>&1 &
run_pid=$!
pids+=($run_pid)
exec {to_prog}>"$tmp/in" {from_run}<"$tmp/out"
if expect_run_line '^ready ([0-9]+)$'; then
  kill -USR1 "$run_pid"
  # Two writer threads, in either order.
  seen=""
  while [ ${#seen} -lt 2 ] && IFS= read -r -t 60 -u "$from_run" line; do
    [[ $line == "heapscope: wrote the sampling profile (on signal) to $dir/both.heapprofile" ]] &&
      seen+=p
    [[ $line =~ $(wrote_re 'on signal' "$dir/both.heapsnapshot") ]] && seen+=s
  done
  [[ $seen == *p* && $seen == *s* ]] && ok ||
    fail "one signal did not write both the profile and the snapshot (saw '$seen')"
  exec {to_prog}>&-
  to_prog=""
  wait "$run_pid"
  expect_eq "$?" 0 "one signal for both: exit status"
  # Taken while sampling: the sampled blocks' stacks ride along (7 fields).
  check_snapshot "$dir/both.heapsnapshot" "the snapshot of the shared signal" 7
fi
# (Not "{ exec …; } 2>/dev/null": that would send every later FAIL to /dev/null.)
[ -n "$to_prog" ] && exec {to_prog}>&-
exec {from_run}<&-

# ---- no snapshot: HEAPSCOPE_MODE=sample keeps no registry; a stale file is not taken ---------
err=$(HEAPSCOPE_MODE=sample "$hs" run --listen off --snapshot-at-exit --snapshot-out m.hs -- \
  "$target" </dev/null 2>&1 >/dev/null)
expect_match "$err" "heapscope: HEAPSCOPE_SNAPSHOT_AT_EXIT ignored: HEAPSCOPE_MODE=sample keeps no registry of live blocks" \
  "HEAPSCOPE_MODE=sample: the agent says why"
expect_match "$err" "heapscope: $(basename "$target") \(pid [0-9]+\): no heap snapshot was written to $dir/m.hs" \
  "HEAPSCOPE_MODE=sample: run says none was written"
[ -e "$dir/m.hs" ] && fail "HEAPSCOPE_MODE=sample wrote a snapshot" || ok

printf '{}' >stale.hs
touch -d '1 minute ago' stale.hs
err=$("$hs" run --listen off --snapshot-at-exit --snapshot-out stale.hs -- sh -c 'kill -KILL $$' 2>&1)
expect_match "$err" "heapscope: sh \(pid [0-9]+\): no heap snapshot was written to $dir/stale.hs" \
  "a snapshot left by an earlier run is not taken for a new one"
expect_no_match "$err" "heap snapshot in" "the stale file is not announced"

echo "cli-run-snapshot: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
