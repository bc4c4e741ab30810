#!/usr/bin/env bash
# `heapscope track` as a user runs it: against node --inspect on an ephemeral
# port (track_target.js: allocation all the time, in heapscopeTrackAlloc),
# stopped by --duration and by SIGINT; on a terminal (script(1)); against
# scripted targets for what node cannot do on cue (fake_cdp_target.py track-*:
# known figures, a refused start, connections cut while recording and while
# the snapshot comes, Ctrl-C at each stage); against the agent (heapscope run
# of the timeline's phases program, stopped by SIGTERM); without a target;
# with bad command lines. Files are checked with heapsnapshot_check.py: V8's
# layout, one sample per lastSeenObjectId the CLI counted, the allocation
# stacks with --stacks. Every wait is on a line a process printed, never a
# sleep. Usage: test_cli_track.sh HEAPSCOPE NODE PYTHON GOLDEN_DIR PHASES
set -u
hs=$1 node=$2 python=$3 golden=$4 phases=$5
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
check() { "$python" "$here/heapsnapshot_check.py" check "$@"; }

# The CLI's lines (regexes). A size as hs_cli_bytes writes it.
size='[0-9.]+ (B|KiB|MiB|GiB)'
live_re="^heapscope: ([0-9]+) s: \+$size new, $size live in [0-9]+ objects$"
# summary_re FILE [STACKS]: "heapscope: wrote FILE: B bytes (…), N nodes, E edges; F fragments
# in D s, X live in Y objects[, with allocation stacks]".
summary_re() {
  local re="^heapscope: wrote $1: ([0-9]+) bytes \([^)]+\), ([0-9]+) nodes, ([0-9]+) edges; "
  re+="([0-9]+) fragments in [0-9.]+ s, $size live in [0-9]+ objects${2:+, with allocation stacks}$"
  printf %s "$re"
}
# read_summary TEXT FILE WHAT [STACKS]: the summary among TEXT's lines; sets bytes, frags.
read_summary() {
  local line
  line=$(grep '^heapscope: wrote ' <<<"$1")
  expect_match "$line" "$(summary_re "$2" "${4:-}")" "$3: the summary" || return 1
  bytes=${BASH_REMATCH[1]} frags=${BASH_REMATCH[4]}
}
open_line='heapscope: open it in Chrome DevTools (Memory panel, Load)'

# ---- the checker itself: Node's recorded timeline passes, broken ones do not --------------
stop_tracking=$golden/snapshot-stopTracking.heapsnapshot
check "$stop_tracking" --node-fields 7 --samples 21 --trace-function allocateBatch && ok ||
  fail "checker rejects Node's timeline"
check "$stop_tracking" --samples 20 2>/dev/null && fail "checker accepts a wrong sample count" || ok
check "$stop_tracking" --trace-function heapscopeTrackAlloc 2>/dev/null &&
  fail "checker finds a function that is not there" || ok
check "$stop_tracking" --no-traces 2>/dev/null && fail "checker misses the allocation stacks" || ok
# V8 writes a pair a line: the first timestamp made later than the second.
sed 's/^"samples":\[0,/"samples":[99999999,/' "$stop_tracking" >"$tmp/back.json"
check "$tmp/back.json" && ok || fail "the altered file is no longer a snapshot"
check "$tmp/back.json" --samples 21 2>/dev/null && fail "checker accepts time going back" || ok

# ---- node --inspect: --duration, no stacks, HOST:PORT target ---------------------------
start_inspect node1 "$here/track_target.js"
out=$("$hs" track --target "$hostport" --duration 1.5 -o "$tmp/dur.heaptimeline" 2>&1)
expect_eq "$?" 0 "track --duration 1.5 exit status ($out)"
expect_match "$out" "^heapscope: recording the allocation timeline of ws://$hostport/[^ ]+ for 1.5 s
" "the first line says what is recorded, for how long"
# Off a terminal: a line a second, the first after 1 s.
expect_eq "$(grep -cE "$live_re" <<<"$out")" 1 "one live line in 1.5 s"
expect_match "$(grep -E "$live_re" <<<"$out")" '^heapscope: 1 s: ' "the live line is for second 1"
[[ $out != *$'\r'* ]] && ok || fail "a carriage return off a terminal"
expect_match "$out" $'\nheapscope: stopped after 1.[0-9] s; taking the timeline\'s snapshot\n' \
  "the line as the recording stops"
if read_summary "$out" "$tmp/dur.heaptimeline" "track --duration"; then
  expect_eq "$bytes" "$(stat -c %s "$tmp/dur.heaptimeline")" "the bytes the CLI reports"
  # About 20 ticks a second (50 ms in V8, longer when its GC is slow), one more as it stops.
  [ "$frags" -ge 3 ] && ok || fail "only $frags fragments in 1.5 s"
  check "$tmp/dur.heaptimeline" --node-fields 7 --samples "$frags" --no-traces && ok ||
    fail "the file is not a timeline with a sample per lastSeenObjectId and no stacks"
