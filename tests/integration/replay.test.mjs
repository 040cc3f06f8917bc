// History replay: Last-Event-ID (header and query), earliest, unknown ids, and a real client that
// reconnects after the broker closes its stream and gets exactly what it missed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import EventSource from 'eventsource';
import { Broker, RawSubscriber, keepAlivePublisher, sleep } from './lib/broker.mjs';

let broker;
before(async () => {
  broker = await new Broker(['--workers', '2', '--stream-lifetime', '1500ms', '--retry-hint', '100ms']).start();
  for (let i = 1; i <= 5; i++) await broker.publish({ topic: i % 2 ? 'odd' : 'even', data: `v${i}`, id: `r${i}` });
});
after(async () => { await broker.stop(); });

test('Last-Event-ID header replays every later matching update, then goes live', async () => {
  const sub = new RawSubscriber(broker.port, '?topic=odd&topic=even', { 'Last-Event-ID': 'r2' });
  await sub.waitFor((s) => s.events.length === 3);
  assert.deepEqual(sub.events.map((e) => e.id), ['r3', 'r4', 'r5']);
  assert.match(sub.headers, /\r\nLast-Event-ID: r2(\r\n|$)/);
  await broker.publish({ topic: 'odd', data: 'live', id: 'r-live-1' });
  await sub.waitFor((s) => s.events.length === 4);
  assert.equal(sub.events[3].id, 'r-live-1');
  sub.close();
});

test('lastEventID query parameter; the header wins over it', async () => {
  const q = new RawSubscriber(broker.port, '?topic=odd&lastEventID=r1');
  await q.waitFor((s) => s.events.length >= 2);
  assert.deepEqual(q.events.slice(0, 2).map((e) => e.id), ['r3', 'r5']);
  const both = new RawSubscriber(broker.port, '?topic=odd&lastEventID=r1', { 'Last-Event-ID': 'r3' });
  await both.waitFor((s) => s.events.length >= 1);
  await sleep(150);
  assert.equal(both.events[0].id, 'r5');
  const draft = new RawSubscriber(broker.port, '?topic=odd&Last-Event-ID=r3');
  await draft.waitFor((s) => s.events.length >= 1);
  assert.equal(draft.events[0].id, 'r5', 'the draft-07 spelling of the query parameter works too');
  q.close();
  both.close();
  draft.close();
});

test('earliest replays all retained history for the topics', async () => {
  const sub = new RawSubscriber(broker.port, '?topic=even&lastEventID=earliest');
  await sub.waitFor((s) => s.events.length >= 2);
  assert.deepEqual(sub.events.slice(0, 2).map((e) => e.id), ['r2', 'r4']);
  assert.match(sub.headers, /\r\nLast-Event-ID: earliest(\r\n|$)/);
  sub.close();
});

test('an unknown id replays nothing and answers Last-Event-ID: earliest', async () => {
  const sub = new RawSubscriber(broker.port, '?topic=odd', { 'Last-Event-ID': 'never-seen' });
  await sub.ready();
  await sleep(200);
  assert.equal(sub.events.length, 0);
  assert.match(sub.headers, /\r\nLast-Event-ID: earliest(\r\n|$)/);
  sub.close();
});

test('no id asked: no Last-Event-ID header, nothing replayed', async () => {
  const sub = new RawSubscriber(broker.port, '?topic=odd');
  await sub.ready();
  await sleep(150);
  assert.equal(sub.events.length, 0);
  assert.doesNotMatch(sub.headers, /Last-Event-ID/);
  sub.close();
});

test('eventsource client reconnects with Last-Event-ID and gets exactly the missed updates', async () => {
  const es = new EventSource(broker.url('?topic=reconnect'));
  const received = [];
  let opens = 0;
  es.onopen = () => { opens++; };
  es.onmessage = (e) => received.push(e.lastEventId);
  while (opens < 1) await sleep(20);
  // Publish continuously while the broker ends the stream (lifetime 1.5 s) and the client comes back.
  const sent = [];
  const deadline = Date.now() + 4000;
  for (let i = 0; Date.now() < deadline; i++) {
    const r = await broker.publish({ topic: 'reconnect', data: String(i) });
    assert.equal(r.status, 200);
    sent.push(r.body);
    await sleep(15);
  }
  const until = Date.now() + 5000;
  while (received.length < sent.length && Date.now() < until) await sleep(50);
  es.close();
  assert.ok(opens >= 2, `the stream should have been cycled (opens=${opens})`);
  assert.deepEqual(received, sent, 'no gap, no duplicate, same order');
});

