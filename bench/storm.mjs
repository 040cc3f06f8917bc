// The deep-replay reconnect storm against a running broker with an embedded log: publishes
// `updates` updates of ~1 KB with known ids (unless told they are there), then `subs`
// subscribers connect at once, each resuming from an id spread over the history (most of them
// older than the in-memory tier: found and replayed from the files), and read everything.
// Prints one JSON line: time until every head arrived (the id lookups) and until every stream had
// all it was owed, and the broker's peak heap and RSS meanwhile.
//
// usage: node bench/storm.mjs PORT PID [subs=200] [updates=20000] [publish=1]
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import crypto from 'node:crypto';

const [port, pid] = [Number(process.argv[2]), Number(process.argv[3])];
const subs = Number(process.argv[4] || 200);
const updates = Number(process.argv[5] || 20000);
const publish = (process.argv[6] || '1') === '1';
const KEY = '!ChangeThisMercureHubJWTSecretKey!';
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ mercure: { publish: ['*'] } })}`;
const token = `${unsigned}.${crypto.createHmac('sha256', KEY).update(unsigned).digest('base64url')}`;

async function publishAll() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const data = 'x'.repeat(1000);
  for (let i = 0; i < updates; i++) {
    const body = `topic=storm&id=d-${i}&data=${data}`;
    await new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/.well-known/mercure', method: 'POST', agent, headers: {
        'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': body.length, Authorization: `Bearer ${token}`,
      } }, (res) => { res.resume(); res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`publish ${res.statusCode}`)))); });
      req.on('error', reject);
      req.end(body);
    });
  }
  agent.destroy();
}

async function heap() {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  const m = /^ssebroker_heap_allocated_bytes (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

function rss() {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

if (publish) await publishAll();
const heap0 = await heap();
let peakHeap = heap0;
let peakRss = rss();
const sampler = setInterval(async () => {
  peakHeap = Math.max(peakHeap, await heap());
  peakRss = Math.max(peakRss, rss());
}, 100);
const t0 = process.hrtime.bigint();
const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
const heads = [];
const done = await Promise.all(Array.from({ length: subs }, (_, i) => new Promise((resolve) => {
  const from = Math.floor((i * updates) / subs); // d-0, d-100, ...: spread over the history
  const owed = updates - from - 1;
  const sock = net.connect(port, '127.0.0.1');
  let got = 0;
  let head = false;
  let tail = '';
  sock.on('connect', () => sock.write(`GET /.well-known/mercure?topic=storm HTTP/1.1\r\nHost: t\r\nLast-Event-ID: d-${from}\r\n\r\n`));
  sock.on('data', (d) => {
    const s = tail + d.toString('latin1');
    if (!head && s.includes('\r\n\r\n')) { head = true; heads.push(ms()); }
    for (let k = s.indexOf('\nid: '); k >= 0; k = s.indexOf('\nid: ', k + 1)) got++;
    tail = s.slice(-4);
    if (got >= owed) { sock.destroy(); resolve(ms()); }
  });
  sock.on('error', () => resolve(NaN));
})));
clearInterval(sampler);
heads.sort((a, b) => a - b);
const pct = (a, p) => a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))];
console.log(JSON.stringify({
  subs, updates,
  heads_p50_ms: +pct(heads, 50).toFixed(1), heads_max_ms: +heads.at(-1).toFixed(1),
  all_done_s: +(Math.max(...done) / 1000).toFixed(2), incomplete: done.filter((x) => Number.isNaN(x)).length,
  heap_growth_mib: +((peakHeap - heap0) / 1048576).toFixed(1), peak_rss_mib: +(peakRss / 1048576).toFixed(1),
}));