fi
expect_eq "${out##*$'\n'}" "$open_line" "the last line says where to open it"
expect_eq "$(find "$tmp" -name '*.tmp-*')" "" "no temporary file left"

# ---- --stacks, stopped by SIGINT once the first live line is out, ws:// URL --------------
# On a node of its own. Node 20 itself has died of SIGSEGV now and then in CI
# while it streamed this snapshot (V8's allocation tracker; never reproduced
# here in 25 runs): a crash of the peer is not heapscope's failure, so that
# attempt, run in a subshell whose counts are dropped, is made once more on a
# new node, and the crash is said. A crash in the second attempt fails, as
# does any failure with node alive.
stacks_case() { # N: attempt; sets crashed to node's signal, or 0
  local n=$1 np ip
  start_inspect "nodeS$n" "$here/track_target.js"
  np=$(eval echo "\$nodeS${n}_pid")
  spawn "int$n" "$hs" track --target "$url" --stacks -o "$tmp/int$n.heaptimeline"
  ip=$(eval echo "\$int${n}_pid")
  expect_line "int$n" "^heapscope: recording the allocation timeline of $url with allocation stacks until Ctrl-C or SIGTERM$"
  expect_line "int$n" "$live_re"
  expect_eq "${BASH_REMATCH[1]}" 1 "the first live line is for second 1"
  kill -INT "$ip"
  if expect_line "int$n" "$(summary_re "$tmp/int$n.heaptimeline" stacks)"; then
    frags=${BASH_REMATCH[4]}
    check "$tmp/int$n.heaptimeline" --node-fields 7 --samples "$frags" \
      --trace-function heapscopeTrackAlloc && ok ||
      fail "the SIGINT file is not a timeline with a sample per lastSeenObjectId and the stacks of heapscopeTrackAlloc"
  fi
  expect_line "int$n" "^$(sed 's/[()]/\\&/g' <<<"$open_line")$"
  wait "$ip"
  expect_eq "$?" 0 "track stopped by SIGINT: exit status"
  crashed=0
  if ! kill -0 "$np" 2>/dev/null; then
    wait "$np"
    crashed=$(($? > 128 ? $? - 128 : 0))
  fi
  kill -KILL "$np" 2>/dev/null
  wait "$np" 2>/dev/null
}
url1=$url hostport1=$hostport
(
  f0=$fails
  stacks_case 1
  [ "$fails" -eq "$f0" ] && exit 0
  [ "$crashed" -ne 0 ] && exit 3
  exit 1
)
case $? in
0) ok ;;
3)
  echo "NOTE: node died of a signal while streaming the --stacks snapshot; once more on a new node" >&2
  stacks_case 2
  [ "$crashed" -eq 0 ] && ok || fail "node died of signal $crashed again in the --stacks case"
  ;;
*) fail "the --stacks case against node (the FAIL lines above)" ;;
esac
url=$url1 hostport=$hostport1

# ---- on a terminal: one updating line, the progress bar, the summary --------------------
if script -qec "$(printf '%q ' "$hs" track --target "$hostport" --duration 1.2 -o "$tmp/tty.heaptimeline")" \
  /dev/null >"$tmp/tty.out" 2>&1; then ok; else fail "track on a terminal: exit status"; fi
tty_out=$(cat "$tmp/tty.out")
expect_match "$tty_out" $'\rheapscope: 1 s: \\+[0-9.]+ [KMG]?i?B new, ' "the live line drawn over"
expect_match "$tty_out" 'building the snapshot \[#+\] 100% \(([0-9]+)/\1\)' "a full progress bar"
expect_match "$tty_out" "heapscope: wrote $tmp/tty.heaptimeline: [0-9]+ bytes" "the summary on a terminal"

# ---- node goes away while recording --------------------------------------------------------
spawn gone "$hs" track --target "$hostport" -o "$tmp/gone.heaptimeline"
expect_line gone "$live_re"
kill -KILL "$node1_pid"
wait "$node1_pid" 2>/dev/null
expect_line gone "^heapscope: the target went away while recording the allocation timeline \(ws://$hostport/[^)]+\): .* \(no file written\)$"
wait "$gone_pid"
expect_eq "$?" 1 "node gone: exit status"
expect_no_file "$tmp/gone.heaptimeline" "node gone"

# ---- scripted targets ------------------------------------------------------------------------

