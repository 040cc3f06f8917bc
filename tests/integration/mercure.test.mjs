// Mercure features beyond plain pub/sub: token sources, private replay, token expiry, CORS,
// subscription events and the subscriptions API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import EventSource from 'eventsource';
import { Broker, RawSubscriber, jwt, sleep, HUB, rawRequest } from './lib/broker.mjs';

let broker;
before(async () => {
  broker = await new Broker(['--workers', '2', '--subscriptions', '--cors-origin', 'https://app.example']).start();
});
after(async () => { await broker.stop(); });

const SUB_ALL = jwt({ mercure: { subscribe: ['*'], payload: { user: 'alice' } } });

test('token sources: header, then authorization query parameter, then cookie', async () => {
  const viaQuery = new RawSubscriber(broker.port, `?topic=src&authorization=${SUB_ALL}`);
  const viaCookie = new RawSubscriber(broker.port, '?topic=src', { Cookie: `other=1; mercureAuthorization=${SUB_ALL}` });
  // A valid header wins over a broken cookie.
  const headerWins = new RawSubscriber(broker.port, '?topic=src', { Authorization: `Bearer ${SUB_ALL}`, Cookie: 'mercureAuthorization=broken' });
  await Promise.all([viaQuery.ready(), viaCookie.ready(), headerWins.ready()]);
  await broker.publish({ topic: 'src', data: 'p', private: 'on', id: 'src-1' });
  for (const s of [viaQuery, viaCookie, headerWins]) {
    await s.waitFor((x) => x.events.some((e) => e.id === 'src-1'));
    s.close();
  }
});

test('eventsource client with a cookie and with a query token gets private updates', async () => {
  const withCookie = new EventSource(broker.url('?topic=es-priv'), { headers: { Cookie: `mercureAuthorization=${SUB_ALL}` } });
  const withQuery = new EventSource(broker.url(`?topic=es-priv&authorization=${SUB_ALL}`));
  const anon = new EventSource(broker.url('?topic=es-priv'));
  const got = { withCookie: [], withQuery: [], anon: [] };
  withCookie.onmessage = (e) => got.withCookie.push(e.lastEventId);
  withQuery.onmessage = (e) => got.withQuery.push(e.lastEventId);
  anon.onmessage = (e) => got.anon.push(e.lastEventId);
  await Promise.all([withCookie, withQuery, anon].map((es) => new Promise((r) => { es.onopen = r; })));
  await broker.publish({ topic: 'es-priv', data: 'secret', private: 'on', id: 'es-p1' });
  await broker.publish({ topic: 'es-priv', data: 'open', id: 'es-p2' });
  const deadline = Date.now() + 5000;
  while ((got.withCookie.length < 2 || got.withQuery.length < 2 || got.anon.length < 1) && Date.now() < deadline) await sleep(20);
  assert.deepEqual(got.withCookie, ['es-p1', 'es-p2']);
  assert.deepEqual(got.withQuery, ['es-p1', 'es-p2']);
  assert.deepEqual(got.anon, ['es-p2']);
  for (const es of [withCookie, withQuery, anon]) es.close();
});

test('replay never reveals a private update, nor its id, to a subscriber who may not read it', async () => {
  await broker.publish({ topic: 'rp', data: 'a', id: 'rp-1' });
  await broker.publish({ topic: 'rp', data: 'hidden', id: 'rp-2', private: 'on' });
  await broker.publish({ topic: 'rp', data: 'b', id: 'rp-3' });
  const anon = new RawSubscriber(broker.port, '?topic=rp', { 'Last-Event-ID': 'rp-1' });
  const authorized = new RawSubscriber(broker.port, '?topic=rp', { 'Last-Event-ID': 'rp-1', Authorization: `Bearer ${SUB_ALL}` });
  await anon.waitFor((s) => s.events.length >= 1);
  await authorized.waitFor((s) => s.events.length >= 2);
  await sleep(100);
  assert.deepEqual(anon.events.map((e) => e.id), ['rp-3']);
  assert.doesNotMatch(anon.raw, /rp-2|hidden/);
  assert.deepEqual(authorized.events.map((e) => e.id), ['rp-2', 'rp-3']);
  anon.close();
  authorized.close();
});

test('a stream is closed when its token expires', async () => {
  const exp = Math.floor(Date.now() / 1000) + 2;
  const sub = new RawSubscriber(broker.port, '?topic=exp', { Authorization: `Bearer ${jwt({ exp, mercure: { subscribe: ['*'] } })}` });
  await sub.ready();
  assert.match(sub.headers, /^HTTP\/1\.1 200 /);
  await sub.waitFor((s) => s.closed, 5000);
  assert.ok(Date.now() / 1000 >= exp - 0.1);
});

