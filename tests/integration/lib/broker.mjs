// Starts the real ssebroker binary on a free loopback port and gives tests small, honest clients:
// raw sockets for exact bytes, fetch for requests, JWT signing with node:crypto.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = process.env.SSEBROKER_BIN || path.join(root, 'build/ssebroker');
export const DEV_KEY = '!ChangeThisMercureHubJWTSecretKey!';
export const HUB = '/.well-known/mercure';

const SANITIZER_REPORT = /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer|runtime error:)/;

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export function jwt(claims, { key = DEV_KEY, alg = 'HS256', header = {} } = {}) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const h = b64({ alg, typ: 'JWT', ...header });
  const p = b64(claims);
  if (alg === 'none') return `${h}.${p}.`;
  const sig = crypto.createHmac('sha' + alg.slice(2), key).update(`${h}.${p}`).digest('base64url');
  return `${h}.${p}.${sig}`;
}

export const PUBLISH_ALL = jwt({ mercure: { publish: ['*'], subscribe: ['*'] } });

// Publishing over keep-alive connections (at most `conns` in flight). send(body) resolves to the
// answer's { status, text } (status 0: the connection failed); publish(body) resolves once it
// is acknowledged with 200 and rejects otherwise.
export function keepAlivePublisher(port, conns = 8, token = PUBLISH_ALL) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const send = (body) => new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: HUB, method: 'POST', agent, headers: {
      'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body), Authorization: `Bearer ${token}`,
    } }, (res) => { let text = ''; res.on('data', (d) => { text += d; }); res.on('end', () => resolve({ status: res.statusCode, text })); });
    req.on('error', () => resolve({ status: 0, text: '' }));
    req.end(body);
  });
  const publish = async (body) => {
    const r = await send(body);
    if (r.status !== 200) throw new Error(`publish: ${r.status}`);
  };
  return { send, publish, close: () => agent.destroy() };
}

// bin: another binary than SSEBROKER_BIN (benchmarks compare builds side by side).
export class Broker {
  constructor(args = [], env = {}) {
    this.args = args;
    this.env = env;
    this.stderr = '';
  }

  async start() {
    // SSEB_TEST_LOG=1: every broker keeps its history in an embedded log of its own (the suites
    // then run against the asynchronous store, fsync always).
    if (process.env.SSEB_TEST_LOG && !this.args.includes('--history-dir')) {
      this.historyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sseb-log-'));
      this.args = [...this.args, '--history-dir', this.historyDir];
    }
    // fixedPort: a test that must name the hub's URL before it starts (its own public URL).
    this.port = this.fixedPort || await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    this.proc = spawn(this.bin || BIN, ['--listen', `127.0.0.1:${this.port}`, ...this.args], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    // A failed assertion must not leave a broker running, nor keep the test process alive.
    this.proc.unref();
    this.proc.stderr.unref();
    const child = this.proc;
    process.once('exit', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      try {
        // A raw request with Connection: close, so no pooled connection counts against limits.
        const out = await rawRequest(this.port, 'GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', { timeout: 1000 });
        if (out.startsWith('HTTP/1.1 200')) return this;
      } catch { /* not listening yet */ }
      await sleep(50);
    }
    throw new Error(`broker did not start: ${this.stderr}`);
  }

  // SIGTERM, then checks a clean exit and no sanitizer report.
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return this.checkExit(await this.exited);
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 15000);
    const result = await this.exited;
    clearTimeout(timer);
    return this.checkExit(result);
  }

  checkExit({ code, signal }) {
    if (this.historyDir) fs.rmSync(this.historyDir, { recursive: true, force: true });
    if (SANITIZER_REPORT.test(this.stderr)) throw new Error(`sanitizer report:\n${this.stderr}`);
    if (code !== 0) throw new Error(`broker exited with code ${code} signal ${signal}:\n${this.stderr}`);
  }

  url(query = '') {
    return `${this.base}${HUB}${query}`;
  }

  async publish(fields, { token = PUBLISH_ALL, headers = {} } = {}) {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(fields)) {
      for (const item of Array.isArray(v) ? v : [v]) body.append(k, item);
    }
    const h = { 'Content-Type': 'application/x-www-form-urlencoded', ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    const res = await fetch(this.url(), { method: 'POST', headers: h, body: body.toString() });
    return { status: res.status, body: await res.text(), headers: res.headers };
  }

  async metric(name) {
    const text = await (await fetch(`${this.base}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.split(' ').pop());
    }
    return sum;
  }
}

// Sends raw bytes and collects the response until the socket closes or `until` matches.
export function rawRequest(port, bytes, { until, timeout = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    const done = () => { clearTimeout(timer); sock.destroy(); resolve(data); };
    const timer = setTimeout(done, timeout);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (d) => { data += d.toString('latin1'); if (until && until.test(data)) done(); });
    sock.on('end', done);
    sock.on('close', done);
    sock.on('error', (e) => { clearTimeout(timer); if (data) resolve(data); else reject(e); });
  });
}

// A raw SSE subscriber: keeps the bytes and parses events as they arrive.
// The complete events of an SSE body (what follows the response head), as an EventSource reads
// them: data lines joined with \n, other fields by name; comments only mark the event.
export function parseSseEvents(body) {
  const blocks = body.split('\n\n');
  blocks.pop(); // incomplete tail
  const events = [];
  for (const block of blocks) {
    const ev = { data: [], comment: false };
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) { ev.comment = true; continue; }
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'data') ev.data.push(value);
      else if (field) ev[field] = value;
    }
    if (ev.id !== undefined || ev.data.length) events.push({ ...ev, data: ev.data.join('\n') });
  }
  return events;
}

export class RawSubscriber {
  constructor(port, query, headers = {}) {
    this.raw = '';
    this.events = [];
    this.closed = false;
    this.waiters = [];
    this.sock = net.connect(port, '127.0.0.1');
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    this.sock.on('connect', () => this.sock.write(`GET ${HUB}${query} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n${extra}\r\n`));
    this.sock.on('data', (d) => { this.raw += d.toString('utf8'); this.parse(); });
    this.sock.on('close', () => { this.closed = true; this.notify(); });
    this.sock.on('error', () => {});
  }

  get headers() {
    const end = this.raw.indexOf('\r\n\r\n');
    return end < 0 ? null : this.raw.slice(0, end);
  }

  parse() {
    const end = this.raw.indexOf('\r\n\r\n');
    if (end < 0) return;
    this.events = parseSseEvents(this.raw.slice(end + 4));
    this.notify();
  }

  notify() {
    for (const w of this.waiters.splice(0)) w();
  }

  async waitFor(pred, timeout = 5000) {
    const deadline = Date.now() + timeout;
    while (!pred(this)) {
      if (Date.now() > deadline) throw new Error(`timeout; got ${this.events.length} events: ${this.raw.slice(0, 2000)}`);
      await new Promise((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
  }

  async ready() {
    await this.waitFor((s) => s.headers !== null || s.closed);
  }

  close() {
    this.sock.destroy();
  }
}
