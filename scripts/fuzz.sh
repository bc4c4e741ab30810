#!/usr/bin/env bash
# scripts/fuzz.sh [-t SECONDS] [-d BUILD_DIR] [--merge] [TARGET...]
#
# Local fuzzing (tests/fuzz): builds the libFuzzer targets with clang, ASan
# and UBSan in BUILD_DIR (default build-fuzz) and runs each TARGET (default:
# all of tests/fuzz/targets.txt) for SECONDS (default 300), one after the
# other, from its committed corpus with the flags of targets.txt. Inputs that
# add coverage go to BUILD_DIR/fuzz-new/<target>/, a failing input to
# BUILD_DIR/fuzz-artifacts/<target>/; the repository is not written unless
# --merge is given, which then minimises the new inputs into
# tests/fuzz/corpus/<target>/ (-merge=1 -use_counters=0) for you to review and commit (a
# failing input is added by hand once fixed: a merge skips inputs that crash).
# Exits non-zero if any target failed.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=300 dir=build-fuzz merge=0
targets=()
while [ $# -gt 0 ]; do
  case $1 in
  -t) seconds=$2; shift 2 ;;
  -d) dir=$2; shift 2 ;;
  --merge) merge=1; shift ;;
  -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
  -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
  *) targets+=("$1"); shift ;;
  esac
done
fuzzdir=$PWD/tests/fuzz
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(grep -E '^[a-z]' "$fuzzdir/targets.txt" | cut -d' ' -f1)
fi

CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DHS_SANITIZE=address,undefined -DHS_FUZZ=ON -DBUILD_TESTING=ON >/dev/null || exit 1
cmake --build "$dir" -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >"$dir/fuzz-build.log" 2>&1 || {
  cat "$dir/fuzz-build.log"
  exit 1
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for t in "${targets[@]}"; do
  line=$(grep -E "^$t( |$)" "$fuzzdir/targets.txt") || {
    echo "fuzz.sh: no target $t in tests/fuzz/targets.txt" >&2
    exit 2
  }
  read -r -a args <<<"${line//@/$fuzzdir}"
  args=("${args[@]:1}")
  new=$dir/fuzz-new/$t art=$dir/fuzz-artifacts/$t
  mkdir -p "$new" "$art"
  echo "== $t: ${seconds}s, log in $dir/fuzz-$t.log"
  "$dir/bin/fuzz_$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art/" "$new" "$fuzzdir/corpus/$t" "${args[@]}" \
    >"$dir/fuzz-$t.log" 2>&1
  rc=$?
  grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec)' \
    "$dir/fuzz-$t.log"
  if [ $rc -ne 0 ]; then
    failed=1
    echo "fuzz.sh: $t failed (exit $rc); input in $art/, see $dir/fuzz-$t.log" >&2
  fi
  if [ $merge = 1 ]; then
    flags=()
    for a in "${args[@]}"; do [[ $a == -* ]] && flags+=("$a"); done
    # Edges only (no hit counts): the smallest set that keeps the coverage.
    "$dir/bin/fuzz_$t" -merge=1 -use_counters=0 "${flags[@]}" "$fuzzdir/corpus/$t" "$new" \
      >>"$dir/fuzz-$t.log" 2>&1 || failed=1
    echo "$t: corpus now $(ls "$fuzzdir/corpus/$t" | wc -l) files"
  fi
done
exit $failed
