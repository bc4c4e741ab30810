#!/usr/bin/env bash
# The agent on a Unix socket (HEAPSCOPE_LISTEN=unix:PATH, through `heapscope
# run --listen unix:REL`) and the CLI reaching it (unix:PATH, unix:PATH:ID,
# ws+unix:// URLs): a snapshot of run_snapshot_target's known heap taken over
# the socket; the socket's mode 0600, and the kernel refusing `nobody` (with a
# control: the same connect succeeds once the mode lets others in); Host
# headers still checked; a second agent on a live socket, a stale socket
# replaced, another user's stale socket and a regular file left alone; the
# socket removed at exit; paths with ':' or not UTF-8 refused; a relative
# path too long once made absolute. Every wait is on a line a process printed, never a
# sleep. Needs root (CI runs as root) to act as nobody and to give a socket to
# nobody. Usage: test_cli_unix.sh HEAPSCOPE TARGET PYTHON
set -u
hs=$1 target=$2 python=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
# nobody must reach the socket's directory, so that only the socket's own
# mode can stop it.
chmod 0711 "$tmp"
mkdir -m 0755 "$tmp/pub"
cd "$tmp/pub" || exit 1
sock=$(pwd -P)/agent.sock
listen_re='^heapscope: DevTools listening on ws\+unix://([^ ]+):/([0-9a-f-]{36})$'

# connect_as PATH [REQUEST]: connects to the Unix socket PATH, sends REQUEST
# if given and prints the answer's first line (or "connected"), or the
# connect's errno name.
connect_as() {
  local code='
import errno, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
    sys.exit(0)
if len(sys.argv) > 2:
    s.sendall(sys.argv[2].encode("utf-8", "surrogateescape"))
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    print(data.split(b"\r\n")[0].decode("latin-1"))
else:
    print("connected")'
  "$python" -c "$code" "$@"
}

# start_agent NAME LISTEN: heapscope run --listen LISTEN of the target, its
# stdin held open on NAME_in (closing it ends the program), its output read
# by expect_line NAME, up to the banner (BASH_REMATCH: path, id; hint: the
# rest of its second line) and "ready".
start_agent() {
  local fd_in fd_out
  mkfifo "$tmp/$1.in" "$tmp/$1.out"
  "$hs" run --listen "$2" -- "$target" <"$tmp/$1.in" >"$tmp/$1.out" 2>&1 &
  pids+=($!)
  printf -v "${1}_pid" %s $!
  exec {fd_in}>"$tmp/$1.in" {fd_out}<"$tmp/$1.out"
  printf -v "${1}_in" %s "$fd_in"
  out_fd[$1]=$fd_out
  expect_line "$1" "$listen_re" || return 1
  local path=${BASH_REMATCH[1]} id=${BASH_REMATCH[2]}
  expect_line "$1" '^heapscope: DevTools cannot open a Unix socket; (.*)$' || return 1
  hint=${BASH_REMATCH[1]}
  expect_line "$1" '^ready [0-9]+$' || return 1
  BASH_REMATCH=("" "$path" "$id")
}

