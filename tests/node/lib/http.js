'use strict';
// Raw HTTP/1.x over a TCP socket: the exact bytes go out, the exact bytes come
// back (status line, header lines in order, body), and whether the server
// closed the connection after answering.

const net = require('node:net');
const config = require('./config');
const { withTimeout } = require('./target');

/*
 * Sends `request` (string or Buffer) and resolves with
 *   { raw, statusLine, status, headers: [[name, value]…], header(name), body, closedByServer }
 * The answer ends at Content-Length bytes of body when there is one (the
 * connection is then left open by node; we close it), else when the server
 * closes. waitClose: also wait for the server to close (fails on timeout).
 */
function rawHttp(port, request, { host = '127.0.0.1', timeoutMs = config.replyTimeoutMs, waitClose = false } = {}) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      let data = Buffer.alloc(0);
      let done = false;
      let parsed = null;
      const finish = (closedByServer) => {
        if (done) return;
        done = true;
        socket.destroy();
        const r = parsed || parse(data);
        r.closedByServer = closedByServer;
        resolve(r);
      };
      socket.on('data', (d) => {
        data = Buffer.concat([data, d]);
        const r = parse(data);
        if (r && r.complete) {
          parsed = r;
          if (!waitClose) finish(false);
        }
      });
      socket.on('end', () => finish(true));
      socket.on('close', () => finish(true));
      socket.on('error', (e) => {
        // A reset after the answer still counts as "closed by the server".
        if (data.length) finish(true);
        else reject(e);
      });
      socket.write(request);
    }),
    timeoutMs,
    `an HTTP answer on port ${port}${waitClose ? ' and the server closing' : ''}`
  );
}

function parse(buf) {
  const end = buf.indexOf('\r\n\r\n');
  const raw = buf.toString('latin1');
  if (end < 0) return { raw, statusLine: raw.split('\r\n')[0], status: 0, headers: [], header: () => undefined, body: '', complete: false };
  const head = buf.subarray(0, end).toString('latin1');
  const bodyBuf = buf.subarray(end + 4);
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = lines.map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i), l.slice(i + 1).trim()];
  });
  const header = (name) => {
    const h = headers.find(([n]) => n.toLowerCase() === name.toLowerCase());
    return h ? h[1] : undefined;
  };
  const cl = header('content-length');
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(statusLine);
  // A 101 ends with its headers; otherwise Content-Length, else the server closing.
  const complete = m && m[1] === '101' ? true : cl !== undefined ? bodyBuf.length >= Number(cl) : false;
  return {
    raw,
    statusLine,
    status: m ? Number(m[1]) : 0,
    headers,
    header,
    body: bodyBuf.toString('utf8'),
    bodyBytes: bodyBuf.length,
    complete,
  };
}

/* GET path with an optional Host header value (null = no Host header). */
function httpGet(port, path, { hostHeader, ...opts } = {}) {
  const hh = hostHeader === undefined ? `127.0.0.1:${port}` : hostHeader;
  const req = `GET ${path} HTTP/1.1\r\n${hh === null ? '' : `Host: ${hh}\r\n`}\r\n`;
  return rawHttp(port, req, opts);
}

/* GET a JSON document (fails unless 200 with a JSON body). */
async function getJson(port, path) {
  const r = await httpGet(port, path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.statusLine}`);
  return JSON.parse(r.body);
}

module.exports = { rawHttp, httpGet, getJson };
