'use strict';
// A WebSocket client over a plain TCP socket (RFC 6455), written for tests:
// it sends exactly the frames it is told to (unmasked, binary, invalid UTF-8,
// oversized…), never validates what it sends, reports the close code the
// server sent, and can stop reading (pause) to play a slow consumer.
//
//   const ws = await wsConnect({ port, path: tg.wsPath });
//   const reply = await ws.call('HeapProfiler.enable');      // {id, result|error}
//   ws.sendFrame({ opcode: 2, payload: Buffer.from('x') }); // anything at all
//   const { code } = await ws.closed;                       // 1006 = no close frame

const crypto = require('node:crypto');
const net = require('node:net');
const config = require('./config');
const { withTimeout } = require('./target');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function acceptKey(key) {
  return crypto.createHash('sha1').update(key + GUID).digest('base64');
}

/* One frame as bytes. payload: Buffer or string (sent as UTF-8 bytes). */
function encodeFrame({ opcode = 1, payload = Buffer.alloc(0), mask = true, fin = true, rsv = 0 }) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const len = data.length;
  let head;
  if (len < 126) {
    head = Buffer.alloc(2);
    head[1] = len;
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  head[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  if (!mask) return Buffer.concat([head, data]);
  head[1] |= 0x80;
  const key = crypto.randomBytes(4);
  const masked = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) masked[i] = data[i] ^ key[i & 3];
  return Buffer.concat([head, key, masked]);
}

class WsConn {
  constructor(socket, rest) {
    this.socket = socket;
    this.buf = rest;
    this.fragments = null; // [opcode, Buffer[]] of a message in progress
    this.inbox = []; // {type:'text'|'binary', data}
    this.stash = []; // messages skipped by call() (events, other ids)
    this.waiters = [];
    this.nextId = 1;
    this.protocolErrors = []; // what the server did wrong at the framing level
    this.closeInfo = null;
    this.gotCloseFrame = false;
    this.closed = new Promise((resolve) => {
      this._resolveClosed = resolve;
    });
    socket.on('data', (d) => this._onData(d));
    socket.on('error', () => {
      /* ECONNRESET and friends: the close code says what happened */
    });
    socket.on('close', () => this._finish(1006, ''));
    if (rest.length) this._parse();
  }

  _notify() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  _finish(code, reason) {
    if (!this.closeInfo) {
      this.closeInfo = { code, reason, gotCloseFrame: this.gotCloseFrame };
      this._resolveClosed(this.closeInfo);
    }
    this._notify();
  }