test('--require-subscriber-token refuses anonymous subscribers', async () => {
  const b = await new Broker(['--require-subscriber-token']).start();
  const r = await fetch(b.url('?topic=x'));
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer');
  const ok = new RawSubscriber(b.port, '?topic=x', { Authorization: `Bearer ${SUB_ALL}` });
  await ok.ready();
  assert.match(ok.headers, /^HTTP\/1\.1 200 /);
  ok.close();
  await b.stop();
});

test('CORS: allowed origins get credentials, others nothing; preflight', async () => {
  const sub = new RawSubscriber(broker.port, '?topic=cors', { Origin: 'https://app.example' });
  await sub.ready();
  assert.match(sub.headers, /\r\nAccess-Control-Allow-Origin: https:\/\/app\.example\r\n/);
  assert.match(sub.headers, /\r\nAccess-Control-Allow-Credentials: true\r\n/);
  sub.close();
  const evil = new RawSubscriber(broker.port, '?topic=cors', { Origin: 'https://evil.example' });
  await evil.ready();
  assert.doesNotMatch(evil.headers, /Access-Control-Allow-Origin/);
  evil.close();
  const pre = await rawRequest(broker.port, `OPTIONS ${HUB} HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n`);
  assert.match(pre, /^HTTP\/1\.1 204 /);
  assert.match(pre, /Access-Control-Allow-Methods: [^\r]*POST/);
  assert.match(pre, /Access-Control-Allow-Headers: [^\r]*Authorization/);
});

test('cookie-authorized publish from a foreign origin is refused', async () => {
  const pubToken = jwt({ mercure: { publish: ['*'] } });
  const send = (origin) => fetch(broker.url(), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: `mercureAuthorization=${pubToken}`, Origin: origin },
    body: 'topic=cookie-pub&data=x',
  });
  assert.equal((await send('https://evil.example')).status, 403);
  assert.equal((await send('https://app.example')).status, 200);
});

test('CORS "*": any origin may read public streams, but never with credentials', async () => {
  const b = await new Broker(['--cors-origin', '*, https://app.example']).start();
  try {
    const evil = new RawSubscriber(b.port, '?topic=cors', { Origin: 'https://evil.example' });
    await evil.ready();
    assert.match(evil.headers, /\r\nAccess-Control-Allow-Origin: \*\r\n/);
    assert.doesNotMatch(evil.headers, /Access-Control-Allow-Credentials/i);
    evil.close();
    const listed = new RawSubscriber(b.port, '?topic=cors', { Origin: 'https://app.example' });
    await listed.ready();
    assert.match(listed.headers, /\r\nAccess-Control-Allow-Origin: https:\/\/app\.example\r\n/);
    assert.match(listed.headers, /\r\nAccess-Control-Allow-Credentials: true\r\n/);
    listed.close();
    const pre = await rawRequest(b.port, `OPTIONS ${HUB} HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n`);
    assert.match(pre, /^HTTP\/1\.1 204 /);
    assert.match(pre, /\r\nAccess-Control-Allow-Origin: \*\r\n/);
    assert.doesNotMatch(pre, /Access-Control-Allow-Credentials/i);
    // A cookie is a credential: an origin admitted only by "*" may not publish with one.
    const pubToken = jwt({ mercure: { publish: ['*'] } });
    const send = (origin) => fetch(b.url(), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: `mercureAuthorization=${pubToken}`, Origin: origin },
      body: 'topic=cookie-pub&data=x',
    });
    assert.equal((await send('https://evil.example')).status, 403);
    assert.equal((await send('https://app.example')).status, 200);
  } finally {
    await b.stop();
  }
});

test('exp and nbf of any size: huge, fractional and negative values are handled, never overflow', async () => {
  const now = Date.now() / 1000;
  const open = async (claims) => {
    const sub = new RawSubscriber(broker.port, '?topic=exp-range', { Authorization: `Bearer ${jwt({ ...claims, mercure: { subscribe: ['*'] } })}` });
    await sub.ready();
    return sub;
  };
  // Far-future expiries (integer at the edge of int64, beyond it as a real, fractional): streams.
  for (const exp of [9000000000000000000, 9223372036854775807, 1e300, now + 3600.5]) {
    const sub = await open({ exp });
    assert.match(sub.headers, /^HTTP\/1\.1 200 /, `exp ${exp}`);
    sub.close();
  }
  // Past, negative and far-past expiries: refused.
  for (const exp of [now - 10.5, -1, -9000000000000000000, -1e300]) {
    const sub = await open({ exp });
    assert.match(sub.headers, /^HTTP\/1\.1 401 /, `exp ${exp}`);
    sub.close();
  }
  // nbf: far future refused, far past (and negative) accepted.
  for (const [nbf, status] of [[9e18, 401], [1e300, 401], [-9e18, 200], [now - 1.5, 200]]) {
    const sub = await open({ nbf });
    assert.match(sub.headers, new RegExp(`^HTTP/1\\.1 ${status} `), `nbf ${nbf}`);
    sub.close();
  }
  // The same claims on the publish path (its per-connection token cache compares exp too).
  for (const [exp, status] of [[9e18, 200], [1e300, 200], [-1, 401]]) {
    const r = await broker.publish({ topic: 'exp-range', data: 'x' }, { token: jwt({ exp, mercure: { publish: ['*'] } }) });
    assert.equal(r.status, status, `publish exp ${exp}`);
  }
  // The broker is still there (an ASan+UBSan build aborts on signed overflow).
  assert.equal((await fetch(`${broker.base}/healthz`)).status, 200);
});

