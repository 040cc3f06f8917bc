// The cluster as deployed (docker/compose.yml) on loopback: redis-server, three broker nodes and
// HAProxy running docker/haproxy.cfg. Subscribers are real clients through HAProxy (the
// eventsource npm client, which reconnects with Last-Event-ID by itself, and headless Chromium
// over TLS and HTTP/2); publishers hit every node at once. What each subscriber received is
// compared with what the publishers were told was accepted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Cluster, until, status } from './lib/cluster.mjs';
import { PUBLISH_ALL, HUB, RawSubscriber, keepAlivePublisher, rawRequest, sleep } from '../integration/lib/broker.mjs';

// The test clients are installed with the integration suite's (scripts/setup.sh).
const requireClient = createRequire(new URL('../integration/package.json', import.meta.url));
const EventSource = requireClient('eventsource');
const { chromium } = requireClient('playwright-core');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

// Publishes to one port (a node, or HAProxy) until stopped; returns the acknowledged ids, in order.
function publisher(port, prefix, { topic = 'c', pauseMs = 5 } = {}) {
  let stopped = false;
  const done = (async () => {
    const pub = keepAlivePublisher(port, 1);
    const acked = [];
    for (let i = 0; !stopped; i++) {
      const id = `${prefix}-${i}`;
      const r = await pub.send(`topic=${topic}&id=${id}&data=${i}`);
      if (r.status === 200 && r.text === id) acked.push(id);
      await sleep(pauseMs);
    }
    pub.close();
    return acked;
  })();
  return { stop: () => { stopped = true; return done; } };
}

// An eventsource client through HAProxy; it records every event and every (re)connection.
function subscriber(cluster, topic = 'c') {
  const s = { got: [], opens: 0 };
  s.es = new EventSource(`${cluster.base}${HUB}?topic=${topic}`);
  s.es.onopen = () => { s.opens++; };
  s.es.onmessage = (e) => s.got.push(e.lastEventId);
  s.es.onerror = () => {};
  return s;
}

function checkDelivery(subs, acked) {
  const all = acked.flat();
  for (const [k, s] of subs.entries()) {
    assert.equal(new Set(s.got).size, s.got.length, `subscriber ${k}: nothing twice`);
    const have = new Set(s.got);
    const missing = all.filter((id) => !have.has(id));
    assert.deepEqual(missing, [], `subscriber ${k}: every acknowledged update`);
  }
  // One order everywhere: the acknowledged updates appear in the same relative order.
  const ackedSet = new Set(all);
  const ref = subs[0].got.filter((id) => ackedSet.has(id));
  for (const s of subs) assert.deepEqual(s.got.filter((id) => ackedSet.has(id)), ref, 'the same order everywhere');
  const pos = new Map(ref.map((id, i) => [id, i]));
  for (const series of acked) for (let i = 1; i < series.length; i++) assert.ok(pos.get(series[i - 1]) < pos.get(series[i]));
}

async function settle(subs, acked, timeout = 15000) {
  const all = acked.flat();
  await until(() => subs.every((s) => all.every((id) => s.got.includes(id))), 'every acknowledged update delivered', timeout)
    .catch(() => {});
  await sleep(300);
}

test('the shipped HAProxy config (haproxy -c first) spreads new streams over every ready node', async () => {
  const c = await new Cluster().start();
  try {
    const subs = [];
    for (let i = 0; i < 9; i++) {
      const s = new RawSubscriber(c.httpPort, '?topic=spread');
      subs.push(s);
      await s.ready();
      assert.match(s.headers, /^HTTP\/1\.1 200/);
    }
    for (const b of c.nodes) assert.ok(await b.metric('ssebroker_streams') >= 1, `node :${b.port} got none of 9 streams`);
    subs.forEach((s) => s.close());
  } finally {
    await c.stop();
  }
});

test('cross-node fan-out through HAProxy: concurrent publishers on every node, exactly once and in one order', async () => {
  const c = await new Cluster().start();
  try {
    const subs = Array.from({ length: 9 }, () => subscriber(c));
    await until(() => subs.every((s) => s.opens === 1), 'subscribers open');
    const streams = await Promise.all(c.nodes.map((b) => b.metric('ssebroker_streams')));
    assert.ok(streams.every((n) => n >= 1), `streams spread over every node (${streams})`);
    const pubs = c.nodes.flatMap((b, i) => [publisher(b.port, `n${i}a`), publisher(b.port, `n${i}b`)]);
    await sleep(1500);
    const acked = await Promise.all(pubs.map((p) => p.stop()));
    assert.ok(acked.every((a) => a.length > 10), 'every publisher got through');
    await settle(subs, acked);
    checkDelivery(subs, acked);
    subs.forEach((s) => s.es.close());
  } finally {
    await c.stop();
  }
});

