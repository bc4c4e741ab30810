#!/usr/bin/env bash
# `heapscope sample` as a user runs it: against node --inspect on an ephemeral
# port (sample_target.js, which says on stderr when the isolate's sampler runs),
# against scripted targets for what node cannot do on cue (fake_cdp_target.py),
# and without a target. Every wait is on a line a process printed, never a
# sleep. Profiles are checked against Node 20's recordings with
# heapprofile_shape.py. Usage: test_cli_sample.sh HEAPSCOPE NODE PYTHON GOLDEN_DIR
set -u
hs=$1 node=$2 python=$3 golden=$4
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
# start_node NAME MODE: node --inspect running sample_target.js MODE; sets url, hostport.
start_node() { start_inspect "$1" "$here/sample_target.js" "$2"; }
# check_profile FILE CLI-STDERR WHAT: the CLI's line and the file agree, and the
# file has Node 20's shape with both of sample_target.js's functions in it.
check_profile() {
  local re="^heapscope: wrote $1: ([0-9]+) samples, ([0-9]+) nodes, ([0-9]+) bytes sampled "
  re+="(live|live and collected) \(.*\)$"
  expect_match "$2" "$re" "$3: the CLI's last line" || return
  local n=${BASH_REMATCH[1]} m=${BASH_REMATCH[2]} b=${BASH_REMATCH[3]}
  if "$python" "$here/heapprofile_shape.py" "$golden/sampling-stopSampling.heapprofile" "$1" \
      --function allocateStrings --function allocateArrays --stats "$n" "$m" "$b"; then
    ok
  else
    fail "$3: $1 is not a profile of the expected shape"
  fi
  expect_eq "$(find "$tmp" -name '*.tmp-*')" "" "$3: no temporary file left"
}
shape() { "$python" "$here/heapprofile_shape.py" "$golden/sampling-stopSampling.heapprofile" "$@"; }

# ---- the shape checker itself: Node's files pass, broken ones do not --------------------
for f in "$golden"/*.heapprofile; do
  shape "$f" 2>/dev/null && ok || fail "checker rejects the golden $f"
done
sed 's/"nodeId":21,"ordinal":8973/"nodeId":22,"ordinal":8973/' \
  "$golden/sampling-stopSampling.heapprofile" >"$tmp/orphan.json"
shape "$tmp/orphan.json" 2>/dev/null && fail "checker accepts a sample outside the tree" || ok
"$python" -m json.tool "$golden/sampling-stopSampling.heapprofile" >"$tmp/indented.json"
shape "$tmp/indented.json" 2>/dev/null && fail "checker accepts indented JSON" || ok
sed 's/"selfSize":0,"id":1,/"selfSize":0,/' "$golden/sampling-stopSampling.heapprofile" \
  >"$tmp/noid.json"
shape "$tmp/noid.json" 2>/dev/null && fail "checker accepts a node without id" || ok
shape "$golden/sampling-stopSampling.heapprofile" --function allocateStrings 2>/dev/null &&
  fail "checker finds a function that is not there" || ok

# ---- --duration: stops by itself, HOST:PORT target --------------------------------------
start_node dur sampled
out=$("$hs" sample --target "$hostport" --duration 1 -o "$tmp/dur.heapprofile" 2>&1)
expect_eq "$?" 0 "sample --duration 1 exit status ($out)"
check_profile "$tmp/dur.heapprofile" "$out" "sample --duration 1"

# ---- Ctrl-C: SIGINT once the target allocates under sampling, ws:// target ---------------
start_node int sampled
"$hs" sample --target "$url" -o "$tmp/int.heapprofile" 2>"$tmp/int.err" &
hs_pid=$!
expect_line int '^allocating$'
kill -INT "$hs_pid"
wait "$hs_pid"
expect_eq "$?" 0 "sample stopped by SIGINT exit status ($(cat "$tmp/int.err"))"
check_profile "$tmp/int.heapprofile" "$(cat "$tmp/int.err")" "sample stopped by SIGINT"

# ---- SIGTERM, with every option, HOST:PORT/ID target -----------------------------------
start_node term sampled
"$hs" sample --target="$hostport/${url##*/}" --interval 4096 --stack-depth 64 \
  --include-major-gc --include-minor-gc --timeout 20000 --output="$tmp/term.heapprofile" \
  2>"$tmp/term.err" &
hs_pid=$!
expect_line term '^allocating$'
kill -TERM "$hs_pid"
wait "$hs_pid"
expect_eq "$?" 0 "sample stopped by SIGTERM exit status ($(cat "$tmp/term.err"))"
check_profile "$tmp/term.heapprofile" "$(cat "$tmp/term.err")" "sample with every option"
expect_match "$(cat "$tmp/term.err")" "bytes sampled live and collected" \
  "with the GC flags, the line says collected objects count"