test('subscription events never stall a worker, even when the bus is full', async () => {
  // One worker, the only bus consumer, and a 16-slot bus: a stream with 100 selectors makes 100
  // subscription events at once. Waiting for room would freeze the worker (the consumer that
  // must make it) for 100 x --publish-wait; they are dropped and counted instead.
  const b = await new Broker(['--workers', '1', '--subscriptions', '--bus-size', '16', '--publish-wait', '2s']).start();
  try {
    const topics = Array.from({ length: 100 }, (_, i) => `topic=many-${i}`).join('&');
    const sub = new RawSubscriber(b.port, `?${topics}`, { Authorization: `Bearer ${SUB_ALL}` });
    await sub.ready();
    assert.match(sub.headers, /^HTTP\/1\.1 200 /);
    const started = Date.now();
    assert.equal((await fetch(`${b.base}/healthz`)).status, 200);
    assert.ok(Date.now() - started < 3000, `the worker answered after ${Date.now() - started} ms`);
    // In memory they are dropped (counted); the embedded log takes them all and its writer, not
    // a worker, waits for room.
    if (!b.historyDir) assert.ok((await b.metric('ssebroker_subscription_events_dropped_total')) > 0);
    // Closing the stream makes 100 more: the worker still answers at once.
    sub.close();
    await sleep(100);
    const again = Date.now();
    assert.equal((await fetch(`${b.base}/healthz`)).status, 200);
    assert.ok(Date.now() - again < 3000, `the worker answered after ${Date.now() - again} ms`);
  } finally {
    await b.stop();
  }
});

test('subscription events and the subscriptions API', async () => {
  const watcher = new RawSubscriber(broker.port, `?topic=${encodeURIComponent('/.well-known/mercure/subscriptions/{topic}/{subscriber}')}`, { Authorization: `Bearer ${SUB_ALL}` });
  await watcher.ready();
  const topic = 'https://example.com/watched/1';
  const s1 = new RawSubscriber(broker.port, `?topic=${encodeURIComponent(topic)}`, { Authorization: `Bearer ${SUB_ALL}` });
  await s1.ready();
  await watcher.waitFor((w) => w.events.some((e) => e.data.includes(topic)));
  const active = JSON.parse(watcher.events.find((e) => e.data.includes(topic)).data);
  assert.equal(active.type, 'Subscription');
  assert.equal(active.topic, topic);
  assert.equal(active.active, true);
  assert.deepEqual(active.payload, { user: 'alice' });
  assert.match(active.subscriber, /^urn:uuid:/);
  assert.equal(active.id, `/.well-known/mercure/subscriptions/${encodeURIComponent(topic)}/${encodeURIComponent(active.subscriber)}`);

  const all = await fetch(`${broker.base}${HUB}/subscriptions`, { headers: { Authorization: `Bearer ${SUB_ALL}` } });
  assert.equal(all.status, 200);
  assert.match(all.headers.get('content-type'), /application\/ld\+json/);
  const doc = await all.json();
  assert.equal(doc.type, 'Subscriptions');
  assert.equal(doc['@context'], 'https://mercure.rocks/');
  assert.ok(doc.lastEventID);
  assert.ok(doc.subscriptions.some((s) => s.id === active.id));

  const byTopic = await (await fetch(`${broker.base}${HUB}/subscriptions/${encodeURIComponent(topic)}`, { headers: { Authorization: `Bearer ${SUB_ALL}` } })).json();
  assert.deepEqual(byTopic.subscriptions.map((s) => s.id), [active.id]);
  const one = await fetch(`${broker.base}${active.id}`, { headers: { Authorization: `Bearer ${SUB_ALL}` } });
  assert.equal(one.status, 200);
  assert.equal((await one.json()).subscriber, active.subscriber);

  assert.equal((await fetch(`${broker.base}${HUB}/subscriptions`)).status, 401);
  const narrow = jwt({ mercure: { subscribe: ['https://example.com/only'] } });
  assert.equal((await fetch(`${broker.base}${HUB}/subscriptions`, { headers: { Authorization: `Bearer ${narrow}` } })).status, 403);

  s1.close();
  await watcher.waitFor((w) => w.events.some((e) => e.data.includes(topic) && e.data.includes('"active":false')));
  const gone = await fetch(`${broker.base}${active.id}`, { headers: { Authorization: `Bearer ${SUB_ALL}` } });
  assert.equal(gone.status, 404);
  // An anonymous subscriber never sees subscription events: they are private.
  watcher.close();
});
