#!/usr/bin/env bash
# The CLI's readers, analysis and exports under Valgrind's memcheck: every
# read of uninitialised or freed memory, every invalid free and every leak
# fails the test (issue 9). Files: Node 20's recordings (golden) and the
# agent's (tests/formats/data), whole and cut short, so that the error paths
# run too. A command's own exit status is checked apart from Valgrind's (99).
# Usage: test_valgrind_cli.sh HEAPSCOPE GOLDEN_DIR DATA_DIR VALGRIND [ARGS...]
# (tests/valgrind/CMakeLists.txt passes valgrind and its arguments, which
# must include --error-exitcode=99).
set -u
hs=$1 golden=$2 data=$3
shift 3
vgcmd=("$@")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0

# vg EXPECTED_STATUS NAME ARGS...: runs heapscope ARGS under memcheck.
vg() {
  local want=$1 name=$2
  shift 2
  "${vgcmd[@]}" --track-origins=yes --log-file="$tmp/$name.vg" "$hs" "$@" \
    >"$tmp/$name.out" 2>"$tmp/$name.err"
  local rc=$?
  if [ "$rc" -eq 99 ] || [ -s "$tmp/$name.vg" ]; then
    echo "FAIL: $name: memcheck found errors:" >&2
    cat "$tmp/$name.vg" >&2
    fails=$((fails + 1))
  elif [ "$rc" -ne "$want" ]; then
    echo "FAIL: $name: exit status $rc, expected $want" >&2
    head -5 "$tmp/$name.err" >&2
    fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}

snap=$golden/snapshot-stopTracking.heapsnapshot
prof=$golden/sampling-with-gc-flags.heapprofile
head -c 100000 "$snap" >"$tmp/cut.heapsnapshot"
head -c 700 "$prof" >"$tmp/cut.heapprofile"

vg 0 report-v8 report "$snap"
vg 0 report-agent-json report "$data/agent-small.heapsnapshot" --format json --top 5
vg 0 report-timeline report "$data/agent-track.heapsnapshot"
vg 0 diff-agent diff "$data/agent-small.heapsnapshot" "$data/agent-track.heapsnapshot"
vg 0 report-profile-tree report "$prof" --tree
vg 0 report-profile-agent report "$data/profile/agent-ls.heapprofile"
vg 0 diff-profiles diff "$golden/sampling-getSamplingProfile.heapprofile" "$prof"
vg 0 convert-pprof convert "$prof" -o "$tmp/p.pb.gz"
vg 0 convert-collapsed convert "$data/profile/legacy.heapprofile" -o "$tmp/p.collapsed"
vg 0 convert-html convert "$data/profile/agent-ls.heapprofile" -o "$tmp/p.html"
vg 1 report-cut-snapshot report "$tmp/cut.heapsnapshot"
vg 1 report-cut-profile report "$tmp/cut.heapprofile"
vg 1 convert-cut convert "$tmp/cut.heapprofile" -o "$tmp/q.pb.gz"
vg 1 report-missing report "$tmp/missing.heapsnapshot"

# The outputs are real, not empty successes.
[ -s "$tmp/p.pb.gz" ] && [ -s "$tmp/p.collapsed" ] && [ -s "$tmp/p.html" ] ||
  { echo "FAIL: an export wrote nothing" >&2; fails=$((fails + 1)); }
grep -q . "$tmp/report-v8.out" || { echo "FAIL: report printed nothing" >&2; fails=$((fails + 1)); }

echo "valgrind-cli: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
