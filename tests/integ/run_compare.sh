#!/usr/bin/env bash
# run_compare.sh — runs one program three ways and checks that the heapscope
# agent is transparent and counts right. Used by the ctest tests integ-*.
#
# usage: run_compare.sh NAME [--stdin FILE] -- PROGRAM [ARGS...]
#
# environment:
#   HEAPSCOPE_BIN  the heapscope CLI            (required)
#   HS_COUNTER     the hs_counter preload .so   (required)
#   HS_AGENT       libheapscope.so              (required)
#   WORKDIR        where the outputs are kept   (default: $TMPDIR or /tmp)
#   HS_EXPECT_RC   the program's expected exit status (default 0)
#
# The runs, all with stdin from FILE (default /dev/null):
#   (a) plain:              PROGRAM ARGS
#   (b) counter + agent:    LD_PRELOAD="$HS_COUNTER:$HS_AGENT"
#                           HEAPSCOPE_SUMMARY=S HS_COUNTER_OUT=C PROGRAM ARGS
#       The counter is first so that it sees exactly the calls the program
#       makes; the agent sees the same calls, forwarded by the counter.
#       HEAPSCOPE_LISTEN=off: the service thread's own allocations would
#       reach the counter too (it is first in the search order).
#       Run (c) keeps the endpoint on: it must not disturb the program.
#   (c) the CLI:            heapscope run --summary-file S2 -- PROGRAM ARGS
#
# Checks (each failure is reported; exit 0 only if none failed):
#   - the exit status of (a) is HS_EXPECT_RC, and (b) and (c) have the same;
#   - stdout of (b) and (c) is byte for byte that of (a);
#   - stderr of (b), and of (c) less its "heapscope:" lines, is that of (a),
#     unless NAME is in STDERR_ALLOW below;
#   - (c) printed a "heapscope:" line on stderr;
#   - every line of S, C and S2 has the documented record format;
#   - S and C each hold exactly one record for the top process (the pid of
#     PROGRAM itself in (b); records of other pids come from children), and
#     the two agree on live_blocks, live_bytes, allocs and frees;
#   - the agent's records are self-consistent: live_blocks = allocs - frees,
#     peak_bytes >= live_bytes, allocs > 0;
#   - S2 holds exactly one record: without --follow-children, children are
#     not profiled;
#   - if stdout of (a) has a line "deliberately-live blocks=N bytes=M" (the
#     blocks the program leaves allocated on purpose), every live_blocks and
#     live_bytes above is at least N and M.
set -u -o pipefail

# Names whose stderr may legitimately differ between the runs. A name belongs
# here only if the program's stderr is not deterministic on its own (timing,
# pids, addresses), which is true of none of the current workloads: each one
# writes nothing to stderr when it succeeds, so any difference is a finding
# (for instance ld.so failing to preload a library, or the agent talking on
# the program's stderr).
STDERR_ALLOW=()

usage() {
    echo "usage: run_compare.sh NAME [--stdin FILE] -- PROGRAM [ARGS...]" >&2
    exit 2
}

[ $# -ge 3 ] || usage
name=$1
shift
stdin_file=/dev/null
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case $1 in
    --stdin)
        [ $# -ge 2 ] || usage
        stdin_file=$2
        shift 2
        ;;
    *) usage ;;
    esac