# ---- the target's error on stopSampling: another session stopped the profiler ----------
start_node steal steal
"$hs" sample --target "$hostport" -o "$tmp/steal.heapprofile" 2>"$tmp/steal.err" &
hs_pid=$!
expect_line steal '^stolen$'
kill -INT "$hs_pid"
wait "$hs_pid"
expect_eq "$?" 1 "stopSampling refused exit status"
expect_match "$(cat "$tmp/steal.err")" \
  "^heapscope: HeapProfiler.stopSampling failed on ws://$hostport/[^:]+: -32000 V8 sampling heap profiler was not started\. \(no file written\)$" \
  "stopSampling refused message"
expect_no_file "$tmp/steal.heapprofile" "stopSampling refused"

# ---- the target goes away while we wait (killed: node exiting by itself would wait
# for the debugger to disconnect) ---------------------------------------------------------
start_node gone sampled
"$hs" sample --target "$hostport" -o "$tmp/gone.heapprofile" 2>"$tmp/gone.err" &
hs_pid=$!
expect_line gone '^allocating$'
kill -KILL "$gone_pid"
wait "$gone_pid" 2>/dev/null
wait "$hs_pid"
expect_eq "$?" 1 "target gone exit status"
expect_match "$(cat "$tmp/gone.err")" \
  "^heapscope: the target went away while sampling \(ws://$hostport/[^)]+\): .* \(no file written\)$" \
  "target gone message"
expect_no_file "$tmp/gone.heapprofile" "target gone"

# ---- scripted targets: the parameters sent, a hung stopSampling, a refused start ---------
fake fake1 hang-stop
"$hs" sample --target "ws://127.0.0.1:$port/x" --interval 1000 --stack-depth 7 \
  --include-major-gc -o "$tmp/hang.heapprofile" 2>"$tmp/hang.err" &
hs_pid=$!
expect_line fake1 '^call HeapProfiler.startSampling (.*)$'
expect_eq "${BASH_REMATCH[1]}" \
  '{"includeObjectsCollectedByMajorGC":true,"samplingInterval":1000,"stackDepth":7}' \
  "startSampling parameters: the given ones only"
kill -INT "$hs_pid"
expect_line fake1 '^call HeapProfiler.stopSampling'
kill -INT "$hs_pid"
wait "$hs_pid"
expect_eq "$?" 130 "second Ctrl-C while stopSampling hangs: exit status"
expect_match "$(cat "$tmp/hang.err")" "interrupted again: aborted \(no file written\)" \
  "second Ctrl-C message"
expect_no_file "$tmp/hang.heapprofile" "second Ctrl-C"

fake fake2 start-error
out=$("$hs" sample --target "ws://127.0.0.1:$port/x" -o "$tmp/refused.heapprofile" 2>&1)
expect_eq "$?" 1 "startSampling refused exit status"
expect_eq "$out" \
  "heapscope: HeapProfiler.startSampling failed on ws://127.0.0.1:$port/x: -32000 Sampling is not here" \
  "startSampling refused message"
expect_line fake2 '^call HeapProfiler.startSampling (.*)$'
expect_eq "${BASH_REMATCH[1]}" '{"samplingInterval":32768}' "startSampling default parameters"
expect_no_file "$tmp/refused.heapprofile" "startSampling refused"

fake fake3 silent
"$hs" sample --target "127.0.0.1:$port" -o "$tmp/silent.heapprofile" 2>"$tmp/silent.err" &
hs_pid=$!
expect_line fake3 '^accepted$'
kill -INT "$hs_pid"
wait "$hs_pid"
expect_eq "$?" 130 "Ctrl-C while connecting: exit status"
expect_eq "$(cat "$tmp/silent.err")" \
  "heapscope: interrupted before sampling started (no file written)" "Ctrl-C while connecting"
expect_no_file "$tmp/silent.heapprofile" "Ctrl-C while connecting"

# ---- no target, no place to write ----------------------------------------------------------
expect_target_failures sample heapprofile

# ---- usage errors: exit 2, nothing written -------------------------------------------------
usage() { expect_usage_error sample "$@"; }
t=(--target 127.0.0.1:1 -o "$tmp/usage.heapprofile")
usage "${t[@]}" --interval 0
usage "${t[@]}" --interval=0
usage "${t[@]}" --interval -4096
usage "${t[@]}" --interval abc
usage "${t[@]}" --interval 4k
usage "${t[@]}" --interval ''
usage "${t[@]}" --interval
usage "${t[@]}" --stack-depth 0
usage "${t[@]}" --duration 0
usage "${t[@]}" --duration soon
usage "${t[@]}" --timeout 0
usage "${t[@]}" --bogus
usage --target 127.0.0.1:1
usage -o "$tmp/usage.heapprofile"
usage --target -o "$tmp/usage.heapprofile"
expect_no_file "$tmp/usage.heapprofile" "usage errors"
out=$("$hs" sample --target 127.0.0.1:1 -o "$tmp/usage.heapprofile" --interval 0 2>&1)
expect_eq "$out" "heapscope sample: --interval takes a number of bytes (> 0)" "--interval 0 message"
"$hs" help | grep -q '^  sample --target' && ok || fail "usage lists sample"
"$hs" sample --help | grep -q '^usage: heapscope sample' && ok || fail "sample --help"

echo "cli-sample: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
