// Pattern subscribers against a running broker (issue 19, "Measured"): `subs` subscribers, each
// with one pattern of its own, either draft-07 URI templates (topic=https://example.com/t/<i>/{id})
// or Mercure 1.0 URL Patterns (match_urlpattern=https://example.com/t/<i>/:id). Measures the time
// until every stream's head arrived (subscribe cost: parsing, compiling, indexing), then publishes
// `updates` updates, each to a topic no one published before (https://example.com/t/<k>/<n>: every
// publish misses the per-worker match cache and is tried against every pattern) with 8 publishers
// on keep-alive connections, and measures until every subscriber got what it was owed.
// Prints one JSON line.
//
// With the broker's PID, also its CPU time (user + system) per publish while publishing.
//
// usage: node bench/patterns.mjs PORT template|urlpattern|exact [subs=1000] [updates=20000] [PID]
import http from 'node:http';
import net from 'node:net';
import crypto from 'node:crypto';
import fs from 'node:fs';

const port = Number(process.argv[2]);
const kind = process.argv[3];
const subs = Number(process.argv[4] || 1000);
const updates = Number(process.argv[5] || 20000);
const pid = Number(process.argv[6] || 0);
if (!port || !['template', 'urlpattern', 'exact'].includes(kind)) {
  console.error('usage: node bench/patterns.mjs PORT template|urlpattern|exact [subs] [updates] [PID]');
  process.exit(2);
}
const KEY = '!ChangeThisMercureHubJWTSecretKey!';
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ mercure: { publish: ['*'] } })}`;
const token = `${unsigned}.${crypto.createHmac('sha256', KEY).update(unsigned).digest('base64url')}`;

// exact: the same load with no pattern at all (each subscriber follows one exact topic that is
// never published), the publishers' and the delivery path's own cost.
const query = (i) => ({
  template: `topic=${encodeURIComponent(`https://example.com/t/${i}/{id}`)}`,
  urlpattern: `match_urlpattern=${encodeURIComponent(`https://example.com/t/${i}/:id`)}`,
  exact: `match=${encodeURIComponent(`https://example.com/t/${i}`)}`,
})[kind];

// The broker's CPU seconds so far (utime + stime; clock ticks of 100 Hz).
const cpu = () => {
  if (!pid) return 0;
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

function subscribe(i) {
  return new Promise((resolve, reject) => {
    const s = { sock: net.connect(port, '127.0.0.1'), head: false, got: 0, tail: '' };
    s.sock.on('connect', () => s.sock.write(`GET /.well-known/mercure?${query(i)} HTTP/1.1\r\nHost: b\r\n\r\n`));
    s.sock.on('data', (d) => {
      let text = s.tail + d.toString('latin1');
      if (!s.head) {
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) { s.tail = text; return; }
        if (!text.startsWith('HTTP/1.1 200')) reject(new Error(text.slice(0, 200)));
        s.head = true;
        resolve(s);
        text = text.slice(end + 4);
      }
      const lines = text.split('\n');
      s.tail = lines.pop();
      for (const l of lines) if (l.startsWith('id: ')) s.got++;
    });
    s.sock.on('error', reject);
  });
}

async function publishAll() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  let next = 0;
  const one = async () => {
    while (next < updates) {
      const n = next++;
      const body = `topic=${encodeURIComponent(`https://example.com/t/${n % subs}/${n}`)}&data=x`;
      await new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path: '/.well-known/mercure', method: 'POST', agent, headers: {
          'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': body.length, Authorization: `Bearer ${token}`,
        } }, (r) => { r.resume(); r.on('end', () => (r.statusCode === 200 ? resolve() : reject(new Error(`publish ${r.statusCode}`)))); });
        req.on('error', reject);
        req.end(body);
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, one));
  agent.destroy();
}

const t0 = performance.now();
const all = [];
for (let i = 0; i < subs; i += 100) {
  all.push(...await Promise.all(Array.from({ length: Math.min(100, subs - i) }, (_, k) => subscribe(i + k))));
}
const subscribed = performance.now() - t0;
const t1 = performance.now();
const cpu0 = cpu();
await publishAll();
const published = performance.now() - t1;
const owed = (i) => (kind === 'exact' ? 0 : Math.floor(updates / subs) + (i < updates % subs ? 1 : 0));
while (all.some((s, i) => s.got < owed(i))) await new Promise((r) => setTimeout(r, 5));
const delivered = performance.now() - t1;
const cpuUsed = cpu() - cpu0;
for (const s of all) s.sock.destroy();
console.log(JSON.stringify({
  kind, subs, updates,
  subscribe_ms: Math.round(subscribed), subscribe_us_each: Math.round((subscribed * 1000) / subs),
  publish_ms: Math.round(published), delivered_ms: Math.round(delivered),
  updates_per_s: Math.round(updates / (delivered / 1000)),
  ...(pid ? { broker_cpu_us_per_publish: Math.round((cpuUsed * 1e6) / updates) } : {}),
}));