# Known figures: the live line, the summary, the triplets ignored; the parameters sent; a
# name DevTools would not open as a timeline.
fake script track-script
out=$("$hs" track --target "ws://127.0.0.1:$port/x" --stacks --duration 1.2 \
  -o "$tmp/script.heapsnapshot" 2>&1)
expect_eq "$?" 0 "scripted target: exit status ($out)"
expect_line script '^call HeapProfiler.startTrackingHeapObjects (.*)$'
expect_eq "${BASH_REMATCH[1]}" '{"trackAllocations":true}' "startTrackingHeapObjects with --stacks"
expect_line script '^call HeapProfiler.stopTrackingHeapObjects (.*)$'
expect_eq "${BASH_REMATCH[1]}" '{"reportProgress":true}' "stopTrackingHeapObjects parameters"
expect_eq "$(sed 's/after [0-9.]* s/after D s/; s/in [0-9.]* s,/in D s,/' <<<"$out")" \
  "heapscope: recording the allocation timeline of ws://127.0.0.1:$port/x with allocation stacks for 1.2 s
heapscope: 1 s: +500 B new, 1.3 KiB live in 13 objects
heapscope: stopped after D s; taking the timeline's snapshot
heapscope: wrote $tmp/script.heapsnapshot: 503 bytes (503 B), 2 nodes, 1 edges; 3 fragments in D s, 1.4 KiB live in 14 objects, with allocation stacks
heapscope: ignored 2 heapStatsUpdate triplets (a fragment or a figure out of range)
$open_line; DevTools shows the timeline only for a name ending in .heaptimeline" \
  "scripted target: every line"
check "$tmp/script.heapsnapshot" --node-fields 6 --counts 2 1 && ok ||
  fail "the scripted snapshot was not written whole"

fake refuse track-error
out=$("$hs" track --target "ws://127.0.0.1:$port/x" -o "$tmp/refused.heaptimeline" 2>&1)
expect_eq "$?" 1 "startTrackingHeapObjects refused: exit status"
expect_eq "$out" "heapscope: HeapProfiler.startTrackingHeapObjects failed on ws://127.0.0.1:$port/x: -32000 Heap object tracking is not here" \
  "startTrackingHeapObjects refused: message"
expect_line refuse '^call HeapProfiler.startTrackingHeapObjects (.*)$'
expect_eq "${BASH_REMATCH[1]}" '{"trackAllocations":false}' "startTrackingHeapObjects default"
expect_no_file "$tmp/refused.heaptimeline" "startTrackingHeapObjects refused"

