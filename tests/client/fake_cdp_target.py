#!/usr/bin/python3
"""A scripted CDP target on 127.0.0.1 for test_cli_sample.sh,
test_cli_snapshot.sh and test_cli_track.sh: what node cannot be made to do on
cue. Usage: fake_cdp_target.py MODE

Prints "port N" once listening, then a line per event, flushed:
  "accepted"                      a TCP connection arrived
  "call METHOD PARAMS-JSON"       a CDP call arrived (params compact, keys sorted)
  "closed"                        the client went away
and exits after one client. MODE:
  silent      accept and never answer (the CLI is stuck connecting)
  hang-stop   answer every call with {} except HeapProfiler.stopSampling
  start-error answer HeapProfiler.startSampling with -32000 "Sampling is not here"
and for test_cli_snapshot.sh, on HeapProfiler.takeHeapSnapshot (other calls get {}):
  snapshot-error  answer -32000 "Failed to take heap snapshot" (V8's text)
  snapshot-split  three progress events, a small whole snapshot in chunks that cut its
                  header's keys and numbers, then {}
  snapshot-cut    a progress event and the first chunk, then close the connection
  snapshot-short  a progress event and the first chunk only, then {} (the snapshot
                  never ends)
  snapshot-hang   a progress event, then nothing (prints "hanging")
and for test_cli_track.sh, on HeapProfiler.startTrackingHeapObjects and
stopTrackingHeapObjects (other calls get {}):
  track-script    start: {}, then TRACK_EVENTS (3 fragments, 2 triplets out of range);
                  stop: a last update and lastSeenObjectId, the snapshot-split stream, {}
  track-error     start: -32000 "Heap object tracking is not here"
  track-cut       start: {}, one update and lastSeenObjectId, then close the connection
  track-stop-cut  start: {}; stop: a progress event and the first chunk, then close
  track-hang      start: {}; stop: a progress event, then nothing (prints "hanging")
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


# A whole 2-node, 1-edge snapshot in V8's framing, cut where a reader of the
# header must join chunks: inside the keys "node_count" and "edge_count", and
# right after each number (which could go on in the next chunk).
SPLIT_SNAPSHOT = [
    '{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count",'
    '"detachedness"],"node_types":[["synthetic","native"],"string","number","number",'
    '"number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":'
    '[["element"],"string_or_number","node"]},"node_co',
    'unt":2',
    ',"edge_cou',
    'nt":1',
    ',"trace_function_count":0},\n"nodes":[0,1,1,0,1,1\n,1,2,3,8,0,1\n],\n"edges":[0,1,6\n],\n'
    '"trace_function_infos":[],\n"trace_tree":[],\n"samples":[],\n"locations":[],\n'
    '"strings":["<dummy>",\n"",\n"block"]}',
]


# What track-script sends after its start reply: fragment 0 (the heap before),
# fragment 1, fragment 0 shrunk, a triplet with a negative index and one with
# 2 TiB in a fragment (both ignored).
# Live then: 8 + 5 objects, 800 + 500 bytes; fragment 1 closed after start.
TRACK_EVENTS = [
    ("HeapProfiler.heapStatsUpdate", {"statsUpdate": [0, 10, 1000]}),
    ("HeapProfiler.lastSeenObjectId", {"lastSeenObjectId": 101, "timestamp": 1795437096021.273}),
    ("HeapProfiler.heapStatsUpdate", {"statsUpdate": [0, 8, 800, 1, 5, 500, -1, 1, 1,
                                                     3, 1, 2 << 40]}),
    ("HeapProfiler.lastSeenObjectId", {"lastSeenObjectId": 111, "timestamp": 1795437096071.5}),
]
# ... and on stop, before the snapshot: fragment 2, closed.
TRACK_LAST = [
    ("HeapProfiler.heapStatsUpdate", {"statsUpdate": [2, 1, 100]}),
    ("HeapProfiler.lastSeenObjectId", {"lastSeenObjectId": 113, "timestamp": 1795437096121.0}),
]


def send_event(conn, method, params):
    send_text(conn, json.dumps({"method": method, "params": params}))


def send_progress(conn, done, total, finished=False):
    params = {"done": done, "total": total}
    if finished:
        params["finished"] = True
    send_event(conn, "HeapProfiler.reportHeapSnapshotProgress", params)


def send_chunk(conn, text):
    send_event(conn, "HeapProfiler.addHeapSnapshotChunk", {"chunk": text})


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
        if mode.startswith("snapshot-") and method == "HeapProfiler.takeHeapSnapshot":
            if mode == "snapshot-error":
                send_text(conn, json.dumps({"id": msg["id"], "error": {
                    "code": -32000, "message": "Failed to take heap snapshot"}}))
                continue
            send_progress(conn, 0, 2)
            if mode == "snapshot-hang":
                say("hanging")
                continue
            if mode == "snapshot-split":
                send_progress(conn, 2, 2)
                send_progress(conn, 2, 2, True)
                for text in SPLIT_SNAPSHOT:
                    send_chunk(conn, text)
            else:
                send_chunk(conn, SPLIT_SNAPSHOT[0])
                if mode == "snapshot-cut":
                    raise EOFError
            send_text(conn, json.dumps({"id": msg["id"], "result": {}}))
            continue
        if mode.startswith("track-") and method.endswith("TrackingHeapObjects"):
            serve_track(conn, mode, msg)
            continue
        if mode == "start-error" and method == "HeapProfiler.startSampling":
            answer = {"id": msg["id"],
                      "error": {"code": -32000, "message": "Sampling is not here"}}
        else:
            answer = {"id": msg["id"], "result": {}}
        send_text(conn, json.dumps(answer))


def serve_track(conn, mode, msg):
    reply = json.dumps({"id": msg["id"], "result": {}})
    if msg["method"] == "HeapProfiler.startTrackingHeapObjects":
        if mode == "track-error":
            send_text(conn, json.dumps({"id": msg["id"], "error": {
                "code": -32000, "message": "Heap object tracking is not here"}}))
            return
        send_text(conn, reply)
        for method, params in TRACK_EVENTS[:2] if mode == "track-cut" else TRACK_EVENTS:
            send_event(conn, method, params)
        if mode == "track-cut":
            raise EOFError
        return
    for method, params in TRACK_LAST:
        send_event(conn, method, params)
    send_progress(conn, 0, 2)
    if mode == "track-hang":
        say("hanging")
        return
    if mode == "track-script":
        send_progress(conn, 2, 2)
        send_progress(conn, 2, 2, True)
        for text in SPLIT_SNAPSHOT:
            send_chunk(conn, text)
        send_text(conn, reply)
        return
    send_chunk(conn, SPLIT_SNAPSHOT[0])
    raise EOFError


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
