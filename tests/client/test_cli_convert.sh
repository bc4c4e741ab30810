#!/usr/bin/env bash
# `heapscope convert` as a user runs it, on Node 20's recorded profiles, on a
# profile the agent writes here (heapscope run --sample of python3), and on
# the legacy fixture (node-level names, no samples). Each is converted to the
# three formats, then read back by independent readers:
#  - pprof: Go's own reader (`go tool pprof -raw`, Debian's golang-go, with
#    HOME/GOCACHE/GOPATH in $tmp and no network): its samples add up to the
#    profile's bytes (sum of selfSize) and objects (samples naming a node);
#  - collapsed: exactly one line per node with bytes, root-to-node stack and
#    self size, summing to the same total (profile_expect.py);
#  - HTML: headless Chromium with every request but the file refused draws one
#    rectangle per node with bytes in its subtree, no console error
#    (flame_open.mjs).
# Then the failures: bad input exits 1 with the reader's error and leaves no
# file, usage errors exit 2.
# Usage: test_cli_convert.sh HEAPSCOPE NODE PYTHON GOLDEN_DIR DATA_DIR NODE_MODULES CHROMIUM GO
set -u
hs=$1 node=$2 python=$3 golden=$4 data=$5 modules=$6 chromium=$7 go=$8
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
export HOME=$tmp/home GOCACHE=$tmp/home/gocache GOPATH=$tmp/home/go GOPROXY=off GOFLAGS=
export GOTOOLCHAIN=local GOTELEMETRY=off
mkdir -p "$HOME"
expect() { "$python" "$here/profile_expect.py" "$@"; }

# ---- one profile of ours, from the agent -------------------------------------------------
"$hs" run --sample=4096 -o "$tmp/agent.heapprofile" --listen off -- "$python" -c \
  'x = [str(i) * 40 for i in range(30000)]' >"$tmp/agent.out" 2>&1
expect_eq "$?" 0 "heapscope run --sample ($(tail -3 "$tmp/agent.out"))"
inputs=("$golden"/*.heapprofile "$tmp/agent.heapprofile" "$data/legacy.heapprofile")
expect_eq "${#inputs[@]}" 5 "input profiles"

html_args=()
for in in "${inputs[@]}"; do
  b=$tmp/$(basename "$in" .heapprofile)
  read -r total objects frames < <(expect "$in" totals)
  [ "$total" -gt 0 ] && ok || fail "$in: no bytes"
  # Formats from the extension, and the same with --to.
  for ext in pb.gz collapsed html; do
    out=$("$hs" convert "$in" -o "$b.$ext" 2>&1)
    expect_eq "$?" 0 "convert $in -o $b.$ext ($out)"
    expect_match "$out" "^heapscope: wrote $b\\.$ext \\((pprof|collapsed|html)\\): [0-9]+ nodes, [0-9]+ samples, $total bytes " "convert's line"
  done
  "$hs" convert "$in" --to collapsed -o "$b.any" 2>/dev/null && cmp -s "$b.any" "$b.collapsed" &&
    ok || fail "$in: --to collapsed differs from .collapsed"
  "$hs" convert "$in" --to=pprof -o - >"$b.stdout.pb.gz" 2>/dev/null &&
    cmp -s "$b.stdout.pb.gz" "$b.pb.gz" && ok || fail "$in: --to=pprof -o - differs"

  # pprof, read by Go's pprof.
  if "$go" tool pprof -raw -symbolize=none "$b.pb.gz" >"$b.raw" 2>"$b.raw.err"; then
    expect "$in" pprof-raw "$b.raw" && ok || fail "$in: go tool pprof's totals"
  else
    fail "$in: go tool pprof cannot read $b.pb.gz: $(cat "$b.raw.err")"
  fi
  top=$("$go" tool pprof -top -sample_index=space -unit=B -symbolize=none "$b.pb.gz" 2>/dev/null)
  expect_match "$top" "of ${total}B total" "$in: go tool pprof -top's total"

  expect "$in" collapsed "$b.collapsed" && ok || fail "$in: collapsed stacks"
  html_args+=("$b.html" "$frames")
done

"$node" "$here/flame_open.mjs" "$modules" "$chromium" "${html_args[@]}" && ok ||
  fail "the HTML flame graphs in Chromium"

# ---- bad input: exit 1, the reader's error, no file ---------------------------------------
stop=$golden/sampling-stopSampling.heapprofile
head -c 300 "$stop" >"$tmp/trunc.heapprofile"
out=$("$hs" convert "$tmp/trunc.heapprofile" -o "$tmp/trunc.pb.gz" 2>&1)
expect_eq "$?" 1 "truncated input exit status"
expect_eq "$out" "heapscope: convert: $tmp/trunc.heapprofile: byte 300: expected more JSON, found the end of the file (truncated?)" "truncated input error"
expect_no_file "$tmp/trunc.pb.gz" "truncated input"
sed 's/"selfSize":5608/"selfSize":"5608"/' "$stop" >"$tmp/type.heapprofile"
out=$("$hs" convert "$tmp/type.heapprofile" -o "$tmp/type.html" 2>&1)
expect_eq "$?" 1 "wrong type exit status"
expect_match "$out" "^heapscope: convert: $tmp/type\\.heapprofile: byte [0-9]+: expected a number for selfSize, found a string$" "wrong type error"
expect_no_file "$tmp/type.html" "wrong type"
out=$("$hs" convert "$tmp/none.heapprofile" -o "$tmp/none.collapsed" 2>&1)
expect_eq "$?" 1 "missing input exit status"
expect_eq "$out" "heapscope: convert: $tmp/none.heapprofile: No such file or directory" "missing input error"
out=$("$hs" convert "$stop" -o "$tmp/nodir/x.html" 2>&1)
expect_eq "$?" 1 "unwritable output exit status"
expect_match "$out" "^heapscope: convert: $tmp/nodir/x\\.html: cannot create a temporary file next to it: No such file or directory$" "unwritable output error"
"$hs" convert - --to collapsed -o - <"$stop" >"$tmp/stdin.collapsed" 2>/dev/null &&
  cmp -s "$tmp/stdin.collapsed" "$tmp/sampling-stopSampling.collapsed" && ok ||
  fail "convert - -o - (standard input and output)"

# ---- usage errors: exit 2 -------------------------------------------------------------------
for args in "" "$stop" "-o $tmp/x.html" "$stop -o $tmp/x.json" "$stop -o $tmp/x.html --to svg" \
    "$stop $stop -o $tmp/x.html" "$stop -o $tmp/x.html --bogus" "$stop -o" "$stop -o - " ; do
  # shellcheck disable=SC2086
  "$hs" convert $args >/dev/null 2>&1
  expect_eq "$?" 2 "convert $args exit status"
done
out=$("$hs" convert "$stop" -o "$tmp/x.json" 2>&1)
expect_match "$out" "cannot tell the format from '$tmp/x.json': use --to" "unknown extension message"
expect_no_file "$tmp/x.json" "usage error"
"$hs" help | grep -q '^  convert IN.heapprofile' && ok || fail "usage lists convert"
"$hs" convert --help | grep -q '^usage: heapscope convert' && ok || fail "convert --help"

echo "cli-convert: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