test('replay races with live publishes: no gap, no duplicate', async () => {
  // Publishers keep going while subscribers join with the id of an update in the middle.
  let stop = false;
  const sent = [];
  const pub = (async () => {
    for (let i = 0; !stop; i++) sent.push((await broker.publish({ topic: 'race', data: String(i) })).body);
  })();
  await sleep(200);
  const subs = [];
  for (let k = 0; k < 10; k++) {
    const from = sent[sent.length - 1];
    subs.push({ from, sub: new RawSubscriber(broker.port, '?topic=race', { 'Last-Event-ID': from }) });
    await sleep(30);
  }
  await sleep(300);
  stop = true;
  await pub;
  for (const { from, sub } of subs) {
    const want = sent.slice(sent.indexOf(from) + 1);
    await sub.waitFor((s) => s.events.length >= want.length);
    await sleep(50);
    assert.deepEqual(sub.events.map((e) => e.id), want);
    sub.close();
  }
});

test('deep replays to subscribers that do not read cost bounded memory (a cursor, not the whole backlog)', async (t) => {
  // 20,000 retained updates of ~1 KB, then 50 subscribers ask for all of them and read nothing.
  // Queued whole, that is 50 x 20,000 references (~40 MB); read through a cursor that stops at
  // 256 KiB of queued bytes per stream, it is a few hundred KB in all.
  const b = await new Broker(['--workers', '2', '--history-size', '20000', '--history-bytes', '256MiB']).start();
  try {
    if (!(await fetch(`${b.base}/metrics`).then((r) => r.text())).includes('ssebroker_heap_allocated_bytes')) {
      t.skip('this build has no jemalloc heap gauge (sanitizer builds)');
      return;
    }
    const data = 'x'.repeat(1000);
    const pub = keepAlivePublisher(b.port);
    for (let i = 0; i < 20000; i += 8) await Promise.all(Array.from({ length: 8 }, (_, k) => pub.publish(`topic=deep&id=d-${i + k}&data=${data}`)));
    pub.close();
    const before = await b.metric('ssebroker_heap_allocated_bytes');
    const net = await import('node:net');
    const subs = [];
    for (let i = 0; i < 50; i++) {
      const sock = net.connect(b.port, '127.0.0.1');
      const s = { sock, text: '' };
      sock.on('error', () => {});
      sock.on('connect', () => sock.write('GET /.well-known/mercure?topic=deep HTTP/1.1\r\nHost: t\r\nLast-Event-ID: earliest\r\n\r\n'));
      sock.on('data', (d) => { s.text += d.toString('latin1'); });
      sock.pause(); // never reads: the kernel buffers fill, then the broker's queue
      subs.push(s);
    }
    await sleep(1500);
    const during = await b.metric('ssebroker_heap_allocated_bytes');
    const grown = during - before;
    t.diagnostic(`heap +${(grown / 1048576).toFixed(2)} MiB for 50 stalled replays of 20,000 events${b.historyDir ? ' (embedded log)' : ''}`);
    assert.ok(grown < 8 * 1024 * 1024, `heap grew by ${(grown / 1048576).toFixed(1)} MiB for 50 stalled deep replays`);
    // Resumed, one of them still gets all 20,000, in order.
    const s0 = subs[0];
    s0.sock.resume();
    const deadline = Date.now() + 30000;
    // The last batch of 8 was published concurrently: d-19999 need not come last.
    const count = () => (s0.text.match(/^id: d-/gm) || []).length;
    while (count() < 20000 || !s0.text.endsWith('\n\n')) {
      assert.ok(Date.now() < deadline, `replay incomplete: ${s0.text.length} bytes`);
      await sleep(50);
    }
    const ids = [...s0.text.matchAll(/^id: d-(\d+)$/gm)].map((m) => Number(m[1]));
    assert.equal(ids.length, 20000);
    // Each once; batches of 8 were published concurrently, so order holds between batches.
    assert.deepEqual([...ids].sort((x, y) => x - y), Array.from({ length: 20000 }, (_, i) => i));
    assert.ok(ids.every((v, i) => i === 0 || Math.floor(v / 8) >= Math.floor(ids[i - 1] / 8)), 'batches out of order');
    for (const x of subs) x.sock.destroy();
  } finally {
    await b.stop();
  }
});