test('a node killed with SIGKILL mid-stream: its clients reconnect through HAProxy with Last-Event-ID and lose nothing', async () => {
  const c = await new Cluster().start();
  try {
    const subs = Array.from({ length: 9 }, () => subscriber(c));
    await until(() => subs.every((s) => s.opens === 1), 'subscribers open');
    const victim = c.nodes[0];
    const onVictim = await victim.metric('ssebroker_streams');
    assert.ok(onVictim >= 1, 'the node to kill serves some of them');
    // Publishers on the two surviving nodes and through HAProxy.
    const pubs = [publisher(c.nodes[1].port, 'p1'), publisher(c.nodes[2].port, 'p2'), publisher(c.httpPort, 'lb')];
    await sleep(500);
    victim.proc.ref();
    victim.proc.kill('SIGKILL');
    await victim.exited;
    await sleep(1500);
    const acked = await Promise.all(pubs.map((p) => p.stop()));
    await settle(subs, acked);
    assert.ok(subs.filter((s) => s.opens >= 2).length >= onVictim, 'the killed node\'s clients reconnected');
    checkDelivery(subs, acked);
    subs.forEach((s) => s.es.close());
  } finally {
    await c.stop();
  }
});

test('a node drained with SIGTERM is taken out at once: new streams go elsewhere, its clients move with no loss', async () => {
  const c = await new Cluster({ nodeArgs: ['--drain-timeout', '3s'] }).start();
  try {
    const subs = Array.from({ length: 9 }, () => subscriber(c));
    await until(() => subs.every((s) => s.opens === 1), 'subscribers open');
    const pub = publisher(c.nodes[1].port, 'p');
    await sleep(300);
    const drained = c.nodes[0];
    drained.proc.kill('SIGTERM');
    await sleep(50);
    // Right away, every new stream through HAProxy is served (by the other nodes).
    const heads = await Promise.all(Array.from({ length: 10 }, (_, i) => rawRequest(c.httpPort,
      `GET ${HUB}?topic=probe&n=${i} HTTP/1.1\r\nHost: t\r\n\r\n`, { until: /\r\n\r\n/, timeout: 3000 }).catch(() => '')));
    assert.deepEqual(heads.map((h) => h.slice(0, 12)), heads.map(() => 'HTTP/1.1 200'));
    await drained.exited;
    await sleep(1000);
    const acked = [await pub.stop()];
    await settle(subs, acked);
    checkDelivery(subs, acked);
    subs.forEach((s) => s.es.close());
  } finally {
    await c.stop();
  }
});

test('Redis killed and restarted mid-stream: publishes refused meanwhile, streams stay up, nothing acknowledged lost', async () => {
  const c = await new Cluster().start();
  try {
    const subs = Array.from({ length: 6 }, () => subscriber(c));
    await until(() => subs.every((s) => s.opens === 1), 'subscribers open');
    const pubs = c.nodes.map((b, i) => publisher(b.port, `n${i}`));
    await sleep(500);
    await c.redis.kill();
    await sleep(500);
    // Not ready anywhere: HAProxy has no node to send new clients to.
    await until(async () => (await status(c.httpPort, '/readyz')) === 503, 'no ready node behind HAProxy');
    await c.redis.start();
    await until(async () => (await status(c.httpPort, '/readyz')) === 200, 'ready again', 15000);
    await sleep(500);
    const acked = await Promise.all(pubs.map((p) => p.stop()));
    await settle(subs, acked);
    assert.ok(subs.every((s) => s.opens === 1), 'no stream was cut');
    checkDelivery(subs, acked);
    for (const b of c.nodes) assert.equal(await b.metric('ssebroker_history_discontinuities_total'), 0);
    subs.forEach((s) => s.es.close());
  } finally {
    await c.stop();
  }
});

test('Chromium over TLS and HTTP/2 through HAProxy: more than six EventSource streams from one page all receive', async () => {
  const c = await new Cluster().start();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`https://127.0.0.1:${c.httpsPort}/`);
    assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol), 'h2');
    const STREAMS = 10;
    await page.evaluate((n) => new Promise((resolve, reject) => {
      window.got = Array.from({ length: n }, () => []);
      let open = 0;
      for (let i = 0; i < n; i++) {
        const es = new EventSource(`/.well-known/mercure?topic=h2&stream=${i}`);
        es.onopen = () => { if (++open === n) resolve(); };
        es.onmessage = (e) => window.got[i].push(e.data);
      }
      setTimeout(() => reject(new Error(`only ${open} of ${n} streams opened`)), 10000);
    }), STREAMS);
    const res = await fetch(`${c.base}${HUB}`, { method: 'POST', headers: {
      'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Bearer ${PUBLISH_ALL}`,
    }, body: 'topic=h2&data=to-every-stream' });
    assert.equal(res.status, 200);
    await page.waitForFunction((n) => window.got.filter((g) => g.length > 0).length === n, STREAMS, { timeout: 10000 });
    assert.deepEqual(await page.evaluate(() => window.got), Array.from({ length: STREAMS }, () => ['to-every-stream']));
    await context.close();
  } finally {
    await browser.close();
    await c.stop();
  }
});
