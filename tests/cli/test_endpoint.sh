#!/usr/bin/env bash
# The agent's DevTools endpoint as a user meets it through the CLI alone:
# `heapscope run` prints where it listens, `heapscope targets` and
# `heapscope gc` reach it, a busy port moves to the next free one,
# HEAPSCOPE_LISTEN=off serves nothing, and the program's output and exit
# status are untouched. Usage: test_endpoint.sh HEAPSCOPE WORKDIR
set -u
hs=$1
# A fresh directory of our own under the one given: nothing given is removed.
mkdir -p "$2" && work=$(mktemp -d "$2/endpoint.XXXXXX") || exit 2
fails=0 passes=0
ok() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT

# Reads the program's stderr (a fifo) line by line, copying it to FILE,
# until the listening line (at most 10 s); prints HOST:PORT. The rest of
# the stream is copied in the background.
listening() {
  local fifo=$1 f=$2 line
  exec 9<"$fifo"
  while IFS= read -r -t 10 line <&9; do
    printf '%s\n' "$line" >>"$f"
    case $line in
    "heapscope: DevTools listening on ws://"*)
      line=${line#heapscope: DevTools listening on ws://}
      # The devtools:// line follows at once.
      local next
      IFS= read -r -t 10 next <&9 && printf '%s\n' "$next" >>"$f"
      cat <&9 >>"$f" 7>&- 8>&- &
      exec 9<&-
      echo "${line%%/*}"
      return 0
      ;;
    esac
  done
  exec 9<&-
  return 1
}

# A program that runs until its stdin closes: `cat` with a fifo we hold.
mkfifo "$work/in1" "$work/e1"
"$hs" run --listen 127.0.0.1:0 -- cat <"$work/in1" >"$work/out1" 2>"$work/e1" &
pids+=($!)
exec 7>"$work/in1"
hp=$(listening "$work/e1" "$work/err1") || { fail "no listening line: $(cat "$work/err1")"; hp=""; }
if [ -n "$hp" ]; then
  ok
  grep -q '^heapscope: for the Memory panel open devtools://devtools/bundled/js_app.html?.*ws='"$hp"'/' "$work/err1" &&
    ok || fail "no devtools:// URL on stderr"
  t=$("$hs" targets "$hp") && ok || fail "targets failed: $t"
  case $t in *"	node	cat	ws://$hp/"*) ok ;; *) fail "targets line: '$t'" ;; esac
  id=$(printf '%s' "$t" | cut -f1)
  "$hs" gc --target "$hp" >"$work/gc.out" 2>&1 && ok || fail "gc: $(cat "$work/gc.out")"
  "$hs" gc --target "$hp/$id" >/dev/null 2>&1 && ok || fail "gc by id"
  "$hs" gc --target "ws://$hp/$id" >/dev/null 2>&1 && ok || fail "gc by ws URL"
  "$hs" gc --target "ws://$hp/not-the-id" >/dev/null 2>&1 && fail "gc on a wrong path succeeded" || ok

  # The same port again: it is taken, so the next free one is used.
  port=${hp##*:}
  mkfifo "$work/in2" "$work/e2"
  "$hs" run --listen "127.0.0.1:$port" -- cat <"$work/in2" >/dev/null 2>"$work/e2" &
  pids+=($!)
  exec 8>"$work/in2"
  hp2=$(listening "$work/e2" "$work/err2") || fail "second program: no listening line: $(cat "$work/err2")"
  if [ -n "${hp2:-}" ] && [ "$hp2" != "$hp" ]; then ok; else fail "busy port not moved: $hp2"; fi
  "$hs" targets "${hp2:-x}" >/dev/null 2>&1 && ok || fail "second target not reachable"
  exec 8>&-

  # The program still works: what it reads it writes, and it exits 0.
  echo "hello through cat" >&7
  exec 7>&-
  wait "${pids[0]}"
  rc=$?
  [ "$rc" = 0 ] && ok || fail "program exit status $rc"
  [ "$(cat "$work/out1")" = "hello through cat" ] && ok || fail "program output: $(cat "$work/out1")"
  # After the program is gone, the endpoint is too.
  "$hs" targets "$hp" >/dev/null 2>&1 && fail "endpoint still answers after exit" || ok
fi

# The program's own low descriptors stay its own: bash takes fd 3 with
# dup2 (the agent's eventfd would be there if it kept the lowest free
# number) and what it writes there must be all that comes out.
"$hs" run --listen 127.0.0.1:0 -- bash -c 'exec 3>&1; echo out >&3' 2>/dev/null >"$work/fd3"
printf 'out\n' | cmp -s - "$work/fd3" && ok || fail "fd 3 output: $(od -c "$work/fd3" | head -n 2)"

# off: no endpoint, no banner.
HEAPSCOPE_LISTEN=off "$hs" run -- true 2>"$work/err3"
grep -q 'DevTools listening' "$work/err3" && fail "HEAPSCOPE_LISTEN=off still listens" || ok
"$hs" run --listen off -- true 2>"$work/err4"
grep -q 'DevTools listening' "$work/err4" && fail "--listen off still listens" || ok
# A bad address is reported and the program runs anyway.
out=$("$hs" run --listen 'not:a:port:' -- echo ran 2>"$work/err5")
[ "$out" = "ran" ] && ok || fail "program did not run with a bad --listen"
grep -q 'HEAPSCOPE_LISTEN=not:a:port: is not HOST:PORT' "$work/err5" && ok || fail "bad address not reported: $(cat "$work/err5")"

echo "test_endpoint: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
