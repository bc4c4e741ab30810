#!/bin/sh
# run_fuzz.sh FUZZER SECONDS [-libFuzzer-flag...] CORPUS_DIR...
#
# Runs a libFuzzer target for SECONDS from the committed CORPUS_DIRs, which
# are only read: inputs that add coverage go to a fresh temporary directory made
# here and removed on exit (never into the repository). A crash, leak,
# timeout or broken invariant fails the run; the input that caused it is
# printed in hex so that it can be copied from the CI log into the corpus.
set -u
if [ $# -lt 3 ]; then
    echo "usage: $0 FUZZER SECONDS [-libFuzzer-flag...] CORPUS_DIR..." >&2
    exit 2
fi
fuzzer=$1 seconds=$2
shift 2
for a in "$@"; do
    case $a in
    -*) ;;
    *) [ -d "$a" ] || { echo "run_fuzz.sh: no corpus directory $a" >&2; exit 2; } ;;
    esac
done
work=$(mktemp -d "${TMPDIR:-/tmp}/run_fuzz.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
mkdir "$work/new" "$work/artifacts" || exit 2

# -timeout: one input taking this long is a hang. -rss_limit_mb: far above
# what any target needs, below what would hurt a 2-core CI machine.
"$fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/new" "$@"
rc=$?
for f in "$work"/artifacts/*; do
    [ -f "$f" ] || continue
    echo "run_fuzz.sh: $(basename "$f") ($(wc -c <"$f") bytes):"
    od -An -tx1 -v "$f" | head -n 64
done
if [ "$rc" -ne 0 ]; then
    echo "run_fuzz.sh: $(basename "$fuzzer") failed (exit $rc)" >&2
    exit 1
fi
echo "run_fuzz.sh: $(basename "$fuzzer"): $(ls "$work/new" | wc -l) new inputs in ${seconds}s, no failure"
