// A raw HTTP/1.1 client for exact bytes: one connection, responses split by Content-Length, and
// helpers to send one request and check the broker still answers.
import assert from 'node:assert/strict';
import net from 'node:net';
import { PUBLISH_ALL, HUB } from './broker.mjs';

export class Conn {
  constructor(port) {
    this.buf = Buffer.alloc(0);
    this.closed = false;
    this.error = null;
    this.waiters = [];
    this.sock = net.connect(port, '127.0.0.1');
    this.sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.notify(); });
    this.sock.on('close', () => { this.closed = true; this.notify(); });
    this.sock.on('error', (e) => { this.error = e; this.notify(); });
    this.connected = new Promise((resolve, reject) => {
      this.sock.once('connect', resolve);
      this.sock.once('error', reject);
    });
  }

  static async open(port) {
    const c = new Conn(port);
    await c.connected;
    return c;
  }

  notify() { for (const w of this.waiters.splice(0)) w(); }

  write(bytes) { this.sock.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes); }

  async waitFor(pred, timeout, what) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const v = pred();
      if (v) return v;
      if (Date.now() > deadline) {
        throw new Error(`timeout waiting for ${what}; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 400))} closed=${this.closed}`);
      }
      await new Promise((r) => { this.waiters.push(r); setTimeout(r, 25); });
    }
  }

  // One complete response (status line, headers, Content-Length body), removed from the buffer.
  async response(timeout = 5000) {
    return this.waitFor(() => {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return null;
      const head = this.buf.subarray(0, end).toString('latin1');
      const lines = head.split('\r\n');
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0]);
      if (!m) throw new Error(`not a response: ${JSON.stringify(head)}`);
      const headers = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      const status = Number(m[1]);
      if (status === 100) {
        this.buf = this.buf.subarray(end + 4);
        return { status, headers, body: '', head };
      }
      const len = Number(headers['content-length'] ?? 0);
      if (this.buf.length < end + 4 + len) return null;
      const body = this.buf.subarray(end + 4, end + 4 + len).toString('utf8');
      this.buf = this.buf.subarray(end + 4 + len);
      return { status, headers, body, head };
    }, timeout, 'a response');
  }

  async waitClosed(timeout = 5000) {
    await this.waitFor(() => this.closed, timeout, 'the close');
  }

  destroy() { this.sock.destroy(); }
}

// Sends bytes on a fresh connection, returns the first response and whether the broker closed.
export async function exchange(port, bytes, { timeout = 5000 } = {}) {
  const c = await Conn.open(port);
  c.write(bytes);
  const res = await c.response(timeout);
  return { ...res, conn: c };
}

export async function healthy(port) {
  const c = await Conn.open(port);
  c.write('GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
  const r = await c.response(5000);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok\n');
  await c.waitClosed(5000);
}

export function publishBytes(body, { extra = '', token = PUBLISH_ALL, target = HUB } = {}) {
  const b = Buffer.from(body, typeof body === 'string' ? 'latin1' : undefined);
  return Buffer.concat([
    Buffer.from(`POST ${target} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${b.length}\r\n${extra}\r\n`, 'latin1'),
    b,
  ]);
}

