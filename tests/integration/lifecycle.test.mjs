// Time and limits: heartbeats, timeouts, connection caps, slow consumers, graceful drain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Broker, RawSubscriber, HUB, sleep, rawRequest } from './lib/broker.mjs';

test('idle streams get heartbeat comments', async () => {
  const b = await new Broker(['--heartbeat', '200ms']).start();
  const sub = new RawSubscriber(b.port, '?topic=hb');
  await sub.ready();
  await sleep(700);
  const body = sub.raw.slice(sub.raw.indexOf('\r\n\r\n') + 4);
  assert.ok((body.match(/^:\n/gm) || []).length >= 2, JSON.stringify(body));
  assert.ok(await b.metric('ssebroker_heartbeats_total') >= 2);
  sub.close();
  await b.stop();
});

test('SIGTERM: readiness fails, streams get a retry hint and close, exit 0', async () => {
  const b = await new Broker(['--drain-timeout', '3s', '--retry-hint', '1234ms']).start();
  const subs = [new RawSubscriber(b.port, '?topic=d'), new RawSubscriber(b.port, '?topic=d')];
  await Promise.all(subs.map((s) => s.ready()));
  const t0 = Date.now();
  b.proc.kill('SIGTERM');
  for (const s of subs) {
    await s.waitFor((x) => x.closed, 4000);
    assert.ok(s.raw.endsWith('retry: 1234\n\n'), JSON.stringify(s.raw.slice(-40)));
  }
  await b.stop();
  assert.ok(Date.now() - t0 < 3500);
});

test('connection cap: beyond it a clean 503, then service resumes', async () => {
  const b = await new Broker(['--max-connections', '20', '--workers', '2']).start();
  const held = [];
  for (let i = 0; i < 20; i++) held.push(new RawSubscriber(b.port, '?topic=cap'));
  await Promise.all(held.map((s) => s.ready()));
  for (const s of held) assert.match(s.headers, /^HTTP\/1\.1 200 /);
  const out = await rawRequest(b.port, 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 503 /);
  assert.match(out, /Retry-After: 1/);
  for (const s of held) s.close();
  await sleep(200);
  assert.equal((await fetch(`${b.base}/healthz`)).status, 200);
  await b.stop();
});

test('slow-loris: an unfinished request is answered 408 and closed', async () => {
  const b = await new Broker(['--header-timeout', '500ms']).start();
  const t0 = Date.now();
  const out = await rawRequest(b.port, 'GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: ', { timeout: 5000 });
  assert.match(out, /^HTTP\/1\.1 408 /);
  assert.ok(Date.now() - t0 < 3000);
  await b.stop();
});

test('idle keep-alive connections are closed after the timeout', async () => {
  const b = await new Broker(['--keepalive-timeout', '500ms']).start();
  const sock = net.connect(b.port, '127.0.0.1');
  let data = '';
  sock.on('data', (d) => { data += d; });
  const closed = new Promise((r) => sock.on('close', r));
  sock.write('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n');
  const t0 = Date.now();
  await closed;
  assert.match(data, /^HTTP\/1\.1 200 /);
  assert.ok(Date.now() - t0 < 3000);
  await b.stop();
});

test('a subscriber that stops reading is cut at its queue budget and resumes by Last-Event-ID', async () => {
  const b = await new Broker(['--max-queued-bytes', '65536', '--workers', '1']).start();
  // A socket that never reads: the kernel buffers fill, then the broker's queue, then it is cut.
  const stalled = net.connect({ port: b.port, host: '127.0.0.1' });
  stalled.on('error', () => {});
  await new Promise((r) => stalled.on('connect', r));
  stalled.pause();
  stalled.write(`GET ${HUB}?topic=slow HTTP/1.1\r\nHost: a\r\n\r\n`);
  await sleep(200);
  // More than the loopback socket buffers can absorb (they grow to several MiB).
  const data = 'x'.repeat(200000);
  const ids = [];
  for (let i = 0; i < 100; i++) ids.push((await b.publish({ topic: 'slow', data })).body);
  const deadline = Date.now() + 5000;
  while (await b.metric('ssebroker_slow_consumers_total') < 1 && Date.now() < deadline) await sleep(50);
  assert.equal(await b.metric('ssebroker_slow_consumers_total'), 1);
  stalled.destroy();
  // Resuming from an early id replays the rest, in order.
  const sub = new RawSubscriber(b.port, '?topic=slow', { 'Last-Event-ID': ids[39] });
  await sub.waitFor((s) => s.events.length === 60, 10000);
  assert.deepEqual(sub.events.map((e) => e.id), ids.slice(40));
  sub.close();
  await b.stop();
});

test('a reconnect storm queued while the worker is busy is served whole', async () => {
  // The worker is stopped while 600 connections queue in its listen backlog, more than one accept
  // batch (256): every one of them must be answered once it runs again, without a new arrival.
  const b = await new Broker(['--workers', '1', '--header-timeout', '30s']).start();
  const N = 600;
  b.proc.kill('SIGSTOP');
  const answered = [];
  const socks = [];
  try {
    await Promise.all(Array.from({ length: N }, () => new Promise((resolve, reject) => {
      const sock = net.connect(b.port, '127.0.0.1');
      socks.push(sock);
      let data = '';
      const done = new Promise((r) => {
        sock.on('data', (d) => { data += d; });
        sock.on('close', () => r(data));
        sock.on('error', () => r(data));
      });
      answered.push(done);
      sock.on('connect', () => {
        sock.write('GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
        resolve();
      });
      sock.on('error', reject);
    })));
    b.proc.kill('SIGCONT');
    const deadline = sleep(15000).then(() => null);
    const results = await Promise.all(answered.map((p) => Promise.race([p, deadline])));
    const ok = results.filter((r) => r && r.startsWith('HTTP/1.1 200')).length;
    assert.equal(ok, N, `${ok} of ${N} queued connections answered`);
  } finally {
    b.proc.kill('SIGCONT');
    for (const s of socks) s.destroy();
    await b.stop();
  }
});