# ---- the agent on a socket, named relative to run's directory ----------------------------
start_agent agent unix:agent.sock || exit 1
expect_eq "${BASH_REMATCH[1]}" "$sock" "the socket's path, made absolute by run"
id=${BASH_REMATCH[2]}
# The banner's second line names a command the CLI takes: run it as printed.
cmd=${hint#take a snapshot with heapscope }
expect_eq "$cmd" "snapshot --target unix:$sock -o FILE" "the banner's command"
read -ra words <<<"${cmd/%FILE/$tmp/banner.heapsnapshot}"
out=$("$hs" "${words[@]}" 2>&1)
expect_eq "$?" 0 "the banner's command, run as printed ($out)"

expect_eq "$(stat -c '%F %a %U' "$sock")" "socket 600 $(id -un)" "the socket's type, mode, owner"

# ---- the CLI over the socket -------------------------------------------------------------
out=$("$hs" targets "unix:$sock" 2>&1)
expect_eq "$?" 0 "targets unix:PATH: exit status ($out)"
expect_match "$out" "^$id	node	[^	]*	ws\\+unix://$sock:/$id$" "targets unix:PATH: the target"
json=$("$hs" targets --json "unix:$sock" 2>&1)
expect_no_match "$json" devtoolsFrontendUrl "no DevTools URL for a socket DevTools cannot open"

out=$("$hs" snapshot --target "unix:$sock" -o "$tmp/over-unix.heapsnapshot" 2>&1)
expect_eq "$?" 0 "snapshot --target unix:PATH: exit status ($out)"
expect_match "$out" "^heapscope: wrote $tmp/over-unix.heapsnapshot: " "snapshot: its line"
"$python" "$here/heapsnapshot_check.py" check "$tmp/over-unix.heapsnapshot" --node-fields 6 \
  --count 'native:keep_block*=100' --count 'native:leak_block*=10' && ok ||
  fail "the snapshot taken over the socket does not hold the target's blocks"

out=$("$hs" gc --target "ws+unix://$sock:/$id" 2>&1)
expect_eq "$?" 0 "gc --target ws+unix://PATH:/ID ($out)"
out=$("$hs" gc --target "unix:$sock:$id" 2>&1)
expect_eq "$?" 0 "gc --target unix:PATH:ID ($out)"
out=$("$hs" gc --target "unix:$sock:no-such-target" 2>&1)
expect_eq "$?" 1 "gc --target unix:PATH:UNKNOWN: exit status"
expect_match "$out" "has no target with id or title 'no-such-target'" "unknown selector: message"
out=$("$hs" gc --target "ws+unix://$sock:/$id-x" 2>&1)
expect_eq "$?" 1 "gc on a wrong path over the socket: exit status"
expect_match "$out" "WebSocket upgrade refused: HTTP 400" "wrong path over the socket: refused"
out=$("$hs" targets "unix:$tmp/pub/none.sock" 2>&1)
expect_eq "$?" 1 "targets on a missing socket: exit status"
expect_match "$out" "no socket at unix:$tmp/pub/none.sock" "missing socket: message"

# ---- Host headers are checked on the socket as on TCP ------------------------------------
expect_eq "$(connect_as "$sock" $'GET /json/version HTTP/1.1\r\nHost: localhost\r\n\r\n')" \
  "HTTP/1.0 200 OK" "Host: localhost over the socket"
expect_eq "$(connect_as "$sock" $'GET /json/version HTTP/1.1\r\nHost: evil.com\r\n\r\n')" \
  "HTTP/1.0 400 Bad Request" "Host: evil.com over the socket (a forwarder's DNS rebinding)"

# ---- another user: the kernel refuses it; the same connect passes once the mode allows ----
# as_nobody CMD...: CMD as user nobody. heapscope is copied where nobody can
# run it (the checkout may be in a directory only root can read; the CLI
# links the client library statically).
as_nobody() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$@"; }
install -m 0755 "$hs" "$tmp/pub/heapscope"
out=$(as_nobody "$tmp/pub/heapscope" targets "unix:$sock" 2>&1)
expect_eq "$?" 1 "targets as nobody: exit status"
expect_match "$out" "permission denied on unix:$sock \\(the socket is its owner's only\\)$" \
  "targets as nobody: the kernel's EACCES"
chmod 0666 "$sock"
out=$(as_nobody "$tmp/pub/heapscope" targets "unix:$sock" 2>&1)
expect_eq "$?" 0 "control: targets as nobody once the socket is 0666 ($out)"
chmod 0600 "$sock"

# ---- a second agent on the live socket: refused, the program runs on ---------------------
out=$("$hs" run --listen "unix:$sock" -- true 2>&1)
expect_eq "$?" 0 "a second program on the live socket: exit status"
expect_match "$out" "heapscope: cannot listen on unix:$sock: another server listens on it; no DevTools endpoint" \
  "a second agent on a live socket: message"
expect_eq "$(stat -c %F "$sock" 2>&1)" socket "the live socket is left in place"
expect_eq "$(connect_as "$sock" $'GET /json HTTP/1.1\r\nHost: localhost\r\n\r\n')" \
  "HTTP/1.0 200 OK" "the first agent still answers"

# ---- the program ends: the socket goes -----------------------------------------------------
exec {agent_in}>&-
wait "$agent_pid"
expect_eq "$?" 0 "the target under heapscope run: exit status"
if [ -e "$sock" ]; then fail "the socket is still there after exit"; else ok; fi

# ---- a stale socket (its server died) is replaced ------------------------------------------
"$python" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$sock"
expect_eq "$(connect_as "$sock")" ECONNREFUSED "the stale socket refuses connections"
if start_agent stale "unix:$sock"; then
  expect_eq "${BASH_REMATCH[1]}" "$sock" "the stale socket replaced: the path"
  expect_eq "$(stat -c '%F %a' "$sock")" "socket 600" "the replacing socket's mode"
  expect_eq "$(connect_as "$sock" $'GET /json HTTP/1.1\r\nHost: localhost\r\n\r\n')" \
    "HTTP/1.0 200 OK" "the agent answers on the replaced socket"
fi
exec {stale_in}>&-
wait "$stale_pid"
expect_eq "$?" 0 "the target on the replaced socket: exit status"

# ---- anything else at the path is left alone ------------------------------------------------
# A stale socket, but another user's: not ours to remove.
rm -f "$sock"
"$python" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$sock"
chown nobody "$sock"
out=$("$hs" run --listen "unix:$sock" -- true 2>&1)
expect_match "$out" "heapscope: cannot listen on unix:$sock: something other than a stale socket of this user's is there \\(not replaced\\)" \
  "another user's stale socket: message"
expect_eq "$(stat -c '%F %U' "$sock")" "socket nobody" "another user's stale socket is left alone"
rm -f "$sock"
echo "not a socket" >"$sock"
out=$("$hs" run --listen "unix:$sock" -- true 2>&1)
expect_eq "$?" 0 "a program whose socket path is a file: exit status"
expect_match "$out" "heapscope: cannot listen on unix:$sock: something other than a stale socket of this user's is there \\(not replaced\\); no DevTools endpoint" \
  "a file at the path: message"
expect_eq "$(cat "$sock")" "not a socket" "the file at the path is untouched"
rm -f "$sock"
out=$("$hs" run --listen unix:/ -- true 2>&1)
expect_match "$out" "heapscope: cannot listen on unix:/: something other than a stale socket" \
  "a directory at the path: message"

# ---- paths the discovery could not hand out: refused at start, the program runs on --------
# A ':' (ws+unix://PATH:/ID and unix:PATH:SEL end the path at the first one)
# and bytes that are not UTF-8 (/json/list is JSON).
for bad in "$tmp/pub/a:b.sock" "$tmp/pub/"$'\xff'".sock"; do
  out=$("$hs" run --listen "unix:$bad" -- echo ran 2>"$tmp/bad.err")
  expect_eq "$?:$out" "0:ran" "socket path ${bad#"$tmp/pub/"}: the program runs"
  expect_match "$(cat "$tmp/bad.err")" "must be UTF-8 without ':'.*; no DevTools endpoint" \
    "socket path ${bad#"$tmp/pub/"}: refused with a message"
  if [ -e "$bad" ]; then fail "socket path ${bad#"$tmp/pub/"}: a socket was made"; else ok; fi
done
# Control: a path in UTF-8 beyond ASCII is served.
out=$("$hs" run --listen "unix:$tmp/pub/é.sock" -- true 2>&1)
expect_match "$out" "DevTools listening on ws\+unix://$tmp/pub/é.sock:/" "a UTF-8 socket path is served"

# ---- a relative path too long for a socket once made absolute: run exits 2 ----------------
# sun_path holds 107 bytes: unix:s in a directory that makes it 108 is
# refused before the program starts; one byte less is served.
n=$((108 - ${#tmp} - 7)) # "/pub/" and "/s"
long=$tmp/pub/$(printf '%*s' "$n" '' | tr ' ' x)
short=${long%x}
mkdir "$long" "$short"
out=$(cd "$long" && "$hs" run --listen unix:s -- echo ran 2>&1)
expect_eq "$?" 2 "--listen unix:REL, 108 bytes once absolute: exit status"
expect_match "$out" "^heapscope run: socket path in --listen too long: $long/s is 108 bytes, a Unix socket's path at most 107$" \
  "--listen unix:REL, 108 bytes once absolute: message, the program not run"
out=$(cd "$short" && "$hs" run --listen unix:s -- true 2>&1)
expect_match "$out" "DevTools listening on ws\+unix://$short/s:/" "control: 107 bytes once absolute are served"
rmdir "$long" "$short"

echo "test_cli_unix: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