  _onData(d) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    this._parse();
  }

  _parse() {
    let off = 0;
    const b = this.buf;
    for (;;) {
      if (b.length - off < 2) break;
      const fin = (b[off] & 0x80) !== 0;
      const opcode = b[off] & 0x0f;
      const masked = (b[off + 1] & 0x80) !== 0;
      let len = b[off + 1] & 0x7f;
      let p = off + 2;
      if (len === 126) {
        if (b.length - p < 2) break;
        len = b.readUInt16BE(p);
        p += 2;
      } else if (len === 127) {
        if (b.length - p < 8) break;
        len = Number(b.readBigUInt64BE(p));
        p += 8;
      }
      let key = null;
      if (masked) {
        if (b.length - p < 4) break;
        key = b.subarray(p, p + 4);
        p += 4;
        this.protocolErrors.push('server frame is masked');
      }
      if (b.length - p < len) break;
      let payload = Buffer.from(b.subarray(p, p + len));
      if (key) for (let i = 0; i < len; i++) payload[i] ^= key[i & 3];
      off = p + len;
      this._frame(fin, opcode, payload);
    }
    this.buf = off ? this.buf.subarray(off) : this.buf;
    this._notify();
  }

  _frame(fin, opcode, payload) {
    if (opcode === 8) {
      this.gotCloseFrame = true;
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      const reason = payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
      if (!this.socket.destroyed) {
        // Echo the close as RFC 6455 §5.5.1 asks, then let the server close TCP.
        this.socket.write(encodeFrame({ opcode: 8, payload: payload.subarray(0, 2) }));
        this.socket.end();
      }
      this._finish(code, reason);
      return;
    }
    if (opcode === 9) {
      if (!this.socket.destroyed) this.socket.write(encodeFrame({ opcode: 10, payload }));
      return;
    }
    if (opcode === 10) return;
    if (opcode === 0) {
      if (!this.fragments) {
        this.protocolErrors.push('continuation without a first frame');
        return;
      }
      this.fragments[1].push(payload);
    } else {
      if (this.fragments) this.protocolErrors.push('new message inside a fragmented one');
      this.fragments = [opcode, [payload]];
    }
    if (!fin) return;
    const [op, parts] = this.fragments;
    this.fragments = null;
    const data = Buffer.concat(parts);
    if (op === 1) this.inbox.push({ type: 'text', data: data.toString('utf8') });
    else this.inbox.push({ type: 'binary', data });
  }

  /* Sends text (a string or an object, JSON-encoded) as one masked text frame. */
  send(msg) {
    const text = typeof msg === 'string' ? msg : JSON.stringify(msg);
    this.socket.write(encodeFrame({ opcode: 1, payload: text }));
  }

  sendFrame(frame) {
    this.socket.write(encodeFrame(frame));
  }

  sendRaw(bytes) {
    this.socket.write(bytes);
  }

  /* The next message; {type:'closed', code, …} once the connection is gone and nothing is left. */
  next(ms = config.replyTimeoutMs) {
    return withTimeout(
      new Promise((resolve) => {
        const poll = () => {
          if (this.inbox.length) resolve(this.inbox.shift());
          else if (this.closeInfo) resolve({ type: 'closed', ...this.closeInfo });
          else this.waiters.push(poll);
        };
        poll();
      }),
      ms,
      'a WebSocket message'
    );
  }

  /* The next message parsed as JSON (fails on anything else). */
  async nextJson(ms) {
    const m = await this.next(ms);
    if (m.type !== 'text') throw new Error(`expected a text message, got ${JSON.stringify(m).slice(0, 200)}`);
    return JSON.parse(m.data);
  }

  /* Waits for the reply whose id is `id`; other messages go to this.stash. */
  async reply(id, ms = config.replyTimeoutMs) {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = await this.next(Math.max(1, deadline - Date.now()));
      if (m.type === 'closed') throw new Error(`connection closed (${m.code}) before the reply to id ${id}`);
      if (m.type !== 'text') throw new Error(`unexpected ${m.type} message`);
      const j = JSON.parse(m.data);
      if (j.id === id && !('method' in j)) return j;
      this.stash.push(j);
    }
  }

  /* Sends {id, method, params?} and returns the whole reply object. */
  async call(method, params, ms) {
    const id = this.nextId++;
    const msg = { id, method };
    if (params !== undefined) msg.params = params;
    this.send(msg);
    return this.reply(id, ms);
  }

  pause() {
    this.socket.pause();
  }

  resume() {
    this.socket.resume();
  }

  close(code = 1000) {
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    if (!this.socket.destroyed) this.socket.write(encodeFrame({ opcode: 8, payload }));
    return this.closed;
  }

  destroy() {
    this.socket.destroy();
  }
}

/*
 * Opens a connection and does the handshake. Options: port, host (to connect
 * to, default 127.0.0.1), path, hostHeader (default host:port; null = none),
 * extraHeaders (array of lines). Resolves with a WsConn, or rejects with an
 * error whose .response is the raw HTTP answer when the upgrade is refused.
 */
function wsConnect({ port, host = '127.0.0.1', path, hostHeader, extraHeaders = [], timeoutMs = config.replyTimeoutMs }) {
  const key = crypto.randomBytes(16).toString('base64');
  const hh = hostHeader === undefined ? `${host}:${port}` : hostHeader;
  const lines = [`GET ${path} HTTP/1.1`];
  if (hh !== null) lines.push(`Host: ${hh}`);
  lines.push('Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13', ...extraHeaders);
  const request = `${lines.join('\r\n')}\r\n\r\n`;
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      let head = Buffer.alloc(0);
      const onData = (d) => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        socket.off('close', onClose);
        const text = head.subarray(0, end).toString('latin1');
        const rest = head.subarray(end + 4);
        const [status, ...hdrs] = text.split('\r\n');
        const h = {};
        for (const l of hdrs) {
          const i = l.indexOf(':');
          if (i > 0) h[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        if (!/^HTTP\/1\.1 101 /.test(status)) {
          const err = new Error(`upgrade refused: ${status}`);
          err.response = head.toString('latin1');
          err.status = status;
          socket.destroy();
          reject(err);
          return;
        }
        if (h['sec-websocket-accept'] !== acceptKey(key)) {
          socket.destroy();
          reject(new Error(`bad Sec-WebSocket-Accept ${h['sec-websocket-accept']}`));
          return;
        }
        const conn = new WsConn(socket, rest);
        conn.handshake = { status, headers: h, raw: text };
        resolve(conn);
      };
      const onClose = () => {
        const err = new Error(`connection closed during the handshake: ${JSON.stringify(head.toString('latin1'))}`);
        err.response = head.toString('latin1');
        reject(err);
      };
      socket.on('data', onData);
      socket.on('close', onClose);
      socket.on('error', reject);
      socket.setNoDelay(true);
      socket.write(request);
    }),
    timeoutMs,
    `the WebSocket handshake on port ${port}`
  );
}

module.exports = { wsConnect, encodeFrame, acceptKey, WsConn };
