// Publish and subscribe with the clients users have: curl, the eventsource npm client, raw sockets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import EventSource from 'eventsource';
import { Broker, RawSubscriber, PUBLISH_ALL, HUB, rawRequest } from './lib/broker.mjs';

const run = promisify(execFile);
let broker;
before(async () => { broker = await new Broker(['--workers', '2']).start(); });
after(async () => { await broker.stop(); });

test('curl publishes, the eventsource client receives', async () => {
  const topic = 'https://example.com/books/1';
  const es = new EventSource(broker.url(`?topic=${encodeURIComponent(topic)}`));
  const got = new Promise((resolve, reject) => {
    es.onmessage = (e) => resolve(e);
    es.onerror = (e) => { if (es.readyState === EventSource.CLOSED) reject(e); };
  });
  await new Promise((r) => { es.onopen = r; });
  const { stdout } = await run('curl', ['-s', '-X', 'POST', broker.url(), '-H', `Authorization: Bearer ${PUBLISH_ALL}`,
    '--data-urlencode', `topic=${topic}`, '--data-urlencode', 'data={"title":"Hello"}']);
  assert.match(stdout, /^#[A-Za-z0-9_-]{12}$/, 'a compact generated id');
  const e = await got;
  assert.equal(e.data, '{"title":"Hello"}');
  assert.equal(e.lastEventId, stdout);
  es.close();
});

test('generated ids: compact by default, resumed after by header and by either query parameter', async () => {
  const first = await broker.publish({ topic: 'gen', data: 'one' });
  const second = await broker.publish({ topic: 'gen', data: 'two' });
  assert.equal(first.status, 200);
  assert.match(first.body, /^#[A-Za-z0-9_-]{12}$/);
  assert.notEqual(first.body, second.body);
  // '#' starts a URL's fragment: in a query it travels percent-encoded, as URLSearchParams and
  // encodeURIComponent write it.
  const resumes = [
    new RawSubscriber(broker.port, '?topic=gen', { 'Last-Event-ID': first.body }),
    new RawSubscriber(broker.port, `?topic=gen&lastEventID=${encodeURIComponent(first.body)}`),
    new RawSubscriber(broker.port, `?match=gen&last_event_id=${encodeURIComponent(first.body)}`),
  ];
  for (const sub of resumes) {
    await sub.waitFor((s) => s.events.length >= 1);
    assert.deepEqual(sub.events.map((e) => [e.id, e.data]), [[second.body, 'two']]);
    sub.close();
  }
});

test('the eventsource client resumes after a compact id when the broker ends its stream', async () => {
  const b = await new Broker(['--stream-lifetime', '1s', '--retry-hint', '200ms']).start();
  try {
    const es = new EventSource(b.url('?topic=life'));
    const seen = [];
    es.onmessage = (e) => seen.push([e.lastEventId, e.data]);
    await new Promise((r) => { es.onopen = r; });
    const a = await b.publish({ topic: 'life', data: 'a' });
    // Published while the client waits to reconnect: it asks for what followed a's id.
    const during = new Promise((resolve) => {
      let once = false;
      es.onerror = () => { if (!once) { once = true; resolve(b.publish({ topic: 'life', data: 'b' })); } };
    });
    const bb = await during;
    const until = Date.now() + 5000;
    while (seen.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen, [[a.body, 'a'], [bb.body, 'b']]);
    es.close();
  } finally {
    await b.stop();
  }
});

test('--event-ids uuid generates urn:uuid ids', async () => {
  const b = await new Broker(['--event-ids', 'uuid']).start();
  try {
    const r = await b.publish({ topic: 'u', data: 'x' });
    assert.equal(r.status, 200);
    assert.match(r.body, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  } finally {
    await b.stop();
  }
});

test('curl subscribes and sees the exact stream bytes and headers', async () => {
  const child = execFile('curl', ['-s', '-N', '-i', '--max-time', '2', broker.url('?topic=t-curl')]);
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const exited = new Promise((r) => child.on('exit', r));
  await new Promise((r) => setTimeout(r, 300));
  const r = await broker.publish({ topic: 't-curl', data: 'line1\nline2', id: 'curl-1', type: 'note', retry: '1500' });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'curl-1');
  await exited;
  assert.match(out, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(out, /\r\nContent-Type: text\/event-stream\r\n/);
  assert.match(out, /\r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\n/);
  assert.match(out, /\r\nX-Accel-Buffering: no\r\n/);
  assert.ok(out.includes('\r\n\r\nid: curl-1\nevent: note\nretry: 1500\ndata: line1\ndata: line2\n\n'), out);
});

test('multi-line data in every line-ending style keeps SSE framing', async () => {
  const sub = new RawSubscriber(broker.port, '?topic=frames');
  await sub.ready();
  await broker.publish({ topic: 'frames', data: 'a\r\nb\rc\nd\n\nid: forged\ndata: x', id: 'f1' });
  await sub.waitFor((s) => s.events.length === 1);
  const body = sub.raw.slice(sub.raw.indexOf('\r\n\r\n') + 4);
  assert.equal(body, 'id: f1\ndata: a\ndata: b\ndata: c\ndata: d\ndata: \ndata: id: forged\ndata: data: x\n\n');
  sub.close();
});

test('selectors: exact, *, URI templates, and non-matches', async () => {
  const exact = new RawSubscriber(broker.port, `?topic=${encodeURIComponent('https://example.com/books/1')}`);
  const any = new RawSubscriber(broker.port, '?topic=*');
  const tmpl = new RawSubscriber(broker.port, `?topic=${encodeURIComponent('https://example.com/books/{id}')}`);
  const other = new RawSubscriber(broker.port, `?topic=${encodeURIComponent('https://example.com/users/{id}')}`);
  await Promise.all([exact, any, tmpl, other].map((s) => s.ready()));
  await broker.publish({ topic: 'https://example.com/books/1', data: 'b1', id: 'sel-1' });
  await broker.publish({ topic: 'https://example.com/books/2', data: 'b2', id: 'sel-2' });
  await broker.publish({ topic: 'https://example.com/books/2/reviews/9', data: 'r', id: 'sel-3' });
  await any.waitFor((s) => s.events.length >= 3);
  await tmpl.waitFor((s) => s.events.length >= 2);
  await exact.waitFor((s) => s.events.length >= 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(exact.events.map((e) => e.id), ['sel-1']);
  assert.deepEqual(tmpl.events.map((e) => e.id), ['sel-1', 'sel-2']);
  assert.deepEqual(any.events.map((e) => e.id).filter((id) => id.startsWith('sel-')), ['sel-1', 'sel-2', 'sel-3']);
  assert.equal(other.events.length, 0);
  for (const s of [exact, any, tmpl, other]) s.close();
});

test('an update with several topics reaches a subscriber of several of them once', async () => {
  const sub = new RawSubscriber(broker.port, '?topic=alt-a&topic=alt-b&topic=alt-{x}');
  await sub.ready();
  const r = await broker.publish({ topic: ['alt-a', 'alt-b', 'alt-c'], data: 'once', id: 'multi-1' });
  assert.equal(r.status, 200);
  await broker.publish({ topic: 'alt-b', data: 'second', id: 'multi-2' });
  await sub.waitFor((s) => s.events.length >= 2);
  await new Promise((r2) => setTimeout(r2, 200));
  assert.deepEqual(sub.events.map((e) => e.id), ['multi-1', 'multi-2']);
  sub.close();
});

test('HEAD on the hub answers the stream headers without a body', async () => {
  const out = await rawRequest(broker.port, `HEAD ${HUB}?topic=x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
  assert.match(out, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(out, /Content-Type: text\/event-stream/);
  assert.ok(out.endsWith('\r\n\r\n'), JSON.stringify(out));
});

test('health, readiness, metrics and the page at /', async () => {
  assert.equal((await fetch(`${broker.base}/healthz`)).status, 200);
  assert.equal((await fetch(`${broker.base}/readyz`)).status, 200);
  const metrics = await (await fetch(`${broker.base}/metrics`)).text();
  assert.match(metrics, /^ssebroker_publishes_total \d+$/m);
  assert.match(metrics, /^ssebroker_deliveries_total\{worker="0"\} \d+$/m);
  const page = await fetch(`${broker.base}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /text\/html/);
  assert.match(await page.text(), /EventSource/);
  assert.equal((await fetch(`${broker.base}/nope`)).status, 404);
});

test('keep-alive publisher: many publishes on one connection', async () => {
  const sub = new RawSubscriber(broker.port, '?topic=ka');
  await sub.ready();
  const ids = [];
  for (let i = 0; i < 50; i++) ids.push((await broker.publish({ topic: 'ka', data: String(i) })).body);
  await sub.waitFor((s) => s.events.length === 50);
  assert.deepEqual(sub.events.map((e) => e.id), ids);
  assert.deepEqual(sub.events.map((e) => e.data), ids.map((_, i) => String(i)));
  sub.close();
});
