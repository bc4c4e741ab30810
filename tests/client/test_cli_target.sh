#!/usr/bin/env bash
# `heapscope targets` and `heapscope gc --target` as a user runs them, against
# node --inspect on an ephemeral port (its URL read from its stderr, no sleeps)
# and against a port where nothing listens. Usage: test_cli_target.sh HEAPSCOPE NODE
set -u
hs=$1 node=$2
fails=0 passes=0
ok() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect_eq() { if [ "$1" == "$2" ]; then ok; else fail "$3: expected '$2', got '$1'"; fi; }
expect_match() { if [[ "$1" =~ $2 ]]; then ok; else fail "$3: '$1' does not match /$2/"; fi; }

coproc NODE { exec "$node" --inspect=127.0.0.1:0 -e 'setInterval(() => {}, 1000)' 2>&1 >/dev/null; }
node_pid=$NODE_PID
trap 'kill -KILL $node_pid 2>/dev/null; wait $node_pid 2>/dev/null' EXIT
url=
while IFS= read -r -t 15 -u "${NODE[0]}" line; do
  case "$line" in "Debugger listening on "*) url=${line#Debugger listening on }; break ;; esac
done
[ -n "$url" ] || { echo "FAIL: node printed no debugger URL" >&2; exit 1; }
hostport=${url#ws://}; hostport=${hostport%%/*}
id=${url##*/}

# targets: one line per target, tab-separated id, type, title, WebSocket URL.
out=$("$hs" targets "$hostport" 2>&1); rc=$?
expect_eq "$rc" 0 "targets exit status"
expect_eq "$out" "$id	node	$node[$node_pid]	$url" "targets line (title: argv[0] and pid)"
# --json: the list as the target sent it.
json=$("$hs" targets --json "$hostport"); rc=$?
expect_eq "$rc" 0 "targets --json exit status"
got=$(printf '%s' "$json" | "$node" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const l=JSON.parse(s);console.log(l.length+" "+l[0].id+" "+l[0].webSocketDebuggerUrl)})')
expect_eq "$got" "1 $id $url" "targets --json content"

# gc: by HOST:PORT, by ws:// URL, by id, by title; success says where.
for t in "$hostport" "$url" "$hostport/$id" "$hostport/node[$node_pid]" ; do
  out=$("$hs" gc --target "$t" 2>&1); rc=$?
  expect_eq "$rc" 0 "gc --target $t exit status ($out)"
  expect_eq "$out" "heapscope: garbage collected on $url" "gc --target $t output"
done
out=$("$hs" gc --target="$url" --timeout 5000 2>&1); expect_eq $? 0 "gc --target=URL --timeout"

# Failures: exit 1 and a sentence that says what went wrong.
out=$("$hs" gc --target "$hostport/no-such-target" 2>&1); rc=$?
expect_eq "$rc" 1 "gc unknown target exit status"
expect_match "$out" "no target with id or title 'no-such-target'" "gc unknown target message"
out=$("$hs" gc --target "ws://$hostport/nope" 2>&1); rc=$?
expect_eq "$rc" 1 "gc bad path exit status"
expect_match "$out" "WebSocket upgrade refused: HTTP 400 \"WebSockets request was expected\"" \
  "gc bad path message"
# A port with nothing behind it: port 1 on loopback (tcpmux) is never served here.
out=$("$hs" gc --target 127.0.0.1:1 2>&1); rc=$?
expect_eq "$rc" 1 "gc refused exit status"
expect_match "$out" "^heapscope: cannot connect to 127.0.0.1:1: connection refused by 127.0.0.1:1" \
  "gc refused message"
out=$("$hs" targets 127.0.0.1:1 2>&1); rc=$?
expect_eq "$rc" 1 "targets refused exit status"
expect_match "$out" "connection refused" "targets refused message"

# Usage errors: exit 2.
"$hs" gc >/dev/null 2>&1; expect_eq $? 2 "gc without --target"
"$hs" gc --target >/dev/null 2>&1; expect_eq $? 2 "gc --target without value"
"$hs" gc --target "$hostport" --bogus >/dev/null 2>&1; expect_eq $? 2 "gc unknown option"
"$hs" gc --target "$hostport" --timeout 0 >/dev/null 2>&1; expect_eq $? 2 "gc --timeout 0"
"$hs" gc --target "http://$hostport" >/dev/null 2>&1; expect_eq $? 2 "gc http:// target"
"$hs" targets >/dev/null 2>&1; expect_eq $? 2 "targets without HOST:PORT"
"$hs" targets "$hostport" extra >/dev/null 2>&1; expect_eq $? 2 "targets two arguments"
"$hs" targets no-port >/dev/null 2>&1; expect_eq $? 2 "targets without a port"
"$hs" help | grep -q '^  targets ' && ok || fail "usage lists targets"
"$hs" help | grep -q '^  gc --target' && ok || fail "usage lists gc"

# The target is still alive and answering after all of this.
"$hs" gc --target "$url" >/dev/null 2>&1; expect_eq $? 0 "gc at the end"

echo "cli-target: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
