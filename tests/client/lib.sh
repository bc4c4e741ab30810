# lib.sh — sourced by the test_cli_*.sh scripts here (bash, set -u): a
# temporary directory $tmp removed at exit with every process in pids killed,
# the pass/fail counters and expect_* checks, and processes whose output is
# read line by line (spawn, expect_line, start_inspect, fake). Each script
# prints its own summary from $passes and $fails.
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0 passes=0
ok() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect_eq() { if [ "$1" == "$2" ]; then ok; else fail "$3: expected '$2', got '$1'"; fi; }
expect_match() { if [[ "$1" =~ $2 ]]; then ok; else fail "$3: '$1' does not match /$2/"; return 1; fi; }
expect_no_match() { if [[ "$1" =~ $2 ]]; then fail "$3: '$1' matches /$2/"; else ok; fi; }
# expect_no_file FILE WHAT: FILE is not there, nor any temporary file in $tmp.
expect_no_file() {
  if [ -e "$1" ]; then fail "$2: $1 exists"; else ok; fi
  local left
  left=$(find "$tmp" -name '*.tmp-*')
  if [ -z "$left" ]; then ok; else fail "$2: temporary files left: $left"; fi
}

# spawn NAME CMD...: runs CMD in the background, its stdout and stderr into a
# pipe that expect_line NAME reads; sets NAME_pid.
declare -A out_fd
spawn() {
  local name=$1 fd
  shift
  mkfifo "$tmp/$name.fifo"
  "$@" >"$tmp/$name.fifo" 2>&1 &
  pids+=($!)
  printf -v "${name}_pid" %s $!
  exec {fd}<"$tmp/$name.fifo"
  out_fd[$name]=$fd
}
# expect_line NAME REGEX [SECONDS]: reads NAME's output (out_fd[NAME]) up to a
# line matching REGEX (BASH_REMATCH holds its groups); fails after SECONDS
# (default 30) without one or at its end.
expect_line() {
  local line
  while IFS= read -r -t "${3:-30}" -u "${out_fd[$1]}" line; do
    [[ $line =~ $2 ]] && return 0
  done
  fail "$1 never printed a line matching /$2/"
  return 1
}
# start_inspect NAME SCRIPT ARGS...: $node --inspect on an ephemeral port
# running SCRIPT, up to its line "ready"; sets url, hostport (exits if it
# does not start).
start_inspect() {
  local name=$1
  shift
  spawn "$name" "$node" --inspect=127.0.0.1:0 "$@"
  expect_line "$name" '^Debugger listening on (ws://[^ ]+)$' || exit 1
  url=${BASH_REMATCH[1]}
  hostport=${url#ws://}
  hostport=${hostport%%/*}
  expect_line "$name" '^ready$' || exit 1
}
# fake NAME MODE: a fake_cdp_target.py; sets port.
fake() {
  spawn "$1" "$python" "$here/fake_cdp_target.py" "$2"
  expect_line "$1" '^port ([0-9]+)$' && port=${BASH_REMATCH[1]}
}

# expect_target_failures CMD EXT: `heapscope CMD` with no target there (exit 1,
# nothing left) and with an output in a directory that does not exist (exit 1,
# before connecting).
expect_target_failures() {
  # Port 1 on loopback (tcpmux) is never served here.
  out=$("$hs" "$1" --target 127.0.0.1:1 -o "$tmp/none.$2" 2>&1)
  expect_eq "$?" 1 "no target exit status"
  expect_match "$out" "^heapscope: cannot connect to 127.0.0.1:1: connection refused by 127.0.0.1:1" \
    "no target message"
  expect_no_file "$tmp/none.$2" "no target"
  out=$("$hs" "$1" --target 127.0.0.1:1 -o "$tmp/no/such/dir.$2" 2>&1)
  expect_eq "$?" 1 "unwritable output exit status"
  expect_match "$out" "^heapscope: cannot write $tmp/no/such/dir.$2: No such file" \
    "unwritable output message (before connecting)"
}
# expect_usage_error CMD ARGS...: `heapscope CMD ARGS` exits with 2.
expect_usage_error() {
  "$hs" "$@" >/dev/null 2>&1
  expect_eq "$?" 2 "usage error: $*"
}