fake cut track-cut
out=$("$hs" track --target "ws://127.0.0.1:$port/x" -o "$tmp/cut.heaptimeline" 2>&1)
expect_eq "$?" 1 "connection cut while recording: exit status"
expect_match "$out" "
heapscope: the target went away while recording the allocation timeline \(ws://127.0.0.1:$port/x\): the target closed the connection \(no file written\)$" \
  "connection cut while recording: message"
expect_no_file "$tmp/cut.heaptimeline" "connection cut while recording"

fake stopcut track-stop-cut
out=$("$hs" track --target "ws://127.0.0.1:$port/x" --duration 0.2 -o "$tmp/stopcut.heaptimeline" 2>&1)
expect_eq "$?" 1 "connection cut while the snapshot comes: exit status"
expect_match "$out" "
heapscope: the target went away while sending the timeline's snapshot \(ws://127.0.0.1:$port/x\): .* \(no file written\)$" \
  "connection cut while the snapshot comes: message"
expect_no_file "$tmp/stopcut.heaptimeline" "connection cut while the snapshot comes"

# Ctrl-C stops the recording; a second one, while the target works on the snapshot, aborts.
fake hang track-hang
"$hs" track --target "ws://127.0.0.1:$port/x" -o "$tmp/hang.heaptimeline" 2>"$tmp/hang.err" &
hs_pid=$!
expect_line hang '^call HeapProfiler.startTrackingHeapObjects'
kill -INT "$hs_pid"
expect_line hang '^call HeapProfiler.stopTrackingHeapObjects'
expect_line hang '^hanging$'
[ -n "$(find "$tmp" -name 'hang.heaptimeline.tmp-*')" ] && ok ||
  fail "no temporary file while the snapshot is taken"
kill -INT "$hs_pid"
wait "$hs_pid"
expect_eq "$?" 130 "second Ctrl-C: exit status"
expect_match "$(cat "$tmp/hang.err")" $'\nheapscope: interrupted again: aborted \\(no file written\\)$' \
  "second Ctrl-C: message"
expect_no_file "$tmp/hang.heaptimeline" "second Ctrl-C"

# After --duration, while the snapshot comes, the first Ctrl-C aborts (as in `snapshot`).
fake hang2 track-hang
"$hs" track --target "ws://127.0.0.1:$port/x" --duration 0.2 -o "$tmp/hang2.heaptimeline" \
  2>"$tmp/hang2.err" &
hs_pid=$!
expect_line hang2 '^hanging$'
kill -TERM "$hs_pid"
wait "$hs_pid"
expect_eq "$?" 143 "SIGTERM while the snapshot comes: exit status"
expect_match "$(cat "$tmp/hang2.err")" $'\nheapscope: interrupted: aborted \\(no file written\\)$' \
  "SIGTERM while the snapshot comes: message"
expect_no_file "$tmp/hang2.heaptimeline" "SIGTERM while the snapshot comes"

fake silent silent
"$hs" track --target "127.0.0.1:$port" -o "$tmp/silent.heaptimeline" 2>"$tmp/silent.err" &
hs_pid=$!
expect_line silent '^accepted$'
kill -INT "$hs_pid"
wait "$hs_pid"
expect_eq "$?" 130 "Ctrl-C while connecting: exit status"
expect_eq "$(cat "$tmp/silent.err")" \
  "heapscope: interrupted before recording started (no file written)" "Ctrl-C while connecting"
expect_no_file "$tmp/silent.heaptimeline" "Ctrl-C while connecting"

# ---- the agent: heapscope run of the phases program, --stacks, SIGTERM -------------------
mkfifo "$tmp/agent.in" "$tmp/agent.out"
"$hs" run --listen 127.0.0.1:0 -- "$phases" <"$tmp/agent.in" >"$tmp/agent.out" 2>&1 &
run_pid=$!
pids+=($run_pid)
exec {to_prog}>"$tmp/agent.in" {from_run}<"$tmp/agent.out"
out_fd[run]=$from_run
# phase CMD REPLY: a command to the program, then its answer.
phase() { echo "$1" >&"$to_prog" && expect_line run "^$2$"; }
if expect_line run '^heapscope: DevTools listening on (ws://[^ ]+)$'; then
  agent_url=${BASH_REMATCH[1]}
  expect_line run '^start [0-9]+$'
  spawn agent "$hs" track --target "$agent_url" --stacks -o "$tmp/agent.heaptimeline"
  expect_line agent "$live_re"
  phase 'keep 1000 100' 'kept 1000'
  phase 'leak 10 1000' 'leaked 10'
  phase 'churn 100 64' 'churned 100'
  kill -TERM "$agent_pid"
  if expect_line agent "$(summary_re "$tmp/agent.heaptimeline" stacks)"; then
    frags=${BASH_REMATCH[4]}
    check "$tmp/agent.heaptimeline" --node-fields 7 --samples "$frags" \
      --trace-function burst_keep --trace-function trickle_leak --trace-function burst_free &&
      ok || fail "the agent's file is not a timeline with the phases' allocation stacks"
  fi
  wait "$agent_pid"
  expect_eq "$?" 0 "track of the agent stopped by SIGTERM: exit status"
fi
exec {to_prog}>&-
wait "$run_pid"
expect_eq "$?" 0 "the phases program under heapscope run: exit status"
exec {from_run}<&-

# ---- no target, no place to write ----------------------------------------------------------
expect_target_failures track heaptimeline

# ---- usage errors: exit 2, nothing written -------------------------------------------------
usage() { expect_usage_error track "$@"; }
t=(--target 127.0.0.1:1 -o "$tmp/usage.heaptimeline")
usage "${t[@]}" --duration 0
usage "${t[@]}" --duration=-1
usage "${t[@]}" --duration soon
usage "${t[@]}" --duration 1s
usage "${t[@]}" --duration
usage "${t[@]}" --stacks=yes
usage "${t[@]}" --timeout 0
usage "${t[@]}" --bogus
usage "${t[@]}" extra
usage --target 127.0.0.1:1
usage -o "$tmp/usage.heaptimeline"
usage --target -o "$tmp/usage.heaptimeline"
usage --target 127.0.0.1:1 -o ''
expect_no_file "$tmp/usage.heaptimeline" "usage errors"
out=$("$hs" track "${t[@]}" --duration 0 2>&1)
expect_eq "$out" "heapscope track: --duration takes seconds (> 0)" "--duration 0: message"
out=$("$hs" track --target 127.0.0.1:1 2>&1)
expect_match "$out" "^heapscope track: -o FILE is required" "-o missing: message"
out=$("$hs" track "${t[@]}" --stacks=yes 2>&1)
expect_match "$out" "^heapscope track: unexpected argument '--stacks=yes'" "--stacks=yes: message"
"$hs" help | grep -q '^  track --target' && ok || fail "usage lists track"
"$hs" track --help | grep -q '^usage: heapscope track' && ok || fail "track --help"

echo "cli-track: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
