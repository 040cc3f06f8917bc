// Four workers, subscribers spread over them by the kernel, many concurrent publishers: every
// subscriber gets every update exactly once, all in one and the same order, and each publisher's
// updates in the order it published them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, RawSubscriber, PUBLISH_ALL, HUB, rawRequest } from './lib/broker.mjs';
import http from 'node:http';

let broker;
before(async () => { broker = await new Broker(['--workers', '4']).start(); });
after(async () => { await broker.stop(); });

const SUBSCRIBERS = 200;
const PUBLISHERS = 5;
const PER_PUBLISHER = 100;

function publisher(port, p) {
  // One keep-alive connection per publisher, requests one after the other.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const one = (i) => new Promise((resolve, reject) => {
    const body = `topic=${encodeURIComponent('https://example.com/mw/' + p)}&data=${p}-${i}`;
    const req = http.request({ host: '127.0.0.1', port, path: HUB, method: 'POST', agent, headers: {
      'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body),
      Authorization: `Bearer ${PUBLISH_ALL}`,
    } }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
  return (async () => {
    const ids = [];
    for (let i = 0; i < PER_PUBLISHER; i++) ids.push(await one(i));
    agent.destroy();
    return ids;
  })();
}

test('every subscriber on every worker gets every update once, in one global order', { timeout: 60000 }, async () => {
  const subs = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const q = i % 2 ? '?topic=*' : `?topic=${encodeURIComponent('https://example.com/mw/{p}')}`;
    subs.push(new RawSubscriber(broker.port, q));
  }
  await Promise.all(subs.map((s) => s.ready()));
  const streams = await broker.metric('ssebroker_streams');
  assert.equal(streams, SUBSCRIBERS);
  const perWorker = (await (await fetch(`${broker.base}/metrics`)).text())
    .split('\n').filter((l) => l.startsWith('ssebroker_streams{')).map((l) => Number(l.split(' ').pop()));
  assert.ok(perWorker.filter((n) => n > 0).length >= 2, `streams spread over workers: ${perWorker}`);

  const published = await Promise.all(Array.from({ length: PUBLISHERS }, (_, p) => publisher(broker.port, p)));
  const total = PUBLISHERS * PER_PUBLISHER;
  const reference = null;
  let order = reference;
  for (const s of subs) {
    await s.waitFor((x) => x.events.length >= total, 20000);
    const ids = s.events.map((e) => e.id);
    assert.equal(ids.length, total, 'no duplicate');
    assert.equal(new Set(ids).size, total, 'no duplicate id');
    if (!order) order = ids;
    else assert.deepEqual(ids, order, 'the same order for everyone');
  }
  // Each publisher's updates appear in the order it got them acknowledged.
  for (const ids of published) {
    const positions = ids.map((id) => order.indexOf(id));
    assert.ok(positions.every((pos) => pos >= 0), 'every acknowledged update delivered');
    for (let i = 1; i < positions.length; i++) assert.ok(positions[i] > positions[i - 1]);
  }
  for (const s of subs) s.close();
});

test('a publish that finds the bus full is parked, not slept on: pipelined publishes all land, in order', async () => {
  // 16 bus slots and 100 publishes pipelined on one connection: the worker fills the bus from its
  // own input before its own cursor can move, so later publishes wait for room (parked, with the
  // rest of the input kept) and are answered as the workers drain, each 200, in request order.
  const b = await new Broker(['--workers', '2', '--bus-size', '16', '--publish-wait', '5s']).start();
  try {
    const sub = new RawSubscriber(b.port, '?topic=pipelined');
    await sub.ready();
    const N = 100;
    let bytes = '';
    for (let i = 0; i < N; i++) {
      const body = `topic=pipelined&id=p-${i}&data=${i}`;
      bytes += `POST ${HUB} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${PUBLISH_ALL}\r\n` +
        `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    }
    const out = await rawRequest(b.port, bytes, { until: /\r\n\r\np-99$/, timeout: 20000 });
    const answers = [...out.matchAll(/HTTP\/1\.1 (\d{3}) [^]*?\r\n\r\n(p-\d+|[^H]*)/g)].map((m) => [m[1], m[2]]);
    assert.equal(answers.length, N, out.slice(0, 500));
    answers.forEach(([status, body], i) => {
      assert.equal(status, '200');
      assert.equal(body, `p-${i}`);
    });
    await sub.waitFor((s) => s.events.length === N, 10000);
    assert.deepEqual(sub.events.map((e) => e.id), Array.from({ length: N }, (_, i) => `p-${i}`));
    assert.ok((await b.metric('ssebroker_publishes_parked_total')) > 0, 'no publish was parked');
    assert.equal(await b.metric('ssebroker_publishes_rejected_total'), 0);
    sub.close();
  } finally {
    await b.stop();
  }
});