done
[ "${1-}" = "--" ] || usage
shift
[ $# -ge 1 ] || usage

tag="run_compare[$name]"
for v in HEAPSCOPE_BIN HS_COUNTER HS_AGENT; do
    if [ -z "${!v-}" ]; then
        echo "$tag: $v is not set" >&2
        exit 2
    fi
done
[ -x "$HEAPSCOPE_BIN" ] || { echo "$tag: no executable $HEAPSCOPE_BIN" >&2; exit 2; }
[ -f "$HS_COUNTER" ] || { echo "$tag: no file $HS_COUNTER" >&2; exit 2; }
[ -f "$HS_AGENT" ] || { echo "$tag: no file $HS_AGENT" >&2; exit 2; }
[ -r "$stdin_file" ] || { echo "$tag: cannot read $stdin_file" >&2; exit 2; }
expect_rc=${HS_EXPECT_RC:-0}

# A fresh directory of our own: nothing that exists is ever removed.
parent=${WORKDIR:-${TMPDIR:-/tmp}}
mkdir -p "$parent" && d=$(mktemp -d "$parent/run_compare.$name.XXXXXX") || exit 2

# Nothing of an outer profiler or counter may leak into the runs.
unset LD_PRELOAD HEAPSCOPE_SUMMARY HS_COUNTER_OUT HEAPSCOPE_LISTEN

failures=0
fail() {
    echo "$tag: FAIL: $*" >&2
    failures=$((failures + 1))
}

# ---- the three runs ---------------------------------------------------------

"$@" <"$stdin_file" >"$d/a.out" 2>"$d/a.err"
rc_a=$?

S=$d/b.summary
C=$d/b.counter
: >"$S"
: >"$C"
# A subshell that execs the program keeps its pid: $! is the top pid.
(
    export LD_PRELOAD="$HS_COUNTER:$HS_AGENT" HEAPSCOPE_SUMMARY="$S" HS_COUNTER_OUT="$C"
    export HEAPSCOPE_LISTEN=off
    exec "$@"
) <"$stdin_file" >"$d/b.out" 2>"$d/b.err" &
pid_b=$!
wait "$pid_b"
rc_b=$?

S2=$d/c.summary
: >"$S2"
HEAPSCOPE_LISTEN=127.0.0.1:0 "$HEAPSCOPE_BIN" run --summary-file "$S2" -- "$@" <"$stdin_file" >"$d/c.out" 2>"$d/c.err"
rc_c=$?

# ---- exit status, stdout, stderr --------------------------------------------

[ "$rc_a" = "$expect_rc" ] ||
    fail "plain run exited $rc_a, expected $expect_rc; its stderr: $(head -c 2000 "$d/a.err")"
[ "$rc_b" = "$rc_a" ] || fail "exit status: plain $rc_a, counter+agent $rc_b"
[ "$rc_c" = "$rc_a" ] || fail "exit status: plain $rc_a, heapscope run $rc_c"

show_diff() { # FILE1 FILE2
    cmp "$1" "$2" 2>&1 | head -n 1 >&2
    diff "$1" "$2" 2>&1 | head -n 20 >&2
}

# same FILE1 FILE2 WHAT: fails with a diff unless the files are identical.
same() {
    if ! cmp -s "$1" "$2"; then
        fail "$3"
        show_diff "$1" "$2"
    fi
}

same "$d/a.out" "$d/b.out" "stdout differs between plain and counter+agent runs"
same "$d/a.out" "$d/c.out" "stdout differs between plain and heapscope run"

grep -q '^heapscope:' "$d/c.err" || fail "heapscope run printed no 'heapscope:' line on stderr"
grep -v '^heapscope:' "$d/c.err" >"$d/c.err.program"

allowed=0
for n in "${STDERR_ALLOW[@]}"; do
    [ "$n" = "$name" ] && allowed=1
done
if [ "$allowed" = 0 ]; then
    same "$d/a.err" "$d/b.err" "stderr differs between plain and counter+agent runs"
    same "$d/a.err" "$d/c.err.program" \
        "stderr (less heapscope: lines) differs between plain and heapscope run"
fi

# ---- records ------------------------------------------------------------------

re_agent='^heapscope-summary pid=([0-9]+) live_blocks=([0-9]+) live_bytes=([0-9]+) peak_bytes=([0-9]+) allocs=([0-9]+) frees=([0-9]+) prog=[^ ]+ timeline=off timeline_allocs=0 timeline_ticks=0 timeline_stacks=0$'
re_counter='^hs-counter pid=([0-9]+) live_blocks=([0-9]+) live_bytes=([0-9]+) allocs=([0-9]+) frees=([0-9]+)$'

check_format() { # FILE REGEX WHAT
    local line n=0
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        [[ $line =~ $2 ]] || fail "$3: malformed line $n: '$line'"
    done <"$1"
}
check_format "$S" "$re_agent" "summary file (counter+agent)"
check_format "$C" "$re_counter" "counter file"
check_format "$S2" "$re_agent" "summary file (heapscope run)"

# Prints the one line of FILE that starts with "PREFIX pid=PID "; returns 1
# (after a diagnostic on stderr) unless there is exactly one.
top_record() { # FILE PREFIX PID
    local lines count
    lines=$(grep -E "^$2 pid=$3 " "$1")
    count=$(printf '%s' "$lines" | grep -c .)
    if [ "$count" != 1 ]; then
        echo "$tag: $count records for the top pid $3 in $1 (expected 1); the file has:" >&2
        head -c 2000 "$1" >&2
        return 1
    fi
    printf '%s\n' "$lines"
}

# deliberately-live lower bounds, if the program states them
want_blocks=0
want_bytes=0
if dl=$(grep -E '^deliberately-live blocks=[0-9]+ bytes=[0-9]+$' "$d/a.out" | tail -n 1) && [ -n "$dl" ]; then
    [[ $dl =~ blocks=([0-9]+)\ bytes=([0-9]+) ]]
    want_blocks=${BASH_REMATCH[1]}
    want_bytes=${BASH_REMATCH[2]}
fi

# field LINE NAME: the number after " NAME=" in LINE (empty if none). Used
# after the strict format check so that a malformed record still gets the
# other checks.
field() {
    [[ " $1 " =~ \ $2=([0-9]+)\  ]] && printf '%s' "${BASH_REMATCH[1]}"
}

check_agent_record() { # LINE WHAT
    local lb ly pk al fr
    lb=$(field "$1" live_blocks) ly=$(field "$1" live_bytes) pk=$(field "$1" peak_bytes)
    al=$(field "$1" allocs) fr=$(field "$1" frees)
    if [ -z "$lb" ] || [ -z "$ly" ] || [ -z "$pk" ] || [ -z "$al" ] || [ -z "$fr" ]; then
        fail "$2: record lacks a field: '$1'"
        return
    fi
    [ "$al" -gt 0 ] || fail "$2: allocs=0 in '$1'"
    [ "$((al - fr))" = "$lb" ] || fail "$2: live_blocks != allocs - frees in '$1'"
    [ "$pk" -ge "$ly" ] || fail "$2: peak_bytes < live_bytes in '$1'"
    if [ "$lb" -lt "$want_blocks" ] || [ "$ly" -lt "$want_bytes" ]; then
        fail "$2: fewer live blocks/bytes than the program leaves on purpose ($want_blocks/$want_bytes) in '$1'"
    fi
}

agent_line=$(top_record "$S" heapscope-summary "$pid_b")
have_agent=$?
[ "$have_agent" = 0 ] || fail "no single agent record for the top pid $pid_b (counter+agent run)"
counter_line=$(top_record "$C" hs-counter "$pid_b")
have_counter=$?
[ "$have_counter" = 0 ] || fail "no single counter record for the top pid $pid_b"

if [ "$have_agent" = 0 ]; then
    check_agent_record "$agent_line" "counter+agent run"
fi
if [ "$have_counter" = 0 ]; then
    c_ly=$(field "$counter_line" live_bytes) c_lb=$(field "$counter_line" live_blocks)
    [ "$(field "$counter_line" allocs)" -gt 0 ] || fail "counter saw no allocation: '$counter_line'"
    if [ "$c_lb" -lt "$want_blocks" ] || [ "$c_ly" -lt "$want_bytes" ]; then
        fail "counter: fewer live blocks/bytes than the program leaves on purpose ($want_blocks/$want_bytes): '$counter_line'"
    fi
fi
if [ "$have_agent" = 0 ] && [ "$have_counter" = 0 ]; then
    for f in live_blocks live_bytes allocs frees; do
        if [ "$(field "$agent_line" $f)" != "$(field "$counter_line" $f)" ]; then
            fail "agent and counter disagree for pid $pid_b:"
            echo "  agent:   $agent_line" >&2
            echo "  counter: $counter_line" >&2
            break
        fi
    done
fi

n2=$(grep -c . "$S2")
if [ "$n2" != 1 ]; then
    fail "heapscope run: $n2 records in the summary file, expected 1 (children are not profiled without --follow-children): $(head -c 2000 "$S2")"
else
    check_agent_record "$(cat "$S2")" "heapscope run"
fi

# ---- verdict ------------------------------------------------------------------

echo "$tag: exit status $rc_a/$rc_b/$rc_c, outputs in $d"
echo "$tag: agent:   ${agent_line:-<none>}"
echo "$tag: counter: ${counter_line:-<none>}"
echo "$tag: cli:     $(head -n 1 "$S2")"
if [ "$failures" -ne 0 ]; then
    echo "$tag: $failures check(s) failed" >&2
    exit 1
fi
echo "$tag: all checks passed"
rm -rf "$d" # our own mktemp directory; kept above when a check failed
exit 0
