#!/usr/bin/python3
"""A scripted CDP target on 127.0.0.1 for test_cli_sample.sh: what node cannot
be made to do on cue. Usage: fake_cdp_target.py MODE

Prints "port N" once listening, then a line per event, flushed:
  "accepted"                      a TCP connection arrived
  "call METHOD PARAMS-JSON"       a CDP call arrived (params compact, keys sorted)
  "closed"                        the client went away
and exits after one client. MODE:
  silent      accept and never answer (the CLI is stuck connecting)
  hang-stop   answer every call with {} except HeapProfiler.stopSampling
  start-error answer HeapProfiler.startSampling with -32000 "Sampling is not here"
The WebSocket path is ignored: connect with ws://127.0.0.1:N/anything.
"""
import base64
import hashlib
import json
import socket
import struct
import sys

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def say(line):
    print(line, flush=True)


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_frame(conn):
    b0, b1 = read_exact(conn, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", read_exact(conn, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", read_exact(conn, 8))[0]
    mask = read_exact(conn, 4) if b1 & 0x80 else b"\0\0\0\0"
    payload = bytes(c ^ mask[i % 4] for i, c in enumerate(read_exact(conn, n)))
    return b0 & 0x0F, payload


def send_text(conn, text):
    data = text.encode()
    if len(data) < 126:
        head = struct.pack(">BB", 0x81, len(data))
    else:
        head = struct.pack(">BBH", 0x81, 126, len(data))
    conn.sendall(head + data)


def serve(conn, mode):
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(4096)
        if not chunk:
            raise EOFError
        request += chunk
    key = b""
    for line in request.split(b"\r\n"):
        if line.lower().startswith(b"sec-websocket-key:"):
            key = line.split(b":", 1)[1].strip()
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    while True:
        opcode, payload = read_frame(conn)
        if opcode == 8:
            raise EOFError
        if opcode != 1:
            continue
        msg = json.loads(payload)
        method = msg.get("method", "")
        say("call %s %s" % (method, json.dumps(msg.get("params", {}), sort_keys=True,
                                               separators=(",", ":"))))
        if mode == "hang-stop" and method == "HeapProfiler.stopSampling":
            continue
        if mode == "start-error" and method == "HeapProfiler.startSampling":
            answer = {"id": msg["id"],
                      "error": {"code": -32000, "message": "Sampling is not here"}}
        else:
            answer = {"id": msg["id"], "result": {}}
        send_text(conn, json.dumps(answer))


def main():
    mode = sys.argv[1]
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(60)
    say("port %d" % srv.getsockname()[1])
    conn, _ = srv.accept()
    conn.settimeout(60)
    say("accepted")
    try:
        if mode == "silent":
            while conn.recv(4096):
                pass
        else:
            serve(conn, mode)
    except (EOFError, ConnectionError):
        pass
    say("closed")


if __name__ == "__main__":
    main()
