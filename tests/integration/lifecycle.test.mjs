// Lifecycle: heartbeats, graceful drain on SIGTERM, reconnect storms. (Limits and timeouts:
// bad_input.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { Broker, BIN, RawSubscriber, sleep } from './lib/broker.mjs';

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

test('a second broker on a port already in use exits at once, instead of sharing its traffic', async () => {
  // Every worker listens with SO_REUSEPORT, which would let a second process bind the same port
  // and silently take half of the new connections.
  const b = await new Broker([]).start();
  try {
    const r = spawnSync(BIN, ['--listen', `127.0.0.1:${b.port}`], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${b.port}: address in use`));
    assert.equal((await fetch(`${b.base}/healthz`)).status, 200, 'the first one serves on');
  } finally {
    await b.stop();
  }
});
