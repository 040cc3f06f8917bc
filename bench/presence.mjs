// Presence across a cluster at scale: N members of one presence room join on node A; how long
// until node B's subscriptions API lists them all, what B's snapshot answer costs with N members,
// what the registry costs B in memory, and how long after A is killed (SIGKILL) B lists none.
// The snapshot's cost is curl's time to its first and last byte (the server's side).
//
//   node bench/presence.mjs [BIN] [N]        (defaults: build/ssebroker, 5000)
//
// Starts its own redis-server and two nodes on free loopback ports; stops them all.
import net from 'node:net';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Broker, HUB, jwt, sleep } from '../tests/integration/lib/broker.mjs';
import { RedisServer } from '../tests/integration/lib/redis.mjs';

const BIN = process.argv[2] || 'build/ssebroker';
const N = Number(process.argv[3] || 5000);
const RESOURCE = 'https://hub.example/.well-known/mercure';
const ISSUER = 'https://app.example';
const SUBS = `${HUB}/subscriptions`;
const ROOM = 'https://laravel.alt/echo/channel/presence-bench';
const enc = (s) => encodeURIComponent(s);
const now = Math.floor(Date.now() / 1000);
const token = (name) => jwt({
  iss: ISSUER, aud: RESOURCE, sub: name, iat: now, exp: now + 3600,
  authorization_details: [{ type: 'https://mercure.rocks/authorization-detail', actions: ['subscribe'],
    topics: [{ match: ROOM }, { match: `${SUBS}/:match_type/${enc(ROOM)}{/:subscriber}?`, match_type: 'urlpattern' }],
    payload: { id: name, name: `member ${name}` } }],
}, { header: { typ: 'at+jwt' } });

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

async function count(b) {
  const res = await fetch(`${b.base}${SUBS}/exact/${enc(ROOM)}`, { headers: { Authorization: `Bearer ${token('reader')}` } });
  return (await res.json()).subscriptions.length;
}

async function until(pred, timeout) {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > timeout) throw new Error('timed out');
    await sleep(20);
  }
  return Date.now() - t0;
}

const redis = await new RedisServer({ aof: false }).start();
const args = ['--redis', redis.url, '--workers', '2', '--subscriptions', '--resource-identifier', RESOURCE, '--jwt-issuer', ISSUER];
const a = await Object.assign(new Broker(args), { bin: BIN }).start();
const b = await Object.assign(new Broker(args), { bin: BIN }).start();
const socks = [];
try {
  const rss0 = rssKiB(b.proc.pid);
  const t0 = Date.now();
  for (let i = 0; i < N; i++) {
    const s = net.connect(a.port, '127.0.0.1');
    s.on('error', () => {});
    s.write(`GET ${HUB}?match=${enc(ROOM)} HTTP/1.1\r\nHost: a\r\nCookie: __Secure-mercure_access_token=${token(String(i))}\r\n\r\n`);
    socks.push(s);
    if (i % 500 === 499) await sleep(10);
  }
  const listed = await until(async () => { const k = await count(b); if (process.env.DEBUG) console.error('listed', k); return k === N; }, 120000);
  const joinMs = Date.now() - t0;
  const rss1 = rssKiB(b.proc.pid);
  // The server's side of the snapshot: curl's time to the first and the last byte.
  const ttfb = [], total = [];
  let bytes = 0;
  for (let i = 0; i < 20; i++) {
    const out = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{time_starttransfer} %{time_total} %{size_download}',
      '-H', `Authorization: Bearer ${token('reader')}`, `${b.base}${SUBS}/exact/${enc(ROOM)}`]).toString().split(' ');
    ttfb.push(Number(out[0]) * 1000);
    total.push(Number(out[1]) * 1000);
    bytes = Number(out[2]);
  }
  ttfb.sort((x, y) => x - y);
  total.sort((x, y) => x - y);
  const killed = Date.now();
  a.proc.ref(); // its exit must keep this process waiting once the sockets are gone
  a.proc.kill('SIGKILL');
  await a.exited;
  await until(async () => (await count(b)) === 0, 60000);
  const reapMs = Date.now() - killed;
  console.log(JSON.stringify({
    members: N,
    all_listed_on_b_ms: joinMs,
    listed_after_last_join_ms: listed,
    b_rss_growth_kib: rss1 - rss0,
    b_rss_per_member_bytes: Math.round(((rss1 - rss0) * 1024) / N),
    snapshot_bytes: bytes,
    snapshot_first_byte_ms_p50: +ttfb[10].toFixed(2),
    snapshot_last_byte_ms_p50: +total[10].toFixed(2),
    snapshot_last_byte_ms_max: +total[19].toFixed(2),
    all_gone_on_b_after_kill_ms: reapMs,
  }));
} finally {
  socks.forEach((s) => s.destroy());
  if (a.proc.exitCode === null && a.proc.signalCode === null) await a.stop();
  await b.stop();
  await redis.stop();
}
